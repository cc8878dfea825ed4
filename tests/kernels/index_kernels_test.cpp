// arange (f32 and i32 sequences, attribute checks) and argmax (any axis, first index on ties, NaN as the
// largest), the way PyTorch's torch.arange and torch.argmax answer.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "ir/op_registry.h"
#include "runtime/cpu/cpu_kernels.h"
#include "tests/kernels/op_harness.h"

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

}  // namespace
}  // namespace sublinear::testing
