// Learning-rate schedules: the formulas documented in lr_schedule.h, in double precision.
#include "train/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace sublinear::runtime::train {

const char* schedule_kind_name(ScheduleKind k) {
  switch (k) {
    case ScheduleKind::Constant: return "constant";
    case ScheduleKind::Step: return "step";
    case ScheduleKind::Cosine: return "cosine";
  }
  return "?";
}

double learning_rate(const ScheduleConfig& s, double base_lr, int64_t step, int64_t total_steps) {
  step = std::max<int64_t>(step, 0);
  double lr = base_lr;
  if (s.kind == ScheduleKind::Step) {
    if (s.step_size > 0) lr = base_lr * std::pow(s.gamma, static_cast<double>(step / s.step_size));
  } else if (s.kind == ScheduleKind::Cosine) {
    const int64_t span = total_steps - s.warmup_steps;
    // A run no longer than its warm-up never starts decaying: during warm-up p is 0 whatever the span.
    double p = step < s.warmup_steps ? 0.0
               : span > 0            ? static_cast<double>(step - s.warmup_steps) / static_cast<double>(span)
                                     : 1.0;
    p = std::clamp(p, 0.0, 1.0);
    lr = s.min_lr + (base_lr - s.min_lr) * 0.5 * (1.0 + std::cos(std::numbers::pi * p));
  }
  if (step < s.warmup_steps)
    lr *= static_cast<double>(step + 1) / static_cast<double>(s.warmup_steps);
  return lr;
}

}  // namespace sublinear::runtime::train
