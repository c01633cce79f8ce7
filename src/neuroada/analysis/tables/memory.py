"""Memory tables: the estimator's peak split by category, checkpointing, GPU fits and the estimator's validation."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from .labels import MODEL_ORDER, _method_sort_key, _order, method_label, model_label
from .render import MISSING, _num, _write

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
