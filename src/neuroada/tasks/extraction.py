"""Answer extraction from generated text, following the LLM-Adapters / NeuroAda evaluation code.

Four answer types:

* ``commonsense``: the gold answer is a label such as ``true``, ``solution2``, ``answer3``, ``ending1`` or
  ``option2``; its family defines the label set (true/false, solution1-2, answer1-5, ending1-4, option1-2,
  as in LLM-Adapters' per-dataset regexes). LLM-Adapters takes the first label-set match anywhere in the
  response (case-sensitive ``re.findall``); the NeuroAda release compares the text after
  "the correct answer is " with the label. We take the first label-set match after the first
  "the correct answer is" and, when the phrase is absent or nothing matches after it, the first match
  anywhere (= LLM-Adapters): ``commonsense_rule=lenient``, what the tables use. ``strict`` is the
  release's rule: the whole text after the first "the correct answer is " must be exactly the label.
  After training the two agree on every stored prediction; before training lenient credits more.
* ``number``: remove commas, take the LAST match of ``-?\\d+\\.?\\d*`` ("42." parses as 42.0); correct if
  within 1e-3 of the gold number. No number at all -> ``None`` (LLM-Adapters uses ``inf``; never correct).
* ``letter`` (AQuA): the faithful rule takes the FIRST capital A-E anywhere in the stripped response.
  This is a known quirk: the "A" of "Answer", "A man ..." etc. counts, so "Answer: (C)" extracts "A".
  ``fixed=True`` (``aqua_fix``) instead takes, in order: the letter after "answer is" (last occurrence),
  the letter after "####", a response that is only an option letter ("C", "(C)", "C."), the last
  parenthesised option "(C)"; otherwise ``None``.
* ``number_or_letter``: a set that mixes both, item by item: ``letter`` where the gold answer is one of A-E, else
  ``number``. Math10K holds AQuA's multiple-choice questions among the numeric ones (698 of its 9,919 items), so a
  selection set held out of it (``train_holdout``) needs this; each item is scored as its own source set would be.
"""

from __future__ import annotations

import re

ANSWER_TYPES = ("commonsense", "number", "letter", "number_or_letter")
NUMBER_TOLERANCE = 1e-3
TRIGGER = "the correct answer is"

_NUMBER = re.compile(r"-?\d+\.?\d*")
_LETTER = re.compile(r"A|B|C|D|E")
_ANSWER_IS = re.compile(r"(?i:answer is)\s*:?\s*\(?([A-E])(?![A-Za-z])")
_HASHES = re.compile(r"####\s*\(?([A-E])(?![A-Za-z])")
_LONE = re.compile(r"\(?([A-E])\)?[.:]?")
_PAREN = re.compile(r"\(([A-E])\)")
_GOLD_LETTER = re.compile(r"[A-E]")

LABEL_SETS = {
    "true": ("true", "false"),
    "solution": ("solution1", "solution2"),
    "answer": tuple(f"answer{i}" for i in range(1, 6)),
    "ending": tuple(f"ending{i}" for i in range(1, 5)),
    "option": ("option1", "option2"),
}


def label_set(gold: str) -> tuple[str, ...]:
    """The label set of a commonsense dataset, recognised from one of its gold labels."""
    family = "true" if gold in ("true", "false") else gold.rstrip("0123456789")
    if family not in LABEL_SETS or gold not in LABEL_SETS[family]:
        raise ValueError(f"{gold!r} is not a commonsense label ({sorted(LABEL_SETS)} families)")
    return LABEL_SETS[family]


COMMONSENSE_RULES = ("lenient", "strict")


def extract_commonsense(text: str, labels: tuple[str, ...], rule: str = "lenient") -> str | None:
    if rule == "strict":  # the release: the whole text after the first trigger must be exactly the label
        start = text.find(TRIGGER + " ")
        rest = text[start + len(TRIGGER) + 1:].strip() if start >= 0 else None
        return rest if rest in labels else None
    if rule != "lenient":
        raise ValueError(f"commonsense_rule must be one of {COMMONSENSE_RULES}, got {rule!r}")
    pattern = re.compile("|".join(re.escape(label) for label in labels))
    start = text.lower().find(TRIGGER)
    if start >= 0:
        match = pattern.search(text, start + len(TRIGGER))
        if match:
            return match.group(0)
    match = pattern.search(text)
    return match.group(0) if match else None


def extract_number(text: str) -> float | None:
    numbers = _NUMBER.findall(text.replace(",", ""))
    return float(numbers[-1]) if numbers else None


def extract_letter(text: str, fixed: bool = False) -> str | None:
    text = text.strip()
    if not fixed:
        match = _LETTER.search(text)
        return match.group(0) if match else None
    for pattern in (_ANSWER_IS, _HASHES):
        found = pattern.findall(text)
        if found:
            return found[-1]
    lone = _LONE.fullmatch(text)
    if lone:
        return lone.group(1)
    found = _PAREN.findall(text)
    return found[-1] if found else None


def parse_gold_number(gold: str) -> float:
    try:
        return float(str(gold).replace(",", ""))
    except ValueError:
        raise ValueError(
            f"gold answer {gold!r} is not a number; letter answers (AQuA) need answer_type='letter', and a set "
            "mixing both answer_type='number_or_letter' (see Task.answer_type_for)"
        ) from None


def item_answer_type(answer_type: str, gold: str) -> str:
    """The answer type one item is scored by: ``number_or_letter`` resolves to ``letter`` for a gold answer A-E, else
    ``number``; every other type is its own."""
    if answer_type == "number_or_letter":
        return "letter" if _GOLD_LETTER.fullmatch(str(gold).strip()) else "number"
    return answer_type


def extract(text: str, answer_type: str, gold: str, aqua_fix: bool = False,
            commonsense_rule: str = "lenient") -> str | float | None:
    """The extracted answer of one generation (``None`` when nothing could be extracted)."""
    answer_type = item_answer_type(answer_type, gold)
    if answer_type == "commonsense":
        return extract_commonsense(text, label_set(gold), rule=commonsense_rule)
    if answer_type == "number":
        return extract_number(text)
    if answer_type == "letter":
        return extract_letter(text, fixed=aqua_fix)
    raise ValueError(f"unknown answer_type {answer_type!r}; choose one of {ANSWER_TYPES}")


def is_correct(extracted: str | float | None, gold: str, answer_type: str) -> bool:
    if extracted is None:
        return False
    if item_answer_type(answer_type, gold) == "number":
        return abs(float(extracted) - parse_gold_number(gold)) <= NUMBER_TOLERANCE
    return extracted == str(gold).strip()
