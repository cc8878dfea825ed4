// relu, sigmoid, tanh and dropout: per-element OpenMP loops.
// Rules: every element is read before it is written and depends on nothing else, so y may alias x and
// dx may alias dy, and results do not depend on threads or addresses. relu, sigmoid and tanh
// differentiate through y alone. dropout's mask is a pure function of (seed, iteration, node id,
// element index) (runtime/counter_rng.h): Recompute and the backward replay exactly the Train mask;
// Eval is the identity.
#include <cmath>
#include <cstring>

#include "runtime/counter_rng.h"
#include "runtime/cpu/cpu_kernels.h"
#include "runtime/cpu/cpu_util.h"
#include "runtime/cpu/dnnl_util.h"
#include "runtime/cpu/vec_math.h"
#include "runtime/cpu/vector_clones.h"
#include "runtime/kernel_geometry.h"

namespace sublinear::runtime::cpu {

namespace {

// The element loops, in versions for AVX-512, AVX2 and the baseline (SSE2), one picked when the program
// loads (runtime/cpu/vector_clones.h): 4 to 5 times faster sigmoid and tanh where the CPU has AVX-512, and
// the same bits on every machine.
template <typename F>
SL_VECTOR_CLONES void map_span(const float* x, float* y, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}

template <typename G>
SL_VECTOR_CLONES void map_grad_span(const float* y, const float* dy, float* dx, int64_t n, bool acc, G g) {
  if (acc) {
    for (int64_t i = 0; i < n; ++i) dx[i] += g(y[i], dy[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) dx[i] = g(y[i], dy[i]);
  }
}

template <typename F>
void map_forward(const OpCall& c, F f) {
  const float* x = c.in[0].f32();
  float* y = c.out[0].f32();
  parallel_for(c.out[0].numel(), 4, [&](int64_t a, int64_t b) { map_span(x + a, y + a, b - a, f); });
}

// dx = dy * g(y), written or accumulated.
template <typename G>
void map_backward(const OpCall& c, G g) {
  if (!grad_wanted(c, 0)) return;
  const bool acc = grad_accumulates(c, 0);
  if (!c.dy[0].present()) return store_zero(c.dx[0], acc);
  const float* y = c.out[0].f32();
  const float* dy = c.dy[0].f32();
  float* dx = c.dx[0].f32();
  parallel_for(c.dx[0].numel(), 1, [&](int64_t a, int64_t b) { map_grad_span(y + a, dy + a, dx + a, b - a, acc, g); });
}

// Function objects, not functions: map_forward and map_backward are instantiated per type, so each
// loop inlines its element function and vectorises (a function pointer made every element an indirect
// call: ReLU ran at 1.5 GB/s).
// NaN propagates (a NaN input is not silently turned into 0).
struct Relu {
  float operator()(float x) const { return x < 0.0f ? 0.0f : x; }
};
// sigmoid and tanh on runtime/cpu/vec_math.h: glibc's expf and tanhf are calls per element, which the
// compiler cannot vectorise (tanh ran at 3.6x PyTorch's time in the LSTM).
struct Sigmoid {
  float operator()(float x) const { return vec_sigmoid(x); }
};
struct Tanh {
  float operator()(float x) const { return vec_tanh(x); }
};
struct ReluGrad {
  float operator()(float y, float dy) const { return y > 0.0f ? dy : 0.0f; }
};
struct SigmoidGrad {
  float operator()(float y, float dy) const { return dy * (y * (1.0f - y)); }
};
struct TanhGrad {
  float operator()(float y, float dy) const { return dy * (1.0f - y * y); }
};

// lstm_cell (ir/fusion.h): per element of c, the unfused graph's expressions in its order, so a fused
// LSTM trains bitwise like split + sigmoid/tanh + mul + add. Forward: i, f, g, o = the activated gates,
// c' = f * c + i * g, h' = o * tanh(c'). Backward: the activations and tanh(c') computed again from the
// gates and c' (vec_sigmoid and vec_tanh give the forward's bits), then the products' and activations'
// gradients; dc' from h' and from c' added in the order the planner adds a value's gradients (two terms:
// commutative).
struct LstmRows {
  const float* x[4];  // gate pre-activations i, f, g, o
  const float* c;     // c (the previous cell state)
  const float* cn;    // c' (backward)
  float* cn_out;      // c' (forward)
  float* h;           // h' (forward)
};

SL_VECTOR_CLONES void lstm_forward_span(const LstmRows& r, int64_t n) {
  const float *xi = r.x[0], *xf = r.x[1], *xg = r.x[2], *xo = r.x[3], *c = r.c;
  float *cn = r.cn_out, *h = r.h;
  for (int64_t j = 0; j < n; ++j) {
    const float i = vec_sigmoid(xi[j]), f = vec_sigmoid(xf[j]), g = vec_tanh(xg[j]), o = vec_sigmoid(xo[j]);
    const float fc = f * c[j];
    const float ig = i * g;
    const float next = fc + ig;
    cn[j] = next;
    h[j] = o * vec_tanh(next);
  }
}

struct LstmGrads {
  LstmRows in;
  const float* dh;    // null: no gradient reaches h'
  const float* dcn;   // null: none reaches c' from outside the cell
  float* dx[4];       // gate pre-activation gradients (null: not wanted)
  float* dc;          // c's gradient (null: not wanted)
  bool acc_x, acc_c;
};

template <bool Dh, bool Dcn>
SL_VECTOR_CLONES void lstm_backward_span(const LstmGrads& r, int64_t n) {
  const float *xi = r.in.x[0], *xf = r.in.x[1], *xg = r.in.x[2], *xo = r.in.x[3], *c = r.in.c, *cn = r.in.cn;
  const float *dh = r.dh, *dcn = r.dcn;
  float *dxi = r.dx[0], *dxf = r.dx[1], *dxg = r.dx[2], *dxo = r.dx[3], *dc = r.dc;
  const bool acc_x = r.acc_x, acc_c = r.acc_c;
  for (int64_t j = 0; j < n; ++j) {
    const float i = vec_sigmoid(xi[j]), f = vec_sigmoid(xf[j]), g = vec_tanh(xg[j]), o = vec_sigmoid(xo[j]);
    float dnext, d_o = 0.0f;
    if constexpr (Dh) {
      const float tc = vec_tanh(cn[j]);
      d_o = dh[j] * tc;
      const float d_tc = dh[j] * o;
      const float from_h = d_tc * (1.0f - tc * tc);
      if constexpr (Dcn) dnext = dcn[j] + from_h;
      else dnext = from_h;
    } else {
      dnext = dcn[j];
    }
    const float d_f = dnext * c[j], d_i = dnext * g, d_g = dnext * i;
    const float gi = d_i * (i * (1.0f - i)), gf = d_f * (f * (1.0f - f)), gg = d_g * (1.0f - g * g);
    const float go = Dh ? d_o * (o * (1.0f - o)) : 0.0f;
    if (dxi != nullptr) {
      if (acc_x) {
        dxi[j] += gi;
        dxf[j] += gf;
        dxg[j] += gg;
        dxo[j] += go;
      } else {
        dxi[j] = gi;
        dxf[j] = gf;
        dxg[j] = gg;
        dxo[j] = go;
      }
    }
    if (dc != nullptr) {
      const float v = dnext * f;
      dc[j] = acc_c ? dc[j] + v : v;
    }
  }
}

// The gates [rows, 4H]: per row, the offsets of the i, f, g, o quarters (the `order` attribute).
struct LstmShape {
  int64_t rows, hidden;
  int64_t quarter[4];
};

LstmShape lstm_shape(const OpCall& call) {
  const Tensor& c = call.in[1];
  LstmShape s{};
  s.hidden = c.rank() == 0 ? 1 : c.dim(c.rank() - 1);
  s.rows = s.hidden > 0 ? c.numel() / s.hidden : 0;
  const std::vector<int64_t>& order = call.node->attrs.get_int_list("order");
  for (int q = 0; q < 4; ++q) s.quarter[q] = order[static_cast<size_t>(q)] * s.hidden;
  return s;
}

LstmRows lstm_rows(const OpCall& call, const LstmShape& s, int64_t r) {
  const int64_t H = s.hidden;
  LstmRows rows{};
  for (int q = 0; q < 4; ++q) rows.x[q] = call.in[0].f32() + r * 4 * H + s.quarter[q];
  rows.c = call.in[1].f32() + r * H;
  return rows;
}

void lstm_cell_forward(const OpCall& call) {
  const LstmShape s = lstm_shape(call);
  const int64_t H = s.hidden;
  parallel_for(s.rows, 30 * H, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      LstmRows rows = lstm_rows(call, s, r);
      rows.h = call.out[0].f32() + r * H;
      rows.cn_out = call.out[1].f32() + r * H;
      lstm_forward_span(rows, H);
    }
  });
}

void lstm_cell_backward(const OpCall& call) {
  const bool want_x = grad_wanted(call, 0), want_c = grad_wanted(call, 1);
  const bool has_dh = call.dy[0].present(), has_dcn = call.dy.size() > 1 && call.dy[1].present();
  if (!has_dh && !has_dcn) {
    if (want_x) zero_gradient(call.dx[0], grad_accumulates(call, 0));
    if (want_c) zero_gradient(call.dx[1], grad_accumulates(call, 1));
    return;
  }
  if (!want_x && !want_c) return;
  const LstmShape s = lstm_shape(call);
  const int64_t H = s.hidden;
  float* dgates = want_x ? call.dx[0].f32() : nullptr;
  float* dc = want_c ? call.dx[1].f32() : nullptr;
  parallel_for(s.rows, 40 * H, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      LstmGrads g{};
      g.in = lstm_rows(call, s, r);
      g.in.cn = call.out[1].f32() + r * H;
      for (int q = 0; q < 4; ++q) g.dx[q] = dgates != nullptr ? dgates + r * 4 * H + s.quarter[q] : nullptr;
      g.dh = has_dh ? call.dy[0].f32() + r * H : nullptr;
      g.dcn = has_dcn ? call.dy[1].f32() + r * H : nullptr;
      g.dc = dc != nullptr ? dc + r * H : nullptr;
      g.acc_x = grad_accumulates(call, 0);
      g.acc_c = grad_accumulates(call, 1);
      if (has_dh && has_dcn) lstm_backward_span<true, true>(g, H);
      else if (has_dh) lstm_backward_span<true, false>(g, H);
      else lstm_backward_span<false, true>(g, H);
    }
  });
}

bool keep(const DropoutKey& k, int64_t i) {
  return dropout_keep(k.seed, k.iteration, k.node, k.offset + static_cast<uint64_t>(i), k.rate);
}

void dropout_forward(const OpCall& c) {
  const float* x = c.in[0].f32();
  float* y = c.out[0].f32();
  const int64_t n = c.out[0].numel();
  if (c.mode == Mode::Eval) {
    if (y != x) std::memcpy(y, x, static_cast<size_t>(n) * sizeof(float));
    return;
  }
  const DropoutKey k = dropout_key(c);
#pragma omp parallel for schedule(static) if (n * 16 >= kParallelWork)
  for (int64_t i = 0; i < n; ++i) y[i] = keep(k, i) ? x[i] * k.scale : 0.0f;
}

void dropout_backward(const OpCall& c) {
  if (!grad_wanted(c, 0)) return;
  const bool acc = grad_accumulates(c, 0);
  if (!c.dy[0].present()) return store_zero(c.dx[0], acc);
  const DropoutKey k = dropout_key(c);
  const float* dy = c.dy[0].f32();
  float* dx = c.dx[0].f32();
  const int64_t n = c.dx[0].numel();
  if (acc) {
#pragma omp parallel for schedule(static) if (n * 16 >= kParallelWork)
    for (int64_t i = 0; i < n; ++i) dx[i] += keep(k, i) ? dy[i] * k.scale : 0.0f;
  } else {
#pragma omp parallel for schedule(static) if (n * 16 >= kParallelWork)
    for (int64_t i = 0; i < n; ++i) dx[i] = keep(k, i) ? dy[i] * k.scale : 0.0f;
  }
}

}  // namespace

void register_activation_kernels(KernelTable& t) {
  t.add("relu", {[](const OpCall& c) { map_forward(c, Relu{}); }, [](const OpCall& c) { map_backward(c, ReluGrad{}); }});
  t.add("sigmoid", {[](const OpCall& c) { map_forward(c, Sigmoid{}); },
                    [](const OpCall& c) { map_backward(c, SigmoidGrad{}); }});
  t.add("tanh", {[](const OpCall& c) { map_forward(c, Tanh{}); }, [](const OpCall& c) { map_backward(c, TanhGrad{}); }});
  t.add("dropout", {dropout_forward, dropout_backward});
  t.add("lstm_cell", {lstm_cell_forward, lstm_cell_backward});
}

}  // namespace sublinear::runtime::cpu
