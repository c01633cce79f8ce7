"""Head only: the body frozen, only the sequence-classification head trained (the floor every adaptation
must clear). The head is the `extra_trainable` module(s) every method trains densely (the model
config's `head_modules`: `classifier` / `score`, and BERT's `pooler`); counted in `.params.trainable` as for
every other method, so here trainable = the head's size and the body's share is 0. Nothing to merge; `.save()` writes the head's weights only."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from safetensors.torch import load_file, save_file
from torch import nn

from ..adapter import mark_trainable
from ..io_utils import atomic_directory
from .base import PreparedMethod

HEAD_FILE = "head.safetensors"


def no_head_error(task: str | None = None, kind: str | None = None) -> ValueError:
    what = f"task {task!r} is a {kind} task, with no classification head" if kind else "no classification head was given (extra_trainable is empty)"
    return ValueError(f"method=head_only trains only a sequence-classification head (classifier/score), but {what}; "
                      "use another method (e.g. method=neuroada, lora, full)")


def save_head(model: nn.Module, path: str | Path) -> Path:
    tensors = {n: p.detach().contiguous().cpu() for n, p in model.named_parameters() if p.requires_grad}
    path = Path(path)
    with atomic_directory(path) as tmp:
        save_file(tensors, str(tmp / HEAD_FILE), metadata={"format": "neuroada-head"})
    return path


def load_head(model: nn.Module, path: str | Path) -> nn.Module:
    """Puts a saved head into `model` (the base model it was trained on); every saved tensor must fit."""
    tensors = load_file(str(Path(path) / HEAD_FILE))
    unexpected = model.load_state_dict(tensors, strict=False).unexpected_keys
    if unexpected:
        raise ValueError(f"{path}: head tensors {unexpected} match no parameter of {type(model).__name__}")
    return model


def prepare_head_only(model: nn.Module, cfg: dict[str, Any], extra_trainable: Iterable[str] = (), calibration_batches=None) -> PreparedMethod:
    heads = list(extra_trainable)
    if not heads:
        raise no_head_error()
    model.requires_grad_(False)
    mark_trainable(model, heads)
    return PreparedMethod("head_only", model, merge_fn=lambda m: m, save_fn=save_head, mergeable=False)
