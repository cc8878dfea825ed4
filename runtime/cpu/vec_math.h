#pragma once
// exp for loops that must vectorise: glibc's expf is a call per element (the compiler cannot vectorise
// it without -ffast-math), which made GELU's tanh form 40 ns an element. This one is branch-free
// arithmetic the compiler turns into SIMD code: Cody-Waite range reduction by ln 2 and Cephes' degree-6
// polynomial, accurate to about 2 ulp over [-87.3, 88.7]; below that it returns 0 (exp(-inf) too, so a
// masked score gives a probability of exactly 0), above it a large finite number rather than infinity,
// and NaN stays NaN. Deterministic: plain IEEE single-precision operations in a fixed order, the same on
// every machine with SSE2 or better.
#include <bit>
#include <cstdint>

namespace sublinear::runtime::cpu {

inline float vec_exp(float x) {
  // x = n ln2 + r, |r| <= ln2 / 2; n rounded with the 1.5 * 2^23 trick (exact for |x log2 e| < 2^22).
  // The selects vectorise only under -fno-trapping-math (CMakeLists.txt sets it for the runtime).
  float xc = x < -87.3f ? -87.3f : x;
  xc = xc > 88.7f ? 88.7f : xc;
  const float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = (xc - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * (r * r) + r + 1.0f;
  const float scale = std::bit_cast<float>(static_cast<int32_t>((static_cast<int32_t>(n) + 127) << 23));
  const float out = x < -87.3f ? 0.0f : y * scale;
  return x != x ? x : out;  // NaN in, NaN out
}

// tanh(u) = 1 - 2 / (exp(2u) + 1): absolute error about 1e-7 (relative error grows near 0, where the
// callers add it to 1).
inline float vec_tanh_abs(float u) { return 1.0f - 2.0f / (vec_exp(2.0f * u) + 1.0f); }

// tanh with a relative error of a few ulp everywhere (Cephes' tanhf): an odd polynomial below |x| = 0.625,
// 1 - 2 / (exp(2|x|) + 1) above, both computed and one selected so that loops vectorise.
inline float vec_tanh(float x) {
  const float a = x < 0.0f ? -x : x;
  const float big = 1.0f - 2.0f / (vec_exp(2.0f * a) + 1.0f);
  const float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = p * z * x + x;
  const float signed_big = x < 0.0f ? -big : big;
  const float r = a > 0.625f ? signed_big : small;
  return x != x ? x : r;
}

// 1 / (1 + exp(-x)); tends to 0 (not exactly) for x below -88.
inline float vec_sigmoid(float x) { return 1.0f / (1.0f + vec_exp(-x)); }

}  // namespace sublinear::runtime::cpu
