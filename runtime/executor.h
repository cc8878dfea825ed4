#pragma once
// The executor runs a plan: one training step is the plan's static schedule (forward, recompute and
// backward steps) executed in order with kernels from one backend. Rules:
// - Feature maps live in one arena allocated once, plan.feature_map_peak_bytes long; a value's view is
//   arena + storage offset. Values folded in place share a storage, hence a pointer.
// - Inputs, parameters, parameter gradients and optimizer state are persistent buffers outside the
//   arena, allocated once. A parameter gradient is overwritten by the first backward step that writes
//   it and accumulated by later ones, as the plan says, so gradients are never zeroed between steps.
// - Forward steps run in Mode::Train, recompute steps in Mode::Recompute (same results, no running-
//   statistics update), so a recomputed value is bitwise the value it replaces.
// - The calls are built once (step_calls.h: how plan steps become OpCalls), since views never move; a
//   schedule compiled by `sublinear compile` (compiled_schedule.h) may make them instead, over the same
//   buffers.
// - The arena's measured peak is the highest byte any kernel was handed a view of, checked once against
//   a canary fill (the highest byte actually changed): both must equal the plan's arena size when the
//   topmost buffer is written.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "planner/plan.h"
#include "runtime/compiled_schedule.h"
#include "runtime/kernel.h"
#include "runtime/program_buffers.h"
#include "runtime/step_calls.h"

namespace sublinear::runtime {

struct ExecutorOptions {
  uint64_t seed = 0;        // parameter init and dropout masks
  bool measure_canary = true;  // fill the arena with a pattern and find the highest byte changed
  ScheduleMaker schedule;      // a compiled schedule to run the training steps with (else the plan's calls)
};

// A stable fingerprint of what a plan runs (graph size, step kinds and nodes, arena offsets written), for
// checkpoints: every backend and generated trainer reports this one, so a checkpoint moves between them
// without a "different plan" note; resuming under a different plan is allowed but reported.
std::string plan_fingerprint(const planner::Plan& plan);

class Executor {
 public:
  Executor(std::shared_ptr<const planner::Plan> plan, const KernelTable& kernels, ExecutorOptions opts = {});
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  const planner::Plan& plan() const { return *plan_; }

  // Host views of the model inputs, in declaration order: the data source fills these.
  std::vector<Tensor>& inputs() { return inputs_; }
  std::vector<ParamBuffer>& params() { return buffers_.params; }
  const std::vector<ParamBuffer>& params() const { return buffers_.params; }

  // Initialises every parameter from the seed (param_init.h).
  void init_params();

  // One training step: forward, recompute and backward as planned. `iteration` keys the dropout masks.
  void run_step(int64_t iteration);
  // Forward only, in Mode::Eval (no dropout, running statistics), for evaluation.
  void run_forward_eval();

  // Times every plan step of each run_step from now on (wall clock around each kernel call), for
  // `train --profile`. False, and nothing timed, when a compiled schedule runs the steps.
  bool start_profiling();
  // Seconds per plan step of the last run_step (empty unless profiling).
  const std::vector<double>& step_seconds() const { return step_seconds_; }

  // Called with the plan step's index after each step of run_step (not with a compiled schedule, which
  // runs the steps itself: false then). Data-parallel training starts summing a gradient from here.
  bool set_step_hook(std::function<void(size_t step)> hook);
  // Sets OpCall::shard of every call (a data-parallel worker's rank); false with a compiled schedule.
  bool set_shard(int64_t shard);
  // One call per plan step, as the interpreter runs them; a compiled schedule makes the same calls in the
  // same order from its own copy (runtime/compiled_schedule.h).
  const StepCalls& step_calls() const { return calls_; }

  // A graph output after run_step: its view (valid until the next step).
  Tensor output(size_t index) const;
  float loss() const;  // output 0, a scalar

  int64_t arena_bytes() const { return arena_bytes_; }
  int64_t arena_peak_bytes() const { return arena_peak_; }        // highest byte handed to a kernel
  int64_t arena_canary_peak_bytes() const { return canary_peak_; } // highest byte changed (first step)
  int64_t persistent_bytes() const { return persistent_bytes_; }
  std::string plan_fingerprint() const { return runtime::plan_fingerprint(*plan_); }

 private:
  std::shared_ptr<const planner::Plan> plan_;
  ExecutorOptions opts_;

  char* arena_ = nullptr;
  int64_t arena_bytes_ = 0;
  int64_t arena_peak_ = 0;
  int64_t canary_peak_ = -1;
  bool canary_pending_ = false;
  std::vector<char> workspace_;
  int64_t persistent_bytes_ = 0;

  std::vector<std::vector<float>> input_storage_, param_storage_, grad_storage_;
  std::vector<Tensor> inputs_;
  ProgramBuffers buffers_;
  std::vector<void*> value_ptr_;                 // per plan value
  std::vector<planner::ValueId> output_values_;  // the forward values of the graph outputs
  StepCalls calls_;
  std::unique_ptr<CompiledSchedule> schedule_;
  float loss_seed_ = 1.0f;
  bool profiling_ = false;
  std::function<void(size_t)> step_hook_;
  std::vector<double> step_seconds_;  // d loss / d loss, the loss node's output gradient
};

}  // namespace sublinear::runtime
