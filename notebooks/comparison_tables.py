# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Comparison tables: reported vs reproduced
#
# Regenerates every table of `results/tables/` from `results/` alone: the run records under
# `results/runs/` (written by `src/run.py`) and the reported numbers under `results/reference/`.
# One table per suite (methods x tasks, trainable %, average; reported, reproduced and their difference),
# `runs.md` with every reproduced configuration, and a figure of the averages per suite.
#
# Roots: `NEUROADA_RESULTS` (default: the repository's `results/`), or `NEUROADA_RUNS`,
# `NEUROADA_REFERENCE`, `NEUROADA_TABLES`, `NEUROADA_FIGURES` for single folders.

# %%
from IPython.display import Markdown, display

from neuroada.analysis import load_reference, metrics_frame, result_paths, runs_frame, suite_table, write_tables
from neuroada.analysis.plots import plot_suite_scores

paths = result_paths()
print(paths)

# %% [markdown]
# ## The data

# %%
metrics = metrics_frame(paths.runs)
runs = runs_frame(paths.runs)
reference = load_reference(paths.reference)
print(f"{len(runs)} run records, {len(metrics)} metric rows, {len(reference)} reference rows")
runs[["run_id", "model", "task", "method_tag", "seed", "trainable_percent"]]

# %% [markdown]
# ## Tables

# %%
written = write_tables(paths.runs, paths.reference, paths.tables)
for p in written:
    print(p.relative_to(paths.tables.parent) if paths.tables.parent in p.parents else p)

# %%
for p in sorted(paths.tables.glob("*.md")):
    if p.stem in {"memory", "memory_validation"}:  # written by the memory notebook
        continue
    display(Markdown(p.read_text()))

# %% [markdown]
# ## Average per suite: reported vs reproduced

# %%
suites = sorted(set(reference["suite"].dropna()) | set(metrics["suite"].dropna()))
for suite in suites:
    table = suite_table(metrics, reference, suite)
    if not table.empty:
        print(plot_suite_scores(table, paths.figures / f"scores_{suite}.png", title=f"{suite}: average score"))
