"""The embedded `addition` task."""

import re

from neuroada.tasks import load_task, load_task_config
from neuroada.tasks.extraction import extract_number, is_correct
from neuroada.tasks.synthetic import addition, is_test_question

PATTERN = re.compile(r"(\d+) \+ (\d+) = (\d+)\. #### (\d+)")


def test_addition_task_defaults(tmp_path):
    task = load_task(load_task_config("addition"), tmp_path)  # needs no data directory
    assert (task.suite, task.answer_type, task.max_new_tokens) == ("synthetic", "number", 24)
    assert len(task.train) == 2000 and len(task.eval_sets["addition"]) == 100


def test_examples_are_correct_sums_in_range():
    for ex in addition("train", 300, seed=1) + addition("test", 100, seed=1):
        a, b, total, final = map(int, PATTERN.fullmatch(ex.output).groups())
        assert 2 <= a <= 40 and 2 <= b <= 40 and total == final == a + b == int(ex.answer)
        assert str(a) in ex.instruction and str(b) in ex.instruction and ex.instruction.endswith("?")
        assert is_correct(extract_number(ex.output), ex.answer, "number")


def test_train_and_test_are_disjoint_whatever_the_sizes_and_seeds():
    train = {ex.instruction for ex in addition("train", 5000, seed=0)}
    test = {ex.instruction for ex in addition("test", 500, seed=0)} | {
        ex.instruction for ex in addition("test", 500, seed=3)}
    assert len(train) == 5000 and not train & test
    assert all(is_test_question(q) for q in test) and not any(is_test_question(q) for q in train)


def test_seeded_and_sizes_configurable(tmp_path):
    assert addition("train", 50, seed=0) == addition("train", 50, seed=0)
    assert addition("train", 50, seed=0) != addition("train", 50, seed=1)
    assert addition("test", 10, seed=0) == addition("test", 30, seed=0)[:10]
    cfg = load_task_config("addition")
    cfg["train"]["size"], cfg["eval_sets"]["addition"]["size"] = 64, 16
    task = load_task(cfg, tmp_path)
    assert len(task.train) == 64 and len(task.eval_sets["addition"]) == 16


def test_several_templates_names_and_objects():
    questions = [ex.instruction for ex in addition("train", 400, seed=0)]
    assert len({q.split(" ")[0] for q in questions}) >= 8       # names (and "There")
    assert len({re.sub(r"\d+", "N", q)[:25] for q in questions}) >= 4
