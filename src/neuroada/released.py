"""The released code's composition of NeuroAda, as a layer, for comparison only (benchmarks, tests).

The released implementation (github FightingFighting/NeuroAda) keeps, per adapted weight, flat int64
positions into `W.flatten()` and a trainable `delta` in the WEIGHT's dtype, and on every forward builds

    W' = W.flatten().scatter_add(0, pos, delta).view_as(W);   y = F.linear(x, W', b)

inside autograd. Autograd then saves the dense `W'` (a `d_out x d_in` non-parameter tensor per layer) for
the input gradient, and the backward of `F.linear` forms the dense `d_out x d_in` weight gradient before
`scatter_add`'s backward gathers `delta`'s gradient from it. `NeuroAdaLinear` (layer.py) computes the
same function without either cost; `apply_released_neuroada` uses the same target matching and the same
`select_pattern`, so the two patterns are identical and the layers can be compared entry for entry.

Not used for training: prefer `neuroada.apply_neuroada`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import NeuroAdaConfig
from .selection import SparsePattern, select_pattern
from .targets import find_linear_targets, linear_sharing, replace_with_merged, set_submodule


def flat_positions(pattern: SparsePattern) -> Tensor:
    """int64 positions of the selected entries in `W.flatten()`, in the order of `pattern.idx.flatten()`."""
    d_in = pattern.shape[1]
    return pattern.row_index().to(pattern.idx.device) * d_in + pattern.idx.flatten().long()


class ReleasedNeuroAdaLinear(nn.Module):
    """y = x (W.flatten().scatter_add(pos, delta).view_as(W))^T + b, with `delta` in W's dtype."""

    def __init__(self, base: nn.Linear, pattern: SparsePattern):
        super().__init__()
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight = base.weight
        self.bias = base.bias
        self.weight.requires_grad_(False)
        self.register_buffer("positions", flat_positions(pattern))
        self.delta = nn.Parameter(torch.zeros(self.positions.shape, dtype=base.weight.dtype, device=base.weight.device))

    def effective_weight(self) -> Tensor:
        return self.weight.flatten().scatter_add(0, self.positions, self.delta).view_as(self.weight)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.effective_weight(), self.bias)

    @torch.no_grad()
    def merged(self) -> nn.Linear:
        self.weight.view(-1).scatter_add_(0, self.positions, self.delta)
        return linear_sharing(self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, trainable={self.delta.numel()}"


def released_layers(model: nn.Module) -> dict[str, ReleasedNeuroAdaLinear]:
    return {n: m for n, m in model.named_modules() if isinstance(m, ReleasedNeuroAdaLinear)}


def apply_released_neuroada(model: nn.Module, cfg: NeuroAdaConfig) -> nn.Module:
    """Freezes `model` and swaps every target Linear for a `ReleasedNeuroAdaLinear` (same pattern as ours).

    Supports the per-matrix selections (magnitude, reverse, random, random_layer, partial_rows);
    `gradient` and `random_global` need calibration/global budgets that only `apply_neuroada` computes.
    """
    if cfg.selection in ("gradient", "random_global"):
        raise ValueError(f"the released-code composition here supports per-matrix selections, not {cfg.selection!r}")
    targets = find_linear_targets(model, cfg.target_modules)
    model.requires_grad_(False)
    for name, lin in targets.items():
        with torch.no_grad():
            pattern = select_pattern(lin.weight, cfg.selection, cfg.k, name=name, seed=cfg.seed, row_fraction=cfg.row_fraction)
        set_submodule(model, name, ReleasedNeuroAdaLinear(lin, pattern))
    return model


@torch.no_grad()
def merge_released_neuroada(model: nn.Module) -> nn.Module:
    return replace_with_merged(model, released_layers(model), "released-code NeuroAda")
