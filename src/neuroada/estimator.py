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

Activation checkpointing (`checkpointing=`): HF's, of every decoder layer, turned on as the Trainer does for
`trainer.gradient_checkpointing=true` (`memory.enable_activation_checkpointing`), so the fake step runs
torch.utils.checkpoint itself: the layers' inputs are what the checkpoint saves (`activations`), and what a
layer's recomputation in backward allocates is counted apart at the peak (`peak_recomputed`). `peak_logits`
is the part of the peak held by vocabulary-wide tensors (logits, their fp32 copies, log-softmax, gradients).

Validated (peak within 0.04 %) against measured CPU steps of a SmolLM2-shaped model (`validate`, the
`--validate` command, tests/test_estimator.py), for every method, in fp32 and in bf16 under autocast, and in
fp32 with activation checkpointing, reentrant and non-reentrant.

Command line (the sweep of the paper's setting with and without checkpointing, the largest batch that fits
each GPU size, and the validation against measured steps):

    python -m neuroada.estimator --models llama-7b,llama-13b,llama3-8b --k 1,5,10,20,50 --batch 16,4 \
        --checkpointing none,non_reentrant --out results/memory/
    python -m neuroada.estimator --fits --models llama-7b,llama-13b,llama3-8b --out results/memory/
    python -m neuroada.estimator --validate --validate-dtypes float32 --validate-checkpointing none,non_reentrant,reentrant \
        --keep-rows --out results/memory/
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
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
from .memory import CATEGORIES, CHECKPOINTING, MemoryReport, checkpointing_mode, enable_activation_checkpointing, unique_nbytes

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
        self.made_in: list[tuple[str, int]] = []  # serial -> (phase, last dimension of the tensor that created it)
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
        self.made_in.append((self.phase, int(t.shape[-1]) if t.dim() else 0))
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
    checkpointing: str = "none"  # HF activation checkpointing of every decoder layer: none / non_reentrant / reentrant
    trainable_numel: int = 0
    base_numel: int = 0
    peak_phase: str | None = None  # forward / backward / optimizer: where the step's peak happened
    # What was alive at the step's peak: saved activations, gradients, what the recomputation of a checkpointed
    # layer made (0 without checkpointing), everything else (temporaries); they sum to `peak_step`, and `peak` =
    # parameters + buffers + optimizer state + peak_step is the simulated peak. (`total` follows memory.py: static +
    # max(peak_step, activations + gradients), which counts activations and gradients at full size together even
    # when the activations are partly freed before all gradients exist.)
    peak_activations: int = 0
    peak_gradients: int = 0
    peak_temporaries: int = 0
    peak_recomputed: int = 0
    # Of those, the storages as wide as the vocabulary (logits, their fp32 copies, log-softmax, their gradients):
    # a detail that overlaps the categories above, not another one.
    peak_logits: int = 0
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
                  "peak_temporaries", "peak_recomputed", "peak_logits", "trainable_parameters"):
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


@contextlib.contextmanager
def _marking_recomputation(model: nn.Module, tracker: "_LiveStorages"):
    """While active, a checkpointed layer that runs again during backward (its recomputation) sets the tracker's
    phase to `recompute`, so that what it allocates can be told apart. Wraps the checkpoint function HF gave each
    layer (`_gradient_checkpointing_func`), for reentrant and non-reentrant checkpointing alike."""
    wrapped = []
    for mod in model.modules():
        fn = mod.__dict__.get("_gradient_checkpointing_func")
        if fn is None:
            continue

        def marked(run, *args, _ckpt=fn, **kwargs):
            def again(*a, **kw):
                if tracker.phase not in ("backward", "recompute"):
                    return run(*a, **kw)
                before, tracker.phase = tracker.phase, "recompute"
                try:
                    return run(*a, **kw)
                finally:
                    tracker.phase = before
            return _ckpt(again, *args, **kwargs)

        mod._gradient_checkpointing_func = marked
        wrapped.append((mod, fn))
    try:
        yield
    finally:
        for mod, fn in wrapped:
            mod._gradient_checkpointing_func = fn


def simulate_step(model: nn.Module, batch_fn, *, mixed_precision: bool, foreach: bool | None, lr: float = 1e-4,
                  device: torch.device = torch.device("cpu"), step_fn=_default_step, vocab_size: int | None = None) -> dict[str, Any]:
    """One measured training step of `model` (fake) after creating AdamW's state; returns the counts.

    The warm-up gives every trainable parameter a zero gradient and steps AdamW once (creating its state
    exactly as a real first step does) instead of running a whole forward/backward. With activation
    checkpointing on (`memory.enable_activation_checkpointing`), what a layer's recomputation allocates is
    counted apart (`peak_recomputed`); `vocab_size` names the width of the logits (`peak_logits`).
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

        with tracker, _marking_recomputation(model, tracker):
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
    peak_recomputed = sum(n for s, n in at_peak.items() if tracker.made_in[s][0] == "recompute" and s not in saved_serials | grad_serials)
    peak_logits = sum(n for s, n in at_peak.items() if vocab_size and tracker.made_in[s][1] == vocab_size and s not in grad_serials)
    detail: dict[tuple, list[int]] = {}
    for n, desc in alive:
        c = detail.setdefault(desc, [0, 0])
        c[0] += 1
        c[1] += n
    return dict(parameters=param_bytes, trainable_parameters=trainable_bytes, buffers=buffer_bytes, gradients=grad_bytes,
                optimizer_state=opt_bytes, activations=activations, temporaries=max(0, peak_step - activations - grad_bytes),
                peak_step=peak_step, n_saved_tensors=n_packed, peak_phase=tracker.peak_phase, peak_activations=peak_activations,
                peak_gradients=peak_gradients, peak_recomputed=peak_recomputed,
                peak_temporaries=peak_step - peak_activations - peak_gradients - peak_recomputed, peak_logits=peak_logits,
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
                         target: str = "cuda", model_name: str | None = None, checkpointing: bool | str = False) -> MemoryEstimate:
    """Estimates the memory of one training step (module docstring) without allocating the model.

    `model`: a paper model name (`PAPER_MODELS`), a dict of LlamaConfig fields or a config. `method`: a name
    (`METHODS`, with `k`/`r` and the paper's targets) or a full method block. `dtype`: the weights' dtype;
    `mixed_precision` (default: dtype is not float32) runs the forward under bf16 autocast, as the HF
    Trainer with `bf16=True`. `foreach`: AdamW's implementation (torch's default on CUDA is foreach, on
    CPU the single-tensor loop); the foreach step makes a parameter-sized temporary. `target`: whose kernels
    the saved tensors follow where CPU and CUDA differ -- `cuda` (the paper's setting: fused dropout saving
    a bool mask) or `cpu` (dropout saving a noise tensor of the input's dtype, as a CPU run does).
    `checkpointing`: HF's activation checkpointing of every decoder layer, as `trainer.gradient_checkpointing=true`
    turns it on (`none`, `non_reentrant` = True, or `reentrant`; `memory.enable_activation_checkpointing`).
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
    ckpt = checkpointing_mode(checkpointing)
    enable_activation_checkpointing(meta, ckpt)
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
        counts = simulate_step(meta, batch_fn, mixed_precision=mixed_precision, foreach=foreach, device=device, vocab_size=cfg.vocab_size)
    name = model_name or (model if isinstance(model, str) else getattr(cfg, "name_or_path", "") or "custom")
    return MemoryEstimate(device="fake", model=name, method=mcfg["name"], method_tag=_tag(mcfg), k=mcfg.get("k"), r=mcfg.get("r"),
                          dtype=str(torch_dtype).replace("torch.", ""), mixed_precision=mixed_precision, batch=batch, seq=seq,
                          foreach=foreach, target=target, checkpointing=ckpt, trainable_numel=trainable_numel, base_numel=base_numel,
                          seconds=time.perf_counter() - t0, **counts)


# ---------------------------------------------------------------------------------------------------------
# sweeps, validation, command line


def sweep(models: Iterable[str], ks: Iterable[int], methods: Iterable[str] = METHODS, *, r: int = 32, dtype: str = "bfloat16",
          batch: int | Iterable[int] = 16, seq: int = 512, foreach: bool | None = True, detail_k: int | None = 20, target: str = "cuda",
          checkpointing: Iterable[bool | str] = ("none",)):
    """Estimates for every model x method (x k for the sparse methods) x checkpointing mode x batch. The k sweep
    runs at the first batch without checkpointing (the first mode); the other batches and modes only at k =
    `detail_k` (and the k-free methods). Returns (rows DataFrame, saved-tensor detail DataFrame for the first
    batch, k = `detail_k` and the k-free methods)."""
    import pandas as pd

    batches = [batch] if isinstance(batch, int) else list(batch)
    modes = [checkpointing_mode(c) for c in checkpointing]
    rows, details = [], []
    for model in models:
        for b_i, b in enumerate(batches):
            for c_i, ckpt in enumerate(modes):
                for method in methods:
                    sparse_ks = list(ks) if b_i == 0 and c_i == 0 else [detail_k if detail_k is not None else 20]
                    for k in (sparse_ks if method in SPARSE_METHODS else [None]):
                        e = estimate_step_memory(model, method, k=k or 20, r=r, dtype=dtype, batch=b, seq=seq, foreach=foreach, target=target,
                                                 checkpointing=ckpt)
                        log.info("%s %s batch %d checkpointing %s: peak %.2f GB (%.1fs)", model, e.method_tag, b, ckpt, e.peak / GB, e.seconds)
                        row = e.to_row()
                        if method not in SPARSE_METHODS:
                            row["k"] = None
                        rows.append(row)
                        if b_i == 0 and (k is None or k == detail_k):
                            details += [{"model": model, "method": method, "method_tag": e.method_tag, "batch": b, "checkpointing": ckpt, **d}
                                        for d in e.saved_detail]
    return pd.DataFrame(rows), pd.DataFrame(details)


# ---------------------------------------------------------------------------------------------------------
# what fits on a GPU

GPU_SIZES_GIB = (24, 40, 80)
USABLE_FRACTION = 0.9  # of the card's memory, for the tracked tensors; the rest: CUDA context, workspaces, fragmentation


def largest_batch(peak_of, budget: int, *, points: tuple[int, int] = (4, 16), max_batch: int = 4096) -> int:
    """The largest batch whose peak (`peak_of(batch)`, bytes) is at most `budget`; 0 when not even batch 1 fits.

    The peak of a step grows with the batch by a constant per sequence (activations) on top of what does not
    depend on it (weights, optimizer state, gradients), so a line through two `points` gives the guess; the
    answer is then checked (peak(b) <= budget < peak(b + 1)) and searched for where the line was off."""
    b0, b1 = points
    p0, p1 = peak_of(b0), peak_of(b1)
    slope = (p1 - p0) / (b1 - b0)
    guess = max(b0, b1) if slope <= 0 else int((budget - (p0 - slope * b0)) // slope)
    guess = min(max(guess, 0), max_batch)

    def fits(b: int) -> bool:
        return b == 0 or peak_of(b) <= budget

    lo, hi, step = guess, guess + 1, 1
    while not fits(lo):
        hi, lo, step = lo, max(0, lo - step), step * 2
    while hi <= max_batch and fits(hi):
        lo, hi, step = hi, min(hi + step, max_batch + 1), step * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def fits_table(models: Iterable[str], methods: Iterable[str] = METHODS, *, k: int = 20, r: int = 32, dtype: str = "bfloat16", seq: int = 512,
               checkpointing: Iterable[bool | str] = ("none", "non_reentrant"), gpus_gib: Iterable[float] = GPU_SIZES_GIB,
               usable: float = USABLE_FRACTION, foreach: bool | None = True, target: str = "cuda", known: Any = None):
    """The largest batch (sequences of `seq` tokens) whose estimated peak fits in `usable` x each GPU's memory
    (GiB), per model, method (sparse methods at `k`) and checkpointing mode. `known`: an estimates DataFrame whose
    peaks are reused where model, method, k, batch, seq and checkpointing match. Returns one row per GPU size,
    with the peaks that bound the answer and the peak's growth per sequence."""
    import pandas as pd

    cache: dict[tuple, int] = {}
    if known is not None and len(known):
        kn = known.copy()
        if "checkpointing" not in kn:
            kn["checkpointing"] = "none"
        kn = kn[(kn["seq"] == seq) & (kn["dtype"] == str(DTYPES[dtype]).replace("torch.", ""))]
        for row in kn.to_dict("records"):
            kk = None if row["method"] not in SPARSE_METHODS else int(row["k"])
            cache[(row["model"], row["method"], kk, checkpointing_mode(row["checkpointing"]), int(row["batch"]))] = int(row["peak"])
    rows = []
    for model in models:
        for ckpt in (checkpointing_mode(c) for c in checkpointing):
            for method in methods:
                kk = k if method in SPARSE_METHODS else None
                tag = _tag(method_config(method, k, r))

                def peak_of(b, _m=model, _meth=method, _c=ckpt, _k=kk):
                    key = (_m, _meth, _k, _c, b)
                    if key not in cache:
                        e = estimate_step_memory(_m, _meth, k=k, r=r, dtype=dtype, batch=b, seq=seq, foreach=foreach, target=target, checkpointing=_c)
                        log.info("fits: %s %s batch %d checkpointing %s: peak %.2f GB (%.1fs)", _m, e.method_tag, b, _c, e.peak / GB, e.seconds)
                        cache[key] = e.peak
                    return cache[key]

                per_seq = (peak_of(16) - peak_of(4)) / 12
                for gib in gpus_gib:
                    budget = int(usable * gib * 2**30)
                    b = largest_batch(peak_of, budget)
                    rows.append({"model": model, "method": method, "method_tag": tag, "k": kk, "checkpointing": ckpt, "gpu_gib": gib,
                                 "usable_fraction": usable, "budget_bytes": budget, "seq": seq, "dtype": dtype, "max_batch": b,
                                 "peak_at_max_batch": peak_of(b) if b else None, "peak_at_next_batch": peak_of(b + 1),
                                 "peak_per_sequence": per_seq, "kind": "estimated"})
    return pd.DataFrame(rows)


def _real_model(cfg, dtype: torch.dtype, seed: int = 0) -> nn.Module:
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(cfg).to(dtype).train()


VALIDATION_MODEL = dict(PAPER_MODELS["smollm2-135m"], num_hidden_layers=2)  # SmolLM2-135M's shapes, 2 layers


def validate(methods: Iterable[str] = ("neuroada", "released", "lora", "dora", "masked", "full"), *,
             model: Mapping[str, Any] | None = None, dtypes: Iterable[str] = ("float32",), batch: int = 2, seq: int = 128,
             k: int = 20, r: int = 8, device: str = "cpu", foreach: bool | None = None, target: str | None = None,
             checkpointing: Iterable[bool | str] = ("none",)):
    """Measured (memory.measure_step_memory on a real random model) vs estimated, per method, dtype and
    activation-checkpointing mode (`checkpointing`: none / non_reentrant / reentrant, turned on in both alike by
    `memory.enable_activation_checkpointing`).

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
    for dtype, ckpt, method in itertools.product(dtypes, [checkpointing_mode(c) for c in checkpointing], methods):
        torch_dtype = DTYPES[dtype]
        mixed = torch_dtype != torch.float32
        mcfg = method_config(method, k, r)
        est = estimate_step_memory(model, mcfg, dtype=dtype, batch=batch, seq=seq, foreach=foreach, target=target, model_name="validation",
                                   checkpointing=ckpt)
        real = enable_activation_checkpointing(apply_method(_real_model(cfg, torch_dtype), mcfg).to(dev), ckpt)
        ids = torch.randint(0, cfg.vocab_size, (batch, seq), generator=torch.Generator().manual_seed(1)).to(dev)

        def step_fn(m, b, _mixed=mixed):
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=_mixed):
                return m(**b).loss

        with _cuda_dropout() if swap_dropout else contextlib.nullcontext():
            meas = measure_step_memory(real, {"input_ids": ids, "labels": ids},
                                       lambda ps: torch.optim.AdamW(ps, lr=1e-4, weight_decay=0.0, foreach=foreach), step_fn=step_fn)
        del real
        row = {"model": f"smollm2-shaped-{cfg.num_hidden_layers}L", "method": method, "method_tag": est.method_tag, "dtype": dtype,
               "mixed_precision": mixed, "batch": batch, "seq": seq, "device": str(dev), "target": target, "checkpointing": ckpt}
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
        log.info("validation %s %s checkpointing %s: measured peak %.1f MB, estimated %.1f MB (%+.3f %%)", dtype, method, ckpt,
                 row["measured_peak"] / 2**20, est.peak / 2**20, row["err_peak_pct"])
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
        from .analysis.plots import plot_fits

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

    from .analysis.plots import plot_checkpointing, plot_memory_by_method, plot_memory_vs_k

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


if __name__ == "__main__":
    raise SystemExit(main())
