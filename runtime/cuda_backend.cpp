#include "runtime/cuda_backend.h"

#include <mutex>

#include "runtime/plugin_loader.h"

namespace sublinear::runtime {

namespace {

struct Loaded {
  const CudaBackendApi* api = nullptr;
  std::string why;
};

Loaded load() {
  Loaded r;
  if (!cuda_backend_built()) {
    r.why = "this sublinear was built without the CUDA backend (no CUDA toolkit at configure time)";
    return r;
  }
  static constexpr PluginSpec kSpec{"the CUDA backend", kCudaBackendFile, kCudaBackendSymbol, "SUBLINEAR_CUDA_BACKEND"};
  r.api = static_cast<const CudaBackendApi*>(load_plugin(kSpec, &r.why));
  return r;
}

}  // namespace

bool cuda_backend_built() {
#ifdef SUBLINEAR_CUDA_BACKEND_BUILT
  return true;
#else
  return false;
#endif
}

const CudaBackendApi* load_cuda_backend(std::string* why) {
  static std::once_flag once;
  static Loaded loaded;
  std::call_once(once, [] { loaded = load(); });
  if (loaded.api == nullptr && why != nullptr) *why = loaded.why;
  return loaded.api;
}

}  // namespace sublinear::runtime
