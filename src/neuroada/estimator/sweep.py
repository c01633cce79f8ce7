"""Estimates for every model x method (x k) x checkpointing mode x batch."""
from __future__ import annotations

import logging
from typing import Iterable

from ..memory import checkpointing_mode
from .estimate import estimate_step_memory
from .meta_model import GB, METHODS, SPARSE_METHODS

log = logging.getLogger(__name__)


def sweep(models: Iterable[str], ks: Iterable[int], methods: Iterable[str] = METHODS, *, r: int = 32, dtype: str = "bfloat16",
          batch: int | Iterable[int] = 16, seq: int = 512, foreach: bool | None = True, detail_k: int | None = 20, target: str = "cuda",
          checkpointing: Iterable[bool | str] = ("none",)):
    """Estimates for every model x method (x k for the sparse methods) x checkpointing mode x batch. The k sweep
    runs at the first batch without checkpointing (the first mode); the other batches and modes only at k =
    `detail_k` (and the k-free methods). Returns (rows DataFrame, saved-tensor detail DataFrame for the first
    batch, k = `detail_k` and the k-free methods)."""
    import pandas as pd

    batches = [batch] if isinstance(batch, int) else list(batch)
    modes = [checkpointing_mode(c) for c in checkpointing]
    rows, details = [], []
    for model in models:
        for b_i, b in enumerate(batches):
            for c_i, ckpt in enumerate(modes):
                for method in methods:
                    sparse_ks = list(ks) if b_i == 0 and c_i == 0 else [detail_k if detail_k is not None else 20]
                    for k in (sparse_ks if method in SPARSE_METHODS else [None]):
                        e = estimate_step_memory(model, method, k=k or 20, r=r, dtype=dtype, batch=b, seq=seq, foreach=foreach, target=target,
                                                 checkpointing=ckpt)
                        log.info("%s %s batch %d checkpointing %s: peak %.2f GB (%.1fs)", model, e.method_tag, b, ckpt, e.peak / GB, e.seconds)
                        row = e.to_row()
                        if method not in SPARSE_METHODS:
                            row["k"] = None
                        rows.append(row)
                        if b_i == 0 and (k is None or k == detail_k):
                            details += [{"model": model, "method": method, "method_tag": e.method_tag, "batch": b, "checkpointing": ckpt, **d}
                                        for d in e.saved_detail]
    return pd.DataFrame(rows), pd.DataFrame(details)
