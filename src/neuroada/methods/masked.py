"""Masked sparse fine-tuning: the whole weight trainable, gradients outside the top-k pattern zeroed.

The in-situ baseline NeuroAda argues against (the released code's `perCell_mag`, LT-SFT, PaFi): the same
function class, but dense gradients, dense AdamW state and a dense mask. Frozen entries stay
bit-identical: their gradient is zeroed after accumulation (so Adam's moments stay 0 and its update is
exactly 0), and decoupled weight decay is applied to selected entries only.
"""
from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import nn
from transformers import TrainerCallback

from ..adapter import check_k_fits, mark_trainable
from ..selection import select_pattern
from ..targets import find_linear_targets
from .base import PreparedMethod
from .neuroada import neuroada_config


def _frozen_mask(param: torch.Tensor) -> torch.Tensor:
    """The dense mask, moved along lazily: it is an attribute, so `model.to(device)` does not move it."""
    if param.neuroada_frozen.device != param.device:
        param.neuroada_frozen = param.neuroada_frozen.to(param.device)
    return param.neuroada_frozen


def _zero_frozen_grad(param: torch.Tensor) -> None:
    param.grad.masked_fill_(_frozen_mask(param), 0)


def apply_masked(model: nn.Module, cfg: dict[str, Any], extra_trainable: Iterable[str] = (), calibration_batches=None) -> dict[str, nn.Parameter]:
    ncfg = neuroada_config(cfg)
    if ncfg.selection in ("gradient", "random_global"):
        raise ValueError(f"masked baseline supports per-matrix selections, not {ncfg.selection!r}")
    extra_trainable = list(extra_trainable)
    targets = find_linear_targets(model, ncfg.target_modules, exclude=extra_trainable)
    check_k_fits({n: tuple(m.weight.shape) for n, m in targets.items()}, ncfg)
    model.requires_grad_(False)
    masked = {}
    for name, lin in targets.items():
        with torch.no_grad():
            p = select_pattern(lin.weight, ncfg.selection, ncfg.k, name=name, seed=ncfg.seed, row_fraction=ncfg.row_fraction)
            frozen = torch.ones(lin.weight.shape, dtype=torch.bool, device=lin.weight.device)
            frozen[p.row_index(), p.idx.flatten().long()] = False
        lin.weight.neuroada_frozen = frozen  # dense mask, as the in-situ methods keep
        lin.weight.neuroada_trainable = p.nnz
        lin.weight.requires_grad_(True)
        lin.weight.register_post_accumulate_grad_hook(_zero_frozen_grad)
        masked[f"{name}.weight"] = lin.weight
    mark_trainable(model, extra_trainable)
    return masked


@torch.no_grad()
def masked_weight_decay_(params: Iterable[torch.Tensor], lr: float, weight_decay: float) -> None:
    """AdamW's decoupled decay `p -= lr * wd * p`, on the selected entries only."""
    if weight_decay == 0:
        return
    for p in params:
        p[~_frozen_mask(p)] *= 1.0 - lr * weight_decay


class MaskedWeightDecayCallback(TrainerCallback):
    """Applies the decay the optimizer is told to skip for masked weights, before every step."""

    def __init__(self, params: dict[str, nn.Parameter], weight_decay: float):
        self.params, self.weight_decay = list(params.values()), weight_decay

    def on_pre_optimizer_step(self, args, state, control, optimizer=None, **kwargs):
        lr = optimizer.param_groups[0]["lr"]
        masked_weight_decay_(self.params, lr, self.weight_decay)


def prepare_masked(model: nn.Module, cfg: dict[str, Any], extra_trainable: Iterable[str] = (), calibration_batches=None, weight_decay: float = 0.0) -> PreparedMethod:
    masked = apply_masked(model, cfg, extra_trainable)
    callbacks = [MaskedWeightDecayCallback(masked, weight_decay)] if weight_decay else []
    return PreparedMethod("masked", model, merge_fn=lambda m: m, save_fn=_save_full, callbacks=callbacks, no_decay=set(masked), mergeable=False)


def _save_full(model: nn.Module, path) -> None:
    from .full import save_full_model

    save_full_model(model, path)
