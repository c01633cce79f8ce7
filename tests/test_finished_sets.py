"""The record of eval sets an earlier attempt of a run scored: reused only under the same key."""
import math

from neuroada.evaluation.finished_sets import FinishedSets, items_digest
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


def test_shared_scores_copy_the_predictions_and_answer_only_their_context_and_key(tmp_path):
    from neuroada.evaluation.finished_sets import SharedScores

    context = {"model": {"name": "m"}, "seed": 1, "commit": "c" * 40}
    key = {"items": items_digest(ITEMS), "eval_batch_size": 16}
    mine = tmp_path / "run_a" / "predictions" / "before_x.jsonl"
    mine.parent.mkdir(parents=True)
    mine.write_text('{"row": 0}\n')
    SharedScores(tmp_path, context).publish("x", key, {"accuracy": 0.25}, mine)
    theirs = tmp_path / "run_b" / "predictions" / "before_x.jsonl"
    assert SharedScores(tmp_path, context).fetch("x", key, theirs) == {"accuracy": 0.25}
    assert theirs.read_text() == mine.read_text()
    other = tmp_path / "run_c" / "predictions" / "before_x.jsonl"
    assert SharedScores(tmp_path, {**context, "seed": 2}).fetch("x", key, other) is None  # another context
    assert SharedScores(tmp_path, context).fetch("x", {**key, "eval_batch_size": 8}, other) is None  # another key
    assert not other.exists()
