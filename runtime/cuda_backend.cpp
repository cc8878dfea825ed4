#include "runtime/cuda_backend.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <vector>


namespace sublinear::runtime {

namespace {

namespace fs = std::filesystem;

std::vector<std::string> candidates() {
  std::vector<std::string> out;
  if (const char* env = std::getenv("SUBLINEAR_CUDA_BACKEND"); env != nullptr && *env != '\0') {
    out.emplace_back(env);
    return out;
  }
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return out;
  out.push_back((exe.parent_path() / kCudaBackendFile).string());
  out.push_back((exe.parent_path().parent_path() / "lib" / "sublinear" / kCudaBackendFile).string());
  return out;
}

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
  std::string tried;
  for (const std::string& path : candidates()) {
    std::error_code ec;
    if (!fs::exists(path, ec)) {
      tried += (tried.empty() ? "" : ", ") + path;
      continue;
    }
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) {
      const char* e = dlerror();
      r.why = "cannot load the CUDA backend " + path + ": " + (e ? e : "dlopen failed");
      return r;
    }
    using Entry = const CudaBackendApi* (*)();
    auto entry = reinterpret_cast<Entry>(dlsym(h, kCudaBackendSymbol));
    if (entry == nullptr) {
      r.why = "the CUDA backend " + path + " has no " + kCudaBackendSymbol + ": not a sublinear CUDA backend";
      return r;
    }
    const CudaBackendApi* api = entry();
    if (api == nullptr || std::string(api->build_id) != SUBLINEAR_BUILD_ID) {
      r.why = "the CUDA backend " + path + " belongs to another build of sublinear (build " +
              (api ? api->build_id : "?") + ", this executable " + SUBLINEAR_BUILD_ID +
              "); use the libsublinear_cuda_backend.so built with this executable";
      return r;
    }
    r.api = api;
    return r;
  }
  r.why = "the CUDA backend (" + std::string(kCudaBackendFile) + ") is not where this executable looks for it (" +
          tried + "); set SUBLINEAR_CUDA_BACKEND to its path";
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
