// Pointwise arithmetic with numpy broadcasting.
#include "ir/ops/op_helpers.h"

namespace sublinear::ir {

using namespace ops;

namespace {

OpDef binary(const std::string& name, const std::string& doc) {
  OpDef d;
  d.name = name;
  d.doc = doc;
  d.category = "elementwise";
  d.min_inputs = d.max_inputs = 2;
  d.input_names = {"a", "b"};
  d.infer = [name](const std::vector<TensorType>& in, const Attrs&) {
    expect_input_count(name, in, 2);
    const TensorType &a = in[0], &b = in[1];
    if (a.dtype != b.dtype)
      fail(name + ": element types of " + a.str() + " and " + b.str() + " differ",
           {"left:  " + a.str(), "right: " + b.str()});
    expect_dtype(name, "a", a, DType::F32);
    return std::vector<TensorType>{{a.dtype, broadcast_shapes(name, a, b)}};
  };
  d.cost = elementwise_cost(1);
  // Either operand may be overwritten; the planner only uses this when its size equals the output's.
  d.inplace = {{0, 0}, {0, 1}};
  d.cheap = true;
  return d;
}

}  // namespace

void register_elementwise_ops(OpRegistry& r) {
  r.add(binary("add", "Elementwise a + b with broadcasting"));
  r.add(binary("sub", "Elementwise a - b with broadcasting"));
  OpDef mul = binary("mul", "Elementwise a * b with broadcasting");
  // d(a*b)/da = b and vice versa.
  mul.backward = {{0, 1}, {}};
  r.add(std::move(mul));

  OpDef scale = unary_f32_op("scale", "Multiplies by a constant factor", "elementwise", 1);
  scale.attrs = {required_attr("factor", AttrKind::Float, "multiplier")};
  scale.inplace = {{0, 0}};
  scale.cheap = true;
  r.add(std::move(scale));

  OpDef add_n;
  add_n.name = "add_n";
  add_n.doc = "Sum of one or more tensors of the same type";
  add_n.category = "elementwise";
  add_n.min_inputs = 1;
  add_n.max_inputs = -1;
  add_n.input_names = {"xs"};
  add_n.infer = [](const std::vector<TensorType>& in, const Attrs&) {
    if (in.empty()) fail("add_n: needs at least one input");
    expect_dtype("add_n", "xs[0]", in[0], DType::F32);
    for (size_t i = 1; i < in.size(); ++i)
      if (!(in[i] == in[0]))
        fail("add_n: input " + std::to_string(i) + " is " + in[i].str() + " but input 0 is " +
                 in[0].str() + " (add_n does not broadcast)",
             {"xs[0]: " + in[0].str(), "xs[" + std::to_string(i) + "]: " + in[i].str()});
    return std::vector<TensorType>{in[0]};
  };
  add_n.cost = [](const std::vector<TensorType>& in, const std::vector<TensorType>& out, const Attrs&) {
    int64_t adds = static_cast<int64_t>(in.size()) - 1;
    return Cost{adds * num_elements(out[0].shape), io_bytes(in, out)};
  };
  add_n.inplace = {{0, 0}};
  add_n.cheap = true;
  r.add(std::move(add_n));
}

}  // namespace sublinear::ir
