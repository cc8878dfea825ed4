// linear, matmul and embedding. GEMMs go through dnnl_sgemm (row-major); accumulation into a gradient
// uses the GEMM's beta = 1, so no scratch is needed.
// Rules: every gradient is finished before the next one starts (matmul(x, x) hands the same buffer as
// dx[0] and dx[1], the second accumulating). Bias and embedding-table gradients are reduced in a fixed
// order per output element, parallel only over output elements, so they are deterministic.
#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/cpu/cpu_kernels.h"
#include "runtime/cpu/dnnl_util.h"
#include "runtime/kernel_geometry.h"

namespace sublinear::runtime::cpu {

namespace {

float beta_of(bool accumulate) { return accumulate ? 1.0f : 0.0f; }

// --- linear --------------------------------------------------------------------------------------------

void linear_forward(const OpCall& c) {
  const LinearDims d = linear_dims(c);
  float* y = c.out[0].f32();
  const bool bias = c.node->attrs.get_bool("bias");
  if (bias) {
    const float* b = c.in[2].f32();
#pragma omp parallel for schedule(static) if (d.rows * d.units >= kParallelWork)
    for (int64_t r = 0; r < d.rows; ++r)
      for (int64_t u = 0; u < d.units; ++u) y[r * d.units + u] = b[u];
  }
  sgemm(false, true, d.rows, d.units, d.in, 1.0f, c.in[0].f32(), d.in, c.in[1].f32(), d.in, beta_of(bias), y,
        d.units);
}

// db[u] (+)= sum over rows of dy[r, u]: column blocks in parallel, rows in order, in double.
void column_sums(const float* dy, int64_t rows, int64_t cols, float* out, bool accumulate) {
  constexpr int64_t kBlock = 64;
  const int64_t blocks = (cols + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelWork)
  for (int64_t bi = 0; bi < blocks; ++bi) {
    const int64_t c0 = bi * kBlock, c1 = std::min(cols, c0 + kBlock);
    double sums[kBlock] = {};
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = c0; j < c1; ++j) sums[j - c0] += dy[r * cols + j];
    for (int64_t j = c0; j < c1; ++j) out[j] = static_cast<float>(sums[j - c0] + (accumulate ? out[j] : 0.0));
  }
}

void linear_backward(const OpCall& c) {
  const LinearDims d = linear_dims(c);
  if (!c.dy[0].present()) {
    for (size_t i = 0; i < c.dx.size(); ++i) store_zero(c.dx[i], grad_accumulates(c, i));
    return;
  }
  const float* dy = c.dy[0].f32();
  // dx = dy W
  if (grad_wanted(c, 0))
    sgemm(false, false, d.rows, d.in, d.units, 1.0f, dy, d.units, c.in[1].f32(), d.in,
          beta_of(grad_accumulates(c, 0)), c.dx[0].f32(), d.in);
  // dW = dy^T x
  if (grad_wanted(c, 1))
    sgemm(true, false, d.units, d.in, d.rows, 1.0f, dy, d.units, c.in[0].f32(), d.in,
          beta_of(grad_accumulates(c, 1)), c.dx[1].f32(), d.in);
  if (c.node->attrs.get_bool("bias") && grad_wanted(c, 2))
    column_sums(dy, d.rows, d.units, c.dx[2].f32(), grad_accumulates(c, 2));
}

// --- matmul --------------------------------------------------------------------------------------------

void matmul_forward(const OpCall& c) {
  const MatmulDims d = matmul_dims(c);
  const float* a = c.in[0].f32();
  const float* b = c.in[1].f32();
  float* y = c.out[0].f32();
  if (d.folds_batch()) {
    sgemm(false, d.tb, d.batch * d.m, d.n, d.k, 1.0f, a, d.k, b, d.ldb(), 0.0f, y, d.n);
    return;
  }
  for (int64_t i = 0; i < d.batch; ++i)
    sgemm(d.ta, d.tb, d.m, d.n, d.k, 1.0f, a + i * d.a_size(), d.lda(), b + (d.shared_b ? 0 : i * d.b_size()),
          d.ldb(), 0.0f, y + i * d.y_size(), d.n);
}

// Gradient of a (as stored) for `rows` rows of a stacked batch: op(a) = dy op(b)^T.
void matmul_grad_a(const MatmulDims& d, int64_t m, const float* dy, const float* b, float beta, float* da) {
  if (!d.ta) {
    // da [m, K] = dy [m, N] op(b)^T, op(b)^T = b^T when b is [K, N], b when stored [N, K].
    sgemm(false, !d.tb, m, d.k, d.n, 1.0f, dy, d.n, b, d.ldb(), beta, da, d.k);
  } else {
    // da stored [K, M] = op(b) dy^T.
    sgemm(d.tb, true, d.k, m, d.n, 1.0f, b, d.ldb(), dy, d.n, beta, da, m);
  }
}

// Gradient of b (as stored) from `m` rows: op(b) gradient = op(a)^T dy.
void matmul_grad_b(const MatmulDims& d, int64_t m, const float* a, const float* dy, float beta, float* db) {
  const int64_t lda = d.ta ? m : d.k;
  if (!d.tb) {
    // db [K, N] = op(a)^T dy, op(a)^T = a^T when a is [M, K], a when stored [K, M].
    sgemm(!d.ta, false, d.k, d.n, m, 1.0f, a, lda, dy, d.n, beta, db, d.n);
  } else {
    // db stored [N, K] = dy^T op(a).
    sgemm(true, d.ta, d.n, d.k, m, 1.0f, dy, d.n, a, lda, beta, db, d.k);
  }
}

void matmul_backward(const OpCall& c) {
  const MatmulDims d = matmul_dims(c);
  if (!c.dy[0].present()) {
    for (size_t i = 0; i < c.dx.size(); ++i) store_zero(c.dx[i], grad_accumulates(c, i));
    return;
  }
  const float* a = c.in[0].f32();
  const float* b = c.in[1].f32();
  const float* dy = c.dy[0].f32();
  const bool fold = d.folds_batch();
  if (grad_wanted(c, 0)) {
    const float beta = beta_of(grad_accumulates(c, 0));
    float* da = c.dx[0].f32();
    if (fold) {
      matmul_grad_a(d, d.batch * d.m, dy, b, beta, da);
    } else {
      for (int64_t i = 0; i < d.batch; ++i)
        matmul_grad_a(d, d.m, dy + i * d.y_size(), b + (d.shared_b ? 0 : i * d.b_size()), beta,
                      da + i * d.a_size());
    }
  }
  if (grad_wanted(c, 1)) {
    const bool acc = grad_accumulates(c, 1);
    float* db = c.dx[1].f32();
    if (fold) {
      matmul_grad_b(d, d.batch * d.m, a, dy, beta_of(acc), db);
    } else if (d.shared_b) {
      // A sum over batch entries, added in batch order.
      for (int64_t i = 0; i < d.batch; ++i)
        matmul_grad_b(d, d.m, a + i * d.a_size(), dy + i * d.y_size(), beta_of(acc || i > 0), db);
      if (d.batch == 0) store_zero(c.dx[1], acc);
    } else {
      for (int64_t i = 0; i < d.batch; ++i)
        matmul_grad_b(d, d.m, a + i * d.a_size(), dy + i * d.y_size(), beta_of(acc), db + i * d.b_size());
    }
  }
}

// --- embedding -----------------------------------------------------------------------------------------

void check_indices(const OpCall& c, int64_t vocab) {
  const int32_t* idx = c.in[0].i32();
  const int64_t n = c.in[0].numel();
  for (int64_t i = 0; i < n; ++i)
    if (idx[i] < 0 || idx[i] >= vocab)
      throw std::out_of_range("embedding '" + c.node->name + "': index " + std::to_string(idx[i]) +
                              " at position " + std::to_string(i) + " is outside the table of " +
                              std::to_string(vocab) + " rows");
}

void embedding_forward(const OpCall& c) {
  const int64_t vocab = c.in[1].dim(0), dim = c.in[1].dim(1);
  check_indices(c, vocab);
  const int32_t* idx = c.in[0].i32();
  const float* w = c.in[1].f32();
  float* y = c.out[0].f32();
  const int64_t n = c.in[0].numel();
#pragma omp parallel for schedule(static) if (n * dim >= kParallelWork)
  for (int64_t i = 0; i < n; ++i) {
    const float* row = w + static_cast<int64_t>(idx[i]) * dim;
    std::copy(row, row + dim, y + i * dim);
  }
}

// dW[r] (+)= sum of dy at the positions holding index r, in position order: a stable counting sort
// groups positions by row, then rows are independent.
void embedding_backward(const OpCall& c) {
  if (!grad_wanted(c, 1)) return;
  const bool acc = grad_accumulates(c, 1);
  if (!c.dy[0].present()) return store_zero(c.dx[1], acc);
  const int64_t vocab = c.dx[1].dim(0), dim = c.dx[1].dim(1);
  check_indices(c, vocab);
  const int32_t* idx = c.in[0].i32();
  const int64_t n = c.in[0].numel();
  std::vector<int64_t> start(static_cast<size_t>(vocab) + 1, 0), order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ++start[static_cast<size_t>(idx[i]) + 1];
  for (int64_t r = 0; r < vocab; ++r) start[r + 1] += start[r];
  std::vector<int64_t> next(start.begin(), start.end() - 1);
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(next[static_cast<size_t>(idx[i])]++)] = i;
  const float* dy = c.dy[0].f32();
  float* dw = c.dx[1].f32();
#pragma omp parallel for schedule(static) if ((n + vocab) * dim >= kParallelWork)
  for (int64_t r = 0; r < vocab; ++r) {
    float* row = dw + r * dim;
    if (!acc) std::fill(row, row + dim, 0.0f);
    for (int64_t p = start[r]; p < start[r + 1]; ++p) {
      const float* g = dy + order[p] * dim;
      for (int64_t j = 0; j < dim; ++j) row[j] += g[j];
    }
  }
}

}  // namespace

void register_linear_kernels(KernelTable& t) {
  t.add("linear", {linear_forward, linear_backward});
  t.add("matmul", {matmul_forward, matmul_backward});
  t.add("embedding", {embedding_forward, embedding_backward});
}

}  // namespace sublinear::runtime::cpu
