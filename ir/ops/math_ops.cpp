// Pointwise math: unary functions (exp, log, sqrt, rsqrt, abs, neg, sin, cos, pow by a constant, the
// affine a*x + b that numbers combined with tensors lower to), the Transformer activations gelu and
// silu, the binary div, maximum and minimum, and the ternary where, all with numpy broadcasting.
//
// Rules for the backward reads (the fewer, the more the planner can free or overwrite in place):
//   * A function whose derivative is a function of its output (exp, sqrt, rsqrt) reads y only, so y may
//     be written over x.
//   * One whose derivative needs the input (log, abs, sin, cos, pow, gelu, silu) reads x and is never
//     in place (x must survive until the backward).
//   * neg, affine and causal_mask read nothing.
//   * div reads b and y (da = dy / b, db = -dy * y / b), so y may be written over a; maximum and minimum
//     read both inputs (which one won) and split the gradient equally on ties, as PyTorch does.
//   * where reads only the condition (the gradient goes to a where it holds, to b elsewhere), so y may
//     be written over a or b; the condition gets no gradient.
#include "ir/ops/op_helpers.h"

namespace sublinear::ir {

using namespace ops;

namespace {

OpDef from_output(std::string name, std::string doc, int64_t flops) {
  OpDef d = unary_f32_op(std::move(name), std::move(doc), "math", flops);
  d.backward = {{}, {0}};
  d.inplace = {{0, 0}};
  d.cheap = true;
  return d;
}

OpDef from_input(std::string name, std::string doc, std::string category, int64_t flops) {
  OpDef d = unary_f32_op(std::move(name), std::move(doc), std::move(category), flops);
  d.backward = {{0}, {}};
  d.cheap = true;
  return d;
}

OpDef binary_math(const std::string& name, const std::string& doc, BackwardDeps deps, int64_t flops) {
  OpDef d;
  d.name = name;
  d.doc = doc;
  d.category = "elementwise";
  d.min_inputs = d.max_inputs = 2;
  d.input_names = {"a", "b"};
  d.infer = [name](const std::vector<TensorType>& in, const Attrs&) {
    expect_input_count(name, in, 2);
    expect_dtype(name, "a", in[0], DType::F32);
    expect_dtype(name, "b", in[1], DType::F32);
    return std::vector<TensorType>{{DType::F32, broadcast_shapes(name, in[0], in[1])}};
  };
  d.cost = elementwise_cost(flops);
  d.backward = std::move(deps);
  d.cheap = true;
  return d;
}

}  // namespace

void register_math_ops(OpRegistry& r) {
  r.add(from_output("exp", "Elementwise e^x", 4));
  r.add(from_output("sqrt", "Elementwise square root", 2));
  r.add(from_output("rsqrt", "Elementwise 1 / sqrt(x)", 3));
  r.add(from_input("log", "Elementwise natural logarithm", "math", 4));
  r.add(from_input("abs", "Elementwise |x| (gradient 0 at 0)", "math", 1));
  r.add(from_input("sin", "Elementwise sine", "math", 4));
  r.add(from_input("cos", "Elementwise cosine", "math", 4));

  OpDef neg = unary_f32_op("neg", "Elementwise -x", "math", 1);
  neg.backward = {};
  neg.inplace = {{0, 0}};
  neg.cheap = true;
  r.add(std::move(neg));

  OpDef affine = unary_f32_op("affine", "Elementwise factor * x + offset (what x * 0.5 + 1 and 1 - x lower to)",
                              "math", 2);
  affine.attrs = {optional_attr("factor", AttrKind::Float, 1.0, "multiplier"),
                  optional_attr("offset", AttrKind::Float, 0.0, "added after the multiplication")};
  affine.backward = {};
  affine.inplace = {{0, 0}};
  affine.cheap = true;
  r.add(std::move(affine));

  OpDef pow = from_input("pow", "Elementwise x ** exponent for a constant exponent", "math", 4);
  pow.attrs = {required_attr("exponent", AttrKind::Float, "the constant power")};
  r.add(std::move(pow));

  OpDef gelu = from_input("gelu",
                          "Gaussian error linear unit x * Phi(x); approximate=tanh is GPT-2's "
                          "0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3)))",
                          "activation", 12);
  gelu.attrs = {optional_attr("approximate", AttrKind::String, std::string("none"),
                              "none (exact, with erf) or tanh", {"none", "tanh"})};
  r.add(std::move(gelu));
  r.add(from_input("silu", "Sigmoid linear unit x * sigmoid(x) (swish)", "activation", 6));

  OpDef mask = unary_f32_op("causal_mask",
                            "Sets x[..., i, j] to value where j > i (over the last two axes): the causal mask of "
                            "unfused attention scores",
                            "math", 1);
  mask.attrs = {optional_attr("value", AttrKind::Float, -1e9, "what masked positions become (softmax gives them 0)")};
  auto mask_infer = mask.infer;
  mask.infer = [mask_infer](const std::vector<TensorType>& in, const Attrs& attrs) {
    if (!in.empty()) expect_rank("causal_mask", "x", in[0], 2, -1, "[..., T, T]");
    return mask_infer(in, attrs);
  };
  mask.backward = {};
  mask.inplace = {{0, 0}};
  mask.cheap = true;
  r.add(std::move(mask));

  OpDef div = binary_math("div", "Elementwise a / b with broadcasting", {{1}, {0}}, 1);
  div.inplace = {{0, 0}};  // y over a: the backward reads b and y, never a
  r.add(std::move(div));
  r.add(binary_math("maximum", "Elementwise max(a, b) with broadcasting; ties split the gradient", {{0, 1}, {}}, 1));
  r.add(binary_math("minimum", "Elementwise min(a, b) with broadcasting; ties split the gradient", {{0, 1}, {}}, 1));

  OpDef where;
  where.name = "where";
  where.doc = "Elementwise cond ? a : b with broadcasting over all three; cond is f32 or i32, nonzero is true";
  where.category = "elementwise";
  where.min_inputs = where.max_inputs = 3;
  where.input_names = {"cond", "a", "b"};
  where.infer = [](const std::vector<TensorType>& in, const Attrs&) {
    expect_input_count("where", in, 3);
    if (in[0].dtype != DType::F32 && in[0].dtype != DType::I32)
      fail("where: 'cond' must be f32 or i32, got " + in[0].str());
    expect_dtype("where", "a", in[1], DType::F32);
    expect_dtype("where", "b", in[2], DType::F32);
    const Shape ab = broadcast_shapes("where", in[1], in[2]);
    return std::vector<TensorType>{{DType::F32, broadcast_shapes("where", in[0], TensorType{DType::F32, ab})}};
  };
  where.cost = elementwise_cost(1);
  where.backward = {{0}, {}};
  where.inplace = {{0, 1}, {0, 2}};
  where.cheap = true;
  r.add(std::move(where));
}

}  // namespace sublinear::ir
