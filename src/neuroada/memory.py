"""Measured memory of one training step, split into the categories of the performance issue.

`measure_step_memory(model, batch, optimizer_factory)` runs one training step (forward, backward,
optimizer step) and reports, in bytes:

- `parameters`: every nn.Parameter of the model (trainable and frozen), each storage counted once
  (tied weights once). `trainable_parameters` is the trainable part of it.
- `buffers`: module buffers plus tensors attached to parameters as attributes (e.g. the dense masks of
  the masked baseline) -- method state that is not a parameter.
- `gradients`: the storages of `.grad` after backward.
- `optimizer_state`: the storages in `optimizer.state` after the step (AdamW: exp_avg, exp_avg_sq and
  a 0-d `step` per parameter).
- `activations`: the unique non-parameter, non-buffer storages saved for backward during the forward,
  seen through `torch.autograd.graph.saved_tensors_hooks`; a storage saved by several nodes (q/k/v save
  one input) or through several views counts once, with its full `nbytes`. A dense `W'` that a layer
  rebuilds and saves (the released code's composition) is such a storage; a frozen weight saved by
  reference is not.
- `temporaries`: the part of the step's measured peak that the saved activations and gradients do not
  explain: `max(0, peak_step - activations - gradients)`, where `peak_step` is the highest amount of
  memory allocated during the step above what was allocated when it began (CPU: the profiler's
  allocator events; CUDA: `max_memory_allocated`). None when the peak was not measured.

`accounted = parameters + buffers + gradients + optimizer_state + activations` (the figure the issue
compares between methods) and `total = accounted + temporaries`, which equals
`static + max(peak_step, activations + gradients)` with `static = parameters + buffers + optimizer_state`.
On CUDA the report also carries `torch.cuda.max_memory_allocated` around the step.

By default a warm-up step runs first (not measured) so that lazily created optimizer state exists, as in
steady-state training; both steps update the model. This module measures; an analytic estimator for
models too large to run can build on the same categories.
"""
from __future__ import annotations

import itertools
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable, Mapping

import torch
from torch import Tensor, nn

StepFn = Callable[[nn.Module, Any], Tensor]
OptimizerFactory = Callable[[list[nn.Parameter]], torch.optim.Optimizer]  # or an Optimizer instance

CATEGORIES = ("parameters", "buffers", "gradients", "optimizer_state", "activations", "temporaries")


@dataclass
class MemoryReport:
    parameters: int
    trainable_parameters: int
    buffers: int
    gradients: int
    optimizer_state: int
    activations: int
    temporaries: int | None
    peak_step: int | None  # peak allocated during the step above the allocation at its start
    n_saved_tensors: int  # saved-tensor packs seen (before de-duplication)
    device: str
    cuda_max_memory_allocated: int | None = None
    cuda_memory_allocated_before: int | None = None

    @property
    def static(self) -> int:
        return self.parameters + self.buffers + self.optimizer_state

    @property
    def accounted(self) -> int:
        """parameters + buffers + gradients + optimizer state + saved activations."""
        return self.static + self.gradients + self.activations

    @property
    def total(self) -> int:
        return self.accounted + (self.temporaries or 0)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "static": self.static, "accounted": self.accounted, "total": self.total}

    def __str__(self) -> str:
        mb = lambda b: "n/a" if b is None else f"{b / 2**20:.1f} MB"  # noqa: E731
        parts = [f"{c} {mb(getattr(self, c))}" for c in CATEGORIES]
        return ", ".join(parts) + f"; accounted {mb(self.accounted)}, total {mb(self.total)}"


def storage_key(t: Tensor) -> int:
    """Identity of the memory behind `t` (shared by all its views)."""
    try:
        ptr = t.untyped_storage().data_ptr()
    except (RuntimeError, NotImplementedError):  # sparse, meta or other storage-less tensors
        return id(t)
    return ptr if ptr else id(t)


def storage_nbytes(t: Tensor) -> int:
    try:
        return t.untyped_storage().nbytes()
    except (RuntimeError, NotImplementedError):
        return t.numel() * t.element_size()


def unique_nbytes(tensors: Iterable[Tensor], exclude: set[int] = frozenset(), key: Callable[[Tensor], int] | None = None) -> tuple[int, set[int]]:
    """Bytes of the distinct storages behind `tensors` (each counted once, whole), skipping `exclude`.
    `key` identifies a storage (default `storage_key`; fake tensors need another identity)."""
    key_of = key or storage_key
    seen: set[int] = set()
    total = 0
    for t in tensors:
        k = key_of(t)
        if k in seen or k in exclude:
            continue
        seen.add(k)
        total += storage_nbytes(t)
    return total, seen


def _attached_tensors(p: Tensor) -> list[Tensor]:
    return [v for v in vars(p).values() if isinstance(v, Tensor)] if hasattr(p, "__dict__") else []


def optimizer_tensors(opt: torch.optim.Optimizer | None) -> list[Tensor]:
    if opt is None:
        return []
    return [v for state in opt.state.values() for v in state.values() if isinstance(v, Tensor)]


def default_step_fn(model: nn.Module, batch: Any) -> Tensor:
    """`model(**batch).loss` for HF models; otherwise the output (summed if not a scalar)."""
    out = model(**batch) if isinstance(batch, Mapping) else model(batch)
    loss = getattr(out, "loss", None)
    if loss is None:
        loss = out[0] if isinstance(out, (tuple, list)) else out
    return loss if loss.dim() == 0 else loss.float().sum()


class _CpuPeak:
    """Peak of the CPU allocator's live bytes over a region, from the profiler's memory events."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.peak: int | None = None

    def __enter__(self):
        if self.enabled:
            from torch.profiler import ProfilerActivity, profile

            self._prof = profile(activities=[ProfilerActivity.CPU], profile_memory=True)
            self._prof.__enter__()
        return self

    def __exit__(self, *exc):
        if not self.enabled:
            return False
        self._prof.__exit__(*exc)
        if exc[0] is None:
            events = [e for e in self._prof.profiler.kineto_results.events() if e.name() == "[memory]" and "CPU" in str(e.device_type())]
            events.sort(key=lambda e: e.start_ns())
            self.peak = max(itertools.accumulate((e.nbytes() for e in events), initial=0))
        del self._prof
        return False


def measure_peak(fn: Callable[[], Any], device: torch.device | str = "cpu") -> tuple[Any, int]:
    """Runs `fn()` and returns its result and the peak memory it allocated above the start (bytes)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        out = fn()
        torch.cuda.synchronize(device)
        return out, torch.cuda.max_memory_allocated(device) - before
    with _CpuPeak(True) as peak:
        out = fn()
    return out, peak.peak


def measure_step_memory(
    model: nn.Module,
    batch: Any,
    optimizer_factory: OptimizerFactory | None = None,
    *,
    step_fn: StepFn | None = None,
    warmup: bool = True,
    track_peak: bool = True,
) -> MemoryReport:
    """Runs one training step of `model` on `batch` and measures its memory (see the module docstring).

    `optimizer_factory(trainable_params)` builds the optimizer; an optimizer instance is used as is
    (e.g. one whose state already exists, with `warmup=False`); None: no optimizer step. `step_fn(model,
    batch)` returns the loss to back-propagate (default: `model(**batch).loss`), or a tuple
    `(output, grad_output)` for `torch.autograd.backward`; a backbone with no trainable parameter still
    needs an input that requires grad for backward to run, which is `step_fn`'s business.
    `track_peak=False` skips the peak (and `temporaries`), which on CPU needs the profiler.
    """
    step_fn = step_fn or default_step_fn
    params = list(model.parameters())
    trainable = [p for p in params if p.requires_grad]
    if isinstance(optimizer_factory, torch.optim.Optimizer):
        opt = optimizer_factory
    else:
        opt = optimizer_factory(trainable) if (optimizer_factory is not None and trainable) else None
    device = params[0].device if params else torch.device("cpu")
    is_cuda = device.type == "cuda"

    def one_step(hooks=None):
        ctx = torch.autograd.graph.saved_tensors_hooks(*hooks) if hooks else nullcontext()
        with ctx:
            out = step_fn(model, batch)
        if isinstance(out, tuple):  # (output, grad_output): backward with an explicit seed
            torch.autograd.backward(out[0], out[1])
        else:
            out.backward()
        del out
        grads = [p.grad for p in params if p.grad is not None]
        grad_bytes, _ = unique_nbytes(grads)
        del grads
        if opt is not None:
            opt.step()
        return grad_bytes

    if warmup:
        one_step()
        _zero_grad(model, opt)

    param_bytes, param_keys = unique_nbytes(params)
    trainable_bytes, _ = unique_nbytes(trainable)
    attached = [t for p in params for t in _attached_tensors(p)]
    buffer_bytes, buffer_keys = unique_nbytes(itertools.chain(model.buffers(), attached), exclude=param_keys)
    static_keys = param_keys | buffer_keys

    saved: dict[int, int] = {}
    n_packed = 0

    def pack(t: Tensor):
        nonlocal n_packed
        n_packed += 1
        key = storage_key(t)
        if key not in static_keys and key not in saved:
            saved[key] = storage_nbytes(t)
        return t

    cuda_before = cuda_peak = None
    if is_cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        cuda_before = torch.cuda.memory_allocated(device)
    with _CpuPeak(track_peak and not is_cuda) as cpu_peak:
        grad_bytes = one_step((pack, lambda t: t))
    if is_cuda:
        torch.cuda.synchronize(device)
        cuda_peak = torch.cuda.max_memory_allocated(device)
    opt_bytes, _ = unique_nbytes(optimizer_tensors(opt), exclude=static_keys)
    _zero_grad(model, opt)

    activations = sum(saved.values())
    peak = (cuda_peak - cuda_before) if is_cuda else cpu_peak.peak
    temporaries = None if peak is None else max(0, peak - activations - grad_bytes)
    return MemoryReport(
        parameters=param_bytes,
        trainable_parameters=trainable_bytes,
        buffers=buffer_bytes,
        gradients=grad_bytes,
        optimizer_state=opt_bytes,
        activations=activations,
        temporaries=temporaries,
        peak_step=peak,
        n_saved_tensors=n_packed,
        device=str(device),
        cuda_max_memory_allocated=cuda_peak,
        cuda_memory_allocated_before=cuda_before,
    )


CHECKPOINTING = ("none", "non_reentrant", "reentrant")


def checkpointing_mode(value: bool | str | None) -> str:
    """`none`, `non_reentrant` or `reentrant` from a bool (True = HF's default, non-reentrant) or one of those names."""
    if value is None or value is False or value in ("none", "false", "False", ""):
        return "none"
    if value is True or value in ("true", "True", "non_reentrant", "non-reentrant"):
        return "non_reentrant"
    if value == "reentrant":
        return "reentrant"
    raise ValueError(f"checkpointing must be one of {CHECKPOINTING} (or a bool), got {value!r}")


def enable_activation_checkpointing(model: nn.Module, mode: bool | str = True) -> nn.Module:
    """Turns on HF's activation checkpointing of every decoder layer as the Trainer does with
    `activation_checkpointing=True` (`trainer.gradient_checkpointing=true`): `use_reentrant` from `mode`. HF also
    makes the input embeddings' output require grad, which reentrant checkpointing needs to reach trainable
    tensors inside a layer whose inputs come from frozen modules. peft models forward the call to the base model."""
    mode = checkpointing_mode(mode)
    if mode == "none":
        return model
    kwargs = {"use_reentrant": mode == "reentrant"}
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:  # transformers < 5.x names it gradient_checkpointing_enable
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    return model


def _zero_grad(model: nn.Module, opt: torch.optim.Optimizer | None) -> None:
    if opt is not None:
        opt.zero_grad(set_to_none=True)
    model.zero_grad(set_to_none=True)


def tracked_training_memory(model: nn.Module, optimizer: torch.optim.Optimizer | None, activations: int | None) -> dict[str, int | None]:
    """The tensor memory of a training run, by category, from the live model and optimizer after training
    and the activations a real step saved (see `SavedActivations`)."""
    params, keys = unique_nbytes(model.parameters())
    grads = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    optim = unique_nbytes(optimizer_tensors(optimizer))[0]
    buffers = unique_nbytes(itertools.chain(model.buffers(), *(_attached_tensors(p) for p in model.parameters())), keys)[0]
    parts = {"parameters": params, "buffers": buffers, "gradients": grads, "optimizer_state": optim, "activations": activations}
    parts["accounted"] = None if activations is None else sum(v for v in parts.values())
    return parts


class SavedActivations:
    """Counts the unique non-parameter storages saved for backward while active (one training step)."""

    def __init__(self, model: nn.Module):
        self.params = {storage_key(p) for p in model.parameters()}
        self.sizes: dict[int, int] = {}
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)

    def _pack(self, t: Tensor) -> Tensor:
        key = storage_key(t)
        if key not in self.params:
            self.sizes.setdefault(key, storage_nbytes(t))
        return t

    @property
    def nbytes(self) -> int:
        return sum(self.sizes.values())

    def __enter__(self):
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc):
        return self._hooks.__exit__(*exc)
