#include "train/cuda_plugin.h"

#include <stdexcept>
#include <string>

#include "runtime/cuda_backend.h"
#include "train/memory_budget.h"
#include "train/trainer.h"

namespace sublinear::runtime::train {
namespace {

const CudaBackendApi& require(const std::string& what) {
  std::string why;
  const CudaBackendApi* api = load_cuda_backend(&why);
  if (api == nullptr) throw std::runtime_error(what + ": " + why);
  return *api;
}

}  // namespace

void register_cuda_backend_plugin() {
  if (!cuda_backend_built()) return;
  register_cuda_program_factory([](int device, bool deterministic) -> ProgramFactory {
    return require("device cuda:" + std::to_string(device)).program_factory(device, deterministic);
  });
  register_cuda_device_count([] { return require("the CUDA devices").device_count(); });
  register_cuda_free_memory([](int device) -> std::optional<int64_t> {
    const auto free = require("the free memory of cuda:" + std::to_string(device)).free_bytes(device);
    if (free && *free > 0) return static_cast<int64_t>(*free);
    return std::nullopt;
  });
}

}  // namespace sublinear::runtime::train
