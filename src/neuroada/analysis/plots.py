"""Figures: estimated memory per method (stacked by category) and vs k, the estimator's validation, and the
measured peak memory of run records. Every function writes one PNG and returns its path (Agg backend)."""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from .tables.labels import MODEL_ORDER, _method_sort_key, _order, method_label, model_label  # noqa: E402
from .tables.memory import (CATEGORY_LABELS, CHECKPOINTING_LABELS, MEMORY_CATEGORIES, checkpointing_of, estimate_setting, peak_split,  # noqa: E402
                            select_setting)

GB = 1e9
CATEGORY_COLORS = {"parameters": "#4C72B0", "buffers": "#8C8C8C", "gradients": "#DD8452", "optimizer_state": "#C44E52",
                   "activations": "#55A868", "recomputed": "#64B5CD", "temporaries": "#CCB974"}
METHOD_STYLES = {"neuroada": ("#2A9D8F", "o", "-"), "released": ("#E76F51", "s", "-"), "masked": ("#8E6C8A", "^", "-"),
                 "lora": ("#264653", None, "--"), "dora": ("#F4A261", None, "-."), "full": ("#6C757D", None, ":")}
SPARSE = ("neuroada", "released", "masked")


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_memory_by_method(estimates: pd.DataFrame, model: str, path: str | Path, k: int = 20, *, batch: int | None = None,
                          checkpointing: str = "none") -> Path:
    """Stacked bars: one per method (sparse methods at `k`), segments = memory categories, total on top; one batch
    size (default: the k sweep's) and one checkpointing mode."""
    df = select_setting(estimates, batch=batch, checkpointing=checkpointing)
    df = df[(df["model"] == model) & (df["k"].isna() | (df["k"] == k))]
    df = df.sort_values("method_tag", key=lambda s: s.map(_method_sort_key))
    split = peak_split(df)
    fig, ax = plt.subplots(figsize=(8.5, 4.8))
    labels = [method_label(t) for t in df["method_tag"]]
    x = range(len(df))
    bottom = [0.0] * len(df)
    for c in MEMORY_CATEGORIES:
        if c == "recomputed" and checkpointing == "none":
            continue
        vals = (split[c].fillna(0) / GB).tolist()
        ax.bar(x, vals, bottom=bottom, color=CATEGORY_COLORS[c], label=CATEGORY_LABELS[c] + (" (at the peak)" if c in ("gradients", "activations", "recomputed", "temporaries") else ""), width=0.7)
        bottom = [b + v for b, v in zip(bottom, vals)]
    for i, tot in enumerate(split["peak"] / GB):
        ax.text(i, tot, f"{tot:.1f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(x), labels, rotation=20, ha="right")
    ax.set_ylabel("peak training memory (GB)")
    ax.set_title(f"{model_label(model)}: estimated peak memory of one training step\n({estimate_setting(df)})", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def plot_memory_vs_k(estimates: pd.DataFrame, model: str, path: str | Path, *, batch: int | None = None, checkpointing: str = "none") -> Path:
    """Total memory vs k for the sparse methods (lines), LoRA / DoRA / full FT as horizontal references."""
    df = select_setting(estimates, batch=batch, checkpointing=checkpointing)
    df = df[df["model"] == model]
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


def plot_checkpointing(estimates: pd.DataFrame, path: str | Path, k: int = 20, mode: str = "non_reentrant") -> Path:
    """One panel per model: the estimated peak of each method (sparse methods at `k`) without (light) and with
    (dark) activation checkpointing, at each batch size the estimates have; a dashed line at the bf16 weights."""
    df = estimates[estimates["k"].isna() | (estimates["k"] == k)].copy()
    df["_ckpt"] = checkpointing_of(df)
    models = _order(df["model"], MODEL_ORDER)
    batches = sorted(df.loc[df["_ckpt"] == mode, "batch"].unique(), reverse=True)
    fig, axes = plt.subplots(1, len(models), figsize=(5.2 * len(models), 4.6), sharey=True, squeeze=False)
    bars = [(b, c) for b in batches for c in ("none", mode)]
    width = 0.8 / max(len(bars), 1)
    for ax, model in zip(axes[0], models):
        g = df[df["model"] == model]
        tags = sorted(g["method_tag"].unique(), key=_method_sort_key)
        for j, (b, c) in enumerate(bars):
            vals = []
            for t in tags:
                r = g[(g["method_tag"] == t) & (g["batch"] == b) & (g["_ckpt"] == c)]
                vals.append(peak_split(r)["peak"].iloc[0] / GB if len(r) else math.nan)
            xs = [i + (j - (len(bars) - 1) / 2) * width for i in range(len(tags))]
            ax.bar(xs, vals, width=width, color=("#9DB9D5" if c == "none" else "#2A6F97") if j < 2 else ("#E9C6A0" if c == "none" else "#C0713A"),
                   label=f"batch {b}, {'no checkpointing' if c == 'none' else 'checkpointing'}")
            for x_, v in zip(xs, vals):
                if not math.isnan(v):
                    ax.text(x_, v, f"{v:.0f}", ha="center", va="bottom", fontsize=6)
        weights = g[g["method"] == "full"]["parameters"]
        if len(weights):
            ax.axhline(weights.iloc[0] / GB, color="k", ls="--", lw=0.8, label="bf16 weights")
        ax.set_xticks(range(len(tags)), [method_label(t) for t in tags], rotation=30, ha="right", fontsize=8)
        ax.set_title(model_label(model), fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("estimated peak training memory (GB)")
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    seq = int(df["seq"].iloc[0]) if len(df) else 0
    fig.suptitle(f"Estimated peak of one training step, without and with activation checkpointing (x {seq} tokens, bf16 + autocast, AdamW; "
                 f"sparse methods at k={k})", fontsize=10)
    return _save(fig, path)


def plot_fits(fits: pd.DataFrame, path: str | Path) -> Path:
    """The largest batch that fits each GPU size (estimated), one panel per model, without (top) and with (bottom)
    activation checkpointing; the number of sequences is written on each bar."""
    df = fits.copy()
    df["_ckpt"] = checkpointing_of(df)
    models = _order(df["model"], MODEL_ORDER)
    modes = [m for m in CHECKPOINTING_LABELS if m in set(df["_ckpt"])]
    gpus = sorted(df["gpu_gib"].unique())
    colors = ["#A8DADC", "#457B9D", "#1D3557", "#E63946"]
    fig, axes = plt.subplots(len(modes), len(models), figsize=(5.2 * len(models), 3.6 * len(modes)), sharey=True, squeeze=False)
    top = max(1, int(df["max_batch"].max()))
    for i, mode in enumerate(modes):
        for ax, model in zip(axes[i], models):
            g = df[(df["model"] == model) & (df["_ckpt"] == mode)]
            tags = sorted(g["method_tag"].unique(), key=_method_sort_key)
            width = 0.8 / max(len(gpus), 1)
            for j, gib in enumerate(gpus):
                vals = [int(g[(g["method_tag"] == t) & (g["gpu_gib"] == gib)]["max_batch"].iloc[0]) for t in tags]
                xs = [n + (j - (len(gpus) - 1) / 2) * width for n in range(len(tags))]
                ax.bar(xs, [max(v, 0.8) for v in vals], width=width, color=colors[j % len(colors)], label=f"{gib:g} GB")
                for x_, v in zip(xs, vals):
                    ax.text(x_, max(v, 0.8), str(v), ha="center", va="bottom", fontsize=6)
            ax.set_yscale("log")
            ax.set_ylim(0.7, top * 2.5)
            ax.set_xticks(range(len(tags)), [method_label(t) for t in tags], rotation=30, ha="right", fontsize=8)
            ax.set_title(f"{model_label(model)}, {CHECKPOINTING_LABELS[mode]}", fontsize=9)
            ax.grid(axis="y", alpha=0.3)
        axes[i][0].set_ylabel(f"largest batch (x {int(df['seq'].iloc[0])} tokens)")
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ks = sorted({int(k) for k in df["k"].dropna()}) if "k" in df else []
    usable = float(df["usable_fraction"].iloc[0]) if "usable_fraction" in df and len(df) else 0.9
    fig.suptitle(f"ESTIMATED largest batch that fits on one GPU (peak <= {100 * usable:.0f} % of its memory; bf16 + autocast, AdamW"
                 + (f", sparse methods k={ks[0]}" if len(ks) == 1 else "") + "; 0 = does not fit)", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_validation(validation: pd.DataFrame, path: str | Path) -> Path:
    """Measured vs estimated total per method and setting (bars), with the relative error written above."""
    short = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}
    targets = validation["target"] if "target" in validation else pd.Series([None] * len(validation))
    devices = validation["device"] if "device" in validation else pd.Series([""] * len(validation))
    ckpts = checkpointing_of(validation)
    labels = [f"{t}, {short.get(d, d)}" + (f", {tg} dropout" if isinstance(tg, str) and not str(dev).startswith(tg) else "")
              + ("" if c == "none" else ", ckpt" + (" (re)" if c == "reentrant" else ""))
              for t, d, tg, dev, c in zip(validation["method_tag"], validation["dtype"], targets, devices, ckpts)]
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


def plot_bench(frame: pd.DataFrame, path: str | Path) -> Path:
    """One row of panels per benchmarked shape (`analysis.bench.bench_frame`): the step time over the frozen
    backbone's (left) and the peak memory (right), one bar per method and k."""
    shapes = list(dict.fromkeys(frame["shape"]))
    fig, axes = plt.subplots(len(shapes), 2, figsize=(12, 0.32 * len(frame) + 1.5 * len(shapes)), squeeze=False)
    for (ax_t, ax_m), shape in zip(axes, shapes):
        df = frame[frame["shape"] == shape]
        labels = [m if pd.isna(k) else (f"{m} r={int(r)}" if not pd.isna(r) else f"{m} k={int(k)}")
                  for m, k, r in zip(df["method"], df["k"], df["r"])]
        colors = [METHOD_STYLES.get(m.split("[")[0], ("#999999",))[0] for m in df["method"]]
        y = list(range(len(df)))[::-1]
        ax_t.barh(y, df["ratio_to_frozen"], color=colors)
        ax_t.axvline(1.0, color="black", lw=0.8)
        ax_t.set_yticks(y, labels, fontsize=7)
        ax_t.set_xlabel("step time / frozen backbone's (same process)", fontsize=8)
        ax_t.set_title(shape, fontsize=9, loc="left")
        ax_m.barh(y, df["peak_mib"], color=colors)
        ax_m.set_yticks(y, [""] * len(y))
        ax_m.set_xlabel(f"peak memory (MiB, {df['peak_kind'].iloc[0]})", fontsize=8)
        for ax in (ax_t, ax_m):
            ax.grid(axis="x", alpha=0.3)
    devices = ", ".join(sorted({str(d) for d in frame["device"].dropna()}))
    fig.suptitle(f"One training step per method, measured ({devices}, {', '.join(sorted(set(frame['dtype'].dropna())))})", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    return _save(fig, path)
