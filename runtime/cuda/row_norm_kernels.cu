// layer_norm and rms_norm on the GPU (runtime/cpu/row_norm_kernels.cpp's formulas).
// Rules: one block per row; row sums are in double over a fixed per-thread stride and block_sum's fixed
// tree, so they depend on the shapes only (and agree with the CPU's to rounding). gamma's and beta's
// gradients are one thread per column summing the rows in order, launched before dx is written, since
// dx may be dy's buffer. No atomics.
#include "runtime/cuda/cuda_device.cuh"
#include "runtime/cuda/cuda_kernels.h"
#include "runtime/cuda/cuda_util.h"

namespace sublinear::runtime::cuda {

namespace {

struct Rows {
  int64_t rows = 0, d = 0;
  float eps = 0;
  bool affine = false;
};

Rows rows_of(const OpCall& c) {
  const ir::Shape& s = c.in[0].type.shape;
  int64_t axis = c.node->attrs.get_int("axis");
  if (axis < 0) axis += static_cast<int64_t>(s.size());
  Rows r;
  r.rows = 1;
  r.d = 1;
  for (size_t i = 0; i < s.size(); ++i) (static_cast<int64_t>(i) < axis ? r.rows : r.d) *= s[i];
  r.eps = static_cast<float>(c.node->attrs.get_float("eps"));
  r.affine = c.node->attrs.get_bool("affine");
  return r;
}

template <bool Centred>
__global__ void row_norm_kernel(const float* x, const float* gamma, const float* beta, float* y, float* mean_out,
                                float* rstd_out, int64_t rows, int64_t d, float eps) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * d;
    float mean = 0.0f;
    if constexpr (Centred) {
      double s = 0;
      for (int64_t j = threadIdx.x; j < d; j += kThreads) s += xr[j];
      mean = static_cast<float>(block_sum(s) / static_cast<double>(d));
    }
    double sq = 0;
    for (int64_t j = threadIdx.x; j < d; j += kThreads) {
      const double t = static_cast<double>(xr[j]) - mean;
      sq += t * t;
    }
    const float rstd = static_cast<float>(1.0 / sqrt(block_sum(sq) / static_cast<double>(d) + eps));
    if (threadIdx.x == 0) {
      if (mean_out) mean_out[r] = mean;
      rstd_out[r] = rstd;
    }
    float* yr = y + r * d;
    for (int64_t j = threadIdx.x; j < d; j += kThreads) {
      float v = __fmul_rn(__fsub_rn(xr[j], mean), rstd);
      if (gamma) v = __fmul_rn(v, gamma[j]);
      if (beta) v = __fadd_rn(v, beta[j]);
      yr[j] = v;
    }
  }
}

__device__ __forceinline__ float xhat_at(const float* x, const float* mean, const float* rstd, int64_t r, int64_t d,
                                         int64_t j) {
  return __fmul_rn(__fsub_rn(x[r * d + j], mean ? mean[r] : 0.0f), rstd[r]);
}

__global__ void row_norm_param_grad_kernel(const float* x, const float* mean, const float* rstd, const float* dy,
                                           float* dgamma, bool acc_gamma, float* dbeta, bool acc_beta, int64_t rows,
                                           int64_t d) {
  for (int64_t j = global_thread(); j < d; j += global_stride()) {
    double sg = 0, sb = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const float g = dy[r * d + j];
      sg += static_cast<double>(g) * xhat_at(x, mean, rstd, r, d, j);
      sb += g;
    }
    if (dgamma) dgamma[j] = static_cast<float>(acc_gamma ? dgamma[j] + sg : sg);
    if (dbeta) dbeta[j] = static_cast<float>(acc_beta ? dbeta[j] + sb : sb);
  }
}

template <bool Centred>
__global__ void row_norm_grad_kernel(const float* x, const float* gamma, const float* mean, const float* rstd,
                                     const float* dy, float* dx, bool acc, int64_t rows, int64_t d) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* dyr = dy + r * d;
    double s1 = 0, s2 = 0;
    for (int64_t j = threadIdx.x; j < d; j += kThreads) {
      const float g = gamma ? __fmul_rn(dyr[j], gamma[j]) : dyr[j];
      s1 += g;
      s2 += static_cast<double>(g) * xhat_at(x, mean, rstd, r, d, j);
    }
    const float m1 = Centred ? static_cast<float>(block_sum(s1) / static_cast<double>(d)) : 0.0f;
    const float m2 = static_cast<float>(block_sum(s2) / static_cast<double>(d));
    float* dxr = dx + r * d;
    for (int64_t j = threadIdx.x; j < d; j += kThreads) {
      const float g = gamma ? __fmul_rn(dyr[j], gamma[j]) : dyr[j];
      const float v = rstd[r] * (g - m1 - xhat_at(x, mean, rstd, r, d, j) * m2);
      dxr[j] = acc ? __fadd_rn(dxr[j], v) : v;
    }
  }
}

template <bool Centred>
void row_norm_forward(CudaContext& ctx, const OpCall& c) {
  const Rows g = rows_of(c);
  if (g.rows == 0 || g.d == 0) return;
  const float* gamma = g.affine ? c.in[1].f32() : nullptr;
  const float* beta = g.affine && Centred ? c.in[2].f32() : nullptr;
  row_norm_kernel<Centred><<<blocks_for(g.rows, 1), kThreads, 0, ctx.stream()>>>(
      c.in[0].f32(), gamma, beta, c.out[0].f32(), Centred ? c.out[1].f32() : nullptr, c.out[Centred ? 2 : 1].f32(),
      g.rows, g.d, g.eps);
  SL_CUDA_LAUNCH_CHECK();
}

template <bool Centred>
void row_norm_backward(CudaContext& ctx, const OpCall& c) {
  const Rows g = rows_of(c);
  const size_t n_params = g.affine ? (Centred ? 2 : 1) : 0;
  if (!c.dy[0].present()) {
    for (size_t i = 0; i <= n_params; ++i)
      if (grad_wanted(c, i)) zero_gradient(ctx, c.dx[i], grad_accumulates(c, i));
    return;
  }
  if (g.rows == 0 || g.d == 0) return;
  const float* x = c.in[0].f32();
  const float* gamma = g.affine ? c.in[1].f32() : nullptr;
  const float* mean = Centred ? c.out[1].f32() : nullptr;
  const float* rstd = c.out[Centred ? 2 : 1].f32();
  const bool want_gamma = g.affine && grad_wanted(c, 1);
  const bool want_beta = g.affine && Centred && grad_wanted(c, 2);
  if (want_gamma || want_beta) {
    row_norm_param_grad_kernel<<<blocks_for(g.d), kThreads, 0, ctx.stream()>>>(
        x, mean, rstd, c.dy[0].f32(), want_gamma ? c.dx[1].f32() : nullptr, want_gamma && grad_accumulates(c, 1),
        want_beta ? c.dx[2].f32() : nullptr, want_beta && grad_accumulates(c, 2), g.rows, g.d);
    SL_CUDA_LAUNCH_CHECK();
  }
  if (!grad_wanted(c, 0)) return;
  row_norm_grad_kernel<Centred><<<blocks_for(g.rows, 1), kThreads, 0, ctx.stream()>>>(
      x, gamma, mean, rstd, c.dy[0].f32(), c.dx[0].f32(), grad_accumulates(c, 0), g.rows, g.d);
  SL_CUDA_LAUNCH_CHECK();
}

}  // namespace

void register_row_norm_kernels(KernelTable& t, CudaContext* ctx) {
  add_kernels(t, ctx, "layer_norm", row_norm_forward<true>, row_norm_backward<true>);
  add_kernels(t, ctx, "rms_norm", row_norm_forward<false>, row_norm_backward<false>);
}

}  // namespace sublinear::runtime::cuda
