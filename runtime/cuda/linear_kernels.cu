// linear, matmul and embedding on the GPU. GEMMs go through cuBLAS (row-major via the usual transpose
// trick: a row-major C = op(A) op(B) is the column-major C^T = op(B)^T op(A)^T); accumulation into a
// gradient uses the GEMM's beta = 1, and beta = 0 never reads the output.
// Rules (those of runtime/cpu/linear_kernels.cpp):
// - Every gradient is finished before the next one starts (one stream), so matmul(x, x), which hands one
//   buffer as dx[0] and dx[1] (the second accumulating), is right.
// - cuBLAS runs in CUBLAS_DEFAULT_MATH (f32, no TF32) on one stream with a fixed workspace, which makes
//   its results deterministic for given shapes; a shared-b gradient summed over batch entries is a
//   series of GEMMs with beta = 1 in batch order, as on the CPU.
// - The bias gradient sums each column over rows in row order in double, and adds the old value in
//   double when accumulating: the CPU's column_sums, bit for bit.
// - embedding's backward is sort-free and deterministic: one thread per table element (row, column);
//   each warp scans the indices 32 at a time with a ballot and adds the matching rows of dy in position
//   order, in f32 like the CPU. Out-of-range indices are recorded as a device error (the host throws
//   the CPU's std::out_of_range at the next synchronisation); they read nothing and gather zeros.
#include <algorithm>

#include "runtime/cuda/cuda_device.cuh"
#include "runtime/cuda/cuda_kernels.h"
#include "runtime/cuda/cuda_util.h"
#include "runtime/kernel_geometry.h"

namespace sublinear::runtime::cuda {

namespace {

int as_int(int64_t v) {
  SL_CHECK(v >= 0 && v <= INT32_MAX) << "GEMM dimension " << v << " does not fit cuBLAS's int";
  return static_cast<int>(v);
}

// Row-major C[m, n] = alpha * op(A) op(B) + beta * C with op(A) [m, k] and op(B) [k, n]; lda, ldb, ldc are
// the row lengths of A, B, C as stored.
void gemm(CudaContext& ctx, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  SL_CUBLAS_CHECK(cublasSgemm(ctx.cublas(), tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, as_int(n),
                              as_int(m), as_int(k), &alpha, b, as_int(ldb), a, as_int(lda), &beta, c, as_int(ldc)));
}

// `batch` GEMMs at element strides sa, sb, sc (sb = 0: one B shared by all).
void gemm_batched(CudaContext& ctx, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                  int64_t sa, const float* b, int64_t ldb, int64_t sb, float beta, float* c, int64_t ldc, int64_t sc,
                  int64_t batch) {
  if (m == 0 || n == 0 || batch == 0) return;
  if (batch == 1) return gemm(ctx, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
  const float alpha = 1.0f;
  SL_CUBLAS_CHECK(cublasSgemmStridedBatched(ctx.cublas(), tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                                            as_int(n), as_int(m), as_int(k), &alpha, b, as_int(ldb), sb, a, as_int(lda),
                                            sa, &beta, c, as_int(ldc), sc, as_int(batch)));
}

float beta_of(bool accumulate) { return accumulate ? 1.0f : 0.0f; }

// --- linear --------------------------------------------------------------------------------------------

__global__ void bias_rows_kernel(const float* b, float* y, int64_t rows, int64_t units) {
  const int64_t n = rows * units;
  for (int64_t i = global_thread(); i < n; i += global_stride()) y[i] = b[i % units];
}

// out[j] = float(sum over rows of dy[r, j] in row order (+ out[j])), all in double.
__global__ void column_sums_kernel(const float* dy, int64_t rows, int64_t cols, float* out, bool acc) {
  for (int64_t j = global_thread(); j < cols; j += global_stride()) {
    double s = 0.0;
    for (int64_t r = 0; r < rows; ++r) s += dy[r * cols + j];
    out[j] = static_cast<float>(s + (acc ? static_cast<double>(out[j]) : 0.0));
  }
}

void linear_forward(CudaContext& ctx, const OpCall& c) {
  const LinearDims d = linear_dims(c);
  float* y = c.out[0].f32();
  const bool bias = c.node->attrs.get_bool("bias");
  if (bias && d.rows * d.units > 0) {
    bias_rows_kernel<<<blocks_for(d.rows * d.units), kThreads, 0, ctx.stream()>>>(c.in[2].f32(), y, d.rows, d.units);
    SL_CUDA_LAUNCH_CHECK();
  }
  gemm(ctx, false, true, d.rows, d.units, d.in, 1.0f, c.in[0].f32(), d.in, c.in[1].f32(), d.in, beta_of(bias), y,
       d.units);
}

void linear_backward(CudaContext& ctx, const OpCall& c) {
  const LinearDims d = linear_dims(c);
  if (!c.dy[0].present()) {
    for (size_t i = 0; i < c.dx.size(); ++i) zero_gradient(ctx, c.dx[i], grad_accumulates(c, i));
    return;
  }
  const float* dy = c.dy[0].f32();
  // dx = dy W
  if (grad_wanted(c, 0))
    gemm(ctx, false, false, d.rows, d.in, d.units, 1.0f, dy, d.units, c.in[1].f32(), d.in, beta_of(grad_accumulates(c, 0)),
         c.dx[0].f32(), d.in);
  // dW = dy^T x
  if (grad_wanted(c, 1))
    gemm(ctx, true, false, d.units, d.in, d.rows, 1.0f, dy, d.units, c.in[0].f32(), d.in, beta_of(grad_accumulates(c, 1)),
         c.dx[1].f32(), d.in);
  if (c.node->attrs.get_bool("bias") && grad_wanted(c, 2) && d.units > 0) {
    column_sums_kernel<<<blocks_for(d.units), kThreads, 0, ctx.stream()>>>(dy, d.rows, d.units, c.dx[2].f32(),
                                                                           grad_accumulates(c, 2));
    SL_CUDA_LAUNCH_CHECK();
  }
}

// --- matmul --------------------------------------------------------------------------------------------

void matmul_forward(CudaContext& ctx, const OpCall& c) {
  const MatmulDims d = matmul_dims(c);
  const float* a = c.in[0].f32();
  const float* b = c.in[1].f32();
  float* y = c.out[0].f32();
  if (d.folds_batch()) {
    gemm(ctx, false, d.tb, d.batch * d.m, d.n, d.k, 1.0f, a, d.k, b, d.ldb(), 0.0f, y, d.n);
    return;
  }
  gemm_batched(ctx, d.ta, d.tb, d.m, d.n, d.k, a, d.lda(), d.a_size(), b, d.ldb(), d.shared_b ? 0 : d.b_size(), 0.0f, y,
               d.n, d.y_size(), d.batch);
}

void matmul_backward(CudaContext& ctx, const OpCall& c) {
  const MatmulDims d = matmul_dims(c);
  if (!c.dy[0].present()) {
    for (size_t i = 0; i < c.dx.size(); ++i) zero_gradient(ctx, c.dx[i], grad_accumulates(c, i));
    return;
  }
  const float* a = c.in[0].f32();
  const float* b = c.in[1].f32();
  const float* dy = c.dy[0].f32();
  const bool fold = d.folds_batch();
  if (grad_wanted(c, 0)) {
    const float beta = beta_of(grad_accumulates(c, 0));
    float* da = c.dx[0].f32();
    const int64_t m = fold ? d.batch * d.m : d.m;
    const int64_t batch = fold ? 1 : d.batch;
    const int64_t sb = d.shared_b ? 0 : d.b_size();
    if (!d.ta) {
      // da [m, K] = dy [m, N] op(b)^T
      gemm_batched(ctx, false, !d.tb, m, d.k, d.n, dy, d.n, d.y_size(), b, d.ldb(), sb, beta, da, d.k, d.a_size(),
                   batch);
    } else {
      // da stored [K, M] = op(b) dy^T
      gemm_batched(ctx, d.tb, true, d.k, m, d.n, b, d.ldb(), sb, dy, d.n, d.y_size(), beta, da, m, d.a_size(), batch);
    }
  }
  if (grad_wanted(c, 1)) {
    const bool acc = grad_accumulates(c, 1);
    float* db = c.dx[1].f32();
    // op(b) gradient = op(a)^T dy, for `m` rows of a at `ap` and of dy at `gp`.
    auto grad_b = [&](int64_t m, const float* ap, const float* gp, float beta, float* out, int64_t batch) {
      const int64_t lda = d.ta ? m : d.k;
      const int64_t s_out = d.shared_b ? 0 : d.b_size();
      if (!d.tb) {
        // db [K, N] = op(a)^T dy
        gemm_batched(ctx, !d.ta, false, d.k, d.n, m, ap, lda, d.a_size(), gp, d.n, d.y_size(), beta, out, d.n, s_out,
                     batch);
      } else {
        // db stored [N, K] = dy^T op(a)
        gemm_batched(ctx, true, d.ta, d.n, d.k, m, gp, d.n, d.y_size(), ap, lda, d.a_size(), beta, out, d.k, s_out,
                     batch);
      }
    };
    if (fold) {
      grad_b(d.batch * d.m, a, dy, beta_of(acc), db, 1);
    } else if (d.shared_b) {
      // A sum over batch entries, added in batch order.
      for (int64_t i = 0; i < d.batch; ++i)
        grad_b(d.m, a + i * d.a_size(), dy + i * d.y_size(), beta_of(acc || i > 0), db, 1);
      if (d.batch == 0) zero_gradient(ctx, c.dx[1], acc);
    } else {
      grad_b(d.m, a, dy, beta_of(acc), db, d.batch);
    }
  }
}

// --- embedding -----------------------------------------------------------------------------------------

__global__ void embedding_kernel(const int32_t* idx, const float* w, float* y, int64_t n, int64_t vocab, int64_t dim,
                                 DeviceError* err, int node) {
  const int64_t total = n * dim;
  for (int64_t i = global_thread(); i < total; i += global_stride()) {
    const int64_t p = i / dim, j = i - p * dim;
    const int32_t r = idx[p];
    if (r < 0 || r >= vocab) {
      if (j == 0) report_error(err, kIndexOutOfRange, node, r, p, vocab);
      y[i] = 0.0f;
      continue;
    }
    y[i] = w[static_cast<int64_t>(r) * dim + j];
  }
}

// Block (row r, column tile): each thread owns column j of row r and adds dy[p, j] for every position p
// holding index r, in position order.
__global__ void embedding_grad_kernel(const int32_t* idx, const float* dy, float* dw, int64_t n, int64_t dim,
                                      int64_t tiles, bool acc) {
  const int64_t r = blockIdx.x / tiles;
  const int64_t j0 = (blockIdx.x % tiles) * kThreads;
  const int64_t j = j0 + threadIdx.x;
  const int lane = threadIdx.x & 31;
  // A warp whose columns are all past the end has nothing to do (no block-wide synchronisation below).
  if (j0 + (threadIdx.x & ~31) >= dim) return;
  float s = acc && j < dim ? dw[r * dim + j] : 0.0f;
  for (int64_t p0 = 0; p0 < n; p0 += 32) {
    const int64_t p = p0 + lane;
    unsigned mask = __ballot_sync(0xffffffffu, p < n && idx[p] == r);
    while (mask != 0) {
      const int bit = __ffs(static_cast<int>(mask)) - 1;
      mask &= mask - 1;
      if (j < dim) s = __fadd_rn(s, dy[(p0 + bit) * dim + j]);
    }
  }
  if (j < dim) dw[r * dim + j] = s;
}

void embedding_forward(CudaContext& ctx, const OpCall& c) {
  const int64_t vocab = c.in[1].type.shape[0], dim = c.in[1].type.shape[1];
  const int64_t n = c.in[0].numel();
  if (n * dim == 0) return;
  ctx.note_node(*c.node);
  embedding_kernel<<<blocks_for(n * dim), kThreads, 0, ctx.stream()>>>(c.in[0].i32(), c.in[1].f32(), c.out[0].f32(), n,
                                                                       vocab, dim, ctx.device_error(), c.node->id);
  SL_CUDA_LAUNCH_CHECK();
}

void embedding_backward(CudaContext& ctx, const OpCall& c) {
  if (!grad_wanted(c, 1)) return;
  const bool acc = grad_accumulates(c, 1);
  if (!c.dy[0].present()) return zero_gradient(ctx, c.dx[1], acc);
  const int64_t vocab = c.dx[1].type.shape[0], dim = c.dx[1].type.shape[1];
  const int64_t n = c.in[0].numel();
  if (vocab * dim == 0) return;
  const int64_t tiles = (dim + kThreads - 1) / kThreads;
  SL_CHECK(vocab * tiles < (int64_t{1} << 31)) << "embedding: table of " << vocab << " rows is too large";
  embedding_grad_kernel<<<static_cast<unsigned>(vocab * tiles), kThreads, 0, ctx.stream()>>>(
      c.in[0].i32(), c.dy[0].f32(), c.dx[1].f32(), n, dim, tiles, acc);
  SL_CUDA_LAUNCH_CHECK();
}

}  // namespace

void register_linear_kernels(KernelTable& t, CudaContext* ctx) {
  add_kernels(t, ctx, "linear", linear_forward, linear_backward);
  add_kernels(t, ctx, "matmul", matmul_forward, matmul_backward);
  add_kernels(t, ctx, "embedding", embedding_forward, embedding_backward);
}

}  // namespace sublinear::runtime::cuda
