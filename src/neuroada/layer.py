"""The NeuroAda linear layer: a frozen nn.Linear plus trainable bypass deltas on a sparse pattern.

Memory: the autograd Function saves only `x` (which any trainable method must keep), the frozen weight
(a reference, not a copy) and the small `delta`/`idx`. The effective weight `W'` is never kept: forward
and backward write the selected entries of `W` in place, use it, and write the original values back
(`swapped_weight`), so no `d_out x d_in` tensor is allocated at all when the compute dtype is the weight's.

Precision: `delta` is an fp32 master; the forward uses `(W[sel].float() + delta).to(W.dtype)`, exactly the
value that `merge` writes, so a merged model reproduces the training-time outputs bit for bit.
"""
from __future__ import annotations

from contextlib import contextmanager, nullcontext

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import cpu_extension
from .kernels import sddmm
from .selection import SparsePattern, check_pattern
from .targets import linear_sharing


def _gather(w: Tensor, p: SparsePattern) -> Tensor:
    if p.uniform:
        return w.gather(1, p.idx.long())
    return w[p.rows.long(), p.idx.long()]


def _scatter_(w: Tensor, p: SparsePattern, values: Tensor) -> None:
    if p.uniform:
        w.scatter_(1, p.idx.long(), values)
    else:
        w.index_put_((p.rows.long(), p.idx.long()), values)


def merged_values(weight: Tensor, delta: Tensor, p: SparsePattern) -> Tensor:
    """The selected entries of the effective weight, in the weight's dtype."""
    return (_gather(weight, p).float() + delta).to(weight.dtype)


@contextmanager
def swapped_weight(weight: Tensor, delta: Tensor, p: SparsePattern, dtype: torch.dtype):
    """Yields the effective weight `W'` in `dtype`. In place when no cast is needed; `W` is restored."""
    w = weight.detach()
    if dtype != w.dtype:  # autocast: a cast copy is made anyway, so write into the copy
        wc = w.to(dtype)
        _scatter_(wc, p, merged_values(w, delta.detach(), p).to(dtype))
        yield wc
        return
    # Writing through .data: other graph nodes that saved this frozen weight see it unchanged,
    # because it is restored before anything else runs.
    ext = cpu_extension.load() if w.device.type == "cpu" and w.is_contiguous() else None
    if ext is not None:  # one C++ pass each way over the entries, same rounding as merged_values
        crow, col = p.crow_indices(), p.idx.reshape(-1)
        old = ext.swap_in(w.data, crow, col, delta.detach().reshape(-1).float().contiguous())
        try:
            yield w
        finally:
            ext.restore(w.data, crow, col, old)
        return
    new = merged_values(w, delta.detach(), p)
    old = _gather(w, p)
    _scatter_(w.data, p, new)
    try:
        yield w
    finally:
        _scatter_(w.data, p, old)


def _no_autocast(t: Tensor):
    """autocast(enabled=False) only when autocast is on: entering it costs more than a small layer's ops."""
    return torch.autocast(t.device.type, enabled=False) if torch.is_autocast_enabled(t.device.type) else nullcontext()


def _compute_dtype(x: Tensor, weight: Tensor) -> torch.dtype:
    if torch.is_autocast_enabled(x.device.type):
        return torch.get_autocast_dtype(x.device.type)
    return weight.dtype


class SparseDeltaLinearFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, delta, idx, rows, crow, kernel):
        p = SparsePattern(idx, rows, tuple(weight.shape), crow)
        dtype = _compute_dtype(x, weight)
        xc = x.to(dtype)
        with _no_autocast(x), swapped_weight(weight, delta, p, dtype) as w:
            y = F.linear(xc, w, None if bias is None else bias.to(dtype))
        # The frozen weight is kept as a reference on ctx, not through save_for_backward: it is a
        # parameter (no copy either way), and saved-tensor hooks then see no (d_out, d_in) tensor at all.
        ctx.weight, ctx.crow = weight, crow  # the layer's cached row pointers, not an activation
        ctx.save_for_backward(xc, delta, idx, rows)
        ctx.kernel, ctx.dtype, ctx.x_dtype, ctx.x_shape = kernel, dtype, x.dtype, xc.shape
        ctx.bias_dtype = None if bias is None else bias.dtype
        return y

    @staticmethod
    def backward(ctx, grad_out):
        xc, delta, idx, rows = ctx.saved_tensors
        weight = ctx.weight
        p = SparsePattern(idx, rows, tuple(weight.shape), ctx.crow)
        g = grad_out.reshape(-1, weight.shape[0]).to(ctx.dtype)
        grad_x = grad_bias = grad_delta = None
        with _no_autocast(g):
            if ctx.needs_input_grad[0]:
                with swapped_weight(weight, delta, p, ctx.dtype) as w:
                    grad_x = (g @ w).view(ctx.x_shape).to(ctx.x_dtype)
            if ctx.needs_input_grad[3]:
                grad_delta = sddmm(g, xc.reshape(-1, weight.shape[1]), p, ctx.kernel).to(delta.dtype)
            if ctx.needs_input_grad[2]:
                grad_bias = g.float().sum(0).to(ctx.bias_dtype)
        return grad_x, None, grad_bias, grad_delta, None, None, None, None


class NeuroAdaLinear(nn.Linear):
    """An nn.Linear (same `weight`/`bias` parameters and state-dict keys) with bypass deltas.

    Extra state: `neuroada_delta` (fp32, trainable, shaped like `neuroada_idx`), `neuroada_idx`
    (columns, smallest int type) and, for patterns where rows differ in count, `neuroada_rows`.
    """

    def __init__(self, base: nn.Linear, pattern: SparsePattern, kernel: str = "auto"):
        nn.Module.__init__(self)
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight = base.weight
        self.bias = base.bias
        self.kernel = kernel
        self.register_buffer("neuroada_idx", pattern.idx)
        self.register_buffer("neuroada_rows", pattern.rows)
        self.neuroada_delta = nn.Parameter(torch.zeros(pattern.idx.shape, dtype=torch.float32, device=base.weight.device))
        self._crow: tuple[tuple, Tensor] | None = None  # CSR row pointers of the pattern, rebuilt when idx changes

    def _crow_indices(self) -> Tensor:
        idx, rows = self.neuroada_idx, self.neuroada_rows
        key = (id(idx), idx._version, idx.device, None if rows is None else (id(rows), rows._version))
        if self._crow is None or self._crow[0] != key:
            pattern = self.pattern
            check_pattern(pattern, f"{type(self).__name__}({self.out_features}, {self.in_features})")  # once per pattern
            self._crow = (key, pattern.crow_indices())
        return self._crow[1]

    @property
    def pattern(self) -> SparsePattern:
        return SparsePattern(self.neuroada_idx, self.neuroada_rows, (self.out_features, self.in_features))

    def forward(self, x: Tensor) -> Tensor:
        if self.weight.requires_grad:
            raise RuntimeError("NeuroAdaLinear needs a frozen base weight; call weight.requires_grad_(False)")
        return SparseDeltaLinearFn.apply(x, self.weight, self.bias, self.neuroada_delta, self.neuroada_idx, self.neuroada_rows,
                                         self._crow_indices(), self.kernel)

    @torch.no_grad()
    def merged(self) -> nn.Linear:
        """Writes the deltas into the weight (in place) and returns a plain nn.Linear sharing it."""
        self._crow_indices()  # a pattern out of range must not be scattered into the weight
        _scatter_(self.weight.data, self.pattern, merged_values(self.weight, self.neuroada_delta, self.pattern))
        return linear_sharing(self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, trainable={self.neuroada_delta.numel()}, kernel={self.kernel}"
