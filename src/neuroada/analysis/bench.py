"""The benchmark's JSON (`experiments/bench/bench.py`, e.g. `results/cuda/bench_cuda*.json`) as a table and a
figure: one row per (shape, method, k) with the median step time, its ratio to the frozen backbone measured
in the same process, and the peak memory (the device's `max_memory_allocated` on CUDA, else the tracked total)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import pandas as pd

from .study_report import write_table

MIB = 2**20
COLUMNS = ["device", "dtype", "shape", "method", "k", "r", "kernel", "trainable", "median_ms", "ratio_to_frozen", "ratio_paired",
           "peak_mib", "peak_kind", "tracked_total_mib", "commit"]


def _model_shape(model: dict) -> str:
    c = model.get("config", {})
    return (f"{c.get('shape', 'smollm2')}-shaped model ({c.get('num_hidden_layers', '?')} layers x {c.get('hidden_size', '?')}, "
            f"{c.get('batch', '?')} x {c.get('seq_len', '?')} tokens)")


def _rows(shape: str, results: Iterable[dict], env: dict, settings: dict) -> list[dict]:
    rows = []
    for r in results:
        mem = r.get("memory", {})
        cuda_peak = mem.get("cuda_max_memory_allocated")
        rows.append({"device": env.get("gpu") or settings.get("device") or env.get("device"), "dtype": settings.get("dtype") or env.get("dtype"),
                     "shape": shape, "method": r["method"], "k": r.get("k"), "r": r.get("r"), "kernel": r.get("kernel_resolved"), "trainable": r.get("trainable"),
                     "median_ms": 1e3 * r["median_s"], "ratio_to_frozen": r.get("ratio_to_frozen"), "ratio_paired": r.get("ratio_to_frozen_paired"),
                     "peak_mib": (cuda_peak if cuda_peak is not None else mem.get("total", float("nan"))) / MIB,
                     "peak_kind": "cuda max allocated" if cuda_peak is not None else "tracked total",
                     "tracked_total_mib": mem.get("total", float("nan")) / MIB,
                     "commit": (env.get("git_commit") or "")[:7] + ("+changes" if env.get("git_dirty") else "")})
    return rows


def bench_frame(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Every result of the given benchmark JSON files (model and layer suites), in file order."""
    rows = []
    for path in paths:
        d = json.loads(Path(path).read_text())
        env, settings = d.get("env", {}), d.get("settings", {})
        if "model" in d:
            rows += _rows(_model_shape(d["model"]), d["model"]["results"], env, settings)
        for layer in d.get("layers", []):
            rows += _rows(f"{layer['shape']} ({layer['d_out']}x{layer['d_in']}, {layer['tokens']} tokens)", layer["results"], env, settings)
    return pd.DataFrame(rows, columns=COLUMNS)


def bench_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The display form: one row per shape x method x k, times in ms, ratios, peak in MiB."""
    def k_label(r) -> str:
        if pd.isna(r["k"]):
            return "–"
        if not pd.isna(r["r"]):
            return f"r={int(r['r'])} (k={int(r['k'])}'s count)"
        return f"k={int(r['k'])}"

    out = pd.DataFrame({
        "Shape": frame["shape"], "Method": frame["method"], "k / r": [k_label(r) for _, r in frame.iterrows()],
        "Trainable": frame["trainable"].map(lambda v: f"{int(v):,}"),
        "Step (ms, median)": frame["median_ms"].map(lambda v: f"{v:.2f}"),
        "x frozen": frame["ratio_to_frozen"].map(lambda v: f"{v:.2f}"),
        "x frozen (paired)": frame["ratio_paired"].map(lambda v: "–" if pd.isna(v) else f"{v:.2f}"),
        "Peak (MiB)": frame["peak_mib"].map(lambda v: f"{v:,.0f}"),
        "Tracked total (MiB)": frame["tracked_total_mib"].map(lambda v: f"{v:,.0f}"),
    })
    return out.reset_index(drop=True)


def write_bench_table(frame: pd.DataFrame, out_dir: str | Path, name: str, what: str) -> list[Path]:
    devices = ", ".join(sorted({str(d) for d in frame["device"].dropna()}))
    dtypes = ", ".join(sorted({str(d) for d in frame["dtype"].dropna()}))
    kinds = ", ".join(sorted(set(frame["peak_kind"])))
    commits = ", ".join(sorted({c for c in frame["commit"] if c}))
    caption = f"{what}: one training step per method ({devices}, {dtypes}; commit {commits})"
    note = (f"Measured (experiments/bench/bench.py). x frozen: median step time over the frozen backbone's, measured in the same "
            f"process; paired: the median of per-repeat ratios. Peak: {kinds} (in one process, so it includes what earlier "
            f"methods left allocated); tracked total: parameters, buffers, gradients, optimizer state and the step's peak, "
            f"counted per method (neuroada.memory). LoRA/DoRA at the rank whose parameter count is "
            f"closest to NeuroAda's at that k.")
    return write_table(out_dir, name, bench_table(frame), caption, note, csv=frame)
