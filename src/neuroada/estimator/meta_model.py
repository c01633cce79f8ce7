"""The paper's models and methods, built on the meta device (no memory): configs, method blocks, the model to train."""
from __future__ import annotations

from typing import Any, Iterable, Mapping

import torch
from torch import nn


GB = 1e9  # reports and plots use decimal GB (10^9 bytes)
LLAMA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
LORA_PAPER_TARGETS = ["q_proj", "k_proj", "v_proj", "up_proj", "down_proj"]  # LLM-Adapters / DoRA scripts
METHODS = ("neuroada", "released", "lora", "dora", "masked", "full")
SPARSE_METHODS = ("neuroada", "released", "masked")  # depend on k

# Architectures of the paper's models (public config.json values); no download needed.
_LLAMA1 = dict(vocab_size=32000, rms_norm_eps=1e-6, max_position_embeddings=2048, tie_word_embeddings=False)
PAPER_MODELS: dict[str, dict[str, Any]] = {
    "llama-7b": dict(_LLAMA1, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32),
    "llama2-7b": dict(_LLAMA1, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                      num_key_value_heads=32, rms_norm_eps=1e-5, max_position_embeddings=4096),
    "llama-13b": dict(_LLAMA1, hidden_size=5120, intermediate_size=13824, num_hidden_layers=40, num_attention_heads=40, num_key_value_heads=40),
    "llama3-8b": dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                      num_key_value_heads=8, rms_norm_eps=1e-5, max_position_embeddings=8192, rope_theta=500000.0, tie_word_embeddings=False),
    "smollm2-135m": dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                         num_key_value_heads=3, rms_norm_eps=1e-5, max_position_embeddings=8192, rope_theta=100000.0, tie_word_embeddings=True),
}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def llama_config(model: str | Mapping[str, Any] | Any, **overrides):
    """A `LlamaConfig` for a paper model name, a dict of config fields, or a config (returned as is)."""
    from transformers import LlamaConfig, PretrainedConfig

    if isinstance(model, PretrainedConfig):
        return model
    if isinstance(model, str):
        if model not in PAPER_MODELS:
            raise ValueError(f"unknown model {model!r}; accepted: {', '.join(PAPER_MODELS)} (or pass a LlamaConfig)")
        model = PAPER_MODELS[model]
    kw = {**dict(model), **overrides}
    kw.setdefault("attn_implementation", "sdpa")
    return LlamaConfig(**kw)


def method_config(method: str, k: int = 20, r: int = 32, *, targets: Iterable[str] | None = None,
                  lora_targets: Iterable[str] | None = None, lora_dropout: float = 0.05) -> dict[str, Any]:
    """The method block a run uses (conf/method/*.yaml), with the paper's settings as defaults:
    NeuroAda/released/masked on q,k,v,o,gate,up,down; LoRA/DoRA r=32, alpha=64, dropout 0.05 on q,k,v,up,down."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; accepted: {', '.join(METHODS)}")
    targets = list(targets or LLAMA_TARGETS)
    if method in SPARSE_METHODS:
        return {"name": method, "k": int(k), "selection": "magnitude", "target_modules": targets}
    if method in ("lora", "dora"):
        return {"name": method, "r": int(r), "alpha": 2 * int(r), "dropout": lora_dropout, "target_modules": list(lora_targets or LORA_PAPER_TARGETS)}
    return {"name": "full"}


def build_meta_model(config, dtype: torch.dtype = torch.bfloat16) -> nn.Module:
    """The model of `config` on the meta device (no memory), in `dtype`."""
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return model.to(dtype).train()


def apply_method(model: nn.Module, mcfg: Mapping[str, Any]) -> nn.Module:
    """Applies a method block (see `method_config`) with the project's own code; returns the model to train."""
    mcfg = dict(mcfg)
    if mcfg["name"] == "released":
        from ..config import NeuroAdaConfig
        from ..released import apply_released_neuroada

        return apply_released_neuroada(model, NeuroAdaConfig(k=mcfg["k"], target_modules=mcfg["target_modules"], selection=mcfg.get("selection", "magnitude")))
    from ..methods import prepare_method

    return prepare_method(model, mcfg).model
