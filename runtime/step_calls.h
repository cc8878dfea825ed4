#pragma once
// A plan's schedule as kernel calls over one program's buffers, built once: the single place that turns
// plan steps into OpCalls, for the executor and the CUDA program alike (a generated trainer writes the
// same calls out as code, codegen/emit_schedule.cpp). Rules:
// - A value's pointer: model inputs, parameters and parameter gradients at their persistent buffers;
//   activations and gradients at arena + their storage's offset (values folded in place share one).
// - Forward and recompute steps: in = the step's reads, out = its writes, in Mode::Train and
//   Mode::Recompute (same results, no running-statistics update).
// - Backward steps: `in` and `out` have the node's types with only the values OpDef::backward lists
//   present; the step reads those input values, then those output values, then the output gradients
//   that reach it. The loss's output gradient is the loss seed. An input gradient the step writes is
//   overwritten by the first input naming that value and accumulated by later ones (add(x, x)); a value
//   the step accumulates into is accumulated by every input naming it.
// - The measured arena peak is the highest aligned end of an arena view handed to any call.
#include <cstdint>
#include <vector>

#include "planner/plan.h"
#include "runtime/kernel.h"
#include "runtime/program_buffers.h"

namespace sublinear::runtime {

// Every plan value's pointer into `b` (SL_CHECKs every arena value lies inside the arena).
std::vector<void*> resolve_value_pointers(const planner::Plan& p, const ProgramBuffers& b);

// The plan value holding each graph output's forward value after a step.
std::vector<planner::ValueId> graph_output_values(const planner::Plan& p);

struct StepCall {
  const KernelFn* fn = nullptr;
  planner::StepKind kind = planner::StepKind::Forward;
  OpCall call;  // everything but `iteration`, which the caller sets per step
};

struct StepCalls {
  std::vector<StepCall> steps;
  int64_t arena_peak = 0;  // what running them all hands out (plan.options.alignment)
};

// The calls of every plan step, with kernels from `kernels` (SL_CHECKs each op has the kernels it needs)
// and the workspace of `b`.
StepCalls build_step_calls(const planner::Plan& p, const KernelTable& kernels, const ProgramBuffers& b,
                           const std::vector<void*>& value_ptr, uint64_t seed);

}  // namespace sublinear::runtime
