"""Paper-style suite tables (methods x tasks, reported next to reproduced) and the run summary, from run records.

A suite table has one block of rows per (model, method): the reported row (results/reference), the
reproduced row (mean over seeds of the run records, +- the sample std when there are several) and, when
both exist, the difference (reproduced - reported, in points). Columns: model, method, training set,
source, trainable %, one column per task in the paper's order, avg.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from ..records import EVAL_SET_PREFERENCE, aggregate_seeds, metrics_frame, runs_frame
from .labels import MODEL_ORDER, PAPER_TRAIN_TASK, SUITE_ORDER, _method_sort_key, _order, method_label, model_label, task_label
from .render import MISSING, _num, _write, render_latex

SOURCES = ("reported", "reproduced", "difference")


def load_reference(root: str | Path) -> pd.DataFrame:
    """Every CSV of `results/reference/` in one frame (columns as documented in its README)."""
    files = sorted(Path(root).glob("*.csv"))
    if not files:
        return pd.DataFrame(columns=["model", "method", "method_tag", "k", "r", "params_percent", "suite", "task", "metric", "value", "source", "kind"])
    return pd.concat([pd.read_csv(f) for f in files], ignore_index=True)


def _pick_eval_sets(agg: pd.DataFrame) -> pd.DataFrame:
    """One eval set per (run config, benchmark): a benchmark eval set itself, else test > dev > validation."""
    if agg.empty:
        return agg
    rank = {name: i for i, name in enumerate(EVAL_SET_PREFERENCE)}
    agg = agg.assign(_rank=[0 if e == b else 1 + rank.get(e, len(rank)) for e, b in zip(agg["eval_set"], agg["benchmark"])])
    keys = ["model", "task", "method_tag", "benchmark", "metric"]
    agg = agg.sort_values("_rank").drop_duplicates(keys, keep="first")
    return agg.drop(columns="_rank")


def suite_tasks(suite: str, reproduced: pd.DataFrame | None = None, reference: pd.DataFrame | None = None) -> list[str]:
    found: list[str] = []
    if reference is not None and not reference.empty:
        found += [t for t in reference.loc[reference["suite"] == suite, "task"] if t != "avg"]
    if reproduced is not None and not reproduced.empty:
        found += list(reproduced.loc[reproduced["suite"] == suite, "benchmark"])
    return _order(found, SUITE_ORDER.get(suite, []))


OWN_TRAIN = "each task's own"


def suite_table(metrics: pd.DataFrame, reference: pd.DataFrame, suite: str, *, phase: str = "after", scale: float = 100.0,
                tasks: Sequence[str] | None = None) -> pd.DataFrame:
    """The numeric table of one suite (see the module docstring). `metrics` is `records.metrics_frame`
    output; reproduced values are the primary metric times `scale` (accuracy in percent), averaged over
    seeds. Columns: model, method_tag, method, train, source, params_percent, n_seeds, one per task,
    avg, avg_tasks (how many tasks the average covers), and `<task>_std` for reproduced rows."""
    agg = aggregate_seeds(metrics[(metrics["phase"] == phase) & (metrics["suite"] == suite) & metrics["is_primary"]]) if not metrics.empty else pd.DataFrame()
    agg = _pick_eval_sets(agg)
    ref = reference[reference["suite"] == suite] if not reference.empty else reference
    tasks = list(tasks) if tasks is not None else suite_tasks(suite, agg, ref)
    rows = []
    # reported
    if ref is not None and not ref.empty:
        for (model, tag), g in ref.groupby(["model", "method_tag"], sort=False):
            vals = dict(zip(g["task"], g["value"].astype(float)))
            pp = g["params_percent"].dropna()
            rows.append({"model": model, "method_tag": tag, "train": PAPER_TRAIN_TASK.get(suite, ""), "source": "reported",
                         "params_percent": float(pp.iloc[0]) if len(pp) else math.nan, "n_seeds": math.nan,
                         **{t: vals.get(t, math.nan) for t in tasks}, "avg": vals.get("avg", math.nan),
                         "avg_tasks": sum(t in vals for t in tasks)})
    # reproduced
    if not agg.empty:
        # Tasks trained on their own train set (GLUE) share one row per method: train = OWN_TRAIN.
        agg = agg.assign(_train=[OWN_TRAIN if t == b else t for t, b in zip(agg["task"], agg["benchmark"])])
        for (model, tag, train), g in agg.groupby(["model", "method_tag", "_train"], sort=False):
            g = g[g["benchmark"].isin(tasks)]
            if g.empty:
                continue
            mean = dict(zip(g["benchmark"], g["mean"] * scale))
            std = dict(zip(g["benchmark"], g["std"] * scale))
            present = [t for t in tasks if t in mean]
            rows.append({"model": model, "method_tag": tag, "train": train, "source": "reproduced",
                         "params_percent": float(g["trainable_percent"].mean()), "n_seeds": int(g["n_seeds"].max()),
                         **{t: mean.get(t, math.nan) for t in tasks}, "avg": sum(mean[t] for t in present) / len(present),
                         "avg_tasks": len(present), **{f"{t}_std": std.get(t, math.nan) for t in tasks}})
    table = pd.DataFrame(rows)
    if table.empty:
        return pd.DataFrame(columns=["model", "method_tag", "method", "train", "source", "params_percent", "n_seeds", *tasks, "avg", "avg_tasks"])
    # differences: reproduced - reported, per task and averaged over the tasks both have
    diffs = []
    reported = {(r.model, r.method_tag): r for r in table[table["source"] == "reported"].itertuples(index=False)}
    for r in table[table["source"] == "reproduced"].to_dict("records"):
        rep = reported.get((r["model"], r["method_tag"]))
        if rep is None:
            continue
        rep = rep._asdict()
        d = {t: r[t] - rep[t] for t in tasks}
        common = [t for t in tasks if not math.isnan(d[t])]
        diffs.append({"model": r["model"], "method_tag": r["method_tag"], "train": r["train"], "source": "difference",
                      "params_percent": r["params_percent"] - rep["params_percent"], "n_seeds": math.nan, **d,
                      "avg": sum(d[t] for t in common) / len(common) if common else math.nan, "avg_tasks": len(common)})
    table = pd.concat([table, pd.DataFrame(diffs)], ignore_index=True) if diffs else table
    table.insert(2, "method", [method_label(t) for t in table["method_tag"]])
    models = _order(table["model"], MODEL_ORDER)
    table["_m"] = table["model"].map(models.index)
    table["_t"] = table["method_tag"].map(_method_sort_key)
    table["_s"] = table["source"].map(SOURCES.index)
    table = table.sort_values(["_m", "_t", "train", "_s"], kind="stable").drop(columns=["_m", "_t", "_s"]).reset_index(drop=True)
    return table


def display_suite_table(table: pd.DataFrame, *, latex: bool = False, digits: int = 1) -> pd.DataFrame:
    """Strings for a suite table: tasks and avg to `digits` decimals, `mean ± std` for reproduced rows
    over several seeds, signed differences, `avg` marked `(n/N)` when it covers fewer tasks than the table."""
    fixed = {"model", "method_tag", "method", "train", "source", "params_percent", "n_seeds", "avg", "avg_tasks"}
    tasks = [c for c in table.columns if c not in fixed and not c.endswith("_std")]
    pm = r"$\pm$" if latex else "±"
    out = []
    for r in table.to_dict("records"):
        diff = r["source"] == "difference"
        row = {"Model": model_label(r["model"]), "Method": r["method"], "Train": r["train"] or MISSING,
               "Source": r["source"] + (f" ({int(r['n_seeds'])} seeds)" if r["source"] == "reproduced" and r.get("n_seeds", 0) > 1 else ""),
               "Params (%)": _num(r["params_percent"], ".3f", signed=diff)}
        for t in tasks:
            s = _num(r[t], f".{digits}f", signed=diff)
            std = r.get(f"{t}_std")
            if r["source"] == "reproduced" and std is not None and not (isinstance(std, float) and math.isnan(std)):
                s += f" {pm} {std:.{digits}f}"
            row[task_label(t)] = s
        avg = _num(r["avg"], f".{digits}f", signed=diff)
        if r["source"] != "reported" and not (isinstance(r["avg"], float) and math.isnan(r["avg"])) and r["avg_tasks"] < len(tasks):
            avg += f" ({int(r['avg_tasks'])}/{len(tasks)})"
        row["Avg"] = avg
        out.append(row)
    cols = ["Model", "Method", "Train", "Source", "Params (%)", *[task_label(t) for t in tasks], "Avg"]
    return pd.DataFrame(out, columns=cols)


def runs_table(runs: pd.DataFrame, metrics: pd.DataFrame, *, scale: float = 100.0) -> pd.DataFrame:
    """One row per configuration (model, training task, method tag) over its seeds: primary metric averaged
    over the eval sets (mean ± std over seeds), trainable %, steps, training time, tokens/s, peak memory."""
    cols = ["Model", "Task", "Method", "Seeds", "Primary metric", "Eval sets", "Score", "Params (%)", "Steps", "Train time (s)",
            "Tokens/s", "Peak memory (GB)", "Memory measure"]
    if runs.empty:
        return pd.DataFrame(columns=cols)
    prim = metrics[(metrics["phase"] == "after") & metrics["is_primary"]] if not metrics.empty else metrics
    per_run = prim.groupby("run_id")["value"].mean() if not prim.empty else pd.Series(dtype=float)
    n_sets = prim.groupby("run_id")["eval_set"].nunique() if not prim.empty else pd.Series(dtype=int)
    runs = runs.assign(score=runs["run_id"].map(per_run) * scale, n_sets=runs["run_id"].map(n_sets))
    out = []
    for (model, task, tag), g in runs.groupby(["model", "task", "method_tag"], sort=False, dropna=False):
        sc = g["score"].dropna()
        score = MISSING if sc.empty else f"{sc.mean():.1f}" + (f" ± {sc.std():.1f}" if len(sc) > 1 else "")
        mem = g["peak_memory_bytes"].dropna()
        out.append({"Model": model_label(model), "Task": task, "Method": method_label(tag), "Seeds": ",".join(str(s) for s in sorted(g["seed"].dropna().unique())),
                    "Primary metric": g["primary_metric"].iloc[0], "Eval sets": "" if g["n_sets"].isna().all() else int(g["n_sets"].max()),
                    "Score": score, "Params (%)": _num(g["trainable_percent"].mean(), ".4f"), "Steps": _num(g["steps"].mean(), ".0f"),
                    "Train time (s)": _num(g["train_time_s"].mean(), ".0f"), "Tokens/s": _num(g["tokens_per_s"].mean(), ".0f"),
                    "Peak memory (GB)": _num(mem.max() / 1e9 if len(mem) else math.nan, ".2f"),
                    "Memory measure": ",".join(sorted(set(g["peak_memory_kind"].dropna()))) or MISSING,
                    "_m": model, "_t": _method_sort_key(tag)})
    df = pd.DataFrame(out)
    df["_mi"] = df["_m"].map(lambda m: MODEL_ORDER.index(m) if m in MODEL_ORDER else len(MODEL_ORDER))
    df = df.sort_values(["_mi", "_m", "Task", "_t"]).drop(columns=["_m", "_t", "_mi"])
    return df[cols].reset_index(drop=True)


SUITE_CAPTIONS = {"commonsense": "Commonsense reasoning (accuracy, %)", "math": "Arithmetic reasoning (accuracy, %)",
                  "glue": "GLUE (primary metric x 100)"}
SUITE_NOTE = ("Reported: the sources in results/reference (labelled as reported). Reproduced: mean over seeds of this "
              "repository's run records (± sample std). Difference: reproduced − reported, in points; its Avg is the mean "
              "of the per-task differences over the tasks both rows have. An Avg marked (n/N) covers n of the N tasks. "
              "– = not available.")


def write_tables(runs_root: str | Path, reference_root: str | Path, out_dir: str | Path, *, suites: Iterable[str] | None = None) -> list[Path]:
    """Regenerates `<suite>.md|.tex|.csv` for every suite with reported or reproduced numbers (at least
    commonsense and math, which have reference numbers) and `runs.md|.tex` (every reproduced configuration)."""
    out_dir = Path(out_dir)
    metrics = metrics_frame(runs_root)
    runs = runs_frame(runs_root)
    reference = load_reference(reference_root)
    found = set(reference["suite"].dropna()) | set(metrics["suite"].dropna())
    suites = list(suites) if suites is not None else _order(found, list(SUITE_ORDER))
    written = []
    for suite in suites:
        table = suite_table(metrics, reference, suite)
        out_dir.mkdir(parents=True, exist_ok=True)
        table.to_csv(out_dir / f"{suite}.csv", index=False)
        written.append(out_dir / f"{suite}.csv")
        md_df = display_suite_table(table)
        caption = SUITE_CAPTIONS.get(suite, f"{suite} (primary metric x 100)")
        written += _write(out_dir, suite, md_df, caption, SUITE_NOTE)
        # the .tex needs its own strings ($\pm$): rewrite it from the LaTeX display
        (out_dir / f"{suite}.tex").write_text(render_latex(display_suite_table(table, latex=True), caption=caption, label=f"tab:{suite}"))
    written += _write(out_dir, "runs", runs_table(runs, metrics), "Reproduced runs (score: primary metric x 100, averaged over eval sets; mean ± std over seeds)")
    return written
