#include "runtime/plugin_loader.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <vector>

namespace sublinear::runtime {

namespace {

namespace fs = std::filesystem;

std::vector<std::string> candidates(const PluginSpec& spec) {
  std::vector<std::string> out;
  if (const char* env = std::getenv(spec.env); env != nullptr && *env != '\0') {
    out.emplace_back(env);
    return out;
  }
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return out;
  out.push_back((exe.parent_path() / spec.file).string());
  out.push_back((exe.parent_path().parent_path() / "lib" / "sublinear" / spec.file).string());
  return out;
}

}  // namespace

const void* load_plugin(const PluginSpec& spec, std::string* why) {
  const std::string what = spec.what;
  std::string tried, reason;
  for (const std::string& path : candidates(spec)) {
    std::error_code ec;
    if (!fs::exists(path, ec)) {
      tried += (tried.empty() ? "" : ", ") + path;
      continue;
    }
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) {
      const char* e = dlerror();
      reason = "cannot load " + what + " " + path + ": " + (e ? e : "dlopen failed");
    } else if (auto entry = reinterpret_cast<const void* (*)()>(dlsym(h, spec.symbol)); entry == nullptr) {
      reason = what + " " + path + " has no " + spec.symbol + ": not a sublinear plug-in";
    } else {
      const void* api = entry();
      // Every plug-in API starts with its build id (the common initial member of the structs).
      const char* id = api ? *static_cast<const char* const*>(api) : nullptr;
      if (id != nullptr && std::string(id) == SUBLINEAR_BUILD_ID) return api;
      reason = what + " " + path + " belongs to another build of sublinear (build " + (id ? id : "?") +
               ", this executable " + SUBLINEAR_BUILD_ID + "); use the " + spec.file + " built with this executable";
    }
    if (why != nullptr) *why = reason;
    return nullptr;
  }
  if (why != nullptr)
    *why = what + " (" + spec.file + ") is not where this executable looks for it (" + tried + "); set " +
           spec.env + " to its path";
  return nullptr;
}

}  // namespace sublinear::runtime
