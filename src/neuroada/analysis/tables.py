"""Paper-style tables: methods x tasks with the average and the trainable share, reported next to reproduced.

A suite table has one block of rows per (model, method): the reported row (results/reference), the
reproduced row (mean over seeds of the run records, +- the sample std when there are several) and, when
both exist, the difference (reproduced - reported, in points). Columns: model, method, training set,
source, trainable %, one column per task in the paper's order, avg.

`render_markdown` and `render_latex` turn any of these tables into text (no `tabulate` needed; LaTeX
through `DataFrame.to_latex`). `write_tables` regenerates every table file of `results/tables/`.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from .records import BENCHMARKS, EVAL_SET_PREFERENCE, aggregate_seeds, metrics_frame, runs_frame

TASK_LABELS = {
    "boolq": "BoolQ", "piqa": "PIQA", "siqa": "SIQA", "hellaswag": "HellaS", "winogrande": "WinoG", "arc_easy": "ARC-e",
    "arc_challenge": "ARC-c", "obqa": "OBQA", "multiarith": "MultiArith", "gsm8k": "GSM8K", "addsub": "AddSub", "aqua": "AQuA",
    "singleeq": "SingleEq", "svamp": "SVAMP", "mawps": "MAWPS", "cola": "CoLA", "sst2": "SST-2", "mrpc": "MRPC", "stsb": "STS-B",
    "qqp": "QQP", "mnli": "MNLI", "qnli": "QNLI", "rte": "RTE", "addition": "Addition", "avg": "Avg",
}
# The paper's column order (NeuroAda README); tasks of other suites follow in alphabetical order.
SUITE_ORDER = {
    "commonsense": BENCHMARKS["commonsense"],
    "math": ["multiarith", "gsm8k", "addsub", "aqua", "singleeq", "svamp", "mawps"],
    "glue": BENCHMARKS["glue"],
}
PAPER_TRAIN_TASK = {"commonsense": "commonsense170k", "math": "math10k"}
MODEL_LABELS = {"llama-7b": "LLaMA-7B", "llama-13b": "LLaMA-13B", "llama2-7b": "Llama-2-7B", "llama3-8b": "Llama-3-8B",
                "smollm2-135m": "SmolLM2-135M", "tiny-llama": "tiny-llama", "roberta-base": "RoBERTa-base", "roberta-large": "RoBERTa-large"}
MODEL_ORDER = list(MODEL_LABELS)
METHOD_NAMES = {"neuroada": "NeuroAda", "released": "NeuroAda (released code)", "lora": "LoRA", "dora": "DoRA", "full": "Full FT", "masked": "Masked sparse",
                "shira": "SHiRA", "head_only": "Head only",
                "untrained": "Untrained (no fine-tuning)"}
METHOD_ORDER = ["untrained", "head_only", "full", "lora", "dora", "shira", "masked", "released", "neuroada"]
SOURCES = ("reported", "reproduced", "difference")
MISSING = "–"


def method_label(tag: str) -> str:
    """`neuroada-k20` -> `NeuroAda (k=20)`, `lora-r32` -> `LoRA (r=32)`, `lora-rmatchk20` -> `LoRA (r matched to
    k=20)`, `full` -> `Full FT`."""
    name, _, rest = str(tag).partition("-")
    base = METHOD_NAMES.get(name, name)
    if not rest:
        return base
    if rest.startswith("rmatchk"):  # LoRA/DoRA with the rank matched to NeuroAda's parameters at k
        return f"{base} (r matched to k={rest[len('rmatchk'):]})"
    if rest[:1] in "kr" and rest[1:].split("-")[0].isdigit():
        extra = rest[1:].split("-", 1)
        label = f"{base} ({rest[0]}={extra[0]}"
        return label + (f", {extra[1]})" if len(extra) > 1 else ")")
    return f"{base} ({rest})"


def task_label(task: str) -> str:
    return TASK_LABELS.get(task, task)


def model_label(model: str) -> str:
    return MODEL_LABELS.get(model, model)


def load_reference(root: str | Path) -> pd.DataFrame:
    """Every CSV of `results/reference/` in one frame (columns as documented in its README)."""
    files = sorted(Path(root).glob("*.csv"))
    if not files:
        return pd.DataFrame(columns=["model", "method", "method_tag", "k", "r", "params_percent", "suite", "task", "metric", "value", "source", "kind"])
    return pd.concat([pd.read_csv(f) for f in files], ignore_index=True)


def _order(values: Iterable[str], order: Sequence[str]) -> list[str]:
    values = list(dict.fromkeys(values))
    known = [v for v in order if v in values]
    return known + sorted(v for v in values if v not in known)


def _method_sort_key(tag: str) -> tuple:
    name, _, rest = str(tag).partition("-")
    num = "".join(ch for ch in rest if ch.isdigit())
    return (METHOD_ORDER.index(name) if name in METHOD_ORDER else len(METHOD_ORDER), name, -int(num) if num else 0, rest)


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


# ---------------------------------------------------------------------------------------------------------
# rendering


def _num(v, fmt: str, signed: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return MISSING
    s = format(v, fmt)
    if s.lstrip("-").strip("0.") == "":  # rounds to zero: no sign, no "-0.0"
        return s.lstrip("-")
    return format(v, "+" + fmt) if signed else s


_NUMBERISH = re.compile(r"^\s*([+\-]?\d[\d,]*(\.\d+)?|–|--)(\s.*)?$")


def _alignment(df: pd.DataFrame) -> str:
    """`l` for text columns, `r` for columns whose every cell starts with a number (or is missing)."""
    out = []
    for c in df.columns:
        vals = df[c].tolist()
        numeric = all(v is None or isinstance(v, (int, float)) or bool(_NUMBERISH.match(str(v))) for v in vals) and len(vals) > 0
        out.append("r" if numeric else "l")
    return "".join(out)


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


def render_markdown(df: pd.DataFrame, align: str | None = None) -> str:
    """A GitHub-flavoured Markdown table of `df` (strings as they are; numbers with `str`); `|` escaped."""
    def cell(v) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return MISSING
        return str(v).replace("|", "\\|").replace("\n", " ")

    header = [cell(c) for c in df.columns]
    align = align or _alignment(df)
    sep = [":---" if a == "l" else "---:" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                  "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "–": "--", "±": r"$\pm$", "Δ": r"$\Delta$",
                  "−": "$-$"}


def latex_escape(s) -> str:
    s = str(s)
    if r"$\pm$" in s:  # already LaTeX
        head, _, tail = s.partition(r"$\pm$")
        return latex_escape(head) + r"$\pm$" + latex_escape(tail)
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in s)


def render_latex(df: pd.DataFrame, caption: str | None = None, label: str | None = None) -> str:
    """A booktabs LaTeX table (`DataFrame.to_latex`, which needs jinja2); cells and headers escaped here."""
    esc = df.copy()
    esc.columns = [latex_escape(c) for c in df.columns]
    for c in esc.columns:
        esc[c] = [MISSING.replace("–", "--") if (v is None or (isinstance(v, float) and math.isnan(v))) else latex_escape(v) for v in esc[c]]
    return esc.to_latex(index=False, escape=False, column_format=_alignment(df), caption=None if caption is None else latex_escape(caption),
                        label=label, position="t")


# ---------------------------------------------------------------------------------------------------------
# other tables


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


MEMORY_CATEGORIES = ["parameters", "buffers", "optimizer_state", "gradients", "activations", "recomputed", "temporaries"]
CATEGORY_LABELS = {"parameters": "Parameters", "buffers": "Buffers", "gradients": "Gradients", "optimizer_state": "Optimizer state",
                   "activations": "Activations", "recomputed": "Recomputed", "temporaries": "Temporaries", "total": "Total", "peak": "Peak"}
_AT_PEAK = {"gradients": "peak_gradients", "activations": "peak_activations", "temporaries": "peak_temporaries", "recomputed": "peak_recomputed"}
CHECKPOINTING_LABELS = {"none": "no checkpointing", "non_reentrant": "activation checkpointing", "reentrant": "activation checkpointing (reentrant)"}


def peak_split(estimates: pd.DataFrame) -> pd.DataFrame:
    """Bytes per category at the moment of the simulated peak (they sum to `peak`). Estimates written before
    the split existed fall back to memory.py's categories (gradients and activations at full size) and `total`;
    before checkpointing existed, `recomputed` is 0."""
    df = pd.DataFrame(index=estimates.index)
    has_split = "peak" in estimates and estimates["peak"].notna().all() and (estimates["peak"] > 0).all()
    for c in MEMORY_CATEGORIES:
        col = _AT_PEAK[c] if has_split and c in _AT_PEAK else c
        df[c] = estimates[col] if col in estimates else 0
    df["peak"] = estimates["peak"] if has_split else estimates["total"]
    return df


def checkpointing_of(estimates: pd.DataFrame) -> pd.Series:
    """The activation-checkpointing mode of each row (`none` for files written before the column existed)."""
    if "checkpointing" not in estimates:
        return pd.Series(["none"] * len(estimates), index=estimates.index)
    return estimates["checkpointing"].fillna("none").astype(str)


def select_setting(estimates: pd.DataFrame, *, batch: int | None = None, checkpointing: str = "none") -> pd.DataFrame:
    """The rows of one batch size (default: the k sweep's, i.e. the batch with the most rows) and one checkpointing mode."""
    df = estimates[checkpointing_of(estimates) == checkpointing]
    if df.empty or "batch" not in df:
        return df
    if batch is None:
        batch = df["batch"].value_counts().sort_index(ascending=False).idxmax()
    return df[df["batch"] == batch]


def memory_table(estimates: pd.DataFrame, k: int = 20, *, batch: int | None = None, checkpointing: str = "none") -> pd.DataFrame:
    """Estimated peak training memory (GB) per model and method, the sparse methods at `k`, split into what
    was alive at the peak: parameters, buffers, optimizer state (static), gradients, saved activations, what
    the recomputation of a checkpointed layer made (only with checkpointing) and temporaries (everything else)."""
    cats = [c for c in MEMORY_CATEGORIES if c != "recomputed" or checkpointing != "none"]
    cols = ["Model", "Method", "Trainable (%)", *[CATEGORY_LABELS[c] + " (GB)" for c in cats], "Peak (GB)", "vs full FT", "Peak in"]
    if estimates.empty:
        return pd.DataFrame(columns=cols)
    df = select_setting(estimates, batch=batch, checkpointing=checkpointing)
    df = df[df["k"].isna() | (df["k"] == k)].copy()
    split = peak_split(df)
    out = []
    for model in _order(df["model"], MODEL_ORDER):
        idx = df.index[df["model"] == model]
        full = split.loc[[i for i in idx if df.at[i, "method"] == "full"], "peak"]
        for i in sorted(idx, key=lambda i: _method_sort_key(df.at[i, "method_tag"])):
            r = df.loc[i]
            out.append({"Model": model_label(model), "Method": method_label(r["method_tag"]), "Trainable (%)": _num(r.get("trainable_percent"), ".3f"),
                        **{CATEGORY_LABELS[c] + " (GB)": _num(split.at[i, c] / 1e9, ".2f") for c in cats},
                        "Peak (GB)": _num(split.at[i, "peak"] / 1e9, ".2f"),
                        "vs full FT": _num(100.0 * (split.at[i, "peak"] / full.iloc[0] - 1), ".0f", signed=True) + " %" if len(full) else MISSING,
                        "Peak in": r.get("peak_phase") if isinstance(r.get("peak_phase"), str) else MISSING})
    return pd.DataFrame(out, columns=cols)


def checkpointing_table(estimates: pd.DataFrame, k: int = 20, mode: str = "non_reentrant") -> pd.DataFrame:
    """Estimated peak (GB) per model and method (sparse methods at `k`), without and with activation checkpointing,
    at every batch size the estimates have (largest first); the saving checkpointing brings, NeuroAda's saving
    against masked sparse tuning with checkpointing, and the vocabulary-wide tensors (logits, their fp32 copies
    and gradients) alive at the checkpointed peak."""
    if estimates.empty or not (checkpointing_of(estimates) == mode).any():
        return pd.DataFrame(columns=["Model", "Method"])
    df = estimates[estimates["k"].isna() | (estimates["k"] == k)].copy()
    df["_ckpt"] = checkpointing_of(df)
    batches = sorted(df.loc[df["_ckpt"] == mode, "batch"].unique(), reverse=True)
    seq = int(df["seq"].iloc[0])
    out = []
    for model in _order(df["model"], MODEL_ORDER):
        g = df[df["model"] == model]
        peak = {(r["method"], int(r["batch"]), r["_ckpt"]): peak_split(pd.DataFrame([r]))["peak"].iloc[0] for r in g.to_dict("records")}
        logits = {(r["method"], int(r["batch"]), r["_ckpt"]): r.get("peak_logits") for r in g.to_dict("records")}
        tags = dict(zip(g["method"], g["method_tag"]))
        for method in sorted(tags, key=lambda m: _method_sort_key(tags[m])):
            row = {"Model": model_label(model), "Method": method_label(tags[method])}
            for b in batches:
                none, ck = peak.get((method, b, "none")), peak.get((method, b, mode))
                masked = peak.get(("masked", b, mode))
                row[f"{b}x{seq}: no ckpt (GB)"] = _num(none / 1e9 if none else math.nan, ".1f")
                row[f"{b}x{seq}: ckpt (GB)"] = _num(ck / 1e9 if ck else math.nan, ".1f")
                row[f"{b}x{seq}: ckpt saves"] = _num(100.0 * (1 - ck / none), ".0f") + " %" if none and ck else MISSING
                row[f"{b}x{seq}: vs masked, ckpt"] = _num(100.0 * (ck / masked - 1), ".0f", signed=True) + " %" if masked and ck else MISSING
            lg = logits.get((method, batches[0], mode))
            row[f"Logits at ckpt peak, {batches[0]}x{seq} (GB)"] = _num(lg / 1e9, ".1f") if lg is not None and not pd.isna(lg) else MISSING
            out.append(row)
    return pd.DataFrame(out)


def fits_display(fits: pd.DataFrame) -> pd.DataFrame:
    """The largest batch (sequences of `seq` tokens) that fits each GPU size, per model and method, without and
    with activation checkpointing (`0`: not even batch 1 fits); from `estimator --fits` (estimated)."""
    if fits is None or fits.empty:
        return pd.DataFrame(columns=["Model", "Method"])
    df = fits.copy()
    df["_ckpt"] = checkpointing_of(df)
    modes = [m for m in CHECKPOINTING_LABELS if m in set(df["_ckpt"])]
    gpus = sorted(df["gpu_gib"].unique())
    out = []
    for model in _order(df["model"], MODEL_ORDER):
        g = df[df["model"] == model]
        for tag in sorted(g["method_tag"].unique(), key=_method_sort_key):
            row = {"Model": model_label(model), "Method": method_label(tag)}
            for gib in gpus:
                for mode in modes:
                    v = g[(g["method_tag"] == tag) & (g["gpu_gib"] == gib) & (g["_ckpt"] == mode)]["max_batch"]
                    row[f"{gib:g} GB, {'ckpt' if mode != 'none' else 'no ckpt'}"] = str(int(v.iloc[0])) if len(v) else MISSING
            out.append(row)
    return pd.DataFrame(out)


def validation_table(validation: pd.DataFrame) -> pd.DataFrame:
    """Measured vs estimated per method and setting: the peak (static + the step's own peak), memory.py's
    total, the step's peak alone, and the saved activations (MB)."""
    cols = ["Model", "Setting", "Method", "Measured peak (MB)", "Estimated peak (MB)", "Error peak (%)", "Error total (%)",
            "Measured step peak (MB)", "Estimated step peak (MB)", "Error step peak (%)", "Measured activations (MB)", "Estimated activations (MB)"]
    if validation.empty:
        return pd.DataFrame(columns=cols)
    mb = lambda v: _num(v / 2**20, ".1f")  # noqa: E731

    def setting(r) -> str:
        s = r["dtype"] + (" + autocast" if r.get("mixed_precision") else "")
        target, device = r.get("target"), str(r.get("device", ""))
        if isinstance(target, str) and target and not device.startswith(target):
            s += f", {target} dropout"
        ckpt = r.get("checkpointing")
        if isinstance(ckpt, str) and ckpt != "none":
            s += ", ckpt" + (" (reentrant)" if ckpt == "reentrant" else "")
        return s

    def peak(r, who):
        v = r.get(f"{who}_peak")
        return v if v is not None and not (isinstance(v, float) and math.isnan(v)) else r[f"{who}_total"]

    out = []
    for r in validation.to_dict("records"):
        m, e = peak(r, "measured"), peak(r, "estimated")
        out.append({"Model": r["model"], "Setting": setting(r), "Method": method_label(r["method_tag"]),
                    "Measured peak (MB)": mb(m), "Estimated peak (MB)": mb(e), "Error peak (%)": _num(100.0 * (e - m) / m, ".2f", signed=True),
                    "Error total (%)": _num(r["err_total_pct"], ".2f", signed=True), "Measured step peak (MB)": mb(r["measured_peak_step"]),
                    "Estimated step peak (MB)": mb(r["estimated_peak_step"]), "Error step peak (%)": _num(r["err_peak_step_pct"], ".2f", signed=True),
                    "Measured activations (MB)": mb(r["measured_activations"]), "Estimated activations (MB)": mb(r["estimated_activations"])})
    return pd.DataFrame(out, columns=cols)


# ---------------------------------------------------------------------------------------------------------
# files


def _write(out_dir: Path, name: str, df: pd.DataFrame, caption: str, note: str = "") -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / f"{name}.md"
    tex = out_dir / f"{name}.tex"
    body = render_markdown(df) if len(df) else render_markdown(df) + "\n(no rows)\n"
    md.write_text(f"**{caption}**\n\n{body}" + (f"\n{note}\n" if note else ""))
    tex.write_text(render_latex(df, caption=caption + (f" {note}" if note else ""), label=f"tab:{name}"))
    return [md, tex]


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


MEMORY_NOTE = ("Estimated with fake tensors (neuroada.estimator): one step of forward (bf16 autocast), backward and AdamW; "
               "the categories are what was alive at the step's peak (gradients, saved activations, everything else = "
               "temporaries) on top of parameters, buffers and optimizer state. Every sequence is 512 tokens (a worst case); "
               "kernel workspaces, the CUDA context and allocator fragmentation are not included.")
VALIDATION_NOTE = ("Measured: neuroada.memory.measure_step_memory on a real random model (CPU profiler peak); estimated: "
                   "neuroada.estimator on fake tensors. Errors relative to the measured value. Peak = parameters + buffers + "
                   "optimizer state + the step's own peak; total = memory.py's convention (static + max(step peak, activations + gradients)). Measured activations count every "
                   "storage saved during the forward, including ones freed before backward (DoRA's detached weight-norm branch); "
                   "the estimator counts those alive when backward starts. Totals and step peaks are unaffected. "
                   "'cuda dropout': CUDA's fused dropout (bool mask) swapped into the real CPU step, as the paper-setting estimate models it.")


def estimate_setting(estimates: pd.DataFrame) -> str:
    """`bfloat16 weights + bf16 autocast, batch 16 x 512 tokens, AdamW (foreach)` from the estimate rows (the first
    row's batch; `, activation checkpointing` when its rows have it)."""
    if estimates.empty:
        return ""
    r = estimates.iloc[0]
    amp = " + bf16 autocast" if bool(r.get("mixed_precision")) else ""
    opt = "AdamW" + (" (foreach)" if bool(r.get("foreach")) else "")
    ckpt = checkpointing_of(estimates.iloc[:1]).iloc[0]
    return f"{r.get('dtype')} weights{amp}, batch {int(r.get('batch'))} x {int(r.get('seq'))} tokens, {opt}" + \
        (f", {CHECKPOINTING_LABELS.get(ckpt, ckpt)}" if ckpt != "none" else "")


CHECKPOINTING_NOTE = ("Estimated (neuroada.estimator, fake tensors): bf16 weights, bf16 autocast, AdamW (foreach), every sequence 512 "
                      "tokens; ckpt = HF activation checkpointing of every decoder layer (non-reentrant, the default; "
                      "trainer.gradient_checkpointing=true). 'vs masked, ckpt': the method's checkpointed peak against masked sparse "
                      "tuning's (same k). Logits: the vocabulary-wide tensors (logits, fp32 copies, log-softmax, their gradients) alive "
                      "at the checkpointed peak. Not included: CUDA context, kernel workspaces, allocator fragmentation.")
FITS_NOTE = ("Estimated, not measured: the largest batch of 512-token sequences whose estimated peak (neuroada.estimator; bf16 "
             "weights, bf16 autocast, AdamW foreach, sparse methods at k=20, LoRA/DoRA r=32) is at most 90 % of the GPU's memory "
             "(24/40/80 GiB), leaving 10 % for the CUDA context, kernel workspaces and allocator fragmentation, which the estimator "
             "does not model; checked at that batch and the next. 0 = not even one sequence fits. ckpt = HF activation "
             "checkpointing of every decoder layer.")


def write_memory_tables(estimates: pd.DataFrame, validation: pd.DataFrame | None, out_dir: str | Path, k: int = 20,
                        fits: pd.DataFrame | None = None) -> list[Path]:
    """memory (no checkpointing, the k sweep's batch), memory_ckpt and memory_checkpointing (when the estimates
    have checkpointed rows), memory_validation (when given) and memory_fits (when given)."""
    out_dir = Path(out_dir)
    plain = select_setting(estimates)
    written = _write(out_dir, "memory", memory_table(estimates, k), f"Estimated peak training memory of one step ({estimate_setting(plain)}; sparse methods at k={k})",
                     MEMORY_NOTE)
    if (checkpointing_of(estimates) == "non_reentrant").any():
        ck = select_setting(estimates, checkpointing="non_reentrant")
        written += _write(out_dir, "memory_ckpt", memory_table(estimates, k, checkpointing="non_reentrant"),
                          f"Estimated peak training memory of one step with activation checkpointing ({estimate_setting(ck)}; sparse methods at k={k})",
                          MEMORY_NOTE + " Recomputed: what the recomputation of a checkpointed layer had allocated at the peak.")
        written += _write(out_dir, "memory_checkpointing", checkpointing_table(estimates, k),
                          f"Estimated peak (GB) without and with activation checkpointing (sparse methods at k={k})", CHECKPOINTING_NOTE)
    if validation is not None and not validation.empty:
        written += _write(out_dir, "memory_validation", validation_table(validation), "Estimator vs measured training step",
                          VALIDATION_NOTE)
    if fits is not None and not fits.empty:
        written += _write(out_dir, "memory_fits", fits_display(fits), f"Largest batch (x {int(fits['seq'].iloc[0])} tokens) that fits on one GPU, "
                          "estimated", FITS_NOTE)
    return written
