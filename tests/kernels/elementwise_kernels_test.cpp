// CPU kernels of add, sub, mul, scale and add_n: hand-computed values, finite-difference gradients
// over broadcasting in both directions, the in-place, accumulate and duplicate-input parts of the
// kernel contract, absent dy, and bitwise determinism across runs, thread counts and alignments.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "runtime/cpu/cpu_kernels.h"
#include "tests/kernels/op_harness.h"
#include "tests/support/split_mix64.h"

namespace sublinear::testing {
namespace {

const runtime::KernelTable& kernels() {
  static const runtime::KernelTable t = [] {
    runtime::KernelTable k;
    runtime::cpu::register_elementwise_kernels(k);
    return k;
  }();
  return t;
}

ir::TensorType f32(ir::Shape s) { return {ir::DType::F32, std::move(s)}; }

// These ops are linear in each input, so central differences are exact up to float rounding of the
// outputs (about 1e-7 relative, divided by 2h): 1e-3 relative is tight and still far from flaky.
GradCheckOptions linear_tolerance() {
  GradCheckOptions o;
  o.rtol = 1e-3;
  o.atol = 2e-4;
  return o;
}

struct BinaryShapes {
  ir::Shape a, b;
};

const std::vector<BinaryShapes>& broadcast_cases() {
  static const std::vector<BinaryShapes> cases = {
      {{2, 3}, {2, 3}},       {{2, 3}, {3}},          {{3}, {2, 3}},       {{4, 1, 3}, {1, 5, 1}},
      {{2, 3, 4}, {3, 1}},    {{}, {2, 3}},           {{2, 3}, {}},        {{2, 1, 4}, {2, 3, 4}},
      {{1}, {3, 2}},          {{2, 3, 4, 5}, {3, 1, 1}}, {{5, 1}, {1, 5}},   {{1, 3}, {2, 3}},
  };
  return cases;
}

void set(std::vector<float>& buf, const std::vector<float>& v) { std::copy(v.begin(), v.end(), buf.begin()); }

std::vector<float> head(const std::vector<float>& buf, size_t n) { return {buf.begin(), buf.begin() + static_cast<long>(n)}; }

TEST(ElementwiseKernels, BinaryForwardValues) {
  {
    OpHarness h(kernels(), {"add", {}, {f32({2, 3}), f32({3})}});
    set(h.input(0), {1, 2, 3, 4, 5, 6});
    set(h.input(1), {10, 20, 30});
    h.forward();
    EXPECT_EQ(head(h.output(0), 6), (std::vector<float>{11, 22, 33, 14, 25, 36}));
  }
  {
    OpHarness h(kernels(), {"sub", {}, {f32({2, 1}), f32({3})}});
    set(h.input(0), {1, 2});
    set(h.input(1), {10, 20, 30});
    h.forward();
    EXPECT_EQ(head(h.output(0), 6), (std::vector<float>{-9, -19, -29, -8, -18, -28}));
  }
  {
    OpHarness h(kernels(), {"mul", {}, {f32({}), f32({2, 2})}});
    set(h.input(0), {3});
    set(h.input(1), {1, -2, 0.5f, 4});
    h.forward();
    EXPECT_EQ(head(h.output(0), 4), (std::vector<float>{3, -6, 1.5f, 12}));
  }
  {
    // Broadcast on a middle axis: [2, 1, 2] * [3, 1].
    OpHarness h(kernels(), {"mul", {}, {f32({2, 1, 2}), f32({3, 1})}});
    set(h.input(0), {1, 2, 3, 4});
    set(h.input(1), {1, 10, 100});
    h.forward();
    EXPECT_EQ(head(h.output(0), 12),
              (std::vector<float>{1, 2, 10, 20, 100, 200, 3, 4, 30, 40, 300, 400}));
  }
}

TEST(ElementwiseKernels, BinaryBackwardValues) {
  // d(a - b) with b broadcast over rows: db is minus the column sums of dy.
  OpHarness h(kernels(), {"sub", {}, {f32({2, 3}), f32({3})}});
  h.forward();
  auto dx = h.backward({{1, 2, 3, 4, 5, 6, 0}});
  EXPECT_EQ(dx[0], (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(dx[1], (std::vector<float>{-5, -7, -9}));

  OpHarness m(kernels(), {"mul", {}, {f32({2, 1}), f32({1, 3})}});
  set(m.input(0), {2, 3});
  set(m.input(1), {1, 10, 100});
  m.forward();
  dx = m.backward({{1, 1, 1, 1, 1, 1, 0}});
  EXPECT_EQ(dx[0], (std::vector<float>{111, 111}));
  EXPECT_EQ(dx[1], (std::vector<float>{5, 5, 5}));
}

TEST(ElementwiseKernels, BinaryGradientsMatchFiniteDifferences) {
  for (const char* op : {"add", "sub", "mul"})
    for (const auto& s : broadcast_cases())
      expect_gradients_match(kernels(), {op, {}, {f32(s.a), f32(s.b)}}, linear_tolerance());
}

TEST(ElementwiseKernels, BinaryInPlace) {
  // [2, 3] with [3] exercises out over a (and dx[0] over dy while dx[1] is a reduction of dy);
  // [3] with [2, 3] the other side; equal shapes both options.
  for (const char* op : {"add", "sub", "mul"}) {
    expect_inplace_equivalent(kernels(), {op, {}, {f32({2, 3}), f32({2, 3})}});
    expect_inplace_equivalent(kernels(), {op, {}, {f32({2, 3}), f32({3})}});
    expect_inplace_equivalent(kernels(), {op, {}, {f32({3}), f32({2, 3})}});
    expect_inplace_equivalent(kernels(), {op, {}, {f32({4, 1, 5}), f32({4, 3, 5})}});
  }
}

TEST(ElementwiseKernels, BinaryAccumulates) {
  for (const char* op : {"add", "sub", "mul"})
    for (const auto& s : broadcast_cases()) expect_accumulates(kernels(), {op, {}, {f32(s.a), f32(s.b)}});
}

TEST(ElementwiseKernels, ScaleAndAddN) {
  OpHarness h(kernels(), {"scale", {{"factor", 2.5}}, {f32({3})}});
  set(h.input(0), {1, -2, 4});
  h.forward();
  EXPECT_EQ(head(h.output(0), 3), (std::vector<float>{2.5f, -5, 10}));
  EXPECT_EQ(h.backward({{1, 2, -1, 0}})[0], (std::vector<float>{2.5f, 5, -2.5f}));

  OpHarness n(kernels(), {"add_n", {}, {f32({2, 2}), f32({2, 2}), f32({2, 2})}});
  set(n.input(0), {1, 2, 3, 4});
  set(n.input(1), {10, 20, 30, 40});
  set(n.input(2), {100, 200, 300, 400});
  n.forward();
  EXPECT_EQ(head(n.output(0), 4), (std::vector<float>{111, 222, 333, 444}));
  auto dx = n.backward({{1, 2, 3, 4, 0}});
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(dx[i], (std::vector<float>{1, 2, 3, 4}));

  for (const auto& s : std::vector<ir::Shape>{{}, {7}, {3, 4, 5}}) {
    expect_gradients_match(kernels(), {"scale", {{"factor", -0.75}}, {f32(s)}}, linear_tolerance());
    expect_inplace_equivalent(kernels(), {"scale", {{"factor", 3.0}}, {f32(s)}});
    expect_accumulates(kernels(), {"scale", {{"factor", 3.0}}, {f32(s)}});
  }
  // 1300 elements: more than one block of the add_n loops.
  for (const auto& s : std::vector<ir::Shape>{{5}, {13, 100}}) {
    for (int inputs : {1, 2, 4}) {
      OpCase c{"add_n", {}, std::vector<ir::TensorType>(static_cast<size_t>(inputs), f32(s))};
      expect_gradients_match(kernels(), c, linear_tolerance());
      expect_inplace_equivalent(kernels(), c);
      expect_accumulates(kernels(), c);
    }
  }
}

// A node reading one value twice (add(x, x)) gets one gradient buffer in both dx slots: the first
// written, the second accumulated. `dx_is_dy` also puts that buffer over dy (the in-place option).
std::vector<float> duplicate_backward(const std::string& op, int copies, bool dx_is_dy,
                                      const std::vector<float>& x, const std::vector<float>& dy) {
  const ir::TensorType t = f32({static_cast<int64_t>(x.size())});
  OpHarness h(kernels(), {op, {}, std::vector<ir::TensorType>(static_cast<size_t>(copies), t)});
  std::vector<float> xb = x, dyb = dy, dxb(x.size(), std::nanf(""));
  runtime::OpCall call;
  call.node = &h.node();
  for (int i = 0; i < copies; ++i) {
    call.in.push_back({op == "mul" ? xb.data() : nullptr, t});
    call.dx.push_back({dx_is_dy ? dyb.data() : dxb.data(), t});
    call.dx_accumulate.push_back(i == 0 ? 0 : 1);
  }
  call.out.push_back({nullptr, t});
  call.dy.push_back({dyb.data(), t});
  kernels().get(op).backward(call);
  return dx_is_dy ? dyb : dxb;
}

TEST(ElementwiseKernels, DuplicateInputGradientsAddUp) {
  const std::vector<float> x{1.5f, -2, 3, 0.25f, 7}, dy{2, 3, -1, 4, 0.5f};
  for (bool alias : {false, true}) {
    SCOPED_TRACE(alias ? "dx over dy" : "separate dx");
    EXPECT_EQ(duplicate_backward("add", 2, alias, x, dy), (std::vector<float>{4, 6, -2, 8, 1}));
    EXPECT_EQ(duplicate_backward("sub", 2, alias, x, dy), (std::vector<float>{0, 0, 0, 0, 0}));
    EXPECT_EQ(duplicate_backward("mul", 2, alias, x, dy), (std::vector<float>{6, -12, -6, 2, 7}));
    EXPECT_EQ(duplicate_backward("add_n", 3, alias, x, dy), (std::vector<float>{6, 9, -3, 12, 1.5f}));
  }
}

TEST(ElementwiseKernels, AbsentDyGivesZeroGradients) {
  for (const char* op : {"add", "sub", "mul"}) {
    OpHarness h(kernels(), {op, {}, {f32({2, 3}), f32({3})}});
    h.forward();
    auto dx = h.backward({});
    EXPECT_EQ(dx[0], std::vector<float>(6, 0.0f)) << op;
    EXPECT_EQ(dx[1], std::vector<float>(3, 0.0f)) << op;
    // Accumulating nothing leaves the prefill alone.
    std::vector<std::vector<float>> init{std::vector<float>(7, 1.5f), std::vector<float>(4, -2.0f)};
    dx = h.backward({}, &init);
    EXPECT_EQ(dx[0], std::vector<float>(6, 1.5f)) << op;
    EXPECT_EQ(dx[1], std::vector<float>(3, -2.0f)) << op;
  }
  OpHarness n(kernels(), {"add_n", {}, {f32({4}), f32({4})}});
  n.forward();
  auto dx = n.backward({});
  EXPECT_EQ(dx[0], std::vector<float>(4, 0.0f));
  EXPECT_EQ(dx[1], std::vector<float>(4, 0.0f));
}

// Forward and backward of mul over a large broadcast (so the loops run threaded and the bias-style
// reduction spans many rows), with buffers `shift` floats off their allocation.
std::vector<std::vector<float>> big_mul_run(size_t shift) {
  const ir::TensorType ta = f32({96, 33, 40}), tb = f32({33, 1}), ty = f32({96, 33, 40});
  OpHarness h(kernels(), {"mul", {}, {ta, tb}});
  auto buf = [&](const ir::TensorType& t) { return std::vector<float>(shift + static_cast<size_t>(ir::num_elements(t.shape)) + 1); };
  std::vector<float> a = buf(ta), b = buf(tb), y = buf(ty), dy = buf(ty), da = buf(ta), db = buf(tb);
  SplitMix64 r{5};
  for (auto* v : {&a, &b, &dy})  // the same values wherever the buffer starts
    for (size_t i = shift; i < v->size(); ++i) (*v)[i] = static_cast<float>(r.unit() * 2 - 1);
  runtime::OpCall f;
  f.node = &h.node();
  f.in = {{a.data() + shift, ta}, {b.data() + shift, tb}};
  f.out = {{y.data() + shift, ty}};
  kernels().get("mul").forward(f);
  runtime::OpCall g = f;
  g.out = {{nullptr, ty}};
  g.dy = {{dy.data() + shift, ty}};
  g.dx = {{da.data() + shift, ta}, {db.data() + shift, tb}};
  g.dx_accumulate = {0, 0};
  kernels().get("mul").backward(g);
  auto strip = [&](const std::vector<float>& v) { return std::vector<float>(v.begin() + static_cast<long>(shift), v.end()); };
  return {strip(y), strip(da), strip(db)};
}

TEST(ElementwiseKernels, DeterministicAcrossRunsThreadsAndAlignment) {
  const int saved = omp_get_max_threads();
  const auto ref = big_mul_run(0);
  EXPECT_EQ(ref, big_mul_run(0));
  EXPECT_EQ(ref, big_mul_run(3));
  for (int threads : {1, 3}) {
    omp_set_num_threads(threads);
    EXPECT_EQ(ref, big_mul_run(1)) << threads << " threads";
  }
  omp_set_num_threads(saved);
}

TEST(ElementwiseKernels, LargeBroadcastReductionMatchesDoubleReference) {
  // db[j] = sum over n, k of dy[n, j, k] * a[n, j, k]: 3840 terms each, summed in double by the kernel.
  OpHarness h(kernels(), {"mul", {}, {f32({96, 33, 40}), f32({33, 1})}});
  h.forward();
  std::vector<float> dy(96 * 33 * 40 + 1);
  SplitMix64 r{8};
  for (auto& v : dy) v = static_cast<float>(r.unit() * 2 - 1);
  const auto dx = h.backward({dy});
  for (int64_t j = 0; j < 33; ++j) {
    double want = 0;
    for (int64_t n = 0; n < 96; ++n)
      for (int64_t k = 0; k < 40; ++k) {
        const size_t e = static_cast<size_t>((n * 33 + j) * 40 + k);
        want += static_cast<double>(static_cast<float>(dy[e] * h.input(0)[e]));
      }
    EXPECT_NEAR(dx[1][static_cast<size_t>(j)], want, 1e-6 * (1 + std::abs(want))) << "j = " << j;
  }
}

}  // namespace
}  // namespace sublinear::testing
