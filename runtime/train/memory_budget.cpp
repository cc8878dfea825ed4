#include "runtime/train/memory_budget.h"

#include <fstream>
#include <sstream>

#include "ir/format_util.h"

namespace sublinear::runtime::train {

namespace {

CudaFreeMemory& cuda_free_memory() {
  static CudaFreeMemory query;
  return query;
}

}  // namespace

void register_cuda_free_memory(CudaFreeMemory query) { cuda_free_memory() = std::move(query); }

std::optional<int64_t> cpu_available_bytes(const std::string& meminfo) {
  std::ifstream in(meminfo);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("MemAvailable:", 0) != 0) continue;
    std::istringstream fields(line.substr(13));
    int64_t kib = -1;
    std::string unit;
    if (!(fields >> kib >> unit) || kib < 0 || unit != "kB") return std::nullopt;
    return kib * 1024;
  }
  return std::nullopt;
}

AutoBudget auto_memory_budget(const ExperimentConfig& cfg) {
  AutoBudget b;
  std::optional<int64_t> free;
  if (cfg.device.kind == DeviceKind::Cuda) {
    if (cuda_free_memory()) free = cuda_free_memory()(cfg.device.index);
    if (!free)
      throw ConfigError(cfg.loc("memory.budget"), "auto: cannot query the free memory of " +
                                                      cfg.device.str() + "; give a size such as 60GiB");
    b.source = "free on " + cfg.device.str() + " (cudaMemGetInfo)";
  } else {
    free = cpu_available_bytes();
    if (!free)
      throw ConfigError(cfg.loc("memory.budget"),
                        "auto: /proc/meminfo has no MemAvailable here; give a size such as 8GiB");
    b.source = "available on this machine (MemAvailable)";
  }
  b.free_bytes = *free;
  b.bytes = static_cast<int64_t>(static_cast<double>(*free) * kAutoBudgetShare);
  return b;
}

}  // namespace sublinear::runtime::train
