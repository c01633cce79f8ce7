"""The task configs in conf/task (the Hydra `task` group), readable without Hydra."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

TASK_CONF_DIR = Path(__file__).resolve().parents[3] / "conf" / "task"
SUITES = ("commonsense", "math", "glue", "synthetic")


def list_tasks(suite: str | None = None) -> list[str]:
    """Names of all task configs, optionally only those of one suite."""
    names = sorted(p.stem for p in TASK_CONF_DIR.glob("*.yaml"))
    if suite is None:
        return names
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; choose one of {SUITES}")
    return [n for n in names if load_task_config(n)["suite"] == suite]


def load_task_config(name: str) -> dict:
    path = TASK_CONF_DIR / f"{name}.yaml"
    if not path.exists():
        raise ValueError(f"unknown task {name!r}; available: {list_tasks()}")
    cfg = OmegaConf.load(path)
    # A variant (e.g. commonsense15k_study) extends another task config through Hydra's defaults list:
    # merge its parents first, then its own keys, as Hydra's `_self_` last would.
    parents = [d for d in cfg.pop("defaults", []) if d != "_self_"]
    merged = OmegaConf.merge(*(OmegaConf.create(load_task_config(p)) for p in parents), cfg) if parents else cfg
    return OmegaConf.to_container(merged, resolve=True)
