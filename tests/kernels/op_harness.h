#pragma once
// A harness that runs one op's kernels outside any graph, for the per-op tests: builds an ir::Node from
// the op's schema (parameters created by the OpDef), fills inputs with seeded random data, and checks
//  - gradients against central finite differences of L = sum_k <w_k, out_k> over the visible outputs,
//    with only OpDef::backward's values present (so a kernel that reads more than it declared crashes or
//    fails), and
//  - the in-place and accumulate parts of the kernel contract (runtime/kernel.h), bitwise where the
//    contract promises bitwise.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ir/graph.h"
#include "runtime/kernel.h"

namespace sublinear::testing {

struct OpCase {
  std::string op;
  std::vector<std::pair<std::string, ir::AttrValue>> attrs;
  std::vector<ir::TensorType> data_inputs;  // the layer's parameters are added from the OpDef
  int64_t int_range = 5;                    // i32 inputs are uniform in [0, int_range)
  bool positive = false;                    // f32 data inputs are |normal| + 0.5 (log, sqrt, div)
};

struct GradCheckOptions {
  double h = 1e-2;      // central difference step, in float inputs of magnitude ~1
  double rtol = 2e-2;   // |fd - analytic| <= atol + rtol * max(|fd|, |analytic|)
  double atol = 2e-3;
  int probes = 24;      // elements perturbed per input (all when fewer)
  uint64_t seed = 1;
  runtime::Mode fd_mode = runtime::Mode::Recompute;  // forward mode of the perturbed evaluations
};

// Owns the node and host buffers for one op call.
class OpHarness {
 public:
  OpHarness(const runtime::KernelTable& kernels, const OpCase& c, uint64_t seed = 1);

  const ir::Node& node() const { return node_; }
  size_t num_inputs() const { return in_.size(); }
  size_t num_outputs() const { return out_.size(); }
  std::vector<float>& input(size_t i) { return in_[i]; }   // raw storage (i32 inputs bit-cast)
  std::vector<float>& output(size_t k) { return out_[k]; }
  bool input_needs_grad(size_t i) const;                    // f32 and (data input or trainable param)

  void forward(runtime::Mode mode = runtime::Mode::Train, int64_t iteration = 0);
  // Backward with dy = the given per-output buffers (empty vector: absent); returns dx per input (empty
  // when the input needs no gradient). dx starts from `dx_init` when accumulating.
  std::vector<std::vector<float>> backward(const std::vector<std::vector<float>>& dy,
                                           const std::vector<std::vector<float>>* dx_init = nullptr,
                                           int64_t iteration = 0);
  runtime::Tensor view(std::vector<float>& buf, const ir::TensorType& t) const;

  const runtime::KernelTable& kernels() const { return kernels_; }
  int visible_outputs() const;

 private:
  const runtime::KernelTable& kernels_;
  ir::Node node_;
  std::vector<ir::TensorType> in_types_;
  std::vector<char> trainable_;
  std::vector<std::vector<float>> in_, out_;
  std::vector<float> workspace_;
};

// gtest assertions: analytic gradients match finite differences for every input that needs one.
void expect_gradients_match(const runtime::KernelTable& k, const OpCase& c, const GradCheckOptions& o = {});
// gtest assertions: every in-place option gives bitwise the results of the out-of-place call, forward
// and (dx over dy) backward.
void expect_inplace_equivalent(const runtime::KernelTable& k, const OpCase& c);
// gtest assertions: accumulating into prefilled dx gives prefill + gradient (to float rounding).
void expect_accumulates(const runtime::KernelTable& k, const OpCase& c);

}  // namespace sublinear::testing
