from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from safetensors.torch import save_model
from torch import nn

from ..io_utils import atomic_directory
from .base import PreparedMethod


def save_full_model(model: nn.Module, path: Path) -> None:
    with atomic_directory(path) as tmp:
        if hasattr(model, "save_pretrained"):
            model.save_pretrained(tmp)
        else:
            save_model(model, str(tmp / "model.safetensors"))


def prepare_full(model: nn.Module, cfg: dict[str, Any], extra_trainable: Iterable[str] = (), calibration_batches=None) -> PreparedMethod:
    model.requires_grad_(True)
    return PreparedMethod("full", model, merge_fn=lambda m: m, save_fn=save_full_model, mergeable=False)
