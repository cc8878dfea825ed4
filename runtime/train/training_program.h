#pragma once
// What the training loop drives: one compiled training step over persistent buffers. The executor
// (runtime/executor.h) interprets a plan; a generated trainer (codegen) runs the same schedule as
// straight-line code. The loop (trainer.h) only needs this much of either.
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/executor.h"

namespace sublinear::runtime::train {

class TrainingProgram {
 public:
  virtual ~TrainingProgram() = default;
  virtual const planner::Plan& plan() const = 0;
  virtual std::vector<Tensor>& inputs() = 0;
  virtual std::vector<ParamBuffer>& params() = 0;
  virtual void init_params() = 0;
  virtual void run_step(int64_t iteration) = 0;
  virtual float loss() const = 0;
  virtual Tensor output(size_t index) const = 0;
  virtual int64_t arena_peak_bytes() const = 0;  // measured
  virtual std::string plan_fingerprint() const = 0;
};

// The interpreter over a plan.
class ExecutorProgram : public TrainingProgram {
 public:
  ExecutorProgram(std::shared_ptr<const planner::Plan> plan, const KernelTable& kernels, ExecutorOptions o)
      : ex_(std::move(plan), kernels, o) {}
  const planner::Plan& plan() const override { return ex_.plan(); }
  std::vector<Tensor>& inputs() override { return ex_.inputs(); }
  std::vector<ParamBuffer>& params() override { return ex_.params(); }
  void init_params() override { ex_.init_params(); }
  void run_step(int64_t iteration) override { ex_.run_step(iteration); }
  float loss() const override { return ex_.loss(); }
  Tensor output(size_t index) const override { return ex_.output(index); }
  int64_t arena_peak_bytes() const override { return ex_.arena_peak_bytes(); }
  std::string plan_fingerprint() const override { return ex_.plan_fingerprint(); }

 private:
  Executor ex_;
};

}  // namespace sublinear::runtime::train
