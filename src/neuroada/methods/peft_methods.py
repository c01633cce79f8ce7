"""LoRA, DoRA and SHiRA through HF peft (not reimplemented)."""
from __future__ import annotations

import warnings
from typing import Any, Iterable, Mapping

import numpy as np
import torch
from peft import LoraConfig, ShiraConfig, get_peft_model
from torch import nn

from ..io_utils import atomic_directory
from ..selection import _generator, _np_rng, _random_subset_per_row
from ..targets import find_linear_targets, set_submodule
from .base import PreparedMethod

SHIRA_MASKS = ("random", "rows")


def lora_rank_for_budget(model: nn.Module, target_modules: Iterable[str], k: int) -> int:
    """The LoRA rank whose parameter count is closest to NeuroAda's k * sum(d_out) on the same targets.
    SHiRA's count at r is LoRA's, r * (d_in + d_out) a layer, so the same r matches SHiRA."""
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


def _merge_peft(model: nn.Module) -> nn.Module:
    """peft's merge_and_unload, after unwrapping every trained head that is not a Linear (BERT's pooler): peft's
    generic unload (SHiRA's; LoRA has its own) reads `.weight` of each modules_to_save module and fails on one
    without (huggingface/peft#3114). Unwrapping returns the trained copy, as peft's own unload does."""
    from peft.utils import ModulesToSaveWrapper

    for name, module in list(model.named_modules()):
        if isinstance(module, ModulesToSaveWrapper) and not hasattr(module.original_module, "weight"):
            set_submodule(model, name, module.unload_and_optionally_merge_module(merge=True, safe_merge=False, adapter_names=None))
    return model.merge_and_unload()


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
    return PreparedMethod(name, peft_model, merge_fn=_merge_peft, save_fn=_save_peft)


def shira_rank(model: nn.Module, cfg: Mapping[str, Any]) -> int:
    """SHiRA's r (`r: match` resolved as for LoRA), checked against every target: peft trains r * (m + n)
    entries of an m x n weight, which must not exceed m * n."""
    targets = find_linear_targets(model, list(cfg["target_modules"]))
    r = cfg.get("r")
    if r in (None, "match"):
        r = lora_rank_for_budget(model, list(cfg["target_modules"]), int(cfg["k_match"]))
    if isinstance(r, bool) or not isinstance(r, int) or r < 1:
        raise ValueError(f"shira: r must be an integer >= 1 or 'match', got {r!r}")
    for name, m in targets.items():
        m_out, n_in = m.out_features, m.in_features
        if r * (m_out + n_in) > m_out * n_in:
            r_max = min(t.out_features * t.in_features // (t.out_features + t.in_features) for t in targets.values())
            raise ValueError(f"shira: r={r} asks for r*(m+n) = {r * (m_out + n_in):,} trainable entries of {name} "
                             f"({m_out} x {n_in} = {m_out * n_in:,} weights); r <= {r_max} fits every target")
    return r


def row_balanced_mask_fn(names: Mapping[int, str], seed: int):
    """A SHiRA mask_fn (peft's signature `(base_layer, r, **kwargs) -> mask`): peft's count, r * (m + n)
    entries, spread as evenly as it allows over the m rows (floor or ceil of r(m+n)/m per row, the rows
    that get one more drawn at random), columns uniformly random in each row. Seeded per layer by
    (seed, layer name), the streams NeuroAda's `random` selection uses: where r(m+n) = k*m (square
    layers at r = k/2) it picks the same entries as NeuroAda with selection=random at that k."""

    def mask_fn(base_layer: nn.Module, r: int, **kwargs) -> torch.Tensor:
        name = names[id(base_layer)]
        d_out, d_in = base_layer.weight.shape
        count = r * (d_in + d_out)
        counts = np.full(d_out, count // d_out, dtype=np.int64)
        counts[_np_rng(seed, name).choice(d_out, count % d_out, replace=False)] += 1
        p = _random_subset_per_row(counts, d_in, _generator(seed, name), "cpu")
        mask = torch.zeros(d_out, d_in, dtype=torch.bool)
        mask[p.row_index(), p.idx.flatten().long()] = True
        return mask.to(base_layer.weight.device)

    return mask_fn


def prepare_shira(model: nn.Module, cfg: dict[str, Any], extra_trainable: Iterable[str] = (), calibration_batches=None) -> PreparedMethod:
    """peft's ShiraConfig: r * (m + n) entries of each target trained as a sparse delta, merged by peft.
    mask=random is peft's own random mask (random_seed = the method seed); mask=rows our row-balanced one."""
    targets = list(cfg["target_modules"])
    r = shira_rank(model, cfg)
    mask = cfg.get("mask", "random")
    if mask not in SHIRA_MASKS:
        raise ValueError(f"shira: unknown mask {mask!r}; accepted: {', '.join(SHIRA_MASKS)}")
    seed = cfg.get("seed")
    with warnings.catch_warnings():  # a mask_type other than 'random' warns until mask_fn is set, just below
        warnings.filterwarnings("ignore", message=r"Argument self\.mask_type")
        scfg = ShiraConfig(r=r, mask_type=mask, random_seed=seed, target_modules=_peft_targets(targets),
                           modules_to_save=list(extra_trainable) or None)
    if mask == "rows":
        names = {id(m): n for n, m in find_linear_targets(model, targets).items()}
        scfg.mask_fn = row_balanced_mask_fn(names, 0 if seed is None else int(seed))
    peft_model = get_peft_model(model, scfg)
    return PreparedMethod("shira", peft_model, merge_fn=_merge_peft, save_fn=_save_peft)
