"""Checks of a method config, run before anything expensive: alone, then against the model's skeleton."""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from torch import nn

from ..adapter import check_k_fits
from ..targets import find_linear_targets
from .head_only import no_head_error
from .neuroada import neuroada_config
from .peft_methods import SHIRA_MASKS, shira_rank
from .untrained import classification_error

KNOWN = ("neuroada", "lora", "dora", "shira", "full", "masked", "head_only", "untrained")


def validate_method_config(cfg: Mapping[str, Any], task: Mapping[str, Any] | None = None) -> None:
    """`task` (its config, optional): methods that need a kind of task (head_only: a classification head;
    untrained: a generation task) are checked against it."""
    name = cfg.get("name")
    if name not in KNOWN:
        raise ValueError(f"unknown method {name!r}; accepted: {', '.join(KNOWN)}")
    if name in ("neuroada", "masked"):
        neuroada_config(dict(cfg))  # k >= 1, known selection and kernel, non-empty targets
    if name in ("lora", "dora", "shira"):
        r = cfg.get("r")
        if r != "match" and (isinstance(r, bool) or not isinstance(r, int) or r < 1):
            raise ValueError(f"{name}: r must be an integer >= 1 or 'match', got {r!r}")
        k_match = cfg.get("k_match")
        if r == "match" and (isinstance(k_match, bool) or not isinstance(k_match, int) or k_match < 1):
            raise ValueError(f"{name}: r=match needs k_match >= 1, got {k_match!r}")
        if not cfg.get("target_modules"):
            raise ValueError(f"{name}: target_modules is empty")
    if name == "shira":
        if cfg.get("mask", "random") not in SHIRA_MASKS:
            raise ValueError(f"shira: unknown mask {cfg.get('mask')!r}; accepted: {', '.join(SHIRA_MASKS)}")
        seed = cfg.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"shira: seed must be an integer or null, got {seed!r}")
    if name == "head_only" and task is not None and task.get("kind") == "generation":  # classification, regression: a head
        raise no_head_error(task.get("name"), task.get("kind"))
    if name == "untrained" and task is not None and task.get("kind") not in (None, "generation"):  # a random head
        raise classification_error(task.get("name"), task.get("kind"))


def check_method_fits(model: nn.Module, cfg: Mapping[str, Any], extra_trainable: Iterable[str] = (),
                      task: Mapping[str, Any] | None = None) -> None:
    """Targets that match nothing, k too large for the layers (SHiRA: r), a head_only model without a head,
    checked on `model` (a meta-device skeleton will do: nothing is allocated)."""
    validate_method_config(cfg, task)
    name = cfg["name"]
    if name in ("neuroada", "masked"):
        ncfg = neuroada_config(dict(cfg))
        targets = find_linear_targets(model, ncfg.target_modules, exclude=list(extra_trainable))
        check_k_fits({n: tuple(m.weight.shape) for n, m in targets.items()}, ncfg)
    elif name in ("lora", "dora"):
        find_linear_targets(model, list(cfg["target_modules"]))
    elif name == "shira":
        shira_rank(model, cfg)
    elif name == "head_only" and not list(extra_trainable):
        raise no_head_error()
