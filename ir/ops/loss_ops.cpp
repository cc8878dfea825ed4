// Softmax, losses, reductions and metrics: the ops that end a model.
#include <algorithm>

#include "ir/ops/op_helpers.h"

namespace sublinear::ir {

using namespace ops;

namespace {

using Types = std::vector<TensorType>;

// exp, running max, sum and divide per element.
constexpr int64_t kSoftmaxFlops = 5;

// logits f32[..., C] against class indices i32[...].
void expect_logits_labels(const std::string& op, const Types& in) {
  expect_input_count(op, in, 2);
  const TensorType &logits = in[0], &labels = in[1];
  expect_rank(op, "logits", logits, 1, -1, "[..., C]");
  expect_dtype(op, "logits", logits, DType::F32);
  expect_dtype(op, "labels", labels, DType::I32);
  Shape want(logits.shape.begin(), logits.shape.end() - 1);
  if (labels.shape != want)
    fail(op + ": labels " + labels.str() + " do not match logits " + logits.str() +
             ": labels must have the logits' shape without the class axis, " + shape_str(want),
         {"logits: " + logits.str(), "labels: " + labels.str()});
}

OpDef softmax() {
  OpDef d;
  d.name = "softmax";
  d.doc = "Normalised exponentials along an axis";
  d.category = "activation";
  d.input_names = {"x"};
  d.attrs = {optional_attr("axis", AttrKind::Int, int64_t{-1}, "axis to normalise")};
  d.infer = [](const Types& in, const Attrs& attrs) {
    expect_input_count("softmax", in, 1);
    expect_rank("softmax", "x", in[0], 1, -1);
    expect_dtype("softmax", "x", in[0], DType::F32);
    normalise_axis("softmax", "axis", attrs.get_int("axis"), in[0].rank(), in[0]);
    return Types{in[0]};
  };
  d.cost = elementwise_cost(kSoftmaxFlops);
  // dx = y * (dy - sum(dy * y)): the output suffices.
  d.backward = {{}, {0}};
  return d;
}

OpDef softmax_cross_entropy() {
  OpDef d;
  d.name = "softmax_cross_entropy";
  d.doc = "Cross-entropy of softmax(logits) against integer class labels";
  d.category = "loss";
  d.min_inputs = d.max_inputs = 2;
  d.input_names = {"logits", "labels"};
  d.attrs = {optional_attr("reduction", AttrKind::String, std::string("mean"),
                           "how per-example losses combine", {"mean", "sum", "none"})};
  d.infer = [](const Types& in, const Attrs& attrs) {
    expect_logits_labels("softmax_cross_entropy", in);
    TensorType loss{DType::F32, {}};
    if (attrs.get_string("reduction") == "none") loss.shape = in[1].shape;
    return Types{loss, in[0]};
  };
  // The second output holds the probabilities the forward computes on the way; nothing reads it.
  d.visible_outputs = 1;
  d.cost = [](const Types& in, const Types& out, const Attrs&) {
    return Cost{kSoftmaxFlops * num_elements(in[0].shape) + 2 * num_elements(in[1].shape),
                io_bytes(in, out)};
  };
  // The backward computes the probabilities again from the logits (the forward's bits) rather than reading
  // them: a plan that keeps this node for its loss (which crosses to the sum of a sequence's losses)
  // would otherwise keep every step's probabilities too (the 4 x 1,024 LSTM over 1,024 steps: sqrt's
  // feature maps 2.03 GiB that way, 1.40 GiB this way).
  d.backward = {{0, 1}, {}};
  return d;
}

Types reduce(const std::string& op, const Types& in, const Attrs& attrs) {
  expect_input_count(op, in, 1);
  const TensorType& x = in[0];
  expect_dtype(op, "x", x, DType::F32);
  const auto& given = attrs.get_int_list("axes");
  std::vector<bool> reduced(x.shape.size(), given.empty());
  for (int64_t a : given) {
    int axis = normalise_axis(op, "axis", a, x.rank(), x);
    if (reduced[axis])
      fail(op + ": axis " + std::to_string(axis) + " appears twice in axes " + shape_str(given));
    reduced[axis] = true;
  }
  bool keep = attrs.get_bool("keepdims");
  TensorType y{DType::F32, {}};
  for (size_t i = 0; i < x.shape.size(); ++i) {
    if (!reduced[i]) y.shape.push_back(x.shape[i]);
    else if (keep) y.shape.push_back(1);
  }
  return {y};
}

OpDef reduction(const std::string& name, const std::string& doc) {
  OpDef d;
  d.name = name;
  d.doc = doc;
  d.category = "reduce";
  d.input_names = {"x"};
  d.attrs = {optional_attr("axes", AttrKind::Ints, std::vector<int64_t>{}, "axes to reduce; [] = all"),
             optional_attr("keepdims", AttrKind::Bool, false, "keep reduced axes as size 1")};
  d.infer = [name](const Types& in, const Attrs& attrs) { return reduce(name, in, attrs); };
  d.cost = [](const Types& in, const Types& out, const Attrs&) {
    return Cost{num_elements(in[0].shape), io_bytes(in, out)};
  };
  return d;
}

OpDef accuracy() {
  OpDef d;
  d.name = "accuracy";
  d.doc = "Fraction of rows whose argmax equals the label (a metric, no gradient)";
  d.category = "loss";
  d.min_inputs = d.max_inputs = 2;
  d.input_names = {"logits", "labels"};
  d.infer = [](const Types& in, const Attrs&) {
    expect_logits_labels("accuracy", in);
    return Types{{DType::F32, {}}};
  };
  d.cost = [](const Types& in, const Types& out, const Attrs&) {
    return Cost{num_elements(in[0].shape), io_bytes(in, out)};
  };
  d.differentiable = false;
  return d;
}

}  // namespace

void register_loss_ops(OpRegistry& r) {
  r.add(softmax());
  r.add(softmax_cross_entropy());
  r.add(reduction("mean", "Mean over axes (all by default)"));
  r.add(reduction("sum", "Sum over axes (all by default)"));
  r.add(accuracy());
}

}  // namespace sublinear::ir
