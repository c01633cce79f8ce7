"""Checks of a method config that need no model, run before anything expensive."""
from __future__ import annotations

from typing import Any, Mapping

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
