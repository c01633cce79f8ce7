"""The plan line (with its time estimate) of the headline commands, computed here without running them.

    python experiments/headline/plan_estimates.py                 # default job, gsm8k run, its short variant
    python experiments/headline/plan_estimates.py -- task=boolq   # any overrides, one configuration

For each configuration: loads the task and the model, prints the plan exactly as `src/run.py` would
(`neuroada.plan`, which measures the model's speed for a few seconds), and records its lines, the low and
high estimate in seconds and the load average in `results/headline/plan_estimates.json`. The estimates
are computed one after another in the same process, so their ratios hold even when the machine is
loaded; the README scales them by the measured idle-machine wall time of the default job.
"""
from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))

from neuroada.models import head_modules, load_model  # noqa: E402
from neuroada.pipeline import pick_device  # noqa: E402
from neuroada.plan import build_plan  # noqa: E402
from neuroada.tasks import load_task, resolve_data_dir  # noqa: E402

# The sweep `-m method=neuroada method.k=1,5,20 task=gsm8k` is three gsm8k runs whose first job scores the untrained
# model for all three (`.shared_before/`); k changes the step time by a few percent (results/bench), so its estimate
# is gsm8k_run's plus twice gsm8k_run's without its before pass (`sweep_estimate`).
SWEEP = {"name": "gsm8k_sweep", "of": "gsm8k_run", "jobs": 3, "eval_set": "gsm8k"}
CONFIGS = {
    "default_job": [],
    "gsm8k_run": ["method=neuroada", "task=gsm8k"],
    "gsm8k_short": ["method=neuroada", "task=gsm8k", "eval_before=false", "task.max_eval_samples=16", "trainer.max_steps=10"],
}


def loadavg() -> list[float] | None:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return None


def plan_for(overrides: list[str]) -> dict:
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = OmegaConf.to_container(compose("config", overrides=overrides), resolve=True)
    task = load_task(cfg["task"], resolve_data_dir(cfg.get("data_dir")))
    model, tokenizer = load_model(cfg["model"], num_labels=task.num_labels if task.kind != "generation" else None, dtype=cfg["dtype"])
    device = pick_device(cfg["device"])
    model.to(device)
    heads = head_modules(model, cfg["model"]) if task.kind != "generation" else []
    load = loadavg()
    t0 = time.perf_counter()
    plan = build_plan(cfg, task, model, tokenizer, heads, device)
    plan_s = time.perf_counter() - t0
    lines, rates, est = plan["lines"], plan["rates"], plan["estimate"]
    print("\n".join(lines), flush=True)
    return {"overrides": overrides, "plan": lines, "plan_seconds": round(plan_s, 1), "rates": rates,
            "estimate_s": {"train": est["train_s"], "eval_per_pass": est["eval_s"], "total_low": est["total_s"][0], "total_high": est["total_s"][1]},
            "loadavg": load, "torch_threads": torch.get_num_threads()}


def sweep_estimate(run: dict) -> dict:
    """The sweep's low and high estimate from the run's: every job trains and scores after training, only the first
    scores before training."""
    est = run["estimate_s"]
    before_low, before_high = est["eval_per_pass"][SWEEP["eval_set"]]
    later = SWEEP["jobs"] - 1
    return {"derived_from": SWEEP["of"], "jobs": SWEEP["jobs"],
            "estimate_s": {"total_low": est["total_low"] + later * (est["total_low"] - before_low),
                           "total_high": est["total_high"] + later * (est["total_high"] - before_high)}}


def main(argv: list[str]) -> None:
    configs = {"custom": argv[argv.index("--") + 1:]} if "--" in argv else CONFIGS
    out = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cpus": os.cpu_count(), "configs": {}}
    for name, overrides in configs.items():
        print(f"== {name}: python src/run.py {' '.join(overrides)}", flush=True)
        out["configs"][name] = plan_for(overrides)
    if SWEEP["of"] in out["configs"]:
        out["configs"][SWEEP["name"]] = sweep_estimate(out["configs"][SWEEP["of"]])
    path = REPO / "results" / "headline" / "plan_estimates.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
