"""Sampled dense-dense products (SDDMM) for the gradient of the bypass deltas.

grad_delta[e] = sum_n g[n, row[e]] * x[n, col[e]] for every selected entry e. The dense `d_out x d_in`
gradient that the released code forms is never materialised whole:

- `sampled_addmm`: torch's CSR SDDMM (`torch.sparse.sampled_addmm`), touches only selected entries.
- `gather_bmm`: gathers the k selected input columns of a block of rows and does one batched
  matrix-vector product per row; memory is bounded by the block size.
- `dense_gather`: row-tiled `g_tile^T @ x` followed by a gather; a dense GEMM per tile, which wins on
  accelerators when k is a large fraction of d_in.
- `sampled_addmm_tiled`: `sampled_addmm` over tiles of `TOKEN_TILE` tokens, accumulating, so the
  transposed tiles stay in cache (faster than `sampled_addmm` at LLaMA-7B shapes on CPU).
- `sampled_cpu`: the compiled C++ kernel (`csrc/neuroada_cpu.cpp`): per token tile, AVX2 block
  transposes and eight dot products per pass; threads split the token tiles; `sampled_addmm_tiled`
  without a compiler.

All compute in float32 and return a float32 tensor shaped like `pattern.idx`; they differ only in the
order of the sums (tested against each other and a float64 dense reference).
"""
from __future__ import annotations

import warnings

import torch
from torch import Tensor

from . import cpu_extension
from .selection import SparsePattern

TILE_ELEMENTS = 1 << 22  # bound on the temporaries of the tiled kernels (16 MB in fp32)
TOKEN_TILE = 64  # tokens per sampled_addmm call of sampled_addmm_tiled on CPU; 32-128 measured within noise


def sampled_addmm(g: Tensor, x: Tensor, pattern: SparsePattern) -> Tensor:
    d_out, d_in = pattern.shape
    values = torch.zeros(pattern.nnz, dtype=torch.float32, device=g.device)
    crow = pattern.crow_indices().to(g.device)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        csr = torch.sparse_csr_tensor(crow, pattern.idx.flatten().long(), values, (d_out, d_in), check_invariants=False)
        # A row-major g^T makes every sampled dot product read contiguous memory (3x faster on CPU).
        out = torch.sparse.sampled_addmm(csr, g.t().float().contiguous(), x.float(), beta=0.0)
    return out.values().view(pattern.idx.shape)


def gather_bmm(g: Tensor, x: Tensor, pattern: SparsePattern) -> Tensor:
    n_tokens = g.shape[0]
    gT = g.t().float().contiguous()  # (d_out, N)
    xT = x.t().float().contiguous()  # (d_in, N)
    if pattern.uniform:
        d_out, k = pattern.idx.shape
        out = torch.empty((d_out, k), dtype=torch.float32, device=g.device)
        step = max(1, TILE_ELEMENTS // max(k * n_tokens, 1))
        for r0 in range(0, d_out, step):
            r1 = min(r0 + step, d_out)
            cols = xT[pattern.idx[r0:r1].long()]  # (R, k, N)
            out[r0:r1] = torch.bmm(cols, gT[r0:r1].unsqueeze(-1)).squeeze(-1)
        return out
    rows, cols = pattern.row_index(), pattern.idx.long()
    out = torch.empty(pattern.nnz, dtype=torch.float32, device=g.device)
    step = max(1, TILE_ELEMENTS // max(n_tokens, 1))
    for e0 in range(0, pattern.nnz, step):
        e1 = min(e0 + step, pattern.nnz)
        out[e0:e1] = (gT[rows[e0:e1]] * xT[cols[e0:e1]]).sum(-1)
    return out


def dense_gather(g: Tensor, x: Tensor, pattern: SparsePattern) -> Tensor:
    d_out, d_in = pattern.shape
    g32, x32 = g.float(), x.float()
    step = max(1, TILE_ELEMENTS // max(d_in, 1))
    if pattern.uniform:
        out = torch.empty(pattern.idx.shape, dtype=torch.float32, device=g.device)
        for r0 in range(0, d_out, step):
            r1 = min(r0 + step, d_out)
            out[r0:r1] = (g32[:, r0:r1].t() @ x32).gather(1, pattern.idx[r0:r1].long())
        return out
    rows, cols = pattern.row_index(), pattern.idx.long()
    out = torch.empty(pattern.nnz, dtype=torch.float32, device=g.device)
    bounds = torch.searchsorted(rows, torch.arange(0, d_out + step, step, device=rows.device)).tolist()
    for t, r0 in enumerate(range(0, d_out, step)):
        e0, e1 = bounds[t], bounds[t + 1]
        if e0 == e1:
            continue
        tile = g32[:, r0 : r0 + step].t() @ x32
        out[e0:e1] = tile[rows[e0:e1] - r0, cols[e0:e1]]
    return out


def sampled_addmm_tiled(g: Tensor, x: Tensor, pattern: SparsePattern, tile: int | None = None) -> Tensor:
    d_out, d_in = pattern.shape
    n_tokens = g.shape[0]
    if tile is None:
        tile = TOKEN_TILE if g.device.type == "cpu" else max(n_tokens, 1)
    values = torch.zeros(pattern.nnz, dtype=torch.float32, device=g.device)
    crow = pattern.crow_indices().to(g.device)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        csr = torch.sparse_csr_tensor(crow, pattern.idx.flatten().long(), values, (d_out, d_in), check_invariants=False)
        for t0 in range(0, n_tokens, tile):
            g_t = g[t0 : t0 + tile].t().float().contiguous()  # (d_out, tile): row-major dot operands
            x_t = x[t0 : t0 + tile].t().float().contiguous()  # (d_in, tile); passed transposed: no copy inside
            csr = torch.sparse.sampled_addmm(csr, g_t, x_t.t(), beta=1.0)
    return csr.values().view(pattern.idx.shape)


def cpu_tile(pattern: SparsePattern) -> int:
    """Tokens per tile of `sampled_cpu`: 128 amortises the horizontal sums when rows hold many entries."""
    return 128 if pattern.nnz >= 8 * pattern.shape[0] else 64


def sampled_cpu(g: Tensor, x: Tensor, pattern: SparsePattern, tile: int | None = None) -> Tensor:
    ext = cpu_extension.load() if g.device.type == "cpu" else None
    if ext is None:
        return sampled_addmm_tiled(g, x, pattern)
    out = ext.sddmm_csr_tiled(g.float().contiguous(), x.float().contiguous(), pattern.crow_indices(),
                              pattern.idx.reshape(-1).contiguous(), int(tile or cpu_tile(pattern)))
    return out.view(pattern.idx.shape)


KERNELS = {"sampled_addmm": sampled_addmm, "gather_bmm": gather_bmm, "dense_gather": dense_gather,
           "sampled_addmm_tiled": sampled_addmm_tiled, "sampled_cpu": sampled_cpu}


def resolve_kernel(name: str, device: torch.device) -> str:
    """`auto` picks by device; the choice is fixed (not timed) so that runs stay reproducible."""
    if name != "auto":
        if name not in KERNELS:
            raise ValueError(f"unknown kernel {name!r}; accepted: auto, {', '.join(KERNELS)}")
        return name
    return AUTO_KERNEL.get(device.type, "dense_gather")


# Chosen from `python experiments/bench/bench.py --suite all` (results/bench/bench_cpu.json): on CPU the
# C++ kernel is 2-3x faster than the others at SmolLM2 and LLaMA-7B shapes (it falls back to
# sampled_addmm_tiled without a compiler). On CUDA, sampled_addmm_tiled: one cuSPARSE SDDMM over all tokens
# with both dense operands transposed to contiguous rows; on an H200 at LLaMA-7B widths (8 layers, 16 x 512
# tokens, bf16, k=20) the step took 221 ms against 551 ms with `sampled_addmm`'s layout, at the same
# tracked memory (results/cuda/bench_cuda_llama7b_model.json).
AUTO_KERNEL = {"cpu": "sampled_cpu", "cuda": "sampled_addmm_tiled"}


def sddmm(g: Tensor, x: Tensor, pattern: SparsePattern, kernel: str = "auto") -> Tensor:
    return KERNELS[resolve_kernel(kernel, g.device)](g, x, pattern)
