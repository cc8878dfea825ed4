// Data movement: reshape, transpose, joining and cutting tensors. Any element type; no arithmetic, so
// the gradient of each is data movement of dy alone and backward reads nothing.
#include <algorithm>

#include "ir/ops/op_helpers.h"

namespace sublinear::ir {

using namespace ops;

namespace {

using Types = std::vector<TensorType>;

OpDef shape_op(const std::string& name, const std::string& doc, int min_inputs, int max_inputs,
               std::vector<std::string> input_names) {
  OpDef d;
  d.name = name;
  d.doc = doc;
  d.category = "shape";
  d.min_inputs = min_inputs;
  d.max_inputs = max_inputs;
  d.input_names = std::move(input_names);
  // Costed as a copy; where an in-place option applies the planner turns it into a view.
  d.cost = elementwise_cost(0);
  d.cheap = true;
  return d;
}

Types reshape(const Types& in, const Attrs& attrs) {
  expect_input_count("reshape", in, 1);
  const TensorType& x = in[0];
  Shape s = attrs.get_int_list("shape");
  int infer_at = -1;
  int64_t known = 1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      if (infer_at >= 0) fail("reshape: at most one -1 is allowed in shape " + shape_str(s));
      infer_at = static_cast<int>(i);
    } else if (s[i] <= 0) {
      fail("reshape: dimensions must be positive (or one -1), got " + shape_str(s));
    } else {
      known *= s[i];
    }
  }
  int64_t n = num_elements(x.shape);
  std::vector<std::string> extra{"input: " + x.str() + " (" + std::to_string(n) + " elements)",
                                 "shape: " + shape_str(s)};
  if (infer_at >= 0) {
    if (n % known != 0)
      fail("reshape: cannot reshape " + x.str() + " to " + shape_str(s) + ": " +
               std::to_string(n) + " elements are not divisible by " + std::to_string(known),
           extra);
    s[infer_at] = n / known;
  } else if (known != n) {
    fail("reshape: cannot reshape " + x.str() + " (" + std::to_string(n) + " elements) to " +
             shape_str(s) + " (" + std::to_string(known) + " elements)",
         extra);
  }
  return {{x.dtype, s}};
}

Types flatten(const Types& in, const Attrs& attrs) {
  expect_input_count("flatten", in, 1);
  const TensorType& x = in[0];
  // As in ONNX: a negative axis counts from the end of x (-1 keeps the last axis apart), and axis may
  // equal the rank (everything in the first factor).
  int64_t a = attrs.get_int("axis");
  if (a < 0) a += x.rank();
  if (a < 0 || a > x.rank())
    fail("flatten: axis " + std::to_string(attrs.get_int("axis")) + " is out of range for " + x.str() +
         " (valid: " + std::to_string(-x.rank()) + " to " + std::to_string(x.rank()) + ")");
  size_t axis = static_cast<size_t>(a);
  return {{x.dtype, {product(x.shape, 0, axis), product(x.shape, axis, x.shape.size())}}};
}

Types transpose(const Types& in, const Attrs& attrs) {
  expect_input_count("transpose", in, 1);
  const TensorType& x = in[0];
  const auto& perm = attrs.get_int_list("perm");
  std::vector<int64_t> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  bool ok = static_cast<int>(perm.size()) == x.rank();
  for (size_t i = 0; ok && i < sorted.size(); ++i) ok = sorted[i] == static_cast<int64_t>(i);
  if (!ok)
    fail("transpose: perm " + shape_str(perm) + " is not a permutation of 0.." +
         std::to_string(x.rank() - 1) + " for " + x.str());
  Shape s;
  for (int64_t p : perm) s.push_back(x.shape[p]);
  return {{x.dtype, s}};
}

// concat and stack inputs must agree in dtype, rank and every dimension but skip_axis (-1: none).
void expect_joinable(const std::string& op, const Types& in, int skip_axis) {
  if (in.empty()) fail(op + ": needs at least one input");
  for (size_t i = 1; i < in.size(); ++i) {
    const TensorType &a = in[0], &b = in[i];
    bool ok = a.dtype == b.dtype && a.rank() == b.rank();
    for (int k = 0; ok && k < a.rank(); ++k) ok = k == skip_axis || a.shape[k] == b.shape[k];
    if (!ok) {
      std::string rule = skip_axis < 0 ? "must have the same type"
                                       : "must match in type and in every dimension but axis " +
                                             std::to_string(skip_axis);
      fail(op + ": inputs " + rule + ": input 0 is " + a.str() + ", input " + std::to_string(i) +
               " is " + b.str(),
           {"xs[0]: " + a.str(), "xs[" + std::to_string(i) + "]: " + b.str()});
    }
  }
}

Types concat(const Types& in, const Attrs& attrs) {
  if (in.empty()) fail("concat: needs at least one input");
  if (in[0].rank() == 0) fail("concat: cannot concatenate scalars " + in[0].str() + "; use stack");
  int axis = normalise_axis("concat", "axis", attrs.get_int("axis"), in[0].rank(), in[0]);
  expect_joinable("concat", in, axis);
  TensorType y = in[0];
  for (size_t i = 1; i < in.size(); ++i) y.shape[axis] += in[i].shape[axis];
  return {y};
}

Types stack(const Types& in, const Attrs& attrs) {
  if (in.empty()) fail("stack: needs at least one input");
  // The new axis may also go after the last one.
  int axis = normalise_axis("stack", "axis", attrs.get_int("axis"), in[0].rank() + 1, in[0]);
  expect_joinable("stack", in, -1);
  TensorType y = in[0];
  y.shape.insert(y.shape.begin() + axis, static_cast<int64_t>(in.size()));
  return {y};
}

Types split(const Types& in, const Attrs& attrs) {
  expect_input_count("split", in, 1);
  const TensorType& x = in[0];
  int64_t parts = positive_attr("split", attrs, "parts");
  int axis = normalise_axis("split", "axis", attrs.get_int("axis"), x.rank(), x);
  if (x.shape[axis] % parts != 0)
    fail("split: dimension " + std::to_string(axis) + " of " + x.str() + " (" +
         std::to_string(x.shape[axis]) + ") is not divisible into " + std::to_string(parts) +
         " equal parts");
  TensorType part = x;
  part.shape[axis] /= parts;
  return Types(parts, part);
}

Types slice(const Types& in, const Attrs& attrs) {
  expect_input_count("slice", in, 1);
  const TensorType& x = in[0];
  int axis = normalise_axis("slice", "axis", attrs.get_int("axis"), x.rank(), x);
  int64_t dim = x.shape[axis];
  int64_t start = attrs.get_int("start"), end = attrs.get_int("end");
  int64_t s = start < 0 ? start + dim : start, e = end < 0 ? end + dim : end;
  if (!(0 <= s && s < e && e <= dim))
    fail("slice: range start=" + std::to_string(start) + ", end=" + std::to_string(end) +
         " is empty or out of bounds for axis " + std::to_string(axis) + " of " + x.str() +
         " (after resolving negatives: [" + std::to_string(s) + ", " + std::to_string(e) +
         "), need 0 <= start < end <= " + std::to_string(dim) + ")");
  const int64_t step = attrs.get_int("step");
  if (step < 1)
    fail("slice: step must be positive, got " + std::to_string(step) + " (reversed slices are not supported)");
  TensorType y = x;
  y.shape[axis] = (e - s - 1) / step + 1;
  return {y};
}

Types select(const Types& in, const Attrs& attrs) {
  expect_input_count("select", in, 1);
  const TensorType& x = in[0];
  int axis = normalise_axis("select", "axis", attrs.get_int("axis"), x.rank(), x);
  int64_t dim = x.shape[axis], index = attrs.get_int("index");
  int64_t i = index < 0 ? index + dim : index;
  if (i < 0 || i >= dim)
    fail("select: index " + std::to_string(index) + " is out of range for axis " +
         std::to_string(axis) + " of " + x.str() + " (valid: " + std::to_string(-dim) + " to " +
         std::to_string(dim - 1) + ")");
  TensorType y = x;
  y.shape.erase(y.shape.begin() + axis);
  return {y};
}

}  // namespace

void register_shape_ops(OpRegistry& r) {
  OpDef d = shape_op("reshape", "Same elements, new shape (one -1 is inferred)", 1, 1, {"x"});
  d.attrs = {required_attr("shape", AttrKind::Ints, "new shape; one entry may be -1")};
  d.infer = reshape;
  d.inplace = {{0, 0}};
  r.add(std::move(d));

  d = shape_op("flatten", "Collapses to 2-D: [prod(dims[:axis]), prod(dims[axis:])]", 1, 1, {"x"});
  d.attrs = {optional_attr("axis", AttrKind::Int, int64_t{1}, "first axis of the second factor")};
  d.infer = flatten;
  d.inplace = {{0, 0}};
  r.add(std::move(d));

  d = shape_op("transpose", "Permutes axes", 1, 1, {"x"});
  d.attrs = {required_attr("perm", AttrKind::Ints, "new order of the axes")};
  d.infer = transpose;
  r.add(std::move(d));

  d = shape_op("concat", "Joins tensors along an existing axis", 1, -1, {"xs"});
  d.attrs = {optional_attr("axis", AttrKind::Int, int64_t{1}, "axis to join along")};
  d.infer = concat;
  r.add(std::move(d));

  d = shape_op("stack", "Joins same-shaped tensors along a new axis", 1, -1, {"xs"});
  d.attrs = {optional_attr("axis", AttrKind::Int, int64_t{0}, "position of the new axis")};
  d.infer = stack;
  r.add(std::move(d));

  d = shape_op("split", "Cuts a tensor into equal parts along an axis", 1, 1, {"x"});
  d.attrs = {required_attr("parts", AttrKind::Int, "number of outputs"),
             optional_attr("axis", AttrKind::Int, int64_t{1}, "axis to cut")};
  d.infer = split;
  r.add(std::move(d));

  d = shape_op("slice", "Takes start, start + step, ... below end along one axis", 1, 1, {"x"});
  d.attrs = {required_attr("axis", AttrKind::Int, "axis to slice"),
             optional_attr("start", AttrKind::Int, int64_t{0}, "first index; negative from the end"),
             required_attr("end", AttrKind::Int, "one past the last index; negative from the end"),
             optional_attr("step", AttrKind::Int, int64_t{1}, "distance between taken indices (x[a:b:step])")};
  d.infer = slice;
  r.add(std::move(d));

  d = shape_op("select", "Takes one index of an axis and drops that axis", 1, 1, {"x"});
  d.attrs = {required_attr("axis", AttrKind::Int, "axis to index"),
             required_attr("index", AttrKind::Int, "position; negative from the end")};
  d.infer = select;
  r.add(std::move(d));
}

}  // namespace sublinear::ir
