// CPU optimizer updates: the formulas of optimizer.h, element by element in f32. Rules: no std::fma and
// no reassociation (the build does not contract a*b+c on x86-64 ISO C++), so the CUDA mirror can match
// bit for bit; hyper-parameters are rounded to f32 once, outside the loops.
#include "runtime/optimizer.h"

#include <algorithm>
#include <cmath>
#include <vector>
#include <stdexcept>

namespace sublinear::runtime::train {

namespace {

// Below this many elements the thread start-up costs more than the update.
constexpr int64_t kParallelMin = int64_t{1} << 15;

// The gradient element as the update reads it: g, or g*coef under clipping (coef is exactly 1 when
// clipping is off and then never multiplied, so unclipped runs keep their bits).
struct Grad {
  const float* __restrict g;
  float coef;
  bool scaled;
  float operator[](int64_t i) const { return scaled ? g[i] * coef : g[i]; }
};

void sgd(const OptimizerConfig& c, float lr, const ParamSlot& p, float coef) {
  const float wd = p.decay ? static_cast<float>(c.weight_decay) : 0.0f;
  const float mu = static_cast<float>(c.momentum);
  float* __restrict w = p.w;
  const Grad g{p.g, coef, c.clip_grad_norm > 0};
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

void adam(const OptimizerConfig& c, double lr, int64_t step, const ParamSlot& p, float coef) {
  const bool decoupled = c.kind == OptimizerKind::AdamW;
  const float wd = p.decay && !decoupled ? static_cast<float>(c.weight_decay) : 0.0f;
  // AdamW's factor, torch's param.mul_(1 - lr * weight_decay): the double rounded to f32.
  const float keep = static_cast<float>(1.0 - lr * c.weight_decay);
  const bool shrink = decoupled && p.decay && c.weight_decay != 0.0;
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
  const Grad g{p.g, coef, c.clip_grad_norm > 0};
  float* __restrict m = p.state0;
  float* __restrict v = p.state1;
  const int64_t n = p.n;
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    float d = g[i];
    if (wd != 0.0f) d = d + wd * w[i];
    if (shrink) w[i] = w[i] * keep;
    m[i] = m[i] + one_minus_b1 * (d - m[i]);
    v[i] = b2 * v[i] + (one_minus_b2 * d) * d;
    const float denom = std::sqrt(v[i]) / c2_sqrt + eps;
    w[i] = w[i] + neg_step_size * (m[i] / denom);
  }
}

}  // namespace

const char* optimizer_kind_name(OptimizerKind k) {
  return k == OptimizerKind::Adam ? "adam" : k == OptimizerKind::AdamW ? "adamw" : "sgd";
}

int optimizer_state_slots(const OptimizerConfig& c) {
  if (c.kind == OptimizerKind::Adam || c.kind == OptimizerKind::AdamW) return 2;
  return c.momentum != 0.0 ? 1 : 0;
}

planner::Optimizer planner_optimizer(const OptimizerConfig& c) {
  switch (optimizer_state_slots(c)) {
    case 0: return planner::Optimizer::Sgd;
    case 1: return planner::Optimizer::Momentum;
    default: return planner::Optimizer::Adam;
  }
}

float clip_coefficient(const OptimizerConfig& c, std::span<const ParamSlot> params, double* norm) {
  if (!(c.clip_grad_norm > 0)) {
    if (norm) *norm = 0;
    return 1.0f;
  }
  // Sums of squares in double per fixed chunk (threads take whole chunks), then the chunks in order: the
  // same bits for any thread count.
  constexpr int64_t kChunk = int64_t{1} << 16;
  double total = 0;
  for (const ParamSlot& p : params) {
    if (p.n == 0 || p.g == nullptr) continue;
    const int64_t chunks = (p.n + kChunk - 1) / kChunk;
    std::vector<double> part(static_cast<size_t>(chunks), 0.0);
#pragma omp parallel for schedule(static) if (p.n >= kParallelMin)
    for (int64_t k = 0; k < chunks; ++k) {
      double s = 0;
      for (int64_t i = k * kChunk, e = std::min(p.n, i + kChunk); i < e; ++i) s += static_cast<double>(p.g[i]) * p.g[i];
      part[static_cast<size_t>(k)] = s;
    }
    for (double s : part) total += s;
  }
  const double n = std::sqrt(total);
  if (norm) *norm = n;
  const float coef = static_cast<float>(c.clip_grad_norm / (n + 1e-6));
  return coef < 1.0f ? coef : 1.0f;
}

void optimizer_step(const OptimizerConfig& c, double lr, int64_t step, std::span<const ParamSlot> params) {
  const int slots = optimizer_state_slots(c);
  for (const ParamSlot& p : params) {
    if (p.n == 0) continue;
    if (p.w == nullptr || p.g == nullptr || (slots >= 1 && p.state0 == nullptr) || (slots >= 2 && p.state1 == nullptr))
      throw std::invalid_argument("optimizer_step: a parameter slot lacks its weights, gradient or state");
  }
  const float coef = clip_coefficient(c, params);
  for (const ParamSlot& p : params) {
    if (p.n == 0) continue;
    if (c.kind == OptimizerKind::Sgd) sgd(c, static_cast<float>(lr), p, coef);
    else adam(c, lr, step, p, coef);
  }
}

}  // namespace sublinear::runtime::train
