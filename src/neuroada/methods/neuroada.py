from __future__ import annotations

from typing import Any, Iterable

from torch import nn

from ..adapter import apply_neuroada, merge_neuroada
from ..adapter_io import save_adapter
from ..config import NeuroAdaConfig
from .base import PreparedMethod

NEUROADA_KEYS = set(NeuroAdaConfig.__dataclass_fields__)


def neuroada_config(cfg: dict[str, Any]) -> NeuroAdaConfig:
    return NeuroAdaConfig.from_dict({k: v for k, v in cfg.items() if k in NEUROADA_KEYS})


def prepare_neuroada(model: nn.Module, cfg: dict[str, Any], extra_trainable: Iterable[str] = (), calibration_batches=None) -> PreparedMethod:
    apply_neuroada(model, neuroada_config(cfg), calibration_batches=calibration_batches, extra_trainable=extra_trainable)
    return PreparedMethod("neuroada", model, merge_neuroada, save_adapter)
