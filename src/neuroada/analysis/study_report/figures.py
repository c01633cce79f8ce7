"""The study's figures: eval curves at the chosen lr, and the accuracy vs trainable-parameters frontier."""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from ..tables import method_label, task_label
from ._format import NOT_RUN
from .scores import suite_averages
from .spec import StudySpec


def plot_curves(records: Sequence[Mapping], spec: StudySpec, path: str | Path) -> Path:
    """Selection-set score (primary x 100) vs training step of `spec.curves` at their chosen lr, one panel per
    task: mean over seeds, band = min/max; the evidence that the budget levelled off."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..plots import _save

    colors = ["#2A9D8F", "#264653", "#E76F51", "#F4A261"]
    n = len(spec.tasks)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.2), squeeze=False)
    for ax, task in zip(axes[0], spec.tasks):
        drawn = False
        for color, tag in zip(colors, spec.curves):
            pts = []
            for rec in records:
                if rec.get("task") != task or rec.get("method_tag") != tag:
                    continue
                sel = rec.get("selection") or {}
                metric = sel.get("metric") or rec.get("primary_metric")
                for p in sel.get("curve") or []:
                    v = p.get(metric)
                    pts.append({"seed": rec.get("seed"), "step": p.get("step"), "value": 100 * (v if v is not None and math.isfinite(v) else 0.0)})
            if not pts:
                continue
            df = pd.DataFrame(pts).groupby("step")["value"].agg(["mean", "min", "max", "count"]).reset_index()
            seeds = len({p["seed"] for p in pts})
            ax.plot(df["step"], df["mean"], marker="o", ms=3, color=color, label=f"{method_label(tag)} ({seeds} seed{'s' * (seeds > 1)})")
            ax.fill_between(df["step"], df["min"], df["max"], color=color, alpha=0.2, lw=0)
            drawn = True
        ax.set_title(task_label(task), fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if drawn:
            ax.legend(fontsize=6, loc="lower right")
        else:
            ax.text(0.5, 0.5, NOT_RUN, ha="center", va="center", transform=ax.transAxes)
    axes[0][0].set_ylabel("selection-set score (x 100)")
    fig.suptitle(f"{spec.name}: selection-set score vs step at the chosen lr (mean over seeds, band = min-max)", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def frontier_points(scores: pd.DataFrame, spec: StudySpec) -> pd.DataFrame:
    """family, size (k or r), method_tag, params (trainable, median over tasks), avg mean/std/n over seeds."""
    avgs = suite_averages(scores, spec.columns)
    rows = []
    for family, rx, fmt in spec.frontier:
        for tag in sorted(set(scores["method_tag"])):
            m = re.fullmatch(rx, tag)
            if not m:
                continue
            a = avgs.loc[avgs["method_tag"] == tag, "avg"]
            params = scores.loc[scores["method_tag"] == tag, "trainable_params"].median()
            rows.append({"family": family, "size": fmt.format(m.group(1).replace("matchk", "match k=")), "method_tag": tag, "params": params,
                         "mean": a.mean() if len(a) else math.nan, "std": a.std() if len(a) > 1 else 0.0, "n_seeds": len(a)})
    return pd.DataFrame(rows, columns=["family", "size", "method_tag", "params", "mean", "std", "n_seeds"])


def _param_count(x: float, _pos=None) -> str:
    """A tick label for a parameter count: 40k, 200k, 1.5M."""
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if x >= div:
            return f"{x / div:.3g}{unit}"
    return f"{x:.3g}"


def plot_frontier(scores: pd.DataFrame, spec: StudySpec, path: str | Path) -> Path:
    """Suite average vs trainable parameters (log x), one line per family (NeuroAda k, LoRA r), error bars = std
    over seeds; the reference methods (head only, full FT) as horizontal lines."""
    from ..plots import _save

    return _save(frontier_figure(scores, spec), path)


def frontier_figure(scores: pd.DataFrame, spec: StudySpec):
    """`plot_frontier`'s figure, not saved."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = frontier_points(scores, spec)
    pts = pts[pts["n_seeds"] > 0]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = [("#2A9D8F", "o", "-"), ("#264653", "s", "--"), ("#E76F51", "^", "-.")]
    for (family, g), (color, marker, ls) in zip(pts.groupby("family", sort=False), styles):
        g = g.sort_values("params")
        ax.errorbar(g["params"], g["mean"], yerr=g["std"], color=color, marker=marker, ls=ls, capsize=3, label=family)
        for r in g.itertuples(index=False):
            ax.annotate(f"{r.size}" + (f" ({r.n_seeds})" if r.n_seeds < len(spec.seeds) else ""), (r.params, r.mean),
                        textcoords="offset points", xytext=(4, 4), fontsize=7, color=color)
    avgs = suite_averages(scores, spec.columns)
    for tag, ls in zip(spec.reference_lines, (":", "-.")):
        a = avgs.loc[avgs["method_tag"] == tag, "avg"]
        if len(a):
            ax.axhline(a.mean(), color="#6C757D", ls=ls, label=f"{method_label(tag)} ({a.mean():.1f})")
    if len(pts):
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        ax.set_xscale("log")  # ticks at 1, 2, 5 x 10^n: the points often span less than one decade
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(_param_count))
        ax.xaxis.set_minor_formatter(NullFormatter())
    else:
        ax.text(0.5, 0.5, NOT_RUN, ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("trainable parameters (log scale, classification head included)")
    ax.set_ylabel(f"{spec.suite_label} (mean ± std over seeds)")
    ax.set_title(f"{spec.name}: {spec.suite_label} vs trainable parameters at the chosen lr\n(n) = number of seeds, when fewer than "
                 f"{len(spec.seeds)}", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="lower right")
    return fig
