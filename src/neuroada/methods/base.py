"""What every fine-tuning method hands to the shared trainer."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from torch import nn

from ..params import ParamReport, param_report


@dataclass
class PreparedMethod:
    name: str
    model: nn.Module
    merge_fn: Callable[[nn.Module], nn.Module]
    save_fn: Callable[[nn.Module, Path], Any]
    callbacks: list = field(default_factory=list)  # transformers.TrainerCallback instances
    no_decay: set[str] = field(default_factory=set)  # parameter names the optimizer must not decay
    mergeable: bool = True  # False: merging changes nothing (full FT, masked)

    @property
    def params(self) -> ParamReport:
        return param_report(self.model)

    def merge(self) -> nn.Module:
        """Returns a plain model with the adaptation folded into its weights."""
        self.model = self.merge_fn(self.model)
        return self.model

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        self.save_fn(self.model, path)
        return path
