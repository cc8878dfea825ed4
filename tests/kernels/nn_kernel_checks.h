#pragma once
// Checks shared by the conv, norm, pool, activation and linear kernel tests, on top of op_harness.h:
// a forward + backward run with every buffer shifted by a few floats (so nothing is 16-, 32- or
// 64-byte aligned), used to check that kernels are bitwise deterministic wherever their buffers sit,
// and small comparison helpers. Header-only so each test file stays self-contained.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "ir/op_registry.h"
#include "tests/kernels/op_harness.h"
#include "tests/support/split_mix64.h"

namespace sublinear::testing {

inline float normal_sample(SplitMix64& r) {
  const double u1 = 1.0 - r.unit(), u2 = r.unit();
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

// The node's input types the way the harness builds them: data inputs, then the OpDef's parameters.
inline std::vector<ir::TensorType> case_input_types(const OpCase& c, const ir::Node& node) {
  std::vector<ir::TensorType> types = c.data_inputs;
  if (node.def->params)
    for (const auto& p : node.def->params(c.data_inputs, node.attrs)) types.push_back(p.type);
  return types;
}

struct OpRun {
  std::vector<std::vector<float>> out;  // every output, numel floats
  std::vector<std::vector<float>> dx;   // per input; empty when it needs no gradient
};

// Forward (Train, iteration 3) and backward (random dy on the visible outputs, dx overwritten) with
// every buffer starting `shift` floats into its allocation. Only OpDef::backward's values are present.
inline OpRun run_shifted(const runtime::KernelTable& kernels, const OpCase& c, size_t shift) {
  OpHarness h(kernels, c, 21);
  const ir::Node& node = h.node();
  const auto types = case_input_types(c, node);
  const auto& deps = node.def->backward;
  auto holds = [](const std::vector<int>& v, size_t i) {
    return std::find(v.begin(), v.end(), static_cast<int>(i)) != v.end();
  };
  auto padded = [&](size_t n, float fill) { return std::vector<float>(shift + n + 1, fill); };
  auto words = [](const ir::TensorType& t) { return static_cast<size_t>((t.bytes() + 3) / 4); };

  std::vector<std::vector<float>> in(types.size()), out(node.outputs.size());
  for (size_t i = 0; i < types.size(); ++i) {
    in[i] = padded(words(types[i]), 0.0f);
    std::copy(h.input(i).begin(), h.input(i).begin() + static_cast<long>(words(types[i])),
              in[i].begin() + static_cast<long>(shift));
  }
  for (size_t k = 0; k < out.size(); ++k) out[k] = padded(words(node.outputs[k]), 0.0f);

  runtime::OpCall f;
  f.node = &node;
  for (size_t i = 0; i < in.size(); ++i) f.in.push_back({in[i].data() + shift, types[i]});
  for (size_t k = 0; k < out.size(); ++k) f.out.push_back({out[k].data() + shift, node.outputs[k]});
  f.seed = 1234;
  f.iteration = 3;
  kernels.get(c.op).forward(f);

  SplitMix64 r{77};
  const int visible =
      node.def->visible_outputs < 0 ? static_cast<int>(out.size()) : node.def->visible_outputs;
  std::vector<std::vector<float>> dy(out.size());
  runtime::OpCall b;
  b.node = &node;
  for (size_t i = 0; i < in.size(); ++i)
    b.in.push_back({holds(deps.inputs, i) ? in[i].data() + shift : nullptr, types[i]});
  for (size_t k = 0; k < out.size(); ++k) {
    b.out.push_back({holds(deps.outputs, k) ? out[k].data() + shift : nullptr, node.outputs[k]});
    const bool grad = static_cast<int>(k) < visible && node.outputs[k].dtype == ir::DType::F32;
    if (grad) {
      dy[k] = padded(words(node.outputs[k]), 0.0f);
      for (size_t j = 0; j < words(node.outputs[k]); ++j) dy[k][shift + j] = normal_sample(r);
    }
    b.dy.push_back({grad ? dy[k].data() + shift : nullptr, node.outputs[k]});
  }
  std::vector<std::vector<float>> dx(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (h.input_needs_grad(i)) dx[i] = padded(words(types[i]), std::numeric_limits<float>::quiet_NaN());
    b.dx.push_back({dx[i].empty() ? nullptr : dx[i].data() + shift, types[i]});
    b.dx_accumulate.push_back(0);
  }
  b.seed = 1234;
  b.iteration = 3;
  if (node.def->differentiable) kernels.get(c.op).backward(b);

  OpRun run;
  for (size_t k = 0; k < out.size(); ++k)
    run.out.emplace_back(out[k].begin() + static_cast<long>(shift), out[k].end() - 1);
  for (size_t i = 0; i < in.size(); ++i)
    run.dx.push_back(dx[i].empty()
                         ? std::vector<float>{}
                         : std::vector<float>(dx[i].begin() + static_cast<long>(shift), dx[i].end() - 1));
  return run;
}

inline bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  // memcmp's pointers must not be null, even for no bytes: an empty vector's data() may be.
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// Two runs at the same address and runs at misaligned addresses give bitwise the same outputs and
// gradients.
inline void expect_deterministic(const runtime::KernelTable& kernels, const OpCase& c) {
  const OpRun base = run_shifted(kernels, c, 0);
  for (size_t shift : {size_t{0}, size_t{1}, size_t{17}}) {
    SCOPED_TRACE(c.op + " with buffers shifted by " + std::to_string(shift) + " floats");
    const OpRun again = run_shifted(kernels, c, shift);
    for (size_t k = 0; k < base.out.size(); ++k)
      EXPECT_TRUE(bitwise_equal(base.out[k], again.out[k])) << "output " << k;
    for (size_t i = 0; i < base.dx.size(); ++i)
      EXPECT_TRUE(bitwise_equal(base.dx[i], again.dx[i])) << "dx " << i;
  }
}

// |got - want| <= atol + rtol * |want| elementwise, reporting the first few failures.
inline void expect_close(const std::vector<float>& got, const std::vector<double>& want, double atol,
                         double rtol, const std::string& what) {
  ASSERT_GE(got.size(), want.size()) << what;
  int failures = 0;
  for (size_t i = 0; i < want.size() && failures < 5; ++i) {
    const bool ok = std::abs(static_cast<double>(got[i]) - want[i]) <= atol + rtol * std::abs(want[i]);
    if (!ok) ++failures;
    EXPECT_TRUE(ok) << what << " element " << i << ": got " << got[i] << ", want " << want[i];
  }
}

}  // namespace sublinear::testing
