// SGD (plain, momentum, Nesterov) and Adam on the device, mirroring runtime/optimizer.cpp line by
// line (see cuda_optimizer.h for the rules). Each element's update depends on that element alone, so the
// assignment of chunks to blocks cannot change any result.
#include "runtime/cuda/cuda_device.cuh"
#include "runtime/cuda/cuda_optimizer.h"

namespace sublinear::runtime::cuda {

namespace {

__device__ __forceinline__ int find_slot(const int64_t* chunk_start, int count, int64_t chunk) {
  // The last slot whose first chunk is <= chunk.
  int lo = 0, hi = count - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (chunk_start[mid] <= chunk) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

__global__ void optimizer_kernel(const DeviceParamSlot* slots, const int64_t* chunk_start, int count,
                                 OptimizerScalars s) {
  const int64_t chunk = blockIdx.x;
  const int k = find_slot(chunk_start, count, chunk);
  const DeviceParamSlot p = slots[k];
  const int64_t begin = (chunk - chunk_start[k]) * kOptimizerChunk;
  const int64_t end = begin + kOptimizerChunk < p.n ? begin + kOptimizerChunk : p.n;
  const float wd = s.weight_decay;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    float d = p.g[i];
    if (s.coef) d = __fmul_rn(d, *s.coef);
    if (wd != 0.0f) d = __fadd_rn(d, __fmul_rn(wd, p.w[i]));
    switch (s.kind) {
      case DeviceOptimizerKind::Sgd:
        p.w[i] = __fsub_rn(p.w[i], __fmul_rn(s.lr, d));
        break;
      case DeviceOptimizerKind::Nesterov: {
        const float v = __fadd_rn(__fmul_rn(s.momentum, p.state0[i]), d);
        p.state0[i] = v;
        d = __fadd_rn(d, __fmul_rn(s.momentum, v));
        p.w[i] = __fsub_rn(p.w[i], __fmul_rn(s.lr, d));
        break;
      }
      case DeviceOptimizerKind::Momentum: {
        const float v = __fadd_rn(__fmul_rn(s.momentum, p.state0[i]), d);
        p.state0[i] = v;
        p.w[i] = __fsub_rn(p.w[i], __fmul_rn(s.lr, v));
        break;
      }
      case DeviceOptimizerKind::Adam:
      case DeviceOptimizerKind::AdamW: {
        if (s.shrink) p.w[i] = __fmul_rn(p.w[i], s.keep);
        const float m = __fadd_rn(p.state0[i], __fmul_rn(s.one_minus_b1, __fsub_rn(d, p.state0[i])));
        const float v = __fadd_rn(__fmul_rn(s.b2, p.state1[i]), __fmul_rn(__fmul_rn(s.one_minus_b2, d), d));
        p.state0[i] = m;
        p.state1[i] = v;
        const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(v), s.c2_sqrt), s.eps);
        p.w[i] = __fadd_rn(p.w[i], __fmul_rn(s.neg_step_size, __fdiv_rn(m, denom)));
        break;
      }
    }
  }
}

__global__ void sum_squares_kernel(const DeviceParamSlot* slots, const int64_t* chunk_start, int count, double* part) {
  const int64_t chunk = blockIdx.x;
  const int k = find_slot(chunk_start, count, chunk);
  const DeviceParamSlot p = slots[k];
  const int64_t begin = (chunk - chunk_start[k]) * kOptimizerChunk;
  const int64_t end = begin + kOptimizerChunk < p.n ? begin + kOptimizerChunk : p.n;
  double s = 0;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) s += static_cast<double>(p.g[i]) * p.g[i];
  s = block_sum(s);
  if (threadIdx.x == 0) part[chunk] = s;
}

__global__ void clip_coefficient_kernel(double* part, int64_t chunks, double clip) {
  double total = 0;
  for (int64_t c = 0; c < chunks; ++c) total += part[c];
  const float coef = static_cast<float>(clip / (sqrt(total) + 1e-6));
  *reinterpret_cast<float*>(part + chunks) = coef < 1.0f ? coef : 1.0f;
}

}  // namespace

const float* launch_clip_coefficient(CudaContext& ctx, const DeviceParamSlot* slots, const int64_t* chunk_start,
                                     int count, int64_t total_chunks, double clip, double* work) {
  if (count > 0 && total_chunks > 0) {
    sum_squares_kernel<<<static_cast<unsigned>(total_chunks), kThreads, 0, ctx.stream()>>>(slots, chunk_start, count,
                                                                                           work);
    SL_CUDA_LAUNCH_CHECK();
  }
  clip_coefficient_kernel<<<1, 1, 0, ctx.stream()>>>(work, total_chunks, clip);
  SL_CUDA_LAUNCH_CHECK();
  return reinterpret_cast<const float*>(work + total_chunks);
}

void launch_optimizer(CudaContext& ctx, const DeviceParamSlot* slots, const int64_t* chunk_start, int count,
                      int64_t total_chunks, const OptimizerScalars& s) {
  if (count == 0 || total_chunks == 0) return;
  SL_CHECK(total_chunks < (int64_t{1} << 31)) << "optimizer: " << total_chunks << " chunks";
  optimizer_kernel<<<static_cast<unsigned>(total_chunks), kThreads, 0, ctx.stream()>>>(slots, chunk_start, count, s);
  SL_CUDA_LAUNCH_CHECK();
}

}  // namespace sublinear::runtime::cuda
