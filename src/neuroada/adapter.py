"""Applying NeuroAda to a model and merging it back (the public entry points)."""
from __future__ import annotations

from typing import Iterable, Mapping

import torch
from torch import nn

from .config import NeuroAdaConfig
from .layer import NeuroAdaLinear
from .selection import SparsePattern, global_budget, gradient_scores, select_pattern
from .targets import find_linear_targets, replace_with_merged, set_submodule



def neuroada_layers(model: nn.Module) -> dict[str, NeuroAdaLinear]:
    return {n: m for n, m in model.named_modules() if isinstance(m, NeuroAdaLinear)}


def _install(model: nn.Module, patterns: Mapping[str, SparsePattern], cfg: NeuroAdaConfig) -> nn.Module:
    for name, pattern in patterns.items():
        base = model.get_submodule(name)
        set_submodule(model, name, NeuroAdaLinear(base, pattern, cfg.kernel))
    # DDP would broadcast the index buffers, but gloo and NCCL reject int16. They are deterministic (same
    # weights, same seed) and `pattern_digest` lets a trainer check that the ranks agree.
    ignored = set(getattr(model, "_ddp_params_and_buffers_to_ignore", ()))
    ignored |= {f"{n}.{b}" for n in patterns for b in ("neuroada_idx", "neuroada_rows")}
    model._ddp_params_and_buffers_to_ignore = sorted(ignored)
    model.neuroada_config = cfg
    return model


def apply_neuroada(
    model: nn.Module,
    cfg: NeuroAdaConfig,
    *,
    calibration_batches: Iterable[Mapping[str, torch.Tensor]] | None = None,
    extra_trainable: Iterable[str] = (),
) -> nn.Module:
    """Freezes `model`, adds zero-initialised bypass deltas to every target Linear; returns the same model.

    `calibration_batches` (model inputs with labels) are needed only for `selection="gradient"`.
    `extra_trainable` names modules trained densely next to the deltas (e.g. a classification head).
    """
    if neuroada_layers(model):
        raise ValueError("model already has NeuroAda layers; merge_neuroada() it first")
    extra_trainable = list(extra_trainable)
    targets = find_linear_targets(model, cfg.target_modules, exclude=extra_trainable)
    check_k_fits({n: tuple(m.weight.shape) for n, m in targets.items()}, cfg)

    scores = None
    if cfg.selection == "gradient":
        if calibration_batches is None:
            raise ValueError("selection='gradient' needs calibration_batches (training batches with labels)")
        scores = gradient_scores(model, {n: m.weight for n, m in targets.items()}, calibration_batches)
    counts = None
    if cfg.selection == "random_global":
        counts = global_budget({n: tuple(m.weight.shape) for n, m in targets.items()}, cfg.k, cfg.seed)

    model.requires_grad_(False)
    patterns = {}
    for name, lin in targets.items():
        with torch.no_grad():
            patterns[name] = select_pattern(
                lin.weight, cfg.selection, cfg.k, name=name, seed=cfg.seed,
                scores=None if scores is None else scores.pop(name),
                count=None if counts is None else counts[name], row_fraction=cfg.row_fraction,
            )
    _install(model, patterns, cfg)
    mark_trainable(model, extra_trainable)
    return model


def check_k_fits(shapes: Mapping[str, tuple[int, int]], cfg: NeuroAdaConfig) -> None:
    """Raises if k is larger than the targets allow: k <= in_features for the per-row variants (k == in_features
    trains whole rows); k <= (all entries) / (all rows) for `random_global`, whose budget is k per row overall."""
    if cfg.selection == "random_global":
        limit = sum(o * i for o, i in shapes.values()) // max(1, sum(o for o, _ in shapes.values()))
        if cfg.k > limit:
            raise ValueError(f"k={cfg.k} is too large for selection='random_global' on these targets: the budget "
                             f"k x (all rows) must fit in their entries, so k <= {limit}")
        return
    narrow = {n: i for n, (_, i) in shapes.items() if i < cfg.k}
    if narrow:
        first = min(narrow, key=narrow.get)
        raise ValueError(
            f"k={cfg.k} is larger than in_features={narrow[first]} of '{first}'"
            f"{f' and {len(narrow) - 1} other target(s)' if len(narrow) > 1 else ''}; selection={cfg.selection!r} "
            f"picks k inputs per output row, so k must be <= {min(narrow.values())} (k = in_features trains whole "
            "rows). Use a smaller k or leave these modules out of target_modules.")


def mark_trainable(model: nn.Module, names: Iterable[str]) -> None:
    from .targets import name_matches

    names = list(names)
    if not names:
        return
    hit = [m for n, m in model.named_modules() if n and name_matches(n, names)]
    if not hit:
        raise ValueError(f"extra_trainable {names} match no module of {type(model).__name__}")
    for m in hit:
        m.requires_grad_(True)


def pattern_digest(model: nn.Module) -> str:
    """sha256 of every layer's selected entries: equal on all ranks of a consistent distributed run."""
    import hashlib

    h = hashlib.sha256()
    for name, layer in sorted(neuroada_layers(model).items()):
        h.update(name.encode())
        for t in (layer.neuroada_idx, layer.neuroada_rows):
            if t is not None:
                h.update(t.detach().cpu().numpy().tobytes())
    return h.hexdigest()


@torch.no_grad()
def merge_neuroada(model: nn.Module) -> nn.Module:
    """One-shot merge: W[i, idx[i, j]] += delta[i, j]; every NeuroAda layer becomes a plain nn.Linear."""
    replace_with_merged(model, neuroada_layers(model), "NeuroAda")
    if hasattr(model, "neuroada_config"):
        del model.neuroada_config
    return model
