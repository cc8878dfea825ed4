// Normalisation layers.
#include "ir/ops/op_helpers.h"

namespace sublinear::ir {

using namespace ops;

namespace {

const char* kOp = "batch_norm";

int64_t channels(const TensorType& x) {
  expect_rank(kOp, "x", x, 2, 5, "[N, C, ...]");
  expect_dtype(kOp, "x", x, DType::F32);
  return x.shape[1];
}

std::vector<ParamSpec> bn_params(const std::vector<TensorType>& data, const Attrs& attrs) {
  expect_input_count(kOp, data, 1);
  int64_t c = channels(data[0]);
  double eps = attrs.get_float("eps"), momentum = attrs.get_float("momentum");
  if (!(eps > 0)) fail(std::string(kOp) + ": eps must be positive, got " + std::to_string(eps));
  if (!(momentum >= 0 && momentum <= 1))
    fail(std::string(kOp) + ": momentum must be in [0, 1], got " + std::to_string(momentum));
  TensorType vec{DType::F32, {c}};
  return {make_param("gamma", vec, "ones"), make_param("beta", vec, "zeros"),
          make_param("running_mean", vec, "zeros", false),
          make_param("running_var", vec, "ones", false)};
}

}  // namespace

void register_norm_ops(OpRegistry& r) {
  OpDef d;
  d.name = kOp;
  d.doc = "Batch normalisation over every axis but the channel axis 1, with running statistics";
  d.category = "norm";
  d.min_inputs = d.max_inputs = 1;
  d.input_names = {"x"};
  d.attrs = {
      optional_attr("eps", AttrKind::Float, 1e-5, "added to the variance"),
      optional_attr("momentum", AttrKind::Float, 0.1, "running statistics update rate"),
  };
  d.params = bn_params;
  d.infer = [](const std::vector<TensorType>& in, const Attrs& attrs) {
    if (in.empty()) expect_input_count(kOp, in, 5);
    expect_params(kOp, in, 1, bn_params({in[0]}, attrs));
    TensorType stat{DType::F32, {in[0].shape[1]}};
    return std::vector<TensorType>{in[0], stat, stat};
  };
  // Outputs 1 and 2 (batch mean and inverse std) exist only for the backward pass.
  d.visible_outputs = 1;
  d.cost = [](const std::vector<TensorType>& in, const std::vector<TensorType>& out, const Attrs&) {
    // One statistics pass (sum and sum of squares: 3 flops) and a fused per-channel affine (2 flops).
    Cost c;
    c.flops = 5 * num_elements(in[0].shape);
    c.bytes = io_bytes(in, out);
    return c;
  };
  // Saving the statistics lets the backward skip the reduction over x; beta and the running
  // statistics do not enter the gradient.
  d.backward = {{0, 1}, {1, 2}};
  d.cheap = true;
  r.add(std::move(d));
}

}  // namespace sublinear::ir
