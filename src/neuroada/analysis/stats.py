"""Paired bootstrap statistics over run records that keep per-item predictions (any suite: GLUE, commonsense...).

The unit of analysis is a *cell*: one run's predictions on one benchmark (a GLUE task's test half, or one
commonsense test set), keyed `(method_tag, seed, benchmark)`. A suite average is the mean over benchmarks
of each benchmark's metric (accuracy, Matthews correlation, Pearson, F1), then the mean over seeds.

- `load_items(record)` / `collect_items(records)`: the cells of runs, from `<run>/predictions/after_<set>.jsonl[.gz]`
  (the compact predictions of `neuroada.evaluation.EvalResult.save_predictions`, or the full ones).
- `bootstrap_averages(items, methods)`: the suite average of several methods on *the same* resamples:
  seeds resampled with replacement, then within each resampled (seed, benchmark) the test items resampled with
  replacement, with the same item indices for every method (methods are paired within a seed: they share its dev
  re-split, hence its test items). Each benchmark's metric is recomputed from the resampled predictions (MCC and
  Pearson are not item averages), averaged over benchmarks, then over the resampled seeds. Vectorised with numpy.
- `paired_difference(items, a, b)`: the difference of suite averages a - b, in points, with a percentile interval.
- `ratio_interval(items, num, den, floor)`: (num - floor) / (den - floor) on the same resamples (C3).
- `verdict_c1`, `verdict_c2`, `verdict_c3`, `combine_verdicts`: the decision rules (see each docstring).

Metrics are reported on a 0-100 scale (`scale=100`). An undefined metric (a correlation of constant predictions,
an MCC with one class on either side) counts as 0, as scikit-learn's MCC does; `glue_metrics` reports NaN for such a
Pearson, so a recomputed Pearson can differ from a record's NaN there (and only there).
"""
from __future__ import annotations

import gzip
import json
import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from .records import benchmark_name

log = logging.getLogger(__name__)

METRICS = ("accuracy", "matthews_correlation", "pearson", "f1")
SELECTION_SETS = ("validation",)  # eval sets that choose (lr, checkpoint) and are never reported
MAX_CHUNK = 2_000_000  # elements of one (replicates x items) weight matrix; bounds memory for large test sets

Key = tuple  # (method_tag, seed, benchmark)


# ---------------------------------------------------------------------------------------------------------
# loading


@dataclass(frozen=True)
class Items:
    """One cell: the predictions of one run on one benchmark. `keys` identify items across runs (the
    `row` of the source file, else the position); `correct` (0/1) is set when the rows carry it or when
    the metric is accuracy; `pred`/`gold` are numeric (class indices or STS-B scores) when they can be."""
    metric: str
    keys: np.ndarray
    pred: np.ndarray | None
    gold: np.ndarray | None
    correct: np.ndarray | None
    run_id: str = ""
    resplit_seed: int | None = None

    def __len__(self) -> int:
        return len(self.keys)

    def score(self) -> float:
        """The metric on every item (0-1 scale), recomputed the way the bootstrap does."""
        return float(_metric(self.metric, *_stack([self]), np.ones((1, len(self))))[0, 0])


def predictions_path(record: Mapping, eval_set: str, phase: str = "after") -> Path | None:
    """`<run dir>/predictions/<phase>_<eval_set>.jsonl.gz` (compact) or `.jsonl` (full), whichever exists."""
    run_dir = Path(record["_path"]).parent if record.get("_path") else None
    if run_dir is None:
        return None
    for name in (f"{phase}_{eval_set}.jsonl.gz", f"{phase}_{eval_set}.jsonl"):
        if (run_dir / "predictions" / name).is_file():
            return run_dir / "predictions" / name
    return None


def read_predictions(path: str | Path) -> list[dict]:
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _numeric(values: list) -> np.ndarray | None:
    try:
        arr = np.asarray([math.nan if v is None else v for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return arr


def items_from_rows(rows: Sequence[Mapping], metric: str, **meta) -> Items:
    """An `Items` cell from prediction rows (`row`/`index`, `prediction`, `gold`, `correct`)."""
    if metric not in METRICS:
        raise ValueError(f"unsupported metric {metric!r}; known: {METRICS}")
    keys = np.asarray([r["row"] if r.get("row") is not None else r.get("index", i) for i, r in enumerate(rows)])
    pred = _numeric([r.get("prediction") for r in rows]) if rows and "prediction" in rows[0] else None
    gold = _numeric([r.get("gold") for r in rows]) if rows and "gold" in rows[0] else None
    correct = None
    if rows and all(isinstance(r.get("correct"), bool) for r in rows):
        correct = np.asarray([r["correct"] for r in rows], dtype=np.float64)
    elif pred is not None and gold is not None and metric == "accuracy":
        correct = (pred == gold).astype(np.float64)
    if metric == "accuracy" and correct is None:
        raise ValueError("accuracy needs `correct` or numeric `prediction` and `gold` in the prediction rows")
    if metric != "accuracy" and (pred is None or gold is None):
        raise ValueError(f"{metric} needs numeric `prediction` and `gold` in the prediction rows")
    if len(np.unique(keys)) != len(keys):
        raise ValueError("duplicate item keys in one prediction file")
    order = np.argsort(keys, kind="stable")
    pick = lambda a: None if a is None else a[order]  # noqa: E731
    return Items(metric=metric, keys=keys[order], pred=pick(pred), gold=pick(gold), correct=pick(correct), **meta)


def report_sets(record: Mapping, eval_sets: Iterable[str] | None = None) -> list[str]:
    """The record's reported eval sets: `eval_sets` if given, else every eval set of `record["metrics"]` except
    its selection set (`record["selection"]["set"]`) and `validation`."""
    metrics = record.get("metrics") or {}
    if eval_sets is not None:
        return [s for s in eval_sets if s in metrics]
    skip = set(SELECTION_SETS) | {((record.get("selection") or {}).get("set"))}
    return [s for s in metrics if s not in skip]


def load_items(record: Mapping, eval_sets: Iterable[str] | None = None, phase: str = "after") -> dict[str, Items]:
    """The cells of one run: benchmark -> Items, for each reported eval set whose predictions exist (a GLUE run's
    `test` set becomes the benchmark named after its task; a commonsense run's sets keep their names)."""
    out = {}
    metric = record.get("primary_metric") or "accuracy"
    for eval_set in report_sets(record, eval_sets):
        path = predictions_path(record, eval_set, phase)
        if path is None:
            continue
        bench = benchmark_name(record.get("suite"), record.get("task"), eval_set)
        out[bench] = items_from_rows(read_predictions(path), metric, run_id=record.get("run_id", ""), resplit_seed=record.get("resplit_seed"))
    return out


def collect_items(records: Iterable[Mapping], eval_sets: Iterable[str] | None = None, phase: str = "after") -> dict[Key, Items]:
    """Every cell of completed `records`: (method_tag, seed, benchmark) -> Items. The caller chooses which runs
    count (e.g. only those at the chosen lr); when two runs still share a key, the later one (`created`) is kept."""
    out: dict[Key, Items] = {}
    created: dict[Key, str] = {}
    for rec in records:
        if rec.get("status") != "completed":
            continue
        for bench, items in load_items(rec, eval_sets, phase).items():
            key = (rec.get("method_tag") or rec.get("method"), rec.get("seed"), bench)
            if key in out:
                log.warning("two runs for %s (%s, %s): keeping the later one", key, out[key].run_id, rec.get("run_id"))
                if str(rec.get("created", "")) < created[key]:
                    continue
            out[key] = items
            created[key] = str(rec.get("created", ""))
    return out


# ---------------------------------------------------------------------------------------------------------
# metrics on resampled index matrices


def _stack(cells: Sequence[Items]) -> tuple:
    """Aligned arrays of cells that share their items: pred (M, n), gold (n,), correct (M, n)."""
    first = cells[0]
    pred = np.stack([c.pred for c in cells]) if all(c.pred is not None for c in cells) else None
    correct = np.stack([c.correct for c in cells]) if all(c.correct is not None for c in cells) else None
    return pred, first.gold, correct


def _mcc_from_counts(counts: np.ndarray) -> np.ndarray:
    """Matthews correlation (multi-class, scikit-learn's formula) from confusion counts (..., K, K) [true, pred];
    0 where it is undefined."""
    t = counts.sum(-1)  # true class totals
    p = counts.sum(-2)  # predicted class totals
    c = np.trace(counts, axis1=-2, axis2=-1)
    s = t.sum(-1)
    cov_ytyp = c * s - (t * p).sum(-1)
    cov_ypyp = s * s - (p * p).sum(-1)
    cov_ytyt = s * s - (t * t).sum(-1)
    denom = np.sqrt(np.maximum(cov_ytyt * cov_ypyp, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, cov_ytyp / np.where(denom > 0, denom, 1.0), 0.0)


def _confusion(pred: np.ndarray, gold: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted confusion counts (M, R, K, K) [true, pred] for item weights `w` (R, n), and the classes."""
    classes, inverse = np.unique(np.concatenate([gold, pred.ravel()]), return_inverse=True)
    k = len(classes)
    g = inverse[: len(gold)]
    p = inverse[len(gold):].reshape(pred.shape)  # (M, n)
    m, n = pred.shape
    onehot = np.zeros((n, m * k * k))
    onehot[np.arange(n)[:, None], np.arange(m)[None, :] * k * k + g[:, None] * k + p.T] = 1.0
    counts = w @ onehot  # (R, M*K*K)
    return counts.reshape(len(w), m, k, k).transpose(1, 0, 2, 3), classes


def _metric(metric: str, pred, gold, correct, w: np.ndarray) -> np.ndarray:
    """The metric (0-1) of every method (rows of pred/correct) under every item weighting (rows of `w`, (R, n):
    how many times each item was drawn; all ones = the observed data): (M, R). Every metric is a function of
    weighted sums, so a resample is one matrix product."""
    total = w.sum(-1)  # (R,)
    if metric == "accuracy":
        return (w @ correct.T).T / total
    if metric == "matthews_correlation":
        return _mcc_from_counts(_confusion(pred, gold, w)[0])
    if metric == "f1":  # binary, positive class 1
        cm, classes = _confusion(pred, gold, w)
        if 1 not in classes:
            return np.zeros(cm.shape[:2])
        j = int(np.nonzero(classes == 1)[0][0])
        tp = cm[..., j, j]
        fp = cm[..., :, j].sum(-1) - tp
        fn = cm[..., j, :].sum(-1) - tp
        denom = 2 * tp + fp + fn
        return np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1.0), 0.0)
    if metric == "pearson":
        x = pred - pred.mean(-1, keepdims=True)  # centred first: the moment formulas below lose less precision
        y = gold - gold.mean()
        m = len(x)
        feats = np.concatenate([x, x * x, x * y[None], y[None], (y * y)[None]]).T  # (n, 3M+2)
        sums = (w @ feats).T / total  # weighted means (3M+2, R)
        mx, mxx, mxy, my, myy = sums[:m], sums[m:2 * m], sums[2 * m:3 * m], sums[3 * m], sums[3 * m + 1]
        cov = mxy - mx * my
        var = (mxx - mx * mx) * (myy - my * my)
        scale = np.sqrt(np.maximum(var, 0.0))
        ok = scale > 1e-12 * np.maximum(np.abs(mxx) * np.abs(myy), 1e-300) ** 0.5
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(ok, cov / np.where(ok, scale, 1.0), 0.0)
    raise ValueError(f"unsupported metric {metric!r}")


def _weights(rng: np.random.Generator, r: int, n: int) -> np.ndarray:
    """(r, n) draw counts of r resamples of n items with replacement (each row sums to n)."""
    idx = rng.integers(0, n, size=(r, n), dtype=np.int64 if r * n >= 2**31 else np.int32)
    idx += (np.arange(r, dtype=idx.dtype) * n)[:, None]
    return np.bincount(idx.ravel(), minlength=r * n).reshape(r, n).astype(np.float64)


def _metric_chunked(metric, pred, gold, correct, rng, r: int, n: int) -> np.ndarray:
    """The metric of every method on r fresh resamples of the n items, drawn in chunks of bounded size: (M, r)."""
    step = max(1, MAX_CHUNK // max(1, n))
    out = [_metric(metric, pred, gold, correct, _weights(rng, min(step, r - i), n)) for i in range(0, r, step)]
    return np.concatenate(out, axis=1)


def _align(cells: Sequence[Items]) -> list[Items]:
    """The cells restricted to the items they all have (warns when they differ: the runs did not share a re-split)."""
    common = cells[0].keys
    for c in cells[1:]:
        common = np.intersect1d(common, c.keys)
    if any(len(c.keys) != len(common) for c in cells):
        log.warning("cells %s do not share their items (%s of %s in common)", [c.run_id for c in cells], len(common),
                    [len(c) for c in cells])
    out = []
    for c in cells:
        pos = np.searchsorted(c.keys, common)
        pick = lambda a: None if a is None else a[pos]  # noqa: E731
        out.append(Items(metric=c.metric, keys=common, pred=pick(c.pred), gold=pick(c.gold), correct=pick(c.correct), run_id=c.run_id,
                         resplit_seed=c.resplit_seed))
    golds = [c.gold for c in out if c.gold is not None]
    if len(golds) > 1 and not all(np.allclose(golds[0], g, equal_nan=True) for g in golds[1:]):
        log.warning("cells %s disagree on gold labels of shared items", [c.run_id for c in cells])
    return out


# ---------------------------------------------------------------------------------------------------------
# the bootstrap


@dataclass
class SuiteBootstrap:
    """Suite averages (0-100 by default) of `methods` on the observed data and on `n_boot` paired resamples.
    `observed[m]`, `replicates[:, m]`; `cells[(seed, benchmark)]` = items per cell; `missing` = the (method,
    seed, benchmark) cells asked for but absent (those seeds were left out)."""
    methods: tuple
    observed: np.ndarray
    replicates: np.ndarray
    seeds: tuple
    benchmarks: tuple
    cells: dict
    missing: tuple
    n_boot: int
    rng_seed: int
    scale: float
    per_cell: dict = field(default_factory=dict, repr=False)  # (seed, benchmark) -> observed metric per method

    @property
    def ok(self) -> bool:
        return len(self.seeds) > 0


def bootstrap_averages(items: Mapping[Key, Items], methods: Sequence[str], *, benchmarks: Sequence[str] | None = None,
                       seeds: Sequence | None = None, n_boot: int = 2000, rng_seed: int = 0, scale: float = 100.0) -> SuiteBootstrap:
    """Paired bootstrap of the suite average of every method in `methods` (see the module docstring).

    `benchmarks`/`seeds`: what the average must cover (default: every benchmark and seed any of the methods has).
    Only seeds where every method has every benchmark are used; the others are listed in `missing`. Replicate r:
    draw S seeds with replacement from the S usable ones; for each drawn seed (each draw independently) and each
    benchmark, draw its n items with replacement (the same indices for every method); recompute each benchmark's
    metric per method; average over benchmarks, then over the S drawn seeds. Deterministic given `rng_seed`."""
    methods = tuple(methods)
    have = defaultdict(set)
    for (m, s, b) in items:
        if m in methods:
            have[m].add((s, b))
    benchmarks = tuple(benchmarks) if benchmarks is not None else tuple(sorted({b for m in methods for _, b in have[m]}))
    seeds = tuple(seeds) if seeds is not None else tuple(sorted({s for m in methods for s, _ in have[m]}, key=str))
    missing = tuple((m, s, b) for m in methods for s in seeds for b in benchmarks if (m, s, b) not in items)
    bad = {s for _, s, _ in missing}
    usable = tuple(s for s in seeds if s not in bad)
    mcount = len(methods)
    empty = SuiteBootstrap(methods, np.full(mcount, np.nan), np.full((0, mcount), np.nan), usable, benchmarks, {}, missing, n_boot,
                           rng_seed, scale)
    if not usable or not benchmarks:
        return empty
    rng = np.random.default_rng(rng_seed)
    n_seeds = len(usable)
    aligned = {(s, b): _align([items[(m, s, b)] for m in methods]) for s in usable for b in benchmarks}
    per_cell = {}
    for key, cells in aligned.items():
        per_cell[key] = _metric(cells[0].metric, *_stack(cells), np.ones((1, len(cells[0]))))[:, 0] * scale
    observed = np.mean([np.mean([per_cell[(s, b)] for b in benchmarks], axis=0) for s in usable], axis=0)
    draws = rng.integers(0, n_seeds, size=(n_boot, n_seeds))
    slot = np.zeros((n_boot, n_seeds, mcount))
    for j in range(n_seeds):
        for i, s in enumerate(usable):
            rows = np.nonzero(draws[:, j] == i)[0]
            if not len(rows):
                continue
            acc = np.zeros((len(rows), mcount))
            for b in benchmarks:
                cells = aligned[(s, b)]
                acc += _metric_chunked(cells[0].metric, *_stack(cells), rng, len(rows), len(cells[0])).T
            slot[rows, j] = acc / len(benchmarks) * scale
    return SuiteBootstrap(methods, observed, slot.mean(axis=1), usable, benchmarks, {k: len(v[0]) for k, v in aligned.items()},
                          missing, n_boot, rng_seed, scale, per_cell)


@dataclass
class Interval:
    """A statistic (`estimate`, on the observed data) with its `level` percentile bootstrap interval [low, high].
    `seeds`/`benchmarks`: what it covers; `missing`: (method, seed, benchmark) cells that were asked for but absent
    (an interval with missing cells covers fewer seeds than required). `denominator`: for a ratio, the interval of
    its denominator."""
    estimate: float
    low: float
    high: float
    level: float
    n_boot: int
    seeds: tuple
    benchmarks: tuple
    missing: tuple
    replicates: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    denominator: "Interval | None" = None

    @property
    def ok(self) -> bool:
        return len(self.seeds) > 0 and math.isfinite(self.estimate)

    @property
    def complete(self) -> bool:
        return self.ok and not self.missing


def _interval(estimate: float, reps: np.ndarray, level: float, boot: SuiteBootstrap, denominator: Interval | None = None) -> Interval:
    reps = np.asarray(reps, dtype=np.float64)
    finite = reps[np.isfinite(reps)]
    if boot.ok and len(finite):
        lo, hi = np.percentile(finite, [50 * (1 - level), 50 * (1 + level)])
    else:
        lo = hi = math.nan
    return Interval(float(estimate), float(lo), float(hi), level, boot.n_boot, boot.seeds, boot.benchmarks, boot.missing, reps, denominator)


def difference(boot: SuiteBootstrap, a: str, b: str, *, level: float = 0.95) -> Interval:
    """avg(a) - avg(b) from a bootstrap that holds both methods (so several comparisons can share one)."""
    i, j = boot.methods.index(a), boot.methods.index(b)
    return _interval(boot.observed[i] - boot.observed[j], boot.replicates[:, i] - boot.replicates[:, j], level, boot)


def ratio(boot: SuiteBootstrap, num: str, den: str, floor: str, *, level: float = 0.95) -> Interval:
    """(avg(num) - avg(floor)) / (avg(den) - avg(floor)) from a bootstrap that holds the three methods (C3: num = k=1,
    den = k=20, floor = head only: the share of k=20's gain over the floor that k=1 keeps). A replicate whose
    denominator is 0 gives a non-finite ratio and is left out of the percentiles; `denominator` holds the interval
    of avg(den) - avg(floor) in the units of the averages."""
    i, j, f = (boot.methods.index(m) for m in (num, den, floor))
    o, r = boot.observed, boot.replicates
    with np.errstate(invalid="ignore", divide="ignore"):
        est = (o[i] - o[f]) / (o[j] - o[f]) if o[j] != o[f] else math.nan
        reps = (r[:, i] - r[:, f]) / (r[:, j] - r[:, f])
    return _interval(est, reps, level, boot, _interval(o[j] - o[f], r[:, j] - r[:, f], level, boot))


def paired_difference(items: Mapping[Key, Items], a: str, b: str, *, level: float = 0.95, **kw) -> Interval:
    """Suite average of `a` minus that of `b` (points when scale=100) with its paired bootstrap percentile interval;
    `kw` go to `bootstrap_averages`."""
    return difference(bootstrap_averages(items, [a, b], **kw), a, b, level=level)


def ratio_interval(items: Mapping[Key, Items], num: str, den: str, floor: str, *, level: float = 0.95, **kw) -> Interval:
    """`ratio` on a bootstrap of the three methods; `kw` go to `bootstrap_averages`."""
    return ratio(bootstrap_averages(items, [num, den, floor], **kw), num, den, floor, level=level)


# ---------------------------------------------------------------------------------------------------------
# decision rules

SUPPORTED, NOT_SUPPORTED, UNDECIDED = "supported", "not supported", "undecided"


@dataclass(frozen=True)
class Verdict:
    status: str  # supported | not supported | undecided
    reason: str

    def __str__(self) -> str:
        return f"{self.status}: {self.reason}" if self.reason else self.status


def format_missing(missing: Iterable[tuple], all_seeds: Sequence | None = None, all_benchmarks: Sequence | None = None) -> str:
    """`lora-r1: every cell; dora-r8: cola s2, rte s2` from (method, seed, benchmark) triples."""
    by_method: dict[str, list] = defaultdict(list)
    for m, s, b in missing:
        by_method[m].append((s, b))
    parts = []
    for m, cells in by_method.items():
        if all_seeds is not None and all_benchmarks is not None and len(cells) == len(all_seeds) * len(all_benchmarks):
            parts.append(f"{m}: every run")
            continue
        seeds_of = defaultdict(list)
        for s, b in cells:
            seeds_of[b].append(s)
        parts.append(f"{m}: " + ", ".join(f"{b} s{','.join(map(str, ss))}" for b, ss in seeds_of.items()))
    return "; ".join(parts)


def _missing_verdict(interval: Interval | None, what: str = "") -> Verdict | None:
    if interval is None:
        return Verdict(UNDECIDED, f"missing runs ({what or 'none of the runs'})")
    if interval.missing:
        return Verdict(UNDECIDED, f"missing runs ({format_missing(interval.missing)})")
    if not interval.ok:
        return Verdict(UNDECIDED, "no usable runs")
    return None


def verdict_c1(interval: Interval | None, margin: float = 1.0) -> Verdict:
    """C1, "NeuroAda matches or beats baseline B", on d = avg(NeuroAda) - avg(B) in points with its interval [lo, hi]:

    - supported      if lo > -margin (non-inferior: a deficit of `margin` points or more is excluded);
    - not supported  if hi < 0 (and lo <= -margin): NeuroAda is worse, and not shown to be within the margin;
    - undecided      otherwise (lo <= -margin and hi >= 0), and whenever runs are missing.
    """
    missing = _missing_verdict(interval)
    if missing:
        return missing
    lo, hi = interval.low, interval.high
    if lo > -margin:
        return Verdict(SUPPORTED, f"95 % interval [{lo:+.2f}, {hi:+.2f}] excludes a deficit of {margin:g} point(s)")
    if hi < 0:
        return Verdict(NOT_SUPPORTED, f"95 % interval [{lo:+.2f}, {hi:+.2f}] lies below 0 and reaches -{margin:g}")
    return Verdict(UNDECIDED, f"95 % interval [{lo:+.2f}, {hi:+.2f}] contains 0 and -{margin:g}")


def verdict_c2(interval: Interval | None) -> Verdict:
    """C2, "magnitude selection beats selection X", on d = avg(magnitude) - avg(X) with its interval [lo, hi]:
    supported if lo > 0; not supported if hi < 0; undecided otherwise (the interval contains 0) or when runs are missing."""
    missing = _missing_verdict(interval)
    if missing:
        return missing
    lo, hi = interval.low, interval.high
    if lo > 0:
        return Verdict(SUPPORTED, f"95 % interval [{lo:+.2f}, {hi:+.2f}] above 0")
    if hi < 0:
        return Verdict(NOT_SUPPORTED, f"95 % interval [{lo:+.2f}, {hi:+.2f}] below 0")
    return Verdict(UNDECIDED, f"95 % interval [{lo:+.2f}, {hi:+.2f}] contains 0")


def verdict_c3(ratio: Interval | None, threshold: float = 0.9) -> Verdict:
    """C3, "k=1 keeps most of k=20's gain over the floor (head only)", on rho = (k1 - floor) / (k20 - floor)
    with its interval [lo, hi]:

    - undecided      when runs are missing, or when k=20 does not clearly beat the floor (the lower bound of the
                     interval of k20 - floor is <= 0: the ratio's denominator can vanish, rho is meaningless);
    - supported      if lo >= threshold (0.9: k=1 keeps at least 90 % of the gain);
    - not supported  if hi < threshold;
    - undecided      otherwise.
    """
    missing = _missing_verdict(ratio)
    if missing:
        return missing
    den = ratio.denominator
    if den is not None and not den.low > 0:
        return Verdict(UNDECIDED, f"k=20 does not clearly beat the floor (gain {den.estimate:+.2f}, 95 % interval "
                                  f"[{den.low:+.2f}, {den.high:+.2f}]): the ratio is not defined")
    lo, hi = ratio.low, ratio.high
    if lo >= threshold:
        return Verdict(SUPPORTED, f"95 % interval of the ratio [{lo:.2f}, {hi:.2f}] at or above {threshold:g}")
    if hi < threshold:
        return Verdict(NOT_SUPPORTED, f"95 % interval of the ratio [{lo:.2f}, {hi:.2f}] below {threshold:g}")
    return Verdict(UNDECIDED, f"95 % interval of the ratio [{lo:.2f}, {hi:.2f}] contains {threshold:g}")


def combine_verdicts(verdicts: Sequence[Verdict]) -> str:
    """A claim made against several baselines: supported if supported against every one, not supported if not
    supported against at least one, undecided otherwise (including no verdict at all)."""
    statuses = [v.status for v in verdicts]
    if statuses and all(s == SUPPORTED for s in statuses):
        return SUPPORTED
    if any(s == NOT_SUPPORTED for s in statuses):
        return NOT_SUPPORTED
    return UNDECIDED
