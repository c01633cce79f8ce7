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
# # The decoder study (issue 13), arithmetic: tables, intervals, claims and figures
#
# Regenerates the arithmetic half of the decoder study from its run records (`task=math10k_study` runs of
# `experiments/decoder_study/run.sh`, in `results/runs/decoder_study` beside the commonsense ones):
#
# - `tables/decoder_study_math_main.{md,tex,csv}`: SmolLM2-135M on the five arithmetic sets at each method's chosen lr,
#   with each method's tracked training peak;
# - `tables/decoder_study_math_unseen.{md,csv}`: the same runs scored only on the test items whose question is not
#   among the run's training items (Math10K holds most MultiArith and AddSub test questions), and
#   `tables/decoder_study_math_trained.md`: how many items of each set that leaves out;
# - `tables/decoder_study_math_paper.{md,tex}`: the reported LLaMA rows (labelled reported) above ours;
# - `tables/decoder_study_math_lr.{md,csv}`: every lr grid with its selection-set scores (300 held-out Math10K items);
# - `tables/decoder_study_math_intervals.{md,csv}`, `tables/decoder_study_math_claims.md`: NeuroAda k=20 minus each
#   baseline with 95 % paired bootstrap intervals (seeds and test items resampled), verdicts, one sentence a claim;
#   `decoder_study_math_unseen_intervals.md` and `_unseen_claims.md`: the same on the items not trained on;
# - `figures/decoder_study_math_frontier.png` and `figures/decoder_study_math_curves.png`.
#
# The rules are the commonsense notebook's (`study_report.MATH_STUDY`: the decoder study's spec on `math10k`, one
# seed). The untrained model is scored once, by a run of its own that trains nothing (`method=untrained`, the
# launcher's `math-floor` phase); it stands for every seed.
#
# Roots: `NEUROADA_RESULTS` (default: the repository's `results/`), or `NEUROADA_RUNS`, `NEUROADA_REFERENCE`,
# `NEUROADA_TABLES`, `NEUROADA_FIGURES`.

# %%
import dataclasses
import time

import pandas as pd
from IPython.display import Markdown, display

from neuroada.analysis import load_reference
from neuroada.analysis import stats
from neuroada.analysis import study_report as sr
from neuroada.analysis.tables import task_label

t0 = time.perf_counter()
spec = sr.MATH_STUDY
paths, runs = sr.open_study(spec)

# %% [markdown]
# ## Which runs count

# %%
records, chosen, summary, counted, pending = runs.records, runs.chosen, runs.summary, runs.counted, runs.pending
print(summary)
print("lr choices not final yet:", pending or "none")
floor = sr.floor_records(records, spec)
print("untrained model scored by:", floor[0]["run_id"] if floor else "no run yet")

# %% [markdown]
# ## Learning rates

# %%
lr_long, lr_display = sr.lr_table(records, chosen, spec)
sr.write_table(paths.tables, f"{spec.name}_lr", lr_display, "Decoder study, arithmetic: learning-rate grids and choices (selection-set accuracy x 100)",
               "Selection set: 300 seeded Math10K items held out of training, with every training item that repeats one of their "
               "questions (never a test set); * = chosen. DoRA runs at LoRA's choice.", csv=lr_long, formats=("md",))
display(Markdown((paths.tables / f"{spec.name}_lr.md").read_text()))

# %% [markdown]
# ## Test items whose question was trained on
#
# Each record lists, per test set, the items whose question is also one of its training items
# (`trained_questions`). The training subsample is fixed, so every run lists the same items.

# %%
listed = {}
for rec in counted:
    for name in spec.columns:
        listed.setdefault(name, set()).add(len(stats.trained_keys(rec, name)))
sizes = {name: {(r.get("eval_sizes") or {}).get(name) for r in counted} - {None} for name in spec.columns}
trained = pd.DataFrame([{"Set": task_label(name), "Test items": ", ".join(map(str, sorted(sizes[name]))) or sr.MISSING,
                         "Trained on": ", ".join(map(str, sorted(listed.get(name, ())))) or sr.MISSING} for name in spec.columns])
sr.write_table(paths.tables, f"{spec.name}_trained", trained, "Decoder study, arithmetic: test items whose question is a training item's",
               f"Counted runs' `trained_questions` (more than one value in a cell: the runs disagree). Runs: {summary}", formats=("md",))
display(Markdown((paths.tables / f"{spec.name}_trained.md").read_text()))

# %% [markdown]
# ## The main comparison, with each method's tracked training peak; then on the items not trained on

# %%
memory = sr.tracked_memory(counted, spec.main)
note = ("Accuracy x 100 on up to 400 fixed seeded items of each arithmetic test set (all of AddSub and AQuA; the same items "
        "for every method and seed), greedy, last number (AQuA: letter), at each method's chosen lr; mean ± std over seeds "
        "where there are several. Tracked peak: parameters, gradients, optimizer state and saved activations at the training "
        f"step's peak (neuroada.memory). Untrained: the model before fine-tuning, scored once.{sr.PENDING_NOTE} Runs: {summary}")
views = {}
for view, drop in (("main", False), ("unseen", True)):
    scores = sr.scores_frame(counted + floor, drop_trained=drop)
    views[view] = main = sr.main_table(scores, spec, sr.head_params(scores), memory)
    caption = "Decoder study, SmolLM2-135M-Instruct on arithmetic (accuracy x 100)" + (
        ", test items not trained on" if drop else "")
    rows = sr.display_method_rows(main, spec.columns, spec, extra=("Tracked peak (GB)",), pending=pending)
    sr.write_table(paths.tables, f"{spec.name}_{view}", rows, caption,
                   note + (f" Scored without the items of `{spec.name}_trained.md`." if drop else ""),
                   latex=None if drop else sr.display_method_rows(main, spec.columns, spec, latex=True, extra=("Tracked peak (GB)",), pending=pending),
                   csv=main, formats=("md",) if drop else ("md", "tex"))
    display(Markdown((paths.tables / f"{spec.name}_{view}.md").read_text()))

# %%
paper = sr.paper_table(views["main"], load_reference(paths.reference), spec, "smollm2-135m", memory)
sr.write_table(paths.tables, f"{spec.name}_paper", paper, "Arithmetic reasoning: reported LLaMA rows beside ours (SmolLM2-135M)",
               "Reported: the sources in results/reference (labelled reported, other models, all of Math10K; their average is over "
               "seven sets, SingleEq and MAWPS included); ours: this study (800 training examples, the five sets here). Not "
               "comparable in level; compare the order of methods.")
display(Markdown((paths.tables / f"{spec.name}_paper.md").read_text()))

# %% [markdown]
# ## Paired bootstrap intervals and the claims, on every test item and on the items not trained on

# %%
for view, drop in (("", False), ("_unseen", True)):
    view_spec = dataclasses.replace(spec, name=spec.name + view)
    items = stats.collect_items([*(r for r in counted if r["method_tag"] in spec.table_tags), *floor], drop_trained=drop)
    rows, intervals_md, claims_md = sr.write_intervals_and_claims(
        paths.tables, items, view_spec, "Decoder study, arithmetic: paired differences of the arithmetic average (points) and claim verdicts"
        + (", test items not trained on" if drop else ""),
        "Decoder study (issue 13), arithmetic: the paper's claims at this scale" + (" (test items not trained on)" if drop else ""), summary, pending)
    display(Markdown(intervals_md))
    display(Markdown(claims_md))
    if not drop:
        status = sr.status_table(views["main"], chosen, rows, spec, pending)
        sr.write_table(paths.tables, f"{spec.name}_status", status, "Decoder study, arithmetic: where each arm stands",
                       sr.status_note(spec) + f" Runs: {summary}", formats=("md",))
        display(Markdown((paths.tables / f"{spec.name}_status.md").read_text()))

# %% [markdown]
# ## Figures

# %%
print(sr.plot_frontier(sr.scores_frame(counted + floor), spec, paths.figures / f"{spec.name}_frontier.png"))
print(sr.plot_curves(counted, spec, paths.figures / f"{spec.name}_curves.png"))

# %%
print(f"done in {time.perf_counter() - t0:.1f} s")
