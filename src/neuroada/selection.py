"""Offline choice of the trainable entries of every adapted weight (DESIGN.md section 1).

Every variant returns a `SparsePattern`. Per-row variants (magnitude, gradient, reverse, random) give
every output neuron exactly k entries: `idx` is `(d_out, k)` and rows are implicit. The others give rows
different counts: `idx` is then `(nnz,)` with a `rows` tensor of the same length, sorted by row.
Columns are sorted within each row, so a pattern is also a valid CSR layout. All work is chunked over
rows, so selecting on a 7B model never holds more than one `CHUNK_ELEMENTS` temporary.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np
import torch
from torch import Tensor

CHUNK_ELEMENTS = 1 << 24  # 16M entries per temporary (64 MB in fp32)


def index_dtype(size: int) -> torch.dtype:
    """The smallest signed integer type that can index `size` positions."""
    for dtype in (torch.int16, torch.int32):
        if size - 1 <= torch.iinfo(dtype).max:
            return dtype
    return torch.int64


@dataclass
class SparsePattern:
    idx: Tensor  # (d_out, k) columns, or (nnz,) columns when `rows` is given
    rows: Tensor | None  # (nnz,) rows, sorted; None when every row has idx.shape[1] entries
    shape: tuple[int, int]  # (d_out, d_in) of the weight
    crow: Tensor | None = None  # CSR row pointers when already built (the layer caches them); see crow_indices

    @property
    def nnz(self) -> int:
        return self.idx.numel()

    @property
    def uniform(self) -> bool:
        return self.rows is None

    def row_index(self) -> Tensor:
        """int64 row of every entry, in the order of `idx.flatten()`."""
        if self.rows is not None:
            return self.rows.long()
        d_out, k = self.idx.shape
        return torch.arange(d_out, device=self.idx.device).repeat_interleave(k)

    def crow_indices(self) -> Tensor:
        """CSR row pointers (int64, length d_out + 1)."""
        if self.crow is not None:
            return self.crow
        d_out = self.shape[0]
        if self.rows is None:
            return torch.arange(0, self.nnz + 1, self.idx.shape[1], device=self.idx.device)
        counts = torch.bincount(self.rows.long(), minlength=d_out)
        return torch.cat([counts.new_zeros(1), counts.cumsum(0)])


INDEX_DTYPES = (torch.int16, torch.int32, torch.int64)


def is_fake(t: torch.Tensor) -> bool:
    from torch._subclasses.fake_tensor import is_fake as _is_fake

    return _is_fake(t)


def check_pattern(p: SparsePattern, where: str = "pattern") -> None:
    """Raises ValueError (naming `where`) unless `p` is a valid pattern of its shape: integer indices of the
    right shape, columns in [0, d_in) and strictly increasing within each row, rows sorted in [0, d_out).

    The layer runs it once per pattern (when it builds its row pointers) and `load_adapter` on every loaded
    layer: the in-place weight swap must never write outside the selected entries of its own weight.
    """
    d_out, d_in = p.shape
    idx, rows = p.idx, p.rows
    if idx.dtype not in INDEX_DTYPES:
        raise ValueError(f"{where}: column indices must be int16, int32 or int64, got {idx.dtype}")
    if idx.is_meta or is_fake(idx):  # shapes only (the memory estimator's fake tensors): no values to check
        return
    if rows is None:
        if idx.dim() != 2 or idx.shape[0] != d_out or idx.shape[1] > d_in:
            raise ValueError(f"{where}: column indices must have shape ({d_out}, k) with k <= {d_in}, got {tuple(idx.shape)}")
        increasing = (idx[:, 1:] > idx[:, :-1]).all() if idx.shape[1] > 1 else True
    else:
        if rows.dtype not in INDEX_DTYPES:
            raise ValueError(f"{where}: row indices must be int16, int32 or int64, got {rows.dtype}")
        if idx.dim() != 1 or rows.shape != idx.shape:
            raise ValueError(f"{where}: rows {tuple(rows.shape)} and columns {tuple(idx.shape)} must be 1-d and of equal length")
        if rows.numel() and (int(rows.min()) < 0 or int(rows.max()) >= d_out or bool((rows[1:] < rows[:-1]).any())):
            raise ValueError(f"{where}: row indices must be sorted and in [0, {d_out}), got {int(rows.min())}..{int(rows.max())}")
        same_row = rows[1:] == rows[:-1]
        increasing = ((idx[1:] > idx[:-1]) | ~same_row).all() if idx.numel() > 1 else True
    if idx.numel():
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= d_in:
            raise ValueError(f"{where}: column indices must be in [0, {d_in}) (in_features), found {lo}..{hi}")
    if not bool(increasing):
        raise ValueError(f"{where}: column indices must be strictly increasing within each row (a repeated or unsorted column)")


def _generator(seed: int, name: str) -> torch.Generator:
    # A per-matrix stream that does not depend on the order in which matrices are visited.
    return torch.Generator().manual_seed((seed * 1_000_003 + zlib.crc32(name.encode())) % (1 << 63))


def _row_chunks(d_out: int, d_in: int) -> Iterable[tuple[int, int]]:
    step = max(1, CHUNK_ELEMENTS // max(d_in, 1))
    for start in range(0, d_out, step):
        yield start, min(start + step, d_out)


def _topk_rows(scores_of_chunk, shape: tuple[int, int], k: int, largest: bool, device) -> Tensor:
    d_out, d_in = shape
    k = min(k, d_in)
    out = torch.empty((d_out, k), dtype=index_dtype(d_in), device=device)
    for r0, r1 in _row_chunks(d_out, d_in):
        top = scores_of_chunk(r0, r1).topk(k, dim=1, largest=largest, sorted=False).indices
        out[r0:r1] = top.sort(dim=1).values.to(out.dtype)
    return out


def _random_subset_per_row(counts: np.ndarray, d_in: int, gen: torch.Generator, device) -> SparsePattern:
    """Uniformly random columns, `counts[i]` of them in row i; returns a rows+idx pattern."""
    d_out = len(counts)
    rows_out, cols_out = [], []
    for r0, r1 in _row_chunks(d_out, d_in):
        c = torch.from_numpy(counts[r0:r1]).long()
        kmax = int(c.max()) if len(c) else 0
        if kmax == 0:
            continue
        keys = torch.rand((r1 - r0, d_in), generator=gen)
        cols = keys.topk(kmax, dim=1, sorted=True).indices  # random order; keep the first c[i]
        keep = torch.arange(kmax).unsqueeze(0) < c.unsqueeze(1)
        cols = torch.where(keep, cols, d_in).sort(dim=1).values  # padding sorts last
        rows = torch.arange(r0, r1).unsqueeze(1).expand_as(cols)
        mask = cols < d_in
        rows_out.append(rows[mask])
        cols_out.append(cols[mask])
    rows = torch.cat(rows_out) if rows_out else torch.empty(0, dtype=torch.long)
    cols = torch.cat(cols_out) if cols_out else torch.empty(0, dtype=torch.long)
    return SparsePattern(cols.to(index_dtype(d_in)).to(device), rows.to(index_dtype(d_out)).to(device), (d_out, d_in))


def _np_rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def random_entries(shape: tuple[int, int], count: int, seed: int, name: str, device) -> SparsePattern:
    """`count` entries drawn uniformly without replacement from the whole matrix."""
    d_out, d_in = shape
    if count > d_out * d_in:
        raise ValueError(f"{name}: cannot pick {count} entries from a {d_out}x{d_in} matrix")
    counts = _np_rng(seed, name).multivariate_hypergeometric(np.full(d_out, d_in), count)
    return _random_subset_per_row(counts, d_in, _generator(seed, name), device)


def global_budget(shapes: Mapping[str, tuple[int, int]], k: int, seed: int) -> dict[str, int]:
    """Split the budget k * sum(d_out) over matrices as uniform sampling over all their entries would."""
    names = sorted(shapes)
    sizes = np.array([shapes[n][0] * shapes[n][1] for n in names], dtype=np.int64)
    budget = k * sum(shapes[n][0] for n in names)
    if budget > int(sizes.sum()):
        raise ValueError(f"random_global: k={k} asks for {budget} entries, more than the {int(sizes.sum())} the matrices hold")
    counts = np.random.default_rng(seed).multivariate_hypergeometric(sizes, budget)
    return dict(zip(names, (int(c) for c in counts)))


def select_pattern(
    weight: Tensor,
    selection: str,
    k: int,
    *,
    name: str,
    seed: int = 42,
    scores: Tensor | None = None,
    count: int | None = None,
    row_fraction: float = 0.5,
) -> SparsePattern:
    """The trainable entries of one weight. `scores` feeds `gradient`; `count` feeds `random_global`."""
    shape = (weight.shape[0], weight.shape[1])
    d_out, d_in = shape
    device = weight.device
    if weight.is_meta:  # counting parameters of a model that is never allocated
        if selection in ("random_layer", "random_global", "partial_rows"):
            n = {"random_layer": k * d_out, "random_global": count or 0}.get(selection, round(row_fraction * d_out) * min(k, d_in))
            return SparsePattern(torch.empty(n, dtype=index_dtype(d_in), device="meta"), torch.empty(n, dtype=index_dtype(d_out), device="meta"), shape)
        return SparsePattern(torch.empty((d_out, min(k, d_in)), dtype=index_dtype(d_in), device="meta"), None, shape)

    if selection in ("magnitude", "reverse"):
        idx = _topk_rows(lambda a, b: weight[a:b].abs(), shape, k, selection == "magnitude", device)
        return SparsePattern(idx, None, shape)
    if selection == "gradient":
        if scores is None or tuple(scores.shape) != shape:
            raise ValueError(f"{name}: selection='gradient' needs a {shape} score tensor (see gradient_scores)")
        idx = _topk_rows(lambda a, b: scores[a:b].to(device), shape, k, True, device)
        return SparsePattern(idx, None, shape)
    if selection == "random":
        gen = _generator(seed, name)
        idx = _topk_rows(lambda a, b: torch.rand((b - a, d_in), generator=gen).to(device), shape, k, True, device)
        return SparsePattern(idx, None, shape)
    if selection == "random_layer":
        return random_entries(shape, min(k, d_in) * d_out, seed, name, device)
    if selection == "random_global":
        if count is None:
            raise ValueError(f"{name}: selection='random_global' needs this matrix's share (see global_budget)")
        return random_entries(shape, count, seed, name, device)
    if selection == "partial_rows":
        n_rows = max(1, round(row_fraction * d_out))
        chosen = torch.randperm(d_out, generator=_generator(seed, name))[:n_rows].sort().values.to(device)
        kk = min(k, d_in)
        cols = _topk_rows(lambda a, b: weight[chosen[a:b]].abs(), (n_rows, d_in), kk, True, device)
        rows = chosen.repeat_interleave(kk).to(index_dtype(d_out))
        return SparsePattern(cols.flatten(), rows, shape)
    raise ValueError(f"unknown selection {selection!r}")


def gradient_scores(model: torch.nn.Module, weights: Mapping[str, Tensor], batches: Iterable[Mapping[str, Tensor]]) -> dict[str, Tensor]:
    """Accumulated |dL/dW| (fp32) of the given weights over `batches`; no optimizer step is taken."""
    scores = {n: torch.zeros(w.shape, dtype=torch.float32, device=w.device) for n, w in weights.items()}
    was = {n: w.requires_grad for n, w in weights.items()}
    for w in weights.values():
        w.requires_grad_(True)
    seen = 0
    try:
        for batch in batches:
            loss = model(**batch).loss
            loss.backward()
            for n, w in weights.items():
                scores[n] += w.grad.detach().abs().float()
                w.grad = None
            seen += 1
    finally:
        for n, w in weights.items():
            w.requires_grad_(was[n])
            w.grad = None
        model.zero_grad(set_to_none=True)
    if seen == 0:
        raise ValueError("gradient selection got no calibration batch")
    return scores
