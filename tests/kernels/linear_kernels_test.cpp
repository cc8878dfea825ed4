// linear, matmul and embedding kernels: forward against direct loops in double, gradients against
// finite differences (bias on and off, inputs of rank > 2, every transpose combination, per-entry and
// shared b in batched products, repeated embedding indices), accumulation, determinism, matmul(x, x)
// with one buffer for both gradients, and out-of-range embedding indices.
#include <gtest/gtest.h>

#include <stdexcept>

#include "runtime/cpu/cpu_kernels.h"
#include "tests/kernels/nn_kernel_checks.h"

namespace sublinear::testing {
namespace {

const runtime::KernelTable& kernels() {
  static const runtime::KernelTable t = [] {
    runtime::KernelTable k;
    runtime::cpu::register_linear_kernels(k);
    return k;
  }();
  return t;
}

ir::TensorType f32(ir::Shape s) { return {ir::DType::F32, std::move(s)}; }

OpCase linear_case(ir::Shape x, int64_t units, bool bias) {
  return {"linear", {{"units", units}, {"bias", bias}}, {f32(std::move(x))}};
}

struct MatmulConfig {
  ir::Shape a, b;
  bool ta, tb;
};

OpCase matmul_case(const MatmulConfig& m) {
  return {"matmul", {{"transpose_a", m.ta}, {"transpose_b", m.tb}}, {f32(m.a), f32(m.b)}};
}

const std::vector<MatmulConfig>& matmul_configs() {
  static const std::vector<MatmulConfig> all = {
      {{3, 4}, {4, 5}, false, false},
      {{4, 3}, {4, 5}, true, false},
      {{3, 4}, {5, 4}, false, true},
      {{4, 3}, {5, 4}, true, true},
      {{2, 3, 4}, {2, 4, 5}, false, false},       // one b per batch entry
      {{2, 3, 4}, {4, 5}, false, false},          // b shared by the batch (folded into one GEMM)
      {{2, 4, 3}, {4, 5}, true, false},           // shared b, transposed a: summed per entry
      {{3, 4, 2}, {5, 4}, true, true},            // shared b, both transposed
      {{2, 2, 3, 4}, {2, 2, 5, 4}, false, true},  // rank 4
  };
  return all;
}

const std::vector<OpCase>& linear_cases() {
  static const std::vector<OpCase> all = {linear_case({3, 5}, 4, true), linear_case({2, 3, 4}, 3, false),
                                          linear_case({2, 2, 3, 6}, 5, true)};
  return all;
}

OpCase embedding_case(ir::Shape idx, int64_t vocab, int64_t dim, int64_t range) {
  OpCase c{"embedding", {{"vocab", vocab}, {"dim", dim}}, {{ir::DType::I32, std::move(idx)}}};
  c.int_range = range;
  return c;
}

TEST(LinearKernels, LinearForwardMatchesNaive) {
  for (const auto& c : linear_cases()) {
    OpHarness h(kernels(), c);
    h.forward();
    const bool bias = std::get<bool>(c.attrs[1].second);
    const int64_t in = c.data_inputs[0].shape.back(), units = std::get<int64_t>(c.attrs[0].second);
    const int64_t rows = ir::num_elements(c.data_inputs[0].shape) / in;
    std::vector<double> want;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t u = 0; u < units; ++u) {
        double s = bias ? h.input(2)[u] : 0.0;
        for (int64_t i = 0; i < in; ++i)
          s += static_cast<double>(h.input(0)[r * in + i]) * h.input(1)[u * in + i];
        want.push_back(s);
      }
    // At most 6 products of unit normals summed in float.
    expect_close(h.output(0), want, 1e-5, 1e-5, "linear " + h.node().outputs[0].str());
  }
}

TEST(LinearKernels, MatmulForwardMatchesNaive) {
  for (const auto& m : matmul_configs()) {
    OpHarness h(kernels(), matmul_case(m));
    h.forward();
    const auto& y = h.node().outputs[0].shape;
    const size_t ra = m.a.size(), rb = m.b.size();
    const int64_t M = y[y.size() - 2], N = y.back(), K = m.ta ? m.a[ra - 2] : m.a[ra - 1];
    const int64_t batch = ir::num_elements(y) / (M * N);
    const bool shared = rb == 2;
    std::vector<double> want;
    for (int64_t bi = 0; bi < batch; ++bi)
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
          double s = 0;
          for (int64_t k = 0; k < K; ++k) {
            const float a = h.input(0)[bi * M * K + (m.ta ? k * M + i : i * K + k)];
            const float b = h.input(1)[(shared ? 0 : bi * K * N) + (m.tb ? j * K + k : k * N + j)];
            s += static_cast<double>(a) * b;
          }
          want.push_back(s);
        }
    expect_close(h.output(0), want, 1e-5, 1e-5, "matmul " + h.node().outputs[0].str());
  }
}

TEST(LinearKernels, EmbeddingForwardGathersRows) {
  const OpCase c = embedding_case({2, 3}, 6, 4, 6);
  OpHarness h(kernels(), c);
  h.forward();
  const auto* idx = reinterpret_cast<const int32_t*>(h.input(0).data());
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 4; ++j)
      ASSERT_EQ(h.output(0)[i * 4 + j], h.input(1)[idx[i] * 4 + j]) << i << "," << j;
}

TEST(LinearKernels, GradientsMatchFiniteDifferences) {
  for (const auto& c : linear_cases()) expect_gradients_match(kernels(), c);
  for (const auto& m : matmul_configs()) expect_gradients_match(kernels(), matmul_case(m));
  // 12 lookups into 3 rows: every row is hit several times (scatter-add of duplicates); vocab 5 leaves
  // rows 3 and 4 without lookups, whose gradient must be 0.
  GradCheckOptions all;
  all.probes = 100;
  expect_gradients_match(kernels(), embedding_case({4, 3}, 5, 4, 3), all);
  expect_gradients_match(kernels(), embedding_case({7}, 6, 3, 6));
}

TEST(LinearKernels, Accumulates) {
  for (const auto& c : linear_cases()) expect_accumulates(kernels(), c);
  for (const auto& m : matmul_configs()) expect_accumulates(kernels(), matmul_case(m));
  expect_accumulates(kernels(), embedding_case({4, 3}, 5, 4, 3));
}

TEST(LinearKernels, Deterministic) {
  for (const auto& c : linear_cases()) expect_deterministic(kernels(), c);
  for (const auto& m : matmul_configs()) expect_deterministic(kernels(), matmul_case(m));
  expect_deterministic(kernels(), embedding_case({4, 3}, 5, 4, 3));
  // Sizes where dnnl_sgemm packs, blocks and threads.
  expect_deterministic(kernels(), linear_case({64, 96}, 80, true));
  expect_deterministic(kernels(), matmul_case({{3, 72, 40}, {72, 56}, true, false}));
  expect_deterministic(kernels(), embedding_case({300}, 50, 64, 50));
}

TEST(LinearKernels, LargerShapesMatchFiniteDifferences) {
  expect_gradients_match(kernels(), linear_case({64, 96}, 80, true));
  expect_gradients_match(kernels(), matmul_case({{3, 72, 40}, {72, 56}, true, false}));
}

TEST(LinearKernels, AbsentDyGivesZeroGradients) {
  for (const OpCase& c :
       {linear_cases()[0], matmul_case(matmul_configs()[6]), embedding_case({4, 3}, 5, 4, 3)}) {
    OpHarness h(kernels(), c);
    h.forward();
    const auto dx = h.backward({});
    for (size_t i = 0; i < dx.size(); ++i)
      for (float v : dx[i]) ASSERT_EQ(v, 0.0f) << c.op << " input " << i;
  }
}

TEST(LinearKernels, MatmulOfOneValueTwiceSharesTheGradientBuffer) {
  // y = x x: the executor hands one buffer as dx[0] (written) and dx[1] (accumulated).
  for (bool tb : {false, true}) {
    const OpCase c = matmul_case({{4, 4}, {4, 4}, false, tb});
    OpHarness h(kernels(), c);
    h.input(1) = h.input(0);
    h.forward();
    std::vector<std::vector<float>> dy(1);
    SplitMix64 r{3};
    for (int i = 0; i < 17; ++i) dy[0].push_back(normal_sample(r));
    const auto separate = h.backward(dy);

    std::vector<float> shared(17, std::nanf(""));
    runtime::OpCall call;
    call.node = &h.node();
    call.in = {h.view(h.input(0), f32({4, 4})), h.view(h.input(1), f32({4, 4}))};
    call.out = {{nullptr, h.node().outputs[0]}};
    call.dy = {h.view(dy[0], h.node().outputs[0])};
    call.dx = {h.view(shared, f32({4, 4})), h.view(shared, f32({4, 4}))};
    call.dx_accumulate = {0, 1};
    kernels().get("matmul").backward(call);
    std::vector<double> want;
    for (int i = 0; i < 16; ++i) want.push_back(static_cast<double>(separate[0][i]) + separate[1][i]);
    expect_close(shared, want, 1e-6, 1e-6, tb ? "matmul(x, x^T)" : "matmul(x, x)");
  }
}

TEST(LinearKernels, EmbeddingRejectsOutOfRangeIndices) {
  OpHarness h(kernels(), embedding_case({3}, 4, 2, 4));
  reinterpret_cast<int32_t*>(h.input(0).data())[1] = 4;
  EXPECT_THROW(h.forward(), std::out_of_range);
  reinterpret_cast<int32_t*>(h.input(0).data())[1] = -1;
  EXPECT_THROW(h.forward(), std::out_of_range);
}

}  // namespace
}  // namespace sublinear::testing
