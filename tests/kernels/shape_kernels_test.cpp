// CPU kernels of reshape, flatten, transpose, concat, stack, split, slice and select: values by hand,
// finite-difference gradients on every axis (negative ones too), i32 data movement, split with absent
// dy, in-place reshape/flatten, accumulation, concat(x, x), and bitwise determinism.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "runtime/cpu/cpu_kernels.h"
#include "tests/kernels/op_harness.h"
#include "tests/support/split_mix64.h"

namespace sublinear::testing {
namespace {

const runtime::KernelTable& kernels() {
  static const runtime::KernelTable t = [] {
    runtime::KernelTable k;
    runtime::cpu::register_shape_kernels(k);
    return k;
  }();
  return t;
}

ir::TensorType f32(ir::Shape s) { return {ir::DType::F32, std::move(s)}; }
ir::TensorType i32(ir::Shape s) { return {ir::DType::I32, std::move(s)}; }
ir::AttrValue ints(std::vector<int64_t> v) { return v; }
ir::AttrValue num(int64_t v) { return v; }

// Pure data movement: the gradient is exact and only the finite difference rounds (each output moves
// by h exactly, so the error is float rounding of L's terms over 2h: a few 1e-6 at most here).
GradCheckOptions exact_tolerance() {
  GradCheckOptions o;
  o.rtol = 1e-4;
  o.atol = 2e-5;
  return o;
}

// The harness's inputs as 0, 1, 2, ... so moved elements are recognisable.
void iota_inputs(OpHarness& h) {
  for (size_t i = 0; i < h.num_inputs(); ++i) {
    auto& in = h.input(i);
    std::iota(in.begin(), in.end(), static_cast<float>(100 * i));
  }
}

std::vector<float> head(const std::vector<float>& buf, int64_t n) { return {buf.begin(), buf.begin() + n}; }

void check_all(const OpCase& c) {
  expect_gradients_match(kernels(), c, exact_tolerance());
  expect_accumulates(kernels(), c);
}

TEST(ShapeKernels, ReshapeAndFlatten) {
  OpHarness h(kernels(), {"reshape", {{"shape", ints({3, -1})}}, {f32({2, 3})}});
  iota_inputs(h);
  h.forward();
  EXPECT_EQ(head(h.output(0), 6), (std::vector<float>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(h.node().outputs[0].shape, (ir::Shape{3, 2}));
  for (int64_t axis : {0, 1, 2, 3, -1, -3}) {
    OpCase c{"flatten", {{"axis", num(axis)}}, {f32({2, 3, 4})}};
    check_all(c);
    expect_inplace_equivalent(kernels(), c);
  }
  OpCase r{"reshape", {{"shape", ints({4, -1, 2})}}, {f32({2, 3, 4})}};
  check_all(r);
  expect_inplace_equivalent(kernels(), r);
}

TEST(ShapeKernels, InPlaceViewsMoveNothing) {
  // out over in and dx over dy: the kernels must leave the shared buffer as it is.
  OpHarness h(kernels(), {"flatten", {}, {f32({2, 3})}});
  std::vector<float> buf{1, 2, 3, 4, 5, 6};
  runtime::OpCall f;
  f.node = &h.node();
  f.in = {{buf.data(), f32({2, 3})}};
  f.out = {{buf.data(), h.node().outputs[0]}};
  kernels().get("flatten").forward(f);
  EXPECT_EQ(buf, (std::vector<float>{1, 2, 3, 4, 5, 6}));
  runtime::OpCall b = f;
  b.in[0].data = nullptr;
  b.out[0].data = nullptr;
  b.dy = {{buf.data(), h.node().outputs[0]}};
  b.dx = {{buf.data(), f32({2, 3})}};
  b.dx_accumulate = {0};
  kernels().get("flatten").backward(b);
  EXPECT_EQ(buf, (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

TEST(ShapeKernels, Transpose) {
  OpHarness h(kernels(), {"transpose", {{"perm", ints({1, 0})}}, {f32({2, 3})}});
  iota_inputs(h);
  h.forward();
  EXPECT_EQ(head(h.output(0), 6), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  auto dx = h.backward({{0, 3, 1, 4, 2, 5, 0}});
  EXPECT_EQ(dx[0], (std::vector<float>{0, 1, 2, 3, 4, 5}));

  std::vector<int64_t> perm{0, 1, 2};
  do {
    check_all({"transpose", {{"perm", ints(perm)}}, {f32({2, 3, 4})}});
  } while (std::next_permutation(perm.begin(), perm.end()));
  // Extent-1 axes and merged neighbours: [2, 1, 3, 4] -> [3, 4, 1, 2].
  check_all({"transpose", {{"perm", ints({2, 3, 1, 0})}}, {f32({2, 1, 3, 4})}});
  check_all({"transpose", {{"perm", ints({1, 0, 2, 3})}}, {f32({3, 2, 4, 5})}});

  // i32 moves bit for bit: [2, 3, 2] with perm [2, 0, 1].
  OpHarness t(kernels(), {"transpose", {{"perm", ints({2, 0, 1})}}, {i32({2, 3, 2})}});
  auto* in = reinterpret_cast<int32_t*>(t.input(0).data());
  std::iota(in, in + 12, -5);
  t.forward();
  const auto* out = reinterpret_cast<const int32_t*>(t.output(0).data());
  EXPECT_EQ(std::vector<int32_t>(out, out + 12),
            (std::vector<int32_t>{-5, -3, -1, 1, 3, 5, -4, -2, 0, 2, 4, 6}));
}

TEST(ShapeKernels, ConcatAndStack) {
  OpHarness h(kernels(), {"concat", {{"axis", num(-1)}}, {f32({2, 1}), f32({2, 2})}});
  iota_inputs(h);
  h.forward();
  EXPECT_EQ(head(h.output(0), 6), (std::vector<float>{0, 100, 101, 1, 102, 103}));
  auto dx = h.backward({{1, 2, 3, 4, 5, 6, 0}});
  EXPECT_EQ(dx[0], (std::vector<float>{1, 4}));
  EXPECT_EQ(dx[1], (std::vector<float>{2, 3, 5, 6}));

  OpHarness s(kernels(), {"stack", {{"axis", num(1)}}, {f32({2}), f32({2}), f32({2})}});
  iota_inputs(s);
  s.forward();
  EXPECT_EQ(head(s.output(0), 6), (std::vector<float>{0, 100, 200, 1, 101, 201}));

  for (int64_t axis : {0, 1, 2, -1, -3})
    check_all({"concat", {{"axis", num(axis)}}, {f32({2, 3, 4}), f32({2, 3, 4}), f32({2, 3, 4})}});
  check_all({"concat", {{"axis", num(1)}}, {f32({2, 1, 4}), f32({2, 3, 4}), f32({2, 2, 4})}});
  check_all({"concat", {{"axis", num(0)}}, {f32({1}), f32({4})}});
  for (int64_t axis : {0, 1, 2, 3, -1, -4})
    check_all({"stack", {{"axis", num(axis)}}, {f32({2, 3, 2}), f32({2, 3, 2})}});
  check_all({"stack", {{"axis", num(0)}}, {f32({}), f32({}), f32({})}});

  // i32 data moves bit for bit.
  OpHarness c(kernels(), {"concat", {{"axis", num(0)}}, {i32({2}), i32({3})}});
  auto* a = reinterpret_cast<int32_t*>(c.input(0).data());
  auto* b = reinterpret_cast<int32_t*>(c.input(1).data());
  a[0] = 7, a[1] = -1, b[0] = 1 << 30, b[1] = 0, b[2] = -7;
  c.forward();
  const auto* out = reinterpret_cast<const int32_t*>(c.output(0).data());
  EXPECT_EQ(std::vector<int32_t>(out, out + 5), (std::vector<int32_t>{7, -1, 1 << 30, 0, -7}));
}

TEST(ShapeKernels, ConcatOfOneValueTwiceAddsGradients) {
  // concat(x, x): both dx slots are x's gradient buffer, the first written, the second accumulated.
  const ir::TensorType t = f32({2, 2});
  OpHarness h(kernels(), {"concat", {{"axis", num(1)}}, {t, t}});
  std::vector<float> dy{1, 2, 3, 4, 5, 6, 7, 8}, dx(4, std::nanf(""));
  runtime::OpCall call;
  call.node = &h.node();
  call.in = {{nullptr, t}, {nullptr, t}};
  call.out = {{nullptr, h.node().outputs[0]}};
  call.dy = {{dy.data(), h.node().outputs[0]}};
  call.dx = {{dx.data(), t}, {dx.data(), t}};
  call.dx_accumulate = {0, 1};
  kernels().get("concat").backward(call);
  EXPECT_EQ(dx, (std::vector<float>{1 + 3, 2 + 4, 5 + 7, 6 + 8}));
}

TEST(ShapeKernels, Split) {
  OpHarness h(kernels(), {"split", {{"parts", num(3)}, {"axis", num(-1)}}, {f32({2, 6})}});
  iota_inputs(h);
  h.forward();
  EXPECT_EQ(head(h.output(0), 4), (std::vector<float>{0, 1, 6, 7}));
  EXPECT_EQ(head(h.output(1), 4), (std::vector<float>{2, 3, 8, 9}));
  EXPECT_EQ(head(h.output(2), 4), (std::vector<float>{4, 5, 10, 11}));

  // No gradient reaches the middle part: its block of dx is zero.
  auto dx = h.backward({{1, 2, 3, 4, 0}, {}, {5, 6, 7, 8, 0}});
  EXPECT_EQ(dx[0], (std::vector<float>{1, 2, 0, 0, 5, 6, 3, 4, 0, 0, 7, 8}));
  std::vector<std::vector<float>> init{std::vector<float>(13, 10.0f)};
  dx = h.backward({{1, 2, 3, 4, 0}, {}, {5, 6, 7, 8, 0}}, &init);
  EXPECT_EQ(dx[0], (std::vector<float>{11, 12, 10, 10, 15, 16, 13, 14, 10, 10, 17, 18}));
  dx = h.backward({});
  EXPECT_EQ(dx[0], std::vector<float>(12, 0.0f));

  for (int64_t axis : {0, 1, 2, -1, -2})
    check_all({"split", {{"parts", num(2)}, {"axis", num(axis)}}, {f32({4, 2, 6})}});
  check_all({"split", {{"parts", num(1)}, {"axis", num(0)}}, {f32({3, 2})}});
}

TEST(ShapeKernels, SliceAndSelect) {
  OpHarness h(kernels(), {"slice", {{"axis", num(1)}, {"start", num(-3)}, {"end", num(-1)}}, {f32({2, 4})}});
  iota_inputs(h);
  h.forward();
  EXPECT_EQ(head(h.output(0), 4), (std::vector<float>{1, 2, 5, 6}));
  auto dx = h.backward({{1, 2, 3, 4, 0}});
  EXPECT_EQ(dx[0], (std::vector<float>{0, 1, 2, 0, 0, 3, 4, 0}));
  std::vector<std::vector<float>> init{std::vector<float>(9, 1.0f)};
  dx = h.backward({{1, 2, 3, 4, 0}}, &init);
  EXPECT_EQ(dx[0], (std::vector<float>{1, 2, 3, 1, 1, 4, 5, 1}));

  OpHarness s(kernels(), {"select", {{"axis", num(0)}, {"index", num(-1)}}, {f32({3, 2})}});
  iota_inputs(s);
  s.forward();
  EXPECT_EQ(head(s.output(0), 2), (std::vector<float>{4, 5}));
  EXPECT_EQ(s.backward({{7, 8, 0}})[0], (std::vector<float>{0, 0, 0, 0, 7, 8}));
  EXPECT_EQ(s.backward({})[0], std::vector<float>(6, 0.0f));

  for (int64_t axis : {0, 1, 2, -1}) {
    check_all({"slice", {{"axis", num(axis)}, {"start", num(1)}, {"end", num(3)}}, {f32({3, 4, 5})}});
    check_all({"slice", {{"axis", num(axis)}, {"start", num(-2)}, {"end", num(-1)}}, {f32({3, 4, 5})}});
    check_all({"select", {{"axis", num(axis)}, {"index", num(-2)}}, {f32({3, 4, 5})}});
    check_all({"select", {{"axis", num(axis)}, {"index", num(0)}}, {f32({3, 4, 5})}});
  }
  check_all({"slice", {{"axis", num(0)}, {"end", num(4)}}, {f32({4})}});

  // Stepped: x[:, 1::2] of [2, 5] takes columns 1 and 3; dx is zero between them, accumulation adds.
  OpHarness st(kernels(), {"slice", {{"axis", num(1)}, {"start", num(1)}, {"end", num(5)}, {"step", num(2)}}, {f32({2, 5})}});
  iota_inputs(st);
  st.forward();
  EXPECT_EQ(head(st.output(0), 4), (std::vector<float>{1, 3, 6, 8}));
  EXPECT_EQ(st.backward({{1, 2, 3, 4}})[0], (std::vector<float>{0, 1, 0, 2, 0, 0, 3, 0, 4, 0}));
  std::vector<std::vector<float>> ones{std::vector<float>(11, 1.0f)};  // with the guard element
  EXPECT_EQ(st.backward({{1, 2, 3, 4}}, &ones)[0], (std::vector<float>{1, 2, 1, 3, 1, 1, 4, 1, 5, 1}));
  EXPECT_EQ(st.backward({})[0], std::vector<float>(10, 0.0f));
  for (int64_t axis : {0, 1, 2, -1})
    for (int64_t step : {2, 3, 7}) {
      check_all({"slice", {{"axis", num(axis)}, {"start", num(0)}, {"end", num(4)}, {"step", num(step)}}, {f32({5, 4, 6})}});
      check_all({"slice", {{"axis", num(axis)}, {"start", num(-3)}, {"end", num(-1)}, {"step", num(step)}}, {f32({5, 4, 6})}});
    }
  OpHarness si(kernels(), {"slice", {{"axis", num(0)}, {"start", num(0)}, {"end", num(4)}, {"step", num(3)}}, {i32({4})}});
  auto* sin = reinterpret_cast<int32_t*>(si.input(0).data());
  sin[0] = 9, sin[1] = -4, sin[2] = 1 << 29, sin[3] = 3;
  si.forward();
  const auto* sout = reinterpret_cast<const int32_t*>(si.output(0).data());
  EXPECT_EQ(sout[0], 9);
  EXPECT_EQ(sout[1], 3);

  OpHarness t(kernels(), {"slice", {{"axis", num(0)}, {"start", num(1)}, {"end", num(3)}}, {i32({4})}});
  auto* in = reinterpret_cast<int32_t*>(t.input(0).data());
  in[0] = 9, in[1] = -4, in[2] = 1 << 29, in[3] = 3;
  t.forward();
  const auto* out = reinterpret_cast<const int32_t*>(t.output(0).data());
  EXPECT_EQ(out[0], -4);
  EXPECT_EQ(out[1], 1 << 29);
}

// Forward then backward of a large transpose and a large concat, as one byte string of results.
std::vector<float> big_run() {
  std::vector<float> all;
  const OpCase cases[] = {
      {"transpose", {{"perm", ints({2, 0, 1})}}, {f32({64, 48, 40})}},
      {"concat", {{"axis", num(0)}}, {f32({300, 256}), f32({200, 256})}},
      {"split", {{"parts", num(4)}, {"axis", num(1)}}, {f32({128, 1024})}},
  };
  for (const auto& c : cases) {
    OpHarness h(kernels(), c, 3);
    h.forward();
    std::vector<std::vector<float>> dy;
    for (size_t k = 0; k < h.num_outputs(); ++k) {
      all.insert(all.end(), h.output(k).begin(), h.output(k).end());
      dy.push_back(h.output(k));
    }
    for (const auto& d : h.backward(dy)) all.insert(all.end(), d.begin(), d.end());
  }
  return all;
}

TEST(ShapeKernels, DeterministicAcrossRunsAndThreads) {
  const int saved = omp_get_max_threads();
  const auto ref = big_run();
  EXPECT_EQ(ref, big_run());
  omp_set_num_threads(1);
  EXPECT_EQ(ref, big_run());
  omp_set_num_threads(saved);
}

}  // namespace
}  // namespace sublinear::testing
