"""The counted runs' scores: one row per (run, benchmark), suite averages, parameter counts, per-method rows."""
from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

import pandas as pd

from .. import stats
from ..records import benchmark_name
from ..study import UNTRAINED as UNTRAINED_METHOD
from ..tables import method_label
from .spec import HEAD, StudySpec

HIDDEN_SIZE = {"minilm-l6": 384}  # the head-size fallback when a task has no head-only run: hidden x labels + labels


def floor_records(records: Sequence[Mapping], spec: StudySpec) -> list[dict]:
    """The untrained model as a method of its own (`spec.floor_tag`), standing at each of `spec.seeds`: the latest
    completed `method=untrained` run that scored every column, else the earliest completed run that evaluated before
    training (`metrics_before` on every column), its `before` scores and predictions as that run's `after` ones. Greedy
    decoding of the same fixed test items gives the same answers whatever the run's seed, so one evaluation serves every
    seed. [] when none has one."""
    if not spec.floor_tag:
        return []

    def scored(rec: Mapping, key: str) -> bool:
        return rec.get("status") == "completed" and rec.get("task") in spec.tasks and set(spec.columns) <= set(rec.get(key) or {})

    by_time = lambda rec: str(rec.get("created", ""))  # noqa: E731
    own = sorted((r for r in records if r.get("method") == UNTRAINED_METHOD and scored(r, "metrics")), key=by_time)
    if own:
        return [{**own[-1], "method_tag": spec.floor_tag, "seed": seed, "scored_phase": "after"} for seed in spec.seeds]
    done = sorted((r for r in records if scored(r, "metrics_before")), key=by_time)
    if not done:
        return []
    base = done[0]
    return [{**base, "method_tag": spec.floor_tag, "method": spec.floor_tag, "seed": seed, "trainable_params": 0,
             "metrics": base["metrics_before"], "metrics_before": None, "run_id": f"{base.get('run_id')}:before",
             "scored_phase": "before"}
            for seed in spec.seeds]


def scores_frame(records: Iterable[Mapping], eval_sets: Iterable[str] | None = None, drop_trained: bool = False) -> pd.DataFrame:
    """One row per (counted run, reported benchmark): task, benchmark, method_tag, seed, score (primary x 100; NaN
    -> 0), trainable_params, head_params (None in records before it was recorded), total_params, model, num_labels.
    With `drop_trained`, a set with items whose question was trained on (`trained_questions`) is rescored from
    its predictions without them (a floor record's from its `scored_phase`)."""
    rows = []
    for rec in records:
        primary = rec.get("primary_metric") or "accuracy"
        for eval_set in stats.report_sets(rec, eval_sets):
            v = (rec["metrics"][eval_set] or {}).get(primary)
            if drop_trained and stats.trained_keys(rec, eval_set):
                v = stats.load_items(rec, [eval_set], drop_trained=True)
                v = next(iter(v.values())).score() if v else None  # predictions missing: the cell is missing, not scored on all items
                if v is None:
                    continue
            v = 0.0 if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)
            rows.append({"task": rec.get("task"), "benchmark": benchmark_name(rec.get("suite"), rec.get("task"), eval_set),
                         "method_tag": rec.get("method_tag"), "seed": rec.get("seed"), "score": 100 * v,
                         "trainable_params": rec.get("trainable_params"), "head_params": rec.get("head_params"),
                         "total_params": rec.get("total_params"), "model": rec.get("model"),
                         "num_labels": ((rec.get("config") or {}).get("task") or {}).get("num_labels")})
    return pd.DataFrame(rows, columns=["task", "benchmark", "method_tag", "seed", "score", "trainable_params", "head_params", "total_params",
                                       "model", "num_labels"])


def suite_averages(scores: pd.DataFrame, benchmarks: Sequence[str]) -> pd.DataFrame:
    """method_tag, seed, avg: the mean over `benchmarks` of the seeds that have all of them."""
    if scores.empty:
        return pd.DataFrame(columns=["method_tag", "seed", "avg"])
    wide = scores[scores["benchmark"].isin(benchmarks)].pivot_table(index=["method_tag", "seed"], columns="benchmark", values="score")
    wide = wide.reindex(columns=list(benchmarks)).dropna()
    return wide.mean(axis=1).rename("avg").reset_index()


def head_params(scores: pd.DataFrame, head_tag: str = HEAD) -> dict:
    """task -> parameters of the classification head: the records' `head_params`, else the head-only runs'
    trainable count, else hidden x labels + labels (HIDDEN_SIZE: a `classifier`-only head) for a known model;
    0 for a generation task (no labels, no head)."""
    out = {}
    for task, g in scores.groupby("task"):
        recorded = g["head_params"].dropna() if "head_params" in g else ()
        if len(recorded):
            out[task] = int(recorded.mode().iloc[0])
            continue
        if g["num_labels"].isna().all() and g["model"].notna().all():
            out[task] = 0
            continue
        h = g.loc[g["method_tag"] == head_tag, "trainable_params"].dropna()
        if len(h):
            out[task] = int(h.mode().iloc[0])
            continue
        model, labels = g["model"].iloc[0], g["num_labels"].dropna()
        if model in HIDDEN_SIZE and len(labels):
            nl = int(labels.iloc[0])
            out[task] = HIDDEN_SIZE[model] * nl + nl
    return out


def _method_params(scores: pd.DataFrame, tag: str, heads: Mapping) -> tuple[float, float, float]:
    """(trainable params on a task with the most common head, body params, % of the body) of a method."""
    g = scores[scores["method_tag"] == tag].drop_duplicates(["task"])
    if g.empty:
        return math.nan, math.nan, math.nan
    trainable = float(g["trainable_params"].mode().iloc[0])
    g = g[g["task"].isin(heads)]
    if g.empty:
        return trainable, math.nan, math.nan
    h = g["task"].map(heads).astype(float)
    body = (g["trainable_params"] - h)
    pct = 100 * body / (g["total_params"] - h)
    return trainable, float(body.mode().iloc[0]), float(pct.mean())


def _mean_std(values: pd.Series) -> tuple[float, float, int]:
    v = values.dropna()
    return (float(v.mean()) if len(v) else math.nan, float(v.std()) if len(v) > 1 else math.nan, len(v))


def method_rows(scores: pd.DataFrame, tags: Sequence[str], benchmarks: Sequence[str], heads: Mapping) -> pd.DataFrame:
    """Numeric rows: method_tag, method, trainable_params, body_params, body_percent, <bench>_mean/_std/_n, avg_mean,
    avg_std, n_seeds (seeds with every benchmark), seeds_min (fewest seeds of any benchmark)."""
    avgs = suite_averages(scores, benchmarks)
    rows = []
    for tag in tags:
        g = scores[scores["method_tag"] == tag]
        trainable, body, pct = _method_params(scores, tag, heads)
        row = {"method_tag": tag, "method": method_label(tag), "trainable_params": trainable, "body_params": body, "body_percent": pct}
        for b in benchmarks:
            row[f"{b}_mean"], row[f"{b}_std"], row[f"{b}_n"] = _mean_std(g.loc[g["benchmark"] == b, "score"])
        row["avg_mean"], row["avg_std"], row["n_seeds"] = _mean_std(avgs.loc[avgs["method_tag"] == tag, "avg"])
        row["seeds_min"] = min(row[f"{b}_n"] for b in benchmarks) if benchmarks else 0
        rows.append(row)
    return pd.DataFrame(rows)
