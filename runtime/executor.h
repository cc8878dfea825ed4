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
// - The arena's measured peak is the highest byte any kernel was handed a view of, checked once against
//   a canary fill (the highest byte actually changed): both must equal the plan's arena size when the
//   topmost buffer is written.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "planner/plan.h"
#include "runtime/kernel.h"

namespace sublinear::runtime {

struct ParamBuffer {
  ir::NodeId node = -1;
  std::string name;
  ir::TensorType type;
  bool trainable = false;
  bool has_grad = false;  // the plan computes a gradient for it (an unused weight gets none)
  float* data = nullptr;
  float* grad = nullptr;  // trainable only
};

struct ExecutorOptions {
  uint64_t seed = 0;        // parameter init and dropout masks
  bool measure_canary = true;  // fill the arena with a pattern and find the highest byte changed
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
  std::vector<ParamBuffer>& params() { return params_; }
  const std::vector<ParamBuffer>& params() const { return params_; }

  // Initialises every parameter from the seed (param_init.h).
  void init_params();

  // One training step: forward, recompute and backward as planned. `iteration` keys the dropout masks.
  void run_step(int64_t iteration);
  // Forward only, in Mode::Eval (no dropout, running statistics), for evaluation.
  void run_forward_eval();

  // A graph output after run_step: its view (valid until the next step).
  Tensor output(size_t index) const;
  float loss() const;  // output 0, a scalar

  int64_t arena_bytes() const { return arena_bytes_; }
  int64_t arena_peak_bytes() const { return arena_peak_; }        // highest byte handed to a kernel
  int64_t arena_canary_peak_bytes() const { return canary_peak_; } // highest byte changed (first step)
  int64_t persistent_bytes() const { return persistent_bytes_; }
  std::string plan_fingerprint() const { return runtime::plan_fingerprint(*plan_); }

 private:
  void* value_ptr(planner::ValueId v) const;
  void run_compute(const planner::PlanStep& s, Mode mode, int64_t iteration);
  void run_backward(const planner::PlanStep& s, int64_t iteration);
  Tensor view(planner::ValueId v) const;
  void note_view(planner::ValueId v);

  std::shared_ptr<const planner::Plan> plan_;
  const KernelTable& kernels_;
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
  std::vector<ParamBuffer> params_;
  std::vector<void*> value_ptr_;          // per plan value; arena values resolved once
  std::vector<planner::ValueId> output_values_;  // the forward values of the graph outputs
  float loss_seed_ = 1.0f;                       // d loss / d loss, the loss node's output gradient
};

}  // namespace sublinear::runtime
