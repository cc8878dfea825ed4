// Pointwise activations and dropout.
#include "ir/ops/op_helpers.h"

namespace sublinear::ir {

using namespace ops;

namespace {

// relu, sigmoid and tanh have derivatives expressible through their output alone, so the input may be
// overwritten in place and freed.
OpDef output_derived(std::string name, std::string doc, int64_t flops_per_element) {
  OpDef d = unary_f32_op(std::move(name), std::move(doc), "activation", flops_per_element);
  d.backward = {{}, {0}};
  d.inplace = {{0, 0}};
  d.cheap = true;
  return d;
}

}  // namespace

void register_activation_ops(OpRegistry& r) {
  r.add(output_derived("relu", "Rectified linear unit max(x, 0)", 1));
  // exp, add and divide: a few flops each.
  r.add(output_derived("sigmoid", "Logistic sigmoid 1 / (1 + exp(-x))", 4));
  r.add(output_derived("tanh", "Hyperbolic tangent", 4));

  OpDef d = unary_f32_op("dropout", "Zeroes elements with probability rate and scales the rest by 1/(1-rate)",
                         "activation", 2);
  d.attrs = {optional_attr("rate", AttrKind::Float, 0.5, "drop probability in [0, 1)")};
  auto base = d.infer;
  d.infer = [base](const std::vector<TensorType>& in, const Attrs& attrs) {
    double rate = attrs.get_float("rate");
    if (!(rate >= 0 && rate < 1))
      fail("dropout: rate must be in [0, 1), got " + attr_value_str(attrs.get("rate")));
    return base(in, attrs);
  };
  // The mask is regenerated from a counter-based RNG, so backward reads nothing saved.
  d.backward = {};
  d.inplace = {{0, 0}};
  d.cheap = true;
  r.add(std::move(d));
}

}  // namespace sublinear::ir
