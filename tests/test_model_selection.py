"""GLUE protocol: the selection half chooses the checkpoint (Trainer evaluation + best-model loading), the
test half is reported; the dev re-split follows the run's seed unless fixed."""
import pytest
import torch
from hydra import compose, initialize_config_dir
from safetensors.torch import load_file

import neuroada.pipeline as pipeline
from neuroada.tasks import load_task
from neuroada.training.args import eval_strategy
from neuroada.training.selection import classification_metrics
from test_pipeline import REPO

GLUE_TINY = ["model=tiny-bert", "task=sst2", "task.max_train_samples=96", "task.max_eval_samples=24", "trainer.max_steps=6",
             "trainer.batch_size=16", "trainer.max_length=48", "trainer.lr=5e-2", "trainer.eval_strategy=steps",
             "trainer.eval_steps=2", "eval_before=false", "logger=none", "eval_batch_size=8"]
METHODS = {"neuroada": ["method=neuroada", "method.k=4"], "lora": ["method=lora", "method.r=2"], "full": ["method=full"],
           "shira": ["method=shira", "method.r=2"], "head_only": ["method=head_only"]}


def _cfg(tmp_path, *extra):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose("config", overrides=[*GLUE_TINY, f"output_root={tmp_path}", *extra])


def _scripted(scores):
    """compute_metrics whose selection score follows `scores` (one per evaluation), so the best step is known."""
    calls = iter(scores)

    def factory(task_name, num_labels, primary):
        real = classification_metrics(task_name, num_labels, primary)

        def compute(prediction):
            metrics = real(prediction)
            metrics["select"] = next(calls)
            return metrics
        return compute
    return factory


def _trainable(path):
    return {k: v for k, v in load_file(str(path)).items()}


@pytest.mark.integration
@pytest.mark.parametrize("method", sorted(METHODS))
def test_best_checkpoint_by_the_selection_set_is_loaded_and_reported(tmp_path, monkeypatch, method):
    monkeypatch.setattr(pipeline, "classification_metrics", _scripted([0.2, 0.9, 0.1]))  # best: step 4 of 6
    record = pipeline.run(_cfg(tmp_path, *METHODS[method], "merge=false"))
    sel = record["selection"]
    assert sel["best_step"] == 4 and sel["last_step"] == 6 and sel["set"] == "validation" and sel["metric"] == "accuracy"
    assert [p["step"] for p in sel["curve"]] == [2, 4, 6] and all(0 <= p["accuracy"] <= 1 for p in sel["curve"])
    assert set(record["metrics"]) == {"validation", "test"}
    # the reported model scores on the selection set what the step-4 evaluation saw
    assert record["metrics"]["validation"]["accuracy"] == pytest.approx(sel["curve"][1]["accuracy"], abs=1e-9)
    # the model that was evaluated and saved is the step-4 checkpoint, not the last one
    ckpts = tmp_path / record["run_id"] / "checkpoints"
    if method == "neuroada":
        best, last = _trainable(ckpts / "checkpoint-4" / "trainable.safetensors"), _trainable(ckpts / "checkpoint-6" / "trainable.safetensors")
        saved = load_file(str(tmp_path / record["run_id"] / "adapter" / "adapter.safetensors"))
        deltas = [k for k in best if k.endswith(".neuroada_delta")]
        assert deltas and any(not torch.equal(best[k], last[k]) for k in deltas)
        assert all(torch.equal(saved[k.replace(".neuroada_delta", ".delta")], best[k]) for k in deltas)
    else:
        assert (ckpts / "checkpoint-4").is_dir()  # kept by the rotation as the best checkpoint


@pytest.mark.integration
def test_selected_checkpoint_scores_the_best_curve_value_on_the_selection_set(tmp_path):
    record = pipeline.run(_cfg(tmp_path, "method=neuroada", "method.k=4"))
    sel = record["selection"]
    best = max(sel["curve"], key=lambda p: p["accuracy"])  # first maximum, as the Trainer keeps the first best
    assert sel["best_step"] == best["step"]
    assert record["metrics"]["validation"]["accuracy"] == pytest.approx(best["accuracy"], abs=1e-9)


@pytest.mark.integration
def test_no_selection_reports_the_last_checkpoint(tmp_path):
    record = pipeline.run(_cfg(tmp_path, "method=neuroada", "method.k=4", "trainer.eval_strategy=no"))
    assert record["selection"] is None and record["train"]["steps"] == 6


def test_eval_strategy_auto_follows_the_task():
    t = {"eval_strategy": "auto", "eval_steps": None}
    assert eval_strategy(t, has_selection_set=True) == "epoch" and eval_strategy(t, has_selection_set=False) == "no"
    with pytest.raises(ValueError, match="eval_strategy=steps needs trainer.eval_steps"):
        eval_strategy({"eval_strategy": "steps", "eval_steps": None}, True)
    with pytest.raises(ValueError, match="model-selection set"):
        eval_strategy({"eval_strategy": "epoch"}, False)
    with pytest.raises(ValueError, match="must be one of"):
        eval_strategy({"eval_strategy": "sometimes"}, True)


@pytest.mark.integration
def test_resplit_follows_the_run_seed_by_default_and_can_be_fixed(data_dir):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        rte = compose("config", overrides=["task=rte"]).task
        fixed = compose("config", overrides=["task=rte", "task.resplit_seed=42"]).task
    tests = {s: load_task(rte, data_dir, load_train=False, run_seed=s) for s in (1, 2)}
    assert tests[1].resplit_seed == 1 and tests[2].resplit_seed == 2
    assert tests[1].eval_sets["test"] != tests[2].eval_sets["test"]
    pinned = [load_task(fixed, data_dir, load_train=False, run_seed=s) for s in (1, 2)]
    assert pinned[0].eval_sets == pinned[1].eval_sets and pinned[0].resplit_seed == 42
    with pytest.raises(ValueError, match="resplit_seed must be 'run' or an integer"):
        load_task({**rte, "resplit_seed": "sometimes"}, data_dir, load_train=False, run_seed=1)


def test_nan_metric_never_becomes_the_best():
    from transformers import EvalPrediction
    import numpy as np

    compute = classification_metrics("stsb", 1, "pearson")
    constant = compute(EvalPrediction(predictions=np.zeros((4, 1)), label_ids=np.array([0.0, 1.0, 2.0, 3.0])))
    assert constant["select"] == -1.0
    good = compute(EvalPrediction(predictions=np.array([[0.0], [1.0], [2.0], [3.5]]), label_ids=np.array([0.0, 1.0, 2.0, 3.0])))
    assert good["select"] == pytest.approx(good["pearson"]) and good["select"] > constant["select"]


@pytest.mark.integration
def test_generation_task_selects_by_decoding_the_selection_set(tmp_path):
    """Decoder runs choose their checkpoint too: the selection set is scored by greedy decoding and the task's
    extraction at every evaluation, and the best one is loaded (lean NeuroAda checkpoints)."""
    from test_pipeline import tiny_cfg

    record = pipeline.run(tiny_cfg(tmp_path, "logger=none", "eval_before=false", "trainer.max_steps=4", "trainer.eval_strategy=steps",
                                   "trainer.eval_steps=2", "+task.selection_set=addition", "trainer.lr=5e-2"))
    sel = record["selection"]
    assert [p["step"] for p in sel["curve"]] == [2, 4] and sel["metric"] == "accuracy"
    best = max(sel["curve"], key=lambda p: p["accuracy"])
    assert sel["best_step"] == best["step"]
    assert record["metrics"]["addition"]["accuracy"] == pytest.approx(best["accuracy"])


@pytest.mark.integration
def test_default_glue_protocol_evaluates_every_epoch(tmp_path, monkeypatch):
    """trainer.eval_strategy=auto on a GLUE task = the release's protocol: evaluate each epoch, keep the best."""
    monkeypatch.setattr(pipeline, "classification_metrics", _scripted([0.7, 0.3]))  # best: the first epoch
    record = pipeline.run(_cfg(tmp_path, "method=neuroada", "method.k=4", "trainer.eval_strategy=auto", "trainer.max_steps=-1",
                               "trainer.epochs=2", "task.max_train_samples=64"))
    sel = record["selection"]
    assert sel["strategy"] == "epoch" and [p["step"] for p in sel["curve"]] == [4, 8] and [p["epoch"] for p in sel["curve"]] == [1, 2]
    assert sel["best_step"] == 4 and record["train"]["steps"] == 8
    assert record["metrics"]["validation"]["accuracy"] == pytest.approx(sel["curve"][0]["accuracy"], abs=1e-9)


@pytest.mark.integration
def test_a_tuning_run_scores_its_selection_set_only_and_its_test_sets_later_without_training(tmp_path, monkeypatch):
    """eval_test=false (a study's tuning run) scores the selection set only; once its lr is chosen, the same run
    with eval_test=true scores the test sets from the kept checkpoint, training nothing, and gives the record a
    run scored all at once would have."""
    args = ("method=neuroada", "method.k=4", "merge=false")
    straight = pipeline.run(_cfg(tmp_path / "straight", *args))
    tuning = pipeline.run(_cfg(tmp_path / "tuning", *args, "eval_test=false"))
    assert tuning["run_id"] == straight["run_id"]  # eval_test does not make another run
    assert tuning["eval_scope"] == "selection" and straight["eval_scope"] == "all"
    assert set(tuning["metrics"]) == set(tuning["eval_sizes"]) == {"validation"}
    assert tuning["metrics"]["validation"] == straight["metrics"]["validation"]
    assert pipeline.run(_cfg(tmp_path / "tuning", *args, "eval_test=false"))["created"] == tuning["created"]  # skipped

    def no_training(*a, **k):
        raise AssertionError("a deferred test pass must not train")
    monkeypatch.setattr(pipeline.NeuroAdaTrainer, "train", no_training)
    done = pipeline.run(_cfg(tmp_path / "tuning", *args))
    assert done["eval_scope"] == "all" and done["metrics"] == straight["metrics"]
    assert done["eval_sizes"] == straight["eval_sizes"] and done["selection"] == straight["selection"]
    assert done["train"] == {**tuning["train"], "resumed_from": done["train"]["resumed_from"]}
    assert done["train"]["resumed_from"].startswith("checkpoints/checkpoint-")
    assert done["peak_memory"] == tuning["peak_memory"] and done["attempts"] == 2
    later = done["test_scored_later"]
    assert later["created"] == tuning["created"] and done["wall_time_s"] == pytest.approx(tuning["wall_time_s"] + later["wall_time_s"])
    assert pipeline.run(_cfg(tmp_path / "tuning", *args, "eval_test=false"))["created"] == done["created"]  # complete: skipped


@pytest.mark.integration
def test_a_chosen_tuning_run_whose_checkpoint_is_gone_is_trained_again_and_checked_against_its_selection_score(tmp_path):
    """A study resumed on a fresh machine has the tuning run's record but not its checkpoint: completing it trains the
    run again from its seed, gives the record a straight run would have, and records that the retrained model
    reproduced the selection score its lr was chosen on."""
    import shutil

    args = ("method=neuroada", "method.k=4", "merge=false")
    straight = pipeline.run(_cfg(tmp_path / "straight", *args))
    tuning = pipeline.run(_cfg(tmp_path / "tuning", *args, "eval_test=false"))
    shutil.rmtree(tmp_path / "tuning" / tuning["run_id"] / "checkpoints")
    done = pipeline.run(_cfg(tmp_path / "tuning", *args))
    assert done["eval_scope"] == "all" and done["metrics"] == straight["metrics"]
    assert done["train"]["resumed_from"] is None and done["train"]["steps"] == straight["train"]["steps"]
    later = done["test_scored_later"]
    assert later["created"] == tuning["created"] and later["retrained"] is True
    assert later["tuning_selection_score"] == tuning["metrics"]["validation"]["accuracy"]
    assert later["selection_score_reproduced"] is True


@pytest.mark.integration
@pytest.mark.parametrize("strategy", ["steps", "epoch"])
def test_a_retrained_chosen_run_stops_at_its_chosen_step_and_scores_what_its_kept_checkpoint_would(tmp_path, monkeypatch, strategy):
    """The retrain trains only up to the step the tuning run chose (step 2 of 6, or epoch 1 of 3 = step 2), evaluates
    that step alone, and gives the same test scores and predictions as completing the run from its kept checkpoint; the
    record keeps the tuning attempt's training figures and selection curve, and says what the retrain did."""
    import shutil

    args = ("method=neuroada", "method.k=4", "merge=false")
    if strategy == "epoch":
        args += ("trainer.eval_strategy=epoch", "trainer.max_steps=-1", "trainer.epochs=3", "task.max_train_samples=32")
    records = {}
    for name in ("kept", "gone"):
        monkeypatch.setattr(pipeline, "classification_metrics", _scripted([0.9, 0.1, 0.2]))  # best: step 2 of 6
        records[name] = pipeline.run(_cfg(tmp_path / name, *args, "eval_test=false"))
        assert records[name]["selection"]["best_step"] == 2 and records[name]["train"]["steps"] == 6
    shutil.rmtree(tmp_path / "gone" / records["gone"]["run_id"] / "checkpoints")
    kept = pipeline.run(_cfg(tmp_path / "kept", *args))
    monkeypatch.setattr(pipeline, "classification_metrics", _scripted([0.9]))  # one evaluation: a second would raise
    done = pipeline.run(_cfg(tmp_path / "gone", *args))
    assert done["metrics"] == kept["metrics"] and set(done["metrics"]) > {"validation"}
    for name in done["metrics"]:
        read = lambda rec, root: (tmp_path / root / rec["run_id"] / "predictions" / f"after_{name}.jsonl").read_text()  # noqa: E731
        assert read(done, "gone") == read(kept, "kept")
    later = done["test_scored_later"]
    assert later["retrained"] is True and later["selection_score_reproduced"] is True and later["retrain"]["steps"] == 2
    assert done["train"]["steps"] == 6 and done["selection"] == records["gone"]["selection"]


def test_a_retrain_killed_after_saving_its_chosen_step_has_finished_training(tmp_path):
    """A relaunch must evaluate that checkpoint, not train on past the chosen step."""
    import json

    from neuroada.training.checkpoints import finished_training

    checkpoint = tmp_path / "checkpoint-2"
    checkpoint.mkdir()
    (checkpoint / "trainer_state.json").write_text(json.dumps({"global_step": 2, "max_steps": 6, "log_history": []}))
    assert finished_training(str(checkpoint)) is None
    assert finished_training(str(checkpoint), stop_at=2).global_step == 2
    assert finished_training(str(checkpoint), stop_at=4) is None


def test_eval_test_false_needs_a_selection_set_and_a_boolean(tmp_path):
    from test_pipeline import tiny_cfg

    with pytest.raises(ValueError, match="eval_test=false scores only the task's selection set, and task 'addition' has none"):
        pipeline.run(tiny_cfg(tmp_path, "logger=none", "eval_test=false"))
    with pytest.raises(ValueError, match="eval_test='sometimes' is invalid: true or false"):
        pipeline.run(tiny_cfg(tmp_path, "logger=none", "eval_test=sometimes"))
    assert not list(tmp_path.glob("*/checkpoints"))


@pytest.mark.integration
def test_the_pass_after_training_takes_the_selection_set_from_the_evaluation_that_chose_the_checkpoint(tmp_path, monkeypatch):
    """A generation selection set was decoded at the chosen checkpoint during training (minutes a pass on a decoder
    study): the pass after training takes those scores and predictions and decodes only the other sets, also when a
    tuning run's test sets are scored later; the record equals one whose after pass decodes it again (NeuroAda's
    merged model answers as the unmerged one did)."""
    from neuroada.evaluation.finished_sets import InRunScores
    from test_pipeline import tiny_cfg

    real_metrics = pipeline.generation_metrics

    def scripted(evaluate_set, primary):  # step 2 scores best, so the chosen checkpoint is not the last one
        compute = real_metrics(evaluate_set, primary)
        return lambda model, step: {**compute(model, step), "select": {2: 0.9, 4: 0.1}[step]}
    monkeypatch.setattr(pipeline, "generation_metrics", scripted)
    calls = []
    real = pipeline.evaluate_generation
    monkeypatch.setattr(pipeline, "evaluate_generation", lambda *a, **k: calls.append(k["desc"]) or real(*a, **k))
    more = "+task.eval_sets.more={format:synthetic,generator:addition,split:test,size:4,seed:1}"
    args = ("logger=none", "eval_before=false", "trainer.max_steps=4", "trainer.eval_strategy=steps", "trainer.eval_steps=2",
            "+task.selection_set=addition", "trainer.lr=5e-2", more)
    record = pipeline.run(tiny_cfg(tmp_path / "reused", *args))
    assert calls == ["eval step 2 addition", "eval step 4 addition", "eval after more"]
    assert record["selection"]["best_step"] == 2 and record["train"]["steps"] == 4
    assert record["eval_reused"] == {"after_addition": "the evaluation during training at step 2"}
    assert record["metrics"]["addition"]["accuracy"] == pytest.approx(record["selection"]["curve"][0]["accuracy"])
    run_dir = tmp_path / "reused" / record["run_id"]
    predictions = (run_dir / "predictions" / "after_addition.jsonl").read_text()
    assert predictions == (run_dir / "in_run" / "step2_addition.jsonl").read_text()

    calls.clear()
    monkeypatch.setattr(InRunScores, "take", lambda self, step, predictions: None)  # the pass decodes every set again
    decoded = pipeline.run(tiny_cfg(tmp_path / "decoded", *args))
    assert calls == ["eval step 2 addition", "eval step 4 addition", "eval after addition", "eval after more"]
    assert decoded["metrics"] == record["metrics"] and decoded["eval_reused"] == {}
    assert (tmp_path / "decoded" / decoded["run_id"] / "predictions" / "after_addition.jsonl").read_text() == predictions

    monkeypatch.undo()  # a tuning run, its other sets scored later from its checkpoint
    monkeypatch.setattr(pipeline, "generation_metrics", scripted)
    monkeypatch.setattr(pipeline, "evaluate_generation", lambda *a, **k: calls.append(k["desc"]) or real(*a, **k))
    calls.clear()
    tuning = pipeline.run(tiny_cfg(tmp_path / "tuning", *args, "eval_test=false"))
    assert calls == ["eval step 2 addition", "eval step 4 addition"] and set(tuning["metrics"]) == {"addition"}
    calls.clear()
    done = pipeline.run(tiny_cfg(tmp_path / "tuning", *args))
    assert calls == ["eval after more"] and done["metrics"] == record["metrics"]
