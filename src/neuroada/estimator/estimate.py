"""The estimate of one training step's memory (`estimate_step_memory`) and what it reports (`MemoryEstimate`)."""
from __future__ import annotations

import contextlib
import dataclasses
import time
from typing import Any, Iterable, Mapping

import torch
from torch import nn

from ..memory import CATEGORIES, MemoryReport, checkpointing_mode, enable_activation_checkpointing
from .fake import _cuda_dropout, _fakify
from .meta_model import DTYPES, GB, SPARSE_METHODS, apply_method, build_meta_model, llama_config, method_config
from .step import simulate_step


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


def _numel(model: nn.Module) -> tuple[int, int]:
    """(trainable, base) element counts; base excludes what the method added (params.py's convention)."""
    from ..params import ADDED_MARKERS

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
