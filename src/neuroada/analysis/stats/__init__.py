"""Paired bootstrap statistics over run records that keep per-item predictions (any suite: GLUE, commonsense...).

The unit of analysis is a *cell*: one run's predictions on one benchmark (a GLUE task's test half, or one
commonsense test set), keyed `(method_tag, seed, benchmark)`. A suite average is the mean over benchmarks
of each benchmark's metric (accuracy, Matthews correlation, Pearson, F1), then the mean over seeds.

- `load_items(record)` / `collect_items(records)`: the cells of runs, from `<run>/predictions/after_<set>.jsonl[.gz]`
  (the compact predictions of `neuroada.evaluation.EvalResult.save_predictions`, or the full ones);
  `drop_trained=True` leaves out the test items whose question is also a training item's (`trained_keys`).
- `bootstrap_averages(items, methods)`: the suite average of several methods on *the same* resamples:
  seeds resampled with replacement, then within each resampled (seed, benchmark) the test items resampled with
  replacement, with the same item indices for every method (methods are paired within a seed: they share its dev
  re-split, hence its test items); where every seed scores the same items (a fixed test set), one item draw per
  replicate serves every seed (items crossed with seeds, not nested in them). Each benchmark's metric is recomputed from the resampled predictions (MCC and
  Pearson are not item averages), averaged over benchmarks, then over the resampled seeds. Vectorised with numpy.
- `paired_difference(items, a, b)`: the difference of suite averages a - b, in points, with a percentile interval.
- `ratio_interval(items, num, den, floor)`: (num - floor) / (den - floor) on the same resamples (C3).
- `verdict_c1`, `verdict_c2`, `verdict_c3`, `combine_verdicts`: the decision rules (see each docstring).

Metrics are reported on a 0-100 scale (`scale=100`). An undefined metric (a correlation of constant predictions,
an MCC with one class on either side) counts as 0, as scikit-learn's MCC does; `glue_metrics` reports NaN for such a
Pearson, so a recomputed Pearson can differ from a record's NaN there (and only there).
"""
from .bootstrap import (Interval, SuiteBootstrap, _weights, bootstrap_averages, difference, paired_difference, ratio,
                        ratio_interval)
from .items import (METRICS, SELECTION_SETS, Items, Key, _metric, collect_items, items_from_rows, load_items, predictions_path,
                    read_predictions, report_sets, trained_keys)
from .verdicts import (NOT_SUPPORTED, SUPPORTED, UNDECIDED, Verdict, combine_verdicts, format_missing, seeds_to_decide, verdict_c1, verdict_c2,
                       verdict_c3)

# `_weights` and `_metric` are private: imported here for tests/test_stats.py, not exported.
__all__ = ["Interval", "Items", "Key", "METRICS", "NOT_SUPPORTED", "SELECTION_SETS", "SUPPORTED", "SuiteBootstrap", "UNDECIDED",
           "Verdict", "bootstrap_averages", "collect_items", "combine_verdicts", "difference", "format_missing", "items_from_rows",
           "load_items", "paired_difference", "predictions_path", "ratio", "ratio_interval", "read_predictions", "report_sets", "seeds_to_decide", "trained_keys", "verdict_c1",
           "verdict_c2", "verdict_c3"]
