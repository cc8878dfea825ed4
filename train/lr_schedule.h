#pragma once
// Learning-rate schedules, a pure function of the step so that a resumed run (or the CUDA backend) gets
// exactly the rate an uninterrupted run would. Steps are 0-based optimizer steps: step 0 is the first
// update.
#include <cstdint>

namespace sublinear::runtime::train {

enum class ScheduleKind { Constant, Step, Cosine };
const char* schedule_kind_name(ScheduleKind k);  // "constant", "step", "cosine"

struct ScheduleConfig {
  ScheduleKind kind = ScheduleKind::Constant;
  int64_t warmup_steps = 0;       // linear warm-up over the first warmup_steps steps (0 = none)
  int64_t step_size = 0;          // step: multiply by gamma every step_size steps (required for kind step)
  double gamma = 0.1;             // step: the decay factor
  double min_lr = 0.0;            // cosine: the rate reached at total_steps
};

// The rate for 0-based `step` of a run of `total_steps` steps:
//   base(step)   constant: base_lr
//                step:     base_lr * gamma^floor(step / step_size)  (counted from step 0, warm-up included,
//                          so "decay at step 30000" means the same with or without warm-up)
//                cosine:   min_lr + (base_lr - min_lr) * (1 + cos(pi * p)) / 2,
//                          p = (step - warmup_steps) / (total_steps - warmup_steps), clamped to [0, 1]
//   warm-up      step < warmup_steps: base(step) * (step + 1) / warmup_steps (PyTorch's LinearLR from 0:
//                the first step already moves, the rate reaches base at step warmup_steps - 1)
double learning_rate(const ScheduleConfig& s, double base_lr, int64_t step, int64_t total_steps);

}  // namespace sublinear::runtime::train
