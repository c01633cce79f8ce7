"""The decision rules: verdicts on the claims C1, C2, C3 from bootstrap intervals."""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Sequence

from .bootstrap import Interval

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


def seeds_to_decide(interval: Interval | None, margin: float | None = None) -> int | None:
    """The fewest seeds at which an undecided C1 (`margin` given) or C2 (`margin=None`) verdict would be decided if the
    difference stayed where it is and each side of its interval narrowed as 1/sqrt(seeds), as when every seed brings
    new test items. A lower bound: a re-split shares items between seeds, and a fixed test set's item noise does not
    shrink with seeds at all. None when the verdict is already decided, or runs are missing.

    C1 is decided once the lower bound passes -margin (d - lo shrinks below d + margin, for d > -margin) or the upper
    bound falls below 0 (hi - d below -d, for d < 0); C2 (margin 0) once either bound passes 0."""
    if interval is None or not interval.ok or interval.missing:
        return None
    m = 0.0 if margin is None else margin
    d, lo, hi, n = interval.estimate, interval.low, interval.high, len(interval.seeds)
    if lo > -m or hi < 0:
        return None
    need = []
    if d > -m:
        need.append(n * ((d - lo) / (d + m)) ** 2)
    if d < 0:
        need.append(n * ((hi - d) / -d) ** 2)
    return math.floor(min(need)) + 1 if need else None


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
