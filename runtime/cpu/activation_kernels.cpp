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
}

}  // namespace sublinear::runtime::cpu
