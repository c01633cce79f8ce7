"""The record of eval sets an earlier attempt of a run scored: reused only under the same key."""
import math

from neuroada.evaluation.finished_sets import EvalCache, FinishedSets, SharedScores, items_digest
from neuroada.tasks.example import Example

ITEMS = [Example(instruction="1 + 2?", answer="3", row=0), Example(instruction="2 + 2?", answer="4", row=1)]


def test_an_entry_is_returned_only_for_its_key_and_while_its_predictions_exist(tmp_path):
    sets = FinishedSets(tmp_path)
    predictions = tmp_path / "predictions" / "after_x.jsonl"
    key = {"items": items_digest(ITEMS), "eval_batch_size": 16, "step": 100}
    assert sets.metrics("after", "x", key, predictions) is None  # never scored
    sets.save("after", "x", key, {"accuracy": 0.5, "pearson": float("nan"), "n": 2})
    assert sets.metrics("after", "x", key, predictions) is None  # its predictions file is gone
    predictions.parent.mkdir()
    predictions.write_text("{}\n")
    got = sets.metrics("after", "x", key, predictions)
    assert got["accuracy"] == 0.5 and got["n"] == 2 and math.isnan(got["pearson"])  # NaN comes back as NaN
    assert sets.metrics("after", "x", {**key, "step": 50}, predictions) is None  # another model
    assert sets.metrics("after", "x", {**key, "items": items_digest(ITEMS[:1])}, predictions) is None  # other items
    assert sets.metrics("before", "x", key, predictions) is None  # another pass


def test_forget_drops_one_pass_or_all(tmp_path):
    sets = FinishedSets(tmp_path)
    for tag in ("before", "after"):
        sets.save(tag, "x", {}, {"accuracy": 1.0})
    sets.forget("after")
    assert sets.metrics("after", "x", {}, None) is None and sets.metrics("before", "x", {}, None) == {"accuracy": 1.0}
    sets.forget()
    assert sets.metrics("before", "x", {}, None) is None


def test_an_unreadable_entry_means_score_again(tmp_path):
    sets = FinishedSets(tmp_path)
    sets.save("after", "x", {}, {"accuracy": 1.0})
    (tmp_path / "eval_done" / "after_x.json").write_text('{"key": {}, "metr')  # cut short
    assert sets.metrics("after", "x", {}, None) is None


def test_the_items_digest_follows_content_and_order():
    assert items_digest(ITEMS) == items_digest(list(ITEMS))
    assert items_digest(ITEMS) != items_digest(ITEMS[::-1])
    assert items_digest(ITEMS) != items_digest([ITEMS[0], Example(instruction="2 + 2?", answer="5", row=1)])


def _predictions(root, run, tag="before"):
    path = root / run / "predictions" / f"{tag}_x.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_a_sweeps_runs_share_the_untrained_models_scores_only_under_their_context_and_key(tmp_path):
    context = {"model": {"name": "m"}, "seed": 1, "commit": "c" * 40}
    settings = {"eval_batch_size": 16, "predictions": "full"}
    first = EvalCache(tmp_path / "run_a", settings, reuse=True, shared=SharedScores(tmp_path, context))
    mine = _predictions(tmp_path, "run_a")
    key = first.key(ITEMS, {"commit": "c" * 40})
    assert first.take("before", "x", key, mine) is None  # nothing scored yet
    mine.write_text('{"row": 0}\n')
    first.save("before", "x", key, {"accuracy": 0.25}, mine)

    second = EvalCache(tmp_path / "run_b", settings, reuse=True, shared=SharedScores(tmp_path, context))
    theirs = _predictions(tmp_path, "run_b")
    assert second.take("before", "x", second.key(ITEMS, {"commit": "c" * 40}), theirs) == {"accuracy": 0.25}
    assert theirs.read_text() == mine.read_text()  # the predictions are copied into the run
    (shared,) = (tmp_path / SharedScores.DIR).iterdir()
    assert second.reused == {"before_x": f"{SharedScores.DIR}/{shared.name}"} and first.reused == {}
    assert FinishedSets(tmp_path / "run_b").metrics("before", "x", key, theirs) == {"accuracy": 0.25}  # kept run-locally

    other = _predictions(tmp_path, "run_c")
    assert EvalCache(tmp_path / "run_c", settings, True, SharedScores(tmp_path, {**context, "seed": 2})).take("before", "x", key, other) is None
    assert EvalCache(tmp_path / "run_c", settings, True, SharedScores(tmp_path, context)).take(
        "before", "x", {**key, "eval_batch_size": 8}, other) is None  # another key
    assert EvalCache(tmp_path / "run_c", settings, True, SharedScores(tmp_path, context)).take(
        "after", "x", key, _predictions(tmp_path, "run_c", "after")) is None  # a trained model is never shared
    assert EvalCache(tmp_path / "run_c", settings, False, SharedScores(tmp_path, context)).take("before", "x", key, other) is None
    assert not other.exists()


def test_a_run_prefers_its_own_earlier_attempt_and_keeps_nothing_without_resume(tmp_path):
    settings = {"eval_batch_size": 16, "predictions": "full"}
    predictions = _predictions(tmp_path, "run")
    predictions.write_text("{}\n")
    cache = EvalCache(tmp_path / "run", settings, reuse=True)
    key = cache.key(ITEMS, {"step": 100})
    assert key == {"items": items_digest(ITEMS), "eval_batch_size": 16, "predictions": "full", "step": 100}
    cache.save("after", "x", key, {"accuracy": 0.5}, predictions)
    again = EvalCache(tmp_path / "run", settings, reuse=True)
    assert again.find("after", "x", key, predictions) == ({"accuracy": 0.5}, "an earlier attempt of this run")
    assert again.take("after", "x", key, predictions) == {"accuracy": 0.5}
    assert again.reused == {"after_x": "an earlier attempt of this run"}
    fresh = EvalCache(tmp_path / "run", settings, reuse=False)
    assert fresh.find("after", "x", key, predictions) == (None, "")  # resume=false scores again
    fresh.save("after", "x", {**key, "step": 200}, {"accuracy": 0.9}, predictions)
    assert again.find("after", "x", {**key, "step": 200}, predictions) == (None, "")  # and keeps nothing
