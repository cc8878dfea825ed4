#pragma once
// The straight-line training step of a generated trainer: one kernel call per plan step, in plan order,
// in member functions of at most `chunk_steps` steps each (so g++ copes with 1,000-layer nets). Rules:
// - Each call is preceded by a comment naming the step and its kind, the IR node (id, op, name), its DSL
//   location and its expansion path with the call sites it was expanded from.
// - Calls are built with the executor's rules (Executor::run_compute, run_backward): forward steps in
//   Mode::Train and recompute steps in Mode::Recompute with the step's reads as inputs and writes as
//   outputs; backward steps with only the forward values OpDef::backward lists present, the output
//   gradients the step reads (the loss's is the constant 1), and per input its gradient: a value the step
//   writes is overwritten by its first input and accumulated by later ones, a value it accumulates is
//   accumulated by every input reading it. Anything the executor would SL_CHECK fails here, at compile
//   time.
// - Arena views are written `fm(arena + <offset>, <type>)`; persistent buffers are input(k), param(i) and
//   grad(i) by their position in Graph::inputs() and Graph::params().
#include <map>
#include <string>

#include "codegen/cpp_text.h"
#include "codegen/emit_tables.h"
#include "planner/plan.h"

namespace sublinear::codegen {

// Ops the schedule calls, with whether it calls their backward: one kernel member each.
std::map<std::string, bool> scheduled_ops(const planner::Plan& plan);

// The member that holds op's kernels: "k_conv2d".
std::string kernel_member(const std::string& op);

int chunk_count(const planner::Plan& plan, int chunk_steps);

// Defines `void <class_name>::run_steps_<k>(int64_t iteration)` for every chunk.
void emit_schedule(CodeWriter& w, const planner::Plan& plan, const TypeTable& types, const std::string& class_name,
                   int chunk_steps);

}  // namespace sublinear::codegen
