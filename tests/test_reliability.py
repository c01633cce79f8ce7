"""Resume after a kill, reproducibility, failures recorded, bad input caught before expensive work."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from neuroada.training import NonFiniteLossError, StopRequested
from test_pipeline import REPO, TINY, tiny_cfg

import neuroada.pipeline as pipeline

FAST = [*TINY, "trainer.max_steps=4", "trainer.save_steps=2", "logger=none"]


def run_cli(tmp_path, *overrides, check=True):
    env = {**os.environ, "WANDB_MODE": "disabled"}
    cmd = [sys.executable, "src/run.py", *FAST, f"output_root={tmp_path}", f"hydra.run.dir={tmp_path / 'hydra'}", *overrides]
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert out.returncode == 0, out.stderr[-3000:]
    return out


def only_record(root: Path) -> dict:
    records = list(root.glob("*/record.json"))
    assert len(records) == 1, records
    return json.loads(records[0].read_text())


@pytest.mark.integration
def test_killed_run_resumes_and_matches_an_uninterrupted_one(tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    run_cli(straight)
    died = run_cli(killed, "+debug.kill_at_step=2", check=False)
    assert died.returncode == 137, died.stderr[-2000:]
    assert not list(killed.glob("*/record.json")) and list(killed.glob("*/checkpoints/checkpoint-2"))
    run_cli(killed)  # the same command again
    a, b = only_record(straight), only_record(killed)
    assert a["run_id"] == b["run_id"]
    assert b["train"]["resumed_from"].endswith("checkpoint-2") and a["train"]["resumed_from"] is None
    assert a["metrics"] == b["metrics"] and b["train"]["steps"] == 4
    wa = load_file(straight / a["run_id"] / "adapter" / "adapter.safetensors")
    wb = load_file(killed / b["run_id"] / "adapter" / "adapter.safetensors")
    assert wa.keys() == wb.keys() and all((wa[k] == wb[k]).all() for k in wa)
    ckpt = killed / b["run_id"] / "checkpoints" / "checkpoint-2"
    assert (ckpt / "trainable.safetensors").stat().st_size < 200_000  # deltas only, not the base model


@pytest.mark.integration
def test_same_command_and_seed_give_identical_results(tmp_path):
    first = pipeline.run(tiny_cfg(tmp_path / "a", "logger=none", "trainer.max_steps=2", "eval_before=false"))
    second = pipeline.run(tiny_cfg(tmp_path / "b", "logger=none", "trainer.max_steps=2", "eval_before=false"))
    assert first["metrics"] == second["metrics"] and first["train"]["loss"] == second["train"]["loss"]
    assert first["data_sha256"] == second["data_sha256"]
    assert first["config"] == second["config"] | {"output_root": first["config"]["output_root"]}


def test_a_completed_run_is_not_rerun_unless_resume_is_off(tmp_path, monkeypatch):
    first = pipeline.run(tiny_cfg(tmp_path, "logger=none", "trainer.max_steps=2", "eval_before=false"))

    def no_model(*a, **k):
        raise AssertionError("the model was loaded again")

    monkeypatch.setattr(pipeline, "load_model", no_model)
    again = pipeline.run(tiny_cfg(tmp_path, "logger=none", "trainer.max_steps=2", "eval_before=false"))
    assert again["created"] == first["created"] and again["metrics"] == first["metrics"]
    with pytest.raises(AssertionError, match="loaded again"):
        pipeline.run(tiny_cfg(tmp_path, "logger=none", "trainer.max_steps=2", "eval_before=false", "resume=false"))


@pytest.mark.integration
def test_non_finite_loss_stops_with_the_step_and_keeps_the_checkpoint(tmp_path):
    with pytest.raises(NonFiniteLossError, match=r"at step \d+; stopped. Last checkpoint kept: .*checkpoint-1"):
        pipeline.run(tiny_cfg(tmp_path, "logger=none", "trainer.lr=1e30", "trainer.save_steps=1", "eval_before=false", "trainer.max_grad_norm=0"))
    assert list(tmp_path.glob("*/checkpoints/checkpoint-1"))


@pytest.mark.parametrize("override, match", [
    ("method.k=0", "k must be an integer >= 1"),
    ("method.selection=biggest", "unknown selection 'biggest'"),
    ("data_dir=/nonexistent/data", "/nonexistent/data"),
    ("method.target_modules=[query]", "match no nn.Linear"),
    ("method.k=100000", "k=100000 is larger than in_features"),
    ("method=masked method.k=100000", "k=100000 is larger than in_features"),
    ("method=neuroada method.selection=random_global method.k=100000", "k <= "),
    ("method=lora method.target_modules=[nothing_like_this]", "match no nn.Linear"),
])
def test_bad_input_fails_before_the_model_loads(tmp_path, monkeypatch, override, match):
    def no_model(*a, **k):
        raise AssertionError("the model was loaded before the bad input was caught")

    monkeypatch.setattr(pipeline, "load_model", no_model)
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=["model=tiny-llama", "task=gsm8k", "logger=none", f"output_root={tmp_path}", *override.split()])
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        pipeline.run(cfg)


@pytest.mark.integration
def test_two_process_ddp_matches_single_process(tmp_path):
    """`accelerate launch` with 2 CPU processes (gloo), batch 4 each == one process with batch 8. GPUs use
    `accelerate launch --config_file conf/accelerate/ddp.yaml` the same way."""
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    common = ["trainer.max_steps=2", "eval_before=false", "trainer.save_steps=100"]
    run_cli(single, *common, "trainer.batch_size=8")
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", "conf/accelerate/cpu_ddp.yaml",
           "--main_process_port", "29517", "src/run.py", *FAST,
           *common, "trainer.batch_size=4", f"output_root={ddp}", f"hydra.run.dir={tmp_path / 'hydra_ddp'}"]
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-4000:]
    a, b = only_record(single), only_record(ddp)
    assert b["train"]["steps"] == 2
    assert (a["world_size"], b["world_size"]) == (1, 2)
    wa = load_file(single / a["run_id"] / "adapter" / "adapter.safetensors")
    wb = load_file(ddp / b["run_id"] / "adapter" / "adapter.safetensors")
    assert wa.keys() == wb.keys()
    for k in wa:
        if k.endswith(".delta"):
            assert (wa[k] - wb[k]).abs().max() <= 1e-5 * max(1.0, wa[k].abs().max().item()), k
        else:
            assert (wa[k] == wb[k]).all(), k  # the index buffers are identical across ranks


@pytest.mark.integration
def test_killed_after_the_last_checkpoint_trains_nothing_more(tmp_path):
    """Killed between the final checkpoint and the record (e.g. during the final evaluation): the relaunch
    evaluates that checkpoint and reaches exactly the uninterrupted result, with no extra step."""
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    run_cli(straight, "eval_before=false")
    died = run_cli(killed, "eval_before=false", "+debug.kill_at_step=4", check=False)
    assert died.returncode == 137, died.stderr[-2000:]
    assert not list(killed.glob("*/record.json")) and list(killed.glob("*/checkpoints/checkpoint-4"))
    run_cli(killed, "eval_before=false")
    a, b = only_record(straight), only_record(killed)
    assert b["train"]["steps"] == 4 and b["train"]["resumed_from"].endswith("checkpoint-4")
    assert a["metrics"] == b["metrics"]
    wa = load_file(straight / a["run_id"] / "adapter" / "adapter.safetensors")
    wb = load_file(killed / b["run_id"] / "adapter" / "adapter.safetensors")
    assert wa.keys() == wb.keys() and all((wa[k] == wb[k]).all() for k in wa)


MORE = "+task.eval_sets.more={format:synthetic,generator:addition,split:test,size:4,seed:1}"  # a second eval set


@pytest.mark.integration
def test_killed_during_the_final_evaluation_resumes_without_scoring_the_finished_sets_again(tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    run_cli(straight, MORE)
    died = run_cli(killed, MORE, "+debug.kill_after=after_addition", check=False)  # dies between the two after-sets
    assert died.returncode == 137, died.stderr[-2000:]
    again = run_cli(killed, MORE)
    log = again.stdout + again.stderr
    assert "after addition: scored before by an earlier attempt of this run" in log and "after more: scored before" not in log
    a, b = only_record(straight), only_record(killed)
    earlier = "an earlier attempt of this run"
    assert a["eval_reused"] == {} and b["eval_reused"] == {"before_addition": earlier, "before_more": earlier, "after_addition": earlier}
    assert a["metrics"] == b["metrics"] and a["metrics_before"] == b["metrics_before"] and b["train"]["steps"] == 4
    assert a["attempts"] == 1 and b["attempts"] == 2  # the killed attempt's time counts, up to its last scored set
    assert b["attempt_code"] == a["attempt_code"] and len(b["attempt_code"]) == 1  # both attempts ran this code
    assert b["wall_time_all_attempts_s"] > b["wall_time_s"] and abs(a["wall_time_all_attempts_s"] - a["wall_time_s"]) < 1
    for name in ("before_addition", "after_addition", "after_more"):
        pa = (straight / a["run_id"] / "predictions" / f"{name}.jsonl").read_text()
        assert pa == (killed / b["run_id"] / "predictions" / f"{name}.jsonl").read_text(), name


@pytest.mark.parametrize("predictions, suffix", [("full", ".jsonl"), ("compact", ".jsonl.gz")])
def test_a_relaunch_reuses_a_scored_eval_set_only_under_the_same_key(tmp_path, monkeypatch, predictions, suffix):
    args = ("logger=none", "trainer.max_steps=2", f"predictions={predictions}")
    first = pipeline.run(tiny_cfg(tmp_path, *args))
    record = tmp_path / first["run_id"] / "record.json"
    written = sorted(p.name for p in (tmp_path / first["run_id"] / "predictions").iterdir())
    assert written == [f"after_addition{suffix}", f"before_addition{suffix}"]
    calls = []
    real = pipeline.evaluate_generation
    monkeypatch.setattr(pipeline, "evaluate_generation", lambda *a, **k: calls.append(k["desc"]) or real(*a, **k))
    record.unlink()  # as if killed after both evaluations, before the record
    again = pipeline.run(tiny_cfg(tmp_path, *args))
    assert calls == [] and set(again["eval_reused"]) == {"before_addition", "after_addition"}
    assert again["metrics"] == first["metrics"] and again["metrics_before"] == first["metrics_before"]
    record.unlink()
    other = pipeline.run(tiny_cfg(tmp_path, *args, "eval_batch_size=4"))  # same run id, another eval batch: scored again
    assert calls == ["eval before addition", "eval after addition"] and other["eval_reused"] == {}
    calls.clear()
    pipeline.run(tiny_cfg(tmp_path, *args, "eval_batch_size=4", "resume=false"))  # a rerun scores everything
    assert calls == ["eval before addition", "eval after addition"]


def test_the_runs_of_a_sweep_score_the_untrained_model_once(tmp_path, monkeypatch, capsys):
    """Every job of `-m method.k=...` would score the same base model before training: the first run stores the
    scores under output_root/.shared_before/, the others copy them, on a clean commit only."""
    clean = {"commit": "c" * 40, "dirty": False}
    monkeypatch.setattr(pipeline, "git_state", lambda *a, **k: dict(clean))
    calls = []
    real = pipeline.evaluate_generation
    monkeypatch.setattr(pipeline, "evaluate_generation", lambda *a, **k: calls.append(k["desc"]) or real(*a, **k))
    args = ("logger=none", "trainer.max_steps=1", "trainer.save_steps=1")
    first = pipeline.run(tiny_cfg(tmp_path, *args, "method.k=2"))
    assert "eval before and after training" in capsys.readouterr().out
    second = pipeline.run(tiny_cfg(tmp_path, *args, "method.k=4"))
    plan = capsys.readouterr().out  # the plan leaves the before pass out of its estimate and says why
    assert "eval after training: addition" in plan and "eval before training: scored already" in plan
    assert calls == ["eval before addition", "eval after addition", "eval after addition"]
    (shared,) = (tmp_path / ".shared_before").iterdir()
    assert second["eval_reused"] == {"before_addition": f".shared_before/{shared.name}"} and first["eval_reused"] == {}
    assert second["metrics_before"] == first["metrics_before"]
    pred = lambda rec: (tmp_path / rec["run_id"] / "predictions" / "before_addition.jsonl").read_text()  # noqa: E731
    assert pred(second) == pred(first)
    calls.clear()
    pipeline.run(tiny_cfg(tmp_path, *args, "method.k=4", "seed=7"))  # another seed: another classifier init on GLUE
    clean["dirty"] = True
    pipeline.run(tiny_cfg(tmp_path, *args, "method.k=3"))  # an edited tree: the code that scored them is unknown
    assert calls == ["eval before addition", "eval after addition"] * 2


@pytest.mark.integration
def test_a_stop_file_stops_a_sweep_at_the_next_checkpoint_and_the_relaunch_matches(tmp_path):
    """`touch <output_root>/STOP` pauses a study without losing steps: the running job stops right after its next
    checkpoint (exit 3, no record of any kind), the sweep stops with it, and the same command resumes."""
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    sweep = ("method.k=2,3", "eval_before=false", f"hydra.sweep.dir={tmp_path / 'sweep'}", "-m")
    run_cli(straight, *sweep)
    stopped.mkdir()
    (stopped / "STOP").touch()
    out = run_cli(stopped, *sweep, check=False)
    assert out.returncode == 3, out.stderr[-2000:]
    assert "stopped after the checkpoint of step 2" in out.stdout + out.stderr
    runs = [p for p in stopped.iterdir() if p.is_dir()]
    assert len(runs) == 1 and (runs[0] / "checkpoints" / "checkpoint-2").is_dir()  # the second job never started
    assert not list(stopped.glob("*/record*.json"))  # neither completed nor failed
    (stopped / "STOP").unlink()
    run_cli(stopped, *sweep)
    a = {r["method_tag"]: r for r in map(json.loads, map(Path.read_text, straight.glob("*/record.json")))}
    b = {r["method_tag"]: r for r in map(json.loads, map(Path.read_text, stopped.glob("*/record.json")))}
    assert a.keys() == b.keys() == {"neuroada-k2", "neuroada-k3"}
    assert all(a[t]["metrics"] == b[t]["metrics"] and b[t]["train"]["steps"] == 4 for t in a)
    resumed = [r for r in b.values() if r["train"]["resumed_from"]]
    assert len(resumed) == 1 and resumed[0]["train"]["resumed_from"].endswith("checkpoint-2") and resumed[0]["attempts"] == 2


def test_a_drain_file_lets_the_running_run_finish_and_starts_no_other(tmp_path, monkeypatch):
    """`touch <output_root>/DRAIN` winds a study down: a run under way goes on past its checkpoints to its record,
    a completed one is still skipped, any other is refused before it writes anything; without the file it runs."""
    args = ("logger=none", "eval_before=false")  # 4 steps, a checkpoint every 2
    real_load = pipeline.load_model

    def load_then_drain(*a, **k):  # the file appears while the first run is under way
        (tmp_path / "DRAIN").touch()
        return real_load(*a, **k)

    monkeypatch.setattr(pipeline, "load_model", load_then_drain)
    first = pipeline.run(tiny_cfg(tmp_path, *args, "method.k=2"))
    assert first["status"] == "completed" and first["train"]["steps"] == 4 and (tmp_path / "DRAIN").exists()
    assert pipeline.run(tiny_cfg(tmp_path, *args, "method.k=2"))["created"] == first["created"]  # skipped, not refused
    with pytest.raises(StopRequested, match="not started because .*DRAIN exists"):
        pipeline.run(tiny_cfg(tmp_path, *args, "method.k=3"))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["DRAIN", first["run_id"]])  # no folder for the refused run
    (tmp_path / "DRAIN").unlink()
    monkeypatch.setattr(pipeline, "load_model", real_load)
    assert pipeline.run(tiny_cfg(tmp_path, *args, "method.k=3"))["status"] == "completed"
