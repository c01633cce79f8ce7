#!/usr/bin/env python
"""Training-step time and memory of NeuroAda against the frozen backbone and the baselines.

Suites (see README.md in this folder for the exact commands and what is timed):

- `layers`: one nn.Linear of LLaMA-7B and SmolLM2 shapes, `tokens` input rows.
- `model`: a SmolLM2-135M-shaped Llama (random weights, `--layers` decoder layers), `tokens` tokens.
- `extras`: merge time per LLaMA-7B-shaped layer; top-k selection time (and peak memory) per
  LLaMA-7B-shaped weight, with the estimate for all 7 x 32 projections of LLaMA-7B.
- `kernels`: every SDDMM kernel for the gradient of the deltas (`neuroada.kernels.KERNELS`), alone, per shape and k.

Every method runs the same step; methods are interleaved round-robin (alternating direction) over
`--repeats` repeats after warm-up, and each is reported as the median, and as a ratio to the frozen
backbone's median measured in the same process, in the same round-robin.

    python experiments/bench/bench.py --suite all --tokens 1024 --repeats 7 --out results/bench/
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import datetime as _dt
import gc
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor, nn

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "src") not in sys.path:  # runnable without `pip install -e .`
    sys.path.insert(0, str(REPO / "src"))

from neuroada import NeuroAdaConfig  # noqa: E402
from neuroada import cpu_extension  # noqa: E402
from neuroada.kernels import KERNELS, resolve_kernel, sddmm  # noqa: E402
from neuroada.layer import NeuroAdaLinear  # noqa: E402
from neuroada.memory import measure_peak, measure_step_memory  # noqa: E402
from neuroada.methods import lora_rank_for_budget, prepare_method  # noqa: E402
from neuroada.released import apply_released_neuroada  # noqa: E402
from neuroada.selection import CHUNK_ELEMENTS, select_pattern  # noqa: E402

LLAMA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
# (label, d_out, d_in)
LLAMA7B_SHAPES = [("llama7b.qkvo", 4096, 4096), ("llama7b.gate_up", 11008, 4096), ("llama7b.down", 4096, 11008)]
SMOLLM2_SHAPES = [("smollm2.qo", 576, 576), ("smollm2.gate_up", 1536, 576), ("smollm2.down", 576, 1536)]
SMOLLM2_CONFIG = dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_attention_heads=9,
                      num_key_value_heads=3, max_position_embeddings=2048, tie_word_embeddings=True,
                      rms_norm_eps=1e-5, rope_theta=100000.0)
LLAMA7B_CONFIG = dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_attention_heads=32,
                      num_key_value_heads=32, max_position_embeddings=2048, tie_word_embeddings=False,
                      rms_norm_eps=1e-6, rope_theta=10000.0)
MODEL_CONFIGS = {"smollm2": SMOLLM2_CONFIG, "llama7b": LLAMA7B_CONFIG}  # --model-shape
LLAMA7B_LAYERS = 32
# LLaMA-7B projections per decoder layer, by shape label: q, k, v, o; gate, up; down.
LLAMA7B_PER_LAYER = {"llama7b.qkvo": 4, "llama7b.gate_up": 2, "llama7b.down": 1}

# `neuroada` = the automatic kernel (on CPU the C++ kernel with the fused C++ weight swap);
# `neuroada[<kernel>]` = one kernel by name; `neuroada[pytorch]` = the pure-PyTorch path (C++ extension
# off: torch's sampled_addmm and the gather/scatter weight swap), the library's CPU path before the extension.
PYTORCH = "neuroada[pytorch]"
ALL_METHODS = ["frozen", "lora", "dora", "neuroada", *(f"neuroada[{k}]" for k in KERNELS), PYTORCH, "released", "masked", "full"]
DEFAULT_METHODS = [m for m in ALL_METHODS if m != "neuroada[gather_bmm]"]  # slow; its kernel is timed alone in `kernels`
DEFAULT_LARGE_METHODS = ["frozen", "lora", "neuroada", "neuroada[sampled_addmm_tiled]", PYTORCH, "released", "masked", "full"]
K_FREE = {"frozen", "full"}  # methods whose step does not depend on k


# ----------------------------------------------------------------------------------------------------
# environment


def _git(*args: str) -> str | None:
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except Exception:  # not a checkout, no git
        return None


# environment variables that change what is timed (thread pools, allocator, the C++ kernels)
TIMING_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "THP_MEM_ALLOC_ENABLE", "NEUROADA_CPU_EXTENSION")


def environment(device: torch.device, dtype: torch.dtype) -> dict[str, Any]:
    import peft
    import transformers

    cpu = platform.processor()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except Exception:
        pass
    env = {
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "device": str(device),
        "dtype": str(dtype).replace("torch.", ""),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": None,
        "loadavg_start": _loadavg(),
        "env_vars": {k: os.environ[k] for k in TIMING_ENV_VARS if k in os.environ},
    }
    status = _git("status", "--porcelain", "--untracked-files=no")
    env["git_dirty"] = None if status is None else bool(status)
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
        env["cuda"] = torch.version.cuda
    return env


def _loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ----------------------------------------------------------------------------------------------------
# cases: one configured method with its inputs, optimizer and step


@dataclass
class Case:
    method: str  # frozen, lora, dora, neuroada, neuroada[<kernel>], released, masked, full
    k: int | None
    module: nn.Module
    forward: Callable[[], Tensor | tuple[Tensor, Tensor]]  # loss, or (output, grad_output)
    optimizer: torch.optim.Optimizer | None
    device: torch.device
    info: dict[str, Any] = field(default_factory=dict)
    context: Callable[[], Any] = contextlib.nullcontext  # entered around every step (neuroada[pytorch])
    times: list[float] = field(default_factory=list)
    cpu_times: list[float] = field(default_factory=list)  # process CPU time of the same steps
    memory: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return self.method if self.k is None else f"{self.method} k={self.k}"

    def step(self) -> None:
        with self.context():
            out = self.forward()
            if isinstance(out, tuple):
                torch.autograd.backward(out[0], out[1])
            else:
                out.backward()
            del out
        if self.optimizer is not None:
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)

    def timed_step(self) -> None:
        _sync(self.device)
        c0, t0 = time.process_time(), time.perf_counter()
        self.step()
        _sync(self.device)
        self.times.append(time.perf_counter() - t0)
        self.cpu_times.append(time.process_time() - c0)

    def measure_memory(self) -> None:
        """One step under saved-tensor hooks (and the CPU profiler); it doubles as a warm-up step."""
        with self.context():
            report = measure_step_memory(self.module, None, self.optimizer, step_fn=lambda m, b: self.forward(), warmup=False)
        if self.optimizer is not None:
            self.optimizer.zero_grad(set_to_none=True)
        self.memory = report.to_dict()

    def result(self, frozen: "Case") -> dict[str, Any]:
        med = statistics.median(self.times) if self.times else None
        cpu = statistics.median(self.cpu_times) if self.cpu_times else None
        f_med = statistics.median(frozen.times) if frozen.times else None
        f_cpu = statistics.median(frozen.cpu_times) if frozen.cpu_times else None
        return {
            "method": self.method,
            "k": self.k,
            **self.info,
            "median_s": med,
            "min_s": min(self.times) if self.times else None,
            "times_s": [round(t, 9) for t in self.times],  # ns: 1 µs rounding skews ratios of µs-long tiny steps
            "ratio_to_frozen": (med / f_med) if (med is not None and f_med) else None,
            "median_cpu_s": cpu,
            "cpu_times_s": [round(t, 9) for t in self.cpu_times],
            "ratio_to_frozen_cpu": (cpu / f_cpu) if (cpu is not None and f_cpu) else None,
            **paired_ratio(self.times, frozen.times),
            "memory": self.memory,
        }


def paired_ratio(times: list[float], frozen_times: list[float]) -> dict[str, Any]:
    """Median and quartiles over repeats of (this step / the frozen step of the same repeat): the two ran
    back to back, so a slow phase of a shared machine cancels out of each ratio."""
    ratios = [t / f for t, f in zip(times, frozen_times) if f > 0]
    if not ratios:
        return {"ratio_to_frozen_paired": None, "ratio_to_frozen_paired_quartiles": None}
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    return {"ratio_to_frozen_paired": statistics.median(ratios), "ratio_to_frozen_paired_quartiles": [q[0], q[2]]}


def _adamw(module: nn.Module) -> torch.optim.Optimizer | None:
    params = [p for p in module.parameters() if p.requires_grad]
    return torch.optim.AdamW(params, lr=1e-5, weight_decay=0.0) if params else None


def _trainable(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _method_cfg(method: str, k: int | None, targets: list[str]) -> dict[str, Any]:
    name, _, kernel = method.partition("[")
    cfg: dict[str, Any] = {"name": name, "target_modules": targets}
    if name in ("neuroada", "masked"):
        cfg["k"] = k
    if name == "neuroada":
        kernel = kernel.rstrip("]") or "auto"
        cfg["kernel"] = "sampled_addmm" if kernel == "pytorch" else kernel
    if name in ("lora", "dora"):
        cfg.update(r="match", k_match=k)
    return cfg


def adapt(module: nn.Module, method: str, k: int | None, targets: list[str]) -> tuple[nn.Module, dict[str, Any]]:
    """Applies `method` to `module` (in place where the method does) and returns the module to call."""
    info: dict[str, Any] = {}
    if method == "frozen":
        module.requires_grad_(False)
        return module, info
    if method == "released":
        return apply_released_neuroada(module, NeuroAdaConfig(k=k, target_modules=targets)), info
    cfg = _method_cfg(method, k, targets)
    if cfg["name"] in ("lora", "dora"):
        info["r"] = lora_rank_for_budget(module, targets, k)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning)
        prepared = prepare_method(module, cfg)
    if cfg["name"] == "neuroada":
        device = next(module.parameters()).device
        info["kernel"] = cfg["kernel"]
        info["kernel_resolved"] = resolve_kernel(cfg["kernel"], device)
        info["cpu_extension"] = method != PYTORCH and device.type == "cpu" and cpu_extension.available()
    return prepared.model, info


def _context(method: str):
    return cpu_extension.disabled if method == PYTORCH else contextlib.nullcontext


def expand_methods(methods: list[str], device: torch.device) -> list[str]:
    """`neuroada` stands for the automatic kernel; an explicit `neuroada[<kernel>]` equal to it is dropped."""
    auto = resolve_kernel("auto", device)
    return [m for m in methods if not (m == f"neuroada[{auto}]" and "neuroada" in methods)]


# ----------------------------------------------------------------------------------------------------
# timing


def run_cases(cases: list[Case], repeats: int, warmup: int, measure_memory: bool = True, log=print) -> None:
    """Warm-up (one step of it under the memory measurement), then interleaved timed repeats."""
    for c in cases:
        for i in range(max(warmup, 1)):
            if measure_memory and i == max(warmup, 1) - 1:
                c.measure_memory()
            else:
                c.step()
    gc.collect()
    for r in range(repeats):
        order = cases if r % 2 == 0 else cases[::-1]
        for c in order:
            c.timed_step()
        log(f"    repeat {r + 1}/{repeats}: " + ", ".join(f"{c.name} {c.times[-1] * 1e3:.0f}ms" for c in cases))


def group_result(cases: list[Case]) -> dict[str, Any]:
    frozen = next(c for c in cases if c.method == "frozen")
    return {
        "frozen_median_s": statistics.median(frozen.times) if frozen.times else None,
        "frozen_median_cpu_s": statistics.median(frozen.cpu_times) if frozen.cpu_times else None,
        "results": [c.result(frozen) for c in cases],
    }


# ----------------------------------------------------------------------------------------------------
# suite: single layers


class _Block(nn.Module):
    def __init__(self, proj: nn.Linear):
        super().__init__()
        self.proj = proj

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x)


def layer_cases(d_out: int, d_in: int, tokens: int, ks: list[int], methods: list[str], device, dtype, seed: int = 0) -> list[Case]:
    g = torch.Generator().manual_seed(seed)
    weight = (torch.randn(d_out, d_in, generator=g) / d_in**0.5).to(device=device, dtype=dtype)
    x = torch.randn(tokens, d_in, generator=g).to(device=device, dtype=dtype).requires_grad_(True)
    gy = torch.randn(tokens, d_out, generator=g).to(device=device, dtype=dtype)
    shared = nn.Parameter(weight, requires_grad=False)  # the frozen weight, shared by the methods that keep it frozen
    cases = []
    for method in methods:
        for k in ([None] if method in K_FREE else ks):
            lin = nn.Linear(d_in, d_out, bias=False, device="meta")
            lin.weight = nn.Parameter(weight.clone(), requires_grad=False) if method in ("full", "masked") else shared
            module, info = adapt(_Block(lin), method, k, ["proj"])

            def forward(module=module):
                x.grad = None
                return module(x), gy

            cases.append(Case(method, k, module, forward, _adamw(module), device, {**info, "trainable": _trainable(module)},
                              context=_context(method)))
    return cases


def suite_layers(args, device, dtype, log=print) -> list[dict[str, Any]]:
    out = []
    shapes = [s for s in SMOLLM2_SHAPES + LLAMA7B_SHAPES if s[0].split(".")[0] in args.layer_models]
    for label, d_out, d_in in shapes:
        large = label.startswith("llama7b")
        methods = expand_methods(args.large_layer_methods if large else args.methods, device)
        repeats = args.large_repeats if large else args.repeats
        log(f"  layer {label} ({d_out}x{d_in}), {args.tokens} tokens, {repeats} repeats: {', '.join(methods)}")
        cases = layer_cases(d_out, d_in, args.tokens, args.ks, methods, device, dtype)
        run_cases(cases, repeats, args.large_warmup if large else args.warmup, log=log)
        out.append({"shape": label, "d_out": d_out, "d_in": d_in, "tokens": args.tokens, "repeats": repeats, **group_result(cases)})
        del cases
        gc.collect()
    return out


# ----------------------------------------------------------------------------------------------------
# suite: whole model


def bench_model(layers: int, device, dtype, seed: int = 0, shape: str = "smollm2") -> nn.Module:
    """A randomly initialised Llama-architecture model of `shape` (SmolLM2-135M's or LLaMA-7B's widths), `layers` deep."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(**MODEL_CONFIGS[shape], num_hidden_layers=layers)
    return LlamaForCausalLM(cfg).to(device=device, dtype=dtype).eval()  # eval: no dropout (there is none anyway)


def model_cases(base: nn.Module, ids: Tensor, ks: list[int], methods: list[str], device) -> list[Case]:
    cases = []
    for method in methods:
        for k in ([None] if method in K_FREE else ks):
            module, info = adapt(copy.deepcopy(base), method, k, LLAMA_TARGETS)

            def forward(module=module):
                emb = module.get_input_embeddings()(ids)
                if not emb.requires_grad:  # the backward runs through the whole stack for every method
                    emb.requires_grad_(True)
                return module(inputs_embeds=emb, labels=ids).loss

            cases.append(Case(method, k, module, forward, _adamw(module), device, {**info, "trainable": _trainable(module)},
                              context=_context(method)))
    return cases


def suite_model(args, device, dtype, log=print) -> dict[str, Any]:
    config = MODEL_CONFIGS[args.model_shape]
    base = bench_model(args.layers, device, dtype, shape=args.model_shape)
    batch = args.batch
    seq = args.tokens // batch
    ids = torch.randint(0, config["vocab_size"], (batch, seq), generator=torch.Generator().manual_seed(1)).to(device)
    methods = expand_methods(args.methods, device)
    log(f"  model {args.model_shape} shape, {args.layers} layers, {batch}x{seq} tokens, {args.repeats} repeats: {', '.join(methods)}")
    cases = model_cases(base, ids, args.ks, methods, device)
    run_cases(cases, args.repeats, args.warmup, log=log)
    total_params = sum(p.numel() for p in base.parameters())
    res = {"config": {"shape": args.model_shape, **config, "num_hidden_layers": args.layers, "batch": batch, "seq_len": seq, "tokens": batch * seq,
                      "parameters": total_params, "repeats": args.repeats}, **group_result(cases)}
    del cases, base
    gc.collect()
    return res


# ----------------------------------------------------------------------------------------------------
# suite: merge and selection at LLaMA-7B shapes


def _median_time(fn: Callable[[], Any], repeats: int, device) -> float:
    ts = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def suite_extras(args, device, dtype, log=print) -> dict[str, Any]:
    merge, selection = [], []
    for label, d_out, d_in in LLAMA7B_SHAPES:
        weight = (torch.randn(d_out, d_in, generator=torch.Generator().manual_seed(0)) / d_in**0.5).to(device=device, dtype=dtype)
        for k in args.ks:
            (pattern, peak) = measure_peak(lambda: select_pattern(weight, "magnitude", k, name=label), device)
            t_sel = _median_time(lambda: select_pattern(weight, "magnitude", k, name=label), args.extra_repeats, device)
            selection.append({"shape": label, "d_out": d_out, "d_in": d_in, "k": k, "median_s": t_sel, "peak_bytes": peak,
                              "weight_bytes": weight.numel() * weight.element_size(),
                              "per_7b_model": LLAMA7B_PER_LAYER[label] * LLAMA7B_LAYERS})
            lin = nn.Linear(d_in, d_out, bias=False, device="meta")
            lin.weight = nn.Parameter(weight.clone(), requires_grad=False)
            layer = NeuroAdaLinear(lin, pattern)
            with torch.no_grad():
                layer.neuroada_delta.normal_(0, 1e-3)
            t_merge = _median_time(layer.merged, args.extra_repeats, device)  # in place; repeating adds delta again
            merge.append({"shape": label, "d_out": d_out, "d_in": d_in, "k": k, "median_s": t_merge})
            log(f"  {label} k={k}: selection {t_sel * 1e3:.0f} ms (peak {peak / 2**20:.0f} MB), merge {t_merge * 1e3:.2f} ms")
            del layer, lin, pattern
        del weight
        gc.collect()
    estimate = {}
    for k in args.ks:
        rows = [s for s in selection if s["k"] == k]
        estimate[str(k)] = {
            "seconds": sum(s["median_s"] * s["per_7b_model"] for s in rows),
            "peak_bytes_max": max(s["peak_bytes"] for s in rows),
        }
    return {
        "merge": merge,
        "selection": selection,
        "selection_7b_estimate": estimate,
        "selection_chunk_elements": CHUNK_ELEMENTS,
        "note": "selection: select_pattern(magnitude) on one weight; the 7B estimate sums 4 (q,k,v,o) x 4096x4096, "
                "2 (gate, up) x 11008x4096 and 1 (down) x 4096x11008 per layer over 32 layers. peak_bytes: memory "
                "allocated during one selection above the weight itself (bounded by the row chunking).",
    }


# ----------------------------------------------------------------------------------------------------
# suite: the SDDMM kernels alone


def suite_kernels(args, device, dtype, log=print) -> list[dict[str, Any]]:
    out = []
    shapes = [s for s in SMOLLM2_SHAPES + LLAMA7B_SHAPES if s[0].split(".")[0] in args.layer_models]
    for label, d_out, d_in in shapes:
        gen = torch.Generator().manual_seed(0)
        w = torch.randn(d_out, d_in, generator=gen).to(device)
        g = torch.randn(args.tokens, d_out, generator=gen).to(device=device, dtype=dtype)
        x = torch.randn(args.tokens, d_in, generator=gen).to(device=device, dtype=dtype)
        dense = lambda: g.float().t() @ x.float()  # noqa: E731  the dense weight gradient, for scale
        for k in args.ks:
            p = select_pattern(w, "magnitude", k, name=label)
            fns = {name: (lambda name=name: sddmm(g, x, p, name)) for name in KERNELS}
            fns["dense_weight_grad"] = dense
            times = {n: [] for n in fns}
            for f in fns.values():
                f()
            repeats = args.large_repeats if label.startswith("llama7b") else args.repeats
            for r in range(repeats):
                for n, f in (fns.items() if r % 2 == 0 else list(fns.items())[::-1]):
                    _sync(device)
                    t0 = time.perf_counter()
                    f()
                    _sync(device)
                    times[n].append(time.perf_counter() - t0)
            med = {n: statistics.median(t) for n, t in times.items()}
            out.append({"shape": label, "d_out": d_out, "d_in": d_in, "k": k, "tokens": args.tokens, "repeats": repeats, "median_s": med,
                        "fastest": min(KERNELS, key=med.get), "auto": resolve_kernel("auto", device)})
            log(f"  kernels {label} k={k}: " + ", ".join(f"{n} {t * 1e3:.1f}ms" for n, t in med.items()))
    return out


# ----------------------------------------------------------------------------------------------------
# CLI


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", choices=["layers", "model", "extras", "kernels", "all"], default="all",
                    help="all = model + layers + extras + kernels")
    ap.add_argument("--tokens", type=int, default=1024, help="tokens per step (model: batch x tokens/batch)")
    ap.add_argument("--batch", type=int, default=2, help="model suite: sequences per step")
    ap.add_argument("--layers", type=int, default=8, help="model suite: decoder layers of the model")
    ap.add_argument("--model-shape", choices=sorted(MODEL_CONFIGS), default="smollm2",
                    help="model suite: the widths of SmolLM2-135M or of LLaMA-7B (random weights)")
    ap.add_argument("--ks", type=int, nargs="+", default=[1, 20])
    ap.add_argument("--repeats", type=int, default=7, help="timed steps per method (median)")
    ap.add_argument("--large-repeats", type=int, default=3, help="timed steps per method on LLaMA-7B-shaped layers")
    ap.add_argument("--extra-repeats", type=int, default=3, help="repeats of merge/selection timings")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps per method (the last one measures memory)")
    ap.add_argument("--methods", nargs="+", default=DEFAULT_METHODS, help=f"subset of {ALL_METHODS}")
    ap.add_argument("--large-layer-methods", nargs="+", default=DEFAULT_LARGE_METHODS,
                    help="methods on LLaMA-7B-shaped layers (the explicit slow kernels and DoRA are left out by default "
                         "to keep the run short; the kernels suite times every kernel at these shapes)")
    ap.add_argument("--large-warmup", type=int, default=1, help="untimed steps per method on LLaMA-7B-shaped layers")
    ap.add_argument("--layer-models", nargs="+", default=["smollm2", "llama7b"], choices=["smollm2", "llama7b"])
    ap.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda")
    ap.add_argument("--dtype", default="auto", help="auto (bf16 on cuda, fp32 on cpu), float32, bfloat16")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--out", default="results/bench/", help="output folder")
    ap.add_argument("--tag", default=None, help="output file name stem (default: bench_<device>)")
    ap.add_argument("--no-plot", action="store_true")
    args = ap.parse_args(argv)
    for opt in ("methods", "large_layer_methods"):
        chosen = getattr(args, opt)
        unknown = set(chosen) - set(ALL_METHODS)
        if unknown or "frozen" not in chosen:
            ap.error(f"--{opt.replace('_', '-')} must include frozen and be among {ALL_METHODS}; unknown: {sorted(unknown)}")
    return args


def resolve_device(args) -> tuple[torch.device, torch.dtype]:
    dev = torch.device("cuda" if (args.device == "auto" and torch.cuda.is_available()) else ("cpu" if args.device == "auto" else args.device))
    if args.dtype == "auto":
        dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    else:
        dtype = getattr(torch, args.dtype)
    return dev, dtype


def main(argv: list[str] | None = None, log=print) -> dict[str, Any]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device, dtype = resolve_device(args)
    command = "python experiments/bench/bench.py " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    result: dict[str, Any] = {
        "command": command,
        "env": environment(device, dtype),
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "no_plot")},
        "timed": "one training step: forward, loss, backward, AdamW step (lr 1e-5, no weight decay) and "
                 "zero_grad(set_to_none) for methods with trainable parameters; the frozen backbone runs forward "
                 "and backward only. Every method's backward runs down to the input (layers: x requires grad; "
                 "model: the embedding output requires grad), as the frozen backbone's does. Methods are "
                 "interleaved round-robin; medians over the repeats; ratio_to_frozen uses the frozen median of "
                 "the same group in the same process; ratio_to_frozen_paired is the median over repeats of "
                 "the step's time over the frozen step's time in the same repeat (with quartiles). "
                 "median_cpu_s / ratio_to_frozen_cpu: the same with the "
                 "process CPU time of each step (user + system, all threads), which time-slicing by other "
                 "processes does not inflate (with --threads 1 it is the step's compute time).",
    }
    suites = ["model", "layers", "extras", "kernels"] if args.suite == "all" else [args.suite]
    t_start = time.perf_counter()
    for suite in suites:
        log(f"[{suite}]")
        t0 = time.perf_counter()
        fn = {"layers": suite_layers, "model": suite_model, "extras": suite_extras, "kernels": suite_kernels}[suite]
        result[suite] = fn(args, device, dtype, log=log)
        result.setdefault("suite_seconds", {})[suite] = round(time.perf_counter() - t0, 1)
    result["env"]["loadavg_end"] = _loadavg()
    result["total_seconds"] = round(time.perf_counter() - t_start, 1)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = args.tag or f"bench_{device.type}"
    path = out / f"{stem}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    log(f"wrote {path}")
    if not args.no_plot:
        import importlib.util  # experiments/bench/plot.py, without putting this folder on sys.path

        spec = importlib.util.spec_from_file_location("neuroada_bench_plot", Path(__file__).resolve().parent / "plot.py")
        plot_mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(plot_mod)
        plot_results = plot_mod.plot_results

        for p in plot_results(result, out, stem):
            log(f"wrote {p}")
    result["_path"] = str(path)
    return result


if __name__ == "__main__":
    main()
