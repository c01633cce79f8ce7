"""Run records (`results/runs/<run_id>/record.json`, written by `neuroada.pipeline`) as pandas DataFrames.

- `load_records(root)`: every record under a folder (recursively), parsed.
- `metrics_frame(records)`: tidy, one row per (run, phase, eval set, metric); `phase` is `after` (the
  fine-tuned model's metrics) or `before` (the pretrained model's, when the run evaluated it).
- `runs_frame(records)`: one row per run (method, parameters, time, memory).
- `aggregate_seeds(metrics)`: mean, std and count over seeds of the same configuration.
"""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

log = logging.getLogger(__name__)
RECORD_FILE = "record.json"

# Eval sets that are benchmarks of their own (joint-training suites evaluate several per run); any other
# eval set (e.g. GLUE's re-split "dev"/"test") is named after its task.
BENCHMARKS = {
    "commonsense": ["boolq", "piqa", "siqa", "hellaswag", "winogrande", "arc_easy", "arc_challenge", "obqa"],
    "math": ["multiarith", "gsm8k", "addsub", "aqua", "singleeq", "svamp", "mawps"],
    "glue": ["cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte"],
}
KNOWN_BENCHMARKS = {b for v in BENCHMARKS.values() for b in v}
EVAL_SET_PREFERENCE = ("test", "dev", "validation")  # which eval set stands for a task that has several

RUN_COLUMNS = ["run_id", "status", "model", "task", "suite", "method", "method_tag", "k", "r", "selection", "seed",
               "trainable_params", "total_params", "trainable_percent", "primary_metric", "steps", "train_time_s",
               "tokens_per_s", "peak_memory_bytes", "peak_memory_kind", "device", "wall_time_s", "attempts",
               "wall_time_all_attempts_s", "git_commit", "git_dirty", "created", "path"]
METRIC_COLUMNS = ["run_id", "model", "task", "suite", "method", "method_tag", "k", "r", "seed", "trainable_percent",
                  "primary_metric", "phase", "eval_set", "benchmark", "metric", "value", "n", "is_primary"]
GROUP_KEYS = ["model", "task", "suite", "method", "method_tag", "phase", "eval_set", "benchmark", "metric"]


STUDY_DIRS = ("glue_study", "decoder_study")  # studies have their own notebooks; kept out of the other tables
SUPERSEDED_DIR = "superseded"  # records of a protocol since replaced (each folder's README says why): in no table


def load_records(root: str | Path | Iterable[str | Path], exclude: Iterable[str] = (*STUDY_DIRS, SUPERSEDED_DIR)) -> list[dict[str, Any]]:
    """Every `record.json` under `root` (or under each of several roots), sorted by run id; records inside a
    sub-folder named in `exclude` (by default the studies', which their own notebooks read, and superseded ones)
    are left out.

    A file that is not valid JSON or has no `run_id` is skipped with a warning (a run still being written
    never leaves a half file: `write_record` is atomic, but copies can be)."""
    roots = [root] if isinstance(root, (str, Path)) else list(root)
    out = []
    for r in roots:
        r = Path(r)
        paths = [r] if r.is_file() else sorted(r.rglob(RECORD_FILE)) if r.is_dir() else []
        paths = [p for p in paths if p == r or not set(p.relative_to(r).parts[:-1]) & set(exclude)]
        for p in paths:
            try:
                rec = json.loads(p.read_text())
            except (OSError, json.JSONDecodeError) as e:
                log.warning("skipping %s: %s", p, e)
                continue
            if not isinstance(rec, dict) or "run_id" not in rec:
                log.warning("skipping %s: not a run record", p)
                continue
            rec.setdefault("_path", str(p))
            out.append(rec)
    return sorted(out, key=lambda r: r["run_id"])


def _records(records_or_root) -> list[dict]:
    if isinstance(records_or_root, (str, Path)):
        return load_records(records_or_root)
    return list(records_or_root)


def _method_field(rec: dict, key: str):
    m = (rec.get("config") or {}).get("method") or {}
    return m.get(key)


def benchmark_name(suite: str | None, task: str, eval_set: str) -> str:
    return eval_set if eval_set in KNOWN_BENCHMARKS or eval_set == task else task


def _peak(rec: dict) -> tuple[float | None, str | None]:
    pm = rec.get("peak_memory") or {}
    if pm.get("cuda_max_allocated_bytes") is not None:
        return pm["cuda_max_allocated_bytes"], "cuda_max_allocated"
    if pm.get("cpu_peak_rss_bytes") is not None:
        return pm["cpu_peak_rss_bytes"], "cpu_peak_rss"
    return None, None


def runs_frame(records_or_root) -> pd.DataFrame:
    """One row per run: what ran, its trainable share, time and peak memory."""
    rows = []
    for rec in _records(records_or_root):
        train = rec.get("train") or {}
        git = rec.get("git") or {}
        peak, kind = _peak(rec)
        rows.append({
            "run_id": rec["run_id"], "status": rec.get("status"), "model": rec.get("model"), "task": rec.get("task"),
            "suite": rec.get("suite"), "method": rec.get("method"), "method_tag": rec.get("method_tag") or rec.get("method"),
            "k": _method_field(rec, "k"), "r": _method_field(rec, "r"), "selection": _method_field(rec, "selection"),
            "seed": rec.get("seed"), "trainable_params": rec.get("trainable_params"), "total_params": rec.get("total_params"),
            "trainable_percent": rec.get("trainable_percent"), "primary_metric": rec.get("primary_metric"),
            "steps": train.get("steps"), "train_time_s": train.get("train_time_s"), "tokens_per_s": train.get("tokens_per_s"),
            "peak_memory_bytes": peak, "peak_memory_kind": kind, "device": rec.get("device") or (rec.get("peak_memory") or {}).get("device"),
            "wall_time_s": rec.get("wall_time_s"), "attempts": rec.get("attempts", 1),
            "wall_time_all_attempts_s": rec.get("wall_time_all_attempts_s", rec.get("wall_time_s")), "git_commit": git.get("commit"), "git_dirty": git.get("dirty"),
            "created": rec.get("created"), "path": rec.get("_path"),
        })
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def metrics_frame(records_or_root, phases: Iterable[str] = ("after", "before")) -> pd.DataFrame:
    """Tidy metrics: one row per (run, phase, eval set, metric). `n` (the eval set's size) is a column, not
    a metric; `is_primary` marks the task's primary metric."""
    rows = []
    for rec in _records(records_or_root):
        primary = rec.get("primary_metric") or "accuracy"
        base = {"run_id": rec["run_id"], "model": rec.get("model"), "task": rec.get("task"), "suite": rec.get("suite"),
                "method": rec.get("method"), "method_tag": rec.get("method_tag") or rec.get("method"),
                "k": _method_field(rec, "k"), "r": _method_field(rec, "r"), "seed": rec.get("seed"),
                "trainable_percent": rec.get("trainable_percent"), "primary_metric": primary}
        sizes = rec.get("eval_sizes") or {}
        for phase in phases:
            metrics = rec.get("metrics" if phase == "after" else f"metrics_{phase}") or {}
            selection_set = (rec.get("selection") or {}).get("set")
            for eval_set, ms in metrics.items():
                if not isinstance(ms, dict) or (eval_set == selection_set and (len(metrics) > 1 or rec.get("eval_scope") == "selection")):
                    continue  # the set that chose the checkpoint is never a reported score (a tuning run has no other yet)
                n = ms.get("n", sizes.get(eval_set))
                for metric, value in ms.items():
                    if metric == "n" or isinstance(value, bool) or not isinstance(value, (int, float)):
                        continue
                    rows.append({**base, "phase": phase, "eval_set": eval_set, "benchmark": benchmark_name(rec.get("suite"), rec.get("task"), eval_set),
                                 "metric": metric, "value": float(value), "n": n, "is_primary": metric == primary})
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def aggregate_seeds(metrics: pd.DataFrame, keys: Iterable[str] = GROUP_KEYS) -> pd.DataFrame:
    """Mean, sample std (NaN for one seed) and number of seeds of every metric of the same configuration
    (same model, task, method tag, phase, eval set, metric); `seeds` lists them, `trainable_percent` is the
    mean over the runs (identical across seeds for a deterministic selection)."""
    keys = list(keys)
    if metrics.empty:
        return pd.DataFrame(columns=[*keys, "mean", "std", "n_seeds", "seeds", "trainable_percent", "n", "is_primary"])
    g = metrics.groupby(keys, dropna=False, sort=True)
    out = g.agg(mean=("value", "mean"), std=("value", "std"), n_seeds=("seed", "nunique"),
                trainable_percent=("trainable_percent", "mean"), n=("n", "max"), is_primary=("is_primary", "max")).reset_index()
    seeds = g["seed"].agg(lambda s: ",".join(str(x) for x in sorted(set(s.dropna()))))
    out["seeds"] = seeds.values
    return out


def fmt_bytes(n: float | None, unit: str = "GB") -> str:
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return ""
    scale = {"GB": 1e9, "MB": 1e6, "GiB": 2**30, "MiB": 2**20}[unit]
    return f"{n / scale:.2f} {unit}"
