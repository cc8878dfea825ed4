// arange and argmax on the GPU, with the CPU kernels' rules (runtime/cpu/index_kernels.cpp): the same f32
// formula start + i * step (no FMA: explicit _rn intrinsics) and the same tie and NaN rule, so results are
// the CPU's bit for bit. One thread per element (arange) or per searched row (argmax).
#include "runtime/cuda/cuda_device.cuh"
#include "runtime/cuda/cuda_kernels.h"
#include "runtime/cuda/cuda_util.h"

namespace sublinear::runtime::cuda {

namespace {

__global__ void arange_f32_kernel(float* y, float start, float step, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += global_stride())
    y[i] = __fadd_rn(start, __fmul_rn(static_cast<float>(i), step));
}

__global__ void arange_i32_kernel(int32_t* y, int64_t start, int64_t step, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += global_stride()) y[i] = static_cast<int32_t>(start + i * step);
}

__global__ void argmax_kernel(const float* x, int32_t* y, int64_t rows, int64_t len, int64_t inner) {
  for (int64_t r = global_thread(); r < rows; r += global_stride()) {
    const int64_t o = r / inner, in = r % inner;
    const float* p = x + o * len * inner + in;
    int64_t best = 0;
    float bv = p[0];
    for (int64_t k = 1; k < len && !isnan(bv); ++k) {
      const float v = p[k * inner];
      if (v > bv || isnan(v)) best = k, bv = v;
    }
    y[r] = static_cast<int32_t>(best);
  }
}

void arange_forward(CudaContext& ctx, const OpCall& c) {
  const Tensor& y = c.out[0];
  const int64_t n = y.numel();
  if (n == 0) return;
  if (y.type.dtype == ir::DType::I32) {
    arange_i32_kernel<<<blocks_for(n), kThreads, 0, ctx.stream()>>>(
        y.i32(), static_cast<int64_t>(c.node->attrs.get_float("start")),
        static_cast<int64_t>(c.node->attrs.get_float("step")), n);
  } else {
    arange_f32_kernel<<<blocks_for(n), kThreads, 0, ctx.stream()>>>(
        y.f32(), static_cast<float>(c.node->attrs.get_float("start")),
        static_cast<float>(c.node->attrs.get_float("step")), n);
  }
  SL_CUDA_LAUNCH_CHECK();
}

void argmax_forward(CudaContext& ctx, const OpCall& c) {
  const ir::Shape& s = c.in[0].type.shape;
  int64_t axis = c.node->attrs.get_int("axis");
  if (axis < 0) axis += static_cast<int64_t>(s.size());
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= s[static_cast<size_t>(i)];
  for (size_t i = static_cast<size_t>(axis) + 1; i < s.size(); ++i) inner *= s[i];
  const int64_t rows = outer * inner;
  if (rows == 0) return;
  argmax_kernel<<<blocks_for(rows), kThreads, 0, ctx.stream()>>>(c.in[0].f32(), c.out[0].i32(), rows,
                                                                  s[static_cast<size_t>(axis)], inner);
  SL_CUDA_LAUNCH_CHECK();
}

}  // namespace

void register_index_kernels(KernelTable& t, CudaContext* ctx) {
  add_kernels(t, ctx, "arange", arange_forward, nullptr);
  add_kernels(t, ctx, "argmax", argmax_forward, nullptr);
}

}  // namespace sublinear::runtime::cuda
