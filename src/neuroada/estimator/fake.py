"""Fake tensors: the model's tensors made fake, and kernels that run on them allocating what the real ones do."""
from __future__ import annotations

import contextlib

import torch
from torch import Tensor, nn

from ..layer import swapped_weight as _real_swapped_weight


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
    from .. import cpu_extension, kernels, layer

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
