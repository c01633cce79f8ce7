"""Every fine-tuning method behind one call: `prepare_method(model, method_cfg)`."""
from __future__ import annotations

from functools import partial
from typing import Any, Iterable, Mapping

from torch import nn

from .base import PreparedMethod
from .full import prepare_full
from .head_only import load_head, prepare_head_only
from .masked import masked_weight_decay_, prepare_masked
from .neuroada import prepare_neuroada
from .peft_methods import lora_rank_for_budget, prepare_lora, prepare_shira, shira_rank
from .untrained import prepare_untrained
from .validation import validate_method_config

METHODS = {
    "neuroada": prepare_neuroada,
    "lora": prepare_lora,
    "dora": partial(prepare_lora, dora=True),
    "shira": prepare_shira,
    "full": prepare_full,
    "masked": prepare_masked,
    "head_only": prepare_head_only,
    "untrained": prepare_untrained,
}


def prepare_method(
    model: nn.Module,
    cfg: Mapping[str, Any],
    *,
    extra_trainable: Iterable[str] = (),
    calibration_batches=None,
    weight_decay: float = 0.0,
) -> PreparedMethod:
    """Applies the method named `cfg["name"]` (neuroada, lora, dora, shira, full, masked, head_only,
    untrained) to `model`.
    `extra_trainable`: the classification head(s), trained densely by every method (head_only: by itself)."""
    validate_method_config(cfg)
    cfg = dict(cfg)
    name = cfg.pop("name")
    kwargs = {"weight_decay": weight_decay} if name == "masked" else {}
    return METHODS[name](model, cfg, extra_trainable=tuple(extra_trainable), calibration_batches=calibration_batches, **kwargs)


__all__ = ["METHODS", "PreparedMethod", "prepare_method", "lora_rank_for_budget", "shira_rank", "load_head", "masked_weight_decay_"]
