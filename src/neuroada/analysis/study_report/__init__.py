"""The study report: a tuned, seeded study's records -> its tables, figures, intervals and claim sentences
(notebooks/glue_study.py), one module per step.

The study is described by a `StudySpec` (tasks, seeds, the main comparison's methods, the claims' comparisons,
the ablations); `GLUE_STUDY` is issue 12's (experiments/glue_study/run.sh), `DECODER_STUDY` and `MATH_STUDY` issue
13's commonsense and arithmetic halves (experiments/decoder_study/run.sh, one records folder). The steps:

1. `chosen_lrs(records, spec)`: per (task, method_tag) the lr chosen on the selection set at the tuning seed
   (`neuroada.analysis.study.choose_lr`), or, for an ablation arm that was not tuned on its own (fewer than two
   lrs at the tuning seed), its parent arm's choice (`spec.inherit_lr`: the selection and k ablations run at
   NeuroAda k=20's lr, the LoRA rank frontier at LoRA's). Main-table methods always use their own choice.
2. `run_ledger(records, chosen, spec)`: which runs count (completed, at the chosen lr, one per (task, method,
   seed): the latest) and why the others do not (failed, a tuning run at another lr, superseded, not in the study).
   A choice not final yet (`pending_choices`: its grid partly run, or at its edge) still counts as the best guess so
   far, but the tables mark its cells (†) and every verdict resting on it is `undecided: lr not final`.
3. Tables (`main_table`, `lr_table`, `selection_table`, `interval_rows`, `status_table`), claims (`claim_sentences`) and figures
   (`plot_curves`, `plot_frontier`) from the counted runs only; what has not run yet says so instead of failing.

Scores are the primary metric x 100 on the reported eval set (GLUE: the test half of the re-split dev set); an
undefined correlation (NaN: constant predictions) counts as 0, as in `neuroada.analysis.stats`.

Modules: `spec` (StudySpec, the studies), `ledger` (steps 1 and 2), `scores` (the counted runs' scores), `tables`,
`intervals` (intervals and claims), `figures`, `files` (writing them); `_format` holds the shared cell formatting.
"""
from ._format import MISSING, NOT_RUN, fmt_lr
from .files import write_intervals_and_claims, write_table
from .figures import frontier_figure, frontier_points, plot_curves, plot_frontier
from .intervals import IntervalRow, claim_sentences, interval_rows, intervals_frame, intervals_note
from .ledger import StudyRuns, chosen_lrs, incomplete_runs, ledger_summary, load_study, open_study, pending_choices, run_ledger
from .scores import HIDDEN_SIZE, floor_records, head_params, method_rows, scores_frame, suite_averages
from .status import STATUS_NOTE, status_note, status_table
from .spec import (ARITHMETIC_SETS, COMMONSENSE_SETS, DECODER_STUDY, DORA, GLUE_STUDY, GLUE_TASKS, HEAD, K1, K20, LORA, LR_TOL, MATH_STUDY,
                   UNTRAINED, Comparison, StudySpec)
from .tables import LR_NOTE, MAIN_NOTE, PENDING_NOTE, TRACKED, display_method_rows, lr_table, main_table, paper_table, selection_table, tracked_memory

__all__ = ["Comparison", "GLUE_STUDY", "IntervalRow", "StudySpec", "chosen_lrs", "claim_sentences", "display_method_rows", "fmt_lr",
           "frontier_figure", "frontier_points", "head_params", "incomplete_runs", "interval_rows", "intervals_frame", "ledger_summary", "lr_table",
           "main_table", "method_rows", "pending_choices", "plot_curves", "plot_frontier", "run_ledger", "scores_frame", "selection_table", "status_note", "status_table",
           "suite_averages", "write_intervals_and_claims", "write_table"]
