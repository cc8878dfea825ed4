// Pointwise math on the GPU (the ops of runtime/cpu/math_kernels.cpp), one thread per element.
// Rules (those of the CPU kernels): each element reads all it needs before it is written, so y may be
// written over x (a), dx over dy, and two dx may be one buffer (the first written, the second
// accumulated, per element). A broadcast operand's local gradient goes to scratch (full size, reserved
// through math_scratch_bytes) and is then summed with reduce_sum. The formulas are the CPU's; libm
// functions (exp, erf, tanh, pow, sin, cos) agree with it to a few ulps, not bitwise.
#include "runtime/cuda/cuda_device.cuh"
#include "runtime/cuda/cuda_kernels.h"
#include "runtime/cuda/cuda_util.h"
#include "runtime/kernel_geometry.h"

namespace sublinear::runtime::cuda {

namespace {

enum class U { Exp, Sqrt, Rsqrt, Log, Abs, Sin, Cos, Neg, Affine, Pow, Gelu, GeluTanh, Silu };
enum class B { Div, Maximum, Minimum };

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kGeluCubic = 0.044715f;

// The gradient of these reads y; of the others, x.
constexpr bool from_output(U op) { return op == U::Exp || op == U::Sqrt || op == U::Rsqrt; }

template <U Op>
__device__ __forceinline__ float fwd(float x, float a, float b) {
  if constexpr (Op == U::Exp) return expf(x);
  else if constexpr (Op == U::Sqrt) return sqrtf(x);
  else if constexpr (Op == U::Rsqrt) return __fdiv_rn(1.0f, sqrtf(x));
  else if constexpr (Op == U::Log) return logf(x);
  else if constexpr (Op == U::Abs) return fabsf(x);
  else if constexpr (Op == U::Sin) return sinf(x);
  else if constexpr (Op == U::Cos) return cosf(x);
  else if constexpr (Op == U::Neg) return -x;
  else if constexpr (Op == U::Affine) return __fadd_rn(__fmul_rn(a, x), b);
  else if constexpr (Op == U::Pow) return a == 2.0f ? __fmul_rn(x, x) : powf(x, a);
  else if constexpr (Op == U::Gelu) return 0.5f * x * (1.0f + erff(x * kInvSqrt2));
  else if constexpr (Op == U::GeluTanh) return 0.5f * x * (1.0f + tanhf(kSqrt2OverPi * (x + kGeluCubic * x * x * x)));
  else return x / (1.0f + expf(-x));  // Silu
}

// dy * f'(.) from v = y (from_output) or v = x.
template <U Op>
__device__ __forceinline__ float grad(float v, float dy, float a) {
  if constexpr (Op == U::Exp) return dy * v;
  else if constexpr (Op == U::Sqrt) return dy * (0.5f / v);
  else if constexpr (Op == U::Rsqrt) return dy * (-0.5f * (v * v * v));
  else if constexpr (Op == U::Log) return dy / v;
  else if constexpr (Op == U::Abs) return v > 0.0f ? dy : v < 0.0f ? -dy : 0.0f * dy;
  else if constexpr (Op == U::Sin) return dy * cosf(v);
  else if constexpr (Op == U::Cos) return dy * -sinf(v);
  else if constexpr (Op == U::Neg) return -dy;
  else if constexpr (Op == U::Affine) return a * dy;
  else if constexpr (Op == U::Pow) return a == 2.0f ? dy * (2.0f * v) : a == 1.0f ? dy : dy * (a * powf(v, a - 1.0f));
  else if constexpr (Op == U::Gelu) {
    const float cdf = 0.5f * (1.0f + erff(v * kInvSqrt2));
    return dy * (cdf + v * (kInvSqrt2Pi * expf(-0.5f * v * v)));
  } else if constexpr (Op == U::GeluTanh) {
    const float t = tanhf(kSqrt2OverPi * (v + kGeluCubic * v * v * v));
    const float du = kSqrt2OverPi * (1.0f + 3.0f * kGeluCubic * v * v);
    return dy * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du);
  } else {
    const float s = 1.0f / (1.0f + expf(-v));
    return dy * (s * (1.0f + v * (1.0f - s)));
  }
}

template <U Op>
__global__ void unary_kernel(const float* x, float* y, float a, float b, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += global_stride()) y[i] = fwd<Op>(x[i], a, b);
}

template <U Op>
__global__ void unary_grad_kernel(const float* v, const float* dy, float* dx, float a, int64_t n, bool acc) {
  for (int64_t i = global_thread(); i < n; i += global_stride()) {
    const float g = grad<Op>(v ? v[i] : 0.0f, dy[i], a);
    dx[i] = acc ? __fadd_rn(dx[i], g) : g;
  }
}

struct Attr2 {
  float a = 0, b = 0;
};

template <U Op>
Attr2 attrs_of(const OpCall& c) {
  Attr2 p;
  if constexpr (Op == U::Affine) {
    p.a = static_cast<float>(c.node->attrs.get_float("factor"));
    p.b = static_cast<float>(c.node->attrs.get_float("offset"));
  } else if constexpr (Op == U::Pow) {
    p.a = static_cast<float>(c.node->attrs.get_float("exponent"));
  }
  return p;
}

template <U Op>
void unary_forward(CudaContext& ctx, const OpCall& c) {
  const int64_t n = c.out[0].numel();
  if (n == 0) return;
  const Attr2 p = attrs_of<Op>(c);
  unary_kernel<Op><<<blocks_for(n), kThreads, 0, ctx.stream()>>>(c.in[0].f32(), c.out[0].f32(), p.a, p.b, n);
  SL_CUDA_LAUNCH_CHECK();
}

template <U Op>
void unary_backward(CudaContext& ctx, const OpCall& c) {
  if (!grad_wanted(c, 0)) return;
  const bool acc = grad_accumulates(c, 0);
  if (!c.dy[0].present()) return zero_gradient(ctx, c.dx[0], acc);
  const int64_t n = c.dx[0].numel();
  if (n == 0) return;
  const Attr2 p = attrs_of<Op>(c);
  const float* v = from_output(Op) ? c.out[0].f32() : c.in[0].present() ? c.in[0].f32() : nullptr;
  unary_grad_kernel<Op><<<blocks_for(n), kThreads, 0, ctx.stream()>>>(v, c.dy[0].f32(), c.dx[0].f32(), p.a, n, acc);
  SL_CUDA_LAUNCH_CHECK();
}

void gelu_forward(CudaContext& ctx, const OpCall& c) {
  if (c.node->attrs.get_string("approximate") == "tanh") unary_forward<U::GeluTanh>(ctx, c);
  else unary_forward<U::Gelu>(ctx, c);
}

void gelu_backward(CudaContext& ctx, const OpCall& c) {
  if (c.node->attrs.get_string("approximate") == "tanh") unary_backward<U::GeluTanh>(ctx, c);
  else unary_backward<U::Gelu>(ctx, c);
}

template <B Op>
__device__ __forceinline__ float bfwd(float a, float b) {
  if constexpr (Op == B::Div) return __fdiv_rn(a, b);
  else if constexpr (Op == B::Maximum) return a > b || isnan(a) ? a : b;
  else return a < b || isnan(a) ? a : b;
}

// Local gradients; div reads b and y only.
template <B Op>
__device__ __forceinline__ void bgrad(float a, float b, float y, float dy, float* ga, float* gb) {
  if constexpr (Op == B::Div) {
    *ga = __fdiv_rn(dy, b);
    *gb = -__fmul_rn(*ga, y);
  } else if constexpr (Op == B::Maximum) {
    *ga = a > b ? dy : a == b ? 0.5f * dy : 0.0f;
    *gb = b > a ? dy : a == b ? 0.5f * dy : 0.0f;
  } else {
    *ga = a < b ? dy : a == b ? 0.5f * dy : 0.0f;
    *gb = b < a ? dy : a == b ? 0.5f * dy : 0.0f;
  }
}

template <B Op>
__global__ void binary_kernel(const float* a, const float* b, float* y, IndexMap m, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += global_stride()) {
    int64_t ia, ib;
    map_offsets(m, i, &ia, &ib);
    y[i] = bfwd<Op>(a[ia], b[ib]);
  }
}

template <B Op>
__global__ void binary_grad_kernel(const float* a, const float* b, const float* y, const float* dy, IndexMap m,
                                   float* d0, bool acc0, float* d1, bool acc1, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += global_stride()) {
    int64_t ia, ib;
    map_offsets(m, i, &ia, &ib);
    float ga, gb;
    bgrad<Op>(a ? a[ia] : 0.0f, b[ib], y ? y[i] : 0.0f, dy[i], &ga, &gb);
    if (d0) d0[i] = acc0 ? __fadd_rn(d0[i], ga) : ga;
    if (d1) d1[i] = acc1 ? __fadd_rn(d1[i], gb) : gb;
  }
}

template <B Op>
void binary_forward(CudaContext& ctx, const OpCall& c) {
  const int64_t n = c.out[0].numel();
  if (n == 0) return;
  const IndexMap m = broadcast_map(c.out[0].type.shape, c.in[0].type.shape, c.in[1].type.shape);
  binary_kernel<Op><<<blocks_for(n), kThreads, 0, ctx.stream()>>>(c.in[0].f32(), c.in[1].f32(), c.out[0].f32(), m, n);
  SL_CUDA_LAUNCH_CHECK();
}

template <B Op>
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
  if (n == 0) return;
  constexpr bool reads_a = Op != B::Div;
  float* scratch = nullptr;
  if ((want[0] && !full[0]) || (want[1] && !full[1]))
    scratch = static_cast<float*>(ctx.scratch(2 * n * static_cast<int64_t>(sizeof(float))));
  float* dst[2] = {nullptr, nullptr};
  for (size_t i = 0; i < 2; ++i)
    if (want[i]) dst[i] = full[i] ? c.dx[i].f32() : scratch + static_cast<int64_t>(i) * n;
  const IndexMap m = broadcast_map(ys, c.in[0].type.shape, c.in[1].type.shape);
  binary_grad_kernel<Op><<<blocks_for(n), kThreads, 0, ctx.stream()>>>(
      reads_a ? c.in[0].f32() : nullptr, c.in[1].f32(), reads_a ? nullptr : c.out[0].f32(), dy.f32(), m, dst[0],
      full[0] && acc[0], dst[1], full[1] && acc[1], n);
  SL_CUDA_LAUNCH_CHECK();
  for (size_t i = 0; i < 2; ++i)
    if (want[i] && !full[i])
      reduce_sum(ctx, dst[i], ys, broadcast_axes(ys, c.in[i].type.shape), c.dx[i].f32(), 1.0, acc[i]);
}

// causal_mask: element (.., i, j) keeps x where j <= i, else value; the backward passes dy there.
__global__ void causal_mask_kernel(const float* x, float* y, int64_t rows, int64_t cols, float value, bool acc,
                                   int64_t n) {
  for (int64_t e = global_thread(); e < n; e += global_stride()) {
    const int64_t j = e % cols, i = (e / cols) % rows;
    const float v = j <= i ? x[e] : value;
    y[e] = acc ? __fadd_rn(y[e], v) : v;
  }
}

void causal_mask_forward(CudaContext& ctx, const OpCall& c) {
  const int64_t n = c.out[0].numel();
  if (n == 0) return;
  const ir::Shape& s = c.out[0].type.shape;
  causal_mask_kernel<<<blocks_for(n), kThreads, 0, ctx.stream()>>>(
      c.in[0].f32(), c.out[0].f32(), s[s.size() - 2], s[s.size() - 1],
      static_cast<float>(c.node->attrs.get_float("value")), false, n);
  SL_CUDA_LAUNCH_CHECK();
}

void causal_mask_backward(CudaContext& ctx, const OpCall& c) {
  if (!grad_wanted(c, 0)) return;
  const bool acc = grad_accumulates(c, 0);
  if (!c.dy[0].present()) return zero_gradient(ctx, c.dx[0], acc);
  const int64_t n = c.dx[0].numel();
  if (n == 0) return;
  const ir::Shape& s = c.dx[0].type.shape;
  causal_mask_kernel<<<blocks_for(n), kThreads, 0, ctx.stream()>>>(c.dy[0].f32(), c.dx[0].f32(), s[s.size() - 2],
                                                                    s[s.size() - 1], 0.0f, acc, n);
  SL_CUDA_LAUNCH_CHECK();
}

// --- where -----------------------------------------------------------------------------------------------

template <typename C>
__global__ void where_kernel(const C* cond, const float* a, const float* b, float* y, IndexMap ab, IndexMap mc,
                             int64_t n) {
  for (int64_t i = global_thread(); i < n; i += global_stride()) {
    int64_t ia, ib, ic, unused;
    map_offsets(ab, i, &ia, &ib);
    map_offsets(mc, i, &ic, &unused);
    y[i] = cond[ic] != C(0) ? a[ia] : b[ib];
  }
}

// Per element: dy read first, then dcond (zero), da, db written in input order, so dx may be dy and two
// dx may be one buffer, as on the CPU.
template <typename C>
__global__ void where_grad_kernel(const C* cond, const float* dy, IndexMap mc, float* d0, bool acc0, float* d1,
                                  bool acc1, float* d2, bool acc2, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += global_stride()) {
    int64_t ic, unused;
    map_offsets(mc, i, &ic, &unused);
    const float g = dy[i];
    const bool take_a = cond[ic] != C(0);
    if (d0) d0[i] = acc0 ? __fadd_rn(d0[i], 0.0f) : 0.0f;
    const float ga = take_a ? g : 0.0f, gb = take_a ? 0.0f : g;
    if (d1) d1[i] = acc1 ? __fadd_rn(d1[i], ga) : ga;
    if (d2) d2[i] = acc2 ? __fadd_rn(d2[i], gb) : gb;
  }
}

void where_forward(CudaContext& ctx, const OpCall& c) {
  const int64_t n = c.out[0].numel();
  if (n == 0) return;
  const ir::Shape& ys = c.out[0].type.shape;
  const IndexMap ab = broadcast_map(ys, c.in[1].type.shape, c.in[2].type.shape);
  const IndexMap mc = broadcast_map(ys, c.in[0].type.shape, c.in[0].type.shape);
  if (c.in[0].type.dtype == ir::DType::I32)
    where_kernel<<<blocks_for(n), kThreads, 0, ctx.stream()>>>(static_cast<const int32_t*>(c.in[0].data), c.in[1].f32(),
                                                               c.in[2].f32(), c.out[0].f32(), ab, mc, n);
  else
    where_kernel<<<blocks_for(n), kThreads, 0, ctx.stream()>>>(c.in[0].f32(), c.in[1].f32(), c.in[2].f32(),
                                                               c.out[0].f32(), ab, mc, n);
  SL_CUDA_LAUNCH_CHECK();
}

void where_backward(CudaContext& ctx, const OpCall& c) {
  const Tensor& dy = c.dy[0];
  const ir::Shape& ys = dy.type.shape;
  const int64_t n = dy.numel();
  bool want[3], acc[3], full[3];
  for (size_t i = 0; i < 3; ++i) {
    want[i] = grad_wanted(c, i);
    acc[i] = grad_accumulates(c, i);
    full[i] = want[i] && c.dx[i].numel() == n;
  }
  if (!dy.present()) {
    for (size_t i = 0; i < 3; ++i)
      if (want[i]) zero_gradient(ctx, c.dx[i], acc[i]);
    return;
  }
  if (n == 0) return;
  if (want[0] && !full[0]) zero_gradient(ctx, c.dx[0], acc[0]);
  float* scratch = nullptr;
  if ((want[1] && !full[1]) || (want[2] && !full[2]))
    scratch = static_cast<float*>(ctx.scratch(2 * n * static_cast<int64_t>(sizeof(float))));
  float* dst[3] = {nullptr, nullptr, nullptr};
  if (full[0]) dst[0] = c.dx[0].f32();
  for (size_t i = 1; i < 3; ++i)
    if (want[i]) dst[i] = full[i] ? c.dx[i].f32() : scratch + static_cast<int64_t>(i - 1) * n;
  const IndexMap mc = broadcast_map(ys, c.in[0].type.shape, c.in[0].type.shape);
  if (c.in[0].type.dtype == ir::DType::I32)
    where_grad_kernel<<<blocks_for(n), kThreads, 0, ctx.stream()>>>(
        static_cast<const int32_t*>(c.in[0].data), dy.f32(), mc, dst[0], full[0] && acc[0], dst[1], full[1] && acc[1],
        dst[2], full[2] && acc[2], n);
  else
    where_grad_kernel<<<blocks_for(n), kThreads, 0, ctx.stream()>>>(c.in[0].f32(), dy.f32(), mc, dst[0],
                                                                    full[0] && acc[0], dst[1], full[1] && acc[1],
                                                                    dst[2], full[2] && acc[2], n);
  SL_CUDA_LAUNCH_CHECK();
  for (size_t i = 1; i < 3; ++i)
    if (want[i] && !full[i])
      reduce_sum(ctx, dst[i], ys, broadcast_axes(ys, c.in[i].type.shape), c.dx[i].f32(), 1.0, acc[i]);
}

}  // namespace

int64_t math_scratch_bytes(const ir::Node& n, const std::vector<ir::TensorType>& in) {
  if (n.op == "where") {
    if (in.size() < 3 || (in[1].shape == n.outputs[0].shape && in[2].shape == n.outputs[0].shape)) return 0;
    return 2 * n.outputs[0].bytes();
  }
  if (n.op != "div" && n.op != "maximum" && n.op != "minimum") return 0;
  if (in.size() < 2 || (in[0].shape == n.outputs[0].shape && in[1].shape == n.outputs[0].shape)) return 0;
  return 2 * n.outputs[0].bytes();
}

void register_math_kernels(KernelTable& t, CudaContext* ctx) {
  add_kernels(t, ctx, "exp", unary_forward<U::Exp>, unary_backward<U::Exp>);
  add_kernels(t, ctx, "sqrt", unary_forward<U::Sqrt>, unary_backward<U::Sqrt>);
  add_kernels(t, ctx, "rsqrt", unary_forward<U::Rsqrt>, unary_backward<U::Rsqrt>);
  add_kernels(t, ctx, "log", unary_forward<U::Log>, unary_backward<U::Log>);
  add_kernels(t, ctx, "abs", unary_forward<U::Abs>, unary_backward<U::Abs>);
  add_kernels(t, ctx, "sin", unary_forward<U::Sin>, unary_backward<U::Sin>);
  add_kernels(t, ctx, "cos", unary_forward<U::Cos>, unary_backward<U::Cos>);
  add_kernels(t, ctx, "neg", unary_forward<U::Neg>, unary_backward<U::Neg>);
  add_kernels(t, ctx, "affine", unary_forward<U::Affine>, unary_backward<U::Affine>);
  add_kernels(t, ctx, "pow", unary_forward<U::Pow>, unary_backward<U::Pow>);
  add_kernels(t, ctx, "gelu", gelu_forward, gelu_backward);
  add_kernels(t, ctx, "silu", unary_forward<U::Silu>, unary_backward<U::Silu>);
  add_kernels(t, ctx, "causal_mask", causal_mask_forward, causal_mask_backward);
  add_kernels(t, ctx, "div", binary_forward<B::Div>, binary_backward<B::Div>);
  add_kernels(t, ctx, "maximum", binary_forward<B::Maximum>, binary_backward<B::Maximum>);
  add_kernels(t, ctx, "minimum", binary_forward<B::Minimum>, binary_backward<B::Minimum>);
  add_kernels(t, ctx, "where", where_forward, where_backward);
}

}  // namespace sublinear::runtime::cuda
