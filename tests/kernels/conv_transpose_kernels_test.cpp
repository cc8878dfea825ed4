// conv_transpose2d (oneDNN deconvolution): forward against the definition (each input pixel scatters
// weight * x into the output, then the padding is cut) computed in double, over strides, padding,
// output_padding, dilation, groups and bias, on both the plain and the blocked-layout path; gradients
// against finite differences; accumulation; determinism.
#include <gtest/gtest.h>

#include "runtime/cpu/cpu_kernels.h"
#include "tests/kernels/nn_kernel_checks.h"

namespace sublinear::testing {
namespace {

const runtime::KernelTable& kernels() {
  static const runtime::KernelTable t = [] {
    runtime::KernelTable k;
    runtime::cpu::register_conv_transpose_kernels(k);
    return k;
  }();
  return t;
}

struct Case {
  ir::Shape x;
  int64_t out, kernel, stride, pad, output_padding, dilation, groups;
  bool bias;
};

OpCase op_case(const Case& c) {
  return {"conv_transpose2d",
          {{"out", c.out},
           {"kernel", c.kernel},
           {"stride", c.stride},
           {"pad", c.pad},
           {"output_padding", c.output_padding},
           {"dilation", c.dilation},
           {"groups", c.groups},
           {"bias", c.bias}},
          {{ir::DType::F32, c.x}}};
}

const std::vector<Case>& cases() {
  static const std::vector<Case> v = {
      {{2, 3, 4, 5}, 4, 2, 2, 0, 0, 1, 1, true},   // U-Net's 2x2 stride-2 upsampling
      {{1, 4, 3, 3}, 6, 3, 2, 1, 1, 1, 2, false},  // output_padding, groups
      {{2, 2, 4, 4}, 3, 3, 1, 1, 0, 2, 1, true},   // dilation
      {{2, 16, 16, 16}, 16, 4, 2, 1, 0, 1, 1, true},  // large enough for oneDNN's blocked layouts
  };
  return v;
}

TEST(ConvTransposeKernels, ForwardMatchesTheDefinition) {
  for (const Case& c : cases()) {
    OpHarness h(kernels(), op_case(c));
    SCOPED_TRACE(h.node().outputs[0].str());
    h.forward();
    const int64_t n = c.x[0], ci = c.x[1], hi = c.x[2], wi = c.x[3];
    const auto& ys = h.node().outputs[0].shape;
    const int64_t ho = ys[2], wo = ys[3], og = c.out / c.groups, cg = ci / c.groups;
    std::vector<double> want(static_cast<size_t>(n * c.out * ho * wo), 0.0);
    const std::vector<float>& x = h.input(0);
    const std::vector<float>& w = h.input(1);  // [ci, og, k, k]
    for (int64_t b = 0; b < n; ++b)
      for (int64_t ch = 0; ch < ci; ++ch) {
        const int64_t g = ch / cg;
        for (int64_t i = 0; i < hi; ++i)
          for (int64_t j = 0; j < wi; ++j)
            for (int64_t o = 0; o < og; ++o)
              for (int64_t ki = 0; ki < c.kernel; ++ki)
                for (int64_t kj = 0; kj < c.kernel; ++kj) {
                  const int64_t y = i * c.stride - c.pad + ki * c.dilation, z = j * c.stride - c.pad + kj * c.dilation;
                  if (y < 0 || y >= ho || z < 0 || z >= wo) continue;
                  want[static_cast<size_t>(((b * c.out + g * og + o) * ho + y) * wo + z)] +=
                      double(x[((b * ci + ch) * hi + i) * wi + j]) * w[((ch * og + o) * c.kernel + ki) * c.kernel + kj];
                }
      }
    if (c.bias)
      for (size_t e = 0; e < want.size(); ++e) want[e] += h.input(2)[(e / static_cast<size_t>(ho * wo)) % c.out];
    expect_close(h.output(0), want, 1e-4, 1e-4, "y");
  }
}

TEST(ConvTransposeKernels, GradientsAccumulationDeterminism) {
  GradCheckOptions o;
  o.h = 1e-2;
  o.probes = 30;
  for (size_t k = 0; k < 3; ++k) {
    expect_gradients_match(kernels(), op_case(cases()[k]), o);
    expect_accumulates(kernels(), op_case(cases()[k]));
  }
  expect_deterministic(kernels(), op_case(cases()[3]));
}

TEST(ConvTransposeKernels, ShapesAndErrors) {
  const ir::OpDef* d = ir::OpRegistry::global().find("conv_transpose2d");
  ASSERT_NE(d, nullptr);
  auto attrs = [](std::vector<std::pair<std::string, ir::AttrValue>> a) {
    return ir::validate_attrs(*ir::OpRegistry::global().find("conv_transpose2d"), a);
  };
  const ir::TensorType x{ir::DType::F32, {2, 8, 5, 7}};
  auto p = d->params({x}, attrs({{"out", int64_t{4}}, {"kernel", int64_t{3}}, {"groups", int64_t{2}}}));
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].type.str(), "f32[8, 2, 3, 3]");  // PyTorch's [C_in, out / groups, kh, kw]
  const auto a = attrs({{"out", int64_t{4}}, {"kernel", int64_t{3}}, {"stride", int64_t{2}}, {"pad", int64_t{1}},
                        {"output_padding", int64_t{1}}});
  auto pp = d->params({x}, a);
  EXPECT_EQ(d->infer({x, pp[0].type, pp[1].type}, a)[0].str(), "f32[2, 4, 10, 14]");
  EXPECT_THROW(d->params({x}, attrs({{"out", int64_t{4}}, {"kernel", int64_t{3}}, {"stride", int64_t{2}},
                                     {"output_padding", int64_t{2}}})),
               ir::ShapeError);
  EXPECT_THROW(d->params({x}, attrs({{"out", int64_t{3}}, {"kernel", int64_t{3}}, {"groups", int64_t{2}}})),
               ir::ShapeError);
}

}  // namespace
}  // namespace sublinear::testing
