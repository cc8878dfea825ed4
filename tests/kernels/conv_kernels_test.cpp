// conv2d kernels (oneDNN): forward against a direct 7-loop convolution in double, gradients against
// finite differences, accumulation, absent dy and bitwise determinism, over stride, padding, groups
// (including depthwise), dilation, rectangular kernels and no-bias configurations, for both the small
// problems run on plain layouts and the larger ones run on oneDNN's blocked layouts.
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/cpu/cpu_kernels.h"
#include "tests/kernels/nn_kernel_checks.h"

namespace sublinear::testing {
namespace {

const runtime::KernelTable& kernels() {
  static const runtime::KernelTable t = [] {
    runtime::KernelTable k;
    runtime::cpu::register_conv_kernels(k);
    return k;
  }();
  return t;
}

struct ConvConfig {
  ir::Shape x;
  int64_t out;
  std::vector<int64_t> kernel, stride, pad, dilation;
  int64_t groups;
  bool bias;
};

OpCase conv_case(const ConvConfig& c) {
  return {"conv2d",
          {{"out", c.out},
           {"kernel", c.kernel},
           {"stride", c.stride},
           {"pad", c.pad},
           {"dilation", c.dilation},
           {"groups", c.groups},
           {"bias", c.bias}},
          {{ir::DType::F32, c.x}}};
}

// Small problems: oneDNN runs on the plain buffers directly.
const std::vector<ConvConfig>& configs() {
  static const std::vector<ConvConfig> all = {
      {{2, 3, 5, 5}, 4, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 1, true},   // same padding
      {{2, 4, 7, 6}, 6, {3, 3}, {2, 2}, {1, 1}, {1, 1}, 1, true},   // stride 2, uneven remainder
      {{2, 4, 5, 5}, 6, {3, 2}, {1, 1}, {0, 1}, {1, 1}, 2, false},  // groups, rectangular kernel
      {{1, 2, 7, 7}, 3, {3, 3}, {1, 1}, {2, 2}, {2, 2}, 1, true},   // dilation
      {{2, 4, 6, 6}, 4, {3, 3}, {2, 2}, {1, 1}, {1, 1}, 4, true},   // depthwise, stride 2
      {{2, 3, 5, 4}, 5, {1, 1}, {2, 2}, {0, 0}, {1, 1}, 1, false},  // 1x1 projection, stride 2
      {{1, 2, 6, 5}, 2, {2, 3}, {1, 2}, {1, 0}, {2, 1}, 1, true},   // mixed per-axis attributes
  };
  return all;
}

// Over 2^20 multiply-adds: oneDNN picks blocked layouts and the kernels reorder around them.
const std::vector<ConvConfig>& blocked_configs() {
  static const std::vector<ConvConfig> all = {
      {{2, 16, 12, 12}, 32, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 1, true},    // wide layer
      {{4, 24, 20, 20}, 40, {3, 3}, {2, 2}, {1, 1}, {1, 1}, 2, true},    // groups of 12 -> 20 channels
      {{4, 64, 24, 24}, 64, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 64, false},  // depthwise
      {{4, 3, 32, 32}, 16, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 1, true},     // first layer: 3 channels
      {{2, 16, 16, 16}, 32, {3, 3}, {1, 1}, {2, 2}, {2, 2}, 1, false},   // dilation
  };
  return all;
}

// y[n, o, oh, ow] = b[o] + sum over the group's input channels and the kernel window.
std::vector<double> naive_conv(const ConvConfig& c, const std::vector<float>& x, const std::vector<float>& w,
                               const std::vector<float>* b, int64_t ho, int64_t wo) {
  const int64_t n = c.x[0], ci = c.x[1], h = c.x[2], wd = c.x[3];
  const int64_t cpg = ci / c.groups, opg = c.out / c.groups;
  std::vector<double> y(static_cast<size_t>(n * c.out * ho * wo));
  for (int64_t in = 0; in < n; ++in)
    for (int64_t o = 0; o < c.out; ++o)
      for (int64_t oh = 0; oh < ho; ++oh)
        for (int64_t ow = 0; ow < wo; ++ow) {
          double s = b ? (*b)[o] : 0.0;
          const int64_t g = o / opg;
          for (int64_t ic = 0; ic < cpg; ++ic)
            for (int64_t kh = 0; kh < c.kernel[0]; ++kh)
              for (int64_t kw = 0; kw < c.kernel[1]; ++kw) {
                const int64_t ih = oh * c.stride[0] - c.pad[0] + kh * c.dilation[0];
                const int64_t iw = ow * c.stride[1] - c.pad[1] + kw * c.dilation[1];
                if (ih < 0 || ih >= h || iw < 0 || iw >= wd) continue;
                s += static_cast<double>(x[((in * ci + g * cpg + ic) * h + ih) * wd + iw]) *
                     w[((o * cpg + ic) * c.kernel[0] + kh) * c.kernel[1] + kw];
              }
          y[((in * c.out + o) * ho + oh) * wo + ow] = s;
        }
  return y;
}

TEST(ConvKernels, ForwardMatchesNaiveConvolution) {
  for (const auto& c : configs()) {
    OpHarness h(kernels(), conv_case(c));
    h.forward();
    const auto& y = h.node().outputs[0].shape;
    const auto want = naive_conv(c, h.input(0), h.input(1), c.bias ? &h.input(2) : nullptr, y[2], y[3]);
    // Sums of at most 36 products of unit normals in float: rounding stays far below 1e-4, while any
    // indexing mistake moves outputs by O(1).
    expect_close(h.output(0), want, 1e-4, 1e-4, "conv2d " + h.node().outputs[0].str());
  }
}

TEST(ConvKernels, GradientsMatchFiniteDifferences) {
  for (const auto& c : configs()) expect_gradients_match(kernels(), conv_case(c));
}

TEST(ConvKernels, Accumulates) {
  for (const auto& c : configs()) expect_accumulates(kernels(), conv_case(c));
}

TEST(ConvKernels, Deterministic) {
  for (const auto& c : configs()) expect_deterministic(kernels(), conv_case(c));
}

TEST(ConvKernels, AbsentDyGivesZeroGradients) {
  for (const ConvConfig& cc : {configs()[1], blocked_configs()[0]}) {
    OpHarness h(kernels(), conv_case(cc));
    h.forward();
    const auto dx = h.backward({});  // dy absent: every gradient is zero, overwriting the NaN prefill
    for (size_t i = 0; i < dx.size(); ++i)
      for (float v : dx[i]) ASSERT_EQ(v, 0.0f) << "input " << i;
  }
}

TEST(ConvKernels, BlockedLayoutsForwardMatchesNaive) {
  for (const auto& c : blocked_configs()) {
    OpHarness h(kernels(), conv_case(c));
    h.forward();
    const auto& y = h.node().outputs[0].shape;
    const auto want = naive_conv(c, h.input(0), h.input(1), c.bias ? &h.input(2) : nullptr, y[2], y[3]);
    // Up to 144 products per output: a little more float rounding than the small cases.
    expect_close(h.output(0), want, 3e-4, 1e-4, "conv2d " + h.node().outputs[0].str());
  }
}

TEST(ConvKernels, BlockedLayoutsGradientsMatchFiniteDifferences) {
  // The arithmetic is the small cases'; these check the layout plumbing, where any mistake scrambles
  // whole tensors, so a few probes per input suffice (and keep the test fast).
  GradCheckOptions o;
  o.probes = 8;
  for (const auto& c : blocked_configs()) expect_gradients_match(kernels(), conv_case(c), o);
}

TEST(ConvKernels, BlockedLayoutsAccumulate) {
  // Accumulation here goes through a reorder with a sum post-op instead of a plain add.
  for (const auto& c : blocked_configs()) expect_accumulates(kernels(), conv_case(c));
}

TEST(ConvKernels, BlockedLayoutsDeterministic) {
  for (const auto& c : blocked_configs()) expect_deterministic(kernels(), conv_case(c));
}

}  // namespace
}  // namespace sublinear::testing
