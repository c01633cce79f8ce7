"""Paired bootstrap intervals and verdicts of the study's comparisons, and one sentence a claim."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import pandas as pd

from .. import stats
from ..tables import method_label
from ._format import MISSING, NOT_RUN, _num
from .spec import StudySpec


@dataclass
class IntervalRow:
    claim: str
    label: str
    a: str
    b: str
    interval: stats.Interval | None
    verdict: stats.Verdict | None
    units: str = "points"  # or "ratio"


def _bootstrap_groups(items: Mapping, spec: StudySpec, methods: Sequence[str]) -> stats.SuiteBootstrap:
    return stats.bootstrap_averages(items, methods, benchmarks=spec.columns, seeds=spec.seeds, n_boot=spec.n_boot, rng_seed=spec.rng_seed)


PENDING_LR = "lr not final"


def _pending_verdict(verdict: stats.Verdict | None, methods: Sequence[str], spec: StudySpec, pending: Mapping) -> stats.Verdict | None:
    """`verdict`, or `undecided: lr not final (...)` when a method's lr choice on one of the study's tasks is not final
    (`pending_choices`): its best lr may lie beyond the grid tried. Missing runs keep their own verdict."""
    cells = [(m, t, pending[(t, m)]) for m in dict.fromkeys(methods) for t in spec.tasks if (t, m) in pending]
    if verdict is None or not cells or verdict.reason.startswith("missing runs"):
        return verdict
    return stats.Verdict(stats.UNDECIDED, f"{PENDING_LR} ({'; '.join(f'{m} {t}: {why}' for m, t, why in cells)})")


def verdict_suffix(verdict: stats.Verdict | None) -> str:
    """` (missing runs)`, ` (lr not final)` or "": why an undecided verdict is undecided, in a table cell."""
    if verdict is None:
        return ""
    return next((f" ({why})" for why in ("missing runs", PENDING_LR) if verdict.reason.startswith(why)), "")


def interval_rows(items: Mapping, spec: StudySpec, pending: Mapping | None = None) -> list[IntervalRow]:
    """C1, C2 and context differences (a - b, points) and the C3 ratio, each with its 95 % paired bootstrap interval
    and verdict. Methods with every required (seed, task) cell share one bootstrap (the same resamples); a
    comparison with missing cells gets its own on the seeds it has, and an `undecided: missing runs` verdict; one
    whose method has an lr choice not final yet (`pending`, from `pending_choices`) an `undecided: lr not final` one."""
    pending = pending or {}
    have = {(m, s, b) for (m, s, b) in items}
    comparisons = [*spec.c1, *spec.c2, *spec.context]
    needed = sorted({m for c in comparisons for m in (c.a, c.b)} | set(spec.c3))
    complete = [m for m in needed if all((m, s, b) in have for s in spec.seeds for b in spec.columns)]
    joint = _bootstrap_groups(items, spec, complete) if complete else None
    rows = []

    def boot_for(methods):
        if joint is not None and all(m in complete for m in methods):
            return joint
        return _bootstrap_groups(items, spec, methods)

    for c in comparisons:
        iv = stats.difference(boot_for([c.a, c.b]), c.a, c.b)
        verdict = stats.verdict_c1(iv, spec.margin) if c.claim == "C1" else stats.verdict_c2(iv) if c.claim == "C2" else None
        verdict = _pending_verdict(verdict, [c.a, c.b], spec, pending)
        rows.append(IntervalRow(c.claim, f"{method_label(c.a)} − {method_label(c.b)}", c.a, c.b, iv, verdict))
    num, den, floor = spec.c3
    iv = stats.ratio(boot_for([num, den, floor]), num, den, floor)
    rows.append(IntervalRow("C3", f"({method_label(num)} − {method_label(floor)}) / ({method_label(den)} − {method_label(floor)})",
                            num, den, iv, _pending_verdict(stats.verdict_c3(iv, spec.threshold), [num, den, floor], spec, pending), units="ratio"))
    return rows


def intervals_frame(rows: Sequence[IntervalRow], spec: StudySpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(csv, display) of the interval rows."""
    long, disp = [], []
    for r in rows:
        iv = r.interval
        ok = iv is not None and iv.ok
        fmt = ".3f" if r.units == "ratio" else ".2f"
        missing = stats.format_missing(iv.missing, spec.seeds, spec.columns) if iv is not None and iv.missing else ""
        to_decide = (stats.seeds_to_decide(iv, spec.margin if r.claim == "C1" else None)
                     if r.claim in ("C1", "C2") and r.verdict is not None and r.verdict.status == stats.UNDECIDED else None)
        long.append({"claim": r.claim, "comparison": r.label, "a": r.a, "b": r.b, "units": r.units,
                     "estimate": iv.estimate if ok else math.nan, "low": iv.low if ok else math.nan, "high": iv.high if ok else math.nan,
                     "seeds": ",".join(map(str, iv.seeds)) if iv is not None else "", "n_boot": iv.n_boot if iv is not None else 0,
                     "verdict": r.verdict.status if r.verdict else "", "reason": r.verdict.reason if r.verdict else "", "missing": missing,
                     "seeds_to_decide": to_decide})
        disp.append({"Claim": r.claim, "Comparison": r.label,
                     "Difference" if r.units == "points" else "Estimate": _num(iv.estimate, fmt, signed=r.units == "points") if ok else NOT_RUN,
                     "95 % interval": f"[{_num(iv.low, fmt, r.units == 'points')}, {_num(iv.high, fmt, r.units == 'points')}]" if ok else MISSING,
                     "Seeds": len(iv.seeds) if iv is not None else 0,
                     "Verdict": (r.verdict.status if r.verdict else MISSING) + verdict_suffix(r.verdict),
                     "Seeds to decide (at least)": MISSING if to_decide is None else str(to_decide)})
    disp = pd.DataFrame(disp)
    if "Estimate" in disp:  # one value column for both kinds of row
        disp["Difference"] = disp["Difference"].fillna(disp.pop("Estimate"))
        disp = disp[["Claim", "Comparison", "Difference", "95 % interval", "Seeds", "Verdict", "Seeds to decide (at least)"]]
    return pd.DataFrame(long), disp


def intervals_note(spec: StudySpec) -> str:
    """The note under the intervals table: what a difference is, how it is resampled, and the verdict rules."""
    floor = method_label(spec.c3[2]) if spec.c3 else "the floor"
    cells = f"the {len(spec.columns)} {'test sets' if spec.benchmarks else 'tasks'}"
    c2 = ("C2 supported if the lower bound > 0, not supported if the upper < 0, else undecided; " if spec.c2 else "")
    return (f"Difference: {spec.suite_label} of the first method minus that of the second, in points (primary metric x 100), "
            f"averaged over the seeds; 95 % percentile interval of {spec.n_boot} paired bootstrap replicates (seeds resampled with "
            "replacement, then the test items per benchmark, the same items for both methods: drawn once for all seeds where "
            "the seeds share their test items, else per seed; each benchmark's metric, "
            f"MCC and Pearson included, recomputed on each resample). C3's row is a ratio: the share of NeuroAda k=20's gain over "
            f"{floor} that k=1 keeps. Rules: C1 supported if the lower bound > -{spec.margin:g} (non-inferior within {spec.margin:g} "
            f"point), not supported if the upper bound < 0 (and the lower <= -{spec.margin:g}), else undecided; {c2}C3 supported if "
            f"the ratio's lower bound >= {spec.threshold:g}, not supported if its upper bound < {spec.threshold:g}, undecided "
            f"otherwise or when k=20 does not clearly beat {floor}. Any missing run (of seeds {','.join(map(str, spec.seeds))} x "
            f"{cells}) makes a verdict undecided. Context rows have no verdict. Seeds to decide: for an undecided {'C1 or C2' if spec.c2 else 'C1'} row "
            "with every run in, the fewest seeds at which the verdict would be decided if the difference stayed where it is and "
            "the interval narrowed as 1/sqrt(seeds) (`stats.seeds_to_decide`); a lower bound, since seeds share test items.")


def row_text(r: IntervalRow, with_verdict: bool = True) -> str:
    """`+1.59 [-2.20, +5.40] points (undecided)`, `not run yet`, or the ratio's `0.70 [0.44, 0.99]`."""
    iv = r.interval
    if iv is None or not iv.ok:
        return NOT_RUN
    if r.units == "ratio":
        s = f"{iv.estimate:.2f} [{iv.low:.2f}, {iv.high:.2f}]"
    else:
        s = f"{iv.estimate:+.2f} [{iv.low:+.2f}, {iv.high:+.2f}] points"
    if iv.missing:
        s += f" on seed{'s' * (len(iv.seeds) > 1)} {','.join(map(str, iv.seeds))} only"
    return s + (f" ({r.verdict.status})" if with_verdict and r.verdict else "")


def _missing_text(rows: Sequence[IntervalRow], spec: StudySpec) -> str:
    triples = list(dict.fromkeys(t for r in rows if r.interval is not None for t in r.interval.missing))
    return stats.format_missing(triples, spec.seeds, spec.columns) if triples else ""


def claim_sentences(rows: Sequence[IntervalRow], spec: StudySpec) -> dict[str, tuple[str, str]]:
    """claim -> (status, one sentence). C1 overall: supported if supported against every core baseline
    (`spec.c1_core`, the paper's LoRA, DoRA and full FT), not supported if not supported against one of them,
    undecided otherwise; the other C1 rows are reported beside it. C2 likewise over all its rows; C3 is its one row.
    An undecided claim names its missing runs."""
    out = {}
    c1 = [r for r in rows if r.claim == "C1"]
    core = [r for r in c1 if r.b in spec.c1_core and r.a == spec.reference]
    rest = [r for r in c1 if r not in core]
    status = stats.combine_verdicts([r.verdict for r in core])
    detail = (f"{spec.suite_label} of {method_label(spec.reference)} minus " + ", minus ".join(f"{method_label(r.b)} {row_text(r)}" for r in core)
              + ("; beside it, " + ", ".join(f"{method_label(r.a)} minus {method_label(r.b)} {row_text(r)}" for r in rest) if rest else ""))
    out["C1"] = (status, _sentence("C1", status, spec, detail, core))
    c2 = [r for r in rows if r.claim == "C2"]
    if spec.c2:  # a study without a selection ablation (the decoder study) makes no C2 statement
        status = stats.combine_verdicts([r.verdict for r in c2])
        detail = (f"{spec.suite_label} of {method_label(c2[0].a)} minus " + ", minus ".join(f"{method_label(r.b)} {row_text(r)}" for r in c2)) if c2 else "no comparison defined"
        out["C2"] = (status, _sentence("C2", status, spec, detail, c2))
    c3 = [r for r in rows if r.claim == "C3"]
    status = c3[0].verdict.status if c3 else stats.UNDECIDED
    if c3 and c3[0].interval is not None and c3[0].interval.ok:
        den = c3[0].interval.denominator
        detail = (f"{c3[0].label} = {row_text(c3[0], with_verdict=False)} (threshold {spec.threshold:g}; the gain of "
                  f"{method_label(spec.c3[1])} over {method_label(spec.c3[2])} is {den.estimate:+.2f} [{den.low:+.2f}, {den.high:+.2f}] points)")
    else:
        detail = f"{c3[0].label}: {NOT_RUN}" if c3 else "no comparison defined"
    out["C3"] = (status, _sentence("C3", status, spec, detail, c3))
    return out


def _sentence(claim: str, status: str, spec: StudySpec, detail: str, rows: Sequence[IntervalRow]) -> str:
    head = f"**{claim}** ({spec.claim_text.get(claim, claim)}): **{status}** at this scale"
    missing = _missing_text(rows, spec)
    if status == stats.UNDECIDED and missing:
        head += f", missing runs ({missing})"
    elif status == stats.UNDECIDED and rows and all(r.verdict is not None for r in rows):
        reasons = sorted({r.verdict.reason for r in rows if r.verdict.status == stats.UNDECIDED and "interval" not in r.verdict.reason})
        head += f" ({'; '.join(reasons)})" if reasons else ""
    return f"{head}: {detail}."
