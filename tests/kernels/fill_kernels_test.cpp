// CPU kernels of zeros, ones and full: every dtype's bit patterns (f16 rounding checked against the
// compiler's _Float16 where it has one), i32 truncation and overflow, scalars, and no backward.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/cpu/cpu_kernels.h"
#include "tests/kernels/op_harness.h"

namespace sublinear::testing {
namespace {

const runtime::KernelTable& kernels() {
  static const runtime::KernelTable t = [] {
    runtime::KernelTable k;
    runtime::cpu::register_fill_kernels(k);
    return k;
  }();
  return t;
}

ir::AttrValue ints(std::vector<int64_t> v) { return v; }
ir::AttrValue str(const char* s) { return std::string(s); }

// Runs a fill and returns its output's elements as raw bits of the dtype's width.
template <typename T>
std::vector<T> run_fill(const std::string& op, const char* dtype, std::vector<int64_t> shape, double value = 0) {
  std::vector<std::pair<std::string, ir::AttrValue>> attrs{{"shape", ints(shape)}, {"dtype", str(dtype)}};
  if (op == "full") attrs.emplace_back("value", value);
  OpHarness h(kernels(), {op, attrs, {}});
  h.forward();
  const int64_t n = h.node().outputs[0].bytes() / static_cast<int64_t>(sizeof(T));
  std::vector<T> out(static_cast<size_t>(n));
  std::memcpy(out.data(), h.output(0).data(), static_cast<size_t>(h.node().outputs[0].bytes()));
  return out;
}

uint16_t f16_bits(double v) { return run_fill<uint16_t>("full", "f16", {}, v)[0]; }
uint16_t bf16_bits(double v) { return run_fill<uint16_t>("full", "bf16", {}, v)[0]; }

TEST(FillKernels, F32AndI32) {
  EXPECT_EQ(run_fill<float>("zeros", "f32", {2, 3}), std::vector<float>(6, 0.0f));
  EXPECT_EQ(run_fill<float>("ones", "f32", {4}), std::vector<float>(4, 1.0f));
  EXPECT_EQ(run_fill<float>("full", "f32", {3, 1}, -2.5), std::vector<float>(3, -2.5f));
  EXPECT_EQ(run_fill<float>("full", "f32", {}, 0.1), std::vector<float>(1, 0.1f));
  EXPECT_EQ(run_fill<int32_t>("zeros", "i32", {5}), std::vector<int32_t>(5, 0));
  EXPECT_EQ(run_fill<int32_t>("ones", "i32", {2, 2}), std::vector<int32_t>(4, 1));
  EXPECT_EQ(run_fill<int32_t>("full", "i32", {3}, 7), std::vector<int32_t>(3, 7));
  // Truncation toward zero, like a C cast.
  EXPECT_EQ(run_fill<int32_t>("full", "i32", {1}, 2.7), std::vector<int32_t>(1, 2));
  EXPECT_EQ(run_fill<int32_t>("full", "i32", {1}, -2.7), std::vector<int32_t>(1, -2));
  EXPECT_EQ(run_fill<int32_t>("full", "i32", {1}, -2147483648.0), std::vector<int32_t>(1, INT32_MIN));
  // A large output runs threaded.
  const auto big = run_fill<float>("full", "f32", {300, 500}, 3.25);
  EXPECT_EQ(big, std::vector<float>(150000, 3.25f));
}

TEST(FillKernels, I32RejectsValuesThatDoNotFit) {
  for (double v : {1e10, -2147483649.0, std::numeric_limits<double>::infinity(), std::nan("")}) {
    try {
      run_fill<int32_t>("full", "i32", {2}, v);
      ADD_FAILURE() << v << " was accepted";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("full"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("i32"), std::string::npos) << e.what();
    }
  }
}

TEST(FillKernels, HalfPrecisionBitPatterns) {
  EXPECT_EQ(run_fill<uint16_t>("ones", "bf16", {3}), std::vector<uint16_t>(3, 0x3F80));
  EXPECT_EQ(run_fill<uint16_t>("ones", "f16", {3}), std::vector<uint16_t>(3, 0x3C00));
  EXPECT_EQ(run_fill<uint16_t>("zeros", "f16", {2}), std::vector<uint16_t>(2, 0));
  // bf16: round to nearest even on the dropped half.
  EXPECT_EQ(bf16_bits(0.1), 0x3DCD);   // 0x3DCCCCCD rounds up
  EXPECT_EQ(bf16_bits(-2.0), 0xC000);
  EXPECT_EQ(bf16_bits(1.0 + 1.0 / 256), 0x3F80);  // exactly half an ulp above 1: to even, down
  EXPECT_EQ(bf16_bits(1.0 + 3.0 / 256), 0x3F82);  // half an ulp above an odd mantissa: up
  EXPECT_EQ(bf16_bits(3.4e38), 0x7F80);           // rounds past the largest bf16: infinity
  EXPECT_EQ(bf16_bits(std::nan("")) & 0x7F80, 0x7F80);
  EXPECT_NE(bf16_bits(std::nan("")) & 0x007F, 0);
  // f16: normals, the largest, overflow, subnormals, ties.
  EXPECT_EQ(f16_bits(0.1), 0x2E66);
  EXPECT_EQ(f16_bits(-2.0), 0xC000);
  EXPECT_EQ(f16_bits(65504.0), 0x7BFF);
  EXPECT_EQ(f16_bits(65519.0), 0x7BFF);
  EXPECT_EQ(f16_bits(65520.0), 0x7C00);
  EXPECT_EQ(f16_bits(-1e5), 0xFC00);
  EXPECT_EQ(f16_bits(std::ldexp(1.0, -14)), 0x0400);   // smallest normal
  EXPECT_EQ(f16_bits(std::ldexp(1.0, -24)), 0x0001);   // smallest subnormal
  EXPECT_EQ(f16_bits(std::ldexp(1.0, -25)), 0x0000);   // a tie, to even (zero)
  EXPECT_EQ(f16_bits(std::ldexp(3.0, -26)), 0x0001);   // 0.75 of the smallest: up
  EXPECT_EQ(f16_bits(std::ldexp(3.0, -25)), 0x0002);   // 1.5 of the smallest: tie, to even
  EXPECT_EQ(f16_bits(std::ldexp(1023.75, -24)), 0x0400);  // just below the smallest normal rounds up
  EXPECT_EQ(f16_bits(1.0 + std::ldexp(1.0, -11)), 0x3C00);  // tie at 1: to even
  EXPECT_EQ(f16_bits(1.0 + std::ldexp(3.0, -11)), 0x3C02);
  EXPECT_EQ(f16_bits(-std::ldexp(1.0, -30)), 0x8000);
  EXPECT_EQ(f16_bits(std::nan("")) & 0x7C00, 0x7C00);
  EXPECT_NE(f16_bits(std::nan("")) & 0x03FF, 0);
}

#ifdef __FLT16_MANT_DIG__
TEST(FillKernels, F16MatchesTheCompilersConversion) {
  // Values spread over the whole range, subnormals and overflow included.
  for (int e = -27; e <= 17; ++e)
    for (double m : {1.0, 1.0004, 1.3337, 1.5, 1.99951171875, 1.9999}) {
      for (double v : {std::ldexp(m, e), -std::ldexp(m, e)}) {
        const _Float16 ref = static_cast<_Float16>(static_cast<float>(v));
        EXPECT_EQ(f16_bits(v), std::bit_cast<uint16_t>(ref)) << v;
      }
    }
}
#endif

TEST(FillKernels, NoBackward) {
  for (const char* op : {"zeros", "ones", "full"}) EXPECT_FALSE(static_cast<bool>(kernels().get(op).backward)) << op;
}

}  // namespace
}  // namespace sublinear::testing
