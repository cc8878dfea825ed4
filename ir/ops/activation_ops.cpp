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

// lstm_cell: the elementwise tail of an LSTM step, what ir/fusion.h makes of split + 3 sigmoid + 2 tanh +
// 3 mul + add. The gates' four quarters along the last axis are i, f, g, o in the order `order` names.
const char* kLstm = "lstm_cell";

std::vector<int64_t> gate_order(const Attrs& attrs) {
  const std::vector<int64_t> order = ints_attr(kLstm, attrs, "order", 4, 0);
  std::vector<int> seen(4, 0);
  for (int64_t q : order) {
    if (q > 3 || seen[static_cast<size_t>(q)]++)
      fail(std::string(kLstm) + ": order must list the quarters 0, 1, 2 and 3 once each (for i, f, g, o), got " +
           attr_value_str(attrs.get("order")));
  }
  return order;
}

OpDef lstm_cell_op() {
  OpDef d;
  d.name = kLstm;
  d.doc = "LSTM step from its gates: i, f, g, o = the last axis' quarters; c' = sigmoid(f) * c + sigmoid(i) * "
          "tanh(g); h' = sigmoid(o) * tanh(c'); returns (h', c') (made by fusion; callable too)";
  d.category = "activation";
  d.min_inputs = d.max_inputs = 2;
  d.input_names = {"gates", "c"};
  d.attrs = {optional_attr("order", AttrKind::Ints, std::vector<int64_t>{0, 1, 2, 3},
                           "which quarter of the gates is i, f, g and o")};
  d.infer = [](const std::vector<TensorType>& in, const Attrs& attrs) {
    expect_input_count(kLstm, in, 2);
    const TensorType& gates = in[0];
    const TensorType& c = in[1];
    expect_dtype(kLstm, "gates", gates, DType::F32);
    expect_dtype(kLstm, "c", c, DType::F32);
    expect_rank(kLstm, "gates", gates, 1, -1);
    gate_order(attrs);
    Shape quarter = gates.shape;
    if (quarter.back() % 4 != 0)
      fail(std::string(kLstm) + ": the gates' last axis (" + std::to_string(quarter.back()) +
               ") must hold four equal quarters",
           {"gates: " + gates.str()});
    quarter.back() /= 4;
    if (c.shape != quarter)
      fail(std::string(kLstm) + ": c must be a quarter of the gates along the last axis",
           {"gates: " + gates.str(), "c:     " + c.str()});
    return std::vector<TensorType>{c, c};  // h', c'
  };
  // Per element of c: 3 sigmoids and 2 tanhs (4 flops each), 3 products and a sum.
  d.cost = [](const std::vector<TensorType>& in, const std::vector<TensorType>& out, const Attrs&) {
    return Cost{24 * num_elements(in[1].shape), io_bytes(in, out)};
  };
  // The gates, c (for f's gradient) and c' (tanh(c')): the activations are computed again in the backward
  // pass rather than kept as an output, because a planner that keeps this node for its h' and c' (an
  // LSTM step's boundary) would keep every output of it, four times c's size more.
  d.backward = {{0, 1}, {1}};
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
  r.add(lstm_cell_op());
}

}  // namespace sublinear::ir
