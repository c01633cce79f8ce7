"""method=untrained: the model as loaded, scored once with no Trainer; the floor of a generation study as a run of its own."""
import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

import neuroada.pipeline as pipeline
from conftest import make_tiny_llama
from neuroada.methods import prepare_method
from neuroada.methods.validation import validate_method_config

REPO = Path(__file__).resolve().parents[1]
TINY = ["model=tiny-llama", "task=addition", "task.train.size=32", "task.eval_sets.addition.size=6", "task.max_new_tokens=6",
        "trainer.max_steps=2", "trainer.batch_size=8", "eval_batch_size=6", "logger=none"]


def tiny_cfg(tmp_path, *extra, base=TINY):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose("config", overrides=[*base, f"output_root={tmp_path}", *extra])


def test_untrained_freezes_everything_and_merges_to_the_same_model():
    model = make_tiny_llama()
    prepared = prepare_method(model, {"name": "untrained"})
    assert prepared.params.trainable == 0 and prepared.name == "untrained" and not prepared.mergeable
    assert prepared.merge() is model


def test_untrained_on_a_classification_task_is_an_early_error():
    with pytest.raises(ValueError, match=r"method=untrained .* task 'sst2' is a classification task .* method=head_only"):
        validate_method_config({"name": "untrained"}, task={"name": "sst2", "kind": "classification"})
    validate_method_config({"name": "untrained"}, task={"name": "addition", "kind": "generation"})


@pytest.mark.integration
def test_an_untrained_run_scores_what_a_trained_run_scores_before_training(tmp_path, monkeypatch, capsys):
    """Its one pass is the after pass (eval_before=true adds none); no Trainer, checkpoint or adapter; 0 trainable
    parameters; the same metrics and predictions as a NeuroAda run's before pass on the same items."""
    def no_trainer(*a, **k):
        raise AssertionError("method=untrained built a Trainer")

    trained = pipeline.run(tiny_cfg(tmp_path / "trained", "eval_before=true"))
    monkeypatch.setattr(pipeline, "NeuroAdaTrainer", no_trainer)
    record = pipeline.run(tiny_cfg(tmp_path / "floor", "method=untrained", "eval_before=true"))
    assert record["method"] == record["method_tag"] == "untrained" and record["metrics_before"] is None
    assert record["trainable_params"] == 0 and record["train"]["steps"] == 0 and record["train_examples"] == 0
    assert record["selection"] is None and record["train"]["loss"] is None
    assert record["metrics"] == trained["metrics_before"]
    run_dir, trained_dir = tmp_path / "floor" / record["run_id"], tmp_path / "trained" / trained["run_id"]
    assert (run_dir / "predictions" / "after_addition.jsonl").read_text() == (trained_dir / "predictions" / "before_addition.jsonl").read_text()
    assert not (run_dir / "checkpoints").exists() and not (run_dir / "adapter").exists()
    tracked = record["peak_memory"]["tracked_bytes"]
    assert tracked["gradients"] == tracked["optimizer_state"] == tracked["activations"] == 0
    assert tracked["parameters"] == 4 * record["total_params"] and "untrained on tiny-llama" in capsys.readouterr().out
    assert json.loads((run_dir / "record.json").read_text())["status"] == "completed"
    assert pipeline.run(tiny_cfg(tmp_path / "floor", "method=untrained", "eval_before=true"))["created"] == record["created"]  # skipped


@pytest.mark.integration
def test_an_untrained_tuning_run_completed_later_scores_its_other_sets_and_trains_nothing(tmp_path, data_dir):
    """eval_test=false then true (a study's tuning then seeds phase): the second attempt reads the selection set back,
    scores the rest, and says the test sets were scored later; nothing is retrained."""
    base = ["model=tiny-llama", "task=math10k_study", f"data_dir={data_dir}", "task.max_train_samples=16", "task.max_eval_samples=3",
            "task.train_holdout.size=3", "task.skip_missing_eval_sets=true", "task.max_new_tokens=4", "eval_batch_size=3",
            "logger=none", "method=untrained", "eval_before=false"]
    first = pipeline.run(tiny_cfg(tmp_path, "eval_test=false", base=base))
    assert set(first["metrics"]) == {"validation"} and first["eval_scope"] == "selection"
    full = pipeline.run(tiny_cfg(tmp_path, "eval_test=true", base=base))
    assert full["run_id"] == first["run_id"] and full["eval_scope"] == "all" and set(full["metrics"]) > {"validation"}
    assert full["metrics"]["validation"] == first["metrics"]["validation"]
    assert "retrained" not in full["test_scored_later"] and full["eval_reused"]["after_validation"]
