// The pointwise math kernels (exp ... silu, div, maximum, minimum, where) and the row norms (layer_norm,
// rms_norm): forward against double formulas, gradients against central finite differences (with
// broadcasting both ways for the binary ops), the in-place and accumulate parts of the kernel contract,
// the tie rule of maximum/minimum, and bitwise determinism across runs and alignments.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "runtime/cpu/cpu_kernels.h"
#include "tests/kernels/nn_kernel_checks.h"

namespace sublinear::testing {
namespace {

const runtime::KernelTable& kernels() {
  static const runtime::KernelTable t = [] {
    runtime::KernelTable k;
    runtime::cpu::register_math_kernels(k);
    runtime::cpu::register_row_norm_kernels(k);
    return k;
  }();
  return t;
}

ir::TensorType f32(ir::Shape s) { return {ir::DType::F32, std::move(s)}; }

struct Unary {
  const char* op;
  std::vector<std::pair<std::string, ir::AttrValue>> attrs;
  bool positive;
  std::function<double(double)> f;
};

const double kPi = 3.141592653589793;

std::vector<Unary> unary_ops() {
  auto gelu = [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); };
  auto gelu_tanh = [](double x) {
    return 0.5 * x * (1 + std::tanh(std::sqrt(2 / kPi) * (x + 0.044715 * x * x * x)));
  };
  return {
      {"exp", {}, false, [](double x) { return std::exp(x); }},
      {"log", {}, true, [](double x) { return std::log(x); }},
      {"sqrt", {}, true, [](double x) { return std::sqrt(x); }},
      {"rsqrt", {}, true, [](double x) { return 1 / std::sqrt(x); }},
      {"abs", {}, false, [](double x) { return std::fabs(x); }},
      {"neg", {}, false, [](double x) { return -x; }},
      {"sin", {}, false, [](double x) { return std::sin(x); }},
      {"cos", {}, false, [](double x) { return std::cos(x); }},
      {"affine", {{"factor", -1.5}, {"offset", 0.25}}, false, [](double x) { return -1.5 * x + 0.25; }},
      {"pow", {{"exponent", 2.0}}, false, [](double x) { return x * x; }},
      {"pow", {{"exponent", 3.0}}, false, [](double x) { return x * x * x; }},
      {"pow", {{"exponent", -0.5}}, true, [](double x) { return std::pow(x, -0.5); }},
      {"gelu", {}, false, gelu},
      {"gelu", {{"approximate", std::string("tanh")}}, false, gelu_tanh},
      {"silu", {}, false, [](double x) { return x / (1 + std::exp(-x)); }},
  };
}

OpCase unary_case(const Unary& u, ir::Shape s = {3, 4, 5}) {
  OpCase c{u.op, u.attrs, {f32(std::move(s))}};
  c.positive = u.positive;
  return c;
}

TEST(MathKernels, UnaryForwardMatchesFormulas) {
  for (const Unary& u : unary_ops()) {
    OpHarness h(kernels(), unary_case(u, {7, 9}));
    h.forward();
    std::vector<double> want;
    for (int i = 0; i < 63; ++i) want.push_back(u.f(h.input(0)[i]));
    expect_close(h.output(0), want, 2e-6, 2e-6, u.op);
  }
}

TEST(MathKernels, UnaryGradientsMatchFiniteDifferences) {
  GradCheckOptions o;
  o.h = 1e-3;
  for (const Unary& u : unary_ops()) expect_gradients_match(kernels(), unary_case(u), o);
}

TEST(MathKernels, UnaryInplaceAccumulateDeterministic) {
  for (const Unary& u : unary_ops()) {
    if (!ir::OpRegistry::global().find(u.op)->inplace.empty()) expect_inplace_equivalent(kernels(), unary_case(u));
    expect_accumulates(kernels(), unary_case(u));
    expect_deterministic(kernels(), unary_case(u, {5, 301}));
  }
}

// Only what the registry declares is read in the backward: y for exp, sqrt, rsqrt (so the input may
// be overwritten in place), x for the rest, nothing for neg and affine.
TEST(MathKernels, BackwardReadsAreMinimal) {
  const auto& reg = ir::OpRegistry::global();
  for (const char* op : {"exp", "sqrt", "rsqrt"}) {
    EXPECT_EQ(reg.find(op)->backward.outputs, std::vector<int>{0}) << op;
    EXPECT_TRUE(reg.find(op)->backward.inputs.empty()) << op;
    EXPECT_FALSE(reg.find(op)->inplace.empty()) << op;
  }
  for (const char* op : {"log", "abs", "sin", "cos", "pow", "gelu", "silu"}) {
    EXPECT_EQ(reg.find(op)->backward.inputs, std::vector<int>{0}) << op;
    EXPECT_TRUE(reg.find(op)->inplace.empty()) << op;
  }
  for (const char* op : {"neg", "affine"}) {
    EXPECT_TRUE(reg.find(op)->backward.inputs.empty()) << op;
    EXPECT_TRUE(reg.find(op)->backward.outputs.empty()) << op;
  }
  EXPECT_EQ(reg.find("div")->backward.inputs, std::vector<int>{1});
  EXPECT_EQ(reg.find("div")->backward.outputs, std::vector<int>{0});
}

struct Shapes {
  ir::Shape a, b;
};

const std::vector<Shapes>& broadcast_cases() {
  static const std::vector<Shapes> cases = {{{2, 3}, {2, 3}}, {{2, 3}, {3}},     {{3}, {2, 3}},
                                            {{4, 1, 3}, {1, 5, 1}}, {{}, {2, 3}}, {{2, 3, 4}, {3, 1}}};
  return cases;
}

OpCase binary_case(const char* op, const Shapes& s) {
  OpCase c{op, {}, {f32(s.a), f32(s.b)}};
  c.positive = std::string(op) == "div";
  return c;
}

TEST(MathKernels, BinaryForwardValues) {
  const std::vector<std::pair<const char*, std::function<double(double, double)>>> ops = {
      {"div", [](double a, double b) { return a / b; }},
      {"maximum", [](double a, double b) { return std::max(a, b); }},
      {"minimum", [](double a, double b) { return std::min(a, b); }}};
  for (const auto& [op, f] : ops) {
    OpHarness h(kernels(), binary_case(op, {{2, 3}, {3}}));
    h.forward();
    std::vector<double> want;
    for (int i = 0; i < 6; ++i) want.push_back(f(h.input(0)[i], h.input(1)[i % 3]));
    expect_close(h.output(0), want, 1e-7, 1e-7, op);
  }
}

TEST(MathKernels, BinaryGradientsOverBroadcasting) {
  GradCheckOptions o;
  o.h = 1e-3;
  for (const char* op : {"div", "maximum", "minimum"})
    for (const Shapes& s : broadcast_cases()) expect_gradients_match(kernels(), binary_case(op, s), o);
}

TEST(MathKernels, BinaryInplaceAccumulateDeterministic) {
  for (const char* op : {"div", "maximum", "minimum"}) {
    for (const Shapes& s : broadcast_cases()) {
      // div writes y over a (a full-size a only); maximum and minimum read both inputs in the backward.
      if (std::string(op) == "div" && s.a == ir::Shape{2, 3}) expect_inplace_equivalent(kernels(), binary_case(op, s));
      expect_accumulates(kernels(), binary_case(op, s));
    }
    expect_deterministic(kernels(), binary_case(op, {{5, 301}, {301}}));
  }
}

// PyTorch's rule: on a tie each input gets half the gradient.
TEST(MathKernels, MaximumAndMinimumSplitTies) {
  for (const char* op : {"maximum", "minimum"}) {
    OpHarness h(kernels(), binary_case(op, {{3}, {3}}));
    h.input(0) = {1.0f, 2.0f, 3.0f, 0.0f};
    h.input(1) = {1.0f, 5.0f, -1.0f, 0.0f};
    h.forward();
    const auto dx = h.backward({{2.0f, 2.0f, 2.0f, 0.0f}});
    const bool is_max = std::string(op) == "maximum";
    EXPECT_EQ(dx[0][0], 1.0f) << op;
    EXPECT_EQ(dx[1][0], 1.0f) << op;
    EXPECT_EQ(dx[0][1], is_max ? 0.0f : 2.0f) << op;
    EXPECT_EQ(dx[1][1], is_max ? 2.0f : 0.0f) << op;
    EXPECT_EQ(dx[0][2], is_max ? 2.0f : 0.0f) << op;
  }
}

// --- where -----------------------------------------------------------------------------------------------

ir::TensorType i32(ir::Shape s) { return {ir::DType::I32, std::move(s)}; }

struct WhereShapes {
  ir::Shape cond, a, b;
};

const std::vector<WhereShapes>& where_cases() {
  static const std::vector<WhereShapes> cases = {{{2, 3}, {2, 3}, {2, 3}}, {{3}, {2, 3}, {2, 3}},
                                                 {{2, 1}, {2, 3}, {}},     {{2, 3}, {3}, {2, 1}},
                                                 {{4, 1, 3}, {1, 5, 1}, {5, 3}}, {{}, {2, 3}, {2, 3}}};
  return cases;
}

TEST(MathKernels, WhereForwardValues) {
  for (bool int_cond : {true, false}) {
    OpHarness h(kernels(), {"where", {}, {int_cond ? i32({2, 1}) : f32({2, 1}), f32({2, 3}), f32({3})}});
    if (int_cond) {
      auto* c = reinterpret_cast<int32_t*>(h.input(0).data());
      c[0] = 0, c[1] = -7;  // nonzero is true
    } else {
      h.input(0)[0] = -0.0f, h.input(0)[1] = std::nanf("");  // -0 is false, NaN true (numpy's bool())
    }
    h.forward();
    for (int i = 0; i < 6; ++i) {
      const float want = i < 3 ? h.input(2)[i % 3] : h.input(1)[i];
      EXPECT_EQ(h.output(0)[i], want) << i << (int_cond ? " i32" : " f32");
    }
    const auto dx = h.backward({{1, 2, 3, 4, 5, 6, 0}});
    EXPECT_EQ(dx[1], (std::vector<float>{0, 0, 0, 4, 5, 6}));
    EXPECT_EQ(dx[2], (std::vector<float>{1, 2, 3}));  // summed over the broadcast axis
    if (!int_cond) {
      EXPECT_EQ(dx[0], (std::vector<float>{0, 0}));
    }
  }
}

TEST(MathKernels, WhereGradientsOverBroadcasting) {
  GradCheckOptions o;
  o.h = 1e-3;
  for (const WhereShapes& s : where_cases()) {
    OpCase c{"where", {}, {i32(s.cond), f32(s.a), f32(s.b)}};
    c.int_range = 2;
    expect_gradients_match(kernels(), c, o);
    expect_accumulates(kernels(), c);
    const ir::TensorType y = OpHarness(kernels(), c).node().outputs[0];
    if (f32(s.a) == y || f32(s.b) == y) expect_inplace_equivalent(kernels(), c);
  }
  expect_deterministic(kernels(), {"where", {}, {i32({5, 1}), f32({5, 301}), f32({301})}, 2});
}

// where(c, x, x): one buffer for both gradients, the first written and the second added: dx = dy.
TEST(MathKernels, WhereOfOneTensorTwiceGivesItTheWholeGradient) {
  OpHarness h(kernels(), {"where", {}, {f32({4}), f32({4}), f32({4})}});
  h.input(0) = {1.0f, 0.0f, 2.0f, 0.0f, 0.0f};
  h.forward();
  runtime::OpCall call;
  call.node = &h.node();
  std::vector<float> dy{1, 2, 3, 4}, dx(4, 9.0f);
  for (size_t i = 0; i < 3; ++i) call.in.push_back(h.view(h.input(i), f32({4})));
  call.out.push_back(runtime::Tensor{nullptr, h.node().outputs[0]});
  call.dy.push_back(h.view(dy, h.node().outputs[0]));
  call.dx = {runtime::Tensor{nullptr, f32({4})}, h.view(dx, f32({4})), h.view(dx, f32({4}))};
  call.dx_accumulate = {0, 0, 1};
  kernels().get("where").backward(call);
  EXPECT_EQ(dx, dy);
}

// --- layer_norm and rms_norm ------------------------------------------------------------------------

OpCase norm_case(const char* op, ir::Shape s, int64_t axis = -1, bool affine = true) {
  return {op, {{"axis", axis}, {"affine", affine}}, {f32(std::move(s))}};
}

TEST(RowNormKernels, ForwardNormalisesEachRow) {
  for (const char* op : {"layer_norm", "rms_norm"})
    for (int64_t axis : {-1, 1}) {
      SCOPED_TRACE(std::string(op) + " axis " + std::to_string(axis));
      const bool centred = std::string(op) == "layer_norm";
      OpHarness h(kernels(), norm_case(op, {3, 4, 5}, axis));
      h.forward();
      const int64_t d = axis == -1 ? 5 : 20, rows = 60 / d;
      const double eps = centred ? 1e-5 : 1e-6;
      std::vector<double> want(60);
      for (int64_t r = 0; r < rows; ++r) {
        double mean = 0, sq = 0;
        for (int64_t j = 0; j < d; ++j) mean += h.input(0)[r * d + j];
        mean = centred ? mean / d : 0.0;
        for (int64_t j = 0; j < d; ++j) sq += std::pow(h.input(0)[r * d + j] - mean, 2);
        const double rstd = 1 / std::sqrt(sq / d + eps);
        for (int64_t j = 0; j < d; ++j) {
          double v = (h.input(0)[r * d + j] - mean) * rstd * h.input(1)[j];
          if (centred) v += h.input(2)[j];
          want[r * d + j] = v;
        }
        EXPECT_NEAR(h.output(centred ? 2 : 1)[r], rstd, 1e-5 * rstd);
      }
      expect_close(h.output(0), want, 1e-5, 1e-5, op);
    }
}

TEST(RowNormKernels, GradientsMatchFiniteDifferences) {
  GradCheckOptions o;
  o.h = 1e-3;
  o.probes = 40;
  for (const char* op : {"layer_norm", "rms_norm"})
    for (bool affine : {true, false}) {
      expect_gradients_match(kernels(), norm_case(op, {4, 6}, -1, affine), o);
      expect_gradients_match(kernels(), norm_case(op, {2, 3, 4}, 1, affine), o);
    }
}

TEST(RowNormKernels, AccumulateDeterministic) {
  for (const char* op : {"layer_norm", "rms_norm"}) {
    expect_accumulates(kernels(), norm_case(op, {4, 6}));
    expect_accumulates(kernels(), norm_case(op, {4, 6}, -1, false));
    expect_deterministic(kernels(), norm_case(op, {37, 301}));
  }
}

TEST(RowNormKernels, ParametersHaveTheNormalisedShape) {
  const auto& reg = ir::OpRegistry::global();
  const ir::OpDef* ln = reg.find("layer_norm");
  ir::Attrs attrs = ir::validate_attrs(*ln, {{"axis", int64_t{-2}}});
  auto params = ln->params({f32({8, 16, 32})}, attrs);
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0].name, "gamma");
  EXPECT_EQ(params[0].type.shape, (ir::Shape{16, 32}));
  EXPECT_EQ(params[1].name, "beta");
  auto outs = ln->infer({f32({8, 16, 32}), params[0].type, params[1].type}, attrs);
  ASSERT_EQ(outs.size(), 3u);
  EXPECT_EQ(outs[1].shape, (ir::Shape{8}));
  const ir::OpDef* rms = reg.find("rms_norm");
  ir::Attrs plain = ir::validate_attrs(*rms, {{"affine", false}});
  EXPECT_TRUE(rms->params({f32({8, 32})}, plain).empty());
  EXPECT_EQ(rms->infer({f32({8, 32})}, plain).size(), 2u);
  EXPECT_THROW(ln->params({f32({8, 32})}, ir::validate_attrs(*ln, {{"axis", int64_t{2}}})), ir::ShapeError);
  EXPECT_THROW(ln->params({f32({8, 32})}, ir::validate_attrs(*ln, {{"eps", 0.0}})), ir::ShapeError);
}

}  // namespace
}  // namespace sublinear::testing
