// CPU optimizer updates: the formulas of optimizer.h, element by element in f32. Rules: no std::fma and
// no reassociation (the build does not contract a*b+c on x86-64 ISO C++), so the CUDA mirror can match
// bit for bit; hyper-parameters are rounded to f32 once, outside the loops.
#include "runtime/train/optimizer.h"

#include <cmath>
#include <stdexcept>

namespace sublinear::runtime::train {

namespace {

// Below this many elements the thread start-up costs more than the update.
constexpr int64_t kParallelMin = int64_t{1} << 15;

void sgd(const OptimizerConfig& c, float lr, const ParamSlot& p) {
  const float wd = p.decay ? static_cast<float>(c.weight_decay) : 0.0f;
  const float mu = static_cast<float>(c.momentum);
  float* __restrict w = p.w;
  const float* __restrict g = p.g;
  float* __restrict v = p.state0;
  const int64_t n = p.n;
  if (c.momentum == 0.0) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) {
      float d = g[i];
      if (wd != 0.0f) d = d + wd * w[i];
      w[i] = w[i] - lr * d;
    }
  } else if (c.nesterov) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) {
      float d = g[i];
      if (wd != 0.0f) d = d + wd * w[i];
      v[i] = mu * v[i] + d;
      d = d + mu * v[i];
      w[i] = w[i] - lr * d;
    }
  } else {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) {
      float d = g[i];
      if (wd != 0.0f) d = d + wd * w[i];
      v[i] = mu * v[i] + d;
      w[i] = w[i] - lr * v[i];
    }
  }
}

void adam(const OptimizerConfig& c, double lr, int64_t step, const ParamSlot& p) {
  const float wd = p.decay ? static_cast<float>(c.weight_decay) : 0.0f;
  const float one_minus_b1 = static_cast<float>(1.0 - c.beta1);
  const float b2 = static_cast<float>(c.beta2);
  const float one_minus_b2 = static_cast<float>(1.0 - c.beta2);
  const double t = static_cast<double>(step + 1);
  const double c1 = 1.0 - std::pow(c.beta1, t);
  const double c2 = 1.0 - std::pow(c.beta2, t);
  const float neg_step_size = static_cast<float>(-(lr / c1));
  const float c2_sqrt = static_cast<float>(std::sqrt(c2));
  const float eps = static_cast<float>(c.eps);
  float* __restrict w = p.w;
  const float* __restrict g = p.g;
  float* __restrict m = p.state0;
  float* __restrict v = p.state1;
  const int64_t n = p.n;
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    float d = g[i];
    if (wd != 0.0f) d = d + wd * w[i];
    m[i] = m[i] + one_minus_b1 * (d - m[i]);
    v[i] = b2 * v[i] + (one_minus_b2 * d) * d;
    const float denom = std::sqrt(v[i]) / c2_sqrt + eps;
    w[i] = w[i] + neg_step_size * (m[i] / denom);
  }
}

}  // namespace

const char* optimizer_kind_name(OptimizerKind k) { return k == OptimizerKind::Adam ? "adam" : "sgd"; }

int optimizer_state_slots(const OptimizerConfig& c) {
  if (c.kind == OptimizerKind::Adam) return 2;
  return c.momentum != 0.0 ? 1 : 0;
}

planner::Optimizer planner_optimizer(const OptimizerConfig& c) {
  switch (optimizer_state_slots(c)) {
    case 0: return planner::Optimizer::Sgd;
    case 1: return planner::Optimizer::Momentum;
    default: return planner::Optimizer::Adam;
  }
}

void optimizer_step(const OptimizerConfig& c, double lr, int64_t step, std::span<const ParamSlot> params) {
  const int slots = optimizer_state_slots(c);
  for (const ParamSlot& p : params) {
    if (p.n == 0) continue;
    if (p.w == nullptr || p.g == nullptr || (slots >= 1 && p.state0 == nullptr) || (slots >= 2 && p.state1 == nullptr))
      throw std::invalid_argument("optimizer_step: a parameter slot lacks its weights, gradient or state");
    if (c.kind == OptimizerKind::Adam) adam(c, lr, step, p);
    else sgd(c, static_cast<float>(lr), p);
  }
}

}  // namespace sublinear::runtime::train
