"""Finding the nn.Linear modules a method adapts, by peft-style names."""
from __future__ import annotations

import re
from typing import Iterable

from torch import nn


def _regex(pattern: str) -> re.Pattern:
    try:
        return re.compile(pattern[3:])
    except re.error as error:
        raise ValueError(f"target pattern {pattern!r} is not a valid regular expression ({error}); "
                         "'re:' starts a full-match Python regex, other entries are module names or suffixes") from None


def name_matches(name: str, patterns: Iterable[str]) -> bool:
    for p in patterns:
        if p.startswith("re:"):
            if _regex(p).fullmatch(name):
                return True
        elif name == p or name.endswith("." + p):
            return True
    return False


def _inside(name: str, patterns: list[str]) -> bool:
    """True if the module or one of its ancestors matches."""
    parts = name.split(".")
    return any(name_matches(".".join(parts[:i]), patterns) for i in range(1, len(parts) + 1))


def find_linear_targets(model: nn.Module, patterns: Iterable[str], exclude: Iterable[str] = ()) -> dict[str, nn.Linear]:
    """Every nn.Linear whose qualified name matches and that is not inside an `exclude` module
    (e.g. a classification head trained densely); a clear error if none matches."""
    patterns, exclude = list(patterns), list(exclude)
    found, non_linear = {}, []
    for name, module in model.named_modules():
        if not name or not name_matches(name, patterns) or (exclude and _inside(name, exclude)):
            continue
        if isinstance(module, nn.Linear):
            found[name] = module
        else:
            non_linear.append(f"{name} ({type(module).__name__})")
    if not found:
        linear_leaves = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, nn.Linear)})
        hint = f"; matched only non-Linear modules: {non_linear[:5]}" if non_linear else ""
        raise ValueError(
            f"target_modules {patterns} match no nn.Linear in {type(model).__name__}{hint}; "
            f"its Linear layers are named: {linear_leaves}"
        )
    return found


def set_submodule(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def linear_sharing(weight: nn.Parameter, bias: nn.Parameter | None) -> nn.Linear:
    """A plain nn.Linear that uses these parameters (no copy): what a merged adapter layer becomes."""
    plain = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None, device="meta")
    plain.weight = weight
    plain.bias = bias
    return plain


def replace_with_merged(model: nn.Module, layers: dict[str, nn.Module], kind: str) -> nn.Module:
    """Swaps every layer in `layers` (name -> layer with `.merged()`) for its merged nn.Linear."""
    if not layers:
        raise ValueError(f"model has no {kind} layers to merge")
    for name, layer in layers.items():
        set_submodule(model, name, layer.merged())
    return model
