#pragma once
// Where the tests find the source tree (example models, data): $SUBLINEAR_SOURCE_DIR when set (a test
// binary carried to another machine, e.g. in scripts/device_bundle.sh's folder, whose checkout is
// elsewhere), else the tree it was built from.
#include <cstdlib>
#include <string>

namespace sublinear::testing {

inline std::string source_dir() {
  const char* env = std::getenv("SUBLINEAR_SOURCE_DIR");
  return env != nullptr && *env != '\0' ? std::string(env) : std::string(SUBLINEAR_SOURCE_DIR);
}

}  // namespace sublinear::testing
