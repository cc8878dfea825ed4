#pragma once
// memory.budget: auto, resolved when a run starts: a stated share of the memory free on the device the
// run uses, so a budget plan fits the machine without the user measuring it.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "train/experiment_config.h"

namespace sublinear::runtime::train {

// The share of the free memory an auto budget takes; the rest is left for what the plan does not
// count (the process's code and heap, library buffers, the data pipeline, other processes).
inline constexpr double kAutoBudgetShare = 0.9;

struct AutoBudget {
  int64_t bytes = 0;       // the budget: kAutoBudgetShare of free_bytes
  int64_t free_bytes = 0;
  std::string source;      // where free_bytes came from, for the plan summary
};

// The free memory of CUDA device N (cudaMemGetInfo); registered by binaries built with the CUDA backend.
using CudaFreeMemory = std::function<std::optional<int64_t>(int device)>;
void register_cuda_free_memory(CudaFreeMemory query);

// MemAvailable of a /proc/meminfo-format file, in bytes; nullopt when the file or the line is missing.
std::optional<int64_t> cpu_available_bytes(const std::string& meminfo = "/proc/meminfo");

// A cgroup's memory limit minus its usage (v2: memory.max and memory.current; v1: memory.limit_in_bytes
// and memory.usage_in_bytes); nullopt when either file is missing or there is no limit.
std::optional<int64_t> cgroup_memory_room(const std::string& limit_file, const std::string& usage_file);

// The memory a CPU run may still use: MemAvailable, or the cgroup's room when that is smaller; nullopt
// without /proc/meminfo.
struct FreeMemory {
  int64_t bytes = 0;
  std::string source;  // "available on this machine (MemAvailable)", or the cgroup's
};
std::optional<FreeMemory> cpu_free_memory();

// The auto budget for cfg.device (on cpu, the smaller of MemAvailable and the cgroup's room). A ConfigError at memory.budget when the free memory cannot be known
// (no /proc/meminfo, a CUDA device this binary cannot query).
AutoBudget auto_memory_budget(const ExperimentConfig& cfg);

}  // namespace sublinear::runtime::train
