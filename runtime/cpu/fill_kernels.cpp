// zeros, ones and full on the CPU, for every dtype the IR allows (f32, i32, bf16, f16). No gradients.
// Rules: the value is converted once, then stored bit pattern by bit pattern. Floats round to nearest
// even (bf16 and f16 overflow to infinity, NaN stays NaN); i32 truncates toward zero like a C cast, and
// a value that is not finite or does not fit in i32 throws std::runtime_error (a user's attribute, not
// a bug).
#include <bit>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "ir/check.h"
#include "runtime/cpu/cpu_kernels.h"
#include "runtime/cpu/cpu_util.h"

namespace sublinear::runtime::cpu {

namespace {

uint16_t to_bf16(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  if (std::isnan(f)) return static_cast<uint16_t>((u >> 16) | 0x40);  // keep it a (quiet) NaN
  // Round to nearest even on the 16 dropped bits; a carry into the exponent is the right result,
  // up to infinity.
  const uint32_t rounded = u + 0x7FFF + ((u >> 16) & 1);
  return static_cast<uint16_t>(rounded >> 16);
}

uint16_t to_f16(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000);
  const uint32_t abs = u & 0x7FFFFFFF;
  if (abs > 0x7F800000) return static_cast<uint16_t>(sign | 0x7E00);  // NaN
  if (abs >= 0x477FF000) return static_cast<uint16_t>(sign | 0x7C00);  // rounds to >= 65520: infinity
  const int exp = static_cast<int>(abs >> 23) - 127;
  if (exp >= -14) {
    // Normal half: keep 10 of the 23 mantissa bits, rounding to nearest even (a carry bumps the
    // exponent, which the bound above keeps below infinity).
    const uint32_t mant = abs & 0x7FFFFF;
    uint32_t h = (static_cast<uint32_t>(exp + 15) << 10) | (mant >> 13);
    const uint32_t rest = mant & 0x1FFF;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  if (exp < -25) return sign;  // below half the smallest subnormal (2^-25 itself is a tie, to zero)
  // Subnormal half: value = m * 2^-24 with m = round(significand * 2^(exp + 24)).
  const uint32_t sig = (abs & 0x7FFFFF) | 0x800000;  // 24 bits, value sig * 2^(exp - 23)
  const int shift = -exp - 1;                        // 14..24: bits dropped to reach units of 2^-24
  uint32_t m = sig >> shift;
  const uint32_t rest = sig & ((1u << shift) - 1), half = 1u << (shift - 1);
  if (rest > half || (rest == half && (m & 1))) ++m;
  return static_cast<uint16_t>(sign | m);
}

int32_t to_i32(const OpCall& c, double v) {
  const double t = std::trunc(v);
  if (!std::isfinite(v) || t < -2147483648.0 || t > 2147483647.0) {
    std::string msg = c.node->op;
    msg += " (";
    msg += c.node->name;
    msg += "): value ";
    msg += std::to_string(v);
    msg += " does not fit in i32";
    throw std::runtime_error(msg);
  }
  return static_cast<int32_t>(t);
}

template <typename T>
void fill_bits(void* dst, T bits, int64_t n) {
  T* p = static_cast<T*>(dst);
  parallel_for(n, 1, [&](int64_t i0, int64_t i1) { std::fill(p + i0, p + i1, bits); });
}

void fill_value(const OpCall& c, double value) {
  const Tensor& y = c.out[0];
  switch (y.type.dtype) {
    case ir::DType::F32: fill_bits(y.data, std::bit_cast<uint32_t>(static_cast<float>(value)), y.numel()); break;
    case ir::DType::I32: fill_bits(y.data, std::bit_cast<uint32_t>(to_i32(c, value)), y.numel()); break;
    case ir::DType::BF16: fill_bits(y.data, to_bf16(static_cast<float>(value)), y.numel()); break;
    case ir::DType::F16: fill_bits(y.data, to_f16(static_cast<float>(value)), y.numel()); break;
  }
}

void zeros_forward(const OpCall& c) { fill_value(c, 0.0); }
void ones_forward(const OpCall& c) { fill_value(c, 1.0); }
void full_forward(const OpCall& c) { fill_value(c, c.node->attrs.get_float("value")); }

}  // namespace

void register_fill_kernels(KernelTable& t) {
  t.add("zeros", {zeros_forward, nullptr});
  t.add("ones", {ones_forward, nullptr});
  t.add("full", {full_forward, nullptr});
}

}  // namespace sublinear::runtime::cpu
