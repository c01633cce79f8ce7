"""Where each arm of the main comparison stands, one row each: its lr per training task (and whether that choice is
final), its seeds, its average, and every paired comparison it is in with that comparison's verdict. The READMEs quote
this table instead of retelling the lr, main and intervals tables in prose."""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import pandas as pd

from ..tables import method_label, task_label
from ._format import MISSING, fmt_lr
from .intervals import IntervalRow, _row_text, verdict_suffix
from .spec import StudySpec
from .tables import PENDING_MARK, display_method_rows


def _lrs(tag: str, chosen: pd.DataFrame, spec: StudySpec, pending: Mapping) -> str:
    lr = {r.task: r.lr for r in chosen.itertuples(index=False) if r.method_tag == tag}
    cells = []
    for t in spec.tasks:
        v = lr.get(t, math.nan)
        cells.append(MISSING if not math.isfinite(v) else fmt_lr(v) + (PENDING_MARK if (t, tag) in pending else ""))
    return " / ".join(cells)


def _comparisons(tag: str, rows: Sequence[IntervalRow], spec: StudySpec) -> str:
    """Every row of `interval_rows` the arm is in: C1, C2 and context differences (the reference's are listed under
    the other arm), and C3's ratio under its numerator (k=1)."""
    out = []
    for r in rows:
        if tag not in (r.a, r.b) or (tag == spec.reference == r.a) or (r.units == "ratio" and tag != r.a):
            continue
        verdict = f"{r.claim}: {r.verdict.status}{verdict_suffix(r.verdict)}" if r.verdict else "context"
        out.append(f"{r.label}: {_row_text(r, with_verdict=False)} ({verdict})")
    return "; ".join(out) or MISSING


def status_table(main: pd.DataFrame, chosen: pd.DataFrame, rows: Sequence[IntervalRow], spec: StudySpec,
                 pending: Mapping | None = None) -> pd.DataFrame:
    """One row per `spec.main` arm: Method, Trainable params, Body (%), lr per task (in `spec.tasks` order; † = not
    final), Seeds, the suite average (mean ± std), and its paired comparisons with their verdicts (`interval_rows`)."""
    pending = pending or {}
    shown = display_method_rows(main, spec.columns, spec, pending=pending)
    lr_header = f"lr ({' / '.join(task_label(t) for t in spec.tasks)})" if len(spec.tasks) > 1 else "lr"
    out = []
    for tag, d in zip(main["method_tag"], shown.to_dict("records")):
        out.append({"Method": d["Method"], "Trainable params": d["Trainable params"], "Body (%)": d["Body (%)"],
                    lr_header: _lrs(tag, chosen, spec, pending), "Seeds": d["Seeds"], spec.suite_label: d[spec.suite_label],
                    "Paired difference, 95 % interval (verdict)": _comparisons(tag, rows, spec)})
    return pd.DataFrame(out)


STATUS_NOTE = ("One row per arm of the main comparison. lr: the choice on the selection set per training task (the lr "
               "table has each grid); {mark}: not final yet (grid partly run, or the choice at its edge), no verdict rests "
               "on it; –: not tuned yet (or, for a row that is not trained, none). {avg} and Seeds as in the main table. Paired difference: every comparison of the "
               "intervals table the arm is in (points; C3's row, a ratio, under k=1), with its verdict or 'context' (shown, "
               "no verdict). {label} is the reference: its comparisons are listed under the other arm.")


def status_note(spec: StudySpec) -> str:
    return STATUS_NOTE.format(mark=PENDING_MARK, avg=spec.suite_label, label=method_label(spec.reference))
