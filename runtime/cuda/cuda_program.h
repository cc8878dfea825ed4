#pragma once
// A training program on one CUDA device: the executor's schedule (runtime/executor.h) with every buffer in
// device memory and every kernel from the CUDA table, behind the TrainingProgram interface the trainer
// drives.
// Rules:
// - Memory is allocated once, at construction, after checking that the plan fits: one block for the
//   feature-map arena (plan.feature_map_peak_bytes), one for everything persistent (inputs, parameters,
//   gradients, optimizer state, the loss seed 1.0f), the context's scratch (the largest of the plan's
//   workspace and what the kernels reserve) and small pinned host buffers. run_step allocates nothing.
// - inputs() are pinned host buffers. run_step uploads them on a copy stream that waits only until the
//   previous step's kernels stopped reading the device inputs, so the upload overlaps the previous
//   optimizer update; compute waits for the upload. inputs() waits for an upload still reading them.
// - Steps run the calls runtime/step_calls.h builds (the executor's), built once and reused since views
//   never move; or, for a trainer made by `sublinear compile --backend cuda`, the compiled schedule it
//   hands in (compiled_schedule.h), over the same device buffers.
// - Scalar graph outputs and the device error slot are copied to pinned memory at the end of each step;
//   loss() and output_scalar() wait for that copy only (not for the optimizer that follows), then throw
//   the data error a kernel recorded, if any.
// - apply_optimizer is one kernel over all parameters with runtime/optimizer.h's arithmetic;
//   optimizer state lives on the device and reaches the host only through save_state (staged copies that
//   stay valid until the next run_step, named "param/<name>", "opt0/<name>", "opt1/<name>").
// - Parameters are initialised on the host by runtime::init_param, so both backends start bitwise equal.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/compiled_schedule.h"
#include "runtime/cuda/nccl_reducer.h"
#include "runtime/training_program.h"

namespace sublinear::runtime::cuda {

class CudaContext;
struct OptimizerScalars;  // cuda_optimizer.h: kept out of this header, which must not need the CUDA headers

// Whether CUDA device `device` exists and runs this build's kernels; `why` says what is missing if not.
bool cuda_device_usable(std::string* why, int device = 0);

// Device memory a plan needs on the CUDA backend beyond what cudaMemGetInfo already counts as used, split
// as the error message reports it.
struct CudaMemoryNeed {
  int64_t arena = 0, scratch = 0, persistent = 0, library = 0;
  int64_t total() const { return arena + scratch + persistent + library; }
};

class CudaProgram final : public train::TrainingProgram {
 public:
  // Throws std::runtime_error when the device is unusable or the plan does not fit in its free memory.
  CudaProgram(std::shared_ptr<const planner::Plan> plan, uint64_t seed, int device, bool deterministic,
              const ScheduleMaker& schedule = {});
  ~CudaProgram() override;
  CudaProgram(const CudaProgram&) = delete;
  CudaProgram& operator=(const CudaProgram&) = delete;

  const planner::Plan& plan() const override { return *plan_; }
  std::vector<Tensor>& inputs() override;
  void init_params() override;
  void run_step(int64_t iteration) override;
  void apply_optimizer(const train::OptimizerConfig& c, double lr, int64_t step) override;
  float loss() const override;
  float output_scalar(size_t index) const override;
  int64_t arena_peak_bytes() const override { return arena_peak_; }
  std::string plan_fingerprint() const override;
  void save_state(train::CheckpointContents& c) override;
  void load_state(const train::CheckpointContents& c) override;
  std::optional<train::DeviceMemory> device_memory() const override;
  bool set_worker(int rank) override;
  std::string make_device_reduce_id() override;
  // Returns what joined ("NCCL 2.28.9, rank 0 of 2").
  std::string join_device_reduce(const std::string& id, int rank, int workers) override;

  // Beyond the interface, for tests and reports.
  void run_forward_eval();  // forward steps only, Mode::Eval (running statistics, no dropout)
  // Parameter metadata; data/grad are device pointers.
  const std::vector<ParamBuffer>& params() const { return params_; }
  std::vector<float> download_param(size_t i) const;  // values (i32 params as raw bits)
  std::vector<float> download_grad(size_t i) const;   // empty for a parameter without a gradient buffer
  std::vector<float> download_output(size_t index) const;
  const CudaMemoryNeed& memory() const { return need_; }
  CudaContext& context() { return *ctx_; }

 private:
  struct Impl;
  void ensure_state(int slots);
  void upload_inputs();  // the pinned inputs to the device, on the copy stream
  void copy_outputs();   // scalar outputs and the error slot to pinned memory, after the step's kernels
  void sync() const;

  std::shared_ptr<const planner::Plan> plan_;
  uint64_t seed_ = 0;
  std::unique_ptr<CudaContext> ctx_;
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<NcclReducer> nccl_;  // data-parallel runs only
  std::vector<Tensor> inputs_;       // pinned host views
  std::vector<ParamBuffer> params_;  // device pointers
  CudaMemoryNeed need_;
  int64_t arena_peak_ = 0;
};

// The device optimizer's hyper-parameters for one step: optimizer.cpp's f32 roundings, in its order (every
// parameter decays, as HostOptimizerState applies it).
OptimizerScalars optimizer_scalars(const train::OptimizerConfig& c, double lr, int64_t step);

// The factory the trainer uses for `device: cuda:N`.
std::unique_ptr<train::TrainingProgram> make_cuda_program(std::shared_ptr<const planner::Plan> plan, uint64_t seed,
                                                          int device, bool deterministic,
                                                          const ScheduleMaker& schedule = {});
// The same as a trainer ProgramFactory, for a caller that links this library and hands train() a
// factory (sublinear_runtime itself cannot name this library without a dependency cycle).
train::ProgramFactory cuda_program_factory(int device, bool deterministic);

}  // namespace sublinear::runtime::cuda
