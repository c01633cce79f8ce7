// NeuroAda CPU kernels (compiled on first use by neuroada/cpu_extension.py through torch.utils.cpp_extension,
// with -fopenmp: without it at::parallel_for runs serially).
//
// sddmm_csr_tiled: the gradient of the bypass deltas, out[p] = sum_n g[n, row(p)] * x[n, col[p]] over the
// CSR pattern (crow, col). Per tile of T tokens it transposes the x tile and, 64 rows at a time, the g
// columns (AVX2 8x8 block transposes) so every dot product reads contiguous memory, then does each row's
// dot products eight entries at a time with eight vector accumulators and one transposing horizontal add.
// Threads split the token tiles, each summing into its own copy of the output (so the order of the sums,
// and the last bits of the result, depend on the thread count); with too few tiles they split the rows.
//
// swap_in / restore: the in-place write of the selected weight entries (W[sel] = W[sel] + delta, rounded
// as torch's `(W.gather().float() + delta).to(W.dtype)` rounds, so the swapped weight equals the merged
// one bit for bit) and the write-back of the original values, as one pass over the entries each.
//
// All three check the pattern's bounds first (csr_in_bounds) and raise instead of touching memory outside
// the weight, g or x.
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <algorithm>
#include <limits>
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

// xT (K, T) = the transposed x tile of tn tokens at row n0, in blocks of 64 columns (cache-friendly writes).
static inline void transpose_x_tile(const float* xp, int64_t n0, int64_t tn, int64_t K, int64_t T, float* xT) {
  for (int64_t c0 = 0; c0 < K; c0 += 64) transpose_block(xp + n0 * K, K, xT, T, tn, c0, std::min(K, c0 + 64));
}

// The dot products of rows [b, e) for the tokens of one tile, whose x is transposed in xT (K, T);
// gT is scratch for ROW_BLOCK rows of the transposed g tile.
constexpr int64_t ROW_BLOCK = 64;

template <typename index_t>
static void tile_rows(const float* gp, const float* xT, const int64_t* cr, const index_t* cl, float* o,
                      int64_t n0, int64_t tn, int64_t M, int64_t T, int64_t b, int64_t e, float* gT) {
  for (int64_t r0 = b; r0 < e; r0 += ROW_BLOCK) {
    const int64_t r1 = std::min(e, r0 + ROW_BLOCK);
    transpose_block(gp + n0 * M + r0, M, gT, T, tn, 0, r1 - r0);
    for (int64_t i = r0; i < r1; ++i) {
      const float* gr = gT + (i - r0) * T;
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
}

// Token tiles [t0, t1) of rows [b, e), summed into dst; scratch allocated once per call.
template <typename index_t>
static void tiles_into(const float* gp, const float* xp, const int64_t* cr, const index_t* cl, float* dst,
                       int64_t N, int64_t M, int64_t K, int64_t T, int64_t t0, int64_t t1, int64_t b, int64_t e) {
  std::vector<float> xT(static_cast<size_t>(K * T)), gT(static_cast<size_t>(ROW_BLOCK * T));
  for (int64_t tile = t0; tile < t1; ++tile) {
    const int64_t n0 = tile * T, tn = std::min(T, N - n0);
    transpose_x_tile(xp, n0, tn, K, T, xT.data());
    tile_rows(gp, xT.data(), cr, cl, dst, n0, tn, M, T, b, e, gT.data());
  }
}

template <typename index_t>
static void sddmm_impl(const float* gp, const float* xp, const int64_t* cr, const index_t* cl, float* o,
                       int64_t N, int64_t M, int64_t K, int64_t T, int64_t nnz) {
  const int64_t threads = std::max(at::get_num_threads(), 1);
  const int64_t tiles = (N + T - 1) / T;
  if (threads > 1 && tiles >= 2 * threads) {
    // Threads split the tokens: each transposes only its own x tiles (a row split would have every
    // thread transpose every x tile) and sums into its own copy of the output, added up at the end.
    const int64_t grain = (tiles + threads - 1) / threads;
    const int64_t parts = (tiles + grain - 1) / grain;
    std::vector<float> partial(static_cast<size_t>((parts - 1) * nnz), 0.f);
    at::parallel_for(0, parts, 1, [&](int64_t pb, int64_t pe) {
      for (int64_t part = pb; part < pe; ++part)
        tiles_into(gp, xp, cr, cl, part == 0 ? o : partial.data() + (part - 1) * nnz, N, M, K, T,
                   part * grain, std::min(tiles, (part + 1) * grain), 0, M);
    });
    for (int64_t part = 1; part < parts; ++part) {
      const float* src = partial.data() + (part - 1) * nnz;
      for (int64_t p = 0; p < nnz; ++p) o[p] += src[p];
    }
    return;
  }
  // Few tiles: threads split the rows, and every thread transposes each x tile.
  const int64_t grain = std::max<int64_t>(16, (M + threads - 1) / threads);
  at::parallel_for(0, M, grain, [&](int64_t b, int64_t e) { tiles_into(gp, xp, cr, cl, o, N, M, K, T, 0, tiles, b, e); });
}

// Fused in-place swap of the selected entries of w (d_out, d_in): old[p] = w[row(p), col[p]];
// w[row(p), col[p]] = scalar_t(float(old[p]) + delta[p]) -- the rounding of torch's
// `(w.gather(idx).float() + delta).to(w.dtype)`, so the swapped weight equals the merged one bit for bit.
// restore walks each row backwards, so even a row that names one column twice gets its original value back.
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
      const int64_t p0 = cr[i];
      for (int64_t p = cr[i + 1] - 1; p >= p0; --p) row[cl[p]] = old[p];
    }
  });
}

// True when (cr, cl) is a CSR pattern of a (M, K) matrix with nnz entries: pointers from 0 to nnz,
// non-decreasing, columns in [0, K). Every kernel checks it before it reads or writes through the pattern
// (a corrupt adapter must never write outside its weight). Written as branch-free reductions so that it
// vectorises: 0.6 us for SmolLM2's 576 x 576 at k = 20 (13 us with std::min/std::max), next to ~40 us for
// the swap and restore themselves.
template <typename index_t>
static bool csr_in_bounds(const int64_t* cr, const index_t* cl, int64_t M, int64_t K, int64_t nnz) {
  if (cr[0] != 0 || cr[M] != nnz) return false;
  int64_t decreasing = 0;
  for (int64_t i = 0; i < M; ++i) decreasing |= static_cast<int64_t>(cr[i] > cr[i + 1]);
  index_t lo = std::numeric_limits<index_t>::max(), hi = std::numeric_limits<index_t>::min();
  for (int64_t p = 0; p < nnz; ++p) {
    const index_t c = cl[p];
    lo = c < lo ? c : lo;
    hi = c > hi ? c : hi;
  }
  return decreasing == 0 && (nnz == 0 || (lo >= 0 && static_cast<int64_t>(hi) < K));
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
  TORCH_CHECK(col.is_contiguous() && col.dim() == 1, "contiguous 1-d columns expected");
}

static constexpr const char* OUT_OF_RANGE =
    "NeuroAda pattern out of range: a column index is outside [0, in_features) or the row pointers are "
    "invalid (a corrupt adapter or index buffer?); nothing was written";

torch::Tensor swap_in(torch::Tensor w, torch::Tensor crow, torch::Tensor col, torch::Tensor delta) {
  check_swap(w, crow, col);
  TORCH_CHECK(delta.scalar_type() == at::kFloat && delta.is_contiguous() && delta.numel() == col.numel(), "fp32 delta expected");
  auto old = torch::empty({col.numel()}, w.options());
  const int64_t* cr = crow.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, w.scalar_type(), "neuroada_swap_in", [&] {
    NEUROADA_DISPATCH_INDEX(col, [&] {
      TORCH_CHECK(csr_in_bounds<index_t>(cr, col.data_ptr<index_t>(), w.size(0), w.size(1), col.numel()), OUT_OF_RANGE);
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
      TORCH_CHECK(csr_in_bounds<index_t>(cr, col.data_ptr<index_t>(), w.size(0), w.size(1), col.numel()), OUT_OF_RANGE);
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
  TORCH_CHECK(col.dim() == 1, "1-d columns expected");
  auto out = torch::zeros({col.numel()}, g.options());
  if (N == 0 || col.numel() == 0) return out;
  const float* gp = g.data_ptr<float>();
  const float* xp = x.data_ptr<float>();
  const int64_t* cr = crow.data_ptr<int64_t>();
  bool ok = false;
  NEUROADA_DISPATCH_INDEX(col, [&] { ok = csr_in_bounds<index_t>(cr, col.data_ptr<index_t>(), M, K, col.numel()); })
  TORCH_CHECK(ok, OUT_OF_RANGE);
  switch (col.scalar_type()) {
    case at::kShort: sddmm_impl<int16_t>(gp, xp, cr, col.data_ptr<int16_t>(), out.data_ptr<float>(), N, M, K, T, col.numel()); break;
    case at::kInt: sddmm_impl<int32_t>(gp, xp, cr, col.data_ptr<int32_t>(), out.data_ptr<float>(), N, M, K, T, col.numel()); break;
    case at::kLong: sddmm_impl<int64_t>(gp, xp, cr, col.data_ptr<int64_t>(), out.data_ptr<float>(), N, M, K, T, col.numel()); break;
    default: TORCH_CHECK(false, "int16, int32 or int64 column indices expected");
  }
  return out;
}

// How many threads at::parallel_for really uses here (1 when the build lacks OpenMP): a build check.
int64_t parallel_threads() {
  const int64_t n = std::max(at::get_num_threads(), 1) * 4;
  std::vector<int> used(static_cast<size_t>(n), -1);
  at::parallel_for(0, n, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) used[i] = at::get_thread_num();
  });
  std::sort(used.begin(), used.end());
  return std::unique(used.begin(), used.end()) - used.begin();
}
