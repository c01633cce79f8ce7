"""Where each arm of the main comparison stands, one row each: its lr per training task (and whether that choice is
final), its seeds, its average, and every paired comparison it is in with that comparison's verdict. The READMEs quote
this table instead of retelling the lr, main and intervals tables in prose."""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import pandas as pd

from ..tables import method_label, task_label
from ._format import MISSING, fmt_lr
from .intervals import IntervalRow, row_text, verdict_suffix
from .spec import StudySpec
from .tables import PENDING_MARK, display_method_rows


def _lrs(tag: str, chosen: pd.DataFrame, spec: StudySpec, pending: Mapping) -> str:
    lr = {r.task: r.lr for r in chosen.itertuples(index=False) if r.method_tag == tag}
    cells = []
    for t in spec.tasks:
        v = lr.get(t, math.nan)
        cells.append(MISSING if not math.isfinite(v) else fmt_lr(v) + (PENDING_MARK if (t, tag) in pending else ""))
    return " / ".join(cells)


def _verdict(r: IntervalRow) -> str:
    return f"{r.claim}: {r.verdict.status}{verdict_suffix(r.verdict)}" if r.verdict else "context"


def _against_reference(tag: str, rows: Sequence[IntervalRow], spec: StudySpec) -> str:
    """`+1.15 [-0.68, +3.05] (C1: supported)`: the reference minus this arm, or – (the reference's own row)."""
    r = next((r for r in rows if r.units == "points" and r.a == spec.reference and r.b == tag), None)
    return MISSING if r is None else f"{row_text(r, with_verdict=False).replace(' points', '')} ({_verdict(r)})"


def _other_comparisons(tag: str, rows: Sequence[IntervalRow], spec: StudySpec) -> str:
    """The arm's rows of `interval_rows` that are not the reference minus it: e.g. k=1 minus LoRA r=1 under both, and
    C3's ratio under its numerator (k=1)."""
    out = [f"{r.label}: {row_text(r, with_verdict=False)} ({_verdict(r)})" for r in rows
           if tag in (r.a, r.b) and r.a != spec.reference and not (r.units == "ratio" and tag != r.a)]
    return "; ".join(out) or MISSING


def status_table(main: pd.DataFrame, chosen: pd.DataFrame, rows: Sequence[IntervalRow], spec: StudySpec,
                 pending: Mapping | None = None) -> pd.DataFrame:
    """One row per `spec.main` arm: Method, Trainable params, Body (%), lr per task (in `spec.tasks` order; † = not
    final), Seeds, the suite average (mean ± std), the reference minus it and its other comparisons, each with its 95 %
    paired interval and verdict (`interval_rows`)."""
    pending = pending or {}
    shown = display_method_rows(main, spec.columns, spec, pending=pending)
    lr_header = f"lr ({' / '.join(task_label(t) for t in spec.tasks)})" if len(spec.tasks) > 1 else "lr"
    ref = method_label(spec.reference)
    out = []
    for tag, d in zip(main["method_tag"], shown.to_dict("records")):
        out.append({"Method": d["Method"], "Trainable params": d["Trainable params"], "Body (%)": d["Body (%)"],
                    lr_header: _lrs(tag, chosen, spec, pending), "Seeds": d["Seeds"], spec.suite_label: d[spec.suite_label],
                    f"{ref} − it, 95 % interval (verdict)": _against_reference(tag, rows, spec),
                    "Other comparisons": _other_comparisons(tag, rows, spec)})
    return pd.DataFrame(out)


STATUS_NOTE = ("One row per arm of the main comparison. lr: the choice on the selection set per training task (the lr "
               "table has each grid); {mark}: not final yet (grid partly run, or the choice at its edge), no verdict rests "
               "on it; –: not tuned yet (or, for a row that is not trained, none). {avg} and Seeds as in the main table. "
               "{label} − it: the paired difference of the {avg} in points (intervals table), with its verdict, or 'context' "
               "for a comparison shown without one. Other comparisons: the arm's other rows of the intervals table (C3's "
               "ratio under k=1).")


def status_note(spec: StudySpec) -> str:
    return STATUS_NOTE.format(mark=PENDING_MARK, avg=spec.suite_label, label=method_label(spec.reference))
