"""One training step on fake tensors (AdamW's state first, then forward, backward, AdamW step), counted."""
from __future__ import annotations

import contextlib
import weakref
from typing import Any, Mapping

import torch
from torch import Tensor, nn

from .fake import _fake_friendly_kernels
from .tracking import _LiveStorages, _unique_nbytes


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
