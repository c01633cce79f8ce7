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
# # Memory: estimated for the paper's models, validated against measured steps
#
# Regenerates the memory figures of `results/figures/` and the memory tables of `results/tables/`
# from `results/memory/*.csv` (written by `python -m neuroada.estimator`, see `experiments/paper/memory.sh`)
# and from the measured peak memory in the run records (`results/runs/`).
#
# - `memory_by_method_<model>.png`: estimated peak memory of one training step per method, stacked by
#   category (parameters, buffers, optimizer state, and the gradients, saved activations and temporaries
#   alive at the step's peak);
# - `memory_vs_k_<model>.png`: the total vs k for the sparse methods, LoRA/DoRA/full FT as references;
# - `memory_validation.png`: the estimator against measured steps of a small model;
# - `memory_runs.png`: measured peak memory of every run record.
#
# Roots: `NEUROADA_RESULTS` (default: the repository's `results/`), or `NEUROADA_MEMORY`,
# `NEUROADA_RUNS`, `NEUROADA_TABLES`, `NEUROADA_FIGURES`.

# %%
import pandas as pd
from IPython.display import Markdown, display

from neuroada.analysis import result_paths, runs_frame, write_memory_tables
from neuroada.analysis.plots import plot_memory_by_method, plot_memory_vs_k, plot_run_memory, plot_validation

paths = result_paths()
BAR_K = 20  # k of the sparse methods in the stacked bars and the table
print(paths)

# %% [markdown]
# ## Estimates (paper setting)

# %%
estimates = pd.read_csv(paths.memory / "estimates.csv")
validation_csv = paths.memory / "validation.csv"
validation = pd.read_csv(validation_csv) if validation_csv.exists() else pd.DataFrame()
cols = ["model", "method_tag", "parameters_gb", "buffers_gb", "optimizer_state_gb", "peak_gradients_gb", "peak_activations_gb", "peak_temporaries_gb",
        "peak_gb", "peak_phase"]
estimates.loc[estimates["k"].isna() | (estimates["k"] == BAR_K), cols].round(2)

# %%
for model in estimates["model"].unique():
    print(plot_memory_by_method(estimates, model, paths.figures / f"memory_by_method_{model}.png", k=BAR_K))
    print(plot_memory_vs_k(estimates, model, paths.figures / f"memory_vs_k_{model}.png"))

# %% [markdown]
# ## Validation: estimated vs measured training steps

# %%
if not validation.empty:
    print(plot_validation(validation, paths.figures / "memory_validation.png"))
    shown = ["dtype", "target", "method_tag", "measured_peak", "estimated_peak", "err_peak_pct", "err_total_pct", "err_peak_step_pct"]
    display(validation[[c for c in shown if c in validation]])

# %% [markdown]
# ## Measured peak memory of the run records

# %%
runs = runs_frame(paths.runs)
print(plot_run_memory(runs, paths.figures / "memory_runs.png"))
runs[["model", "task", "method_tag", "seed", "peak_memory_bytes", "peak_memory_kind"]]

# %% [markdown]
# ## Tables

# %%
for p in write_memory_tables(estimates, validation, paths.tables, k=BAR_K):
    if p.suffix == ".md":
        display(Markdown(p.read_text()))
