// arange (a constant sequence, e.g. positions for sin/cos encodings), argmax (the index of the largest
// element along an axis, e.g. predicted classes or tokens), neither with a gradient, and take (rows of
// a tensor picked by an index tensor: embeddings by hand, gathering tokens or positions), whose gradient
// is the scatter-add of dy and reads only the indices.
#include "ir/ops/op_helpers.h"

namespace sublinear::ir {

using namespace ops;

void register_index_ops(OpRegistry& r) {
  OpDef a;
  a.name = "arange";
  a.doc = "The sequence start, start + step, ... of n elements (f32 or i32)";
  a.category = "source";
  a.min_inputs = a.max_inputs = 0;
  a.attrs = {required_attr("n", AttrKind::Int, "number of elements"),
             optional_attr("start", AttrKind::Float, 0.0, "first value"),
             optional_attr("step", AttrKind::Float, 1.0, "difference between neighbours"),
             optional_attr("dtype", AttrKind::String, std::string("f32"), "element type", {"f32", "i32"})};
  a.infer = [](const std::vector<TensorType>& in, const Attrs& attrs) {
    expect_input_count("arange", in, 0);
    const int64_t n = positive_attr("arange", attrs, "n");
    TensorType t{attrs.get_string("dtype") == "i32" ? DType::I32 : DType::F32, {n}};
    if (t.dtype == DType::I32) {
      const double start = attrs.get_float("start"), step = attrs.get_float("step");
      const double last = start + step * static_cast<double>(n - 1);
      if (start != static_cast<double>(static_cast<int64_t>(start)) || step != static_cast<double>(static_cast<int64_t>(step)))
        fail("arange: an i32 sequence needs integer start and step");
      if (!(start >= -2147483648.0 && start <= 2147483647.0 && last >= -2147483648.0 && last <= 2147483647.0))
        fail("arange: the i32 sequence leaves the i32 range");
    }
    return std::vector<TensorType>{t};
  };
  a.cost = [](const std::vector<TensorType>&, const std::vector<TensorType>& out, const Attrs&) {
    return Cost{num_elements(out[0].shape), total_bytes(out)};
  };
  a.differentiable = false;
  a.cheap = true;
  r.add(std::move(a));

  OpDef m;
  m.name = "argmax";
  m.doc = "Index (i32) of the largest element along an axis, the first one on ties; NaN counts as largest";
  m.category = "reduce";
  m.min_inputs = m.max_inputs = 1;
  m.input_names = {"x"};
  m.attrs = {optional_attr("axis", AttrKind::Int, int64_t{-1}, "axis to search")};
  m.infer = [](const std::vector<TensorType>& in, const Attrs& attrs) {
    expect_input_count("argmax", in, 1);
    expect_rank("argmax", "x", in[0], 1, -1);
    expect_dtype("argmax", "x", in[0], DType::F32);
    const int axis = normalise_axis("argmax", "axis", attrs.get_int("axis"), static_cast<int>(in[0].rank()), in[0]);
    TensorType y{DType::I32, {}};
    for (size_t i = 0; i < in[0].shape.size(); ++i)
      if (static_cast<int>(i) != axis) y.shape.push_back(in[0].shape[i]);
    return std::vector<TensorType>{y};
  };
  m.cost = [](const std::vector<TensorType>& in, const std::vector<TensorType>& out, const Attrs&) {
    return Cost{num_elements(in[0].shape), io_bytes(in, out)};
  };
  m.differentiable = false;
  m.cheap = true;
  r.add(std::move(m));

  OpDef t;
  t.name = "take";
  t.doc = "Entries of x along an axis picked by i32 indices: x[..., indices, ...] (torch.index_select, numpy.take)";
  t.category = "shape";  // data movement, like select
  t.min_inputs = t.max_inputs = 2;
  t.input_names = {"x", "indices"};
  t.attrs = {optional_attr("axis", AttrKind::Int, int64_t{0}, "axis the indices address")};
  t.infer = [](const std::vector<TensorType>& in, const Attrs& attrs) {
    expect_input_count("take", in, 2);
    expect_rank("take", "x", in[0], 1, -1);
    expect_dtype("take", "indices", in[1], DType::I32);
    if (in[0].dtype != DType::F32 && in[0].dtype != DType::I32)
      fail("take: 'x' must be f32 or i32, got " + in[0].str());
    const int axis = normalise_axis("take", "axis", attrs.get_int("axis"), static_cast<int>(in[0].rank()), in[0]);
    TensorType y{in[0].dtype, {}};
    for (int i = 0; i < axis; ++i) y.shape.push_back(in[0].shape[i]);
    for (int64_t d : in[1].shape) y.shape.push_back(d);
    for (size_t i = static_cast<size_t>(axis) + 1; i < in[0].shape.size(); ++i) y.shape.push_back(in[0].shape[i]);
    return std::vector<TensorType>{y};
  };
  t.cost = [](const std::vector<TensorType>& in, const std::vector<TensorType>& out, const Attrs&) {
    return Cost{0, io_bytes(in, out)};
  };
  t.backward = {{1}, {}};
  t.cheap = true;
  r.add(std::move(t));
}

}  // namespace sublinear::ir
