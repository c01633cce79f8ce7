"""What a user sees on the headline commands: the plan at the start of a run, progress, the sweep summary."""
import json
import os
import subprocess
import sys

import pytest

from neuroada.pipeline import run
from test_pipeline import REPO, TINY, tiny_cfg


@pytest.mark.integration
def test_a_run_prints_its_plan_then_shows_evaluation_progress(tmp_path, capsys):
    run(tiny_cfg(tmp_path, "logger=none"))
    out, err = capsys.readouterr()
    plan = out[out.index("plan: "):]
    assert plan.startswith("plan: neuroada-k20 on tiny-llama / addition (cpu, ")
    assert "trainable parameters: 20,480 (0.3217 % of 6,365,504)" in plan  # k * sum(d_out) * 2 layers
    assert "train: 48 examples; 4 steps of 8 sequences" in plan
    assert "eval before and after training: addition 6 items; max_new_tokens 6, batch 6" in plan
    assert "estimate on this machine: " in plan and "tokens/s" in plan
    assert "shorter look: eval_before=false task.max_eval_samples=50" in plan
    for tag in ("before", "after"):
        assert f"eval {tag} addition" in err and "0/6" in err and "6/6" in err


@pytest.mark.integration
def test_multirun_prints_and_writes_a_summary_and_exits_nonzero_listing_the_failed_job(tmp_path):
    env = {**os.environ, "WANDB_MODE": "disabled"}
    cmd = [sys.executable, "src/run.py", "-m", *TINY, "trainer.max_steps=1", "logger=none", "method.selection=magnitude,gradient",
           "method.calibration_batches=0", f"output_root={tmp_path}", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 1, out.stderr[-3000:]
    table = out.stdout[out.stdout.index("sweep summary (1 of 2 jobs completed):"):]
    assert "| job | overrides | method | k | trainable % | addition accuracy before -> after | time | status |" in table
    assert "| 0 | method.selection=magnitude | neuroada-k20 | 20 | 0.3217 | 0." in table and "| completed |" in table
    assert "| 1 | method.selection=gradient | neuroada-k20-gradient | 20 |" in table and "| failed |" in table
    assert "1 of 2 jobs failed:" in out.stderr
    assert "job 1 (method.selection=gradient): ValueError: gradient selection got no calibration batch; record " in out.stderr
    assert (tmp_path / "sweep" / "summary.md").read_text().startswith("# Sweep summary: 1 of 2 jobs completed")
    jobs = json.loads((tmp_path / "sweep" / "summary.json").read_text())["jobs"]
    assert [j["status"] for j in jobs] == ["completed", "failed"]
    completed = json.loads((tmp_path / jobs[0]["run_id"] / "record.json").read_text())
    assert jobs[0]["row"]["evals"]["addition"]["after"] == completed["metrics"]["addition"]["accuracy"]
    failed = json.loads(open(jobs[1]["record"]).read())  # the failed job leaves a record saying why; the sweep went on
    assert failed["status"] == "failed" and "calibration" in failed["error"]


def test_the_plan_counts_steps_from_the_examples_training_keeps():
    """Examples whose prompt fills max_length are dropped at tokenization; the plan's steps follow what is kept."""
    from types import SimpleNamespace

    import torch

    from neuroada.plan import plan_lines

    cfg = {"trainer": {"max_steps": -1, "epochs": 1, "batch_size": 8, "grad_accum": 1, "max_length": 256},
           "model": {"name": "nonexistent-model"}, "method": {"name": "neuroada", "k": 20}, "eval_before": False, "eval_batch_size": 8}
    task = SimpleNamespace(name="commonsense15k", kind="generation", train=[object()] * 880, eval_sets={"boolq": [object()] * 250},
                           max_new_tokens=32, num_labels=None)
    lines = plan_lines(cfg, task, None, None, [], torch.device("cpu"), measure=False, train_examples=797)
    assert "  train: 797 examples; 100 steps of 8 sequences (83 of 880 dropped: their prompt fills max_length)" in lines
    lines = plan_lines(cfg, task, None, None, [], torch.device("cpu"), measure=False)
    assert "  train: 880 examples; 110 steps of 8 sequences" in lines


def test_the_sweeps_estimate_counts_the_untrained_models_pass_once():
    """plan_estimates.py: three gsm8k jobs, only the first of which scores before training (`.shared_before/`)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("plan_estimates", REPO / "experiments" / "headline" / "plan_estimates.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    run = {"estimate_s": {"train": 100.0, "eval_per_pass": {"gsm8k": [10.0, 40.0]}, "total_low": 120.0, "total_high": 180.0}}
    assert module.sweep_estimate(run)["estimate_s"] == {"total_low": 120.0 + 2 * 110.0, "total_high": 180.0 + 2 * 140.0}


def test_the_plan_counts_the_selection_passes_during_training_and_reads_the_chosen_one_back():
    """An arithmetic tuning run: 50 steps, the selection set scored at steps 25 and 50; the pass after training
    takes it from the evaluation that chose the checkpoint, so it is in the estimate twice, not three times."""
    from types import SimpleNamespace

    import torch

    from neuroada.plan import estimate_seconds, plan_lines, selection_passes

    cfg = {"trainer": {"max_steps": -1, "epochs": 1, "batch_size": 16, "grad_accum": 1, "max_length": 384, "eval_strategy": "steps",
                       "eval_steps": 25}, "model": {"name": "nonexistent-model"}, "method": {"name": "neuroada", "k": 20},
           "eval_before": False, "eval_batch_size": 16}
    ex = SimpleNamespace(instruction="two plus two", input="", output="4")
    task = SimpleNamespace(name="math10k", kind="generation", train=[ex] * 800, eval_sets={"validation": [ex] * 300, "gsm8k": [ex] * 100},
                           selection_set="validation", max_new_tokens=8, num_labels=None, prompt_template="alpaca")
    assert selection_passes(cfg, task, 50, 800) == 2
    assert selection_passes({**cfg, "method": {"name": "untrained"}}, task, 0, 800) == 0
    assert selection_passes({**cfg, "trainer": {**cfg["trainer"], "eval_strategy": "epoch", "epochs": 3}}, task, 150, 800) == 3
    assert selection_passes(cfg, SimpleNamespace(**{**vars(task), "selection_set": None}), 50, 800) == 0
    lines = plan_lines(cfg, task, None, None, [], torch.device("cpu"), measure=False, train_examples=800)
    assert "  eval during training: validation 2 times, to choose the checkpoint; the pass after training reads the chosen one back" in lines

    def tokenizer(texts, add_special_tokens=True):
        return {"input_ids": [[0] * len(t.split()) for t in texts]}

    rates = {"forward_tokens_per_s": 100.0, "decode_step_s": 0.1}
    plain = estimate_seconds(task, tokenizer, cfg, rates, 50, 1)
    tuned = estimate_seconds(task, tokenizer, cfg, rates, 50, 1, in_run_passes=2)
    selection = plain["eval_s"]["validation"]
    assert tuned["total_s"] == pytest.approx(tuple(p + s for p, s in zip(plain["total_s"], selection)))  # 2 in-run, 1 fewer after
