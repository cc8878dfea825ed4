#pragma once
// What the training loop drives: one compiled training step over persistent buffers, with its
// optimizer update and checkpointable state. The executor (runtime/executor.h) interprets a plan on the
// CPU; a generated trainer (codegen/) runs the same schedule as straight-line code; the CUDA backend
// keeps everything on the device. The loop (trainer.h) needs only this much of any of them.
//
// Rules: inputs() are host buffers the data source fills before run_step (a device program uploads
// them); loss() and output() are host values after run_step; save_state() adds every parameter
// (running statistics included) as "param/<name>" and every optimizer slot as "opt0/<name>",
// "opt1/<name>", with memory that stays valid until the next run_step; load_state() restores them.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/executor.h"
#include "runtime/checkpoint.h"
#include "runtime/optimizer.h"

namespace sublinear::runtime::train {

// What a device program holds on its device, from its own allocations, and what the device has in use.
// The CPU programs report none: their feature maps are the measured arena, the rest shows in the RSS.
struct DeviceMemory {
  std::string device;         // "cuda:0"
  int64_t arena = 0;          // the feature-map arena as allocated
  int64_t workspace = 0;      // the scratch kernels share (convolution workspaces, reductions)
  int64_t persistent = 0;     // inputs, parameters, gradients, optimizer state, the loss seed
  int64_t library = 0;        // buffers the backend's context keeps besides (cuBLAS workspace, error slot)
  int64_t in_use = 0;         // total minus free on the device: CUDA context, libraries, other processes
  int64_t allocated() const { return arena + workspace + persistent + library; }
};

class TrainingProgram {
 public:
  virtual ~TrainingProgram() = default;
  virtual const planner::Plan& plan() const = 0;
  virtual std::vector<Tensor>& inputs() = 0;
  virtual void init_params() = 0;
  virtual void run_step(int64_t iteration) = 0;
  virtual void apply_optimizer(const OptimizerConfig& c, double lr, int64_t step) = 0;
  virtual float loss() const = 0;
  virtual float output_scalar(size_t index) const = 0;  // a scalar f32 graph output (accuracy)
  virtual int64_t arena_peak_bytes() const = 0;          // measured
  virtual std::string plan_fingerprint() const = 0;
  virtual void save_state(CheckpointContents& c) = 0;
  virtual void load_state(const CheckpointContents& c) = 0;
  virtual std::optional<DeviceMemory> device_memory() const { return std::nullopt; }
  // Data-parallel training (train/workers): the parameters with host gradient buffers the workers sum
  // after run_step; null where the gradients live elsewhere (a device program).
  virtual std::vector<ParamBuffer>* host_params() { return nullptr; }
  // Parameters with a gradient, in the order run_step finishes them; and a hook run_step then calls (on
  // its own thread) as each becomes final, so their sum overlaps the rest of the backward pass. Both
  // empty / false where the program cannot say (a compiled schedule runs the steps).
  virtual std::vector<size_t> gradient_ready_order() const { return {}; }
  // Data-parallel on devices: worker 0 makes the bootstrap id of the device's collective library (NCCL;
  // empty where the program has none), every worker joins with it, and from then on run_step leaves each
  // gradient the mean over the workers. std::runtime_error when the library is missing or fails.
  virtual std::string make_device_reduce_id() { return {}; }
  virtual std::string join_device_reduce(const std::string& /*id*/, int /*rank*/, int /*workers*/) { return {}; }
  // Makes this program worker `rank` of a data-parallel run (OpCall::shard: its dropout masks); false
  // where it cannot (a compiled schedule builds its own calls).
  virtual bool set_worker(int rank) { return rank == 0; }
  virtual bool set_gradient_ready_hook(std::function<void(size_t param)> /*hook*/) { return false; }
  // `train --profile`: time every plan step from now on; false where this program cannot.
  virtual bool start_profiling() { return false; }
  // Seconds per plan step of the last run_step, in plan order, once profiling.
  virtual const std::vector<double>* step_seconds() const { return nullptr; }
};

// Builds the program for a plan (the executor over CPU kernels by default; a generated trainer passes
// its own; the CUDA backend makes device programs).
using ProgramFactory =
    std::function<std::unique_ptr<TrainingProgram>(std::shared_ptr<const planner::Plan>, uint64_t seed)>;
// A device's factory, for `device: cuda:N`.
using DeviceFactoryMaker = std::function<ProgramFactory(int device, bool deterministic)>;

// Optimizer state and checkpointing over host parameter buffers: shared by every CPU program.
class HostOptimizerState {
 public:
  void apply(std::vector<ParamBuffer>& params, const OptimizerConfig& c, double lr, int64_t step);
  void save(const std::vector<ParamBuffer>& params, CheckpointContents& c) const;
  void load(std::vector<ParamBuffer>& params, const CheckpointContents& c);

 private:
  void ensure(const std::vector<ParamBuffer>& params, int slots);
  std::vector<std::vector<float>> s0_, s1_;  // per param; empty without state
  int slots_ = -1;
};

// The interpreter over a plan, on the CPU kernels.
class ExecutorProgram : public TrainingProgram {
 public:
  ExecutorProgram(std::shared_ptr<const planner::Plan> plan, const KernelTable& kernels, ExecutorOptions o)
      : ex_(std::move(plan), kernels, o) {}
  const planner::Plan& plan() const override { return ex_.plan(); }
  std::vector<Tensor>& inputs() override { return ex_.inputs(); }
  void init_params() override { ex_.init_params(); }
  void run_step(int64_t iteration) override { ex_.run_step(iteration); }
  void apply_optimizer(const OptimizerConfig& c, double lr, int64_t step) override {
    opt_.apply(ex_.params(), c, lr, step);
  }
  float loss() const override { return ex_.loss(); }
  float output_scalar(size_t index) const override;
  int64_t arena_peak_bytes() const override { return ex_.arena_peak_bytes(); }
  std::string plan_fingerprint() const override { return ex_.plan_fingerprint(); }
  void save_state(CheckpointContents& c) override { opt_.save(ex_.params(), c); }
  void load_state(const CheckpointContents& c) override { opt_.load(ex_.params(), c); }
  bool start_profiling() override { return ex_.start_profiling(); }
  const std::vector<double>* step_seconds() const override { return &ex_.step_seconds(); }
  std::vector<ParamBuffer>* host_params() override { return &ex_.params(); }
  std::vector<size_t> gradient_ready_order() const override;
  bool set_worker(int rank) override { return ex_.set_shard(rank); }
  bool set_gradient_ready_hook(std::function<void(size_t param)> hook) override;
  Executor& executor() { return ex_; }

 private:
  // Per plan step, the parameters whose gradient that step finishes (the last backward step writing it).
  std::vector<std::vector<size_t>> finished_at_step() const;

  Executor ex_;
  HostOptimizerState opt_;
};

}  // namespace sublinear::runtime::train
