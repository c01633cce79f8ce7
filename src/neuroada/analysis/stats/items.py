"""Cells: per-item predictions of runs loaded into `Items` (one run on one benchmark), and their metrics."""
from __future__ import annotations

import gzip
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..records import benchmark_name

log = logging.getLogger(__name__)

METRICS = ("accuracy", "matthews_correlation", "pearson", "f1")
SELECTION_SETS = ("validation",)  # eval sets that choose (lr, checkpoint) and are never reported

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

    def without(self, keys) -> "Items":
        """The cell less the items whose key is in `keys` (e.g. the test items whose question was trained on)."""
        keep = ~np.isin(self.keys, list(keys))
        pick = lambda a: None if a is None else a[keep]  # noqa: E731
        return Items(self.metric, self.keys[keep], pick(self.pred), pick(self.gold), pick(self.correct), self.run_id, self.resplit_seed)

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


def load_items(record: Mapping, eval_sets: Iterable[str] | None = None, phase: str | None = None, drop_trained: bool = False) -> dict[str, Items]:
    """The cells of one run: benchmark -> Items, for each reported eval set whose predictions exist (a GLUE run's
    `test` set becomes the benchmark named after its task; a commonsense run's sets keep their names). `phase`
    defaults to the record's `scored_phase` ("before" for the untrained floor, `floor_records`), else "after". With
    `drop_trained`, each cell leaves out the items the record lists in `trained_questions` (their question is
    also a training item's)."""
    phase = phase or record.get("scored_phase", "after")
    out = {}
    metric = record.get("primary_metric") or "accuracy"
    for eval_set in report_sets(record, eval_sets):
        path = predictions_path(record, eval_set, phase)
        if path is None:
            continue
        bench = benchmark_name(record.get("suite"), record.get("task"), eval_set)
        items = items_from_rows(read_predictions(path), metric, run_id=record.get("run_id", ""), resplit_seed=record.get("resplit_seed"))
        out[bench] = items.without(trained_keys(record, eval_set)) if drop_trained else items
    return out


def trained_keys(record: Mapping, eval_set: str) -> list:
    """The keys of `eval_set`'s items whose question is also a training item's (`record["trained_questions"]`).
    A record from before the field existed cannot say: an error, not a silent "none"."""
    if "trained_questions" not in record:
        raise ValueError(f"run {record.get('run_id')} has no `trained_questions` (recorded since d9c833c): cannot drop trained items")
    return list((record["trained_questions"] or {}).get(eval_set, []))


def collect_items(records: Iterable[Mapping], eval_sets: Iterable[str] | None = None, phase: str | None = None,
                  drop_trained: bool = False) -> dict[Key, Items]:
    """Every cell of completed `records`: (method_tag, seed, benchmark) -> Items (`load_items`). The caller chooses
    which runs count (e.g. only those at the chosen lr); when two runs still share a key, the later one (`created`)
    is kept."""
    out: dict[Key, Items] = {}
    created: dict[Key, str] = {}
    for rec in records:
        if rec.get("status") != "completed":
            continue
        for bench, items in load_items(rec, eval_sets, phase, drop_trained).items():
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

