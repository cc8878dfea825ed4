#pragma once
// Optimizer updates over flat f32 arrays: the backend-independent definition of what one step does. The
// CUDA backend mirrors these formulas operation for operation (f32 arithmetic in the order written below,
// no fused multiply-add: __fmul_rn/__fadd_rn on the device), so both backends produce the same bits.
//
// Semantics are PyTorch's (torch.optim.SGD and torch.optim.Adam, single-tensor path), per element, with
// `lr`, `mu`, `wd`, ... the f32 roundings of the double hyper-parameters:
//   SGD      d = g + wd*w                       (L2 weight decay added to the gradient, when slot.decay)
//            momentum > 0:  v = mu*v + d        (dampening 0; v starts at zero, so step 0 gives v = d)
//                           d = nesterov ? d + mu*v : v
//            w = w - lr*d
//   Adam     d = g + wd*w                       (classic L2 like torch.optim.Adam, not AdamW's decoupled
//                                                decay; only when slot.decay)
//            m = m + (1-b1)*(d - m)             (torch's lerp, weight 1-b1 < 0.5)
//            v = b2*v + ((1-b2)*d)*d
//            t = step + 1; c1 = 1 - b1^t; c2 = 1 - b2^t           (double)
//            w = w + (-(lr/c1)) * (m / (sqrt(v)/sqrt(c2) + eps))  (the two scalars rounded to f32)
//   AdamW    w = w * (1 - lr*wd)                (decoupled decay, torch.optim.AdamW; only when slot.decay;
//                                                the factor rounded to f32), then Adam's update with d = g
// Gradient clipping by global norm (torch.nn.utils.clip_grad_norm_, when clip_grad_norm > 0), before any
// of the above: total = sqrt(sum over every slot's gradient of g^2) (accumulated in double, in slot and
// element order, in fixed chunks), coef = min(1, clip / (total + 1e-6)) rounded to f32, and every
// gradient element is read as g*coef.
// State slots (zero-initialised by the caller, and saved in checkpoints): SGD with momentum: state0 = v;
// Adam, AdamW: state0 = m, state1 = v; plain SGD (momentum 0): none.
#include <cstdint>
#include <span>
#include <string>

#include "planner/plan.h"

namespace sublinear::runtime::train {

enum class OptimizerKind { Sgd, Adam, AdamW };
const char* optimizer_kind_name(OptimizerKind k);  // "sgd", "adam", "adamw"

struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::Sgd;
  double lr = 0.1;            // base rate (the schedule scales it); the YAML default is 0.1 for sgd, 1e-3 for adam
  double momentum = 0.9;      // sgd; 0 = plain SGD with no state
  bool nesterov = false;      // sgd; needs momentum > 0
  double weight_decay = 0.0;  // sgd, adam: L2 added to the gradient; adamw: decoupled (YAML default 0.01)
  double beta1 = 0.9;         // adam, adamw
  double beta2 = 0.999;       // adam, adamw
  double eps = 1e-8;          // adam, adamw
  double clip_grad_norm = 0;  // > 0: scale the gradients so that their global 2-norm is at most this
};


// Per-parameter state arrays of the same length as the parameter: 0, 1 (momentum) or 2 (adam, adamw).
int optimizer_state_slots(const OptimizerConfig& c);

// The planner's accounting class for this optimizer (its optimizer-state bytes).
planner::Optimizer planner_optimizer(const OptimizerConfig& c);

// One parameter tensor. `state0`/`state1` may be null when optimizer_state_slots says they are unused.
struct ParamSlot {
  float* w = nullptr;
  const float* g = nullptr;
  float* state0 = nullptr;
  float* state1 = nullptr;
  int64_t n = 0;
  bool decay = true;  // apply weight_decay (trainers usually exempt biases and batch-norm parameters)
};

// The clipping factor min(1, clip / (norm + 1e-6)) for the gradients of `params` (1 when clipping is off),
// and their global norm in `norm` when given.
float clip_coefficient(const OptimizerConfig& c, std::span<const ParamSlot> params, double* norm = nullptr);

// Applies one update with rate `lr` (already scheduled) as 0-based optimizer step `step` (Adam's bias
// correction uses step + 1). Deterministic: each element's update depends on that element alone, so the
// OpenMP split over elements cannot change the result.
void optimizer_step(const OptimizerConfig& c, double lr, int64_t step, std::span<const ParamSlot> params);

}  // namespace sublinear::runtime::train
