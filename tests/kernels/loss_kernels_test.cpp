// CPU kernels of softmax, softmax_cross_entropy, mean, sum and accuracy: values by hand, finite-difference
// gradients on every axis and reduction, numerical stability with huge logits, out-of-range labels,
// argmax ties, accumulation, and bitwise determinism across runs and thread counts.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/cpu/cpu_kernels.h"
#include "tests/kernels/op_harness.h"
#include "tests/support/split_mix64.h"

namespace sublinear::testing {
namespace {

const runtime::KernelTable& kernels() {
  static const runtime::KernelTable t = [] {
    runtime::KernelTable k;
    runtime::cpu::register_loss_kernels(k);
    return k;
  }();
  return t;
}

ir::TensorType f32(ir::Shape s) { return {ir::DType::F32, std::move(s)}; }
ir::TensorType i32(ir::Shape s) { return {ir::DType::I32, std::move(s)}; }
ir::AttrValue ints(std::vector<int64_t> v) { return v; }
ir::AttrValue num(int64_t v) { return v; }
ir::AttrValue str(const char* s) { return std::string(s); }

void set(std::vector<float>& buf, const std::vector<float>& v) { std::copy(v.begin(), v.end(), buf.begin()); }
void set_labels(OpHarness& h, const std::vector<int32_t>& v) {
  auto* p = reinterpret_cast<int32_t*>(h.input(1).data());
  std::copy(v.begin(), v.end(), p);
}

// Softmax and the cross-entropy are smooth: with h = 1e-2 the central difference is off by about
// h^2 / 6 times the third derivative, and by float rounding of the outputs over 2h; both stay below
// 2e-5 absolute on these cases, a margin of about three.
GradCheckOptions smooth_tolerance() {
  GradCheckOptions o;
  o.rtol = 2e-3;
  o.atol = 5e-5;
  return o;
}

// Reductions are linear: only rounding separates the two.
GradCheckOptions linear_tolerance() {
  GradCheckOptions o;
  o.rtol = 1e-3;
  o.atol = 1e-4;
  return o;
}

TEST(LossKernels, SoftmaxValues) {
  OpHarness h(kernels(), {"softmax", {}, {f32({2, 3})}});
  set(h.input(0), {1, 2, 3, 1000, 1000, 1000});
  h.forward();
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  const double want[] = {std::exp(1.0) / z, std::exp(2.0) / z, std::exp(3.0) / z, 1 / 3.0, 1 / 3.0, 1 / 3.0};
  for (size_t i = 0; i < 6; ++i) EXPECT_NEAR(h.output(0)[i], want[i], 2e-7) << i;

  // Along axis 0 of [2, 2]: each column normalised.
  OpHarness c(kernels(), {"softmax", {{"axis", num(0)}}, {f32({2, 2})}});
  set(c.input(0), {0, 5, std::log(3.0f), 5});
  c.forward();
  EXPECT_NEAR(c.output(0)[0], 0.25, 2e-7);
  EXPECT_NEAR(c.output(0)[1], 0.5, 2e-7);
  EXPECT_NEAR(c.output(0)[2], 0.75, 2e-7);
  EXPECT_NEAR(c.output(0)[3], 0.5, 2e-7);
}

TEST(LossKernels, SoftmaxGradients) {
  for (int64_t axis : {0, 1, 2, -1, -2})
    expect_gradients_match(kernels(), {"softmax", {{"axis", num(axis)}}, {f32({3, 4, 5})}}, smooth_tolerance());
  expect_gradients_match(kernels(), {"softmax", {}, {f32({7})}}, smooth_tolerance());
  // More than one block of 64 columns along the inner axis.
  expect_gradients_match(kernels(), {"softmax", {{"axis", num(0)}}, {f32({3, 70})}}, smooth_tolerance());
  expect_accumulates(kernels(), {"softmax", {{"axis", num(1)}}, {f32({3, 4, 5})}});
  OpHarness h(kernels(), {"softmax", {}, {f32({2, 3})}});
  h.forward();
  EXPECT_EQ(h.backward({})[0], std::vector<float>(6, 0.0f));
}

TEST(LossKernels, CrossEntropyValues) {
  // Rows: logits [1, 2, 3] with label 2, and [1, 1, 1] with label 0.
  const double row0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3.0, row1 = std::log(3.0);
  for (const char* reduction : {"mean", "sum", "none"}) {
    SCOPED_TRACE(reduction);
    OpHarness h(kernels(), {"softmax_cross_entropy", {{"reduction", str(reduction)}}, {f32({2, 3}), i32({2})}});
    set(h.input(0), {1, 2, 3, 1, 1, 1});
    set_labels(h, {2, 0});
    h.forward();
    const std::string r = reduction;
    if (r == "none") {
      EXPECT_NEAR(h.output(0)[0], row0, 1e-6);
      EXPECT_NEAR(h.output(0)[1], row1, 1e-6);
    } else {
      EXPECT_NEAR(h.output(0)[0], r == "mean" ? (row0 + row1) / 2 : row0 + row1, 1e-6);
    }
    // The hidden output holds the probabilities.
    EXPECT_NEAR(h.output(1)[2], std::exp(3.0) / (std::exp(1.0) + std::exp(2.0) + std::exp(3.0)), 1e-7);
    EXPECT_NEAR(h.output(1)[4], 1 / 3.0, 1e-7);
    // dlogits = g * (probs - onehot), g = 1/2 for the mean of two rows.
    std::vector<float> dy = r == "none" ? std::vector<float>{1, 1, 0} : std::vector<float>{1, 0};
    const auto dx = h.backward({dy});
    const double g = r == "mean" ? 0.5 : 1.0;
    EXPECT_NEAR(dx[0][3], g * (1 / 3.0 - 1), 1e-7);
    EXPECT_NEAR(dx[0][4], g / 3.0, 1e-7);
  }
}

TEST(LossKernels, CrossEntropyIsStableForHugeLogits) {
  // Shifting logits by a constant changes nothing, even where exp would overflow.
  OpHarness h(kernels(), {"softmax_cross_entropy", {{"reduction", str("none")}}, {f32({2, 3}), i32({2})}});
  set(h.input(0), {1001, 1002, 1003, -1e30f, 0, -1e30f});
  set_labels(h, {0, 1});
  h.forward();
  const double row0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 1.0;
  EXPECT_NEAR(h.output(0)[0], row0, 1e-5);
  EXPECT_EQ(h.output(0)[1], 0.0f);
  EXPECT_EQ(h.output(1)[3], 0.0f);
  EXPECT_EQ(h.output(1)[4], 1.0f);
}

TEST(LossKernels, CrossEntropyGradients) {
  for (const char* reduction : {"mean", "sum", "none"}) {
    OpCase c{"softmax_cross_entropy", {{"reduction", str(reduction)}}, {f32({4, 5}), i32({4})}, 5};
    expect_gradients_match(kernels(), c, smooth_tolerance());
    expect_accumulates(kernels(), c);
    expect_gradients_match(kernels(), {"softmax_cross_entropy", {{"reduction", str(reduction)}},
                                       {f32({2, 3, 4}), i32({2, 3})}, 4},
                           smooth_tolerance());
    expect_gradients_match(kernels(), {"softmax_cross_entropy", {{"reduction", str(reduction)}},
                                       {f32({6}), i32({})}, 6},
                           smooth_tolerance());
  }
  OpHarness h(kernels(), {"softmax_cross_entropy", {}, {f32({2, 3}), i32({2})}, 3});
  h.forward();
  EXPECT_EQ(h.backward({})[0], std::vector<float>(6, 0.0f));
}

TEST(LossKernels, CrossEntropyRejectsOutOfRangeLabels) {
  for (int32_t bad : {-1, 5, 1 << 30}) {
    OpHarness h(kernels(), {"softmax_cross_entropy", {}, {f32({3, 5}), i32({3})}});
    set_labels(h, {0, bad, 4});
    try {
      h.forward();
      ADD_FAILURE() << "label " << bad << " was accepted";
    } catch (const std::runtime_error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("softmax_cross_entropy"), std::string::npos) << msg;
      EXPECT_NE(msg.find("label " + std::to_string(bad)), std::string::npos) << msg;
      EXPECT_NE(msg.find("[0, 5)"), std::string::npos) << msg;
    }
  }
  OpHarness a(kernels(), {"accuracy", {}, {f32({2, 3}), i32({2})}});
  set_labels(a, {3, 0});
  EXPECT_THROW(a.forward(), std::runtime_error);
}

TEST(LossKernels, Accuracy) {
  OpHarness h(kernels(), {"accuracy", {}, {f32({4, 3}), i32({4})}});
  // Row 1 ties between classes 1 and 2: argmax is the first, 1.
  set(h.input(0), {0.1f, 0.9f, 0.0f, 1, 3, 3, 5, -1, 2, -2, -1, -3});
  set_labels(h, {1, 2, 0, 1});
  h.forward();
  EXPECT_EQ(h.output(0)[0], 0.75f);
  set_labels(h, {1, 1, 0, 1});
  h.forward();
  EXPECT_EQ(h.output(0)[0], 1.0f);
  set_labels(h, {0, 2, 1, 0});
  h.forward();
  EXPECT_EQ(h.output(0)[0], 0.0f);

  // Leading axes are rows too: [2, 3, 2] logits, [2, 3] labels, 6 rows.
  OpHarness r(kernels(), {"accuracy", {}, {f32({2, 3, 2}), i32({2, 3})}});
  set(r.input(0), {1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1});
  set_labels(r, {0, 1, 1, 1, 1, 0});
  r.forward();
  EXPECT_EQ(r.output(0)[0], 0.5f);
  EXPECT_FALSE(static_cast<bool>(kernels().get("accuracy").backward));
}

TEST(LossKernels, MeanAndSumValues) {
  OpHarness s(kernels(), {"sum", {{"axes", ints({1})}}, {f32({2, 3})}});
  set(s.input(0), {1, 2, 3, 4, 5, 6});
  s.forward();
  EXPECT_EQ(s.output(0)[0], 6.0f);
  EXPECT_EQ(s.output(0)[1], 15.0f);
  EXPECT_EQ(s.backward({{1, -2, 0}})[0], (std::vector<float>{1, 1, 1, -2, -2, -2}));

  OpHarness m(kernels(), {"mean", {{"axes", ints({0})}, {"keepdims", true}}, {f32({2, 3})}});
  set(m.input(0), {1, 2, 3, 4, 5, 6});
  m.forward();
  EXPECT_EQ(m.node().outputs[0].shape, (ir::Shape{1, 3}));
  EXPECT_EQ(m.output(0)[0], 2.5f);
  EXPECT_EQ(m.output(0)[2], 4.5f);
  EXPECT_EQ(m.backward({{2, 4, 6, 0}})[0], (std::vector<float>{1, 2, 3, 1, 2, 3}));

  OpHarness all(kernels(), {"mean", {}, {f32({2, 2})}});
  set(all.input(0), {1, 2, 3, 5});
  all.forward();
  EXPECT_EQ(all.output(0)[0], 2.75f);
  EXPECT_EQ(all.backward({{1, 0}})[0], std::vector<float>(4, 0.25f));
  EXPECT_EQ(all.backward({})[0], std::vector<float>(4, 0.0f));
}

TEST(LossKernels, MeanAndSumGradients) {
  const std::vector<std::vector<int64_t>> axes_list = {{}, {0}, {1}, {2}, {-1}, {0, 2}, {1, 2}, {0, 1, 2}, {-3, -2}};
  for (const char* op : {"mean", "sum"})
    for (const auto& axes : axes_list)
      for (bool keep : {false, true}) {
        OpCase c{op, {{"axes", ints(axes)}, {"keepdims", keep}}, {f32({3, 4, 5})}};
        expect_gradients_match(kernels(), c, linear_tolerance());
        expect_accumulates(kernels(), c);
      }
  expect_gradients_match(kernels(), {"sum", {}, {f32({})}}, linear_tolerance());
  expect_gradients_match(kernels(), {"mean", {{"axes", ints({1})}}, {f32({4, 1, 3})}}, linear_tolerance());
}

TEST(LossKernels, LargeReductionsMatchDoubleReference) {
  // 600k elements: the full reduction is split in fixed chunks and summed in double.
  for (const auto& axes : std::vector<std::vector<int64_t>>{{}, {0}, {1}}) {
    OpHarness h(kernels(), {"sum", {{"axes", ints(axes)}}, {f32({600, 1000})}});
    h.forward();
    const auto& x = h.input(0);
    const int64_t outs = axes.empty() ? 1 : axes[0] == 0 ? 1000 : 600;
    for (int64_t o = 0; o < std::min<int64_t>(outs, 50); ++o) {
      double want = 0;
      if (axes.empty())
        for (size_t i = 0; i < 600000; ++i) want += x[i];
      else if (axes[0] == 0)
        for (size_t r = 0; r < 600; ++r) want += x[r * 1000 + static_cast<size_t>(o)];
      else
        for (size_t k = 0; k < 1000; ++k) want += x[static_cast<size_t>(o) * 1000 + k];
      EXPECT_NEAR(h.output(0)[static_cast<size_t>(o)], want, 1e-6 * (std::abs(want) + 1)) << "output " << o;
    }
  }
}

// Forward and backward of the reductions, softmax on a middle axis and the loss, on tensors large
// enough to run threaded, as one vector of results.
std::vector<float> big_run() {
  std::vector<float> all;
  const OpCase cases[] = {
      {"sum", {}, {f32({512, 700})}},
      {"mean", {{"axes", ints({0, 2})}}, {f32({64, 30, 200})}},
      {"mean", {{"axes", ints({1})}}, {f32({64, 30, 200})}},
      {"softmax", {{"axis", num(1)}}, {f32({32, 50, 100})}},
      {"softmax_cross_entropy", {}, {f32({4000, 40}), i32({4000})}, 40},
  };
  for (const auto& c : cases) {
    OpHarness h(kernels(), c, 4);
    h.forward();
    std::vector<std::vector<float>> dy(h.num_outputs());
    dy[0] = h.output(0);
    all.insert(all.end(), h.output(0).begin(), h.output(0).end());
    for (const auto& d : h.backward(dy)) all.insert(all.end(), d.begin(), d.end());
  }
  return all;
}

TEST(LossKernels, DeterministicAcrossRunsAndThreads) {
  const int saved = omp_get_max_threads();
  const auto ref = big_run();
  EXPECT_EQ(ref, big_run());
  for (int threads : {1, 3}) {
    omp_set_num_threads(threads);
    EXPECT_EQ(ref, big_run()) << threads << " threads";
  }
  omp_set_num_threads(saved);
}

}  // namespace
}  // namespace sublinear::testing
