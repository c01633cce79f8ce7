"""The estimate against measured training steps of a small real model (`validate`, `--validate`)."""
from __future__ import annotations

import contextlib
import itertools
import logging
from typing import Any, Iterable, Mapping

import torch
from torch import nn

from ..memory import CATEGORIES, checkpointing_mode, enable_activation_checkpointing
from .estimate import estimate_step_memory
from .fake import _cuda_dropout
from .meta_model import DTYPES, PAPER_MODELS, apply_method, llama_config, method_config

log = logging.getLogger(__name__)


def _real_model(cfg, dtype: torch.dtype, seed: int = 0) -> nn.Module:
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(cfg).to(dtype).train()


VALIDATION_MODEL = dict(PAPER_MODELS["smollm2-135m"], num_hidden_layers=2)  # SmolLM2-135M's shapes, 2 layers


def validate(methods: Iterable[str] = ("neuroada", "released", "lora", "dora", "masked", "full"), *,
             model: Mapping[str, Any] | None = None, dtypes: Iterable[str] = ("float32",), batch: int = 2, seq: int = 128,
             k: int = 20, r: int = 8, device: str = "cpu", foreach: bool | None = None, target: str | None = None,
             checkpointing: Iterable[bool | str] = ("none",)):
    """Measured (memory.measure_step_memory on a real random model) vs estimated, per method, dtype and
    activation-checkpointing mode (`checkpointing`: none / non_reentrant / reentrant, turned on in both alike by
    `memory.enable_activation_checkpointing`).

    Both use the same AdamW (`foreach`: None = torch's default for `device`). Errors are relative to the
    measured value: `err_total_pct` against the measured total (static + step peak), `err_peak_step_pct`
    against the step's own peak (activations, gradients, temporaries), the harder part to predict.
    `target` (default: the device's type) = "cuda" on a CPU device measures the real step with CUDA's fused
    dropout (bool mask) swapped in, which checks the estimator's model of it without a GPU.
    """
    import pandas as pd

    from ..memory import measure_step_memory

    model = dict(model or VALIDATION_MODEL)
    cfg = llama_config(model)
    dev = torch.device(device)
    if foreach is None:
        foreach = dev.type == "cuda"
    target = target or dev.type
    swap_dropout = target == "cuda" and dev.type != "cuda"
    rows = []
    for dtype, ckpt, method in itertools.product(dtypes, [checkpointing_mode(c) for c in checkpointing], methods):
        torch_dtype = DTYPES[dtype]
        mixed = torch_dtype != torch.float32
        mcfg = method_config(method, k, r)
        est = estimate_step_memory(model, mcfg, dtype=dtype, batch=batch, seq=seq, foreach=foreach, target=target, model_name="validation",
                                   checkpointing=ckpt)
        real = enable_activation_checkpointing(apply_method(_real_model(cfg, torch_dtype), mcfg).to(dev), ckpt)
        ids = torch.randint(0, cfg.vocab_size, (batch, seq), generator=torch.Generator().manual_seed(1)).to(dev)

        def step_fn(m, b, _mixed=mixed):
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=_mixed):
                return m(**b).loss

        with _cuda_dropout() if swap_dropout else contextlib.nullcontext():
            meas = measure_step_memory(real, {"input_ids": ids, "labels": ids},
                                       lambda ps: torch.optim.AdamW(ps, lr=1e-4, weight_decay=0.0, foreach=foreach), step_fn=step_fn)
        del real
        row = {"model": f"smollm2-shaped-{cfg.num_hidden_layers}L", "method": method, "method_tag": est.method_tag, "dtype": dtype,
               "mixed_precision": mixed, "batch": batch, "seq": seq, "device": str(dev), "target": target, "checkpointing": ckpt}
        for c in (*CATEGORIES, "peak_step", "total"):
            m_val, e_val = getattr(meas, c) or 0, getattr(est, c) or 0
            row[f"measured_{c}"], row[f"estimated_{c}"] = m_val, e_val
        if meas.cuda_max_memory_allocated is not None:
            row["measured_cuda_max_allocated"] = meas.cuda_max_memory_allocated
        row["measured_peak"], row["estimated_peak"] = meas.static + (meas.peak_step or 0), est.peak
        row["err_total_pct"] = 100.0 * (est.total - meas.total) / meas.total
        row["err_peak_pct"] = 100.0 * (est.peak - row["measured_peak"]) / row["measured_peak"]
        row["err_peak_step_pct"] = 100.0 * (est.peak_step - meas.peak_step) / meas.peak_step if meas.peak_step else None
        row["err_activations_pct"] = 100.0 * (est.activations - meas.activations) / meas.activations if meas.activations else None
        rows.append(row)
        log.info("validation %s %s checkpointing %s: measured peak %.1f MB, estimated %.1f MB (%+.3f %%)", dtype, method, ckpt,
                 row["measured_peak"] / 2**20, est.peak / 2**20, row["err_peak_pct"])
    return pd.DataFrame(rows)
