"""A cheap identity of a base model, to refuse an adapter trained on a different one.

Take it on the base model right after `load_model` (before training or merging: merged weights are a
different model). Compare with `==`; the dict is JSON-serialisable.
"""
from __future__ import annotations

import hashlib
from typing import Iterable

import torch
from torch import nn

CONFIG_KEYS = ("model_type", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
               "num_key_value_heads", "vocab_size")
_SLICE = 64


def model_fingerprint(model: nn.Module, skip: Iterable[nn.Parameter] = ()) -> dict:
    """Architecture class, config essentials and a hash of 3 x 64 fixed values (first, middle and last
    row) of every 2-D weight in the backbone: a few KB read even on a 7B model.

    Task heads (a fresh classifier) are left out. Values are hashed after rounding to bfloat16, so float32
    and bfloat16 loads of one checkpoint agree. Adapter wrappers that keep the frozen layer as `base_layer`
    (peft) are looked through, so the fingerprint survives injection as long as base weights are unchanged.
    `skip`: weights trained densely next to the adapter (a head such as BERT's pooler), left out too.
    """
    skipped = {id(p) for p in skip}
    if hasattr(model, "get_base_model"):  # peft.PeftModel
        model = model.get_base_model()
    backbone = getattr(model, "base_model", model)  # HF: the pretrained trunk without task heads
    modules = dict(backbone.named_modules())
    wrappers = [name for name, m in modules.items() if isinstance(getattr(m, "base_layer", None), nn.Module)]
    digest = hashlib.sha256()
    count = 0
    for name, module in modules.items():
        weight = module._parameters.get("weight") if hasattr(module, "_parameters") else None
        if weight is None or weight.dim() != 2 or id(weight) in skipped or _inside_adapter(name, wrappers):
            continue
        rows = sorted({0, weight.shape[0] // 2, weight.shape[0] - 1})
        with torch.no_grad():
            values = weight[rows, :_SLICE].to("cpu", torch.float32).to(torch.bfloat16)
        digest.update(f"{name.replace('.base_layer', '')}:{tuple(weight.shape)};".encode())
        digest.update(values.view(torch.int16).numpy().tobytes())
        count += 1
    config = getattr(model, "config", None)  # a plain nn.Module has none: the weights alone identify it
    return {"architecture": type(model).__name__,
            **{key: getattr(config, key, None) for key in CONFIG_KEYS},
            "num_weights": count,
            "weights_sha256": digest.hexdigest()}


def _inside_adapter(name: str, wrappers: list[str]) -> bool:
    """True for modules an adapter wrapper added (lora_A, ...), i.e. inside a wrapper but not its base_layer."""
    for wrapper in wrappers:
        if name.startswith(wrapper + ".") and not (name + ".").startswith(wrapper + ".base_layer."):
            return True
    return False
