"""Untrained: the model as loaded, nothing trained; the floor of a generation study (what fine-tuning adds to).
A run with it scores the model once, as its after pass, with no Trainer, no optimizer and no checkpoint:
0 trainable parameters, nothing to merge or save. Generation tasks only: a classification model as loaded has
a randomly initialised head, and its floor is `method=head_only`."""
from __future__ import annotations

from typing import Any, Iterable

from torch import nn

from .base import PreparedMethod

NAME = "untrained"


def classification_error(task: str | None, kind: str | None) -> ValueError:
    return ValueError(f"method=untrained scores the model as loaded, and task {task!r} is a {kind} task whose head would "
                      "be scored at its random initialisation; the floor of a classification task is method=head_only")


def prepare_untrained(model: nn.Module, cfg: dict[str, Any], extra_trainable: Iterable[str] = (), calibration_batches=None) -> PreparedMethod:
    model.requires_grad_(False)
    return PreparedMethod(NAME, model, merge_fn=lambda m: m, save_fn=lambda m, path: None, mergeable=False)
