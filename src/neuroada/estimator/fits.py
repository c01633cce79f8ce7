"""What fits on a GPU: the largest batch whose estimated peak fits each GPU size."""
from __future__ import annotations

import logging
from typing import Any, Iterable

from ..memory import checkpointing_mode
from .estimate import _tag, estimate_step_memory
from .meta_model import DTYPES, GB, METHODS, SPARSE_METHODS, method_config

log = logging.getLogger(__name__)

GPU_SIZES_GIB = (24, 40, 80)
USABLE_FRACTION = 0.9  # of the card's memory, for the tracked tensors; the rest: CUDA context, workspaces, fragmentation


def largest_batch(peak_of, budget: int, *, points: tuple[int, int] = (4, 16), max_batch: int = 4096) -> int:
    """The largest batch whose peak (`peak_of(batch)`, bytes) is at most `budget`; 0 when not even batch 1 fits.

    The peak of a step grows with the batch by a constant per sequence (activations) on top of what does not
    depend on it (weights, optimizer state, gradients), so a line through two `points` gives the guess; the
    answer is then checked (peak(b) <= budget < peak(b + 1)) and searched for where the line was off."""
    b0, b1 = points
    p0, p1 = peak_of(b0), peak_of(b1)
    slope = (p1 - p0) / (b1 - b0)
    guess = max(b0, b1) if slope <= 0 else int((budget - (p0 - slope * b0)) // slope)
    guess = min(max(guess, 0), max_batch)

    def fits(b: int) -> bool:
        return b == 0 or peak_of(b) <= budget

    lo, hi, step = guess, guess + 1, 1
    while not fits(lo):
        hi, lo, step = lo, max(0, lo - step), step * 2
    while hi <= max_batch and fits(hi):
        lo, hi, step = hi, min(hi + step, max_batch + 1), step * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def fits_table(models: Iterable[str], methods: Iterable[str] = METHODS, *, k: int = 20, r: int = 32, dtype: str = "bfloat16", seq: int = 512,
               checkpointing: Iterable[bool | str] = ("none", "non_reentrant"), gpus_gib: Iterable[float] = GPU_SIZES_GIB,
               usable: float = USABLE_FRACTION, foreach: bool | None = True, target: str = "cuda", known: Any = None):
    """The largest batch (sequences of `seq` tokens) whose estimated peak fits in `usable` x each GPU's memory
    (GiB), per model, method (sparse methods at `k`) and checkpointing mode. `known`: an estimates DataFrame whose
    peaks are reused where model, method, k, batch, seq and checkpointing match. Returns one row per GPU size,
    with the peaks that bound the answer and the peak's growth per sequence."""
    import pandas as pd

    cache: dict[tuple, int] = {}
    if known is not None and len(known):
        kn = known.copy()
        if "checkpointing" not in kn:
            kn["checkpointing"] = "none"
        kn = kn[(kn["seq"] == seq) & (kn["dtype"] == str(DTYPES[dtype]).replace("torch.", ""))]
        for row in kn.to_dict("records"):
            kk = None if row["method"] not in SPARSE_METHODS else int(row["k"])
            cache[(row["model"], row["method"], kk, checkpointing_mode(row["checkpointing"]), int(row["batch"]))] = int(row["peak"])
    rows = []
    for model in models:
        for ckpt in (checkpointing_mode(c) for c in checkpointing):
            for method in methods:
                kk = k if method in SPARSE_METHODS else None
                tag = _tag(method_config(method, k, r))

                def peak_of(b, _m=model, _meth=method, _c=ckpt, _k=kk):
                    key = (_m, _meth, _k, _c, b)
                    if key not in cache:
                        e = estimate_step_memory(_m, _meth, k=k, r=r, dtype=dtype, batch=b, seq=seq, foreach=foreach, target=target, checkpointing=_c)
                        log.info("fits: %s %s batch %d checkpointing %s: peak %.2f GB (%.1fs)", _m, e.method_tag, b, _c, e.peak / GB, e.seconds)
                        cache[key] = e.peak
                    return cache[key]

                per_seq = (peak_of(16) - peak_of(4)) / 12
                for gib in gpus_gib:
                    budget = int(usable * gib * 2**30)
                    b = largest_batch(peak_of, budget)
                    rows.append({"model": model, "method": method, "method_tag": tag, "k": kk, "checkpointing": ckpt, "gpu_gib": gib,
                                 "usable_fraction": usable, "budget_bytes": budget, "seq": seq, "dtype": dtype, "max_batch": b,
                                 "peak_at_max_batch": peak_of(b) if b else None, "peak_at_next_batch": peak_of(b + 1),
                                 "peak_per_sequence": per_seq, "kind": "estimated"})
    return pd.DataFrame(rows)
