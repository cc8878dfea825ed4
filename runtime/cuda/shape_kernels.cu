// reshape, flatten, transpose, concat, stack, split, slice (stepped too) and select on the GPU: pure data movement,
// the block structure of runtime/cpu/shape_kernels.cpp.
// Rules: forwards move elements of any dtype as bit patterns; gradients are f32. reshape and flatten may
// run in place (then nothing moves). Joining and cutting ops copy blocks between a [outer, axis, inner]
// view of the big tensor and [outer, part, inner] views of the pieces, gradient blocks in input order on
// the one stream, so two dx that are one buffer (concat(x, x)) get the first written, the second added.
#include "runtime/cuda/cuda_device.cuh"
#include "runtime/cuda/cuda_kernels.h"
#include "runtime/cuda/cuda_util.h"
#include "runtime/kernel_geometry.h"

namespace sublinear::runtime::cuda {

namespace {

const float* maybe_f32(const Tensor& t) { return t.present() ? t.f32() : nullptr; }

void expect_f32_gradient(const OpCall& c, size_t i) {
  SL_CHECK(c.dx[i].type.dtype == ir::DType::F32)
      << c.node->op << ": gradient of a " << c.dx[i].type.str() << " input requested";
}

// --- reshape, flatten ----------------------------------------------------------------------------------

void view_forward(CudaContext& ctx, const OpCall& c) {
  if (c.out[0].data == c.in[0].data || c.in[0].bytes() == 0) return;
  SL_CUDA_CHECK(cudaMemcpyAsync(c.out[0].data, c.in[0].data, static_cast<size_t>(c.in[0].bytes()),
                                cudaMemcpyDeviceToDevice, ctx.stream()));
}

void view_backward(CudaContext& ctx, const OpCall& c) {
  if (!grad_wanted(c, 0)) return;
  expect_f32_gradient(c, 0);
  const int64_t n = c.dx[0].numel();
  grad_rows(ctx, c.dx[0].f32(), n, maybe_f32(c.dy[0]), n, 1, n, grad_accumulates(c, 0));
}

// --- transpose -----------------------------------------------------------------------------------------

template <typename T>
__global__ void transpose_kernel(const T* x, T* y, IndexMap m, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += global_stride()) {
    int64_t ix, unused;
    map_offsets(m, i, &ix, &unused);
    y[i] = x[ix];
  }
}

// dx is dy moved back: every dx element is written by exactly one thread.
__global__ void transpose_grad_kernel(const float* dy, float* dx, IndexMap m, int64_t n, bool acc) {
  for (int64_t i = global_thread(); i < n; i += global_stride()) {
    int64_t ix, unused;
    map_offsets(m, i, &ix, &unused);
    dx[ix] = acc ? __fadd_rn(dx[ix], dy[i]) : dy[i];
  }
}

void transpose_forward(CudaContext& ctx, const OpCall& c) {
  const int64_t n = c.out[0].numel();
  if (n == 0) return;
  const IndexMap m = transpose_map(c.in[0].type.shape, c.node->attrs.get_int_list("perm"));
  switch (ir::dtype_size(c.in[0].type.dtype)) {
    case 2:
      transpose_kernel<<<blocks_for(n), kThreads, 0, ctx.stream()>>>(static_cast<const uint16_t*>(c.in[0].data),
                                                                      static_cast<uint16_t*>(c.out[0].data), m, n);
      break;
    case 4:
      transpose_kernel<<<blocks_for(n), kThreads, 0, ctx.stream()>>>(static_cast<const uint32_t*>(c.in[0].data),
                                                                      static_cast<uint32_t*>(c.out[0].data), m, n);
      break;
    default: SL_CHECK(false) << "transpose: unsupported element type " << c.in[0].type.str();
  }
  SL_CUDA_LAUNCH_CHECK();
}

void transpose_backward(CudaContext& ctx, const OpCall& c) {
  if (!grad_wanted(c, 0)) return;
  expect_f32_gradient(c, 0);
  const bool acc = grad_accumulates(c, 0);
  if (!c.dy[0].present()) return zero_gradient(ctx, c.dx[0], acc);
  const int64_t n = c.dy[0].numel();
  if (n == 0) return;
  const IndexMap m = transpose_map(c.dx[0].type.shape, c.node->attrs.get_int_list("perm"));
  transpose_grad_kernel<<<blocks_for(n), kThreads, 0, ctx.stream()>>>(c.dy[0].f32(), c.dx[0].f32(), m, n, acc);
  SL_CUDA_LAUNCH_CHECK();
}

// --- concat, stack, split ----------------------------------------------------------------------------

// Piece i <-> its block of the big tensor; `to_big` chooses the direction.
void move_piece(CudaContext& ctx, const Pieces& p, size_t i, char* big, char* piece, int elem, bool to_big) {
  const int64_t row = p.extent[i] * p.inner, big_row = p.total * p.inner;
  char* b = big + p.start[i] * p.inner * elem;
  if (to_big) copy_rows(ctx, b, big_row, piece, row, p.outer, row, elem);
  else copy_rows(ctx, piece, row, b, big_row, p.outer, row, elem);
}

void join_forward(CudaContext& ctx, const OpCall& c) {
  const Pieces p = join_pieces(c, c.in);
  const int elem = static_cast<int>(ir::dtype_size(c.out[0].type.dtype));
  for (size_t i = 0; i < c.in.size(); ++i)
    move_piece(ctx, p, i, static_cast<char*>(c.out[0].data), static_cast<char*>(c.in[i].data), elem, true);
}

void join_backward(CudaContext& ctx, const OpCall& c) {
  const Pieces p = join_pieces(c, c.dx);
  const float* g = maybe_f32(c.dy[0]);
  for (size_t i = 0; i < c.dx.size(); ++i) {
    if (!grad_wanted(c, i)) continue;
    expect_f32_gradient(c, i);
    const int64_t row = p.extent[i] * p.inner;
    grad_rows(ctx, c.dx[i].f32(), row, g == nullptr ? nullptr : g + p.start[i] * p.inner, p.total * p.inner, p.outer,
              row, grad_accumulates(c, i));
  }
}

void split_forward(CudaContext& ctx, const OpCall& c) {
  const Pieces p = split_pieces(c);
  const int elem = static_cast<int>(ir::dtype_size(c.in[0].type.dtype));
  for (size_t i = 0; i < c.out.size(); ++i)
    move_piece(ctx, p, i, static_cast<char*>(c.in[0].data), static_cast<char*>(c.out[i].data), elem, false);
}

void split_backward(CudaContext& ctx, const OpCall& c) {
  if (!grad_wanted(c, 0)) return;
  expect_f32_gradient(c, 0);
  const Pieces p = split_pieces(c);
  const bool acc = grad_accumulates(c, 0);
  float* dx = c.dx[0].f32();
  // The pieces tile dx, so each block is written once; an absent dy[i] is a block of zeros.
  for (size_t i = 0; i < c.dy.size(); ++i) {
    const int64_t row = p.extent[i] * p.inner;
    grad_rows(ctx, dx + p.start[i] * p.inner, p.total * p.inner, maybe_f32(c.dy[i]), row, p.outer, row, acc);
  }
}

// --- slice, select -----------------------------------------------------------------------------------

// A stepped slice: y element i is in row q = i / inner = (o, k), taken from x's row o * dim + begin + k * step.
struct SteppedRows {
  int64_t count, inner, dim, begin, step;
};

__device__ int64_t stepped_source(const SteppedRows& s, int64_t i) {
  const int64_t q = i / s.inner, j = i - q * s.inner, o = q / s.count, k = q - o * s.count;
  return (o * s.dim + s.begin + k * s.step) * s.inner + j;
}

template <typename T>
__global__ void stepped_take_kernel(const T* x, T* y, SteppedRows s, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += global_stride()) y[i] = x[stepped_source(s, i)];
}

// The taken positions are distinct, so each dx element is written by at most one thread.
__global__ void stepped_grad_kernel(const float* dy, float* dx, SteppedRows s, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += global_stride()) {
    const int64_t d = stepped_source(s, i);
    dx[d] = __fadd_rn(dx[d], dy[i]);
  }
}

SteppedRows stepped_rows(const Range& r) { return {r.count(), r.inner, r.dim, r.begin, r.step}; }

void take_forward(CudaContext& ctx, const OpCall& c) {
  const Range r = taken_range(c);
  if (r.step > 1) {
    const int64_t n = c.out[0].numel();
    if (n == 0) return;
    switch (ir::dtype_size(c.in[0].type.dtype)) {
      case 2:
        stepped_take_kernel<<<blocks_for(n), kThreads, 0, ctx.stream()>>>(
            static_cast<const uint16_t*>(c.in[0].data), static_cast<uint16_t*>(c.out[0].data), stepped_rows(r), n);
        break;
      case 4:
        stepped_take_kernel<<<blocks_for(n), kThreads, 0, ctx.stream()>>>(
            static_cast<const uint32_t*>(c.in[0].data), static_cast<uint32_t*>(c.out[0].data), stepped_rows(r), n);
        break;
      default: SL_CHECK(false) << "slice: unsupported element type " << c.in[0].type.str();
    }
    SL_CUDA_LAUNCH_CHECK();
    return;
  }
  const int elem = static_cast<int>(ir::dtype_size(c.in[0].type.dtype));
  const int64_t row = (r.end - r.begin) * r.inner;
  copy_rows(ctx, c.out[0].data, row, static_cast<const char*>(c.in[0].data) + r.begin * r.inner * elem,
            r.dim * r.inner, r.outer, row, elem);
}

void take_backward(CudaContext& ctx, const OpCall& c) {
  if (!grad_wanted(c, 0)) return;
  expect_f32_gradient(c, 0);
  const Range r = taken_range(c);
  const bool acc = grad_accumulates(c, 0);
  float* dx = c.dx[0].f32();
  if (r.step > 1) {
    if (!acc) zero_gradient(ctx, c.dx[0], false);
    const int64_t n = c.dy[0].present() ? c.dy[0].numel() : 0;
    if (n == 0) return;
    stepped_grad_kernel<<<blocks_for(n), kThreads, 0, ctx.stream()>>>(c.dy[0].f32(), dx, stepped_rows(r), n);
    SL_CUDA_LAUNCH_CHECK();
    return;
  }
  const int64_t stride = r.dim * r.inner, row = (r.end - r.begin) * r.inner;
  if (!acc) {
    // Outside the range the gradient is zero.
    grad_rows(ctx, dx, stride, nullptr, 0, r.outer, r.begin * r.inner, false);
    grad_rows(ctx, dx + r.end * r.inner, stride, nullptr, 0, r.outer, (r.dim - r.end) * r.inner, false);
  }
  grad_rows(ctx, dx + r.begin * r.inner, stride, maybe_f32(c.dy[0]), row, r.outer, row, acc);
}

}  // namespace

void register_shape_kernels(KernelTable& t, CudaContext* ctx) {
  add_kernels(t, ctx, "reshape", view_forward, view_backward);
  add_kernels(t, ctx, "flatten", view_forward, view_backward);
  add_kernels(t, ctx, "transpose", transpose_forward, transpose_backward);
  add_kernels(t, ctx, "concat", join_forward, join_backward);
  add_kernels(t, ctx, "stack", join_forward, join_backward);
  add_kernels(t, ctx, "split", split_forward, split_backward);
  add_kernels(t, ctx, "slice", take_forward, take_backward);
  add_kernels(t, ctx, "select", take_forward, take_backward);
}

}  // namespace sublinear::runtime::cuda
