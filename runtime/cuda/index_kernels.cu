// arange and argmax on the GPU, with the CPU kernels' rules (runtime/cpu/index_kernels.cpp): the same f32
// formula start + i * step (no FMA: explicit _rn intrinsics) and the same tie and NaN rule, so results are
// the CPU's bit for bit. One thread per element (arange) or per searched row (argmax). take: one thread per
// output element, an index outside the axis recorded as a device error (the host throws, as on the CPU);
// its gradient is a block per (outer, row, column tile) whose threads add, in position order, the dy rows
// of the positions holding that row's index (found 32 at a time with a warp ballot), so dx is the CPU's
// sum in the CPU's order, without atomics.
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

struct TakeView {
  int64_t outer = 1, dim = 1, inner = 1, n = 0, axis = 0;
};

TakeView take_view(const OpCall& c, const ir::Shape& x) {
  TakeView v;
  v.axis = c.node->attrs.get_int("axis");
  if (v.axis < 0) v.axis += static_cast<int64_t>(x.size());
  for (int64_t i = 0; i < v.axis; ++i) v.outer *= x[static_cast<size_t>(i)];
  for (size_t i = static_cast<size_t>(v.axis) + 1; i < x.size(); ++i) v.inner *= x[i];
  v.dim = x[static_cast<size_t>(v.axis)];
  v.n = c.in[1].numel();
  return v;
}

__global__ void take_kernel(const uint32_t* x, const int32_t* idx, uint32_t* y, TakeView v, int64_t total,
                            DeviceError* err, int node) {
  for (int64_t i = global_thread(); i < total; i += global_stride()) {
    const int64_t q = i / v.inner, j = i - q * v.inner, o = q / v.n, p = q - o * v.n;
    const int32_t r = idx[p];
    if (r < 0 || r >= v.dim) {
      if (j == 0 && o == 0) report_error(err, kIndexOutOfRange, node, r, p, v.dim);
      y[i] = 0u;
      continue;
    }
    y[i] = x[(o * v.dim + r) * v.inner + j];
  }
}

__global__ void take_grad_kernel(const int32_t* idx, const float* dy, float* dx, TakeView v, int64_t tiles, bool acc) {
  const int64_t q = blockIdx.x / tiles;  // (o, r)
  const int64_t o = q / v.dim, r = q - o * v.dim;
  const int64_t j0 = (blockIdx.x % tiles) * kThreads;
  const int64_t j = j0 + threadIdx.x;
  const int lane = threadIdx.x & 31;
  if (j0 + (threadIdx.x & ~31) >= v.inner) return;  // a warp wholly past the end (no block-wide sync below)
  float s = acc && j < v.inner ? dx[q * v.inner + j] : 0.0f;
  for (int64_t p0 = 0; p0 < v.n; p0 += 32) {
    const int64_t p = p0 + lane;
    unsigned mask = __ballot_sync(0xffffffffu, p < v.n && idx[p] == r);
    while (mask != 0) {
      const int bit = __ffs(static_cast<int>(mask)) - 1;
      mask &= mask - 1;
      if (j < v.inner) s = __fadd_rn(s, dy[(o * v.n + p0 + bit) * v.inner + j]);
    }
  }
  if (j < v.inner) dx[q * v.inner + j] = s;
}

void take_forward(CudaContext& ctx, const OpCall& c) {
  SL_CHECK(ir::dtype_size(c.in[0].type.dtype) == 4) << "take: unsupported element type " << c.in[0].type.str();
  const TakeView v = take_view(c, c.in[0].type.shape);
  const int64_t total = c.out[0].numel();
  if (total == 0) return;
  ctx.note_node(*c.node, v.axis);
  take_kernel<<<blocks_for(total), kThreads, 0, ctx.stream()>>>(static_cast<const uint32_t*>(c.in[0].data),
                                                                c.in[1].i32(), static_cast<uint32_t*>(c.out[0].data),
                                                                v, total, ctx.device_error(), c.node->id);
  SL_CUDA_LAUNCH_CHECK();
}

// Indices were checked by the forward (the device error is raised before the backward runs); an index
// outside the axis matches no row here, so it cannot write out of bounds either.
void take_backward(CudaContext& ctx, const OpCall& c) {
  if (!grad_wanted(c, 0)) return;
  SL_CHECK(c.dx[0].type.dtype == ir::DType::F32) << "take: gradient of a " << c.dx[0].type.str() << " input requested";
  const bool acc = grad_accumulates(c, 0);
  if (!c.dy[0].present()) return zero_gradient(ctx, c.dx[0], acc);
  const TakeView v = take_view(c, c.dx[0].type.shape);
  if (v.outer * v.dim * v.inner == 0) return;
  const int64_t tiles = (v.inner + kThreads - 1) / kThreads;
  SL_CHECK(v.outer * v.dim * tiles < (int64_t{1} << 31)) << "take: " << v.outer * v.dim << " gradient rows is too many";
  take_grad_kernel<<<static_cast<unsigned>(v.outer * v.dim * tiles), kThreads, 0, ctx.stream()>>>(
      c.in[1].i32(), c.dy[0].f32(), c.dx[0].f32(), v, tiles, acc);
  SL_CUDA_LAUNCH_CHECK();
}

}  // namespace

void register_index_kernels(KernelTable& t, CudaContext* ctx) {
  add_kernels(t, ctx, "take", take_forward, take_backward);
  add_kernels(t, ctx, "arange", arange_forward, nullptr);
  add_kernels(t, ctx, "argmax", argmax_forward, nullptr);
}

}  // namespace sublinear::runtime::cuda
