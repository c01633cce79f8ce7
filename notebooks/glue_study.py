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
# # The GLUE study (issue 12): tables, intervals, claims and figures
#
# Regenerates the GLUE study's outputs from its run records, `results/runs/glue_study/<run_id>/record.json`
# (written by `experiments/glue_study/run.sh`; per-item test predictions in `predictions/after_test.jsonl.gz`):
#
# - `tables/glue_study_main.{md,tex,csv}`: the main comparison at each method's chosen lr, mean ± std over seeds;
# - `tables/glue_study_lr.{md,csv}`: every lr grid, its selection-set scores, the choice and the edge flag;
# - `tables/glue_study_intervals.{md,csv}` and `tables/glue_study_claims.md`: NeuroAda k=20 minus each baseline with
#   95 % paired bootstrap intervals (seeds and test items resampled), the verdicts and one sentence per claim;
# - `tables/glue_study_selection.{md,tex}`: the selection ablation (C2);
# - `tables/glue_study_answers.{md,csv}`: accuracy beside the share of the most common predicted class (a constant
#   predictor shows as 100 %) and the majority class of the same items;
# - `figures/glue_study_frontier.png` (GLUE average vs trainable parameters) and `figures/glue_study_curves.png`
#   (selection-set score vs step: did the budget level off?).
#
# The rules (which runs count, how lrs are chosen, the bootstrap, the verdicts) are in
# `neuroada.analysis.study_report` and `neuroada.analysis.stats`. Runs and phases that have not happened yet
# show as "not run yet" and make the claims "undecided: missing runs".
#
# Roots: `NEUROADA_RESULTS` (default: the repository's `results/`), or `NEUROADA_RUNS`, `NEUROADA_TABLES`,
# `NEUROADA_FIGURES`; the study's records are under `<runs>/glue_study`.

# %%
import time

import pandas as pd

from IPython.display import Markdown, display

from neuroada.analysis import stats
from neuroada.analysis import study_report as sr
from neuroada.analysis.answer_spread import answer_spread, collapsed_share, spread_table

t0 = time.perf_counter()
spec = sr.GLUE_STUDY
paths, runs = sr.open_study(spec)

# %% [markdown]
# ## Which runs count
# A run counts when it completed, is at its (task, method)'s chosen learning rate, and is the latest run of its
# (task, method, seed). Tuning runs at the other lrs are discarded from every table except the lr table. A choice
# not final yet (grid partly run, or at its edge) counts as the best guess so far: its cells are marked † and no
# verdict rests on it.

# %%
records, chosen, summary, counted, pending = runs.records, runs.chosen, runs.summary, runs.counted, runs.pending
print(summary)
print("lr choices not final yet:", pending or "none")
scores = sr.scores_frame(counted)
heads = sr.head_params(scores)
print("classification head parameters per task:", heads)

# %% [markdown]
# ## Learning rates

# %%
lr_long, lr_display = sr.lr_table(records, chosen, spec)
sr.write_table(paths.tables, "glue_study_lr", lr_display, "GLUE study: learning-rate grids and choices (selection-set score x 100)",
               sr.LR_NOTE.format(seed=spec.tune_seed), csv=lr_long, formats=("md",))
display(Markdown((paths.tables / "glue_study_lr.md").read_text()))

# %% [markdown]
# ## The main comparison

# %%
main = sr.main_table(scores, spec, heads)
note = sr.MAIN_NOTE.format(avg=spec.suite_label) + sr.PENDING_NOTE + f" Runs: {summary}"
sr.write_table(paths.tables, "glue_study_main", sr.display_method_rows(main, spec.columns, spec, pending=pending),
               "GLUE study, MiniLM-L6: the main comparison (primary metric x 100, mean ± std over seeds)", note,
               latex=sr.display_method_rows(main, spec.columns, spec, latex=True, pending=pending), csv=main)
display(Markdown((paths.tables / "glue_study_main.md").read_text()))

# %% [markdown]
# ## Masked sparse against NeuroAda k=20: one trajectory, two memory costs
# Both train the same top-20 connections per neuron (a gradient mask on the dense weight against a bypass), so at
# the same lr and seed they should score the same; what differs is the tracked training peak.

# %%
def _pairs(tag):
    return {(r["task"], float(r["config"]["trainer"]["lr"]), r["seed"]): r for r in records
            if r.get("status") == "completed" and r.get("method_tag") == tag}

nead, masked = _pairs(spec.reference), _pairs("masked-k20")
same = []
for key in sorted(nead.keys() & masked.keys()):
    a, b = nead[key], masked[key]
    pm = a["primary_metric"]
    peak = [(r.get("peak_memory") or {}).get("tracked_bytes", {}).get("accounted") for r in (a, b)]
    same.append({"Task": key[0], "lr": sr.fmt_lr(key[1]), "Seed": key[2],
                 "Selection: NeuroAda k=20": f"{100 * a['metrics']['validation'][pm]:.1f}",
                 "Selection: masked": f"{100 * b['metrics']['validation'][pm]:.1f}",
                 "|difference|": f"{abs(a['metrics']['validation'][pm] - b['metrics']['validation'][pm]):.1e}",
                 "Tracked peak GB: NeuroAda": f"{peak[0] / 1e9:.2f}" if peak[0] else sr.MISSING,
                 "Tracked peak GB: masked": f"{peak[1] / 1e9:.2f}" if peak[1] else sr.MISSING,
                 "Masked / NeuroAda": f"{peak[1] / peak[0]:.2f}" if all(peak) else sr.MISSING})
sr.write_table(paths.tables, "glue_study_masked", pd.DataFrame(same, columns=list(same[0]) if same else ["Task"]),
               "GLUE study: masked sparse k=20 against NeuroAda k=20 at the same (task, lr, seed)",
               "Selection-set primary metric x 100 of each run, the absolute difference of the two (unscaled), and each run's "
               "tracked training peak (`peak_memory.tracked_bytes.accounted`: parameters, gradients, optimizer state, saved "
               f"activations). Every completed pair, tuning runs included. Runs: {summary}", formats=("md",))
display(Markdown((paths.tables / "glue_study_masked.md").read_text()))

# %% [markdown]
# ## Answer spread: is a score one class given to every item?
#
# Each cell: test accuracy (share of items given the run's most common class, %), mean over the method's counted
# runs; the last row is the majority class of the same test halves. STS-B (a regression) is left out.

# %%
classes = [t for t in spec.columns if t != "stsb"]
spread = answer_spread(counted)
spread = spread[spread["benchmark"].isin(classes)]
spread_all = answer_spread([r for r in records if r.get("status") == "completed"])
spread_all = spread_all[spread_all["benchmark"].isin(classes)]
hit, cells = collapsed_share(spread_all)
spread_note = (f"Accuracy x 100 (not CoLA's MCC) with the share of test items given the run's most common class (%), mean "
               f"over counted runs. Majority class: the most common gold label of each seed's test half, mean over runs. "
               f"Over every completed run (tuning runs included), {hit} of {cells} (run, task) cells gave one class to at least "
               f"90 % of the items. Runs: {summary}")
sr.write_table(paths.tables, "glue_study_answers", spread_table(spread, spec.main, classes, constant_label="Majority class (same items)"),
               "GLUE study: accuracy beside the spread of predicted classes", spread_note, csv=spread_all, formats=("md",))
display(Markdown((paths.tables / "glue_study_answers.md").read_text()))

# %% [markdown]
# ## Paired bootstrap intervals and the claims
# Per-item test predictions of the counted runs; for each comparison, seeds and then each seed's test items are
# resampled (the same items for both methods), every task's metric is recomputed and averaged.

# %%
items = stats.collect_items(r for r in counted if r["method_tag"] in spec.table_tags)
rows, intervals_md, claims_md = sr.write_intervals_and_claims(
    paths.tables, items, spec, "GLUE study: paired differences of the GLUE average (points) and claim verdicts",
    "GLUE study (issue 12): the paper's claims at this scale", summary, pending)
display(Markdown(intervals_md))
display(Markdown(claims_md))

# %%
status = sr.status_table(main, chosen, rows, spec, pending)
sr.write_table(paths.tables, f"{spec.name}_status", status, "GLUE study: where each arm stands", sr.status_note(spec) + f" Runs: {summary}",
               formats=("md",))
display(Markdown((paths.tables / f"{spec.name}_status.md").read_text()))

# %% [markdown]
# ## Ablation: neuron selection at k=20 (C2)

# %%
sel_caption = "GLUE study: how NeuroAda selects its k=20 connections per neuron (primary metric x 100, mean ± std over seeds)"
sel_note = ("Every selection at NeuroAda k=20's chosen lr. Last columns: the GLUE average with magnitude selection minus "
            "that with this selection, in points, with its 95 % paired bootstrap interval, and the C2 verdict (supported if "
            "the interval is above 0, not supported if below, else undecided)." + sr.PENDING_NOTE)
sr.write_table(paths.tables, "glue_study_selection", sr.selection_table(scores, rows, spec, heads, pending=pending), sel_caption, sel_note,
               latex=sr.selection_table(scores, rows, spec, heads, latex=True, pending=pending))
display(Markdown((paths.tables / "glue_study_selection.md").read_text()))

# %% [markdown]
# ## Figures: the accuracy-parameters frontier and the selection-set curves

# %%
print(sr.plot_frontier(scores, spec, paths.figures / "glue_study_frontier.png"))
print(sr.plot_curves(counted, spec, paths.figures / "glue_study_curves.png"))
sr.frontier_points(scores, spec)

# %%
print(f"done in {time.perf_counter() - t0:.1f} s")
