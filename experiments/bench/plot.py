#!/usr/bin/env python
"""Plots of a bench JSON (experiments/bench/bench.py): step-time ratios and memory per method.

    python experiments/bench/plot.py results/bench/bench_cpu.json
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

MB = 2**20
MEM_PARTS = [("parameters", "parameters"), ("buffers", "buffers (idx, masks)"), ("gradients", "gradients"),
             ("optimizer_state", "optimizer state"), ("activations", "saved activations"), ("temporaries", "temporaries")]
COLORS = {"frozen": "#7f7f7f", "lora": "#1f77b4", "dora": "#17becf", "neuroada": "#d62728", "released": "#ff7f0e",
          "masked": "#9467bd", "full": "#2ca02c", "neuroada[gather_bmm]": "#f2a0a0", "neuroada[dense_gather]": "#c97b7b",
          "neuroada[sampled_addmm]": "#e05555", "neuroada[sampled_addmm_tiled]": "#a31515", "neuroada[sampled_cpu]": "#7a0f0f",
          "neuroada[pytorch]": "#4d0000"}


def _color(method: str) -> str:
    return COLORS.get(method, "#e377c2" if method.startswith("neuroada") else "#bcbd22")


def _label(r: dict[str, Any]) -> str:
    return r["method"] if r["k"] is None else f"{r['method']}\nk={r['k']}"


def _rows_for_k(results: list[dict], k: int) -> list[dict]:
    return [r for r in results if r["k"] in (None, k)]


def plot_model(res: dict[str, Any], out: Path, stem: str, env: dict[str, Any]) -> list[Path]:
    results = res["results"]
    ks = sorted({r["k"] for r in results if r["k"] is not None})
    cfg = res["config"]
    title = (f"SmolLM2-135M shape, {cfg['num_hidden_layers']} layers, {cfg['tokens']} tokens, "
             f"{env['device']} {env['dtype']}, {env['threads']} threads")
    paths = []
    # time
    fig, axes = plt.subplots(1, len(ks), figsize=(6.5 * len(ks), 4.6), squeeze=False)
    for ax, k in zip(axes[0], ks):
        rows = _rows_for_k(results, k)
        ratios = [r["ratio_to_frozen"] for r in rows]
        ax.bar(range(len(rows)), ratios, color=[_color(r["method"]) for r in rows])
        for i, v in enumerate(ratios):
            ax.text(i, v + 0.01, f"{v:.2f}", ha="center", va="bottom", fontsize=8)
        cpu = [r.get("ratio_to_frozen_cpu") for r in rows]
        if all(c is not None for c in cpu):
            ax.plot(range(len(rows)), cpu, "k_", ms=14, mew=2, ls="none", label="CPU-time ratio")
            ratios = ratios + cpu
        ax.axhline(1.0, color="k", lw=0.8)
        ax.axhline(1.10, color="#d62728", lw=0.8, ls="--", label="target for NeuroAda: 1.10")
        ax.set_xticks(range(len(rows)), [r["method"] for r in rows], rotation=40, ha="right", fontsize=8)
        ax.set_ylabel("step time / frozen (median)")
        ax.set_title(f"k = {k} (LoRA r matched: {next((r.get('r') for r in rows if r['method'] == 'lora'), '-')})", fontsize=10)
        ax.set_ylim(0, max(ratios) * 1.12)
        ax.legend(fontsize=8, loc="lower right", framealpha=0.9)
    fig.suptitle(f"Training-step time: {title}\nbars and labels: median wall time; black marks: median CPU time; "
                 f"frozen backbone median {res['frozen_median_s'] * 1e3:.0f} ms", fontsize=10)
    fig.tight_layout()
    paths.append(_save(fig, out / f"{stem}_model_time.png"))
    # memory
    if all(r.get("memory") for r in results):
        fig, axes = plt.subplots(1, len(ks), figsize=(6.5 * len(ks) + 1.6, 4.8), squeeze=False)
        for ax, k in zip(axes[0], ks):
            rows = _rows_for_k(results, k)
            bottom = [0.0] * len(rows)
            for key, label in MEM_PARTS:
                vals = [(r["memory"].get(key) or 0) / MB for r in rows]
                ax.bar(range(len(rows)), vals, bottom=bottom, label=label)
                bottom = [b + v for b, v in zip(bottom, vals)]
            for i, r in enumerate(rows):
                ax.text(i, bottom[i], f"{r['memory']['accounted'] / MB:.0f}", ha="center", va="bottom", fontsize=7)
            ax.set_xticks(range(len(rows)), [r["method"] for r in rows], rotation=40, ha="right", fontsize=8)
            ax.set_ylabel("MB")
            ax.set_title(f"k = {k}", fontsize=10)
            if k == ks[-1]:
                ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.suptitle(f"Training-step memory: {title}\nbar labels: parameters + buffers + gradients + optimizer state + "
                     "saved activations (MB); temporaries on top", fontsize=10)
        fig.tight_layout()
        paths.append(_save(fig, out / f"{stem}_model_memory.png"))
    return paths


def plot_layers(layers: list[dict[str, Any]], out: Path, stem: str, env: dict[str, Any]) -> list[Path]:
    ks = sorted({r["k"] for g in layers for r in g["results"] if r["k"] is not None})
    methods = []
    for g in layers:
        for r in g["results"]:
            if r["method"] != "frozen" and r["method"] not in methods:
                methods.append(r["method"])
    fig, axes = plt.subplots(len(ks), 1, figsize=(max(8, 1.3 * len(layers) * len(methods) / 4), 3.6 * len(ks)), squeeze=False)
    width = 0.8 / len(methods)
    for ax, k in zip(axes[:, 0], ks):
        for j, m in enumerate(methods):
            xs, ys = [], []
            for i, g in enumerate(layers):
                r = next((r for r in g["results"] if r["method"] == m and r["k"] in (None, k)), None)
                if r is not None:
                    xs.append(i - 0.4 + width * (j + 0.5))
                    ys.append(r["ratio_to_frozen"])
            ax.bar(xs, ys, width=width, color=_color(m), label=m, edgecolor="white", lw=0.3)
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_xticks(range(len(layers)), [f"{g['shape']}\n{g['d_out']}x{g['d_in']}\nfrozen {g['frozen_median_s'] * 1e3:.0f} ms" for g in layers], fontsize=7)
        ax.set_ylabel("step time / frozen")
        ax.set_title(f"single layers, {layers[0]['tokens']} tokens, k = {k}", fontsize=10)
        ax.legend(fontsize=7, ncol=len(methods), loc="upper center", bbox_to_anchor=(0.5, -0.28), frameon=False)
    fig.suptitle(f"{env['device']} {env['dtype']}, {env['threads']} threads", fontsize=9)
    fig.tight_layout()
    return [_save(fig, out / f"{stem}_layers_time.png")]


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_results(result: dict[str, Any], out: str | Path, stem: str) -> list[Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    if result.get("model"):
        paths += plot_model(result["model"], out, stem, result["env"])
    if result.get("layers"):
        paths += plot_layers(result["layers"], out, stem, result["env"])
    return paths


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        p = Path(arg)
        for path in plot_results(json.loads(p.read_text()), p.parent, p.stem):
            print(f"wrote {path}")
