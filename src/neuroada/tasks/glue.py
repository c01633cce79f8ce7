"""GLUE: the official TSV layouts, conversion to Examples, and LoReFT's re-split of the dev set.

TSV rows are turned into rows of the hub schema (`nyu-mll/glue`: named text columns, integer label,
float for STS-B), so local files and hub rows go through one converter.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from neuroada.tasks.errors import MalformedDataError
from neuroada.tasks.example import Example

csv.field_size_limit(sys.maxsize)


@dataclass(frozen=True)
class GlueSpec:
    tsv_columns: tuple  # (text_a, text_b or None, label): header names, or indices when header=False
    hub_columns: tuple[str, str | None]
    tsv_labels: tuple[str, ...] | None  # label strings in hub index order; None = regression
    header: bool = True

    @property
    def num_labels(self) -> int:
        return len(self.tsv_labels) if self.tsv_labels else 1


NLI3 = ("entailment", "neutral", "contradiction")
NLI2 = ("entailment", "not_entailment")
SPECS = {
    "cola": GlueSpec((3, None, 1), ("sentence", None), ("0", "1"), header=False),
    "sst2": GlueSpec(("sentence", None, "label"), ("sentence", None), ("0", "1")),
    "mrpc": GlueSpec(("#1 String", "#2 String", "Quality"), ("sentence1", "sentence2"), ("0", "1")),
    "stsb": GlueSpec(("sentence1", "sentence2", "score"), ("sentence1", "sentence2"), None),
    "qqp": GlueSpec(("question1", "question2", "is_duplicate"), ("question1", "question2"), ("0", "1")),
    "mnli": GlueSpec(("sentence1", "sentence2", "gold_label"), ("premise", "hypothesis"), NLI3),
    "qnli": GlueSpec(("question", "sentence", "label"), ("question", "sentence"), NLI2),
    "rte": GlueSpec(("sentence1", "sentence2", "label"), ("sentence1", "sentence2"), NLI2),
}


def spec(task: str) -> GlueSpec:
    if task not in SPECS:
        raise ValueError(f"unknown GLUE task {task!r}; choose one of {sorted(SPECS)} (or set glue_task)")
    return SPECS[task]


def read_tsv(task: str, path: Path) -> list[tuple[dict, str]]:
    """Rows of an official GLUE TSV as hub-schema dicts. utf-8-sig drops MRPC's byte-order mark;
    QUOTE_NONE because the files contain unbalanced quote characters."""
    glue_spec = spec(task)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        lines = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    start = 1 if glue_spec.header else 0
    if glue_spec.header:
        header = lines[0] if lines else []
        missing = [c for c in glue_spec.tsv_columns if c is not None and c not in header]
        if missing:
            raise MalformedDataError(f"{path} line 1", f"header lacks columns {missing} (has {header})")
        index = [header.index(c) if c is not None else None for c in glue_spec.tsv_columns]
    else:
        index = list(glue_spec.tsv_columns)
    col_a, col_b, col_label = index
    key_a, key_b = glue_spec.hub_columns
    rows = []
    for lineno, fields in enumerate(lines[start:], start + 1):
        where = f"{path} line {lineno}"
        if not fields:
            continue
        if len(fields) <= max(i for i in index if i is not None):
            raise MalformedDataError(where, f"expected at least {max(i for i in index if i is not None) + 1} "
                                            f"tab-separated fields, got {len(fields)}")
        row = {key_a: fields[col_a], "label": _label(glue_spec, fields[col_label], where)}
        if key_b is not None:
            row[key_b] = fields[col_b]
        rows.append((row, where))
    return rows


def _label(glue_spec: GlueSpec, value: str, where: str) -> int | float:
    value = value.strip()
    if glue_spec.tsv_labels is None:
        try:
            return float(value)
        except ValueError:
            raise MalformedDataError(where, f"score {value!r} is not a number") from None
    if value not in glue_spec.tsv_labels:
        raise MalformedDataError(where, f"label {value!r} not in {glue_spec.tsv_labels}")
    return glue_spec.tsv_labels.index(value)


def convert(task: str, row: Mapping, where: str) -> Example:
    glue_spec = spec(task)
    key_a, key_b = glue_spec.hub_columns
    try:
        text_a = str(row[key_a])
        text_b = str(row[key_b]) if key_b is not None else None
        label = float(row["label"]) if glue_spec.tsv_labels is None else int(row["label"])
    except (KeyError, TypeError, ValueError) as error:
        raise MalformedDataError(where, f"not a {task} row ({error!r})") from None
    if glue_spec.tsv_labels is not None and not 0 <= label < glue_spec.num_labels:
        raise MalformedDataError(where, f"label {label} outside 0..{glue_spec.num_labels - 1} (unlabelled test row?)")
    return Example(text_a=text_a, text_b=text_b, label=label)


def loreft_resplit(examples: Sequence[Example], seed: int) -> tuple[list[Example], list[Example]]:
    """LoReFT's protocol: the official dev set becomes (model-selection, test). Selection gets 1000 items
    if the dev set has more than 5000, else half (rounded down); the rest is the test split.
    Mirrors `torch.utils.data.random_split(dev, [n - n_sel, n_sel])` with a seeded generator."""
    n = len(examples)
    n_selection = 1000 if n > 5000 else n // 2
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    test = [examples[i] for i in order[: n - n_selection]]
    selection = [examples[i] for i in order[n - n_selection:]]
    return selection, test
