#pragma once
// Counter-based random numbers: the value at (seed, iteration, node, index) is a pure function of those
// four numbers. Dropout draws its mask from here, so a recomputed dropout (or its backward, which reads
// nothing saved) replays exactly the mask of the forward pass, on any backend and in any order.
#include <cstdint>

#if defined(__CUDACC__)
#define SL_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define SL_HOST_DEVICE inline
#endif

namespace sublinear::runtime {

SL_HOST_DEVICE uint64_t mix64(uint64_t z) {
  // SplitMix64's finaliser: a bijection with full avalanche.
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

SL_HOST_DEVICE uint64_t counter_hash(uint64_t seed, uint64_t iteration, uint64_t node, uint64_t index) {
  uint64_t h = mix64(seed ^ 0x9e3779b97f4a7c15ULL);
  h = mix64(h ^ (iteration * 0xd1b54a32d192ed03ULL));
  h = mix64(h ^ (node * 0xabc98388fb8fac03ULL));
  return mix64(h ^ index);
}

// Uniform in [0, 1) with 24 random bits (exactly representable in float).
SL_HOST_DEVICE float counter_uniform(uint64_t seed, uint64_t iteration, uint64_t node, uint64_t index) {
  return static_cast<float>(counter_hash(seed, iteration, node, index) >> 40) * (1.0f / 16777216.0f);
}

// Dropout keeps an element when its uniform draw is >= rate.
SL_HOST_DEVICE bool dropout_keep(uint64_t seed, uint64_t iteration, uint64_t node, uint64_t index, float rate) {
  return counter_uniform(seed, iteration, node, index) >= rate;
}

}  // namespace sublinear::runtime
