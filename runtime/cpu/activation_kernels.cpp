// relu, sigmoid, tanh and dropout: per-element OpenMP loops.
// Rules: every element is read before it is written and depends on nothing else, so y may alias x and
// dx may alias dy, and results do not depend on threads or addresses. relu, sigmoid and tanh
// differentiate through y alone. dropout's mask is a pure function of (seed, iteration, node id,
// element index) (runtime/counter_rng.h): Recompute and the backward replay exactly the Train mask;
// Eval is the identity.
#include <cmath>
#include <cstring>
#include <vector>

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
// gates and c', then the products' and activations' gradients; dc' from h' and from c' added in the order
// the planner adds a value's gradients (two terms: commutative). Each row runs as a few simple passes
// over a per-thread scratch of the row (the activations through map_span, the same vectorised code and
// bits as the sigmoid and tanh ops): one loop doing it all had too many pointers and branches for GCC to
// vectorise, and ran 7 times slower than the ten ops it replaces.
struct LstmShape {
  int64_t rows, hidden;
  int64_t quarter[4];  // offsets of the i, f, g, o quarters within a row of gates
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

float* lstm_scratch(int64_t floats) {
  thread_local std::vector<float> scratch;
  if (scratch.size() < static_cast<size_t>(floats)) scratch.resize(static_cast<size_t>(floats));
  return scratch.data();
}

// a[q] = the activation of gate quarter q of one row.
void lstm_activate(const float* gates_row, const LstmShape& s, float* const a[4]) {
  const int64_t H = s.hidden;
  map_span(gates_row + s.quarter[0], a[0], H, Sigmoid{});
  map_span(gates_row + s.quarter[1], a[1], H, Sigmoid{});
  map_span(gates_row + s.quarter[2], a[2], H, Tanh{});
  map_span(gates_row + s.quarter[3], a[3], H, Sigmoid{});
}

SL_VECTOR_CLONES void lstm_state_span(const float* __restrict i, const float* __restrict f, const float* __restrict g,
                                      const float* __restrict c, float* __restrict next, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    const float fc = f[j] * c[j];
    const float ig = i[j] * g[j];
    next[j] = fc + ig;
  }
}

SL_VECTOR_CLONES void product_span(const float* __restrict a, const float* __restrict b, float* __restrict y, int64_t n) {
  for (int64_t j = 0; j < n; ++j) y[j] = a[j] * b[j];
}

// Gradients of one row from the activations a (i, f, g, o), t = tanh(c'), c, dh and dc' (each present
// per Dh, Dcn): the gates' pre-activation gradients into gq (i, f, g, o) and c's into dcv.
template <bool Dh, bool Dcn>
SL_VECTOR_CLONES void lstm_grad_span(const float* __restrict ai, const float* __restrict af, const float* __restrict ag,
                                     const float* __restrict ao, const float* __restrict t, const float* __restrict c,
                                     const float* __restrict dh, const float* __restrict dcn, float* __restrict gi,
                                     float* __restrict gf, float* __restrict gg, float* __restrict go,
                                     float* __restrict dcv, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    const float i = ai[j], f = af[j], g = ag[j], o = ao[j];
    float dnext, d_o = 0.0f;
    if constexpr (Dh) {
      const float tc = t[j];
      d_o = dh[j] * tc;
      const float d_tc = dh[j] * o;
      const float from_h = d_tc * (1.0f - tc * tc);
      if constexpr (Dcn) dnext = dcn[j] + from_h;
      else dnext = from_h;
    } else {
      dnext = dcn[j];
    }
    const float d_f = dnext * c[j], d_i = dnext * g, d_g = dnext * i;
    gi[j] = d_i * (i * (1.0f - i));
    gf[j] = d_f * (f * (1.0f - f));
    gg[j] = d_g * (1.0f - g * g);
    if constexpr (Dh) go[j] = d_o * (o * (1.0f - o));
    else go[j] = 0.0f;
    dcv[j] = dnext * f;
  }
}

void lstm_cell_forward(const OpCall& call) {
  const LstmShape s = lstm_shape(call);
  const int64_t H = s.hidden;
  const float* gates = call.in[0].f32();
  const float* c = call.in[1].f32();
  float* h = call.out[0].f32();
  float* cn = call.out[1].f32();
  parallel_for(s.rows, 30 * H, [&](int64_t r0, int64_t r1) {
    float* scratch = lstm_scratch(5 * H);
    float* const a[4] = {scratch, scratch + H, scratch + 2 * H, scratch + 3 * H};
    float* t = scratch + 4 * H;
    for (int64_t r = r0; r < r1; ++r) {
      lstm_activate(gates + r * 4 * H, s, a);
      lstm_state_span(a[0], a[1], a[2], c + r * H, cn + r * H, H);
      map_span(cn + r * H, t, H, Tanh{});
      product_span(a[3], t, h + r * H, H);
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
  const float* gates = call.in[0].f32();
  const float* c = call.in[1].f32();
  const float* cn = call.out[1].f32();
  const float* dh = has_dh ? call.dy[0].f32() : nullptr;
  const float* dcn = has_dcn ? call.dy[1].f32() : nullptr;
  float* dgates = want_x ? call.dx[0].f32() : nullptr;
  float* dc = want_c ? call.dx[1].f32() : nullptr;
  const bool acc_x = grad_accumulates(call, 0), acc_c = grad_accumulates(call, 1);
  parallel_for(s.rows, 40 * H, [&](int64_t r0, int64_t r1) {
    float* scratch = lstm_scratch(10 * H);
    float* const a[4] = {scratch, scratch + H, scratch + 2 * H, scratch + 3 * H};
    float* t = scratch + 4 * H;
    float* const gq[4] = {scratch + 5 * H, scratch + 6 * H, scratch + 7 * H, scratch + 8 * H};
    float* dcv = scratch + 9 * H;
    for (int64_t r = r0; r < r1; ++r) {
      lstm_activate(gates + r * 4 * H, s, a);
      if (has_dh) map_span(cn + r * H, t, H, Tanh{});
      const float* dhr = has_dh ? dh + r * H : nullptr;
      const float* dcr = has_dcn ? dcn + r * H : nullptr;
      const float* cr = c + r * H;
      auto grads = [&](auto span) { span(a[0], a[1], a[2], a[3], t, cr, dhr, dcr, gq[0], gq[1], gq[2], gq[3], dcv, H); };
      if (has_dh && has_dcn) grads(lstm_grad_span<true, true>);
      else if (has_dh) grads(lstm_grad_span<true, false>);
      else grads(lstm_grad_span<false, true>);
      if (dgates != nullptr)
        for (int q = 0; q < 4; ++q) store_gradient(dgates + r * 4 * H + s.quarter[q], gq[q], H, acc_x);
      if (dc != nullptr) store_gradient(dc + r * H, dcv, H, acc_c);
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
