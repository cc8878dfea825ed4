// add, sub, mul (numpy broadcasting), scale and add_n on the GPU, with the CPU kernels' arithmetic
// (runtime/cpu/elementwise_kernels.cpp), so results are bitwise equal to them.
// Rules: out may be written over an input of its size and dx over dy (the in-place options), and two dx
// may be one buffer (add(x, x): the first written, the second accumulated). So each thread reads all it
// needs for its element before writing it, handling the inputs in order; gradients summed over
// broadcast axes are computed first (they read dy, which a full-size gradient may overwrite). add_n's
// pointer lists travel as kernel parameters, kMaxPtrs per launch; a longer list runs in order over
// several launches, arranged so that no launch reads what an earlier one overwrote.
#include <algorithm>

#include "runtime/cuda/cuda_device.cuh"
#include "runtime/cuda/cuda_kernels.h"
#include "runtime/cuda/cuda_util.h"
#include "runtime/kernel_geometry.h"

namespace sublinear::runtime::cuda {

namespace {

enum class Binary { Add, Sub, Mul };

constexpr int kMaxPtrs = 32;

template <Binary Op>
__device__ __forceinline__ float apply(float a, float b) {
  if constexpr (Op == Binary::Add) return __fadd_rn(a, b);
  else if constexpr (Op == Binary::Sub) return __fsub_rn(a, b);
  else return __fmul_rn(a, b);
}

template <Binary Op>
__global__ void binary_same_kernel(const float* a, const float* b, float* y, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += global_stride()) y[i] = apply<Op>(a[i], b[i]);
}

template <Binary Op>
__global__ void binary_bcast_kernel(const float* a, const float* b, float* y, IndexMap m, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += global_stride()) {
    int64_t ia, ib;
    map_offsets(m, i, &ia, &ib);
    y[i] = apply<Op>(a[ia], b[ib]);
  }
}

__device__ __forceinline__ void emit(float* d, int64_t i, float v, bool acc) { d[i] = acc ? __fadd_rn(d[i], v) : v; }

// Full-size gradients of add/sub: d0 = dy, d1 = sign * dy.
__global__ void add_sub_grad_kernel(const float* g, float* d0, bool a0, float* d1, bool a1, float s1, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += global_stride()) {
    const float gv = g[i];
    if (d0) emit(d0, i, gv, a0);
    if (d1) emit(d1, i, __fmul_rn(s1, gv), a1);
  }
}

// Full-size gradients of mul: d0 = dy * b, d1 = dy * a (a, b broadcast to dy's index space).
__global__ void mul_grad_kernel(const float* g, const float* a, const float* b, IndexMap m, float* d0, bool a0,
                                float* d1, bool a1, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += global_stride()) {
    int64_t ia, ib;
    map_offsets(m, i, &ia, &ib);
    const float gv = g[i];
    const float av = d1 ? a[ia] : 0.0f;
    const float bv = d0 ? b[ib] : 0.0f;
    if (d0) emit(d0, i, __fmul_rn(gv, bv), a0);
    if (d1) emit(d1, i, __fmul_rn(gv, av), a1);
  }
}

__global__ void scale_kernel(const float* x, float* y, float f, int64_t n, bool acc) {
  for (int64_t i = global_thread(); i < n; i += global_stride()) emit(y, i, __fmul_rn(f, x[i]), acc);
}

struct PtrList {
  const float* p[kMaxPtrs];
  int count;
};

struct GradList {
  float* p[kMaxPtrs];
  bool acc[kMaxPtrs];
  int count;
};

// y = ((x0 + x1) + x2) + ...; with `continue_sum`, y holds the running sum of earlier inputs.
__global__ void add_n_kernel(PtrList xs, float* y, bool continue_sum, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += global_stride()) {
    float s = continue_sum ? y[i] : xs.p[0][i];
    for (int k = continue_sum ? 0 : 1; k < xs.count; ++k) s = __fadd_rn(s, xs.p[k][i]);
    y[i] = s;
  }
}

__global__ void add_n_grad_kernel(const float* g, GradList dx, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += global_stride()) {
    const float gv = g[i];
    for (int k = 0; k < dx.count; ++k) emit(dx.p[k], i, gv, dx.acc[k]);
  }
}

template <Binary Op>
void binary_forward(CudaContext& ctx, const OpCall& c) {
  const int64_t n = c.out[0].numel();
  if (n == 0) return;
  const float* a = c.in[0].f32();
  const float* b = c.in[1].f32();
  float* y = c.out[0].f32();
  if (c.in[0].numel() == n && c.in[1].numel() == n) {
    binary_same_kernel<Op><<<blocks_for(n), kThreads, 0, ctx.stream()>>>(a, b, y, n);
  } else {
    const IndexMap m = broadcast_map(c.out[0].type.shape, c.in[0].type.shape, c.in[1].type.shape);
    binary_bcast_kernel<Op><<<blocks_for(n), kThreads, 0, ctx.stream()>>>(a, b, y, m, n);
  }
  SL_CUDA_LAUNCH_CHECK();
}

template <Binary Op>
void binary_backward(CudaContext& ctx, const OpCall& c) {
  const Tensor& dy = c.dy[0];
  const ir::Shape& ys = dy.type.shape;
  const int64_t n = dy.numel();
  bool want[2], acc[2], full[2];
  for (size_t i = 0; i < 2; ++i) {
    want[i] = grad_wanted(c, i);
    acc[i] = grad_accumulates(c, i);
    full[i] = c.in[i].numel() == n;
  }
  if (!dy.present()) {
    for (size_t i = 0; i < 2; ++i)
      if (want[i]) zero_gradient(ctx, c.dx[i], acc[i]);
    return;
  }
  // Gradients summed over broadcast axes, before anything may overwrite dy.
  for (size_t i = 0; i < 2; ++i) {
    if (!want[i] || full[i]) continue;
    const std::vector<char> axes = broadcast_axes(ys, c.in[i].type.shape);
    if constexpr (Op == Binary::Mul) {
      const Tensor& other = c.in[1 - i];
      reduce_sum(ctx, dy.f32(), ys, axes, c.dx[i].f32(), 1.0, acc[i], other.f32(), other.type.shape);
    } else {
      const double sign = Op == Binary::Sub && i == 1 ? -1.0 : 1.0;
      reduce_sum(ctx, dy.f32(), ys, axes, c.dx[i].f32(), sign, acc[i]);
    }
  }
  const bool w0 = want[0] && full[0], w1 = want[1] && full[1];
  if ((!w0 && !w1) || n == 0) return;
  float* d0 = w0 ? c.dx[0].f32() : nullptr;
  float* d1 = w1 ? c.dx[1].f32() : nullptr;
  if constexpr (Op == Binary::Mul) {
    const IndexMap m = broadcast_map(ys, c.in[0].type.shape, c.in[1].type.shape);
    mul_grad_kernel<<<blocks_for(n), kThreads, 0, ctx.stream()>>>(dy.f32(), c.in[0].f32(), c.in[1].f32(), m, d0,
                                                                   acc[0], d1, acc[1], n);
  } else {
    const float s1 = Op == Binary::Sub ? -1.0f : 1.0f;
    add_sub_grad_kernel<<<blocks_for(n), kThreads, 0, ctx.stream()>>>(dy.f32(), d0, acc[0], d1, acc[1], s1, n);
  }
  SL_CUDA_LAUNCH_CHECK();
}

void scale_forward(CudaContext& ctx, const OpCall& c) {
  const int64_t n = c.out[0].numel();
  if (n == 0) return;
  const float f = static_cast<float>(c.node->attrs.get_float("factor"));
  scale_kernel<<<blocks_for(n), kThreads, 0, ctx.stream()>>>(c.in[0].f32(), c.out[0].f32(), f, n, false);
  SL_CUDA_LAUNCH_CHECK();
}

void scale_backward(CudaContext& ctx, const OpCall& c) {
  if (!grad_wanted(c, 0)) return;
  const bool acc = grad_accumulates(c, 0);
  if (!c.dy[0].present()) return zero_gradient(ctx, c.dx[0], acc);
  const int64_t n = c.dy[0].numel();
  if (n == 0) return;
  const float f = static_cast<float>(c.node->attrs.get_float("factor"));
  scale_kernel<<<blocks_for(n), kThreads, 0, ctx.stream()>>>(c.dy[0].f32(), c.dx[0].f32(), f, n, acc);
  SL_CUDA_LAUNCH_CHECK();
}

void add_n_forward(CudaContext& ctx, const OpCall& c) {
  const int64_t n = c.out[0].numel();
  if (n == 0) return;
  const size_t k = c.in.size();
  float* y = c.out[0].f32();
  // Later launches read y as the running sum: if one of their inputs is y's own buffer (y written over
  // x0 and x0 read again later) the sum goes through scratch instead.
  bool late_alias = false;
  for (size_t i = kMaxPtrs; i < k; ++i) late_alias = late_alias || c.in[i].data == c.out[0].data;
  float* sum = late_alias ? static_cast<float*>(ctx.scratch(n * static_cast<int64_t>(sizeof(float)))) : y;
  for (size_t first = 0; first < k; first += kMaxPtrs) {
    PtrList xs{};
    xs.count = static_cast<int>(std::min<size_t>(kMaxPtrs, k - first));
    for (int j = 0; j < xs.count; ++j) xs.p[j] = c.in[first + static_cast<size_t>(j)].f32();
    add_n_kernel<<<blocks_for(n), kThreads, 0, ctx.stream()>>>(xs, sum, first > 0, n);
    SL_CUDA_LAUNCH_CHECK();
  }
  if (sum != y)
    SL_CUDA_CHECK(cudaMemcpyAsync(y, sum, static_cast<size_t>(n) * sizeof(float), cudaMemcpyDeviceToDevice,
                                  ctx.stream()));
}

void add_n_backward(CudaContext& ctx, const OpCall& c) {
  const size_t k = c.dx.size();
  const Tensor& dy = c.dy[0];
  if (!dy.present()) {
    for (size_t i = 0; i < k; ++i)
      if (grad_wanted(c, i)) zero_gradient(ctx, c.dx[i], grad_accumulates(c, i));
    return;
  }
  const int64_t n = dy.numel();
  if (n == 0) return;
  // Gradients in other buffers first (they read dy untouched), then those that are dy's own buffer, in
  // input order, all in one launch, so dy is read before any of them changes it.
  std::vector<size_t> others, onto_dy;
  for (size_t i = 0; i < k; ++i) {
    if (!grad_wanted(c, i)) continue;
    (c.dx[i].data == dy.data ? onto_dy : others).push_back(i);
  }
  SL_CHECK(onto_dy.size() <= static_cast<size_t>(kMaxPtrs))
      << "add_n: " << onto_dy.size() << " gradients written over dy";
  auto launch = [&](const std::vector<size_t>& list) {
    for (size_t first = 0; first < list.size(); first += kMaxPtrs) {
      GradList g{};
      g.count = static_cast<int>(std::min<size_t>(kMaxPtrs, list.size() - first));
      for (int j = 0; j < g.count; ++j) {
        const size_t i = list[first + static_cast<size_t>(j)];
        g.p[j] = c.dx[i].f32();
        g.acc[j] = grad_accumulates(c, i);
      }
      add_n_grad_kernel<<<blocks_for(n), kThreads, 0, ctx.stream()>>>(dy.f32(), g, n);
      SL_CUDA_LAUNCH_CHECK();
    }
  };
  launch(others);
  launch(onto_dy);
}

}  // namespace

int64_t elementwise_scratch_bytes(const ir::Node& n, const std::vector<ir::TensorType>& in) {
  if (n.op != "add_n" || in.size() <= static_cast<size_t>(kMaxPtrs)) return 0;
  return n.outputs[0].bytes();
}

void register_elementwise_kernels(KernelTable& t, CudaContext* ctx) {
  add_kernels(t, ctx, "add", binary_forward<Binary::Add>, binary_backward<Binary::Add>);
  add_kernels(t, ctx, "sub", binary_forward<Binary::Sub>, binary_backward<Binary::Sub>);
  add_kernels(t, ctx, "mul", binary_forward<Binary::Mul>, binary_backward<Binary::Mul>);
  add_kernels(t, ctx, "scale", scale_forward, scale_backward);
  add_kernels(t, ctx, "add_n", add_n_forward, add_n_backward);
}

}  // namespace sublinear::runtime::cuda
