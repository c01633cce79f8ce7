import pytest

from neuroada.tasks.extraction import (
    extract, extract_commonsense, extract_letter, extract_number, is_correct, label_set,
)


@pytest.mark.parametrize("text, expected", [
    ("The answer is 1,234.", 1234.0),
    ("She has 1,234,567 apples", 1234567.0),
    ("The temperature is -5 degrees", -5.0),
    ("It costs 3.75 dollars", 3.75),
    ("3 + 4 = 7, then 7 * 2 = 14", 14.0),
    ("The answer is 42.", 42.0),
    ("2 + 40 = 42. #### 42", 42.0),
    ("#### 42", 42.0),
    ("He gave 10 to 2 friends, so 5 each.", 5.0),
])
def test_extract_number(text, expected):
    assert extract_number(text) == expected


def test_no_number():
    assert extract_number("I do not know.") is None
    assert not is_correct(None, "3", "number")


def test_numeric_tolerance_and_gold_parsing():
    assert is_correct(0.667, "0.6666666666666666", "number")
    assert not is_correct(0.668, "0.6666666666666666", "number")
    assert is_correct(15.0, "15.0", "number") and is_correct(1000.0, "1,000", "number")
    with pytest.raises(ValueError, match="letter"):
        is_correct(1.0, "A", "number")


def test_aqua_faithful_quirk_takes_first_capital_a_to_e():
    assert extract_letter("Answer: (C)") == "A"                  # the "A" of "Answer" counts
    assert extract_letter("The rate is 5%. The answer is (D).") == "D"
    assert extract_letter("So the speed is 10 km/h; Correct option: B") == "C"  # "C" of "Correct"
    assert extract_letter("the answer is d") is None


@pytest.mark.parametrize("text, expected", [
    ("Answer: (C)", "C"),               # no "answer is", no ####, not lone: the last "(X)"
    ("The answer is (D).", "D"),
    ("A train runs 60 km. ... so the answer is: B", "B"),
    ("Work: x = 4.\n#### E", "E"),
    ("  C. ", "C"),
    ("(B)", "B"),
    ("A man walks. Choices considered, best is (E) here", "E"),
    ("A boat and a car.", None),
    ("The answer is Dave", None),
])
def test_aqua_fixed(text, expected):
    assert extract_letter(text, fixed=True) == expected


def test_aqua_flag_in_extract():
    assert extract("Answer: (C)", "letter", "C") == "A"
    assert extract("Answer: (C)", "letter", "C", aqua_fix=True) == "C"


def test_label_sets():
    assert label_set("true") == label_set("false") == ("true", "false")
    assert label_set("answer3") == ("answer1", "answer2", "answer3", "answer4", "answer5")
    assert label_set("ending2")[-1] == "ending4" and label_set("option2") == ("option1", "option2")
    assert label_set("solution1") == ("solution1", "solution2")
    with pytest.raises(ValueError):
        label_set("yes")


@pytest.mark.parametrize("text, gold, expected", [
    ("the correct answer is true", "true", "true"),
    ("the correct answer is answer2 because answer1 is wrong", "answer1", "answer2"),
    ("answer1 looks wrong, so the correct answer is answer3", "answer3", "answer3"),   # after the phrase
    ("I think ending2.", "ending2", "ending2"),                                        # LLM-Adapters fallback
    ("The correct answer is option2", "option2", "option2"),
    ("the correct answer is True", "true", None),                                      # case-sensitive
    ("the correct answer is solution3", "solution1", None),
    ("", "false", None),
])
def test_commonsense_extraction(text, gold, expected):
    assert extract(text, "commonsense", gold) == expected
    assert is_correct(expected, gold, "commonsense") == (expected == gold)


def test_commonsense_label_set_limits_matches():
    assert extract_commonsense("the correct answer is answer5", ("answer1", "answer2")) is None


def test_number_or_letter_scores_each_item_by_the_kind_of_its_gold_answer():
    assert extract("(C) is right, so 12", "number_or_letter", "C") == "C"  # the faithful AQuA rule: first capital A-E
    assert extract("Answer: 12 apples", "number_or_letter", "12") == 12.0  # the last number
    assert is_correct("C", "C", "number_or_letter") and not is_correct("A", "C", "number_or_letter")
    assert is_correct(12.0, "12", "number_or_letter") and not is_correct(13.0, "12", "number_or_letter")
    assert extract("(C) is the answer", "number_or_letter", "C", aqua_fix=True) == "C"


def test_a_task_with_an_unknown_eval_set_answer_type_is_refused_when_loaded():
    from neuroada.tasks import load_task
    from neuroada.tasks.registry import load_task_config

    cfg = load_task_config("math10k_study")
    bad = {**cfg, "train_holdout": {**cfg["train_holdout"], "answer_type": "numbers"}}
    with pytest.raises(ValueError, match=r"train_holdout \(validation\): answer_type 'numbers' is not one of"):
        load_task(bad, "/no/data/read/before/this/check")


def test_unknown_answer_type():
    with pytest.raises(ValueError, match="answer_type"):
        extract("x", "regex", "1")
