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
# # The decoder study (issue 13), commonsense: tables, intervals, claims and figures
#
# Regenerates the decoder study's outputs from its run records, `results/runs/decoder_study/<run_id>/record.json`
# (written by `experiments/decoder_study/run.sh`; per-item test predictions in `predictions/after_<set>.jsonl.gz`):
#
# - `tables/decoder_study_main.{md,tex,csv}`: SmolLM2-135M on the eight commonsense sets at each method's chosen lr,
#   mean ± std over seeds, with each method's tracked training peak;
# - `tables/decoder_study_paper.{md,tex}`: the paper's layout, the reported LLaMA rows (labelled reported) above ours;
# - `tables/decoder_study_lr.{md,csv}`: every lr grid with its selection-set scores (Commonsense15K validation);
# - `tables/decoder_study_answers.{md,csv}`: accuracy beside the share of the most common answer, and the best constant
#   answer on the same items (is a score near chance a constant answer?);
# - `tables/decoder_study_agreement.{md,csv}`: how often two runs give the same answer item by item (methods on one
#   seed, seeds of one method), beside the agreement their answer frequencies give by chance;
# - `tables/decoder_study_intervals.{md,csv}` and `tables/decoder_study_claims.md`: NeuroAda k=20 minus each
#   baseline with 95 % paired bootstrap intervals (seeds and test items resampled), verdicts, one sentence per claim;
# - `figures/decoder_study_frontier.png` and `figures/decoder_study_curves.png`.
#
# The untrained model (the floor of C3) is scored once, before training, by the first DoRA run
# (`eval_before=true`), or by a run of its own that trains nothing (`method=untrained`) where there is one; it
# stands for every seed. The rules are those of the GLUE study
# (`neuroada.analysis.study_report`, `neuroada.analysis.stats`), with `study_report.DECODER_STUDY` as the spec.
#
# Roots: `NEUROADA_RESULTS` (default: the repository's `results/`), or `NEUROADA_RUNS`, `NEUROADA_REFERENCE`,
# `NEUROADA_TABLES`, `NEUROADA_FIGURES`; the study's records are under `<runs>/decoder_study`.

# %%
import time

from IPython.display import Markdown, display

from neuroada.analysis import load_reference
from neuroada.analysis import stats
from neuroada.analysis import study_report as sr
from neuroada.analysis.answer_spread import agreement_table, answer_agreement, answer_spread, collapsed_share, spread_table
from neuroada.analysis.tables import task_label

t0 = time.perf_counter()
spec = sr.DECODER_STUDY
paths, runs = sr.open_study(spec)

# %% [markdown]
# ## Which runs count

# %%
records, chosen, summary, counted, pending = runs.records, runs.chosen, runs.summary, runs.counted, runs.pending
print(summary)
print("lr choices not final yet:", pending or "none")
floor = sr.floor_records(records, spec)
print("untrained model scored by:", floor[0]["run_id"] if floor else "no run yet")
scores = sr.scores_frame(counted + floor)
heads = sr.head_params(scores)

# %% [markdown]
# ## Learning rates

# %%
lr_long, lr_display = sr.lr_table(records, chosen, spec)
sr.write_table(paths.tables, "decoder_study_lr", lr_display, "Decoder study: learning-rate grids and choices (selection-set accuracy x 100)",
               "Selection set: 250 seeded items of the release's Commonsense15K validation file (never a test set); * = chosen. "
               "DoRA runs at LoRA's choice.", csv=lr_long, formats=("md",))
display(Markdown((paths.tables / "decoder_study_lr.md").read_text()))

# %% [markdown]
# ## The main comparison, with each method's tracked training peak

# %%
memory = sr.tracked_memory(counted, spec.main)
main = sr.main_table(scores, spec, heads, memory)
note = ("Accuracy x 100 on 250 fixed seeded items of each commonsense test set (the same items for every method and "
        "seed), mean ± sample std over seeds at each method's chosen lr. Tracked peak: parameters, gradients, optimizer "
        "state and saved activations at the training step's peak (neuroada.memory), mean over the method's runs. "
        f"Untrained: the model before fine-tuning, scored once.{sr.PENDING_NOTE} Runs: {summary}")
sr.write_table(paths.tables, "decoder_study_main", sr.display_method_rows(main, spec.columns, spec, extra=("Tracked peak (GB)",), pending=pending),
               "Decoder study, SmolLM2-135M-Instruct on commonsense (accuracy x 100, mean ± std over seeds)", note,
               latex=sr.display_method_rows(main, spec.columns, spec, latex=True, extra=("Tracked peak (GB)",), pending=pending), csv=main)
display(Markdown((paths.tables / "decoder_study_main.md").read_text()))

# %%
paper = sr.paper_table(main, load_reference(paths.reference), spec, "smollm2-135m", memory)
sr.write_table(paths.tables, "decoder_study_paper", paper, "Commonsense reasoning: reported LLaMA rows beside ours (SmolLM2-135M)",
               "Reported: the sources in results/reference (labelled reported, other models, full Commonsense170K training); "
               "ours: this study (800 training examples, 250 items a set). Not comparable in level; compare the order of methods.")
display(Markdown((paths.tables / "decoder_study_paper.md").read_text()))

# %% [markdown]
# ## Answer spread: how far the scores are from a constant answer
#
# Each cell: accuracy (share of items given the run's most common answer), mean over the method's counted runs;
# the last row is the best constant answer on the same items. A share near 100 % means the method answers that set
# with one label, and its score is that label's frequency.

# %%
selection_set = spec.tasks[0]  # the selection set (`validation`) is reported under the training task's name
spread = answer_spread(counted, [*spec.columns, "validation"])
spread_all = answer_spread([r for r in records if r.get("status") == "completed"], spec.columns)
hit, cells = collapsed_share(spread_all)
spread_note = (f"Accuracy x 100 (share of the items given the run's most common extracted answer, %), mean over counted runs. "
               f"Best constant answer: the most common gold answer of the set's items, chosen in hindsight (an upper bound on "
               f"any constant predictor); on the selection set, which mixes answer formats, one answer per format. Over every completed run (tuning runs included), {hit} of {cells} (run, set) cells "
               f"gave one answer to at least 90 % of the items. Runs: {summary}")
spread_cells = spread_table(spread, spec.main, [*spec.columns, selection_set]).rename(columns={task_label(selection_set): "Selection set"})
sr.write_table(paths.tables, "decoder_study_answers", spread_cells,
               "Decoder study: accuracy beside the spread of answers (is a score a constant answer?)", spread_note,
               csv=spread_all, formats=("md",))
display(Markdown((paths.tables / "decoder_study_answers.md").read_text()))

# %% [markdown]
# ## Answer agreement: are two methods the same predictor at this budget?
#
# Item by item, the share of test items two counted runs answer alike: NeuroAda k=20 against each method on the same
# seed (the same data order), and each method's seeds against each other; in brackets, the share two runs with these
# answer frequencies would share by chance. Near 100 % far above chance: the two runs are one predictor on that set.

# %%
agreement = answer_agreement(counted, spec.columns)
agreement_note = (f"Answered alike x 100 (by chance, from the two runs' answer frequencies), mean over the pairs of counted runs; "
                  f"All: pooled over the eight sets' items. Pairs: run pairs compared. Runs: {summary}")
sr.write_table(paths.tables, "decoder_study_agreement", agreement_table(agreement, "neuroada-k20", spec.main, spec.columns),
               "Decoder study: how often two runs give the same answer", agreement_note, csv=agreement, formats=("md",))
display(Markdown((paths.tables / "decoder_study_agreement.md").read_text()))

# %% [markdown]
# ## Paired bootstrap intervals and the claims

# %%
items = stats.collect_items([*(r for r in counted if r["method_tag"] in spec.table_tags), *floor])  # the floor at its `scored_phase`
rows, intervals_md, claims_md = sr.write_intervals_and_claims(
    paths.tables, items, spec, "Decoder study: paired differences of the commonsense average (points) and claim verdicts",
    "Decoder study (issue 13), commonsense: the paper's claims at this scale", summary, pending)
display(Markdown(intervals_md))
display(Markdown(claims_md))

# %%
status = sr.status_table(main, chosen, rows, spec, pending)
sr.write_table(paths.tables, f"{spec.name}_status", status, "Decoder study, commonsense: where each arm stands", sr.status_note(spec) + f" Runs: {summary}",
               formats=("md",))
display(Markdown((paths.tables / f"{spec.name}_status.md").read_text()))

# %% [markdown]
# ## Figures

# %%
print(sr.plot_frontier(scores, spec, paths.figures / "decoder_study_frontier.png"))
print(sr.plot_curves(counted, spec, paths.figures / "decoder_study_curves.png"))

# %%
print(f"done in {time.perf_counter() - t0:.1f} s")
