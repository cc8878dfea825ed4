// relu, sigmoid, tanh and dropout kernels: forward against std:: formulas, gradients against finite
// differences, in-place equivalence (y over x, dx over dy), accumulation, determinism, and dropout's
// mask: its rate, its scaling, replay across calls and modes with the same (seed, iteration, node) and
// a different mask for another iteration or node.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "runtime/counter_rng.h"
#include "runtime/cpu/cpu_kernels.h"
#include "runtime/cpu/vec_math.h"
#include "tests/kernels/nn_kernel_checks.h"

namespace sublinear::testing {
namespace {

const runtime::KernelTable& kernels() {
  static const runtime::KernelTable t = [] {
    runtime::KernelTable k;
    runtime::cpu::register_activation_kernels(k);
    return k;
  }();
  return t;
}

OpCase unary(const std::string& op, ir::Shape s,
             std::vector<std::pair<std::string, ir::AttrValue>> attrs = {}) {
  return {op, std::move(attrs), {{ir::DType::F32, std::move(s)}}};
}

OpCase dropout(double rate, ir::Shape s = {4, 5, 6}) {
  return unary("dropout", std::move(s), {{"rate", rate}});
}

TEST(ActivationKernels, ForwardMatchesFormulas) {
  const std::vector<std::pair<std::string, double (*)(double)>> ops = {
      {"relu", [](double x) { return x > 0 ? x : 0.0; }},
      {"sigmoid", [](double x) { return 1.0 / (1.0 + std::exp(-x)); }},
      {"tanh", [](double x) { return std::tanh(x); }},
  };
  for (const auto& [op, f] : ops) {
    OpHarness h(kernels(), unary(op, {3, 7, 5}));
    for (int i = 0; i < 4; ++i) h.input(0)[i] = static_cast<float>(std::vector<double>{-30, 30, 0, -0.5}[i]);
    h.forward();
    std::vector<double> want;
    for (int i = 0; i < 105; ++i) want.push_back(f(h.input(0)[i]));
    // Single float evaluations of bounded functions: a few ulps.
    expect_close(h.output(0), want, 1e-6, 1e-6, op);
  }
}

// The kernels run the widest vectors the CPU has (runtime/cpu/vector_clones.h: AVX-512 on the development
// machine); this file is built for the baseline x86-64 (SSE2, no FMA). Element by element, the same bits:
// no version fuses a multiply-add the others do not.
TEST(ActivationKernels, EveryVectorWidthGivesTheBaselineBits) {
  auto bits = [](float f) {
    uint32_t b;
    std::memcpy(&b, &f, 4);
    return b;
  };
  for (const char* op : {"sigmoid", "tanh"}) {
    const bool sig = std::string(op) == "sigmoid";
    OpHarness h(kernels(), unary(op, {7, 1003}));
    const size_t n = 7 * 1003;
    for (size_t i = 0; i < n; ++i) h.input(0)[i] = static_cast<float>(i % 4001) * 0.0075f - 15.0f;
    h.forward();
    std::vector<float> dy(n);
    for (size_t i = 0; i < dy.size(); ++i) dy[i] = 0.37f + static_cast<float>(i % 17) * 0.11f;
    const auto dx = h.backward({dy});
    int differ = 0;
    for (size_t i = 0; i < dy.size(); ++i) {
      const float x = h.input(0)[i];
      const float y = sig ? runtime::cpu::vec_sigmoid(x) : runtime::cpu::vec_tanh(x);
      const float g = sig ? dy[i] * (y * (1.0f - y)) : dy[i] * (1.0f - y * y);
      differ += bits(h.output(0)[i]) != bits(y);
      differ += bits(dx[0][i]) != bits(g);
    }
    EXPECT_EQ(differ, 0) << op;
  }
}

TEST(ActivationKernels, GradientsMatchFiniteDifferences) {
  // relu's kink at 0 is more than 1e-3 away from the probed elements for this seed.
  GradCheckOptions o;
  o.h = 1e-3;
  for (const char* op : {"relu", "sigmoid", "tanh"})
    expect_gradients_match(kernels(), unary(op, {3, 4, 5}), o);
  for (double rate : {0.0, 0.3, 0.5}) expect_gradients_match(kernels(), dropout(rate));
}

TEST(ActivationKernels, InplaceEquivalent) {
  for (const char* op : {"relu", "sigmoid", "tanh"})
    expect_inplace_equivalent(kernels(), unary(op, {3, 4, 5}));
  expect_inplace_equivalent(kernels(), dropout(0.4));
}

TEST(ActivationKernels, Accumulates) {
  for (const char* op : {"relu", "sigmoid", "tanh"}) expect_accumulates(kernels(), unary(op, {3, 4, 5}));
  expect_accumulates(kernels(), dropout(0.4));
}

TEST(ActivationKernels, Deterministic) {
  for (const char* op : {"relu", "sigmoid", "tanh"}) expect_deterministic(kernels(), unary(op, {5, 301}));
  expect_deterministic(kernels(), dropout(0.4, {5, 301}));
}

OpCase lstm_cell(int64_t rows, int64_t hidden, std::vector<int64_t> order = {0, 1, 2, 3}) {
  return {"lstm_cell", {{"order", order}}, {{ir::DType::F32, {rows, 4 * hidden}}, {ir::DType::F32, {rows, hidden}}}};
}

// The fused LSTM tail (ir/fusion.h): gradients of h' and c' with respect to the gates and c against
// finite differences, with the gates in PyTorch's order and in another; accumulation; determinism.
TEST(ActivationKernels, LstmCellGradientsMatchFiniteDifferences) {
  GradCheckOptions o;
  o.h = 1e-3;
  expect_gradients_match(kernels(), lstm_cell(3, 5), o);
  expect_gradients_match(kernels(), lstm_cell(2, 7, {2, 0, 3, 1}), o);
  expect_accumulates(kernels(), lstm_cell(3, 5));
  expect_deterministic(kernels(), lstm_cell(5, 301));
}

// Each output's gradient alone (the last step's c' has no reader; an unused h' none either), and neither.
TEST(ActivationKernels, LstmCellWithOneOrNoOutputGradient) {
  OpHarness h(kernels(), lstm_cell(3, 37));
  h.forward();
  std::vector<float> ones(3 * 37, 1.0f);
  const auto both = h.backward({ones, ones});
  const auto only_h = h.backward({ones, {}});
  const auto only_c = h.backward({{}, ones});
  const auto none = h.backward({});
  for (size_t i = 0; i < both.size(); ++i) {
    ASSERT_EQ(both[i].size(), only_h[i].size());
    for (size_t e = 0; e < both[i].size(); ++e) {
      // Linear in dy: the two single-output gradients add up to both's (to rounding).
      EXPECT_NEAR(both[i][e], only_h[i][e] + only_c[i][e], 1e-5f) << "input " << i << " element " << e;
      EXPECT_EQ(none[i][e], 0.0f);
    }
  }
}

TEST(ActivationKernels, AbsentDyGivesZeroGradients) {
  for (const char* op : {"relu", "sigmoid", "tanh"}) {
    OpHarness h(kernels(), unary(op, {3, 4}));
    h.forward();
    const auto dx = h.backward({});  // kept in a variable: a range-for over a temporary's element dangles
    for (float v : dx[0]) ASSERT_EQ(v, 0.0f) << op;
  }
}

TEST(ActivationKernels, DropoutKeepsAboutOneMinusRateScaled) {
  constexpr double rate = 0.3;
  constexpr int64_t n = 20000;
  OpHarness h(kernels(), dropout(rate, {n}));
  h.forward(runtime::Mode::Train, 5);
  const float scale = static_cast<float>(1.0 / (1.0 - rate));
  int64_t kept = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float x = h.input(0)[i], y = h.output(0)[i];
    // The counter RNG decides each element: kept elements are exactly x * scale, the rest exactly 0.
    const bool keep = runtime::dropout_keep(1234, 5, static_cast<uint64_t>(h.node().rng_key),
                                            static_cast<uint64_t>(i), static_cast<float>(rate));
    ASSERT_EQ(y, keep ? x * scale : 0.0f) << "element " << i;
    kept += keep;
  }
  // Binomial(20000, 0.7): standard deviation of the kept fraction 0.0032; 0.015 is over 4.5 of them.
  EXPECT_NEAR(static_cast<double>(kept) / n, 1.0 - rate, 0.015);
}

TEST(ActivationKernels, DropoutMaskReplaysAndVaries) {
  const OpCase c = dropout(0.5, {1000});
  OpHarness h(kernels(), c);
  h.forward(runtime::Mode::Train, 7);
  const auto train = h.output(0);
  h.forward(runtime::Mode::Train, 7);
  EXPECT_TRUE(bitwise_equal(h.output(0), train)) << "same iteration, different mask";
  h.forward(runtime::Mode::Recompute, 7);
  EXPECT_TRUE(bitwise_equal(h.output(0), train)) << "Recompute does not replay the Train mask";
  h.forward(runtime::Mode::Train, 8);
  EXPECT_FALSE(bitwise_equal(h.output(0), train)) << "next iteration reuses the mask";

  // Another node (rng key) (same seed and iteration) draws another mask.
  ir::Node other = h.node();
  other.rng_key = h.node().rng_key + 1;
  std::vector<float> y(1001, 0.0f);
  runtime::OpCall call;
  call.node = &other;
  call.in.push_back(h.view(h.input(0), c.data_inputs[0]));
  call.out.push_back(h.view(y, other.outputs[0]));
  call.seed = 1234;
  call.iteration = 7;
  kernels().get("dropout").forward(call);
  EXPECT_FALSE(bitwise_equal(y, train)) << "another node reuses the mask";
}

TEST(ActivationKernels, DropoutBackwardRegeneratesTheForwardMask) {
  OpHarness h(kernels(), dropout(0.5, {500}));
  h.forward(runtime::Mode::Train, 9);
  std::vector<std::vector<float>> dy{std::vector<float>(501, 1.0f)};
  const auto dx = h.backward(dy, nullptr, 9);
  for (int i = 0; i < 500; ++i) {
    // With dy = 1, dx is the mask times the scale: zero exactly where y is zero (x is never 0 here).
    ASSERT_EQ(dx[0][i] == 0.0f, h.output(0)[i] == 0.0f) << "element " << i;
    if (dx[0][i] != 0.0f) {
      ASSERT_EQ(dx[0][i], 2.0f);
    }
  }
}

TEST(ActivationKernels, DropoutEvalIsIdentity) {
  OpHarness h(kernels(), dropout(0.5, {300}));
  h.forward(runtime::Mode::Eval, 3);
  EXPECT_TRUE(bitwise_equal(std::vector<float>(h.output(0).begin(), h.output(0).end() - 1),
                            std::vector<float>(h.input(0).begin(), h.input(0).end() - 1)));
}

}  // namespace
}  // namespace sublinear::testing
