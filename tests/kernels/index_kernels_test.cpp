// arange (f32 and i32 sequences, attribute checks), argmax (any axis, first index on ties, NaN as the
// largest) and take (values on any axis, repeated indices summing their gradients, finite differences,
// out-of-range indices as data errors, i32 rows, determinism), the way PyTorch's torch.arange,
// torch.argmax and torch.index_select answer.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "ir/op_registry.h"
#include "runtime/cpu/cpu_kernels.h"
#include "tests/kernels/nn_kernel_checks.h"

namespace sublinear::testing {
namespace {

const runtime::KernelTable& kernels() {
  static const runtime::KernelTable t = [] {
    runtime::KernelTable k;
    runtime::cpu::register_index_kernels(k);
    return k;
  }();
  return t;
}

TEST(IndexKernels, ArangeF32AndI32) {
  {
    OpHarness h(kernels(), {"arange", {{"n", int64_t{5}}, {"start", 1.5}, {"step", -0.5}}, {}});
    h.forward();
    for (int i = 0; i < 5; ++i) EXPECT_EQ(h.output(0)[i], 1.5f - 0.5f * static_cast<float>(i));
  }
  {
    OpHarness h(kernels(), {"arange", {{"n", int64_t{4}}, {"start", -2.0}, {"step", 3.0}, {"dtype", std::string("i32")}}, {}});
    h.forward();
    const auto* y = reinterpret_cast<const int32_t*>(h.output(0).data());
    EXPECT_EQ(std::vector<int32_t>(y, y + 4), (std::vector<int32_t>{-2, 1, 4, 7}));
  }
  const ir::OpDef* d = ir::OpRegistry::global().find("arange");
  EXPECT_THROW(d->infer({}, ir::validate_attrs(*d, {{"n", int64_t{0}}})), ir::ShapeError);
  EXPECT_THROW(d->infer({}, ir::validate_attrs(*d, {{"n", int64_t{3}}, {"step", 0.5}, {"dtype", std::string("i32")}})),
               ir::ShapeError);
  EXPECT_THROW(d->infer({}, ir::validate_attrs(*d, {{"n", int64_t{3}}, {"start", 3e9}, {"dtype", std::string("i32")}})),
               ir::ShapeError);
}

TEST(IndexKernels, ArgmaxAlongAnyAxisFirstOnTiesNanWins) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // x [2, 3]: rows [1, 5, 5] and [nan, 2, nan]
  const std::vector<float> x = {1, 5, 5, nan, 2, nan};
  {
    OpHarness h(kernels(), {"argmax", {}, {{ir::DType::F32, {2, 3}}}});
    std::copy(x.begin(), x.end(), h.input(0).begin());
    h.forward();
    const auto* y = reinterpret_cast<const int32_t*>(h.output(0).data());
    EXPECT_EQ(y[0], 1);
    EXPECT_EQ(y[1], 0);
  }
  {
    OpHarness h(kernels(), {"argmax", {{"axis", int64_t{0}}}, {{ir::DType::F32, {2, 3}}}});
    std::copy(x.begin(), x.end(), h.input(0).begin());
    h.forward();
    const auto* y = reinterpret_cast<const int32_t*>(h.output(0).data());
    EXPECT_EQ(std::vector<int32_t>(y, y + 3), (std::vector<int32_t>{1, 0, 1}));
  }
  const ir::OpDef* d = ir::OpRegistry::global().find("argmax");
  auto outs = d->infer({{ir::DType::F32, {4, 5, 6}}}, ir::validate_attrs(*d, {{"axis", int64_t{1}}}));
  EXPECT_EQ(outs[0].str(), "i32[4, 6]");
  EXPECT_FALSE(d->differentiable);
}

ir::TensorType f32(ir::Shape s) { return {ir::DType::F32, std::move(s)}; }
ir::TensorType i32(ir::Shape s) { return {ir::DType::I32, std::move(s)}; }

void set_indices(OpHarness& h, std::vector<int32_t> v) {
  auto* p = reinterpret_cast<int32_t*>(h.input(1).data());
  std::copy(v.begin(), v.end(), p);
}

TEST(IndexKernels, TakePicksRowsAndScatterAddsTheGradient) {
  // x [2, 3] (0..5), take columns [2, 0, 2] along axis 1 -> [2, 3].
  OpHarness h(kernels(), {"take", {{"axis", int64_t{1}}}, {f32({2, 3}), i32({3})}});
  for (int i = 0; i < 6; ++i) h.input(0)[i] = static_cast<float>(i);
  set_indices(h, {2, 0, 2});
  h.forward();
  EXPECT_EQ(std::vector<float>(h.output(0).begin(), h.output(0).begin() + 6), (std::vector<float>{2, 0, 2, 5, 3, 5}));
  // Column 2 was taken twice: its gradient is the sum, in position order; column 1 gets none.
  EXPECT_EQ(h.backward({{1, 2, 3, 4, 5, 6, 0}})[0], (std::vector<float>{2, 0, 4, 5, 0, 10}));
  std::vector<std::vector<float>> init{std::vector<float>(7, 1.0f), {}};
  EXPECT_EQ(h.backward({{1, 2, 3, 4, 5, 6, 0}}, &init)[0], (std::vector<float>{3, 1, 5, 6, 1, 11}));
  EXPECT_EQ(h.backward({})[0], std::vector<float>(6, 0.0f));

  // Axis 0 with 2-D indices: y [2, 2, 3].
  OpHarness e(kernels(), {"take", {}, {f32({4, 3}), i32({2, 2})}});
  for (int i = 0; i < 12; ++i) e.input(0)[i] = static_cast<float>(i);
  set_indices(e, {3, 1, 1, 0});
  e.forward();
  EXPECT_EQ(e.node().outputs[0].str(), "f32[2, 2, 3]");
  EXPECT_EQ(std::vector<float>(e.output(0).begin(), e.output(0).begin() + 12),
            (std::vector<float>{9, 10, 11, 3, 4, 5, 3, 4, 5, 0, 1, 2}));
}

TEST(IndexKernels, TakeGradientsMatchFiniteDifferences) {
  GradCheckOptions o;
  for (int64_t axis : {0, 1, 2, -1}) {
    OpCase c{"take", {{"axis", axis}}, {f32({3, 4, 5}), i32({2, 3})}};
    c.int_range = 3;  // repeated indices, and rows nobody takes
    expect_gradients_match(kernels(), c, o);
    expect_accumulates(kernels(), c);
  }
  OpCase big{"take", {{"axis", int64_t{0}}}, {f32({50, 64}), i32({300})}};
  big.int_range = 50;
  expect_deterministic(kernels(), big);
}

TEST(IndexKernels, TakeRefusesIndicesOutsideTheAxisAndMovesI32) {
  for (int32_t bad : {-1, 4}) {
    OpHarness h(kernels(), {"take", {{"axis", int64_t{0}}}, {f32({4, 2}), i32({3})}});
    set_indices(h, {0, bad, 1});
    try {
      h.forward();
      ADD_FAILURE() << "index " << bad << " accepted";
    } catch (const std::out_of_range& e) {
      EXPECT_NE(std::string(e.what()).find("index " + std::to_string(bad) + " at position 1 is outside axis 0 of 4"),
                std::string::npos)
          << e.what();
    }
  }
  OpHarness t(kernels(), {"take", {{"axis", int64_t{-1}}}, {i32({2, 3}), i32({2})}});
  auto* x = reinterpret_cast<int32_t*>(t.input(0).data());
  for (int i = 0; i < 6; ++i) x[i] = (1 << 28) + i;
  set_indices(t, {2, 1});
  t.forward();
  const auto* y = reinterpret_cast<const int32_t*>(t.output(0).data());
  EXPECT_EQ(std::vector<int32_t>(y, y + 4), (std::vector<int32_t>{(1 << 28) + 2, (1 << 28) + 1, (1 << 28) + 5, (1 << 28) + 4}));
  const ir::OpDef* d = ir::OpRegistry::global().find("take");
  EXPECT_THROW(d->infer({f32({4}), f32({2})}, ir::validate_attrs(*d, {})), ir::ShapeError);
  EXPECT_THROW(d->infer({f32({4}), i32({2})}, ir::validate_attrs(*d, {{"axis", int64_t{1}}})), ir::ShapeError);
  EXPECT_EQ(d->backward.inputs, std::vector<int>{1});
}

}  // namespace
}  // namespace sublinear::testing
