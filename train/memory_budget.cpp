#include "train/memory_budget.h"

#include <algorithm>
#include <fstream>
#include <stdexcept>
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
    // Beyond 2^53 KiB (8 ZiB) the file is not describing memory.
    if (!(fields >> kib >> unit) || kib < 0 || kib > (int64_t{1} << 53) || unit != "kB") return std::nullopt;
    return kib * 1024;
  }
  return std::nullopt;
}

std::optional<int64_t> cgroup_memory_room(const std::string& limit_file, const std::string& usage_file) {
  std::ifstream limit_in(limit_file), usage_in(usage_file);
  std::string limit_text;
  int64_t usage = 0;
  if (!(limit_in >> limit_text) || limit_text == "max" || !(usage_in >> usage) || usage < 0) return std::nullopt;
  try {
    const long long limit = std::stoll(limit_text);
    // cgroup v1 reports "no limit" as a huge page-rounded number.
    if (limit <= 0 || limit >= (int64_t{1} << 60)) return std::nullopt;
    return std::max<int64_t>(0, limit - usage);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<FreeMemory> cpu_free_memory() {
  const std::optional<int64_t> available = cpu_available_bytes();
  if (!available) return std::nullopt;
  FreeMemory f{*available, "available on this machine (MemAvailable)"};
  // In a container the cgroup's limit, not the host's memory, is what the run may use.
  std::optional<int64_t> room = cgroup_memory_room("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current");
  if (!room)
    room = cgroup_memory_room("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                              "/sys/fs/cgroup/memory/memory.usage_in_bytes");
  if (room && *room < f.bytes) f = FreeMemory{*room, "left under this container's memory limit (cgroup)"};
  return f;
}

AutoBudget auto_memory_budget(const ExperimentConfig& cfg) {
  AutoBudget b;
  std::optional<int64_t> free;
  if (cfg.device.kind == DeviceKind::Cuda) {
    if (cuda_free_memory()) {
      try {
        free = cuda_free_memory()(cfg.device.index);
      } catch (const std::runtime_error& e) {  // the CUDA plug-in cannot be loaded
        throw ConfigError(cfg.loc("memory.budget"), std::string("auto: ") + e.what());
      }
    }
    if (!free)
      throw ConfigError(cfg.loc("memory.budget"), "auto: cannot query the free memory of " +
                                                      cfg.device.str() + "; give a size such as 60GiB");
    b.source = "free on " + cfg.device.str() + " (cudaMemGetInfo)";
  } else {
    const std::optional<FreeMemory> cpu = cpu_free_memory();
    if (!cpu)
      throw ConfigError(cfg.loc("memory.budget"),
                        "auto: /proc/meminfo has no MemAvailable here; give a size such as 8GiB");
    free = cpu->bytes;
    b.source = cpu->source;
  }
  b.free_bytes = *free;
  b.bytes = static_cast<int64_t>(static_cast<double>(*free) * kAutoBudgetShare);
  return b;
}

}  // namespace sublinear::runtime::train
