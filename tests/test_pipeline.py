"""End to end on the tiny model: train, merge, evaluate, record, W&B offline files, multirun over k."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from neuroada.pipeline import run

REPO = Path(__file__).resolve().parents[1]
TINY = ["model=tiny-llama", "task=addition", "task.train.size=48", "task.eval_sets.addition.size=6", "task.max_new_tokens=6",
        "trainer.max_steps=4", "trainer.batch_size=8", "trainer.logging_steps=1", "trainer.save_steps=2", "eval_batch_size=6"]
RECORD_FIELDS = {"run_id", "trained_questions", "status", "created", "model", "task", "method", "seed", "config", "trainable_params", "total_params",
                 "trainable_percent", "metrics", "metrics_before", "train", "peak_memory", "wall_time_s", "versions", "git",
                 "data_sha256", "wandb_dir", "schema_version"}


def tiny_cfg(tmp_path, *extra):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose("config", overrides=[*TINY, f"output_root={tmp_path}", *extra])


@pytest.mark.integration
def test_end_to_end_record_and_wandb(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    record = run(tiny_cfg(tmp_path, "logger=wandb"))
    assert RECORD_FIELDS <= set(record)
    run_dir = tmp_path / record["run_id"]
    on_disk = json.loads((run_dir / "record.json").read_text())
    assert on_disk["run_id"] == record["run_id"] and on_disk["status"] == "completed"
    assert record["train"]["steps"] == 4 and record["train"]["tokens"] > 0 and record["train"]["tokens_per_s"] > 0
    assert record["trainable_params"] == 20 * sum([64, 32, 32, 64, 128, 128, 64]) * 2  # k * sum(d_out), 2 layers
    assert record["peak_memory"]["cpu_peak_rss_bytes"] > 0
    tracked = record["peak_memory"]["tracked_bytes"]
    assert tracked["optimizer_state"] >= 2 * 4 * record["trainable_params"] and tracked["activations"] > 0
    assert tracked["accounted"] == sum(tracked[k] for k in ("parameters", "buffers", "gradients", "optimizer_state", "activations"))
    assert record["versions"]["torch"] and "commit" in record["git"]
    assert record["trained_questions"] == {}  # addition's test sums are never training sums
    assert set(record["metrics"]["addition"]) >= {"accuracy", "n"} and record["metrics"]["addition"]["n"] == 6
    preds = (run_dir / "predictions" / "after_addition.jsonl").read_text().splitlines()
    assert len(preds) == 6 and {"prompt", "generation", "extracted", "gold", "correct"} <= set(json.loads(preds[0]))
    assert (run_dir / "adapter" / "adapter.safetensors").is_file()
    logged = [h for h in record["train"]["log_history"] if "loss" in h]
    assert len(logged) == 4 and all("tokens_per_s" in h and "peak_memory_mb" in h for h in logged)
    # the W&B offline run holds the logged metrics
    wandb_files = list(Path(record["wandb_dir"]).rglob("*.wandb"))
    assert wandb_files, f"no offline W&B run under {record['wandb_dir']}"
    blob = wandb_files[0].read_bytes()
    for key in (b"train/loss", b"tokens_per_s", b"peak_memory_mb", b"after/addition/accuracy", b"memory/activations_bytes"):
        assert key in blob, key


@pytest.mark.integration
def test_multirun_over_k_writes_one_record_per_k(tmp_path):
    env = {**os.environ, "WANDB_MODE": "disabled"}
    cmd = [sys.executable, "src/run.py", "-m", "method.k=1,3", *TINY, "trainer.max_steps=2", "eval_before=false", "logger=none",
           f"output_root={tmp_path}", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in tmp_path.glob("*/record.json")]
    assert sorted(r["config"]["method"]["k"] for r in records) == [1, 3]
    assert len({r["run_id"] for r in records}) == 2
    assert records[0]["trainable_params"] != records[1]["trainable_params"]
    assert "sweep summary (2 of 2 jobs completed)" in out.stdout and "| 1 | method.k=3 | neuroada-k3 | 3 |" in out.stdout
    assert (tmp_path / "sweep" / "summary.md").is_file()


@pytest.mark.integration
@pytest.mark.parametrize("method", ["neuroada", "lora"])
def test_glue_classification_run_on_minilm(tmp_path, method):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[
            "model=minilm-l6", "task=stsb" if method == "lora" else "task=sst2", f"method={method}", "method.k=4" if method == "neuroada" else "method.r=4",
            "task.max_train_samples=64", "task.max_eval_samples=40", "trainer.max_steps=3", "trainer.batch_size=16",
            "trainer.max_length=64", "trainer.lr=1e-3", "logger=none", f"output_root={tmp_path}"])
    record = run(cfg)
    assert set(record["metrics"]) == {"validation", "test"}
    if method == "neuroada":  # SST-2: accuracy; the head is trained densely and merged deltas leave plain Linears
        assert 0.0 <= record["metrics"]["test"]["accuracy"] <= 1.0 and record["primary_metric"] == "accuracy"
    else:  # STS-B: regression head, Pearson/Spearman
        assert {"pearson", "spearmanr"} <= set(record["metrics"]["test"]) and record["primary_metric"] == "pearson"
    preds = (tmp_path / record["run_id"] / "predictions" / "after_test.jsonl").read_text().splitlines()
    assert len(preds) == 40
