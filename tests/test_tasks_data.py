"""Every task config loads the real data in ../shared/data with the documented row counts."""

from pathlib import Path

import pytest

from neuroada.tasks import Example, MissingDataError, Task, list_tasks, load_task, load_task_config
from neuroada.tasks.extraction import label_set
from neuroada.tasks.glue import read_tsv
from neuroada.tasks.sources import load_source


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def cs15k(data_dir):
    return load_task(load_task_config("commonsense15k"), data_dir)


TEST_SIZES = {"boolq": 3270, "piqa": 1838, "siqa": 1954, "hellaswag": 10042, "winogrande": 1267,
              "arc_easy": 2376, "arc_challenge": 1172, "obqa": 500}
MATH_SIZES = {"gsm8k": 1319, "svamp": 1000, "multiarith": 600, "addsub": 395, "aqua": 254}


def test_all_23_tasks_and_suites_have_configs():
    expected = set(TEST_SIZES) | set(MATH_SIZES) | {"singleeq", "mawps"} | {
        "cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte"}
    assert len(expected) == 23
    assert set(list_tasks()) == expected | {"commonsense15k", "commonsense170k", "math10k", "addition", "commonsense15k_study", "math10k_study"}
    assert set(list_tasks("glue")) == {"cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte"}


def test_commonsense_suite_counts_and_labels(cs15k):
    assert len(cs15k.train) == 10583
    assert {k: len(v) for k, v in cs15k.eval_sets.items()} == TEST_SIZES
    for name, examples in cs15k.eval_sets.items():
        labels = {ex.answer for ex in examples}
        assert labels <= set(label_set(examples[0].answer)), name
        assert all(ex.output == f"the correct answer is {ex.answer}" for ex in examples)


@pytest.mark.parametrize("name", sorted(TEST_SIZES))
def test_single_commonsense_task(name, data_dir):
    task = load_task(load_task_config(name), data_dir)
    assert (task.suite, task.kind, task.answer_type, task.max_new_tokens) == ("commonsense", "generation",
                                                                          "commonsense", 32)
    assert list(task.eval_sets) == [name] and len(task.eval_sets[name]) == TEST_SIZES[name]
    assert len(task.train) == 10583


def test_hellaswag_converted_to_llm_adapters_prompt(cs15k):
    first = cs15k.eval_sets["hellaswag"][0]
    assert first.instruction.startswith(
        "Please choose the correct ending to complete the given sentence: Roof shingle removal: "
        "A man is sitting on a roof. he\n\nEnding1: is using wrap to wrap a pair of skis. Ending2: ")
    assert first.instruction.endswith("\n\nAnswer format: ending1/ending2/ending3/ending4")
    assert first.answer == "ending4"  # hub label "3"


def test_math_suite_counts_skips_missing_and_sets_aqua_letter(data_dir):
    task = load_task(load_task_config("math10k"), data_dir)
    assert len(task.train) == 9919
    assert {k: len(v) for k, v in task.eval_sets.items()} == MATH_SIZES
    assert task.missing_eval_sets == ["singleeq", "mawps"]
    assert task.answer_type_for("aqua") == "letter" and task.answer_type_for("gsm8k") == "number"
    assert task.max_new_tokens == 512
    assert all(ex.answer in "ABCDE" for ex in task.eval_sets["aqua"])


def test_math_study_selection_set_is_held_out_of_training_with_every_repeat_of_its_questions(data_dir):
    cfg = {**load_task_config("math10k_study"), "max_train_samples": 800, "max_eval_samples": 400}  # as the launcher
    task, other_seed = load_task(cfg, data_dir, run_seed=1), load_task(cfg, data_dir, run_seed=2)
    assert task.selection_set == "validation"
    assert {k: len(v) for k, v in task.eval_sets.items()} == {
        "gsm8k": 400, "svamp": 400, "multiarith": 400, "addsub": 395, "aqua": 254, "validation": 300}
    assert task.eval_sets == other_seed.eval_sets and task.train == other_seed.train  # fixed items, whatever the run seed
    pool = load_task({**cfg, "max_train_samples": None}, data_dir).train
    held = {ex.question for ex in task.eval_sets["validation"]}
    full = [ex.question for ex in load_task(load_task_config("math10k"), data_dir).train]
    assert len(full) - len(set(full)) == 364  # items that repeat an earlier question (quoted in results/README.md)
    assert sum(q in held for q in full) > 300  # some held-out questions repeat in the train file ...
    assert len(task.train) == 800 and not held & {ex.question for ex in pool}  # ... and none stays in training
    assert len(pool) == len(full) - sum(q in held for q in full)
    overlap = task.trained_questions()  # test questions among the 800 (quoted in results/README.md), for the record
    assert {k: len(v) for k, v in overlap.items()} == {"multiarith": 25, "addsub": 48}
    rows = {ex.row: ex.question for ex in task.eval_sets["addsub"]}
    assert {rows[r] for r in overlap["addsub"]} <= {ex.question for ex in task.train}


def test_math_study_selection_set_scores_its_letter_items_as_aqua_and_the_rest_as_numbers(data_dir):
    """Math10K holds AQuA's multiple-choice items among the numeric ones, so the held-out selection set mixes both:
    each item is scored by its own kind (a numeric-only set raised on the first letter gold, at the first evaluation)."""
    from neuroada.tasks.extraction import extract, is_correct

    task = load_task({**load_task_config("math10k_study"), "max_train_samples": 800}, data_dir, run_seed=1)
    kind = task.answer_type_for("validation")
    held = task.eval_sets["validation"]
    letters = [ex for ex in held if ex.answer in ("A", "B", "C", "D", "E")]
    assert kind == "number_or_letter" and len(letters) == 15  # 15 of the 300 (quoted in conf/task/math10k_study.yaml)
    for ex in held:  # a generation that ends on the gold answer is right; one that ends on another answer is wrong
        assert is_correct(extract(f"so the answer is {ex.answer}", kind, ex.answer), ex.answer, kind), ex.answer
    wrong = {ex.answer: ("E" if ex.answer != "E" else "D") if ex in letters else "123456789" for ex in held}
    assert not any(is_correct(extract(f"so the answer is {wrong[ex.answer]}", kind, ex.answer), ex.answer, kind) for ex in held)


def test_trained_questions_lists_eval_items_that_repeat_a_training_question_by_row_else_position():
    train = [Example(instruction="What is  2+2?"), Example(instruction="Name a colour."), Example(text_a="a film")]
    task = Task(name="t", suite="math", kind="generation", train=train, eval_sets={
        "rows": [Example(instruction="What is 2+2?", row=7), Example(instruction="What is 3+3?", row=8)],
        "positions": [Example(instruction="new"), Example(instruction="Name a colour. ")],
        "glue": [Example(text_a="a film"), Example(text_a="another")],  # no question: never a match
        "unseen": [Example(instruction="What is 4+4?")]})
    assert task.trained_questions() == {"rows": [7], "positions": [1]}


def test_math10k_trains_on_most_multiarith_and_addsub_test_questions(data_dir):
    """A property of the benchmark (Math10K takes MAWPS's items), not of this code: scores on MultiArith and AddSub
    partly measure recall of training items. The counts are quoted in results/README.md."""
    task = load_task(load_task_config("math10k"), data_dir)
    seen = {ex.question for ex in task.train}
    assert {k: sum(ex.question in seen for ex in v) for k, v in task.eval_sets.items()} == {
        "gsm8k": 0, "svamp": 0, "aqua": 0, "multiarith": 471, "addsub": 327}


@pytest.mark.parametrize("name", sorted(MATH_SIZES))
def test_single_math_task(name, data_dir):
    task = load_task(load_task_config(name), data_dir)
    assert list(task.eval_sets) == [name] and len(task.eval_sets[name]) == MATH_SIZES[name]
    assert task.answer_type == ("letter" if name == "aqua" else "number")
    assert len(task.train) == (7473 if name == "gsm8k" else 9919)


def test_gsm8k_official_train_in_alpaca_format(data_dir):
    task = load_task(load_task_config("gsm8k"), data_dir)
    first = task.train[0]
    assert first.instruction.startswith("Natalia sold clips to 48 of her friends")
    assert first.output.endswith("#### 72") and first.answer == "72" and first.input == ""
    test = task.eval_sets["gsm8k"]
    assert all(ex.output.rsplit("####", 1)[1].strip().replace(",", "") == ex.answer for ex in test)
    assert sum(float(ex.answer) < 0 for ex in test) == 2  # "-10" and "-3" keep their sign
    assert any("," in ex.output.rsplit("####", 1)[1] for ex in task.train)  # gold "1,000"-style answers...
    assert not any("," in ex.answer for ex in task.train)                  # ...are stored without commas


@pytest.mark.parametrize("name", ["singleeq", "mawps", "commonsense170k", "qqp", "mnli"])
def test_missing_data_is_a_clear_error(name, data_dir):
    with pytest.raises(MissingDataError) as info:
        load_task(load_task_config(name), data_dir)
    message = str(info.value)
    assert f"data_dir={data_dir}" in message and str(Path(data_dir).resolve()) in message and repr(name) in message
    assert "NEUROADA_DATA_DIR" in message and "hub" in message
    assert isinstance(info.value, FileNotFoundError)


@pytest.mark.parametrize("name", ["qqp", "mnli"])
def test_glue_dev_missing_is_a_clear_error_even_without_train(name, data_dir):
    with pytest.raises(MissingDataError, match=r"glue/(QQP/dev|MNLI/dev_matched)\.tsv"):
        load_task(load_task_config(name), data_dir, load_train=False)


GLUE_COUNTS = {  # official train / dev rows
    "cola": (8551, 1043), "sst2": (67349, 872), "mrpc": (3668, 408), "stsb": (5749, 1500), "rte": (2490, 277),
}


@pytest.mark.parametrize("name", sorted(GLUE_COUNTS))
def test_glue_counts_and_loreft_resplit(name, data_dir):
    task = load_task(load_task_config(name), data_dir)
    n_train, n_dev = GLUE_COUNTS[name]
    assert len(task.train) == n_train
    assert set(task.eval_sets) == {"validation", "test"}
    assert len(task.eval_sets["validation"]) == n_dev // 2
    assert len(task.eval_sets["validation"]) + len(task.eval_sets["test"]) == n_dev
    assert task.num_labels == (1 if name == "stsb" else 2)
    assert task.kind == ("regression" if name == "stsb" else "classification")


def test_qnli_dev_over_5000_gives_1000_for_selection(data_dir):
    task = load_task(load_task_config("qnli"), data_dir, load_train=False)
    assert len(task.eval_sets["validation"]) == 1000 and len(task.eval_sets["test"]) == 5463 - 1000
    assert {ex.label for ex in task.eval_sets["test"]} == {0, 1}


def test_resplit_is_seeded_and_deterministic(data_dir):
    cfg = load_task_config("rte")
    first = load_task(cfg, data_dir, load_train=False).eval_sets
    again = load_task(cfg, data_dir, load_train=False).eval_sets
    other = load_task({**cfg, "seed": 7}, data_dir, load_train=False).eval_sets
    assert first == again and first != other
    assert not {e.text_a + e.text_b for e in first["validation"]} & {e.text_a + e.text_b for e in first["test"]}


def test_cola_headerless_and_mrpc_bom(data_dir):
    cola = read_tsv("cola", data_dir / "glue/CoLA/train.tsv")
    assert cola[0][0] == {"sentence": "Our friends won't buy this analysis, let alone the next one we propose.",
                          "label": 1}
    mrpc = load_source({"format": "glue_tsv", "path": "glue/MRPC/dev.tsv"}, data_dir, "mrpc")
    assert mrpc[0].label == 1 and mrpc[0].text_a.startswith("He said the foodservice pie business")
    assert mrpc[1].label == 0 and mrpc[1].text_b.startswith("His wife said he was \" 100 percent")


def test_glue_samples_load_when_pointed_at(data_dir):
    cfg = load_task_config("mnli")
    cfg["train"]["path"] = "glue/MNLI/train_sample.tsv"
    train = load_source(cfg["train"], data_dir, "mnli")
    assert len(train) == 480 and {ex.label for ex in train} == {0, 1, 2}
    assert len(load_source({"format": "glue_tsv", "path": "glue/QQP/train_sample.tsv"}, data_dir, "qqp")) == 320


def test_stsb_scores_are_floats(data_dir):
    task = load_task(load_task_config("stsb"), data_dir, load_train=False)
    scores = [ex.label for ex in task.eval_sets["test"]]
    assert all(isinstance(s, float) and 0.0 <= s <= 5.0 for s in scores) and len(set(scores)) > 10


def test_max_samples_are_seeded_subsets_in_file_order(data_dir):
    cfg = {**load_task_config("boolq"), "max_train_samples": 50, "max_eval_samples": 20}
    task = load_task(cfg, data_dir)
    again = load_task(cfg, data_dir)
    assert len(task.train) == 50 and len(task.eval_sets["boolq"]) == 20
    assert task.train == again.train and task.eval_sets == again.eval_sets
    full = load_task(load_task_config("boolq"), data_dir).eval_sets["boolq"]
    positions = [full.index(ex) for ex in task.eval_sets["boolq"]]
    assert positions == sorted(positions) and positions != list(range(20))
