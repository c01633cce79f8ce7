"""The paired bootstrap: suite averages of several methods on the same resamples, and intervals of their differences and ratios."""
from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from .items import Items, Key, _metric, _stack

log = logging.getLogger(__name__)

MAX_CHUNK = 2_000_000  # elements of one (replicates x items) weight matrix; bounds memory for large test sets


# ---------------------------------------------------------------------------------------------------------
# resampling


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


def _items_crossed(aligned: Mapping, seeds: Sequence, benchmark: str) -> bool:
    """Do all (two or more) seeds score the very same items of `benchmark` (a fixed test set)?"""
    keys = [aligned[(s, benchmark)][0].keys for s in seeds]
    return len(keys) > 1 and all(np.array_equal(keys[0], k) for k in keys[1:])


def _crossed_replicates(aligned: Mapping, seeds: Sequence, benchmark: str, rng: np.random.Generator, n_boot: int) -> dict:
    """seed -> (n_boot, methods) metric of every method on `n_boot` item resamples, the same resample of the shared
    items for every seed."""
    n = len(aligned[(seeds[0], benchmark)][0])
    step = max(1, MAX_CHUNK // max(1, n))
    parts = {s: [] for s in seeds}
    for start in range(0, n_boot, step):
        w = _weights(rng, min(step, n_boot - start), n)
        for s in seeds:
            cells = aligned[(s, benchmark)]
            parts[s].append(_metric(cells[0].metric, *_stack(cells), w))
    return {s: np.concatenate(p, axis=1).T for s, p in parts.items()}


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
    """Paired bootstrap of the suite average of every method in `methods` (see the docstring of the package `neuroada.analysis.stats`).

    `benchmarks`/`seeds`: what the average must cover (default: every benchmark and seed any of the methods has).
    Only seeds where every method has every benchmark are used; the others are listed in `missing`. Replicate r:
    draw S seeds with replacement from the S usable ones; for each drawn seed and each benchmark, draw its n items with
    replacement (the same indices for every method); recompute each benchmark's metric per method; average over
    benchmarks, then over the S drawn seeds. The item draw follows the design: a benchmark whose seeds score different
    items (GLUE's dev set re-split per seed: items nested in seeds) gets a fresh draw for each drawn seed; one whose
    seeds all score the same items (a fixed test set: items crossed with seeds) gets one draw per replicate, shared by
    every seed, so that an item's effect common to all seeds is not averaged away as if it were new items each
    seed. Deterministic given `rng_seed`."""
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
    crossed = {b: _crossed_replicates(aligned, usable, b, rng, n_boot) for b in benchmarks if _items_crossed(aligned, usable, b)}
    slot = np.zeros((n_boot, n_seeds, mcount))
    for j in range(n_seeds):
        for i, s in enumerate(usable):
            rows = np.nonzero(draws[:, j] == i)[0]
            if not len(rows):
                continue
            acc = np.zeros((len(rows), mcount))
            for b in benchmarks:
                if b in crossed:
                    acc += crossed[b][s][rows]
                    continue
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

