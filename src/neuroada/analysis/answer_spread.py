"""How varied a run's answers are, beside the best constant answer: reading a score near chance.

A small model trained briefly can give one answer to every item of a set ("the correct answer is answer1");
its accuracy is then the share of that answer among the gold labels, and two methods that each collapse onto
a different constant differ by label frequencies, not by what they learned. Per run and test set this gives the
share of items that received the run's most common answer, and per set the accuracy of the best constant answer
on the same items (the most common gold answer, chosen in hindsight: an upper bound on any constant predictor). On a
set that mixes answer formats (the decoder study's selection set: answer1-5, option1-4, solution1-2, ending1-4,
true/false) the constant is one answer per format, the most that a model which ignores the question can score.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Iterable, Mapping, Sequence

import pandas as pd

from . import stats
from .records import benchmark_name
from .tables import method_label, task_label

COLUMNS = ["method_tag", "seed", "benchmark", "n", "accuracy", "top_answer", "top_share", "distinct", "constant_accuracy"]


def _answer(row: Mapping) -> str:
    """What the run answered: the extracted answer (generation; None = nothing extracted) or the class index."""
    return str(row["extracted"] if "extracted" in row else row.get("prediction"))


def answer_format(gold: str) -> str:
    """`answer3` -> `answer`; any number -> `number` (GLUE's class indices, arithmetic); any other word -> `word`."""
    label = re.fullmatch(r"([A-Za-z_]+)\d+", gold)
    if label:
        return label.group(1)
    return "number" if re.fullmatch(r"-?[\d.,]+", gold) else "word"


def best_constant_correct(golds: Iterable[str]) -> int:
    """Items the best one-answer-per-format predictor gets right (chosen in hindsight)."""
    by_format: dict[str, Counter] = {}
    for g in golds:
        by_format.setdefault(answer_format(g), Counter())[g] += 1
    return sum(c.most_common(1)[0][1] for c in by_format.values())


def answer_spread(records: Iterable[Mapping], eval_sets: Iterable[str] | None = None, phase: str = "after") -> pd.DataFrame:
    """One row per (run, reported set with predictions): accuracy, the most common answer and its share of items
    (%), the number of distinct answers, and the best constant answer's accuracy on the same items (%)."""
    rows = []
    for rec in records:
        for eval_set in stats.report_sets(rec, eval_sets):
            path = stats.predictions_path(rec, eval_set, phase)
            if path is None:
                continue
            preds = stats.read_predictions(path)
            if not preds:
                continue
            answers = Counter(_answer(p) for p in preds)
            top, top_n = answers.most_common(1)[0]
            n = len(preds)
            rows.append({"method_tag": rec.get("method_tag") or rec.get("method"), "seed": rec.get("seed"),
                         "benchmark": benchmark_name(rec.get("suite"), rec.get("task"), eval_set), "n": n,
                         "accuracy": 100.0 * sum(bool(p.get("correct")) for p in preds) / n, "top_answer": top,
                         "top_share": 100.0 * top_n / n, "distinct": len(answers),
                         "constant_accuracy": 100.0 * best_constant_correct(str(p.get("gold")) for p in preds) / n})
    return pd.DataFrame(rows, columns=COLUMNS)


def spread_table(spread: pd.DataFrame, tags: Sequence[str], benchmarks: Sequence[str],
                 constant_label: str = "Best constant answer (same items)") -> pd.DataFrame:
    """Per method (mean over its runs): "accuracy (share of its most common answer)" per set; a last row gives
    the best constant answer's accuracy per set. Methods without runs are left out."""
    out = []
    for tag in tags:
        g = spread[spread["method_tag"] == tag]
        if g.empty:
            continue
        row = {"Method": method_label(tag), "Runs": int(g[["seed"]].drop_duplicates().shape[0])}
        for b in benchmarks:
            c = g[g["benchmark"] == b]
            row[task_label(b)] = "–" if c.empty else f"{c['accuracy'].mean():.1f} ({c['top_share'].mean():.0f} %)"
        out.append(row)
    if not spread.empty:
        row = {"Method": constant_label, "Runs": "–"}
        for b in benchmarks:
            c = spread.loc[spread["benchmark"] == b, "constant_accuracy"]  # GLUE: each seed has its own test half
            row[task_label(b)] = "–" if c.empty else f"{c.mean():.1f}"
        out.append(row)
    return pd.DataFrame(out)


def collapsed_share(spread: pd.DataFrame, threshold: float = 90.0) -> tuple[int, int]:
    """(cells whose most common answer covers at least `threshold` % of the items, all cells)."""
    return int((spread["top_share"] >= threshold).sum()), len(spread)


def _answers_by_item(rec: Mapping, eval_set: str, phase: str) -> dict:
    """Item (its data row, else its index) -> what the run answered."""
    path = stats.predictions_path(rec, eval_set, phase)
    preds = stats.read_predictions(path) if path is not None else []
    return {p["row"] if p.get("row") is not None else p.get("index", i): _answer(p) for i, p in enumerate(preds)}  # as stats.items_from_rows keys them


def answer_agreement(records: Iterable[Mapping], eval_sets: Iterable[str] | None = None, phase: str = "after") -> pd.DataFrame:
    """Do two runs give the same answer item by item? One row per (pair of runs, set) for every two runs that
    share a seed (two methods on the same data order) or a method (two seeds of it), over the items both scored:
    the share answered alike (%) and the share two runs with these answer frequencies would share by chance (%).
    Agreement near 100 % well above chance means the two runs are, on that set, the same predictor."""
    runs = []
    for rec in records:
        tag = rec.get("method_tag") or rec.get("method")
        for eval_set in stats.report_sets(rec, eval_sets):
            answers = _answers_by_item(rec, eval_set, phase)
            if answers:
                runs.append((tag, rec.get("seed"), benchmark_name(rec.get("suite"), rec.get("task"), eval_set), answers))
    rows = []
    for i, (tag_a, seed_a, bench, a) in enumerate(runs):
        for tag_b, seed_b, bench_b, b in runs[i + 1:]:
            if bench_b != bench or (tag_a == tag_b) == (seed_a == seed_b):  # same seed across methods, or same method across seeds
                continue
            items = sorted(set(a) & set(b), key=str)
            if not items:
                continue
            n = len(items)
            freq_a, freq_b = Counter(a[k] for k in items), Counter(b[k] for k in items)
            rows.append({"method_a": tag_a, "seed_a": seed_a, "method_b": tag_b, "seed_b": seed_b, "benchmark": bench, "n": n,
                         "agree": 100.0 * sum(a[k] == b[k] for k in items) / n,
                         "chance": 100.0 * sum(freq_a[x] * freq_b[x] for x in freq_a) / n ** 2})
    return pd.DataFrame(rows, columns=["method_a", "seed_a", "method_b", "seed_b", "benchmark", "n", "agree", "chance"])


def agreement_table(agreement: pd.DataFrame, reference: str, tags: Sequence[str], benchmarks: Sequence[str]) -> pd.DataFrame:
    """Rows: the reference against each other method on the same seed, then each method's seeds against each other.
    Cells: "answered alike % (chance %)", mean over the pairs; All: pooled over the sets' items."""
    def row(label, pairs):
        out = {"Runs compared": label, "Pairs": int(pairs[["seed_a", "seed_b", "method_a", "method_b"]].drop_duplicates().shape[0])}
        for b in benchmarks:
            c = pairs[pairs["benchmark"] == b]
            out[task_label(b)] = "–" if c.empty else f"{c['agree'].mean():.0f} ({c['chance'].mean():.0f})"
        w = pairs["n"]
        out["All"] = f"{(pairs['agree'] * w).sum() / w.sum():.1f} ({(pairs['chance'] * w).sum() / w.sum():.1f})"
        return out

    a = agreement[agreement["benchmark"].isin(benchmarks)]
    out = []
    for tag in tags:
        pairs = a[(a["seed_a"] == a["seed_b"]) & (((a["method_a"] == reference) & (a["method_b"] == tag))
                                                  | ((a["method_b"] == reference) & (a["method_a"] == tag)))]
        if tag != reference and not pairs.empty:
            out.append(row(f"{method_label(reference)} vs {method_label(tag)}, same seed", pairs))
    for tag in tags:
        pairs = a[(a["method_a"] == tag) & (a["method_b"] == tag)]
        if not pairs.empty:
            out.append(row(f"{method_label(tag)}, one seed vs another", pairs))
    return pd.DataFrame(out)
