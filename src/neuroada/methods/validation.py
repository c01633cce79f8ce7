"""Checks of a method config, run before anything expensive: alone, then against the model's skeleton."""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from torch import nn

from ..adapter import check_k_fits
from ..targets import find_linear_targets
from .neuroada import neuroada_config

KNOWN = ("neuroada", "lora", "dora", "full", "masked")


def validate_method_config(cfg: Mapping[str, Any]) -> None:
    name = cfg.get("name")
    if name not in KNOWN:
        raise ValueError(f"unknown method {name!r}; accepted: {', '.join(KNOWN)}")
    if name in ("neuroada", "masked"):
        neuroada_config(dict(cfg))  # k >= 1, known selection and kernel, non-empty targets
    if name in ("lora", "dora"):
        r = cfg.get("r")
        if r != "match" and (isinstance(r, bool) or not isinstance(r, int) or r < 1):
            raise ValueError(f"{name}: r must be an integer >= 1 or 'match', got {r!r}")
        if r == "match" and (not isinstance(cfg.get("k_match"), int) or cfg["k_match"] < 1):
            raise ValueError(f"{name}: r=match needs k_match >= 1, got {cfg.get('k_match')!r}")
        if not cfg.get("target_modules"):
            raise ValueError(f"{name}: target_modules is empty")


def check_method_fits(model: nn.Module, cfg: Mapping[str, Any], extra_trainable: Iterable[str] = ()) -> None:
    """Targets that match nothing and k too large for the layers, checked on `model` (a meta-device skeleton
    will do: nothing is allocated)."""
    validate_method_config(cfg)
    name = cfg["name"]
    if name in ("neuroada", "masked"):
        ncfg = neuroada_config(dict(cfg))
        targets = find_linear_targets(model, ncfg.target_modules, exclude=list(extra_trainable))
        check_k_fits({n: tuple(m.weight.shape) for n, m in targets.items()}, ncfg)
    elif name in ("lora", "dora"):
        find_linear_targets(model, list(cfg["target_modules"]))
