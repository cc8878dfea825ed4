#include "ir/ops/op_helpers.h"

#include <algorithm>
#include <variant>

namespace sublinear::ir::ops {

AttrSpec required_attr(std::string name, AttrKind kind, std::string doc) {
  AttrSpec s;
  s.name = std::move(name);
  s.kind = kind;
  s.doc = std::move(doc);
  return s;
}

AttrSpec optional_attr(std::string name, AttrKind kind, AttrValue default_value, std::string doc,
                       std::vector<std::string> choices) {
  AttrSpec s;
  s.name = std::move(name);
  s.kind = kind;
  s.default_value = std::move(default_value);
  s.doc = std::move(doc);
  s.choices = std::move(choices);
  return s;
}

AttrSpec dtype_attr() {
  return optional_attr("dtype", AttrKind::String, std::string("f32"), "element type",
                       {"f32", "i32", "bf16", "f16"});
}

ParamSpec make_param(std::string name, TensorType type, std::string init, bool trainable,
                     int64_t fan_in) {
  ParamSpec p;
  p.name = std::move(name);
  p.type = std::move(type);
  p.init = std::move(init);
  p.trainable = trainable;
  p.fan_in = fan_in;
  return p;
}

void fail(const std::string& message, std::vector<std::string> extra) {
  throw ShapeError(message, std::move(extra));
}

void expect_dtype(const std::string& op, const std::string& input, const TensorType& t, DType want) {
  if (t.dtype != want)
    fail(op + ": input '" + input + "' must be " + dtype_name(want) + ", got " + t.str());
}

void expect_rank(const std::string& op, const std::string& input, const TensorType& t, int min_rank,
                 int max_rank, const std::string& layout) {
  if (t.rank() >= min_rank && (max_rank < 0 || t.rank() <= max_rank)) return;
  std::string want;
  if (min_rank == max_rank) want = "rank " + std::to_string(min_rank);
  else if (max_rank < 0) want = "rank >= " + std::to_string(min_rank);
  else want = "rank " + std::to_string(min_rank) + " to " + std::to_string(max_rank);
  if (!layout.empty()) want += " " + layout;
  fail(op + ": input '" + input + "' must have " + want + ", got " + t.str() + " (rank " +
       std::to_string(t.rank()) + ")");
}

void expect_input_count(const std::string& op, const std::vector<TensorType>& inputs, size_t n) {
  if (inputs.size() != n)
    fail(op + ": expected " + std::to_string(n) + " inputs (data and parameters), got " +
         std::to_string(inputs.size()));
}

void expect_params(const std::string& op, const std::vector<TensorType>& inputs, size_t n_data,
                   const std::vector<ParamSpec>& expected) {
  expect_input_count(op, inputs, n_data + expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    const TensorType& got = inputs[n_data + i];
    if (!(got == expected[i].type))
      fail(op + ": parameter '" + expected[i].name + "' is " + got.str() + " but the layer needs " +
               expected[i].type.str(),
           {"given:    " + got.str(), "expected: " + expected[i].type.str()});
  }
}

int64_t positive_attr(const std::string& op, const Attrs& attrs, const std::string& name) {
  int64_t v = attrs.get_int(name);
  if (v <= 0) fail(op + ": attribute '" + name + "' must be positive, got " + std::to_string(v));
  return v;
}

std::vector<int64_t> ints_attr(const std::string& op, const Attrs& attrs, const std::string& name,
                               size_t n, int64_t min_value) {
  const AttrValue& v = attrs.get(name);
  std::vector<int64_t> out;
  if (auto* i = std::get_if<int64_t>(&v)) out.assign(n, *i);
  else {
    const auto& l = attrs.get_int_list(name);
    if (l.size() == 1) out.assign(n, l[0]);
    else if (l.size() == n) out = l;
    else
      fail(op + ": attribute '" + name + "' needs 1 or " + std::to_string(n) + " entries, got " +
           attr_value_str(v));
  }
  for (int64_t x : out)
    if (x < min_value)
      fail(op + ": attribute '" + name + "' entries must be >= " + std::to_string(min_value) +
           ", got " + attr_value_str(v));
  return out;
}

int normalise_axis(const std::string& op, const std::string& attr, int64_t axis, int extent,
                   const TensorType& t) {
  int64_t a = axis < 0 ? axis + extent : axis;
  if (a < 0 || a >= extent)
    fail(op + ": " + attr + " " + std::to_string(axis) + " is out of range for " + t.str() +
         " (valid: " + std::to_string(-extent) + " to " + std::to_string(extent - 1) + ")");
  return static_cast<int>(a);
}

Shape broadcast_shapes(const std::string& op, const TensorType& a, const TensorType& b) {
  size_t rank = std::max(a.shape.size(), b.shape.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    // Walk from the right: missing leading dimensions act as 1.
    int64_t da = i < a.shape.size() ? a.shape[a.shape.size() - 1 - i] : 1;
    int64_t db = i < b.shape.size() ? b.shape[b.shape.size() - 1 - i] : 1;
    if (da != db && da != 1 && db != 1)
      fail(op + ": shapes " + a.str() + " and " + b.str() + " do not broadcast",
           {"left:  " + a.str(), "right: " + b.str()});
    out[rank - 1 - i] = da == 1 ? db : da;
  }
  return out;
}

int64_t window_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation) {
  int64_t span = in + 2 * pad - dilation * (kernel - 1) - 1;
  // C++ division truncates toward zero, so a window that overhangs by less than a stride would
  // otherwise count as one output.
  if (span < 0) return 0;
  return span / stride + 1;
}

int64_t product(const Shape& s, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end && i < s.size(); ++i) p *= s[i];
  return p;
}

int64_t total_bytes(const std::vector<TensorType>& ts) {
  int64_t b = 0;
  for (const auto& t : ts) b += t.bytes();
  return b;
}

int64_t io_bytes(const std::vector<TensorType>& inputs, const std::vector<TensorType>& outputs) {
  return total_bytes(inputs) + total_bytes(outputs);
}

CostFn elementwise_cost(int64_t flops_per_element) {
  return [flops_per_element](const std::vector<TensorType>& inputs,
                             const std::vector<TensorType>& outputs, const Attrs&) {
    Cost c;
    c.flops = outputs.empty() ? 0 : flops_per_element * num_elements(outputs[0].shape);
    c.bytes = io_bytes(inputs, outputs);
    return c;
  };
}

OpDef unary_f32_op(std::string name, std::string doc, std::string category,
                   int64_t flops_per_element) {
  OpDef d;
  d.name = std::move(name);
  d.doc = std::move(doc);
  d.category = std::move(category);
  d.min_inputs = d.max_inputs = 1;
  d.input_names = {"x"};
  d.infer = [op = d.name](const std::vector<TensorType>& in, const Attrs&) {
    expect_input_count(op, in, 1);
    expect_dtype(op, "x", in[0], DType::F32);
    return std::vector<TensorType>{in[0]};
  };
  d.cost = elementwise_cost(flops_per_element);
  return d;
}

}  // namespace sublinear::ir::ops
