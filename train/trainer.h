#pragma once
// The training loop behind `sublinear train` (and the generated trainers' main): experiment file →
// model → plan → program → data → steps with optimizer, metrics, progress and checkpoints. Rules:
// - The plan summary is printed before the first step: peak by category and what the strategy saved
//   against keeping every feature map (in-place and sharing still on).
// - A step is: next batch into the program's inputs, forward/recompute/backward, optimizer update with
//   the scheduled rate. `step` counts completed steps; dropout masks are keyed by the 0-based index.
// - Checkpoints hold parameters (running statistics included), optimizer state, the step, the RNG seed
//   and the data position; resuming from one continues bitwise as if the run had not stopped, and the
//   metrics file is cut back to the checkpoint's step so it matches an uninterrupted run's.
// - User errors (YAML, model, data) are reported with their location and a non-zero exit; nothing
//   already on disk (checkpoints) is removed by a failing run.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "train/experiment_config.h"
#include "runtime/training_program.h"

namespace sublinear::runtime::train {

struct TrainRequest {
  std::string experiment;               // YAML path
  std::vector<std::string> overrides;   // --set a.b=value, in order
  bool resume = false;
  std::optional<int64_t> steps;         // --steps N: total steps of the run
  std::string run_dir;                  // --run-dir: replaces the YAML's run_dir
  bool quiet = false;                   // no plan summary or progress (tests)
  bool profile = false;                 // --profile: time every step, write <run_dir>/profile.json
};

struct TrainResult {
  int64_t steps_done = 0;               // completed steps at the end (total)
  float last_loss = 0;
  int64_t planned_arena_bytes = 0;
  int64_t measured_arena_bytes = 0;
  int64_t rss_peak_bytes = 0;
  std::string run_dir;
};

// How `device: cuda:N` makes a device program: the CLI registers the CUDA plug-in (train/cuda_plugin.h),
// a generated CUDA trainer the backend it links. Without a registration, cuda is refused.
void register_cuda_program_factory(DeviceFactoryMaker maker);
// How many CUDA devices the process sees, for picking a data-parallel worker's GPU; without one
// registered, every local worker is offset (cuda:N + local rank).
void register_cuda_device_count(std::function<int()> count);

// The GPU of data-parallel worker `local_rank` for `device: cuda:N` (N = `asked`): N itself where the
// process sees one device (the launcher gave each worker its own: CUDA_VISIBLE_DEVICES per rank, srun
// --gpus-per-task), else N + local_rank (PyTorch's `cuda:local_rank`); -1 when that device is not there
// (more workers on the machine than GPUs). `visible` < 0 means unknown (taken as enough).
int worker_cuda_device(int asked, int local_rank, int visible);

// Runs the request. Throws ConfigError, UserError(s) (model) and std::runtime_error (I/O, data); the
// CLI turns them into messages and exit codes (run_train_cli).
TrainResult train(const TrainRequest& req, std::ostream& out, std::ostream& err, const ProgramFactory& factory = {});

// train() with errors printed to `err` (DSL diagnostics with carets); returns the exit code.
int run_train_cli(const TrainRequest& req, std::ostream& out, std::ostream& err, const ProgramFactory& factory = {});

}  // namespace sublinear::runtime::train
