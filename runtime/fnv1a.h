#pragma once
// FNV-1a 64: the checksum of checkpoint files and the experiment hash. Chosen for being specified in a
// few lines (any tool can recompute it), not for speed or strength against deliberate tampering.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sublinear::runtime::train {

constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ULL;
constexpr uint64_t kFnvPrime = 0x100000001b3ULL;

// Continues hash `h` over `n` bytes at `p` (start with kFnvOffset).
inline uint64_t fnv1a64(const void* p, size_t n, uint64_t h = kFnvOffset) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; ++i) {
    h ^= b[i];
    h *= kFnvPrime;
  }
  return h;
}

inline uint64_t fnv1a64(std::string_view s, uint64_t h = kFnvOffset) { return fnv1a64(s.data(), s.size(), h); }

}  // namespace sublinear::runtime::train
