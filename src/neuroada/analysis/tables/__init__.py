"""Paper-style tables: methods x tasks with the average and the trainable share, reported next to reproduced.

`labels` holds the task, model and method names and orders; `render` turns any table into Markdown or
LaTeX (`render_markdown`, `render_latex`); `suite` builds the suite tables and the run summary from run
records (`write_tables` regenerates every table file of `results/tables/`); `memory` builds the memory
tables from the estimator's output (`write_memory_tables`).
"""
from __future__ import annotations

from .labels import (METHOD_NAMES, METHOD_ORDER, MODEL_LABELS, MODEL_ORDER, PAPER_TRAIN_TASK, SUITE_ORDER, TASK_LABELS, method_label, model_label,
                     task_label)
from .memory import (CATEGORY_LABELS, CHECKPOINTING_LABELS, CHECKPOINTING_NOTE, FITS_NOTE, MEMORY_CATEGORIES, MEMORY_NOTE, VALIDATION_NOTE,
                     checkpointing_of, checkpointing_table, estimate_setting, fits_display, memory_table, peak_split, select_setting,
                     validation_table, write_memory_tables)
from .render import MISSING, latex_escape, render_latex, render_markdown
from .suite import (OWN_TRAIN, SOURCES, SUITE_CAPTIONS, SUITE_NOTE, display_suite_table, load_reference, runs_table, suite_table, suite_tasks,
                    write_tables)

__all__ = [
    # labels
    "TASK_LABELS", "SUITE_ORDER", "PAPER_TRAIN_TASK", "MODEL_LABELS", "MODEL_ORDER", "METHOD_NAMES", "METHOD_ORDER",
    "method_label", "task_label", "model_label",
    # render
    "MISSING", "render_markdown", "latex_escape", "render_latex",
    # suite
    "SOURCES", "OWN_TRAIN", "SUITE_CAPTIONS", "SUITE_NOTE", "load_reference", "suite_tasks", "suite_table", "display_suite_table",
    "runs_table", "write_tables",
    # memory
    "MEMORY_CATEGORIES", "CATEGORY_LABELS", "CHECKPOINTING_LABELS", "MEMORY_NOTE", "VALIDATION_NOTE", "CHECKPOINTING_NOTE", "FITS_NOTE",
    "peak_split", "checkpointing_of", "select_setting", "estimate_setting", "memory_table", "checkpointing_table", "fits_display",
    "validation_table", "write_memory_tables",
]
