"""Writing tables, the intervals table and the claims page to disk."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from ...io_utils import atomic_path, atomic_write_text
from ..tables.render import render_latex, table_markdown
from .intervals import IntervalRow, claim_sentences, interval_rows, intervals_frame, intervals_note
from .spec import StudySpec

CSV_FLOAT_FORMAT = "%.12g"


def write_table(out_dir: str | Path, name: str, display: pd.DataFrame, caption: str, note: str = "", *, latex: pd.DataFrame | None = None,
                csv: pd.DataFrame | None = None, formats: Sequence[str] = ("md", "tex")) -> list[Path]:
    """`<name>.md` (caption, table, note), `.tex` (from `latex` when given: its cells may hold LaTeX) and `.csv` (floats
    at 12 significant digits: the bootstrap's sums differ in their last bits between runs, which would churn the file)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if "md" in formats:
        atomic_write_text(out_dir / f"{name}.md", table_markdown(display, caption, note))
        written.append(out_dir / f"{name}.md")
    if "tex" in formats:
        atomic_write_text(out_dir / f"{name}.tex", render_latex(latex if latex is not None else display, caption=caption, label=f"tab:{name}"))
        written.append(out_dir / f"{name}.tex")
    if csv is not None:
        with atomic_path(out_dir / f"{name}.csv") as tmp:
            csv.to_csv(tmp, index=False, float_format=CSV_FLOAT_FORMAT)
        written.append(out_dir / f"{name}.csv")
    return written


def write_intervals_and_claims(out_dir: str | Path, items: Mapping, spec: StudySpec, caption: str, heading: str,
                               runs_summary: str, pending: Mapping | None = None) -> tuple[list[IntervalRow], str, str]:
    """`<spec.name>_intervals.{md,csv}` (every comparison's paired interval and verdict) and `<spec.name>_claims.md`
    (one sentence a claim under `heading`); returns the interval rows and the two pages' Markdown. `pending`
    (`pending_choices`): lr choices not final yet, on which no verdict rests."""
    out_dir = Path(out_dir)
    rows = interval_rows(items, spec, pending)
    long, display = intervals_frame(rows, spec)
    note = intervals_note(spec)
    write_table(out_dir, f"{spec.name}_intervals", display, caption, note, csv=long, formats=("md",))
    claims = claim_sentences(rows, spec)
    claims_md = (f"# {heading}\n\n" + "\n\n".join(sentence for _, sentence in claims.values())
                 + f"\n\nIntervals: `{spec.name}_intervals.md`; rules: its note and `neuroada.analysis.stats`. Runs: {runs_summary}\n")
    atomic_write_text(out_dir / f"{spec.name}_claims.md", claims_md)
    return rows, table_markdown(display, caption, note), claims_md
