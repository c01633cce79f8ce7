"""Figures: estimated memory per method (stacked by category) and vs k, the estimator's validation, and the
measured peak memory of run records. Every function writes one PNG and returns its path (Agg backend)."""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from .tables import CATEGORY_LABELS, MEMORY_CATEGORIES, _method_sort_key, estimate_setting, method_label, model_label, peak_split  # noqa: E402

GB = 1e9
CATEGORY_COLORS = {"parameters": "#4C72B0", "buffers": "#8C8C8C", "gradients": "#DD8452", "optimizer_state": "#C44E52",
                   "activations": "#55A868", "temporaries": "#CCB974"}
METHOD_STYLES = {"neuroada": ("#2A9D8F", "o", "-"), "released": ("#E76F51", "s", "-"), "masked": ("#8E6C8A", "^", "-"),
                 "lora": ("#264653", None, "--"), "dora": ("#F4A261", None, "-."), "full": ("#6C757D", None, ":")}
SPARSE = ("neuroada", "released", "masked")


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_memory_by_method(estimates: pd.DataFrame, model: str, path: str | Path, k: int = 20) -> Path:
    """Stacked bars: one per method (sparse methods at `k`), segments = memory categories, total on top."""
    df = estimates[(estimates["model"] == model) & (estimates["k"].isna() | (estimates["k"] == k))]
    df = df.sort_values("method_tag", key=lambda s: s.map(_method_sort_key))
    split = peak_split(df)
    fig, ax = plt.subplots(figsize=(8.5, 4.8))
    labels = [method_label(t) for t in df["method_tag"]]
    x = range(len(df))
    bottom = [0.0] * len(df)
    for c in MEMORY_CATEGORIES:
        vals = (split[c].fillna(0) / GB).tolist()
        ax.bar(x, vals, bottom=bottom, color=CATEGORY_COLORS[c], label=CATEGORY_LABELS[c] + (" (at the peak)" if c in ("gradients", "activations", "temporaries") else ""), width=0.7)
        bottom = [b + v for b, v in zip(bottom, vals)]
    for i, tot in enumerate(split["peak"] / GB):
        ax.text(i, tot, f"{tot:.1f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(x), labels, rotation=20, ha="right")
    ax.set_ylabel("peak training memory (GB)")
    ax.set_title(f"{model_label(model)}: estimated peak memory of one training step\n({estimate_setting(df)})", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def plot_memory_vs_k(estimates: pd.DataFrame, model: str, path: str | Path) -> Path:
    """Total memory vs k for the sparse methods (lines), LoRA / DoRA / full FT as horizontal references."""
    df = estimates[estimates["model"] == model]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ks = sorted(df["k"].dropna().unique())
    for method in SPARSE:
        g = df[df["method"] == method].sort_values("k")
        if g.empty:
            continue
        color, marker, ls = METHOD_STYLES[method]
        ax.plot(g["k"], peak_split(g)["peak"] / GB, marker=marker, ls=ls, color=color, label=method_label(method))
    for method in ("lora", "dora", "full"):
        g = df[df["method"] == method]
        if g.empty:
            continue
        color, _, ls = METHOD_STYLES[method]
        ax.axhline(peak_split(g)["peak"].iloc[0] / GB, color=color, ls=ls, label=method_label(g["method_tag"].iloc[0]))
    if ks:
        ax.set_xscale("log")
        ax.set_xticks(ks, [str(int(k)) for k in ks])
        ax.minorticks_off()
    ax.set_xlabel("k (trainable connections per neuron)")
    ax.set_ylabel("peak training memory (GB)")
    ax.set_title(f"{model_label(model)}: estimated peak memory vs k\n({estimate_setting(df)})", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_validation(validation: pd.DataFrame, path: str | Path) -> Path:
    """Measured vs estimated total per method and setting (bars), with the relative error written above."""
    short = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}
    targets = validation["target"] if "target" in validation else pd.Series([None] * len(validation))
    devices = validation["device"] if "device" in validation else pd.Series([""] * len(validation))
    labels = [f"{t}, {short.get(d, d)}" + (f", {tg} dropout" if isinstance(tg, str) and not str(dev).startswith(tg) else "")
              for t, d, tg, dev in zip(validation["method_tag"], validation["dtype"], targets, devices)]
    fig, ax = plt.subplots(figsize=(max(7, 0.6 * len(validation) + 2), 5))
    x = list(range(len(validation)))
    which = "peak" if "measured_peak" in validation and validation["measured_peak"].notna().all() else "total"
    measured, estimated = validation[f"measured_{which}"], validation[f"estimated_{which}"]
    ax.bar([i - 0.2 for i in x], measured / 2**20, width=0.4, label=f"measured {which}", color="#4C72B0")
    ax.bar([i + 0.2 for i in x], estimated / 2**20, width=0.4, label=f"estimated {which}", color="#55A868")
    for i, (m, e) in enumerate(zip(measured, estimated)):
        ax.text(i, m / 2**20, f"{100 * (e - m) / m:+.2f}%", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, labels, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("training-step memory (MiB)")
    if len(validation):
        ax.set_title(f"Estimator vs measured step ({validation['model'].iloc[0]}, batch {validation['batch'].iloc[0]} x "
                     f"{validation['seq'].iloc[0]}, {validation['device'].iloc[0] if 'device' in validation else ''})", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def plot_run_memory(runs: pd.DataFrame, path: str | Path) -> Path:
    """Measured peak memory of every run record (GB), one bar per run, grouped by model and task."""
    df = runs.dropna(subset=["peak_memory_bytes"]).copy()
    df["_t"] = df["method_tag"].map(_method_sort_key)
    df = df.sort_values(["model", "task", "_t", "seed"])
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(df) + 2), 4.5))
    colors = [METHOD_STYLES.get(m, ("#999999", None, None))[0] for m in df["method"]]
    ax.bar(range(len(df)), df["peak_memory_bytes"] / GB, color=colors)
    ax.set_xticks(range(len(df)), [f"{model_label(m)} {t}\n{method_label(mt)} s{s}" for m, t, mt, s in
                                   zip(df["model"], df["task"], df["method_tag"], df["seed"])], rotation=60, ha="right", fontsize=7)
    kinds = ", ".join(sorted(set(df["peak_memory_kind"].dropna())))
    ax.set_ylabel("measured peak memory (GB)")
    ax.set_title(f"Run records: measured peak memory ({kinds or 'none'})", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    if df.empty:
        ax.text(0.5, 0.5, "no run record with a peak-memory measurement", ha="center", va="center", transform=ax.transAxes)
    return _save(fig, path)


def plot_suite_scores(table: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Avg per (model, method): reported vs reproduced bars, from a `tables.suite_table`."""
    df = table[table["source"].isin(["reported", "reproduced"])]
    keys = list(dict.fromkeys(zip(df["model"], df["method_tag"])))
    fig, ax = plt.subplots(figsize=(max(6, 0.8 * len(keys) + 2), 4.5))
    for j, (src, color) in enumerate((("reported", "#8C8C8C"), ("reproduced", "#2A9D8F"))):
        vals = []
        for m, t in keys:
            v = df[(df["model"] == m) & (df["method_tag"] == t) & (df["source"] == src)]["avg"]
            vals.append(v.mean() if len(v) else math.nan)
        ax.bar([i + (j - 0.5) * 0.4 for i in range(len(keys))], vals, width=0.4, color=color, label=src)
    ax.set_xticks(range(len(keys)), [f"{model_label(m)}\n{method_label(t)}" for m, t in keys], rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("average score")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)
