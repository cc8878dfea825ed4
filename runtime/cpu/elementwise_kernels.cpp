// add, sub, mul (numpy broadcasting), scale and add_n on the CPU.
// Rules: out may be written over an input of its size and dx over dy (the in-place options), and two
// dx may be one buffer (add(x, x): the first written, the second accumulated). So every pass that
// writes a full-size buffer reads everything it needs for an element before writing that element, in
// input order, and gradients that need a sum over broadcast axes are computed first: they read dy,
// which a full-size gradient may overwrite. Sums over broadcast axes go through reduce_sum, whose
// order depends on the shapes only.
#include <algorithm>
#include <memory>
#include <utility>

#include "ir/check.h"
#include "runtime/cpu/cpu_kernels.h"
#include "runtime/cpu/cpu_util.h"
#include "runtime/kernel_geometry.h"

namespace sublinear::runtime::cpu {

namespace {

enum class Binary { Add, Sub, Mul };

// Elements per block of the variadic loops: the block of dy (or of the running sum) is read into a
// local buffer before any output of the block is written.
constexpr int64_t kBlock = 512;

template <Binary Op>
float apply(float a, float b) {
  if constexpr (Op == Binary::Add) return a + b;
  else if constexpr (Op == Binary::Sub) return a - b;
  else return a * b;
}

template <Binary Op>
void binary_forward(const OpCall& c) {
  const float* a = c.in[0].f32();
  const float* b = c.in[1].f32();
  float* y = c.out[0].f32();
  const BroadcastPlan plan = make_broadcast_plan(c.out[0].type.shape, c.in[0].type.shape, c.in[1].type.shape);
  for_each_broadcast_run(plan, [&](int64_t o, int64_t ia, int64_t ib, int64_t n, auto sa, auto sb) {
    const float* pa = a + ia;
    const float* pb = b + ib;
    float* py = y + o;
    for (int64_t j = 0; j < n; ++j) py[j] = apply<Op>(pa[j * sa], pb[j * sb]);
  });
}

inline void emit(float* dx, int64_t i, float v, bool accumulate) { dx[i] = accumulate ? dx[i] + v : v; }

template <Binary Op>
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
  // Gradients summed over broadcast axes, before anything may overwrite dy.
  for (size_t i = 0; i < 2; ++i) {
    if (!want[i] || full[i]) continue;
    const std::vector<char> axes = broadcast_axes(ys, c.in[i].type.shape);
    if constexpr (Op == Binary::Mul) {
      // d(a*b)/da = b: the product with the other operand, broadcast to dy's shape, then summed.
      const Tensor& other = c.in[1 - i];
      std::unique_ptr<float[]> prod = std::make_unique_for_overwrite<float[]>(static_cast<size_t>(n));
      const float* g = dy.f32();
      const float* o = other.f32();
      float* p = prod.get();
      for_each_broadcast_run(make_broadcast_plan(ys, ys, other.type.shape),
                             [&](int64_t e, int64_t ig, int64_t io, int64_t len, auto sg, auto so) {
                               for (int64_t j = 0; j < len; ++j) p[e + j] = g[ig + j * sg] * o[io + j * so];
                             });
      reduce_sum(p, ys, axes, c.dx[i].f32(), 1.0, acc[i]);
    } else {
      const double sign = Op == Binary::Sub && i == 1 ? -1.0 : 1.0;
      reduce_sum(dy.f32(), ys, axes, c.dx[i].f32(), sign, acc[i]);
    }
  }
  const bool w0 = want[0] && full[0], w1 = want[1] && full[1];
  if (!w0 && !w1) return;
  const float* g = dy.f32();
  float* d0 = w0 ? c.dx[0].f32() : nullptr;
  float* d1 = w1 ? c.dx[1].f32() : nullptr;
  const bool a0 = acc[0], a1 = acc[1];
  if constexpr (Op == Binary::Mul) {
    const float* a = c.in[0].f32();
    const float* b = c.in[1].f32();
    const BroadcastPlan plan = make_broadcast_plan(ys, c.in[0].type.shape, c.in[1].type.shape);
    for_each_broadcast_run(plan, [&](int64_t o, int64_t ia, int64_t ib, int64_t len, auto sa, auto sb) {
      for (int64_t j = 0; j < len; ++j) {
        const float gv = g[o + j], av = a[ia + j * sa], bv = b[ib + j * sb];
        if (w0) emit(d0, o + j, gv * bv, a0);
        if (w1) emit(d1, o + j, gv * av, a1);
      }
    });
  } else {
    // One pass per gradient, each a plain loop that vectorises (branching per element on which
    // gradients are wanted and accumulated did not). A gradient written in place over dy (the planner
    // folds one there) goes last, so the other still reads dy unchanged; written whole with sign +1
    // it is dy already.
    const float s1 = Op == Binary::Sub ? -1.0f : 1.0f;
    struct Out {
      float* d;
      float sign;
      bool acc;
    };
    Out outs[2] = {{d0, 1.0f, a0}, {d1, s1, a1}};
    if (outs[0].d == g) std::swap(outs[0], outs[1]);
    for (const Out& o : outs) {
      if (o.d == nullptr || (o.d == g && !o.acc && o.sign == 1.0f)) continue;
      float* d = o.d;
      const float sign = o.sign;
      parallel_for(n, 1, [&](int64_t e0, int64_t e1) {
        if (o.acc) {
          for (int64_t e = e0; e < e1; ++e) d[e] += sign * g[e];
        } else if (sign == 1.0f) {
          std::copy(g + e0, g + e1, d + e0);
        } else {
          for (int64_t e = e0; e < e1; ++e) d[e] = -g[e];
        }
      });
    }
  }
}

void scale_forward(const OpCall& c) {
  const float f = static_cast<float>(c.node->attrs.get_float("factor"));
  const float* x = c.in[0].f32();
  float* y = c.out[0].f32();
  parallel_for(c.out[0].numel(), 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) y[i] = f * x[i];
  });
}

void scale_backward(const OpCall& c) {
  if (!grad_wanted(c, 0)) return;
  const bool acc = grad_accumulates(c, 0);
  if (!c.dy[0].present()) {
    zero_gradient(c.dx[0], acc);
    return;
  }
  const float f = static_cast<float>(c.node->attrs.get_float("factor"));
  const float* g = c.dy[0].f32();
  float* dx = c.dx[0].f32();
  parallel_for(c.dy[0].numel(), 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) emit(dx, i, f * g[i], acc);
  });
}

// Sums in input order: ((x0 + x1) + x2) + ...
void add_n_forward(const OpCall& c) {
  const int64_t n = c.out[0].numel();
  const size_t k = c.in.size();
  float* y = c.out[0].f32();
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  parallel_for(blocks, kBlock * static_cast<int64_t>(k), [&](int64_t b0, int64_t b1) {
    float s[kBlock];
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t e0 = blk * kBlock, len = std::min(kBlock, n - e0);
      const float* x0 = c.in[0].f32() + e0;
      for (int64_t j = 0; j < len; ++j) s[j] = x0[j];
      for (size_t i = 1; i < k; ++i) {
        const float* xi = c.in[i].f32() + e0;
        for (int64_t j = 0; j < len; ++j) s[j] += xi[j];
      }
      std::copy(s, s + len, y + e0);
    }
  });
}

void add_n_backward(const OpCall& c) {
  const size_t k = c.dx.size();
  const Tensor& dy = c.dy[0];
  if (!dy.present()) {
    for (size_t i = 0; i < k; ++i)
      if (grad_wanted(c, i)) zero_gradient(c.dx[i], grad_accumulates(c, i));
    return;
  }
  const int64_t n = dy.numel();
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  parallel_for(blocks, kBlock * static_cast<int64_t>(k), [&](int64_t b0, int64_t b1) {
    float g[kBlock];
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t e0 = blk * kBlock, len = std::min(kBlock, n - e0);
      std::copy(dy.f32() + e0, dy.f32() + e0 + len, g);
      for (size_t i = 0; i < k; ++i) {
        if (!grad_wanted(c, i)) continue;
        float* dx = c.dx[i].f32() + e0;
        if (grad_accumulates(c, i)) {
          for (int64_t j = 0; j < len; ++j) dx[j] += g[j];
        } else {
          for (int64_t j = 0; j < len; ++j) dx[j] = g[j];
        }
      }
    }
  });
}

}  // namespace

void register_elementwise_kernels(KernelTable& t) {
  t.add("add", {binary_forward<Binary::Add>, binary_backward<Binary::Add>});
  t.add("sub", {binary_forward<Binary::Sub>, binary_backward<Binary::Sub>});
  t.add("mul", {binary_forward<Binary::Mul>, binary_backward<Binary::Mul>});
  t.add("scale", {scale_forward, scale_backward});
  t.add("add_n", {add_n_forward, add_n_backward});
}

}  // namespace sublinear::runtime::cpu
