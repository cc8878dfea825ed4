// Fused attention on the GPU (runtime/cpu/attention_kernels.cpp's contract): one warp per query row in
// the forward (an online softmax: running max, running sum and the weighted sum of v in registers, so
// nothing of size Tq x Tk exists), one warp per query row for dq and one per key row for dk and dv in
// the backward, which recompute the probabilities as exp(score - lse).
// Rules: dot products are warp sums over a fixed butterfly, every gradient row is written by one warp,
// and no atomics are used, so results depend on the shapes only. The head dimensions are held in
// registers, kMaxPerLane per lane: D and Dv up to kMaxHeadDim (larger ones are refused with a message).
// The row terms delta_i = dy_i . y_i live in scratch (attention_scratch_bytes). Probabilities are
// computed in another order than the CPU's, so results agree to float rounding, not bitwise.
#include <cmath>
#include <stdexcept>
#include <string>

#include "runtime/cuda/cuda_device.cuh"
#include "runtime/cuda/cuda_kernels.h"
#include "runtime/cuda/cuda_util.h"

namespace sublinear::runtime::cuda {

namespace {

constexpr int kWarp = 32;
constexpr int kMaxPerLane = 8;
constexpr int64_t kMaxHeadDim = kWarp * kMaxPerLane;
constexpr int kWarpsPerBlock = kThreads / kWarp;

struct Geo {
  int64_t heads, tq, tk, d, dv;
  float scale;
  bool causal;
};

Geo geometry(const OpCall& c) {
  const ir::Shape& q = c.in[0].type.shape;
  const size_t r = q.size();
  Geo g{};
  g.tq = q[r - 2];
  g.d = q[r - 1];
  g.tk = c.in[1].type.shape[r - 2];
  g.dv = c.in[2].type.shape[r - 1];
  g.heads = 1;
  for (size_t i = 0; i + 2 < r; ++i) g.heads *= q[i];
  const double s = c.node->attrs.get_float("scale");
  g.scale = static_cast<float>(s > 0 ? s : 1.0 / std::sqrt(static_cast<double>(g.d)));
  g.causal = c.node->attrs.get_bool("causal");
  if (g.d > kMaxHeadDim || g.dv > kMaxHeadDim)
    throw std::runtime_error("attention '" + c.node->name + "': the CUDA kernel supports head dimensions up to " +
                             std::to_string(kMaxHeadDim) + ", got " + std::to_string(g.d) + " and " +
                             std::to_string(g.dv) + "; use fewer, wider heads' worth of split, or the CPU");
  return g;
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = kWarp / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_dot(const float* a, const float* b, int64_t n, int lane) {
  float s = 0.0f;
  for (int64_t e = lane; e < n; e += kWarp) s = __fadd_rn(s, __fmul_rn(a[e], b[e]));
  return warp_sum(s);
}

__device__ __forceinline__ int64_t keys_for(const Geo& g, int64_t i) { return g.causal ? min(i + 1, g.tk) : g.tk; }

__global__ void attention_fwd_kernel(const float* q, const float* k, const float* v, float* y, float* lse, Geo g) {
  const int lane = threadIdx.x % kWarp;
  const int64_t rows = g.heads * g.tq;
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarp; row < rows;
       row += static_cast<int64_t>(gridDim.x) * kWarpsPerBlock) {
    const int64_t h = row / g.tq, i = row % g.tq, n = keys_for(g, i);
    const float* qi = q + row * g.d;
    float m = -INFINITY, sum = 0.0f;
    float acc[kMaxPerLane];
    for (int t = 0; t < kMaxPerLane; ++t) acc[t] = 0.0f;
    for (int64_t j = 0; j < n; ++j) {
      const float* kj = k + (h * g.tk + j) * g.d;
      const float* vj = v + (h * g.tk + j) * g.dv;
      const float s = warp_dot(qi, kj, g.d, lane) * g.scale;
      const float m_new = fmaxf(m, s);
      const float c = expf(m - m_new), p = expf(s - m_new);
      sum = sum * c + p;
      for (int t = 0; t < kMaxPerLane; ++t) {
        const int64_t e = lane + t * kWarp;
        if (e < g.dv) acc[t] = acc[t] * c + p * vj[e];
      }
      m = m_new;
    }
    float* yi = y + row * g.dv;
    for (int t = 0; t < kMaxPerLane; ++t) {
      const int64_t e = lane + t * kWarp;
      if (e < g.dv) yi[e] = acc[t] / sum;
    }
    if (lane == 0) lse[row] = m + logf(sum);
  }
}

__global__ void attention_delta_kernel(const float* dy, const float* y, float* delta, Geo g) {
  const int lane = threadIdx.x % kWarp;
  const int64_t rows = g.heads * g.tq;
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarp; row < rows;
       row += static_cast<int64_t>(gridDim.x) * kWarpsPerBlock) {
    const float s = warp_dot(dy + row * g.dv, y + row * g.dv, g.dv, lane);
    if (lane == 0) delta[row] = s;
  }
}

// ds_ij * scale and p_ij for query row `row` (head h) and key j.
__device__ __forceinline__ float scaled_ds(const float* q, const float* k, const float* v, const float* dy,
                                           const float* lse, const float* delta, const Geo& g, int64_t h,
                                           int64_t row, int64_t j, int lane, float* p_out) {
  const float s = warp_dot(q + row * g.d, k + (h * g.tk + j) * g.d, g.d, lane) * g.scale;
  const float p = expf(s - lse[row]);
  const float dp = warp_dot(dy + row * g.dv, v + (h * g.tk + j) * g.dv, g.dv, lane);
  *p_out = p;
  return p * (dp - delta[row]) * g.scale;
}

__global__ void attention_dq_kernel(const float* q, const float* k, const float* v, const float* dy, const float* lse,
                                    const float* delta, float* dq, bool acc_dq, Geo g) {
  const int lane = threadIdx.x % kWarp;
  const int64_t rows = g.heads * g.tq;
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarp; row < rows;
       row += static_cast<int64_t>(gridDim.x) * kWarpsPerBlock) {
    const int64_t h = row / g.tq, i = row % g.tq, n = keys_for(g, i);
    float acc[kMaxPerLane];
    for (int t = 0; t < kMaxPerLane; ++t) acc[t] = 0.0f;
    for (int64_t j = 0; j < n; ++j) {
      float p;
      const float ds = scaled_ds(q, k, v, dy, lse, delta, g, h, row, j, lane, &p);
      const float* kj = k + (h * g.tk + j) * g.d;
      for (int t = 0; t < kMaxPerLane; ++t) {
        const int64_t e = lane + t * kWarp;
        if (e < g.d) acc[t] += ds * kj[e];
      }
    }
    float* out = dq + row * g.d;
    for (int t = 0; t < kMaxPerLane; ++t) {
      const int64_t e = lane + t * kWarp;
      if (e < g.d) out[e] = acc_dq ? __fadd_rn(out[e], acc[t]) : acc[t];
    }
  }
}

__global__ void attention_dkdv_kernel(const float* q, const float* k, const float* v, const float* dy,
                                      const float* lse, const float* delta, float* dk, bool acc_dk, float* dv,
                                      bool acc_dv, Geo g) {
  const int lane = threadIdx.x % kWarp;
  const int64_t rows = g.heads * g.tk;
  for (int64_t krow = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarp; krow < rows;
       krow += static_cast<int64_t>(gridDim.x) * kWarpsPerBlock) {
    const int64_t h = krow / g.tk, j = krow % g.tk;
    float gk[kMaxPerLane], gv[kMaxPerLane];
    for (int t = 0; t < kMaxPerLane; ++t) gk[t] = gv[t] = 0.0f;
    for (int64_t i = g.causal ? j : 0; i < g.tq; ++i) {
      const int64_t row = h * g.tq + i;
      float p;
      const float ds = scaled_ds(q, k, v, dy, lse, delta, g, h, row, j, lane, &p);
      for (int t = 0; t < kMaxPerLane; ++t) {
        const int64_t e = lane + t * kWarp;
        if (e < g.d) gk[t] += ds * q[row * g.d + e];
        if (e < g.dv) gv[t] += p * dy[row * g.dv + e];
      }
    }
    for (int t = 0; t < kMaxPerLane; ++t) {
      const int64_t e = lane + t * kWarp;
      if (dk && e < g.d) dk[krow * g.d + e] = acc_dk ? __fadd_rn(dk[krow * g.d + e], gk[t]) : gk[t];
    }
    for (int t = 0; t < kMaxPerLane; ++t) {
      const int64_t e = lane + t * kWarp;
      if (dv && e < g.dv) dv[krow * g.dv + e] = acc_dv ? __fadd_rn(dv[krow * g.dv + e], gv[t]) : gv[t];
    }
  }
}

unsigned warp_blocks(int64_t rows) { return blocks_for(rows, kWarpsPerBlock); }

void attention_forward(CudaContext& ctx, const OpCall& c) {
  const Geo g = geometry(c);
  if (g.heads * g.tq == 0) return;
  attention_fwd_kernel<<<warp_blocks(g.heads * g.tq), kThreads, 0, ctx.stream()>>>(
      c.in[0].f32(), c.in[1].f32(), c.in[2].f32(), c.out[0].f32(), c.out[1].f32(), g);
  SL_CUDA_LAUNCH_CHECK();
}

void attention_backward(CudaContext& ctx, const OpCall& c) {
  bool want[3], acc[3];
  for (size_t i = 0; i < 3; ++i) {
    want[i] = grad_wanted(c, i);
    acc[i] = grad_accumulates(c, i);
  }
  if (!c.dy[0].present()) {
    for (size_t i = 0; i < 3; ++i)
      if (want[i]) zero_gradient(ctx, c.dx[i], acc[i]);
    return;
  }
  const Geo g = geometry(c);
  if (g.heads * g.tq == 0 || g.tk == 0) return;
  float* delta = static_cast<float*>(ctx.scratch(g.heads * g.tq * static_cast<int64_t>(sizeof(float))));
  const float *q = c.in[0].f32(), *k = c.in[1].f32(), *v = c.in[2].f32();
  const float *y = c.out[0].f32(), *lse = c.out[1].f32(), *dy = c.dy[0].f32();
  attention_delta_kernel<<<warp_blocks(g.heads * g.tq), kThreads, 0, ctx.stream()>>>(dy, y, delta, g);
  SL_CUDA_LAUNCH_CHECK();
  if (want[0]) {
    attention_dq_kernel<<<warp_blocks(g.heads * g.tq), kThreads, 0, ctx.stream()>>>(q, k, v, dy, lse, delta,
                                                                                   c.dx[0].f32(), acc[0], g);
    SL_CUDA_LAUNCH_CHECK();
  }
  if (want[1] || want[2]) {
    attention_dkdv_kernel<<<warp_blocks(g.heads * g.tk), kThreads, 0, ctx.stream()>>>(
        q, k, v, dy, lse, delta, want[1] ? c.dx[1].f32() : nullptr, acc[1], want[2] ? c.dx[2].f32() : nullptr,
        acc[2], g);
    SL_CUDA_LAUNCH_CHECK();
  }
}

}  // namespace

int64_t attention_scratch_bytes(const ir::Node& n, const std::vector<ir::TensorType>&) {
  if (n.op != "attention") return 0;
  return n.outputs[1].bytes();  // delta, one float per query row
}

void register_attention_kernels(KernelTable& t, CudaContext* ctx) {
  add_kernels(t, ctx, "attention", attention_forward, attention_backward);
}

}  // namespace sublinear::runtime::cuda
