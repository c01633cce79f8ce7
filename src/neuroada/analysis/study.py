"""Learning-rate choice for a study: per (task, method), the lr whose selected checkpoint scores best on the
selection set (never the test set), with a flag when that lr is at the edge of the grid tried.

    python -m neuroada.analysis.study choose results/runs/glue_study [--seed 1]

prints one tab-separated line per (task, method_tag): task, method_tag, chosen lr, its selection score,
the grid, and `widen=<lr>` (the next value beyond the edge, same log spacing) when the choice is at an edge.
Ties go to an lr inside the grid where one ties (then the smaller): a best score shared by an edge and an inner lr
is reached inside the grid, and widening past the edge would only find the same plateau again (NeuroAda k=1 on
MRPC: 74.5 at 2.7e-4, 9e-4 and 3e-3, the model at the majority class). Otherwise ties go to the smaller lr.
A flat grid (every lr scored the same: nothing moved the selection score, as CoLA's MCC stuck at 0) keeps the
smallest lr as its choice but is widened upwards and marked `flat`: a larger lr is the one that might learn.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd

from .records import load_records

SELECTION_SET = "validation"
UNTRAINED = "untrained"  # record["method"] of a run that trained nothing (conf/method/untrained.yaml)


def selection_scores(records: list[dict], seed: int = 1) -> pd.DataFrame:
    """One row per completed run of `seed`: task, method_tag, lr and the selection-set score of the checkpoint
    the run reported (its primary metric). A method=untrained run trained at no lr: it has no row."""
    rows = []
    for rec in records:
        if rec.get("status") != "completed" or rec.get("seed") != seed or SELECTION_SET not in (rec.get("metrics") or {}):
            continue
        if rec.get("method") == UNTRAINED:
            continue
        value = rec["metrics"][SELECTION_SET].get(rec["primary_metric"])
        rows.append({"task": rec["task"], "method_tag": rec["method_tag"], "lr": float(rec["config"]["trainer"]["lr"]),
                     "score": value if value is not None and math.isfinite(value) else -math.inf})
    return pd.DataFrame(rows, columns=["task", "method_tag", "lr", "score"])


def choose_lr(scores: pd.DataFrame) -> pd.DataFrame:
    """The best lr per (task, method_tag) (ties: the smaller lr inside the grid, else the smaller), the grid, and
    where to widen it."""
    out = []
    for (task, tag), group in scores.groupby(["task", "method_tag"], sort=True):
        grid = sorted(group["lr"].unique())
        flat = len(grid) >= 2 and group["score"].nunique() == 1
        tied = group[group["score"] == group["score"].max()].sort_values("lr")
        inner = tied[(tied["lr"] > grid[0]) & (tied["lr"] < grid[-1])]
        best = (inner if len(inner) and not flat else tied).iloc[0]
        widen = None
        if len(grid) >= 2 and (flat or best["lr"] == grid[-1]):
            widen = grid[-1] * grid[-1] / grid[-2]
        elif len(grid) >= 2 and best["lr"] == grid[0]:
            widen = grid[0] * grid[0] / grid[1]
        out.append({"task": task, "method_tag": tag, "lr": best["lr"], "score": best["score"], "grid": grid,
                    "at_edge": widen is not None, "widen": widen, "flat": flat})
    return pd.DataFrame(out, columns=["task", "method_tag", "lr", "score", "grid", "at_edge", "widen", "flat"])


def _fmt(lr: float) -> str:
    return f"{lr:.3g}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    choose = sub.add_parser("choose", help="print the chosen lr per (task, method)")
    choose.add_argument("root", type=Path)
    choose.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    table = choose_lr(selection_scores(load_records(args.root), seed=args.seed))
    for row in table.itertuples():
        edge = f"\twiden={_fmt(row.widen)}" if row.at_edge else ""
        edge += "\tflat" if row.flat else ""
        print(f"{row.task}\t{row.method_tag}\t{_fmt(row.lr)}\t{row.score:.4f}\tgrid={','.join(map(_fmt, row.grid))}{edge}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
