"""Analysis of results/: run records -> DataFrames -> paper-style tables and figures (used by notebooks/).

Roots come from the environment so that notebooks and tests can point them elsewhere:
`NEUROADA_RESULTS` (default: the repository's `results/`), and optionally `NEUROADA_RUNS`,
`NEUROADA_REFERENCE`, `NEUROADA_MEMORY`, `NEUROADA_TABLES`, `NEUROADA_FIGURES`, `NEUROADA_CUDA` for the sub-folders.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .records import aggregate_seeds, load_records, metrics_frame, runs_frame
from .tables import (checkpointing_table, display_suite_table, fits_display, load_reference, memory_table, render_latex, render_markdown,
                     runs_table, select_setting, suite_table, validation_table, write_memory_tables, write_tables)

REPO_ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class ResultPaths:
    root: Path
    runs: Path
    reference: Path
    memory: Path
    tables: Path
    figures: Path
    cuda: Path


def result_paths(root: str | Path | None = None) -> ResultPaths:
    """The results folders, from `root`, else `$NEUROADA_RESULTS`, else the repository's `results/`."""
    root = Path(root or os.environ.get("NEUROADA_RESULTS") or REPO_ROOT / "results").expanduser().resolve()
    env = lambda name, default: Path(os.environ[name]).expanduser().resolve() if os.environ.get(name) else root / default  # noqa: E731
    return ResultPaths(root=root, runs=env("NEUROADA_RUNS", "runs"), reference=env("NEUROADA_REFERENCE", "reference"),
                       memory=env("NEUROADA_MEMORY", "memory"), tables=env("NEUROADA_TABLES", "tables"), figures=env("NEUROADA_FIGURES", "figures"),
                       cuda=env("NEUROADA_CUDA", "cuda"))


__all__ = [
    "ResultPaths", "aggregate_seeds", "checkpointing_table", "display_suite_table", "fits_display", "select_setting", "load_records", "load_reference", "memory_table", "metrics_frame",
    "render_latex", "render_markdown", "result_paths", "runs_frame", "runs_table", "suite_table", "validation_table",
    "write_memory_tables", "write_tables",
]
