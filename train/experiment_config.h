#pragma once
// An experiment: one YAML file (plus `--set key=value` overrides) that says what to train, on what data,
// with which memory policy and optimizer, for how long, and where the run's files go. Loading validates
// everything that can be checked without opening the data or planning the model; every mistake is a
// ConfigError naming the file, line, column and dotted key (or "--set" for an override).
//
// Schema (dotted keys; "-" = no default):
//   model.file            -         the .snet file; relative to the YAML file's folder (required)
//   model.params          {}        map name -> scalar, passed to the DSL as --set name=value, in order
//   model.name            ""        which model, when the file declares several
//   batch                 -         batch size N, > 0 (required)
//   device                cpu       cpu | cuda | cuda:N
//   seed                  0         unsigned 64-bit; seeds initialisation, dropout and the data order
//   steps | epochs        -         exactly one (required): optimizer steps, or passes over the data
//                                   (epochs may be fractional: steps = ceil(epochs * epoch size / batch))
//   data.kind             synthetic synthetic | imagenet | text
//   data.root             ""        imagenet: folder of class folders (required for imagenet); relative to
//                                   the YAML folder
//   data.path             ""        text: the file (required for text); relative to the YAML folder
//   data.level            char      text: char | byte
//   data.workers          4         decoding threads, >= 1
//   data.prefetch         4         batches prepared ahead, >= 1
//   data.shuffle          true
//   data.min_scale        0.08      random-resized-crop area fraction, in (0, 1]
//   data.max_scale        1.0       in [min_scale, 1]
//   data.flip             true      random horizontal flip
//   data.mean             [0.485, 0.456, 0.406]   per-channel normalisation of x / 255
//   data.std              [0.229, 0.224, 0.225]   > 0, as many values as mean
//   memory.policy         none      none | drop-cheap | sqrt | log | budget; budget when only memory.budget
//                                   is given
//   memory.budget         -         total peak bytes, "6GiB", "512MiB", "1.5GB" or a byte count, or auto
//                                   (90% of the device's free memory when the run starts: cudaMemGetInfo
//                                   on cuda, MemAvailable on cpu); required by (and only allowed with)
//                                   policy budget
//   memory.costs          -         a profile.json written by `train --profile`: the planner costs
//                                   recomputation by measured forward time instead of FLOPs
//   memory.inplace        true      fold element-wise ops into their input's buffer
//   memory.sharing        true      share arena buffers between values with disjoint lifetimes
//   optimizer.kind        sgd       sgd | adam
//   optimizer.lr          0.1 (sgd), 0.001 (adam)   base rate, >= 0
//   optimizer.momentum    0.9       sgd only, in [0, 1); 0 = plain SGD
//   optimizer.nesterov    false     sgd only; needs momentum > 0
//   optimizer.weight_decay 0        L2 added to the gradient (sgd and adam), >= 0
//   optimizer.beta1       0.9       adam only, in [0, 1)
//   optimizer.beta2       0.999     adam only, in [0, 1)
//   optimizer.eps         1e-8      adam only, > 0
//   schedule.kind         constant  constant | step | cosine
//   schedule.warmup_steps 0         linear warm-up from 0, >= 0
//   schedule.step_size    -         step: decay every step_size steps, > 0 (required for step)
//   schedule.gamma        0.1       step: decay factor, in (0, 1]
//   schedule.min_lr       0         cosine: final rate, >= 0
//   log.every             10        steps between metrics lines and plain progress lines, > 0
//   log.file              <run_dir>/metrics.jsonl
//   run_dir               runs/<YAML file stem>, under the working directory (a value written in the
//                                   YAML is relative to the YAML folder, like every path in it)
//   checkpoint.every      0         steps between checkpoints; 0 = no checkpoints
//   checkpoint.keep       3         the N most recent checkpoints are kept, >= 1
//   checkpoint.dir        <run_dir>/checkpoints
//   deterministic         false     GPU backend: choose deterministic kernels only
//
// Paths: written in the YAML they are relative to the YAML file's folder; given by --set they are relative
// to the working directory (as a shell user expects); either way they are stored absolute, so the resolved
// configuration means the same wherever it is read from.
//
// Overrides ("a.b=value") are applied to the YAML tree before validation, in order: maps are created as
// needed, the value is parsed as YAML (a scalar or a flow list/map: data.mean=[0.5,0.5,0.5]), and
// model.params.depth=50 sets a model param; a null value (memory.budget=null, or memory.budget=) removes
// the key, restoring its default.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "planner/policies.h"
#include "train/config_error.h"
#include "train/data/data_config.h"
#include "train/lr_schedule.h"
#include "runtime/optimizer.h"

namespace sublinear::runtime::train {

struct ModelConfig {
  std::string file;  // absolute
  std::string name;  // empty: the file's only (or main) model
  std::vector<std::pair<std::string, std::string>> params;  // name -> value text, in order
  std::vector<std::string> set_args() const;                // {"depth=50", ...}
};

enum class DeviceKind { Cpu, Cuda };

struct DeviceConfig {
  DeviceKind kind = DeviceKind::Cpu;
  int index = 0;          // cuda:N
  std::string str() const;  // "cpu", "cuda:0"
};

struct MemoryConfig {
  std::string policy = "none";         // none | drop-cheap | sqrt | log | budget
  std::optional<int64_t> budget_bytes; // set when policy == "budget", unless budget_auto
  bool budget_auto = false;            // memory.budget: auto, resolved by the run (auto_memory_budget)
  std::string costs;                   // a profile.json (train --profile): recomputation costed in time
  bool inplace = true;
  bool sharing = true;
  bool fusion = true;                  // memory.fusion: fuse batch_norm + relu and the like (ir/fusion.h)
};

// Data-parallel runs (mpirun -np K): how the gradients are summed. Ignored by a single process.
struct WorkersConfig {
  int64_t bucket_bytes = int64_t{25} << 20;  // workers.bucket: gradients summed per bucket (DDP's 25 MiB)
  bool overlap = true;                       // workers.overlap: sum a bucket while the backward pass goes on
};

struct LogConfig {
  int64_t every = 10;
  std::string file;  // absolute; default <run_dir>/metrics.jsonl
};

struct CheckpointConfig {
  int64_t every = 0;  // 0 = off
  int keep = 3;
  std::string dir;    // default <run_dir>/checkpoints
};

struct ExperimentConfig {
  std::string file;  // the YAML file as given (parse_experiment: the name it was passed)
  std::string dir;   // its folder, absolute: what relative paths in it are resolved against

  ModelConfig model;
  int64_t batch = 0;
  DeviceConfig device;
  uint64_t seed = 0;
  int64_t steps = 0;   // exactly one of steps and epochs is > 0
  double epochs = 0;
  data::DataConfig data;
  MemoryConfig memory;
  OptimizerConfig optimizer;
  ScheduleConfig schedule;
  LogConfig log;
  std::string run_dir;
  CheckpointConfig checkpoint;
  bool deterministic = false;
  WorkersConfig workers;

  std::vector<std::string> overrides;  // as given, in order
  ConfigLocs locs;                     // every key present (dotted) -> where it was set

  // Where `key` was set (a YAML line or "--set"), or the file with line 0 when it was left at its default:
  // for errors found later (a model that does not load, a device that is not there).
  ConfigLoc loc(const std::string& key) const { return locs.at(key); }

  // The run length in steps: `steps`, or epochs converted once the data source's epoch size (samples) is
  // known. ConfigError at `epochs` when epoch_size is 0 (an unbounded source such as synthetic data).
  int64_t total_steps(int64_t epoch_size) const;

  // The planner request for this experiment (policy, budget, inplace/sharing, optimizer state class).
  // memory.budget: auto needs `auto_budget` (auto_memory_budget's bytes); a ConfigError at memory.budget
  // without it.
  planner::PlanRequest plan_request(std::optional<int64_t> auto_budget = std::nullopt) const;

  // The resolved configuration (defaults filled, paths absolute, overrides applied): to_json for the run
  // directory's record, to_yaml as a file load_experiment reads back to the same configuration.
  nlohmann::ordered_json to_json() const;
  std::string to_yaml() const;

  // FNV-1a 64 of what determines the numbers a run computes (model, params, batch, seed, length, data,
  // optimizer, schedule): a checkpoint written under another hash is not a resume of this experiment.
  // Device, memory policy, logging, run and checkpoint locations are left out: they do not change the math
  // (recomputation is exact), and resuming under a different memory policy is legitimate.
  uint64_t hash() const;
};

// Reads, overrides and validates. A missing or unreadable file, YAML syntax errors and every schema
// violation are ConfigErrors.
ExperimentConfig load_experiment(const std::string& path, const std::vector<std::string>& overrides = {});

// The same from text in memory; `file` names it in errors and its folder resolves relative paths.
ExperimentConfig parse_experiment(const std::string& yaml_text, const std::string& file,
                                  const std::vector<std::string>& overrides = {});

}  // namespace sublinear::runtime::train
