"""Memory of one training step of a model too large to run here, estimated without allocating it.

How (exact by construction for what the code really does, up to kernel workspaces):

1. The model is built on the meta device from its config (`with torch.device("meta"): LlamaForCausalLM(cfg)`)
   and cast to the training dtype; the method is applied there with the same code a real run uses
   (`neuroada.methods.prepare_method`; `neuroada.released` for the released code's composition).
2. Every parameter, buffer and attached tensor becomes a fake tensor (`FakeTensorMode`, device cpu):
   shapes, dtypes and storages, no data.
3. AdamW's state is created first (zero gradients and one unmeasured step, as a real first step creates
   it), then one training step runs under fake mode -- forward (under bf16 autocast for mixed precision),
   backward, AdamW step. Two instruments watch it:
   - `saved_tensors_hooks`: the non-parameter storages saved for backward that are still alive when
     backward starts = `activations` (each storage once, whole);
   - a `TorchDispatchMode` that sees every storage an op creates (views of inputs excluded) and, through a
     weakref, its release: the highest sum of live bytes above the start of the step = `peak_step`.

The report is a `memory.MemoryReport` (the categories and definitions of a measured step; one difference:
`memory.py` also counts saved storages that the forward frees again, which only DoRA's detached
weight-norm branch has):
parameters, buffers, gradients, optimizer state, activations, temporaries = max(0, peak_step -
activations - gradients), total = parameters + buffers + optimizer state + max(peak_step, activations +
gradients). Not modelled: allocator rounding/fragmentation, kernel workspaces that are not tensors
(cuBLAS, flash-attention scratch), CUDA context, gradient-norm clipping (small per-parameter norms).

Fake tensors cannot run torch's sparse CSR kernel, so the estimate swaps NeuroAda's `sampled_addmm`
for a stand-in that allocates the same tensors (the fp32 `g^T` and `x` copies, values, indices) and
returns a correctly shaped result. Attention runs through HF's `sdpa` path on the fake CPU device,
which (no padding mask) selects the flash kernel: it saves q, k, v, the output and an fp32
log-sum-exp, as CUDA's flash kernel does. Where CPU and CUDA kernels save different tensors, `target`
picks CUDA's by default: dropout (LoRA/DoRA's, p = 0.05) then saves a bool mask (CUDA's fused kernel)
instead of CPU's input-dtype noise tensor.

Validated (peak within 0.04 %) against measured CPU steps of a SmolLM2-shaped model (`validate`, the
`--validate` command, tests/test_estimator.py), for every method, in fp32 and in bf16 under autocast.

Command line (the sweep of the paper's setting, and the validation against measured steps):

    python -m neuroada.estimator --models llama-7b,llama-13b,llama3-8b --k 1,5,10,20,50 --out results/memory/
    python -m neuroada.estimator --validate --out results/memory/
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import time
import weakref
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from .layer import swapped_weight as _real_swapped_weight
from .memory import CATEGORIES, MemoryReport, unique_nbytes

log = logging.getLogger(__name__)

GB = 1e9  # reports and plots use decimal GB (10^9 bytes)
LLAMA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
LORA_PAPER_TARGETS = ["q_proj", "k_proj", "v_proj", "up_proj", "down_proj"]  # LLM-Adapters / DoRA scripts
METHODS = ("neuroada", "released", "lora", "dora", "masked", "full")
SPARSE_METHODS = ("neuroada", "released", "masked")  # depend on k

# Architectures of the paper's models (public config.json values); no download needed.
_LLAMA1 = dict(vocab_size=32000, rms_norm_eps=1e-6, max_position_embeddings=2048, tie_word_embeddings=False)
PAPER_MODELS: dict[str, dict[str, Any]] = {
    "llama-7b": dict(_LLAMA1, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32),
    "llama2-7b": dict(_LLAMA1, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                      num_key_value_heads=32, rms_norm_eps=1e-5, max_position_embeddings=4096),
    "llama-13b": dict(_LLAMA1, hidden_size=5120, intermediate_size=13824, num_hidden_layers=40, num_attention_heads=40, num_key_value_heads=40),
    "llama3-8b": dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                      num_key_value_heads=8, rms_norm_eps=1e-5, max_position_embeddings=8192, rope_theta=500000.0, tie_word_embeddings=False),
    "smollm2-135m": dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                         num_key_value_heads=3, rms_norm_eps=1e-5, max_position_embeddings=8192, rope_theta=100000.0, tie_word_embeddings=True),
}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def llama_config(model: str | Mapping[str, Any] | Any, **overrides):
    """A `LlamaConfig` for a paper model name, a dict of config fields, or a config (returned as is)."""
    from transformers import LlamaConfig, PretrainedConfig

    if isinstance(model, PretrainedConfig):
        return model
    if isinstance(model, str):
        if model not in PAPER_MODELS:
            raise ValueError(f"unknown model {model!r}; accepted: {', '.join(PAPER_MODELS)} (or pass a LlamaConfig)")
        model = PAPER_MODELS[model]
    kw = {**dict(model), **overrides}
    kw.setdefault("attn_implementation", "sdpa")
    return LlamaConfig(**kw)


def method_config(method: str, k: int = 20, r: int = 32, *, targets: Iterable[str] | None = None,
                  lora_targets: Iterable[str] | None = None, lora_dropout: float = 0.05) -> dict[str, Any]:
    """The method block a run uses (conf/method/*.yaml), with the paper's settings as defaults:
    NeuroAda/released/masked on q,k,v,o,gate,up,down; LoRA/DoRA r=32, alpha=64, dropout 0.05 on q,k,v,up,down."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; accepted: {', '.join(METHODS)}")
    targets = list(targets or LLAMA_TARGETS)
    if method in SPARSE_METHODS:
        return {"name": method, "k": int(k), "selection": "magnitude", "target_modules": targets}
    if method in ("lora", "dora"):
        return {"name": method, "r": int(r), "alpha": 2 * int(r), "dropout": lora_dropout, "target_modules": list(lora_targets or LORA_PAPER_TARGETS)}
    return {"name": "full"}


def build_meta_model(config, dtype: torch.dtype = torch.bfloat16) -> nn.Module:
    """The model of `config` on the meta device (no memory), in `dtype`."""
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return model.to(dtype).train()


def apply_method(model: nn.Module, mcfg: Mapping[str, Any]) -> nn.Module:
    """Applies a method block (see `method_config`) with the project's own code; returns the model to train."""
    mcfg = dict(mcfg)
    if mcfg["name"] == "released":
        from .config import NeuroAdaConfig
        from .released import apply_released_neuroada

        return apply_released_neuroada(model, NeuroAdaConfig(k=mcfg["k"], target_modules=mcfg["target_modules"], selection=mcfg.get("selection", "magnitude")))
    from .methods import prepare_method

    return prepare_method(model, mcfg).model


# ---------------------------------------------------------------------------------------------------------
# fake tensors


def _storage_id(t: Tensor) -> int:
    return id(t.untyped_storage())


def _fakify(model: nn.Module, mode, device: torch.device) -> None:
    """Replaces every parameter, buffer and tensor attribute of `model` (meta) by a fake tensor on `device`.
    Tied parameters stay tied; attributes attached to parameters (e.g. the masked baseline's dense mask) and
    post-accumulate-grad hooks are carried over."""
    conv = mode.fake_tensor_converter
    tmemo: dict[int, Tensor] = {}
    pmemo: dict[int, nn.Parameter] = {}

    def fake(t: Tensor) -> Tensor:
        if id(t) not in tmemo:
            tmemo[id(t)] = conv.from_meta_and_device(mode, t.detach() if t.device.type == "meta" else t.detach().to("meta"), device)
        return tmemo[id(t)]

    for mod in model.modules():
        for name, p in list(mod._parameters.items()):
            if p is None:
                continue
            if id(p) not in pmemo:
                new = nn.Parameter(fake(p), requires_grad=p.requires_grad)
                for attr, val in list(vars(p).items()):
                    if attr.startswith("_") or attr == "grad":
                        continue
                    setattr(new, attr, fake(val) if isinstance(val, Tensor) else val)
                for hook in list((getattr(p, "_post_accumulate_grad_hooks", None) or {}).values()):
                    new.register_post_accumulate_grad_hook(hook)
                pmemo[id(p)] = new
            mod._parameters[name] = pmemo[id(p)]
        for name, b in list(mod._buffers.items()):
            if b is not None:
                mod._buffers[name] = fake(b)
        for attr, val in list(vars(mod).items()):
            if isinstance(val, Tensor) and not isinstance(val, nn.Parameter) and val.device.type == "meta":
                setattr(mod, attr, fake(val))


def _shadow_sampled_addmm(g: Tensor, x: Tensor, pattern) -> Tensor:
    """What `kernels.sampled_addmm` allocates, for fake tensors (torch's CSR kernel does not run on them)."""
    values = torch.zeros(pattern.nnz, dtype=torch.float32, device=g.device)
    crow = pattern.crow_indices().to(g.device)
    cols = pattern.idx.flatten().long()
    gT = g.t().float().contiguous()
    xf = x.float()
    out = torch.empty(pattern.nnz, dtype=torch.float32, device=g.device)
    del values, crow, cols, gT, xf
    return out.view(pattern.idx.shape)


def _shadow_sampled_cpu(g: Tensor, x: Tensor, pattern, tile=None) -> Tensor:
    """What `kernels.sampled_cpu` allocates through torch: its output (its per-thread tiles, a few hundred
    KB, are not torch tensors)."""
    return torch.zeros(pattern.nnz, dtype=torch.float32, device=g.device).view(pattern.idx.shape)


@contextlib.contextmanager
def _shadow_fused_swap(weight: Tensor, delta: Tensor, p, dtype: torch.dtype):
    """What the C++ weight swap allocates (the old values) where the real step uses it: CPU, no cast."""
    if dtype != weight.dtype or not weight.is_contiguous():
        with _real_swapped_weight(weight, delta, p, dtype) as w:
            yield w
        return
    old = torch.empty(p.nnz, dtype=weight.dtype, device=weight.device)
    yield weight.detach()
    del old


@contextlib.contextmanager
def _fake_friendly_kernels(device: torch.device):
    """Kernels that run on fake tensors, allocating what the real ones do on `device` (the C++ extension
    itself cannot run on fake tensors: its kernel and weight swap are shadowed where a real step uses them)."""
    from . import cpu_extension, kernels, layer

    shadows = {"sampled_addmm": _shadow_sampled_addmm, "sampled_cpu": _shadow_sampled_cpu}
    saved = {name: kernels.KERNELS[name] for name in shadows}
    fused = device.type == "cpu" and cpu_extension.available()
    kernels.KERNELS.update(shadows)
    if fused:
        layer.swapped_weight = _shadow_fused_swap
    try:
        with cpu_extension.disabled():
            yield
    finally:
        kernels.KERNELS.update(saved)
        layer.swapped_weight = _real_swapped_weight


@contextlib.contextmanager
def _cuda_dropout():
    """Dropout as CUDA runs it: the fused kernel (`native_dropout`) saves a bool mask (1 byte per element).
    On CPU, `F.dropout` multiplies by a noise tensor of the input's dtype and saves it (4 bytes in fp32)."""
    import torch.nn.functional as F

    plain = F.dropout

    def dropout(input, p=0.5, training=True, inplace=False):
        if training and 0.0 < p < 1.0 and input.numel() > 0:
            out = torch.native_dropout(input, p, True)[0]
            return input.copy_(out) if inplace else out
        return plain(input, p, training, inplace)

    F.dropout = dropout
    try:
        yield
    finally:
        F.dropout = plain


class _LiveStorages(TorchDispatchMode):
    """Live bytes of the storages created by ops while active, and their peak.

    Every tracked storage gets a serial number with its allocation and release times (an event counter),
    so that what was alive at the peak can be split afterwards (`alive_at_peak`)."""

    def __init__(self):
        super().__init__()
        self.live = 0
        self.peak = 0
        self.base = 0
        self.clock = 0
        self.peak_clock = 0
        self.phase = "idle"
        self.peak_phase = None
        self._serial: dict[int, int] = {}  # id(storage) -> serial, while alive
        self.allocated: list[tuple[int, int]] = []  # serial -> (time, bytes)
        self.freed: dict[int, int] = {}  # serial -> time

    def reset(self) -> None:
        self.peak = self.base = self.live
        self.peak_phase, self.peak_clock = self.phase, self.clock

    def serial_of(self, t: Tensor) -> int | None:
        return self._serial.get(_storage_id(t))

    def alive_at_peak(self) -> dict[int, int]:
        """serial -> bytes of every tracked storage alive at the peak."""
        return {s: n for s, (t0, n) in enumerate(self.allocated) if t0 <= self.peak_clock < self.freed.get(s, self.clock + 1)}

    def _free(self, key: int, serial: int, nbytes: int) -> None:
        self._serial.pop(key, None)
        self.clock += 1
        self.freed[serial] = self.clock
        self.live -= nbytes

    def _track(self, t: Tensor, inputs: set[int]) -> None:
        try:
            st = t.untyped_storage()
        except (RuntimeError, NotImplementedError):
            return
        key = id(st)
        if key in self._serial or key in inputs:  # a view of an input allocates nothing
            return
        nbytes = st.nbytes()
        serial = len(self.allocated)
        self.clock += 1
        self.allocated.append((self.clock, nbytes))
        self._serial[key] = serial
        self.live += nbytes
        weakref.finalize(st, self._free, key, serial, nbytes)
        if self.live > self.peak:
            self.peak, self.peak_phase, self.peak_clock = self.live, self.phase, self.clock

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {_storage_id(t) for t in tree_leaves((args, kwargs)) if isinstance(t, Tensor)}
        for t in tree_leaves(out):
            if isinstance(t, Tensor):
                self._track(t, inputs)
        return out


def _unique_nbytes(tensors: Iterable[Tensor], exclude: set[int] = frozenset()) -> tuple[int, set[int]]:
    return unique_nbytes(tensors, exclude, key=_storage_id)


@dataclasses.dataclass
class MemoryEstimate(MemoryReport):
    """A `MemoryReport` computed on fake tensors, with what it was computed for."""

    model: str = ""
    method: str = ""
    method_tag: str = ""
    k: int | None = None
    r: int | None = None
    dtype: str = ""
    mixed_precision: bool = False
    batch: int = 0
    seq: int = 0
    foreach: bool | None = None
    target: str = "cuda"  # whose kernels the saved tensors follow (see estimate_step_memory)
    trainable_numel: int = 0
    base_numel: int = 0
    peak_phase: str | None = None  # forward / backward / optimizer: where the step's peak happened
    # What was alive at the step's peak: saved activations, gradients, everything else (temporaries); they sum
    # to `peak_step`, and `peak` = parameters + buffers + optimizer state + peak_step is the simulated peak.
    # (`total` follows memory.py: static + max(peak_step, activations + gradients), which counts activations and
    # gradients at full size together even when the activations are partly freed before all gradients exist.)
    peak_activations: int = 0
    peak_gradients: int = 0
    peak_temporaries: int = 0
    seconds: float = 0.0
    saved_detail: list[dict] = dataclasses.field(default_factory=list, repr=False)  # activations by producer/shape/dtype

    @property
    def peak(self) -> int:
        """The simulated peak of the step: static memory + the step's own peak."""
        return self.static + self.peak_step

    def to_row(self) -> dict[str, Any]:
        d = self.to_dict()
        d.pop("saved_detail", None)
        d["peak"] = self.peak
        for c in (*CATEGORIES, "static", "accounted", "total", "peak", "peak_step", "peak_activations", "peak_gradients",
                  "peak_temporaries", "trainable_parameters"):
            d[f"{c}_gb"] = (d[c] or 0) / GB
        d["trainable_percent"] = 100.0 * self.trainable_numel / self.base_numel if self.base_numel else 0.0
        return d


def _tag(mcfg: Mapping[str, Any]) -> str:
    name = mcfg["name"]
    if name in SPARSE_METHODS:
        return f"{name}-k{mcfg['k']}"
    if name in ("lora", "dora"):
        return f"{name}-r{mcfg['r']}"
    return name


def _default_step(model: nn.Module, batch: Mapping[str, Tensor]) -> Tensor:
    return model(**batch).loss


def simulate_step(model: nn.Module, batch_fn, *, mixed_precision: bool, foreach: bool | None, lr: float = 1e-4,
                  device: torch.device = torch.device("cpu"), step_fn=_default_step) -> dict[str, Any]:
    """One measured training step of `model` (fake) after creating AdamW's state; returns the counts.

    The warm-up gives every trainable parameter a zero gradient and steps AdamW once (creating its state
    exactly as a real first step does) instead of running a whole forward/backward.
    """
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.0, foreach=foreach) if trainable else None
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=mixed_precision)

    with _fake_friendly_kernels(torch.device(device)):
        if opt is not None:
            for p in trainable:
                p.grad = torch.zeros_like(p)
            opt.step()
            opt.zero_grad(set_to_none=True)
        model.zero_grad(set_to_none=True)

        params = list(model.parameters())
        param_bytes, param_keys = _unique_nbytes(params)
        trainable_bytes, _ = _unique_nbytes(trainable)
        attached = [v for p in params for v in vars(p).values() if isinstance(v, Tensor)]
        buffer_bytes, buffer_keys = _unique_nbytes([*model.buffers(), *attached], exclude=param_keys)
        opt_tensors = [v for s in (opt.state.values() if opt else []) for v in s.values() if isinstance(v, Tensor)]
        opt_bytes, _ = _unique_nbytes(opt_tensors, exclude=param_keys | buffer_keys)
        static = param_keys | buffer_keys

        # Saved storages are held weakly: one saved by a graph piece that the forward itself dropped (DoRA's
        # detached weight-norm branch) is freed before backward and is no activation.
        saved: dict[int, tuple[weakref.ref, int, tuple]] = {}
        n_packed = 0

        tracker = _LiveStorages()
        saved_serials: set[int] = set()

        def pack(t: Tensor):
            nonlocal n_packed
            n_packed += 1
            st = t.untyped_storage()
            key = id(st)
            serial = tracker.serial_of(t)
            if serial is not None:
                saved_serials.add(serial)
            if key not in static and (key not in saved or saved[key][0]() is None):
                producer = type(t.grad_fn).__name__ if t.grad_fn is not None else "-"
                saved[key] = (weakref.ref(st), st.nbytes(), (producer, tuple(t.shape), str(t.dtype).replace("torch.", "")))
            return t

        with tracker:
            tracker.reset()
            batch = batch_fn()
            tracker.phase = "forward"
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), amp:
                loss = step_fn(model, batch)
            del batch
            alive = [(n, desc) for ref, n, desc in saved.values() if ref() is not None]
            tracker.phase = "backward"
            loss.backward()
            del loss
            grad_bytes, _ = _unique_nbytes(p.grad for p in params if p.grad is not None)
            grad_serials = {tracker.serial_of(p.grad) for p in params if p.grad is not None}
            tracker.phase = "optimizer"
            if opt is not None:
                opt.step()
            tracker.phase = "idle"
        peak_step = tracker.peak - tracker.base
        at_peak = tracker.alive_at_peak()
        if opt is not None:
            opt.zero_grad(set_to_none=True)
        model.zero_grad(set_to_none=True)
    activations = sum(n for n, _ in alive)
    peak_activations = sum(n for s, n in at_peak.items() if s in saved_serials)
    peak_gradients = sum(n for s, n in at_peak.items() if s in grad_serials and s not in saved_serials)
    detail: dict[tuple, list[int]] = {}
    for n, desc in alive:
        c = detail.setdefault(desc, [0, 0])
        c[0] += 1
        c[1] += n
    return dict(parameters=param_bytes, trainable_parameters=trainable_bytes, buffers=buffer_bytes, gradients=grad_bytes,
                optimizer_state=opt_bytes, activations=activations, temporaries=max(0, peak_step - activations - grad_bytes),
                peak_step=peak_step, n_saved_tensors=n_packed, peak_phase=tracker.peak_phase, peak_activations=peak_activations,
                peak_gradients=peak_gradients, peak_temporaries=peak_step - peak_activations - peak_gradients,
                saved_detail=[{"producer": d[0], "shape": "x".join(map(str, d[1])) or "scalar", "dtype": d[2], "count": c, "bytes": b}
                              for d, (c, b) in sorted(detail.items(), key=lambda kv: -kv[1][1])])


def _numel(model: nn.Module) -> tuple[int, int]:
    """(trainable, base) element counts; base excludes what the method added (params.py's convention)."""
    from .params import ADDED_MARKERS

    seen, trainable, total, added = set(), 0, 0, 0
    for name, p in model.named_parameters(remove_duplicate=False):
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
        added += p.numel() if (any(m in name for m in ADDED_MARKERS) or name.endswith(".delta")) else 0
    return trainable, total - added


def estimate_step_memory(model: str | Mapping[str, Any] | Any, method: str | Mapping[str, Any] = "neuroada", *, k: int = 20, r: int = 32,
                         dtype: str | torch.dtype = "bfloat16", mixed_precision: bool | None = None, batch: int = 16, seq: int = 512,
                         foreach: bool | None = True, targets: Iterable[str] | None = None, lora_targets: Iterable[str] | None = None,
                         target: str = "cuda", model_name: str | None = None) -> MemoryEstimate:
    """Estimates the memory of one training step (module docstring) without allocating the model.

    `model`: a paper model name (`PAPER_MODELS`), a dict of LlamaConfig fields or a config. `method`: a name
    (`METHODS`, with `k`/`r` and the paper's targets) or a full method block. `dtype`: the weights' dtype;
    `mixed_precision` (default: dtype is not float32) runs the forward under bf16 autocast, as the HF
    Trainer with `bf16=True`. `foreach`: AdamW's implementation (torch's default on CUDA is foreach, on
    CPU the single-tensor loop); the foreach step makes a parameter-sized temporary. `target`: whose kernels
    the saved tensors follow where CPU and CUDA differ -- `cuda` (the paper's setting: fused dropout saving
    a bool mask) or `cpu` (dropout saving a noise tensor of the input's dtype, as a CPU run does).
    """
    if target not in ("cuda", "cpu"):
        raise ValueError(f"target must be 'cuda' or 'cpu', got {target!r}")
    t0 = time.perf_counter()
    from torch._subclasses.fake_tensor import FakeTensorMode

    torch_dtype = DTYPES[dtype] if isinstance(dtype, str) else dtype
    mixed_precision = torch_dtype != torch.float32 if mixed_precision is None else mixed_precision
    cfg = llama_config(model)
    mcfg = method_config(method, k, r, targets=targets, lora_targets=lora_targets) if isinstance(method, str) else dict(method)
    meta = build_meta_model(cfg, torch_dtype)
    meta = apply_method(meta, mcfg)
    trainable_numel, base_numel = _numel(meta)
    if mcfg["name"] == "masked":  # the dense weights train, but only the pattern's entries ever change
        masked = [p for p in meta.parameters() if hasattr(p, "neuroada_frozen")]
        trainable_numel += sum(min(mcfg["k"], p.shape[1]) * p.shape[0] - p.numel() for p in masked)
    device = torch.device("cpu")
    mode = FakeTensorMode(allow_non_fake_inputs=False)
    _fakify(meta, mode, device)

    def batch_fn():
        ids = torch.zeros(batch, seq, dtype=torch.long, device=device)
        return {"input_ids": ids, "labels": ids}

    with mode, (_cuda_dropout() if target == "cuda" else contextlib.nullcontext()):
        counts = simulate_step(meta, batch_fn, mixed_precision=mixed_precision, foreach=foreach, device=device)
    name = model_name or (model if isinstance(model, str) else getattr(cfg, "name_or_path", "") or "custom")
    return MemoryEstimate(device="fake", model=name, method=mcfg["name"], method_tag=_tag(mcfg), k=mcfg.get("k"), r=mcfg.get("r"),
                          dtype=str(torch_dtype).replace("torch.", ""), mixed_precision=mixed_precision, batch=batch, seq=seq,
                          foreach=foreach, target=target, trainable_numel=trainable_numel, base_numel=base_numel,
                          seconds=time.perf_counter() - t0, **counts)


# ---------------------------------------------------------------------------------------------------------
# sweeps, validation, command line


def sweep(models: Iterable[str], ks: Iterable[int], methods: Iterable[str] = METHODS, *, r: int = 32, dtype: str = "bfloat16",
          batch: int = 16, seq: int = 512, foreach: bool | None = True, detail_k: int | None = 20, target: str = "cuda"):
    """Estimates for every model x method (x k for the sparse methods). Returns (rows DataFrame, saved-tensor
    detail DataFrame for k = `detail_k` and the k-free methods)."""
    import pandas as pd

    rows, details = [], []
    for model in models:
        for method in methods:
            for k in (list(ks) if method in SPARSE_METHODS else [None]):
                e = estimate_step_memory(model, method, k=k or 20, r=r, dtype=dtype, batch=batch, seq=seq, foreach=foreach, target=target)
                log.info("%s %s: total %.2f GB (%.1fs)", model, e.method_tag, e.total / GB, e.seconds)
                row = e.to_row()
                if method not in SPARSE_METHODS:
                    row["k"] = None
                rows.append(row)
                if k is None or k == detail_k:
                    details += [{"model": model, "method": method, "method_tag": e.method_tag, **d} for d in e.saved_detail]
    return pd.DataFrame(rows), pd.DataFrame(details)


def _real_model(cfg, dtype: torch.dtype, seed: int = 0) -> nn.Module:
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(cfg).to(dtype).train()


VALIDATION_MODEL = dict(PAPER_MODELS["smollm2-135m"], num_hidden_layers=2)  # SmolLM2-135M's shapes, 2 layers


def validate(methods: Iterable[str] = ("neuroada", "released", "lora", "dora", "masked", "full"), *,
             model: Mapping[str, Any] | None = None, dtypes: Iterable[str] = ("float32",), batch: int = 2, seq: int = 128,
             k: int = 20, r: int = 8, device: str = "cpu", foreach: bool | None = None, target: str | None = None):
    """Measured (memory.measure_step_memory on a real random model) vs estimated, per method and dtype.

    Both use the same AdamW (`foreach`: None = torch's default for `device`). Errors are relative to the
    measured value: `err_total_pct` against the measured total (static + step peak), `err_peak_step_pct`
    against the step's own peak (activations, gradients, temporaries), the harder part to predict.
    `target` (default: the device's type) = "cuda" on a CPU device measures the real step with CUDA's fused
    dropout (bool mask) swapped in, which checks the estimator's model of it without a GPU.
    """
    import pandas as pd

    from .memory import measure_step_memory

    model = dict(model or VALIDATION_MODEL)
    cfg = llama_config(model)
    dev = torch.device(device)
    if foreach is None:
        foreach = dev.type == "cuda"
    target = target or dev.type
    swap_dropout = target == "cuda" and dev.type != "cuda"
    rows = []
    for dtype in dtypes:
        torch_dtype = DTYPES[dtype]
        mixed = torch_dtype != torch.float32
        for method in methods:
            mcfg = method_config(method, k, r)
            est = estimate_step_memory(model, mcfg, dtype=dtype, batch=batch, seq=seq, foreach=foreach, target=target, model_name="validation")
            real = apply_method(_real_model(cfg, torch_dtype), mcfg).to(dev)
            ids = torch.randint(0, cfg.vocab_size, (batch, seq), generator=torch.Generator().manual_seed(1)).to(dev)

            def step_fn(m, b, _mixed=mixed):
                with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=_mixed):
                    return m(**b).loss

            with _cuda_dropout() if swap_dropout else contextlib.nullcontext():
                meas = measure_step_memory(real, {"input_ids": ids, "labels": ids},
                                           lambda ps: torch.optim.AdamW(ps, lr=1e-4, weight_decay=0.0, foreach=foreach), step_fn=step_fn)
            del real
            row = {"model": f"smollm2-shaped-{cfg.num_hidden_layers}L", "method": method, "method_tag": est.method_tag, "dtype": dtype,
                   "mixed_precision": mixed, "batch": batch, "seq": seq, "device": str(dev), "target": target}
            for c in (*CATEGORIES, "peak_step", "total"):
                m_val, e_val = getattr(meas, c) or 0, getattr(est, c) or 0
                row[f"measured_{c}"], row[f"estimated_{c}"] = m_val, e_val
            if meas.cuda_max_memory_allocated is not None:
                row["measured_cuda_max_allocated"] = meas.cuda_max_memory_allocated
            row["measured_peak"], row["estimated_peak"] = meas.static + (meas.peak_step or 0), est.peak
            row["err_total_pct"] = 100.0 * (est.total - meas.total) / meas.total
            row["err_peak_pct"] = 100.0 * (est.peak - row["measured_peak"]) / row["measured_peak"]
            row["err_peak_step_pct"] = 100.0 * (est.peak_step - meas.peak_step) / meas.peak_step if meas.peak_step else None
            row["err_activations_pct"] = 100.0 * (est.activations - meas.activations) / meas.activations if meas.activations else None
            rows.append(row)
            log.info("validation %s %s: measured %.1f MB, estimated %.1f MB (%+.2f %%)", dtype, method, meas.total / 2**20,
                     est.total / 2**20, row["err_total_pct"])
    return pd.DataFrame(rows)


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
    p.add_argument("--k", default="1,5,10,20,50", help="k values for the sparse methods (neuroada, released, masked)")
    p.add_argument("--r", type=int, default=32, help="LoRA/DoRA rank")
    p.add_argument("--dtype", default="bfloat16", choices=list(DTYPES))
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seq", type=int, default=512)
    p.add_argument("--no-foreach", action="store_true", help="single-tensor AdamW (torch's CPU default) instead of foreach (CUDA default)")
    p.add_argument("--target", default="cuda", choices=["cuda", "cpu"], help="whose kernels the saved tensors follow (dropout's mask)")
    p.add_argument("--bar-k", type=int, default=20, help="k of the sparse methods in the stacked-bar figure")
    p.add_argument("--out", default="results/memory", help="CSV/JSON folder")
    p.add_argument("--figures", default=None, help="figure folder (default: <out>/../figures)")
    p.add_argument("--validate", action="store_true", help="only the measured-vs-estimated validation (writes <out>/validation.csv)")
    p.add_argument("--validate-dtypes", default="float32,bfloat16")
    p.add_argument("--device", default="cpu", help="where the validation measures real steps: cpu, or cuda when a GPU is present")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))

    if args.validate:
        import pandas as pd

        df = validate(dtypes=args.validate_dtypes.split(","), device=args.device)
        if args.device == "cpu":  # the paper-setting dropout (CUDA's fused kernel) swapped into real CPU steps
            df = pd.concat([df, validate(["lora", "dora"], dtypes=["bfloat16"], device="cpu", target="cuda")], ignore_index=True)
        df.to_csv(out / "validation.csv", index=False)
        _write_json(out / "validation.json", {"settings": {"model": VALIDATION_MODEL, "batch": 2, "seq": 128, "k": 20, "r": 8, "device": args.device},
                                              "environment": _environment(), "rows": df.to_dict(orient="records")})
        cols = ["dtype", "target", "method_tag", "measured_peak", "estimated_peak", "err_peak_pct", "err_total_pct", "err_peak_step_pct", "err_activations_pct"]
        print(df[cols].to_string(index=False))
        return 0

    models = [m for m in args.models.split(",") if m]
    ks = [int(k) for k in args.k.split(",") if k]
    methods = [m for m in args.methods.split(",") if m]
    t0 = time.perf_counter()
    df, detail = sweep(models, ks, methods, r=args.r, dtype=args.dtype, batch=args.batch, seq=args.seq,
                       foreach=not args.no_foreach, detail_k=args.bar_k, target=args.target)
    settings = {"models": models, "k": ks, "methods": methods, "r": args.r, "dtype": args.dtype, "mixed_precision": args.dtype != "float32",
                "batch": args.batch, "seq": args.seq, "optimizer": "torch AdamW, foreach" if not args.no_foreach else "torch AdamW, single-tensor",
                "lora_targets": LORA_PAPER_TARGETS, "lora_alpha": 2 * args.r, "lora_dropout": 0.05, "sparse_targets": LLAMA_TARGETS,
                "target": args.target, "seconds": time.perf_counter() - t0}
    df.to_csv(out / "estimates.csv", index=False)
    detail.to_csv(out / "saved_tensors.csv", index=False)
    _write_json(out / "estimates.json", {"settings": settings, "environment": _environment(), "rows": df.to_dict(orient="records")})

    from .analysis.plots import plot_memory_by_method, plot_memory_vs_k

    figures = Path(args.figures) if args.figures else out.parent / "figures"
    for model in models:
        plot_memory_by_method(df, model, figures / f"memory_by_method_{model}.png", k=args.bar_k)
        plot_memory_vs_k(df, model, figures / f"memory_vs_k_{model}.png")
    view = df[df["k"].isna() | (df["k"] == args.bar_k)]
    print(view[["model", "method_tag", "parameters_gb", "buffers_gb", "optimizer_state_gb", "peak_gradients_gb", "peak_activations_gb",
                "peak_temporaries_gb", "peak_gb", "total_gb"]].round(2).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
