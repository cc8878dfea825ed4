// batch_norm kernels: forward against double-precision statistics, gradients against finite
// differences on 2-D, 3-D and 4-D inputs, the running-statistics update (Train only, unbiased variance,
// momentum), Recompute replaying Train without touching state, Eval normalising with the running
// statistics, accumulation and bitwise determinism.
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/cpu/cpu_kernels.h"
#include "tests/kernels/nn_kernel_checks.h"

namespace sublinear::testing {
namespace {

const runtime::KernelTable& kernels() {
  static const runtime::KernelTable t = [] {
    runtime::KernelTable k;
    runtime::cpu::register_norm_kernels(k);
    return k;
  }();
  return t;
}

constexpr double kMomentum = 0.25, kEps = 1e-3;

OpCase bn_case(ir::Shape x) {
  return {"batch_norm", {{"momentum", kMomentum}, {"eps", kEps}}, {{ir::DType::F32, std::move(x)}}};
}

const std::vector<ir::Shape>& shapes() {
  static const std::vector<ir::Shape> all = {{3, 4, 3, 2}, {6, 5}, {2, 3, 4}, {1, 2, 3, 3}};
  return all;
}

// Inputs: 0 x, 1 gamma, 2 beta, 3 running_mean, 4 running_var. Outputs: 0 y, 1 mean, 2 invstd.
struct Stats {
  std::vector<double> mean, var;  // biased
  int64_t count;
};

Stats batch_stats(const ir::Shape& s, const std::vector<float>& x) {
  const int64_t n = s[0], c = s[1];
  int64_t inner = 1;
  for (size_t d = 2; d < s.size(); ++d) inner *= s[d];
  Stats st{std::vector<double>(static_cast<size_t>(c), 0.0), std::vector<double>(static_cast<size_t>(c), 0.0),
           n * inner};
  for (int64_t ch = 0; ch < c; ++ch) {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < inner; ++j) st.mean[ch] += x[(i * c + ch) * inner + j];
    st.mean[ch] /= static_cast<double>(st.count);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < inner; ++j) {
        const double d = x[(i * c + ch) * inner + j] - st.mean[ch];
        st.var[ch] += d * d;
      }
    st.var[ch] /= static_cast<double>(st.count);
  }
  return st;
}

std::vector<double> normalise(const ir::Shape& s, const std::vector<float>& x,
                              const std::vector<double>& mean, const std::vector<double>& var,
                              const std::vector<float>& gamma, const std::vector<float>& beta) {
  const int64_t c = s[1], total = ir::num_elements(s);
  int64_t inner = 1;
  for (size_t d = 2; d < s.size(); ++d) inner *= s[d];
  std::vector<double> y(static_cast<size_t>(total));
  for (int64_t e = 0; e < total; ++e) {
    const int64_t ch = (e / inner) % c;
    y[e] = (x[e] - mean[ch]) / std::sqrt(var[ch] + kEps) * gamma[ch] + beta[ch];
  }
  return y;
}

std::vector<float> first(const std::vector<float>& v, int64_t n) { return {v.begin(), v.begin() + n}; }

TEST(NormKernels, TrainForwardMatchesBatchStatistics) {
  for (const auto& s : shapes()) {
    SCOPED_TRACE((ir::TensorType{ir::DType::F32, s}.str()));
    OpHarness h(kernels(), bn_case(s));
    const int64_t c = s[1];
    const auto old_mean = first(h.input(3), c), old_var = first(h.input(4), c);
    h.forward(runtime::Mode::Train);
    const Stats st = batch_stats(s, h.input(0));
    // y is O(1) and computed with float scale/shift from double statistics.
    expect_close(h.output(0), normalise(s, h.input(0), st.mean, st.var, h.input(1), h.input(2)), 1e-5, 1e-5,
                 "y");
    std::vector<double> invstd, want_rm, want_rv;
    for (int64_t ch = 0; ch < c; ++ch) {
      invstd.push_back(1.0 / std::sqrt(st.var[ch] + kEps));
      const double unbiased = st.var[ch] * static_cast<double>(st.count) / static_cast<double>(st.count - 1);
      want_rm.push_back((1 - kMomentum) * old_mean[ch] + kMomentum * st.mean[ch]);
      want_rv.push_back((1 - kMomentum) * old_var[ch] + kMomentum * unbiased);
    }
    expect_close(h.output(1), st.mean, 1e-6, 1e-6, "save_mean");
    expect_close(h.output(2), invstd, 1e-6, 1e-6, "save_invstd");
    expect_close(h.input(3), want_rm, 1e-6, 1e-6, "running_mean after Train");
    expect_close(h.input(4), want_rv, 1e-6, 1e-6, "running_var after Train (unbiased batch variance)");
  }
}

TEST(NormKernels, RecomputeReplaysTrainWithoutUpdatingRunningStats) {
  for (const auto& s : shapes()) {
    SCOPED_TRACE((ir::TensorType{ir::DType::F32, s}.str()));
    OpHarness train(kernels(), bn_case(s)), recompute(kernels(), bn_case(s));
    train.forward(runtime::Mode::Train);
    const auto rm = recompute.input(3), rv = recompute.input(4);
    recompute.forward(runtime::Mode::Recompute);
    for (size_t k = 0; k < 3; ++k)
      EXPECT_TRUE(bitwise_equal(train.output(k), recompute.output(k))) << "output " << k;
    EXPECT_TRUE(bitwise_equal(recompute.input(3), rm)) << "running_mean changed in Recompute";
    EXPECT_TRUE(bitwise_equal(recompute.input(4), rv)) << "running_var changed in Recompute";
    EXPECT_FALSE(bitwise_equal(train.input(3), rm)) << "running_mean not updated in Train";
  }
}

TEST(NormKernels, EvalNormalisesWithRunningStats) {
  for (const auto& s : shapes()) {
    SCOPED_TRACE((ir::TensorType{ir::DType::F32, s}.str()));
    OpHarness h(kernels(), bn_case(s));
    const int64_t c = s[1];
    const auto rm = h.input(3), rv = h.input(4);
    h.forward(runtime::Mode::Eval);
    std::vector<double> mean(rm.begin(), rm.begin() + c), var(rv.begin(), rv.begin() + c);
    expect_close(h.output(0), normalise(s, h.input(0), mean, var, h.input(1), h.input(2)), 1e-5, 1e-5,
                 "eval y");
    EXPECT_TRUE(bitwise_equal(h.input(3), rm)) << "running_mean changed in Eval";
    EXPECT_TRUE(bitwise_equal(h.input(4), rv)) << "running_var changed in Eval";
  }
}

TEST(NormKernels, GradientsMatchFiniteDifferences) {
  // Small per-channel counts (6 to 18) keep the terms through the batch mean and variance large
  // relative to dy, so dropping either would fail the check.
  for (const auto& s : shapes()) expect_gradients_match(kernels(), bn_case(s));
}

// A channel axis other than 1 (channels-last sequences [N, T, C], or an inner axis): x as [n, c, s]
// around it, statistics per channel over n and s, as the transposed tensor with axis 1 would give.
TEST(NormKernels, AnyChannelAxis) {
  struct Case {
    ir::Shape x;
    int64_t axis;
  };
  for (const Case& k : {Case{{2, 5, 3}, -1}, Case{{2, 3, 4, 5}, 2}, Case{{4, 6}, -1}}) {
    SCOPED_TRACE((ir::TensorType{ir::DType::F32, k.x}.str()) + " axis " + std::to_string(k.axis));
    OpCase c = bn_case(k.x);
    c.attrs.push_back({"axis", k.axis});
    OpHarness h(kernels(), c);
    h.forward(runtime::Mode::Train);
    const size_t a = static_cast<size_t>(k.axis < 0 ? k.axis + static_cast<int64_t>(k.x.size()) : k.axis);
    int64_t n = 1, s = 1;
    for (size_t d = 0; d < a; ++d) n *= k.x[d];
    for (size_t d = a + 1; d < k.x.size(); ++d) s *= k.x[d];
    const int64_t ch = k.x[a];
    ASSERT_EQ(h.node().outputs[1].str(), "f32[" + std::to_string(ch) + "]");
    const auto& x = h.input(0);
    std::vector<double> want(static_cast<size_t>(n * ch * s));
    for (int64_t q = 0; q < ch; ++q) {
      double mean = 0, var = 0;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < s; ++j) mean += x[(i * ch + q) * s + j];
      mean /= static_cast<double>(n * s);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < s; ++j) var += std::pow(x[(i * ch + q) * s + j] - mean, 2);
      var /= static_cast<double>(n * s);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < s; ++j) {
          const int64_t e = (i * ch + q) * s + j;
          want[e] = (x[e] - mean) / std::sqrt(var + kEps) * h.input(1)[q] + h.input(2)[q];
        }
    }
    expect_close(h.output(0), want, 1e-5, 1e-5, "y");
    expect_gradients_match(kernels(), c);
    expect_accumulates(kernels(), c);
    expect_deterministic(kernels(), c);
  }
}

TEST(NormKernels, GradientThroughStatisticsIsNotTheAffineOnly) {
  // Sanity check of the check: with the batch statistics' terms the input gradient of every channel
  // sums to ~0 (the mean is subtracted), unlike gamma * invstd * dy.
  OpHarness h(kernels(), bn_case({4, 3, 2, 2}));
  h.forward();
  std::vector<std::vector<float>> dy(3);
  SplitMix64 r{5};
  for (int i = 0; i < 48; ++i) dy[0].push_back(normal_sample(r));
  dy[0].push_back(0.0f);
  const auto dx = h.backward(dy);
  for (int ch = 0; ch < 3; ++ch) {
    double s = 0, affine = 0;
    for (int n = 0; n < 4; ++n)
      for (int j = 0; j < 4; ++j) {
        s += dx[0][(n * 3 + ch) * 4 + j];
        affine += dy[0][(n * 3 + ch) * 4 + j];
      }
    EXPECT_NEAR(s, 0.0, 1e-5) << "channel " << ch;
    EXPECT_GT(std::abs(affine), 1e-2) << "degenerate dy in channel " << ch;
  }
}

TEST(NormKernels, Accumulates) {
  for (const auto& s : shapes()) expect_accumulates(kernels(), bn_case(s));
}

TEST(NormKernels, Deterministic) {
  for (const auto& s : shapes()) expect_deterministic(kernels(), bn_case(s));
  expect_deterministic(kernels(), bn_case({8, 16, 7, 7}));
}

// batch_norm_relu (ir/fusion.h) is batch_norm then relu, bit for bit: y, the saved statistics and the
// running statistics forward (Train, Recompute, Eval), and every gradient backward, including dy reaching
// zero where relu cut it, accumulation, and a channels-last axis.
TEST(NormKernels, FusedReluIsBatchNormThenReluBitwise) {
  runtime::KernelTable relu_table;
  runtime::cpu::register_activation_kernels(relu_table);
  const runtime::OpKernels& relu = relu_table.get("relu");
  std::vector<OpCase> cases;
  for (const auto& s : shapes()) cases.push_back(bn_case(s));
  cases.push_back(bn_case({8, 16, 7, 7}));
  OpCase last = bn_case({3, 7, 5});
  last.attrs.push_back({"axis", int64_t{-1}});
  cases.push_back(last);
  for (const OpCase& c : cases) {
    SCOPED_TRACE(c.op + " " + c.data_inputs[0].str());
    OpCase fc = c;
    fc.op = "batch_norm_relu";
    for (runtime::Mode mode : {runtime::Mode::Train, runtime::Mode::Recompute, runtime::Mode::Eval}) {
      OpHarness plain(kernels(), c, 7), fused(kernels(), fc, 7);
      ASSERT_EQ(plain.num_inputs(), fused.num_inputs());
      for (size_t i = 0; i < plain.num_inputs(); ++i) ASSERT_EQ(plain.input(i), fused.input(i));
      plain.forward(mode);
      fused.forward(mode);
      // relu over the plain output, with the activation kernel itself.
      std::vector<float> z = plain.output(0), y(z.size());
      const ir::TensorType t = plain.node().outputs[0];
      runtime::OpCall rc;
      rc.node = &plain.node();
      rc.in = {plain.view(z, t)};
      rc.out = {plain.view(y, t)};
      relu.forward(rc);
      EXPECT_EQ(fused.output(0), y);
      for (size_t k = 1; k < plain.num_outputs(); ++k) EXPECT_EQ(fused.output(k), plain.output(k)) << "output " << k;
      for (size_t i = 3; i < 5; ++i) EXPECT_EQ(fused.input(i), plain.input(i)) << "running statistic " << i;
      if (mode == runtime::Mode::Eval) continue;

      std::vector<float> dy(y.size());
      for (size_t e = 0; e < dy.size(); ++e) dy[e] = std::sin(0.7f * static_cast<float>(e) + 0.3f);
      std::vector<float> dz(y.size());
      runtime::OpCall rb;
      rb.node = &plain.node();
      rb.in = {runtime::Tensor{}};
      rb.out = {plain.view(y, t)};
      rb.dy = {plain.view(dy, t)};
      rb.dx = {plain.view(dz, t)};
      rb.dx_accumulate = {0};
      relu.backward(rb);
      std::vector<std::vector<float>> init;
      for (size_t i = 0; i < plain.num_inputs(); ++i)
        init.push_back(std::vector<float>(plain.input(i).size(), 0.25f));
      const std::vector<const std::vector<std::vector<float>>*> starts = {nullptr, &init};
      for (const auto* start : starts) {
        const auto want = plain.backward({dz, {}, {}}, start);
        const auto got = fused.backward({dy, {}, {}}, start);
        ASSERT_EQ(got.size(), want.size());
        for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(got[i], want[i]) << "gradient of input " << i;
      }
    }
  }
}

TEST(NormKernels, AbsentDyGivesZeroGradients) {
  OpHarness h(kernels(), bn_case({3, 4, 3, 2}));
  h.forward();
  const auto dx = h.backward({});
  for (size_t i = 0; i < dx.size(); ++i)
    for (float v : dx[i]) ASSERT_EQ(v, 0.0f) << "input " << i;
}

}  // namespace
}  // namespace sublinear::testing
