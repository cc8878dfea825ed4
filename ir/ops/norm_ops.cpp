// Normalisation layers.
#include "ir/ops/op_helpers.h"

namespace sublinear::ir {

using namespace ops;

namespace {

const char* kOp = "batch_norm";

// The channel axis: 1 by default ([N, C, ...], PyTorch's BatchNorm), -1 for channels-last data such as
// sequences [N, T, C]. Never the batch axis, whose statistics would make the parameters batch-sized.
int channel_axis(const TensorType& x, const Attrs& attrs) {
  expect_rank(kOp, "x", x, 2, 5, "[N, C, ...] or [N, ..., C]");
  expect_dtype(kOp, "x", x, DType::F32);
  const int axis = normalise_axis(kOp, "axis", attrs.get_int("axis"), static_cast<int>(x.rank()), x);
  if (axis == 0)
    fail(std::string(kOp) + ": axis 0 of " + x.str() +
         " is the batch axis; the channel axis is one of the others (1 for [N, C, ...], -1 for [N, ..., C])");
  return axis;
}

int64_t channels(const TensorType& x, const Attrs& attrs) { return x.shape[static_cast<size_t>(channel_axis(x, attrs))]; }

std::vector<ParamSpec> bn_params(const std::vector<TensorType>& data, const Attrs& attrs) {
  expect_input_count(kOp, data, 1);
  int64_t c = channels(data[0], attrs);
  double eps = attrs.get_float("eps"), momentum = attrs.get_float("momentum");
  if (!(eps > 0)) fail(std::string(kOp) + ": eps must be positive, got " + std::to_string(eps));
  if (!(momentum >= 0 && momentum <= 1))
    fail(std::string(kOp) + ": momentum must be in [0, 1], got " + std::to_string(momentum));
  TensorType vec{DType::F32, {c}};
  return {make_param("gamma", vec, "ones"), make_param("beta", vec, "zeros"),
          make_param("running_mean", vec, "zeros", false),
          make_param("running_var", vec, "ones", false)};
}

// layer_norm and rms_norm normalise each row over the trailing axes from `axis` on (PyTorch's
// normalized_shape); gamma and beta have the shape of those axes. Outputs after y (the row statistics)
// exist only for the backward pass, as batch_norm's.
struct RowNorm {
  int axis;
  int64_t rows;
  Shape normalized;
};

RowNorm row_norm(const std::string& op, const TensorType& x, const Attrs& attrs) {
  expect_rank(op, "x", x, 1, -1);
  expect_dtype(op, "x", x, DType::F32);
  int axis = normalise_axis(op, "axis", attrs.get_int("axis"), static_cast<int>(x.rank()), x);
  double eps = attrs.get_float("eps");
  if (!(eps > 0)) fail(op + ": eps must be positive, got " + std::to_string(eps));
  return {axis, product(x.shape, 0, static_cast<size_t>(axis)),
          Shape(x.shape.begin() + axis, x.shape.end())};
}

OpDef row_norm_op(const std::string& name, const std::string& doc, bool centred) {
  OpDef d;
  d.name = name;
  d.doc = doc;
  d.category = "norm";
  d.min_inputs = d.max_inputs = 1;
  d.input_names = {"x"};
  d.attrs = {optional_attr("axis", AttrKind::Int, int64_t{-1}, "first normalised axis; the rest to the end are too"),
             optional_attr("eps", AttrKind::Float, centred ? 1e-5 : 1e-6, "added to the variance"),
             optional_attr("affine", AttrKind::Bool, true,
                           centred ? "learned scale gamma and shift beta" : "learned scale gamma")};
  d.params = [name, centred](const std::vector<TensorType>& data, const Attrs& attrs) {
    expect_input_count(name, data, 1);
    RowNorm n = row_norm(name, data[0], attrs);
    std::vector<ParamSpec> p;
    if (!attrs.get_bool("affine")) return p;
    TensorType t{DType::F32, n.normalized};
    p.push_back(make_param("gamma", t, "ones"));
    if (centred) p.push_back(make_param("beta", t, "zeros"));
    return p;
  };
  d.infer = [name, centred, params = d.params](const std::vector<TensorType>& in, const Attrs& attrs) {
    if (in.empty()) expect_input_count(name, in, 1);
    expect_params(name, in, 1, params({in[0]}, attrs));
    RowNorm n = row_norm(name, in[0], attrs);
    TensorType stat{DType::F32, {n.rows}};
    std::vector<TensorType> out = {in[0]};
    if (centred) out.push_back(stat);  // mean
    out.push_back(stat);               // 1 / sqrt(var + eps)
    return out;
  };
  d.visible_outputs = 1;
  d.cost = [centred](const std::vector<TensorType>& in, const std::vector<TensorType>& out, const Attrs&) {
    // Statistics (two passes over x) and the normalise-scale-shift.
    return Cost{(centred ? 7 : 5) * num_elements(in[0].shape), io_bytes(in, out)};
  };
  // x and gamma (input 1, absent without affine) and the saved statistics; beta does not enter.
  d.backward = centred ? BackwardDeps{{0, 1}, {1, 2}} : BackwardDeps{{0, 1}, {1}};
  d.cheap = true;
  return d;
}

OpDef batch_norm_op(const std::string& name, const std::string& doc, bool relu) {
  OpDef d;
  d.name = name;
  d.doc = doc;
  d.category = "norm";
  d.min_inputs = d.max_inputs = 1;
  d.input_names = {"x"};
  d.attrs = {
      optional_attr("eps", AttrKind::Float, 1e-5, "added to the variance"),
      optional_attr("momentum", AttrKind::Float, 0.1, "running statistics update rate"),
      optional_attr("axis", AttrKind::Int, int64_t{1}, "channel axis (1: [N, C, ...]; -1: channels last)"),
  };
  d.params = bn_params;
  d.infer = [](const std::vector<TensorType>& in, const Attrs& attrs) {
    if (in.empty()) expect_input_count(kOp, in, 5);
    expect_params(kOp, in, 1, bn_params({in[0]}, attrs));
    TensorType stat{DType::F32, {channels(in[0], attrs)}};
    return std::vector<TensorType>{in[0], stat, stat};
  };
  // Outputs 1 and 2 (batch mean and inverse std) exist only for the backward pass.
  d.visible_outputs = 1;
  d.cost = [relu](const std::vector<TensorType>& in, const std::vector<TensorType>& out, const Attrs&) {
    // One statistics pass (sum and sum of squares: 3 flops) and a fused per-channel affine (2 flops), and
    // the relu's compare.
    Cost c;
    c.flops = (relu ? 6 : 5) * num_elements(in[0].shape);
    c.bytes = io_bytes(in, out);
    return c;
  };
  // Saving the statistics lets the backward skip the reduction over x; beta and the running
  // statistics do not enter the gradient. With relu, y too: its sign is the relu's mask (as relu's own
  // backward reads its output).
  d.backward = relu ? BackwardDeps{{0, 1}, {0, 1, 2}} : BackwardDeps{{0, 1}, {1, 2}};
  d.cheap = true;
  return d;
}

}  // namespace

void register_norm_ops(OpRegistry& r) {
  r.add(row_norm_op("layer_norm",
                    "Layer normalisation: each row over the trailing axes from axis on to zero mean and unit "
                    "variance, then gamma * x + beta",
                    true));
  r.add(row_norm_op("rms_norm", "RMS normalisation: each row over the trailing axes from axis on divided by its "
                                "root mean square, then gamma * x",
                    false));

  r.add(batch_norm_op(kOp, "Batch normalisation over every axis but the channel axis (1, or axis=), with running "
                          "statistics", false));
  // What ir/fusion.h makes of batch_norm followed by relu: one sweep instead of two, in forward, in
  // recomputation and in backward (the relu's mask applied as dy is read). The same arithmetic, so a fused
  // run is bitwise an unfused one.
  r.add(batch_norm_op("batch_norm_relu", "batch_norm followed by relu, in one pass (made by fusion; callable too)",
                      true));
}

}  // namespace sublinear::ir
