"""LoRA and DoRA through HF peft (not reimplemented)."""
from __future__ import annotations

from typing import Any, Iterable

from peft import LoraConfig, get_peft_model
from torch import nn

from ..io_utils import atomic_directory
from ..targets import find_linear_targets
from .base import PreparedMethod


def lora_rank_for_budget(model: nn.Module, target_modules: Iterable[str], k: int) -> int:
    """The LoRA rank whose parameter count is closest to NeuroAda's k * sum(d_out) on the same targets."""
    targets = find_linear_targets(model, target_modules).values()
    neuroada = k * sum(m.out_features for m in targets)
    per_rank = sum(m.in_features + m.out_features for m in targets)
    return max(1, round(neuroada / per_rank))


def _peft_targets(patterns: list[str]) -> list[str] | str:
    regexes = [p[3:] for p in patterns if p.startswith("re:")]
    if not regexes:
        return patterns
    plain = [rf"(.*\.)?{p}" for p in patterns if not p.startswith("re:")]
    return "|".join(f"(?:{r})" for r in regexes + plain)


def _save_peft(model, path) -> None:
    with atomic_directory(path) as tmp:
        model.save_pretrained(tmp)


def prepare_lora(model: nn.Module, cfg: dict[str, Any], extra_trainable: Iterable[str] = (), calibration_batches=None, dora: bool = False) -> PreparedMethod:
    targets = list(cfg["target_modules"])
    find_linear_targets(model, targets)  # same clear error as NeuroAda for targets that match nothing
    r = cfg.get("r")
    if r in (None, "match"):
        r = lora_rank_for_budget(model, targets, int(cfg["k_match"]))
    if int(r) < 1:
        raise ValueError(f"LoRA rank r must be >= 1, got {r!r}")
    lcfg = LoraConfig(
        r=int(r),
        lora_alpha=float(cfg.get("alpha", 2 * int(r))),
        lora_dropout=float(cfg.get("dropout", 0.0)),
        target_modules=_peft_targets(targets),
        use_dora=dora,
        bias="none",
        modules_to_save=list(extra_trainable) or None,
    )
    peft_model = get_peft_model(model, lcfg)
    name = "dora" if dora else "lora"
    return PreparedMethod(name, peft_model, merge_fn=lambda m: m.merge_and_unload(), save_fn=_save_peft)
