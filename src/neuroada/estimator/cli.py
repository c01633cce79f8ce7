"""The command line (`python -m neuroada.estimator`): the sweep, `--fits` and `--validate`, written to CSV/JSON and figures."""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import torch

from ..memory import CHECKPOINTING, checkpointing_mode
from . import __doc__  # the package docstring, in place of this one: main's --help describes the estimator with its first line
from .fits import GPU_SIZES_GIB, USABLE_FRACTION, fits_table
from .meta_model import DTYPES, LLAMA_TARGETS, LORA_PAPER_TARGETS, METHODS, PAPER_MODELS
from .sweep import sweep
from .validation import VALIDATION_MODEL, validate


def _environment() -> dict[str, Any]:
    import platform

    import transformers

    try:
        import peft
        peft_version = peft.__version__
    except ImportError:  # pragma: no cover
        peft_version = None
    return {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft_version, "python": platform.python_version()}


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1, default=str) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m neuroada.estimator", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="llama-7b,llama-13b,llama3-8b", help=f"comma list of {', '.join(PAPER_MODELS)}")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--k", default="1,5,10,20,50", help="k values for the sparse methods (neuroada, released, masked), at the first batch")
    p.add_argument("--r", type=int, default=32, help="LoRA/DoRA rank")
    p.add_argument("--dtype", default="bfloat16", choices=list(DTYPES))
    p.add_argument("--batch", default="16,4", help="comma list of batch sizes; the k sweep runs at the first (and the first --checkpointing mode), the rest at --bar-k")
    p.add_argument("--seq", type=int, default=512)
    p.add_argument("--checkpointing", default="none,non_reentrant",
                   help=f"comma list of activation-checkpointing modes ({', '.join(CHECKPOINTING)}): HF's, of every decoder layer")
    p.add_argument("--no-foreach", action="store_true", help="single-tensor AdamW (torch's CPU default) instead of foreach (CUDA default)")
    p.add_argument("--target", default="cuda", choices=["cuda", "cpu"], help="whose kernels the saved tensors follow (dropout's mask)")
    p.add_argument("--bar-k", type=int, default=20, help="k of the sparse methods in the stacked-bar figure, the other batches and --fits")
    p.add_argument("--out", default="results/memory", help="CSV/JSON folder")
    p.add_argument("--figures", default=None, help="figure folder (default: <out>/../figures)")
    p.add_argument("--fits", action="store_true", help="only the largest batch that fits each GPU (writes <out>/fits.csv; reuses "
                   "<out>/estimates.csv where it has the peak)")
    p.add_argument("--gpus", default=",".join(map(str, GPU_SIZES_GIB)), help="GPU memory sizes (GiB) for --fits")
    p.add_argument("--usable", type=float, default=USABLE_FRACTION, help="fraction of a GPU's memory the tracked tensors may use (--fits)")
    p.add_argument("--validate", action="store_true", help="only the measured-vs-estimated validation (writes <out>/validation.csv)")
    p.add_argument("--validate-dtypes", default="float32,bfloat16")
    p.add_argument("--validate-checkpointing", default=",".join(CHECKPOINTING), help="activation-checkpointing modes of the validation")
    p.add_argument("--device", default="cpu", help="where the validation measures real steps: cpu, or cuda when a GPU is present")
    p.add_argument("--keep-rows", action="store_true", help="--validate: keep the rows of the existing <out>/validation.csv that this run "
                   "does not measure again (same dtype, target, checkpointing and method), marked kept=True")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    figures = Path(args.figures) if args.figures else out.parent / "figures"
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    models = [m for m in args.models.split(",") if m]
    methods = [m for m in args.methods.split(",") if m]
    modes = [checkpointing_mode(c) for c in args.checkpointing.split(",") if c]

    if args.validate:
        import pandas as pd

        vmodes = [c for c in args.validate_checkpointing.split(",") if c]
        vdtypes = [d for d in args.validate_dtypes.split(",") if d]
        df = validate(dtypes=vdtypes, device=args.device, checkpointing=vmodes)
        if args.device == "cpu" and "bfloat16" in vdtypes:  # the paper-setting dropout (CUDA's fused kernel) swapped into real CPU steps
            df = pd.concat([df, validate(["lora", "dora"], dtypes=["bfloat16"], device="cpu", target="cuda", checkpointing=vmodes)],
                           ignore_index=True)
        df["kept"] = False
        if args.keep_rows and (out / "validation.csv").is_file():
            old = pd.read_csv(out / "validation.csv")
            old["checkpointing"] = old["checkpointing"].fillna("none") if "checkpointing" in old else "none"
            key = ["dtype", "target", "checkpointing", "method"]
            new_keys = set(map(tuple, df[key].astype(str).values))
            old = old[[tuple(r) not in new_keys for r in old[key].astype(str).values]].assign(kept=True)
            df = pd.concat([df, old[[c for c in old.columns if c in df.columns]]], ignore_index=True)
        df.to_csv(out / "validation.csv", index=False)
        _write_json(out / "validation.json", {"settings": {"model": VALIDATION_MODEL, "batch": 2, "seq": 128, "k": 20, "r": 8, "device": args.device,
                                                           "checkpointing": vmodes, "dtypes": vdtypes, "kept_rows": int(df["kept"].sum())},
                                              "environment": _environment(), "rows": df.to_dict(orient="records")})
        cols = ["dtype", "target", "checkpointing", "method_tag", "measured_peak", "estimated_peak", "err_peak_pct", "err_total_pct",
                "err_peak_step_pct", "err_activations_pct", "kept"]
        print(df[cols].to_string(index=False))
        print(f"largest |error| of the peak: {df['err_peak_pct'].abs().max():.4f} %")
        return 0

    if args.fits:
        import pandas as pd

        known = pd.read_csv(out / "estimates.csv") if (out / "estimates.csv").is_file() else None
        gpus = [float(g) for g in args.gpus.split(",") if g]
        t0 = time.perf_counter()
        df = fits_table(models, methods, k=args.bar_k, r=args.r, dtype=args.dtype, seq=args.seq, checkpointing=modes, gpus_gib=gpus,
                        usable=args.usable, foreach=not args.no_foreach, target=args.target, known=known)
        df.to_csv(out / "fits.csv", index=False)
        settings = {"models": models, "methods": methods, "k": args.bar_k, "r": args.r, "dtype": args.dtype, "seq": args.seq, "checkpointing": modes,
                    "gpus_gib": gpus, "usable_fraction": args.usable, "target": args.target, "kind": "estimated",
                    "optimizer": "torch AdamW, foreach" if not args.no_foreach else "torch AdamW, single-tensor",
                    "rule": "max_batch = the largest batch whose estimated peak <= usable_fraction x gpu_gib GiB (checked: the next batch exceeds it)",
                    "seconds": time.perf_counter() - t0}
        _write_json(out / "fits.json", {"settings": settings, "environment": _environment(), "rows": df.to_dict(orient="records")})
        from ..analysis.plots import plot_fits

        print(plot_fits(df, figures / "memory_fits.png"))
        print(df.pivot_table(index=["model", "method_tag"], columns=["checkpointing", "gpu_gib"], values="max_batch").to_string())
        return 0

    ks = [int(k) for k in args.k.split(",") if k]
    batches = [int(b) for b in args.batch.split(",") if b]
    t0 = time.perf_counter()
    df, detail = sweep(models, ks, methods, r=args.r, dtype=args.dtype, batch=batches, seq=args.seq, foreach=not args.no_foreach,
                       detail_k=args.bar_k, target=args.target, checkpointing=modes)
    settings = {"models": models, "k": ks, "methods": methods, "r": args.r, "dtype": args.dtype, "mixed_precision": args.dtype != "float32",
                "batch": batches, "k_sweep_batch": batches[0], "seq": args.seq, "checkpointing": modes,
                "optimizer": "torch AdamW, foreach" if not args.no_foreach else "torch AdamW, single-tensor",
                "lora_targets": LORA_PAPER_TARGETS, "lora_alpha": 2 * args.r, "lora_dropout": 0.05, "sparse_targets": LLAMA_TARGETS,
                "target": args.target, "seconds": time.perf_counter() - t0}
    df.to_csv(out / "estimates.csv", index=False)
    detail.to_csv(out / "saved_tensors.csv", index=False)
    _write_json(out / "estimates.json", {"settings": settings, "environment": _environment(), "rows": df.to_dict(orient="records")})

    from ..analysis.plots import plot_checkpointing, plot_memory_by_method, plot_memory_vs_k

    for model in models:
        plot_memory_by_method(df, model, figures / f"memory_by_method_{model}.png", k=args.bar_k)
        plot_memory_vs_k(df, model, figures / f"memory_vs_k_{model}.png")
        if "non_reentrant" in modes:
            plot_memory_by_method(df, model, figures / f"memory_by_method_ckpt_{model}.png", k=args.bar_k, checkpointing="non_reentrant")
    if len(modes) > 1:
        plot_checkpointing(df, figures / "memory_checkpointing.png", k=args.bar_k)
    view = df[(df["k"].isna() | (df["k"] == args.bar_k)) & (df["batch"] == batches[0])]
    print(view[["model", "method_tag", "checkpointing", "parameters_gb", "optimizer_state_gb", "peak_gradients_gb", "peak_activations_gb",
                "peak_recomputed_gb", "peak_temporaries_gb", "peak_logits_gb", "peak_gb"]].round(2).to_string(index=False))
    return 0
