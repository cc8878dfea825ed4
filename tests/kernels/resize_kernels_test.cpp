// upsample: nearest and bilinear values against PyTorch's F.interpolate (numbers printed by PyTorch 2.x
// into this file), gradients against finite differences, accumulation and determinism.
#include <gtest/gtest.h>

#include "runtime/cpu/cpu_kernels.h"
#include "tests/kernels/nn_kernel_checks.h"

namespace sublinear::testing {
namespace {

const runtime::KernelTable& kernels() {
  static const runtime::KernelTable t = [] {
    runtime::KernelTable k;
    runtime::cpu::register_resize_kernels(k);
    return k;
  }();
  return t;
}

OpCase up(ir::Shape x, std::vector<int64_t> scale, const char* mode) {
  return {"upsample", {{"scale", scale}, {"mode", std::string(mode)}}, {{ir::DType::F32, std::move(x)}}};
}

// x = [[0, -0.5, 4], [3, -2, 10], [6, -3.5, 16]]
const std::vector<float> kX = {0.0f, -0.5f, 4.0f, 3.0f, -2.0f, 10.0f, 6.0f, -3.5f, 16.0f};

TEST(ResizeKernels, NearestRepeatsPixels) {
  OpHarness h(kernels(), up({1, 1, 3, 3}, {2, 3}, "nearest"));
  std::copy(kX.begin(), kX.end(), h.input(0).begin());
  h.forward();
  for (int oh = 0; oh < 6; ++oh)
    for (int ow = 0; ow < 9; ++ow) EXPECT_EQ(h.output(0)[oh * 9 + ow], kX[(oh / 2) * 3 + ow / 3]) << oh << "," << ow;
}

TEST(ResizeKernels, BilinearMatchesPyTorch) {
  // F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=False)
  const std::vector<double> by2 = {0,       -0.125,  -0.375,   0.625,   2.875,   4,       0.75,     0.34375, -0.46875,
                                   0.71875, 3.90625, 5.5,      2.25,    1.28125, -0.65625, 0.90625, 5.96875, 8.5,
                                   3.75,    2.21875, -0.84375, 1.09375, 8.03125, 11.5,     5.25,    3.15625, -1.03125,
                                   1.28125, 10.09375, 14.5,    6,       3.625,   -1.125,   1.375,   11.125,  16};
  // scale_factor=(3, 2)
  const std::vector<double> by32 = {0,  -0.125, -0.375, 0.625,  2.875, 4,  0,  -0.125, -0.375, 0.625, 2.875,  4,
                                    1,  0.5,    -0.5,   0.75,   4.25,  6,  2,  1.125,  -0.625, 0.875, 5.625,  8,
                                    3,  1.75,   -0.75,  1,      7,     10, 4,  2.375,  -0.875, 1.125, 8.375,  12,
                                    5,  3,      -1,     1.25,   9.75,  14, 6,  3.625,  -1.125, 1.375, 11.125, 16,
                                    6,  3.625,  -1.125, 1.375,  11.125, 16};
  for (const auto& [scale, want] : {std::pair{std::vector<int64_t>{2}, by2}, std::pair{std::vector<int64_t>{3, 2}, by32}}) {
    OpHarness h(kernels(), up({1, 1, 3, 3}, scale, "bilinear"));
    std::copy(kX.begin(), kX.end(), h.input(0).begin());
    h.forward();
    expect_close(h.output(0), want, 2e-6, 1e-6, "bilinear");
  }
}

TEST(ResizeKernels, GradientsAccumulationDeterminism) {
  GradCheckOptions o;
  o.h = 1e-3;
  o.probes = 40;
  for (const char* mode : {"nearest", "bilinear"}) {
    for (const auto& scale : {std::vector<int64_t>{2}, std::vector<int64_t>{3, 2}, std::vector<int64_t>{1, 4}}) {
      expect_gradients_match(kernels(), up({2, 3, 4, 5}, scale, mode), o);
      expect_accumulates(kernels(), up({2, 3, 4, 5}, scale, mode));
    }
    expect_deterministic(kernels(), up({3, 5, 17, 13}, {2}, mode));
  }
}

TEST(ResizeKernels, ShapesAndLimits) {
  const ir::OpDef* d = ir::OpRegistry::global().find("upsample");
  ASSERT_NE(d, nullptr);
  auto outs = d->infer({{ir::DType::F32, {2, 3, 5, 7}}}, ir::validate_attrs(*d, {{"scale", std::vector<int64_t>{2, 3}}}));
  EXPECT_EQ(outs[0].str(), "f32[2, 3, 10, 21]");
  EXPECT_THROW(d->infer({{ir::DType::F32, {2, 3, 5}}}, ir::validate_attrs(*d, {})), ir::ShapeError);
  EXPECT_THROW(d->infer({{ir::DType::F32, {2, 3, 5, 5}}}, ir::validate_attrs(*d, {{"scale", std::vector<int64_t>{0}}})),
               ir::ShapeError);
  EXPECT_TRUE(d->backward.inputs.empty() && d->backward.outputs.empty());
}

}  // namespace
}  // namespace sublinear::testing
