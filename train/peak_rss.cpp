// Process memory from /proc/self/status (kB figures), with getrusage as the fallback for the peak.
#include "train/peak_rss.h"

#include <sys/resource.h>

#include <cstdio>
#include <cstring>

namespace sublinear::runtime::train {

namespace {

// The "<field>:   1234 kB" line of /proc/self/status, in bytes; -1 when absent.
int64_t status_field(const char* field) {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return -1;
  char line[256];
  int64_t out = -1;
  const size_t n = std::strlen(field);
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, field, n) == 0 && line[n] == ':') {
      long long kb = 0;
      if (std::sscanf(line + n + 1, "%lld", &kb) == 1) out = static_cast<int64_t>(kb) * 1024;
      break;
    }
  }
  std::fclose(f);
  return out;
}

}  // namespace

int64_t peak_rss_bytes() {
  const int64_t hwm = status_field("VmHWM");
  if (hwm >= 0) return hwm;
  struct rusage ru {};
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  return static_cast<int64_t>(ru.ru_maxrss) * 1024;  // Linux reports KiB
}

int64_t current_rss_bytes() {
  const int64_t rss = status_field("VmRSS");
  return rss >= 0 ? rss : 0;
}

}  // namespace sublinear::runtime::train
