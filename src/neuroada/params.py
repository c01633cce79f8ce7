"""Trainable-parameter accounting in the paper's convention (percent of all base-model parameters).

A classification head trained next to a method (peft's `modules_to_save` copy, or the head itself) counts as
trainable for every method, head_only included; the denominator is the base model with its own head."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from torch import nn

# Parameters a method adds on top of the base model (not part of the denominator).
ADDED_MARKERS = ("neuroada_delta", "lora_", "shira_", "modules_to_save.")


@dataclass(frozen=True)
class ParamReport:
    trainable: int
    total: int  # every parameter of the model as it is now
    base_total: int  # the base model's parameters: total minus what the method added

    @property
    def percent(self) -> float:
        return 100.0 * self.trainable / self.base_total if self.base_total else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "percent": self.percent}

    def __str__(self) -> str:
        return f"trainable {self.trainable:,} of {self.base_total:,} base parameters ({self.percent:.4f} %)"


def param_report(model: nn.Module) -> ParamReport:
    trainable = total = added = 0
    seen: set[int] = set()
    for name, p in model.named_parameters(remove_duplicate=False):
        if id(p) in seen:  # tied weights count once
            continue
        seen.add(id(p))
        n = p.numel()
        total += n
        if p.requires_grad:
            trainable += getattr(p, "neuroada_trainable", n)  # masked baseline: only its selected entries train
        added += n if any(m in name for m in ADDED_MARKERS) else 0
    return ParamReport(trainable, total, total - added)
