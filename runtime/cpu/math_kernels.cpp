// Pointwise math on the CPU: exp, log, sqrt, rsqrt, abs, neg, sin, cos, pow, affine, gelu, silu,
// causal_mask (one input), div, maximum, minimum (two, numpy broadcasting), where (three, broadcasting).
// Rules: each output element depends on its own input elements only and reads them all before it is
// written, so y may be written over x (a) and dx over dy, and two dx may be one buffer (maximum(x, x):
// the first written, the second accumulated, element by element). Gradients of broadcast operands are
// summed with reduce_sum after every full-size product is computed into scratch, before anything may
// overwrite dy. The backward of each op reads only what ir/ops/math_ops.cpp declares (y for exp, sqrt
// and rsqrt; x for the others; b and y for div). Results depend on the shapes only, never on threads.
#include <algorithm>
#include <cmath>
#include <memory>
#include <type_traits>

#include "runtime/cpu/cpu_kernels.h"
#include "runtime/cpu/cpu_util.h"
#include "runtime/cpu/vec_math.h"
#include "runtime/kernel_geometry.h"

namespace sublinear::runtime::cpu {

namespace {

// The attributes an element function needs, read once per call.
struct Params {
  float a = 0, b = 0;
};

// sqrt(2 / pi) and 1 / sqrt(2 pi), 1 / sqrt(2), as floats.
constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kGeluCubic = 0.044715f;

// Each unary op: f(x) and the gradient dy * f'(.) from x, or from y when kFromOutput.
struct Exp {
  static constexpr bool kFromOutput = true;
  static float f(float x, const Params&) { return std::exp(x); }
  static float g(float y, float dy, const Params&) { return dy * y; }
};
struct Sqrt {
  static constexpr bool kFromOutput = true;
  static float f(float x, const Params&) { return std::sqrt(x); }
  static float g(float y, float dy, const Params&) { return dy * (0.5f / y); }
};
struct Rsqrt {
  static constexpr bool kFromOutput = true;
  static float f(float x, const Params&) { return 1.0f / std::sqrt(x); }
  static float g(float y, float dy, const Params&) { return dy * (-0.5f * (y * y * y)); }
};
struct Log {
  static constexpr bool kFromOutput = false;
  static float f(float x, const Params&) { return std::log(x); }
  static float g(float x, float dy, const Params&) { return dy / x; }
};
struct Abs {
  static constexpr bool kFromOutput = false;
  static float f(float x, const Params&) { return std::fabs(x); }
  static float g(float x, float dy, const Params&) { return x > 0.0f ? dy : x < 0.0f ? -dy : 0.0f * dy; }
};
struct Sin {
  static constexpr bool kFromOutput = false;
  static float f(float x, const Params&) { return std::sin(x); }
  static float g(float x, float dy, const Params&) { return dy * std::cos(x); }
};
struct Cos {
  static constexpr bool kFromOutput = false;
  static float f(float x, const Params&) { return std::cos(x); }
  static float g(float x, float dy, const Params&) { return dy * -std::sin(x); }
};
struct Neg {
  static constexpr bool kFromOutput = false;
  static float f(float x, const Params&) { return -x; }
  static float g(float, float dy, const Params&) { return -dy; }
};
struct Affine {  // a * x + b
  static constexpr bool kFromOutput = false;
  static float f(float x, const Params& p) { return p.a * x + p.b; }
  static float g(float, float dy, const Params& p) { return p.a * dy; }
};
struct Pow {  // x ** a
  static constexpr bool kFromOutput = false;
  static float f(float x, const Params& p) { return p.a == 2.0f ? x * x : std::pow(x, p.a); }
  static float g(float x, float dy, const Params& p) {
    if (p.a == 2.0f) return dy * (2.0f * x);
    if (p.a == 1.0f) return dy;
    return dy * (p.a * std::pow(x, p.a - 1.0f));
  }
};
// The exact form (erf) and the tanh form are separate functors so that each loop has no branch.
struct GeluErf {
  static constexpr bool kFromOutput = false;
  static float f(float x, const Params&) { return 0.5f * x * (1.0f + std::erf(x * kInvSqrt2)); }
  static float g(float x, float dy, const Params&) {
    const float cdf = 0.5f * (1.0f + std::erf(x * kInvSqrt2));
    const float pdf = kInvSqrt2Pi * std::exp(-0.5f * x * x);
    return dy * (cdf + x * pdf);
  }
};
struct GeluTanh {
  static constexpr bool kFromOutput = false;
  static float f(float x, const Params&) {
    return 0.5f * x * (1.0f + vec_tanh_abs(kSqrt2OverPi * (x + kGeluCubic * x * x * x)));
  }
  static float g(float x, float dy, const Params&) {
    const float t = vec_tanh_abs(kSqrt2OverPi * (x + kGeluCubic * x * x * x));
    const float du = kSqrt2OverPi * (1.0f + 3.0f * kGeluCubic * x * x);
    return dy * (0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du);
  }
};
// GELU's tanh form and SiLU run on vec_exp (runtime/cpu/vec_math.h): the loops vectorise, and the
// results agree with libm's to a few ulp.
struct Silu {
  static constexpr bool kFromOutput = false;
  static float f(float x, const Params&) { return x / (1.0f + vec_exp(-x)); }
  static float g(float x, float dy, const Params&) {
    const float s = 1.0f / (1.0f + vec_exp(-x));
    return dy * (s * (1.0f + x * (1.0f - s)));
  }
};

template <typename Op>
Params params_of(const OpCall& c) {
  Params p;
  if constexpr (std::is_same_v<Op, Affine>) {
    p.a = static_cast<float>(c.node->attrs.get_float("factor"));
    p.b = static_cast<float>(c.node->attrs.get_float("offset"));
  } else if constexpr (std::is_same_v<Op, Pow>) {
    p.a = static_cast<float>(c.node->attrs.get_float("exponent"));
  }
  return p;
}

template <typename Op>
void unary_forward(const OpCall& c) {
  const Params p = params_of<Op>(c);
  const float* x = c.in[0].f32();
  float* y = c.out[0].f32();
  parallel_for(c.out[0].numel(), 8, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) y[i] = Op::f(x[i], p);
  });
}

template <typename Op>
void unary_backward(const OpCall& c) {
  if (!grad_wanted(c, 0)) return;
  const bool acc = grad_accumulates(c, 0);
  if (!c.dy[0].present()) return zero_gradient(c.dx[0], acc);
  const Params p = params_of<Op>(c);
  // neg and affine read nothing saved: any pointer will do for the unused argument.
  const float* v = Op::kFromOutput ? c.out[0].f32() : c.in[0].present() ? c.in[0].f32() : c.dy[0].f32();
  const float* dy = c.dy[0].f32();
  float* dx = c.dx[0].f32();
  parallel_for(c.dx[0].numel(), 8, [&](int64_t i0, int64_t i1) {
    if (acc) {
      for (int64_t i = i0; i < i1; ++i) dx[i] += Op::g(v[i], dy[i], p);
    } else {
      for (int64_t i = i0; i < i1; ++i) dx[i] = Op::g(v[i], dy[i], p);
    }
  });
}

// Each binary op: f(a, b) and the two local gradients from (a, b, y, dy); div reads b and y only (a is
// passed as 0 there: it may have been overwritten by y).
struct Div {
  static constexpr bool kReadsA = false;
  static float f(float a, float b) { return a / b; }
  static void g(float, float b, float y, float dy, float& ga, float& gb) {
    ga = dy / b;
    gb = -(ga * y);
  }
};
struct Maximum {
  static constexpr bool kReadsA = true;
  static float f(float a, float b) { return a > b || std::isnan(a) ? a : b; }
  static void g(float a, float b, float, float dy, float& ga, float& gb) {
    ga = a > b ? dy : a == b ? 0.5f * dy : 0.0f;
    gb = b > a ? dy : a == b ? 0.5f * dy : 0.0f;
  }
};
struct Minimum {
  static constexpr bool kReadsA = true;
  static float f(float a, float b) { return a < b || std::isnan(a) ? a : b; }
  static void g(float a, float b, float, float dy, float& ga, float& gb) {
    ga = a < b ? dy : a == b ? 0.5f * dy : 0.0f;
    gb = b < a ? dy : a == b ? 0.5f * dy : 0.0f;
  }
};

template <typename Op>
void binary_forward(const OpCall& c) {
  const float* a = c.in[0].f32();
  const float* b = c.in[1].f32();
  float* y = c.out[0].f32();
  const BroadcastPlan plan = make_broadcast_plan(c.out[0].type.shape, c.in[0].type.shape, c.in[1].type.shape);
  for_each_broadcast_run(plan, [&](int64_t o, int64_t ia, int64_t ib, int64_t n, auto sa, auto sb) {
    for (int64_t j = 0; j < n; ++j) y[o + j] = Op::f(a[ia + j * sa], b[ib + j * sb]);
  });
}

template <typename Op>
void binary_backward(const OpCall& c) {
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
      if (want[i]) zero_gradient(c.dx[i], acc[i]);
    return;
  }
  const float* a = Op::kReadsA ? c.in[0].f32() : nullptr;
  const float* b = c.in[1].f32();
  const float* y = Op::kReadsA ? nullptr : c.out[0].f32();
  const float* g = dy.f32();
  // A broadcast operand's local gradient goes to scratch (full size) and is summed afterwards; a full
  // one is stored straight into dx, element by element after its inputs are read.
  std::unique_ptr<float[]> scratch[2];
  float* dst[2] = {nullptr, nullptr};
  for (size_t i = 0; i < 2; ++i) {
    if (!want[i]) continue;
    if (full[i]) {
      dst[i] = c.dx[i].f32();
    } else {
      scratch[i] = std::make_unique_for_overwrite<float[]>(static_cast<size_t>(n));
      dst[i] = scratch[i].get();
    }
  }
  const bool acc0 = full[0] && acc[0], acc1 = full[1] && acc[1];
  const BroadcastPlan plan = make_broadcast_plan(ys, c.in[0].type.shape, c.in[1].type.shape);
  for_each_broadcast_run(plan, [&](int64_t o, int64_t ia, int64_t ib, int64_t len, auto sa, auto sb) {
    for (int64_t j = 0; j < len; ++j) {
      float ga, gb;
      Op::g(a ? a[ia + j * sa] : 0.0f, b[ib + j * sb], y ? y[o + j] : 0.0f, g[o + j], ga, gb);
      if (dst[0]) dst[0][o + j] = acc0 ? dst[0][o + j] + ga : ga;
      if (dst[1]) dst[1][o + j] = acc1 ? dst[1][o + j] + gb : gb;
    }
  });
  for (size_t i = 0; i < 2; ++i)
    if (scratch[i]) reduce_sum(scratch[i].get(), ys, broadcast_axes(ys, c.in[i].type.shape), c.dx[i].f32(), 1.0, acc[i]);
}

// causal_mask: rows i of the last two axes keep columns j <= i; the gradient passes where x did.
template <bool Backward>
void causal_mask_pass(const OpCall& c) {
  const ir::Shape& s = c.out[0].type.shape;
  const int64_t rows = s[s.size() - 2], cols = s[s.size() - 1];
  const int64_t mats = rows * cols == 0 ? 0 : c.out[0].numel() / (rows * cols);
  const float value = Backward ? 0.0f : static_cast<float>(c.node->attrs.get_float("value"));
  const bool acc = Backward && grad_accumulates(c, 0);
  const float* x = Backward ? c.dy[0].f32() : c.in[0].f32();
  float* y = Backward ? c.dx[0].f32() : c.out[0].f32();
  parallel_for(mats * rows, cols, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t i = r % rows, keep = std::min(i + 1, cols);
      const float* xr = x + r * cols;
      float* yr = y + r * cols;
      for (int64_t j = 0; j < cols; ++j) {
        const float v = j < keep ? xr[j] : value;
        yr[j] = acc ? yr[j] + v : v;
      }
    }
  });
}

void causal_mask_backward(const OpCall& c) {
  if (!grad_wanted(c, 0)) return;
  if (!c.dy[0].present()) return zero_gradient(c.dx[0], grad_accumulates(c, 0));
  causal_mask_pass<true>(c);
}

// --- where -----------------------------------------------------------------------------------------------

// Element strides of an operand of shape `s` (right-aligned, numpy style) along the axes of `out`; 0 where
// it is broadcast.
std::vector<int64_t> broadcast_strides(const ir::Shape& out, const ir::Shape& s) {
  std::vector<int64_t> st(out.size(), 0);
  int64_t stride = 1;
  for (size_t i = 0; i < s.size(); ++i) {
    const size_t so = s.size() - 1 - i, o = out.size() - 1 - i;
    if (s[so] != 1) st[o] = stride;
    stride *= s[so];
  }
  return st;
}

// f(out_offset, offsets[3], n, steps[3]) for each run of n output elements along the last axis of `out`,
// operand k's element j of the run at offsets[k] + j * steps[k]. Rows are split among threads.
template <typename F>
void for_each_row3(const ir::Shape& out, const std::vector<int64_t> (&st)[3], const F& f) {
  const size_t rank = out.size();
  const int64_t inner = rank == 0 ? 1 : out.back();
  if (inner == 0) return;
  const int64_t rows = ir::num_elements(out) / inner;
  const size_t outer_axes = rank == 0 ? 0 : rank - 1;
  int64_t steps[3];
  for (int k = 0; k < 3; ++k) steps[k] = rank == 0 ? 0 : st[k].back();
  parallel_for(rows, inner, [&](int64_t r0, int64_t r1) {
    std::vector<int64_t> idx(outer_axes);
    int64_t off[3] = {0, 0, 0}, rem = r0;
    for (size_t a = outer_axes; a-- > 0;) {
      idx[a] = rem % out[a];
      rem /= out[a];
      for (int k = 0; k < 3; ++k) off[k] += idx[a] * st[k][a];
    }
    for (int64_t r = r0; r < r1; ++r) {
      f(r * inner, off, inner, steps);
      for (size_t a = outer_axes; a-- > 0;) {
        for (int k = 0; k < 3; ++k) off[k] += st[k][a];
        if (++idx[a] < out[a]) break;
        for (int k = 0; k < 3; ++k) off[k] -= idx[a] * st[k][a];
        idx[a] = 0;
      }
    }
  });
}

template <typename C>
void where_forward_as(const OpCall& c) {
  const ir::Shape& ys = c.out[0].type.shape;
  const std::vector<int64_t> st[3] = {broadcast_strides(ys, c.in[0].type.shape),
                                      broadcast_strides(ys, c.in[1].type.shape),
                                      broadcast_strides(ys, c.in[2].type.shape)};
  const C* cond = static_cast<const C*>(c.in[0].data);
  const float* a = c.in[1].f32();
  const float* b = c.in[2].f32();
  float* y = c.out[0].f32();
  for_each_row3(ys, st, [&](int64_t o, const int64_t* off, int64_t n, const int64_t* step) {
    for (int64_t j = 0; j < n; ++j)
      y[o + j] = cond[off[0] + j * step[0]] != C{0} ? a[off[1] + j * step[1]] : b[off[2] + j * step[2]];
  });
}

void where_forward(const OpCall& c) {
  if (c.in[0].type.dtype == ir::DType::I32) where_forward_as<int32_t>(c);
  else where_forward_as<float>(c);
}

// dcond is zero (the condition is piecewise constant); da = dy where cond holds, db = dy elsewhere. Each
// element reads dy before any gradient of it is written, in input order, so dx may be dy and two dx may be
// one buffer (where(c, x, x)).
template <typename C>
void where_backward_as(const OpCall& c) {
  const ir::Shape& ys = c.out[0].type.shape;
  const int64_t n = ir::num_elements(ys);
  bool want[3], acc[3], full[3];
  for (size_t i = 0; i < 3; ++i) {
    want[i] = grad_wanted(c, i);
    acc[i] = grad_accumulates(c, i);
    full[i] = want[i] && c.dx[i].numel() == n;
  }
  if (!c.dy[0].present()) {
    for (size_t i = 0; i < 3; ++i)
      if (want[i]) zero_gradient(c.dx[i], acc[i]);
    return;
  }
  if (want[0] && !full[0]) zero_gradient(c.dx[0], acc[0]);
  std::unique_ptr<float[]> scratch[3];
  float* dst[3] = {nullptr, nullptr, nullptr};
  bool add[3] = {false, false, false};
  for (size_t i = 0; i < 3; ++i) {
    if (!want[i] || (i == 0 && !full[0])) continue;
    if (full[i]) {
      dst[i] = c.dx[i].f32();
      add[i] = acc[i];
    } else {
      scratch[i] = std::make_unique_for_overwrite<float[]>(static_cast<size_t>(n));
      dst[i] = scratch[i].get();
    }
  }
  const std::vector<int64_t> st[3] = {broadcast_strides(ys, c.in[0].type.shape), std::vector<int64_t>(ys.size(), 0),
                                      std::vector<int64_t>(ys.size(), 0)};
  const C* cond = static_cast<const C*>(c.in[0].data);
  const float* g = c.dy[0].f32();
  for_each_row3(ys, st, [&](int64_t o, const int64_t* off, int64_t len, const int64_t* step) {
    for (int64_t j = 0; j < len; ++j) {
      const float gj = g[o + j];
      const bool take_a = cond[off[0] + j * step[0]] != C{0};
      const float v[3] = {0.0f, take_a ? gj : 0.0f, take_a ? 0.0f : gj};
      for (int i = 0; i < 3; ++i)
        if (dst[i]) dst[i][o + j] = add[i] ? dst[i][o + j] + v[i] : v[i];
    }
  });
  for (size_t i = 1; i < 3; ++i)
    if (scratch[i]) reduce_sum(scratch[i].get(), ys, broadcast_axes(ys, c.in[i].type.shape), c.dx[i].f32(), 1.0, acc[i]);
}

void where_backward(const OpCall& c) {
  if (c.in[0].type.dtype == ir::DType::I32) where_backward_as<int32_t>(c);
  else where_backward_as<float>(c);
}

template <typename Op>
OpKernels unary() {
  return {unary_forward<Op>, unary_backward<Op>};
}

template <typename Op>
OpKernels binary() {
  return {binary_forward<Op>, binary_backward<Op>};
}

}  // namespace

void register_math_kernels(KernelTable& t) {
  t.add("exp", unary<Exp>());
  t.add("sqrt", unary<Sqrt>());
  t.add("rsqrt", unary<Rsqrt>());
  t.add("log", unary<Log>());
  t.add("abs", unary<Abs>());
  t.add("sin", unary<Sin>());
  t.add("cos", unary<Cos>());
  t.add("neg", unary<Neg>());
  t.add("affine", unary<Affine>());
  t.add("pow", unary<Pow>());
  t.add("gelu", {[](const OpCall& c) {
                   if (c.node->attrs.get_string("approximate") == "tanh") unary_forward<GeluTanh>(c);
                   else unary_forward<GeluErf>(c);
                 },
                 [](const OpCall& c) {
                   if (c.node->attrs.get_string("approximate") == "tanh") unary_backward<GeluTanh>(c);
                   else unary_backward<GeluErf>(c);
                 }});
  t.add("silu", unary<Silu>());
  t.add("causal_mask", {causal_mask_pass<false>, causal_mask_backward});
  t.add("div", binary<Div>());
  t.add("maximum", binary<Maximum>());
  t.add("minimum", binary<Minimum>());
  t.add("where", {where_forward, where_backward});
}

}  // namespace sublinear::runtime::cpu
