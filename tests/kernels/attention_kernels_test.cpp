// The fused attention kernel: forward against a double-precision softmax(q k^T * scale) v (causal and
// not, Tq != Tk, several leading axes), the saved log-sum-exp, gradients against finite differences,
// accumulation, q = k = v in one buffer, and bitwise determinism across runs and alignments; and
// causal_mask, the unfused composition's mask.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "runtime/cpu/cpu_kernels.h"
#include "tests/kernels/nn_kernel_checks.h"

namespace sublinear::testing {
namespace {

const runtime::KernelTable& kernels() {
  static const runtime::KernelTable t = [] {
    runtime::KernelTable k;
    runtime::cpu::register_attention_kernels(k);
    runtime::cpu::register_math_kernels(k);
    return k;
  }();
  return t;
}

ir::TensorType f32(ir::Shape s) { return {ir::DType::F32, std::move(s)}; }

OpCase attention(ir::Shape q, ir::Shape k, ir::Shape v, bool causal, double scale = 0.0) {
  return {"attention", {{"causal", causal}, {"scale", scale}}, {f32(std::move(q)), f32(std::move(k)), f32(std::move(v))}};
}

TEST(AttentionKernels, ForwardMatchesTheUnfusedFormula) {
  struct Case {
    ir::Shape q, k, v;
    bool causal;
    double scale;
  };
  const Case cases[] = {{{2, 5, 4}, {2, 5, 4}, {2, 5, 3}, false, 0.0},
                        {{2, 5, 4}, {2, 5, 4}, {2, 5, 3}, true, 0.0},
                        {{2, 3, 6, 8}, {2, 3, 6, 8}, {2, 3, 6, 8}, true, 0.3},
                        {{1, 4, 3}, {1, 7, 3}, {1, 7, 5}, false, 0.0},
                        {{1, 7, 3}, {1, 4, 3}, {1, 4, 2}, true, 0.0}};
  for (const Case& c : cases) {
    OpHarness h(kernels(), attention(c.q, c.k, c.v, c.causal, c.scale));
    SCOPED_TRACE(h.node().outputs[0].str() + (c.causal ? " causal" : ""));
    h.forward();
    const size_t r = c.q.size();
    const int64_t tq = c.q[r - 2], d = c.q[r - 1], tk = c.k[r - 2], dv = c.v[r - 1];
    const int64_t heads = ir::num_elements(c.q) / (tq * d);
    const double scale = c.scale > 0 ? c.scale : 1 / std::sqrt(static_cast<double>(d));
    std::vector<double> want_y, want_lse;
    for (int64_t b = 0; b < heads; ++b)
      for (int64_t i = 0; i < tq; ++i) {
        std::vector<double> s;
        const int64_t n = c.causal ? std::min(i + 1, tk) : tk;
        double m = -1e300;
        for (int64_t j = 0; j < n; ++j) {
          double dot = 0;
          for (int64_t e = 0; e < d; ++e) dot += double(h.input(0)[(b * tq + i) * d + e]) * h.input(1)[(b * tk + j) * d + e];
          s.push_back(dot * scale);
          m = std::max(m, s.back());
        }
        double z = 0;
        for (double& x : s) z += std::exp(x - m);
        for (int64_t e = 0; e < dv; ++e) {
          double y = 0;
          for (int64_t j = 0; j < n; ++j) y += std::exp(s[j] - m) / z * h.input(2)[(b * tk + j) * dv + e];
          want_y.push_back(y);
        }
        want_lse.push_back(m + std::log(z));
      }
    expect_close(h.output(0), want_y, 1e-5, 1e-5, "y");
    expect_close(h.output(1), want_lse, 1e-5, 1e-5, "lse");
  }
}

TEST(AttentionKernels, GradientsMatchFiniteDifferences) {
  GradCheckOptions o;
  o.h = 1e-3;
  o.probes = 40;
  for (bool causal : {false, true}) {
    expect_gradients_match(kernels(), attention({2, 5, 4}, {2, 5, 4}, {2, 5, 3}, causal), o);
    expect_gradients_match(kernels(), attention({1, 2, 4, 3}, {1, 2, 6, 3}, {1, 2, 6, 5}, causal, 0.7), o);
  }
}

TEST(AttentionKernels, AccumulatesAndIsDeterministic) {
  for (bool causal : {false, true}) {
    expect_accumulates(kernels(), attention({2, 5, 4}, {2, 5, 4}, {2, 5, 3}, causal));
    expect_deterministic(kernels(), attention({3, 37, 16}, {3, 37, 16}, {3, 37, 16}, causal));
  }
}

// attention(x, x, x): the three gradients go to one buffer, the first written and the others
// accumulated (the kernel contract); the sum must equal the separate gradients added.
TEST(AttentionKernels, OneBufferForAllThreeGradients) {
  for (bool causal : {false, true}) {
    OpHarness h(kernels(), attention({2, 6, 4}, {2, 6, 4}, {2, 6, 4}, causal));
    h.input(1) = h.input(0);
    h.input(2) = h.input(0);
    h.forward();
    SplitMix64 r{5};
    std::vector<std::vector<float>> dy(2);
    dy[0].resize(49);
    for (auto& v : dy[0]) v = normal_sample(r);
    const auto separate = h.backward(dy);
    std::vector<float> shared(49, 0.0f);
    runtime::OpCall call;
    call.node = &h.node();
    for (size_t i = 0; i < 3; ++i) call.in.push_back(h.view(h.input(i), h.node().outputs[0]));
    call.out.push_back(h.view(h.output(0), h.node().outputs[0]));
    call.out.push_back(h.view(h.output(1), h.node().outputs[1]));
    call.dy.push_back(h.view(dy[0], h.node().outputs[0]));
    call.dy.push_back(runtime::Tensor{nullptr, h.node().outputs[1]});
    for (size_t i = 0; i < 3; ++i) {
      call.dx.push_back(h.view(shared, h.node().outputs[0]));
      call.dx_accumulate.push_back(i == 0 ? 0 : 1);
    }
    kernels().get("attention").backward(call);
    for (int e = 0; e < 48; ++e)
      EXPECT_NEAR(shared[e], separate[0][e] + separate[1][e] + separate[2][e], 1e-5) << "element " << e;
  }
}

TEST(AttentionKernels, SavesOnlyTheOutputAndTheRowStatistics) {
  const ir::OpDef* d = ir::OpRegistry::global().find("attention");
  ASSERT_NE(d, nullptr);
  ir::Attrs attrs = ir::validate_attrs(*d, {{"causal", true}});
  auto outs = d->infer({f32({8, 12, 4096, 64}), f32({8, 12, 4096, 64}), f32({8, 12, 4096, 64})}, attrs);
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_EQ(outs[0].str(), "f32[8, 12, 4096, 64]");
  EXPECT_EQ(outs[1].str(), "f32[8, 12, 4096]");  // O(T) per head, not the 4096 x 4096 scores
  EXPECT_EQ(d->visible_outputs, 1);
  EXPECT_EQ(d->backward.inputs, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(d->backward.outputs, (std::vector<int>{0, 1}));
  EXPECT_THROW(d->infer({f32({2, 5, 4}), f32({2, 5, 3}), f32({2, 5, 3})}, attrs), ir::ShapeError);
  EXPECT_THROW(d->infer({f32({2, 5, 4}), f32({3, 5, 4}), f32({3, 5, 4})}, attrs), ir::ShapeError);
  EXPECT_THROW(d->infer({f32({2, 5, 4}), f32({2, 5, 4}), f32({2, 6, 4})}, attrs), ir::ShapeError);
}

TEST(CausalMask, KeepsTheLowerTriangleAndPassesItsGradient) {
  OpHarness h(kernels(), {"causal_mask", {{"value", -7.0}}, {f32({2, 3, 4})}});
  h.forward();
  for (int m = 0; m < 2; ++m)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j) {
        const int e = (m * 3 + i) * 4 + j;
        EXPECT_EQ(h.output(0)[e], j <= i ? h.input(0)[e] : -7.0f) << m << "," << i << "," << j;
      }
  GradCheckOptions o;
  o.h = 1e-3;
  expect_gradients_match(kernels(), {"causal_mask", {}, {f32({2, 3, 4})}}, o);
  expect_inplace_equivalent(kernels(), {"causal_mask", {}, {f32({2, 3, 4})}});
  expect_accumulates(kernels(), {"causal_mask", {}, {f32({2, 3, 4})}});
}

}  // namespace
}  // namespace sublinear::testing
