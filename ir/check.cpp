#include "ir/check.h"

#include <cstdio>
#include <cstdlib>

namespace sublinear {

void internal_check_failed(const char* cond, const char* file, int line, const std::string& message) {
  std::fprintf(stderr, "sublinear: internal error at %s:%d: check failed: %s%s%s\n", file, line, cond,
               message.empty() ? "" : ": ", message.c_str());
  std::fprintf(stderr, "this is a bug in sublinear; please report it with the model that triggered it\n");
  std::fflush(stderr);
  std::abort();
}

}  // namespace sublinear
