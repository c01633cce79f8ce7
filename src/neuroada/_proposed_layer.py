"""PROPOSED (for review; not wired into the library): faster CPU kernels for the gradient of the deltas.

Profile (experiments/bench; 1 thread, 1024 tokens, the seven SmolLM2 projections of one decoder layer,
forward + backward, CPU time, frozen = 98 ms): NeuroAda k=20 adds 51 ms with the current
`sampled_addmm` kernel, of which ~12 ms are the transposes of g and x that the token-contiguous dot
products need, ~7.5 ms fixed costs (the in-place swaps of the selected weight entries, Python), and
the rest the sampled dot products. Every one of the ~30k dot products of a 1536x576 layer streams a
4 KB row of the transposed input, which at 1024 tokens (2.4 MB for d_in = 576) no longer fits the 2 MB
L2 cache; torch's CPU `sampled_addmm` also pays one horizontal reduction per entry.

Two kernels, same sums in fp32 (different order, within float tolerance of the dense reference; the
merge is unaffected since it uses delta, not its gradient), and a fused weight swap:

- `sampled_addmm_tiled` (pure PyTorch): `torch.sparse.sampled_addmm` on tiles of `TOKEN_TILE` tokens,
  accumulating; the transposed tiles stay in L2. Faster than `sampled_addmm` with one thread and at
  LLaMA-7B shapes, but with two threads its many small parallel regions cost as much as they save at
  SmolLM2 shapes: not worth adopting on its own.
- `sampled_cpu` (C++, compiled on first use with torch.utils.cpp_extension, ~35 s, then cached by
  torch; falls back to `sampled_addmm_tiled` with a warning if there is no compiler): one parallel
  region per call; each thread owns a range of rows and, per 64/128-token tile, transposes the x tile
  and its rows' g columns with AVX2 8x8 block transposes (about 4x faster than torch's strided copies),
  then computes its dot products eight entries at a time with eight vector accumulators and one
  transposing horizontal add (no per-entry reduction).
- `swapped_weight_fused` (C++): the in-place write of the selected entries and their restore as two
  passes over the entries instead of 2 gathers + 2 scatters + an add + 3 index conversions per call,
  with the same rounding (`float(W[sel]) + delta` rounded to W's dtype, as `.to()` does), so the merge
  stays bit-exact (tested for fp32, bf16, fp16).

Kernels alone (results/bench/bench_cpu.json "kernels"; 2 threads, 1024 tokens, hot caches, medians, ms):
    shape           k    sampled_addmm   sampled_addmm_tiled   sampled_cpu   dense g^T x
    576x576         20        2.7              3.5                 1.1           2.2
    1536x576        20        6.5              7.3                 2.8           5.6
    576x1536        20        4.5              5.6                 1.9           5.3
    1536x576         1        3.9              4.0                 1.1           5.7
    4096x4096       20       30.7             21.5                12.6         100.0
    11008x4096      20       64.7             42.8                28.7         309.3
    4096x11008      20       53.3             37.2                24.9         311.4
Whole model (SmolLM2 shape, 8 layers, 1024 tokens, 2 threads; step time / frozen backbone):
    NeuroAda as in layer.py 1.134 (k=1), 1.268 (k=20); `neuroada[proposed]` (ProposedNeuroAdaLinear +
    sampled_cpu) 1.043 (k=1), 1.115 (k=20); LoRA at matched rank 1.121 / 1.147.
What remains at k=20 (per decoder layer, 2 threads): ~10 ms of the kernel in situ (x and g are cold
there; the transposes stream them from memory), ~2 ms of swaps, ~3 ms of Python/autograd overhead.

To adopt: move `sampled_cpu` (and the C++ source) into kernels.py, add it to `KERNELS` and
config.KERNELS, set `AUTO_KERNEL["cpu"] = "sampled_cpu"` (it falls back by itself), and let
layer.swapped_weight use the fused swap when the extension is loaded (as `swapped_weight_fused` does).
On CUDA all of this falls back to the current code (one cuSPARSE `sampled_addmm` over all tokens).
Cost of adoption: a C++ toolchain (g++ and ninja) at first use on CPU, else the fallback.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager, nullcontext

import torch
import torch.nn.functional as F
from torch import Tensor

from . import kernels
from .kernels import sddmm
from .layer import NeuroAdaLinear, _compute_dtype, swapped_weight
from .selection import SparsePattern

TOKEN_TILE = 64  # tokens per sampled_addmm call on CPU; 32-128 measured within noise of each other


def sampled_addmm_tiled(g: Tensor, x: Tensor, pattern: SparsePattern, tile: int | None = None) -> Tensor:
    """grad_delta[e] = sum_n g[n, row[e]] * x[n, col[e]], as `torch.sparse.sampled_addmm` over token tiles."""
    d_out, d_in = pattern.shape
    n_tokens = g.shape[0]
    if tile is None:
        tile = TOKEN_TILE if g.device.type == "cpu" else max(n_tokens, 1)
    values = torch.zeros(pattern.nnz, dtype=torch.float32, device=g.device)
    crow = pattern.crow_indices().to(g.device)
    col = pattern.idx.flatten().long().to(g.device)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        csr = torch.sparse_csr_tensor(crow, col, values, (d_out, d_in), check_invariants=False)
        for t0 in range(0, n_tokens, tile):
            g_t = g[t0 : t0 + tile].t().float().contiguous()  # (d_out, tile): row-major dot operands
            x_t = x[t0 : t0 + tile].t().float().contiguous()  # (d_in, tile); passed transposed, so no copy inside
            csr = torch.sparse.sampled_addmm(csr, g_t, x_t.t(), beta=1.0)
    return csr.values().view(pattern.idx.shape)


# ----------------------------------------------------------------------------------------------------
# C++ kernel

_CPP_SOURCE = r"""
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <algorithm>
#include <vector>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

// dst[c * ld_dst + t] = src[t * ld_src + c] for t < rows, c0 <= c < c1
static inline void transpose_block(const float* src, int64_t ld_src, float* dst, int64_t ld_dst,
                                   int64_t rows, int64_t c0, int64_t c1) {
  int64_t t = 0;
#if defined(__AVX2__)
  for (; t + 8 <= rows; t += 8) {
    int64_t c = c0;
    for (; c + 8 <= c1; c += 8) {
      const float* s = src + t * ld_src + c;
      __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + ld_src);
      __m256 r2 = _mm256_loadu_ps(s + 2 * ld_src), r3 = _mm256_loadu_ps(s + 3 * ld_src);
      __m256 r4 = _mm256_loadu_ps(s + 4 * ld_src), r5 = _mm256_loadu_ps(s + 5 * ld_src);
      __m256 r6 = _mm256_loadu_ps(s + 6 * ld_src), r7 = _mm256_loadu_ps(s + 7 * ld_src);
      __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
      __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
      __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
      __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
      __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
      __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
      __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
      __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
      float* d = dst + c * ld_dst + t;
      _mm256_storeu_ps(d, _mm256_permute2f128_ps(s0, s4, 0x20));
      _mm256_storeu_ps(d + ld_dst, _mm256_permute2f128_ps(s1, s5, 0x20));
      _mm256_storeu_ps(d + 2 * ld_dst, _mm256_permute2f128_ps(s2, s6, 0x20));
      _mm256_storeu_ps(d + 3 * ld_dst, _mm256_permute2f128_ps(s3, s7, 0x20));
      _mm256_storeu_ps(d + 4 * ld_dst, _mm256_permute2f128_ps(s0, s4, 0x31));
      _mm256_storeu_ps(d + 5 * ld_dst, _mm256_permute2f128_ps(s1, s5, 0x31));
      _mm256_storeu_ps(d + 6 * ld_dst, _mm256_permute2f128_ps(s2, s6, 0x31));
      _mm256_storeu_ps(d + 7 * ld_dst, _mm256_permute2f128_ps(s3, s7, 0x31));
    }
    for (; c < c1; ++c)
      for (int64_t u = t; u < t + 8; ++u) dst[c * ld_dst + u] = src[u * ld_src + c];
  }
#endif
  for (; t < rows; ++t)
    for (int64_t c = c0; c < c1; ++c) dst[c * ld_dst + t] = src[t * ld_src + c];
}

#if defined(__AVX2__)
// out[u] += sum_t g[t] * x[u][t] for eight rows x[u]: eight vector accumulators over the tokens, then
// one transposing horizontal add for all eight (instead of eight separate reductions).
static inline void dot8_accumulate(const float* g, const float* const* x, int64_t n, float* out) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
  __m256 a4 = _mm256_setzero_ps(), a5 = _mm256_setzero_ps(), a6 = _mm256_setzero_ps(), a7 = _mm256_setzero_ps();
  int64_t t = 0;
  for (; t + 8 <= n; t += 8) {
    const __m256 gv = _mm256_loadu_ps(g + t);
    a0 = _mm256_fmadd_ps(gv, _mm256_loadu_ps(x[0] + t), a0);
    a1 = _mm256_fmadd_ps(gv, _mm256_loadu_ps(x[1] + t), a1);
    a2 = _mm256_fmadd_ps(gv, _mm256_loadu_ps(x[2] + t), a2);
    a3 = _mm256_fmadd_ps(gv, _mm256_loadu_ps(x[3] + t), a3);
    a4 = _mm256_fmadd_ps(gv, _mm256_loadu_ps(x[4] + t), a4);
    a5 = _mm256_fmadd_ps(gv, _mm256_loadu_ps(x[5] + t), a5);
    a6 = _mm256_fmadd_ps(gv, _mm256_loadu_ps(x[6] + t), a6);
    a7 = _mm256_fmadd_ps(gv, _mm256_loadu_ps(x[7] + t), a7);
  }
  // lanes of h: [a0 a1 a2 a3 | a0 a1 a2 a3] partial sums (low/high 128-bit halves), same for a4..a7
  const __m256 h01 = _mm256_hadd_ps(a0, a1), h23 = _mm256_hadd_ps(a2, a3);
  const __m256 h45 = _mm256_hadd_ps(a4, a5), h67 = _mm256_hadd_ps(a6, a7);
  const __m256 h0123 = _mm256_hadd_ps(h01, h23), h4567 = _mm256_hadd_ps(h45, h67);
  const __m256 lo = _mm256_permute2f128_ps(h0123, h4567, 0x20), hi = _mm256_permute2f128_ps(h0123, h4567, 0x31);
  alignas(32) float sums[8];
  _mm256_store_ps(sums, _mm256_add_ps(lo, hi));
  for (; t < n; ++t) {
    const float gv = g[t];
    for (int u = 0; u < 8; ++u) sums[u] += gv * x[u][t];
  }
  for (int u = 0; u < 8; ++u) out[u] += sums[u];
}
#endif

template <typename index_t>
static void sddmm_impl(const float* gp, const float* xp, const int64_t* cr, const index_t* cl, float* o,
                       int64_t N, int64_t M, int64_t K, int64_t T) {
  // One parallel region: each thread owns a range of rows and, per token tile, transposes the whole x
  // tile (small, duplicated across threads) and the g columns of its own rows, then does its dots.
  // No barrier between the transposes and the dot products.
  const int64_t grain = std::max<int64_t>(16, (M + at::get_num_threads() - 1) / std::max(at::get_num_threads(), 1));
  at::parallel_for(0, M, grain, [&](int64_t b, int64_t e) {
    std::vector<float> xT_buf(static_cast<size_t>(K * T)), gT_buf(static_cast<size_t>((e - b) * T));
    float* xT = xT_buf.data();
    float* gT = gT_buf.data();
    for (int64_t n0 = 0; n0 < N; n0 += T) {
      const int64_t tn = std::min(T, N - n0);
      for (int64_t c0 = 0; c0 < K; c0 += 64) transpose_block(xp + n0 * K, K, xT, T, tn, c0, std::min(K, c0 + 64));
      for (int64_t c0 = b; c0 < e; c0 += 64) transpose_block(gp + n0 * M + b, M, gT, T, tn, c0 - b, std::min(e, c0 + 64) - b);
      for (int64_t i = b; i < e; ++i) {
        const float* gr = gT + (i - b) * T;
        int64_t p = cr[i];
        const int64_t pe = cr[i + 1];
#if defined(__AVX2__)
        for (; p + 8 <= pe; p += 8) {  // eight entries of row i per pass over its g row, no per-entry reduction
          const float* xs[8];
          for (int u = 0; u < 8; ++u) xs[u] = xT + static_cast<int64_t>(cl[p + u]) * T;
          dot8_accumulate(gr, xs, tn, o + p);
        }
#endif
        for (; p + 4 <= pe; p += 4) {  // four entries of row i per pass over its g row
          const float* x0 = xT + static_cast<int64_t>(cl[p]) * T;
          const float* x1 = xT + static_cast<int64_t>(cl[p + 1]) * T;
          const float* x2 = xT + static_cast<int64_t>(cl[p + 2]) * T;
          const float* x3 = xT + static_cast<int64_t>(cl[p + 3]) * T;
          float a0 = 0.f, a1 = 0.f, a2 = 0.f, a3 = 0.f;
#pragma omp simd reduction(+ : a0, a1, a2, a3)
          for (int64_t t = 0; t < tn; ++t) {
            const float gv = gr[t];
            a0 += gv * x0[t]; a1 += gv * x1[t]; a2 += gv * x2[t]; a3 += gv * x3[t];
          }
          o[p] += a0; o[p + 1] += a1; o[p + 2] += a2; o[p + 3] += a3;
        }
        for (; p < pe; ++p) {
          const float* xr = xT + static_cast<int64_t>(cl[p]) * T;
          float acc = 0.f;
#pragma omp simd reduction(+ : acc)
          for (int64_t t = 0; t < tn; ++t) acc += gr[t] * xr[t];
          o[p] += acc;
        }
      }
    }
  });
}

// Fused in-place swap of the selected entries of w (d_out, d_in): old[p] = w[row(p), col[p]];
// w[row(p), col[p]] = scalar_t(float(old[p]) + delta[p]) -- the rounding of torch's
// `(w.gather(idx).float() + delta).to(w.dtype)`, so the swapped weight equals the merged one bit for bit.
template <typename scalar_t, typename index_t>
static void swap_in_impl(scalar_t* w, int64_t ld, const int64_t* cr, const index_t* cl, const float* delta,
                         scalar_t* old, int64_t M) {
  at::parallel_for(0, M, 256, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      scalar_t* row = w + i * ld;
      for (int64_t p = cr[i]; p < cr[i + 1]; ++p) {
        const scalar_t v = row[cl[p]];
        old[p] = v;
        row[cl[p]] = static_cast<scalar_t>(static_cast<float>(v) + delta[p]);
      }
    }
  });
}

template <typename scalar_t, typename index_t>
static void restore_impl(scalar_t* w, int64_t ld, const int64_t* cr, const index_t* cl, const scalar_t* old, int64_t M) {
  at::parallel_for(0, M, 256, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      scalar_t* row = w + i * ld;
      for (int64_t p = cr[i]; p < cr[i + 1]; ++p) row[cl[p]] = old[p];
    }
  });
}

#define NEUROADA_DISPATCH_INDEX(col, ...)                                                   \
  switch (col.scalar_type()) {                                                              \
    case at::kShort: { using index_t = int16_t; __VA_ARGS__(); break; }                    \
    case at::kInt: { using index_t = int32_t; __VA_ARGS__(); break; }                      \
    case at::kLong: { using index_t = int64_t; __VA_ARGS__(); break; }                     \
    default: TORCH_CHECK(false, "int16, int32 or int64 column indices expected");          \
  }

static void check_swap(const torch::Tensor& w, const torch::Tensor& crow, const torch::Tensor& col) {
  TORCH_CHECK(w.dim() == 2 && w.is_contiguous(), "contiguous 2-d weight expected");
  TORCH_CHECK(crow.scalar_type() == at::kLong && crow.is_contiguous() && crow.numel() == w.size(0) + 1, "int64 crow expected");
  TORCH_CHECK(col.is_contiguous(), "contiguous columns expected");
}

torch::Tensor swap_in(torch::Tensor w, torch::Tensor crow, torch::Tensor col, torch::Tensor delta) {
  check_swap(w, crow, col);
  TORCH_CHECK(delta.scalar_type() == at::kFloat && delta.is_contiguous() && delta.numel() == col.numel(), "fp32 delta expected");
  auto old = torch::empty({col.numel()}, w.options());
  const int64_t* cr = crow.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, w.scalar_type(), "neuroada_swap_in", [&] {
    NEUROADA_DISPATCH_INDEX(col, [&] {
      swap_in_impl<scalar_t, index_t>(w.data_ptr<scalar_t>(), w.size(1), cr, col.data_ptr<index_t>(),
                                      delta.data_ptr<float>(), old.data_ptr<scalar_t>(), w.size(0));
    })
  });
  return old;
}

void restore(torch::Tensor w, torch::Tensor crow, torch::Tensor col, torch::Tensor old) {
  check_swap(w, crow, col);
  TORCH_CHECK(old.scalar_type() == w.scalar_type() && old.is_contiguous() && old.numel() == col.numel(), "old values expected");
  const int64_t* cr = crow.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, w.scalar_type(), "neuroada_restore", [&] {
    NEUROADA_DISPATCH_INDEX(col, [&] {
      restore_impl<scalar_t, index_t>(w.data_ptr<scalar_t>(), w.size(1), cr, col.data_ptr<index_t>(), old.data_ptr<scalar_t>(), w.size(0));
    })
  });
}

// out[p] = sum_n g[n, row(p)] * x[n, col[p]] for the CSR pattern (crow, col) of a (M, K) matrix.
torch::Tensor sddmm_csr_tiled(torch::Tensor g, torch::Tensor x, torch::Tensor crow, torch::Tensor col, int64_t T) {
  TORCH_CHECK(g.dim() == 2 && x.dim() == 2 && g.size(0) == x.size(0), "g (N, M) and x (N, K) expected");
  TORCH_CHECK(g.scalar_type() == at::kFloat && x.scalar_type() == at::kFloat, "float32 g and x expected");
  TORCH_CHECK(g.is_contiguous() && x.is_contiguous() && crow.is_contiguous() && col.is_contiguous(), "contiguous inputs expected");
  TORCH_CHECK(crow.scalar_type() == at::kLong && crow.numel() == g.size(1) + 1, "int64 crow of length M + 1 expected");
  TORCH_CHECK(T > 0, "tile must be positive");
  const int64_t N = g.size(0), M = g.size(1), K = x.size(1);
  auto out = torch::zeros({col.numel()}, g.options());
  if (N == 0 || col.numel() == 0) return out;
  const float* gp = g.data_ptr<float>();
  const float* xp = x.data_ptr<float>();
  const int64_t* cr = crow.data_ptr<int64_t>();
  switch (col.scalar_type()) {
    case at::kShort: sddmm_impl<int16_t>(gp, xp, cr, col.data_ptr<int16_t>(), out.data_ptr<float>(), N, M, K, T); break;
    case at::kInt: sddmm_impl<int32_t>(gp, xp, cr, col.data_ptr<int32_t>(), out.data_ptr<float>(), N, M, K, T); break;
    case at::kLong: sddmm_impl<int64_t>(gp, xp, cr, col.data_ptr<int64_t>(), out.data_ptr<float>(), N, M, K, T); break;
    default: TORCH_CHECK(false, "int16, int32 or int64 column indices expected");
  }
  return out;
}
"""

_EXT = None
_EXT_ERROR: BaseException | None = None


def _cpu_flags() -> tuple[str, list[str]]:
    """Compiler flags for this CPU, named by torch's capability (a cached build never meets another ISA)."""
    cap = str(torch.backends.cpu.get_cpu_capability()).lower()
    isa = {"avx512": ["-mavx512f", "-mavx512vl", "-mavx2", "-mfma"], "avx2": ["-mavx2", "-mfma"]}.get(cap, [])
    return cap, ["-O3", "-fopenmp-simd", *isa]


def cpu_extension():
    """The compiled C++ kernel (built once per machine and ISA, then cached by torch), or None."""
    global _EXT, _EXT_ERROR
    if _EXT is None and _EXT_ERROR is None:
        try:
            from torch.utils.cpp_extension import load_inline

            cap, flags = _cpu_flags()
            _EXT = load_inline(f"neuroada_sddmm_cpu_{cap}", cpp_sources=_CPP_SOURCE, functions=["sddmm_csr_tiled", "swap_in", "restore"],
                               extra_cflags=flags, verbose=False)
        except Exception as exc:  # no compiler, no ninja, ...
            _EXT_ERROR = exc
            warnings.warn(f"NeuroAda C++ CPU kernel unavailable ({type(exc).__name__}: {exc}); using sampled_addmm_tiled")
    return _EXT


def cpu_tile(pattern: SparsePattern) -> int:
    """Tokens per tile: 128 amortises the horizontal sums when rows hold many entries, 64 otherwise."""
    return 128 if pattern.nnz >= 8 * pattern.shape[0] else 64


def sampled_cpu(g: Tensor, x: Tensor, pattern: SparsePattern, tile: int | None = None) -> Tensor:
    """grad_delta via the compiled C++ kernel on CPU; `sampled_addmm_tiled` elsewhere or without a compiler."""
    ext = cpu_extension() if g.device.type == "cpu" else None
    if ext is None:
        return sampled_addmm_tiled(g, x, pattern)
    crow = pattern.crow_indices().to(torch.int64).contiguous()
    col = pattern.idx.reshape(-1).contiguous()
    out = ext.sddmm_csr_tiled(g.float().contiguous(), x.float().contiguous(), crow, col, int(tile or cpu_tile(pattern)))
    return out.view(pattern.idx.shape)


PROPOSED_KERNEL = "sampled_addmm_tiled"
PROPOSED_CPU_KERNEL = "sampled_cpu"
PROPOSED_KERNELS = {PROPOSED_KERNEL: sampled_addmm_tiled, PROPOSED_CPU_KERNEL: sampled_cpu}


def register() -> list[str]:
    """Makes the proposed kernels selectable by name on existing NeuroAdaLinear layers (benchmarks only).

    `NeuroAdaConfig` still validates kernel names against config.KERNELS, so set `layer.kernel` directly.
    """
    for name, fn in PROPOSED_KERNELS.items():
        kernels.KERNELS.setdefault(name, fn)
    return list(PROPOSED_KERNELS)


# ----------------------------------------------------------------------------------------------------
# the layer with the fused swap (C++) and the C++ kernel


@contextmanager
def swapped_weight_fused(weight: Tensor, delta: Tensor, p: SparsePattern, dtype: torch.dtype, crow: Tensor | None = None):
    """`layer.swapped_weight` with the gather/add/scatter/restore fused into two C++ passes over the entries.

    Same values (the C++ rounds `float(W[sel]) + delta` to W's dtype as `.to()` does), same in-place
    write without a version bump, same restore. Falls back to `layer.swapped_weight` off CPU, under a
    dtype cast (autocast) or without the extension.
    """
    ext = cpu_extension() if (weight.device.type == "cpu" and dtype == weight.dtype and weight.is_contiguous()) else None
    if ext is None:
        with swapped_weight(weight, delta, p, dtype) as w:
            yield w
        return
    w = weight.detach()
    crow = p.crow_indices() if crow is None else crow
    col = p.idx.reshape(-1)
    old = ext.swap_in(w, crow, col, delta.detach().reshape(-1).float().contiguous())
    try:
        yield w
    finally:
        ext.restore(w, crow, col, old)


def _no_autocast(t: Tensor):
    """torch.autocast(enabled=False) only when autocast is on: entering it costs more than the small layers' ops."""
    return torch.autocast(t.device.type, enabled=False) if torch.is_autocast_enabled(t.device.type) else nullcontext()


class ProposedSparseDeltaLinearFn(torch.autograd.Function):
    """layer.SparseDeltaLinearFn with `swapped_weight_fused`; the CSR row pointers are built once per step."""

    @staticmethod
    def forward(ctx, x, weight, bias, delta, idx, rows, kernel):
        p = SparsePattern(idx, rows, tuple(weight.shape))
        crow = p.crow_indices()
        dtype = _compute_dtype(x, weight)
        xc = x.to(dtype)
        with _no_autocast(x), swapped_weight_fused(weight, delta, p, dtype, crow) as w:
            y = F.linear(xc, w, None if bias is None else bias.to(dtype))
        ctx.weight, ctx.crow = weight, crow
        ctx.save_for_backward(xc, delta, idx, rows)
        ctx.kernel, ctx.dtype, ctx.x_dtype = kernel, dtype, x.dtype
        ctx.bias_dtype = None if bias is None else bias.dtype
        return y

    @staticmethod
    def backward(ctx, grad_out):
        xc, delta, idx, rows = ctx.saved_tensors
        weight = ctx.weight
        p = SparsePattern(idx, rows, tuple(weight.shape))
        g = grad_out.reshape(-1, weight.shape[0]).to(ctx.dtype)
        grad_x = grad_bias = grad_delta = None
        with _no_autocast(g):
            if ctx.needs_input_grad[0]:
                with swapped_weight_fused(weight, delta, p, ctx.dtype, ctx.crow) as w:
                    grad_x = (g @ w).view(xc.shape).to(ctx.x_dtype)
            if ctx.needs_input_grad[3]:
                grad_delta = sddmm(g, xc.reshape(-1, weight.shape[1]), p, ctx.kernel).to(delta.dtype)
            if ctx.needs_input_grad[2]:
                grad_bias = g.float().sum(0).to(ctx.bias_dtype)
        return grad_x, None, grad_bias, grad_delta, None, None, None


class ProposedNeuroAdaLinear(NeuroAdaLinear):
    """NeuroAdaLinear with the proposed Function; same parameters, buffers and merge."""

    def forward(self, x: Tensor) -> Tensor:
        if self.weight.requires_grad:
            raise RuntimeError("NeuroAdaLinear needs a frozen base weight; call weight.requires_grad_(False)")
        return ProposedSparseDeltaLinearFn.apply(x, self.weight, self.bias, self.neuroada_delta, self.neuroada_idx, self.neuroada_rows, self.kernel)


def use_proposed(model: torch.nn.Module, kernel: str = PROPOSED_CPU_KERNEL) -> int:
    """Switches every NeuroAdaLinear of `model` to the proposed layer and kernel (benchmarks); returns the count."""
    register()
    n = 0
    for m in model.modules():
        if isinstance(m, NeuroAdaLinear):
            m.__class__ = ProposedNeuroAdaLinear
            m.kernel = kernel
            n += 1
    return n
