// Graph sources (input, param) and constant fills (zeros, ones, full).
#include "ir/ops/op_helpers.h"

namespace sublinear::ir {

using namespace ops;

namespace {

TensorType typed_shape(const std::string& op, const Attrs& attrs) {
  TensorType t;
  // validate_attrs already restricted dtype to the choices, so parsing cannot fail.
  parse_dtype(attrs.get_string("dtype"), &t.dtype);
  t.shape = attrs.get_int_list("shape");
  for (int64_t d : t.shape)
    if (d <= 0)
      fail(op + ": every dimension of 'shape' must be positive, got " + shape_str(t.shape));
  return t;
}

OpDef source(const std::string& name, const std::string& doc) {
  OpDef d;
  d.name = name;
  d.doc = doc;
  d.category = "source";
  d.min_inputs = d.max_inputs = 0;
  d.attrs = {required_attr("shape", AttrKind::Ints, "dimensions"), dtype_attr()};
  d.infer = [name](const std::vector<TensorType>& in, const Attrs& attrs) {
    expect_input_count(name, in, 0);
    return std::vector<TensorType>{typed_shape(name, attrs)};
  };
  // Nothing is computed: the value is supplied by the data loader or lives in the weight store.
  d.cost = [](const std::vector<TensorType>&, const std::vector<TensorType>&, const Attrs&) {
    return Cost{};
  };
  d.differentiable = false;
  d.recomputable = false;
  d.is_source = true;
  return d;
}

OpDef fill(const std::string& name, const std::string& doc) {
  OpDef d;
  d.name = name;
  d.doc = doc;
  d.category = "source";
  d.min_inputs = d.max_inputs = 0;
  d.attrs = {optional_attr("shape", AttrKind::Ints, std::vector<int64_t>{}, "dimensions; [] is a scalar"),
             dtype_attr()};
  d.infer = [name](const std::vector<TensorType>& in, const Attrs& attrs) {
    expect_input_count(name, in, 0);
    return std::vector<TensorType>{typed_shape(name, attrs)};
  };
  d.cost = [](const std::vector<TensorType>&, const std::vector<TensorType>& out, const Attrs&) {
    return Cost{0, total_bytes(out)};
  };
  d.differentiable = false;
  d.cheap = true;
  return d;
}

}  // namespace

void register_source_ops(OpRegistry& r) {
  r.add(source("input", "A model input fed by the data loader"));

  OpDef param = source("param", "A trainable (or state) tensor with an initialiser");
  param.attrs.push_back(optional_attr("init", AttrKind::String, std::string("zeros"), "initialiser",
                                      {"zeros", "ones", "normal", "uniform", "xavier", "kaiming"}));
  param.attrs.push_back(optional_attr("trainable", AttrKind::Bool, true, "updated by the optimiser"));
  param.attrs.push_back(optional_attr("fan_in", AttrKind::Int, int64_t{0}, "fan-in for init scaling"));
  param.attrs.push_back(optional_attr("std", AttrKind::Float, 0.01, "standard deviation for init=normal"));
  r.add(std::move(param));

  r.add(fill("zeros", "A tensor of zeros"));
  r.add(fill("ones", "A tensor of ones"));
  OpDef full = fill("full", "A tensor filled with a constant value");
  full.attrs.push_back(required_attr("value", AttrKind::Float, "fill value"));
  r.add(std::move(full));
}

}  // namespace sublinear::ir
