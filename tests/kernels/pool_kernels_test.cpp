// max_pool, avg_pool and global_avg_pool kernels: forward against direct window loops, gradients
// against finite differences (with and without padding, overlapping and strided windows, the default
// stride), count_include_pad, max_pool's tie rule (the first window position gets the gradient),
// accumulation and bitwise determinism.
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>

#include "runtime/cpu/cpu_kernels.h"
#include "tests/kernels/nn_kernel_checks.h"

namespace sublinear::testing {
namespace {

const runtime::KernelTable& kernels() {
  static const runtime::KernelTable t = [] {
    runtime::KernelTable k;
    runtime::cpu::register_pool_kernels(k);
    return k;
  }();
  return t;
}

struct PoolConfig {
  ir::Shape x;
  std::vector<int64_t> kernel, stride, pad;  // stride {} = the IR default (the kernel)
};

const std::vector<PoolConfig>& configs() {
  static const std::vector<PoolConfig> all = {
      {{2, 3, 6, 6}, {2, 2}, {}, {0, 0}},      // default stride, tiling windows
      {{2, 2, 7, 7}, {3, 3}, {2, 2}, {1, 1}},  // padded, strided, overlapping
      {{1, 2, 5, 6}, {3, 3}, {1, 1}, {1, 1}},  // stride 1: every input in up to 9 windows
      {{2, 2, 7, 5}, {3, 2}, {2, 1}, {1, 1}},  // rectangular, per-axis stride and pad
  };
  return all;
}

OpCase pool_case(const std::string& op, const PoolConfig& c, std::optional<bool> include_pad = std::nullopt) {
  OpCase oc{op, {{"kernel", c.kernel}, {"stride", c.stride}, {"pad", c.pad}}, {{ir::DType::F32, c.x}}};
  if (include_pad) oc.attrs.push_back({"count_include_pad", *include_pad});
  return oc;
}

// Reference pooling: `max` or the average with the chosen divisor, padding excluded from max.
std::vector<double> naive_pool(const PoolConfig& c, const std::vector<float>& x, bool max, bool include_pad,
                               int64_t ho, int64_t wo) {
  const auto stride = c.stride.empty() ? c.kernel : c.stride;
  const int64_t planes = c.x[0] * c.x[1], h = c.x[2], w = c.x[3];
  std::vector<double> y;
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t oh = 0; oh < ho; ++oh)
      for (int64_t ow = 0; ow < wo; ++ow) {
        double m = -std::numeric_limits<double>::infinity(), s = 0;
        int64_t valid = 0;
        for (int64_t kh = 0; kh < c.kernel[0]; ++kh)
          for (int64_t kw = 0; kw < c.kernel[1]; ++kw) {
            const int64_t ih = oh * stride[0] - c.pad[0] + kh, iw = ow * stride[1] - c.pad[1] + kw;
            if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
            const double v = x[(p * h + ih) * w + iw];
            m = std::max(m, v);
            s += v;
            ++valid;
          }
        y.push_back(max ? m : s / static_cast<double>(include_pad ? c.kernel[0] * c.kernel[1] : valid));
      }
  return y;
}

TEST(PoolKernels, MaxPoolForwardMatchesNaive) {
  for (const auto& c : configs()) {
    OpHarness h(kernels(), pool_case("max_pool", c));
    h.forward();
    const auto& y = h.node().outputs[0].shape;
    // A maximum is one of the inputs: exact.
    expect_close(h.output(0), naive_pool(c, h.input(0), true, false, y[2], y[3]), 0.0, 0.0, "max_pool");
  }
}

TEST(PoolKernels, AvgPoolForwardMatchesNaive) {
  for (bool include_pad : {true, false})
    for (const auto& c : configs()) {
      OpHarness h(kernels(), pool_case("avg_pool", c, include_pad));
      h.forward();
      const auto& y = h.node().outputs[0].shape;
      // At most 9 float additions of unit normals; divisors differ by >= 1/9 when padding is miscounted.
      expect_close(h.output(0), naive_pool(c, h.input(0), false, include_pad, y[2], y[3]), 1e-6, 1e-5,
                   include_pad ? "avg_pool count_include_pad" : "avg_pool excluding padding");
    }
}

TEST(PoolKernels, GlobalAvgPoolForwardMatchesNaive) {
  const ir::Shape s{2, 3, 4, 5};
  OpHarness h(kernels(), {"global_avg_pool", {}, {{ir::DType::F32, s}}});
  h.forward();
  std::vector<double> want(6, 0.0);
  for (int64_t p = 0; p < 6; ++p) {
    for (int64_t i = 0; i < 20; ++i) want[p] += h.input(0)[p * 20 + i];
    want[p] /= 20.0;
  }
  expect_close(h.output(0), want, 1e-6, 1e-6, "global_avg_pool");
}

TEST(PoolKernels, GradientsMatchFiniteDifferences) {
  // Maxima move only when a perturbation reorders window elements: a small step keeps the check away
  // from those kinks (this seed has two neighbours 3.4e-4 apart, so 1e-3 would straddle one). max_pool
  // is exact selection, so the only noise is the rounding of x +- h: ~1e-7 / 1e-4, well inside rtol.
  GradCheckOptions fine;
  fine.h = 1e-4;
  for (const auto& c : configs()) {
    expect_gradients_match(kernels(), pool_case("max_pool", c), fine);
    expect_gradients_match(kernels(), pool_case("avg_pool", c, true));
    expect_gradients_match(kernels(), pool_case("avg_pool", c, false));
  }
  expect_gradients_match(kernels(), {"global_avg_pool", {}, {{ir::DType::F32, {2, 3, 4, 5}}}});
}

TEST(PoolKernels, MaxPoolTieRoutesToFirstPosition) {
  // A constant input: every window ties; its gradient goes to the window's first (row-major) valid
  // position only, so inputs no window starts at get nothing.
  const PoolConfig c{{1, 1, 4, 4}, {2, 2}, {}, {0, 0}};
  OpHarness h(kernels(), pool_case("max_pool", c));
  std::fill(h.input(0).begin(), h.input(0).end(), 1.5f);
  h.forward();
  std::vector<std::vector<float>> dy{{1, 2, 3, 4, 0}};
  const auto dx = h.backward(dy);
  const std::vector<float> want{1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4, 0, 0, 0, 0, 0};
  EXPECT_EQ(dx[0], want);
}

TEST(PoolKernels, Accumulates) {
  for (const auto& c : configs()) {
    expect_accumulates(kernels(), pool_case("max_pool", c));
    expect_accumulates(kernels(), pool_case("avg_pool", c, false));
  }
  expect_accumulates(kernels(), {"global_avg_pool", {}, {{ir::DType::F32, {2, 3, 4, 5}}}});
}

TEST(PoolKernels, Deterministic) {
  for (const auto& c : configs()) {
    expect_deterministic(kernels(), pool_case("max_pool", c));
    expect_deterministic(kernels(), pool_case("avg_pool", c, true));
  }
  expect_deterministic(kernels(), {"global_avg_pool", {}, {{ir::DType::F32, {4, 8, 7, 7}}}});
}

TEST(PoolKernels, AbsentDyGivesZeroGradients) {
  for (const char* op : {"max_pool", "avg_pool"}) {
    OpHarness h(kernels(), pool_case(op, configs()[1]));
    h.forward();
    const auto dx = h.backward({});  // kept in a variable: a range-for over a temporary's element dangles
    for (float v : dx[0]) ASSERT_EQ(v, 0.0f) << op;
  }
}

}  // namespace
}  // namespace sublinear::testing
