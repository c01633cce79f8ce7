"""The study launchers queue the planned jobs, and every queued job composes under Hydra with the budget it names."""
import os
import subprocess
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

REPO = Path(__file__).resolve().parents[1]


def dry_run(launcher: str, phase: str, tmp_path) -> list[list[str]]:
    env = {**os.environ, "DRY_RUN": "1", "OUT": str(tmp_path / "study"), "PY": "python"}
    out = subprocess.run(["bash", str(REPO / launcher), phase], env=env, capture_output=True, text=True, check=True, cwd=tmp_path)
    jobs = [line.split()[3:] for line in out.stdout.splitlines() if line.startswith("python src/run.py -m ")]
    assert jobs, out.stdout + out.stderr
    return jobs


def first_value(overrides: list[str]) -> list[str]:
    """One run of a multirun job: the first value of every swept key."""
    return [o.split(",")[0] if "=" in o else o for o in overrides]


def composed(overrides: list[str]):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose("config", overrides=first_value(overrides))


def test_glue_tune_queues_every_method_on_every_task_with_its_step_budget(tmp_path):
    jobs = dry_run("experiments/glue_study/run.sh", "tune", tmp_path)
    assert len(jobs) == 9 * 5  # one job per (method, task), each a 3-value lr grid
    assert all(len(next(o for o in job if o.startswith("trainer.lr=")).split(",")) == 3 for job in jobs)
    budgets = {"rte": (400, 50), "mrpc": (200, 50), "stsb": (200, 50), "cola": (800, 100), "sst2": (200, 50)}
    seen = set()
    for job in jobs:
        cfg = composed(job)
        task = cfg.task.name
        assert (cfg.trainer.max_steps, cfg.trainer.eval_steps) == budgets[task], job
        assert cfg.trainer.batch_size == 16 and cfg.trainer.max_length == 128 and cfg.trainer.eval_strategy == "steps"
        seen.add((task, cfg.method.name))
    assert len({t for t, _ in seen}) == 5


@pytest.mark.parametrize("phase,task,steps", [("cs-tune", "commonsense15k", -1), ("math-tune", "math10k", -1)])
def test_decoder_tune_jobs_compose(tmp_path, phase, task, steps):
    jobs = dry_run("experiments/decoder_study/run.sh", phase, tmp_path)
    for job in jobs:
        cfg = composed(job)
        assert cfg.task.name == task and cfg.trainer.max_steps == steps and cfg.trainer.epochs == 1
        assert cfg.task.selection_set, job  # lr and checkpoint are chosen on a held-out set, never a test set
