# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
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
# - `memory_by_method_ckpt_<model>.png`: the same with activation checkpointing (what the recomputation of a
#   layer holds at the peak is its own category);
# - `memory_checkpointing.png`: every method's peak without and with activation checkpointing, per batch size;
# - `memory_fits.png`: the largest batch that fits on a 24 / 40 / 80 GB GPU (estimated), from `fits.csv`
#   (`python -m neuroada.estimator --fits`);
# - `memory_validation.png`: the estimator against measured steps of a small model, with and without
#   checkpointing;
# - `memory_runs.png`: measured peak memory of every run record;
# - `cuda_validation.png`, `cuda_bench.png` and the `cuda_*` tables: what `experiments/cuda/check.sh` measured on a
#   GPU (`results/cuda/`), when it is there: the estimator against measured CUDA steps, and the benchmark.
#
# Roots: `NEUROADA_RESULTS` (default: the repository's `results/`), or `NEUROADA_MEMORY`,
# `NEUROADA_RUNS`, `NEUROADA_TABLES`, `NEUROADA_FIGURES`.

# %%
import pandas as pd
from IPython.display import Markdown, display

from neuroada.analysis import (checkpointing_table, fits_display, result_paths, runs_frame, select_setting, validation_table,
                               write_memory_tables)
from neuroada.analysis.bench import bench_frame, write_bench_table
from neuroada.analysis.plots import (plot_bench, plot_checkpointing, plot_fits, plot_memory_by_method, plot_memory_vs_k, plot_run_memory,
                                     plot_validation)
from neuroada.analysis.study_report import write_table

paths = result_paths()
BAR_K = 20  # k of the sparse methods in the stacked bars and the table
print(paths)

# %% [markdown]
# ## Estimates (paper setting)

# %%
estimates = pd.read_csv(paths.memory / "estimates.csv")
validation_csv, fits_csv = paths.memory / "validation.csv", paths.memory / "fits.csv"
validation = pd.read_csv(validation_csv) if validation_csv.exists() else pd.DataFrame()
fits = pd.read_csv(fits_csv) if fits_csv.exists() else pd.DataFrame()
if "checkpointing" not in estimates:  # estimates written before the checkpointing dimension existed
    estimates["checkpointing"] = "none"
plain = select_setting(estimates)  # no checkpointing, the k sweep's batch (16 x 512)
cols = ["model", "method_tag", "parameters_gb", "buffers_gb", "optimizer_state_gb", "peak_gradients_gb", "peak_activations_gb", "peak_temporaries_gb",
        "peak_gb", "peak_phase"]
plain.loc[plain["k"].isna() | (plain["k"] == BAR_K), cols].round(2)

# %%
for model in estimates["model"].unique():
    print(plot_memory_by_method(estimates, model, paths.figures / f"memory_by_method_{model}.png", k=BAR_K))
    print(plot_memory_vs_k(estimates, model, paths.figures / f"memory_vs_k_{model}.png"))

# %% [markdown]
# ## With activation checkpointing (HF's, every decoder layer; `trainer.gradient_checkpointing=true`)
#
# The layers keep only their inputs; each layer's activations are recomputed in backward. What the peak then
# holds: the static memory (weights, optimizer state), the layers' inputs, the vocabulary-wide logits of the
# loss (`peak_logits_gb`, part of the other categories) and one layer's recomputation.

# %%
has_ckpt = (estimates["checkpointing"] == "non_reentrant").any()
if has_ckpt:
    ckpt = select_setting(estimates, checkpointing="non_reentrant")
    display(ckpt.loc[ckpt["k"].isna() | (ckpt["k"] == BAR_K), cols[:-2] + ["peak_recomputed_gb", "peak_logits_gb", "peak_gb", "peak_phase"]].round(2))
    for model in estimates["model"].unique():
        print(plot_memory_by_method(estimates, model, paths.figures / f"memory_by_method_ckpt_{model}.png", k=BAR_K, checkpointing="non_reentrant"))
    print(plot_checkpointing(estimates, paths.figures / "memory_checkpointing.png", k=BAR_K))
    display(checkpointing_table(estimates, BAR_K))

# %% [markdown]
# ## What fits on one GPU (estimated)
#
# The largest batch of 512-token sequences whose estimated peak is at most 90 % of a 24 / 40 / 80 GiB GPU
# (`fits.csv`, written by `python -m neuroada.estimator --fits`; checked at that batch and the next).

# %%
if not fits.empty:
    print(plot_fits(fits, paths.figures / "memory_fits.png"))
    display(fits_display(fits))

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
# ## Measured on a GPU (`results/cuda/`, written by `experiments/cuda/check.sh`)
#
# The estimator's validation repeated on CUDA (`torch.cuda.max_memory_allocated` against the estimate), and the
# benchmark in bf16: a SmolLM2-shaped model and LLaMA-7B-shaped layers, every method's step time over the frozen
# backbone's in the same process.

# %%
cuda_validation_csv = paths.cuda / "validation.csv"
if cuda_validation_csv.exists():
    cuda_validation = pd.read_csv(cuda_validation_csv)
    print(plot_validation(cuda_validation, paths.figures / "cuda_validation.png"))
    for p in write_table(paths.tables, "cuda_validation", validation_table(cuda_validation),
                         "Estimated vs measured peak of one training step on CUDA (torch.cuda.max_memory_allocated)"):
        if p.suffix == ".md":
            display(Markdown(p.read_text()))
cuda_bench_files = sorted(paths.cuda.glob("bench_*.json"))
if cuda_bench_files:
    cuda_bench = bench_frame(cuda_bench_files)
    print(plot_bench(cuda_bench, paths.figures / "cuda_bench.png"))
    for p in write_bench_table(cuda_bench, paths.tables, "cuda_bench", "Benchmark on a GPU"):
        if p.suffix == ".md":
            display(Markdown(p.read_text()))

# %% [markdown]
# ## Tables

# %%
for p in write_memory_tables(estimates, validation, paths.tables, k=BAR_K, fits=fits):
    if p.suffix == ".md":
        display(Markdown(p.read_text()))
