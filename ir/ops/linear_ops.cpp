// Dense layers, matrix products and embedding lookup.
#include "ir/ops/op_helpers.h"

namespace sublinear::ir {

using namespace ops;

namespace {

// --- linear ------------------------------------------------------------------------------------------

std::vector<ParamSpec> linear_params(const std::vector<TensorType>& data, const Attrs& attrs) {
  expect_input_count("linear", data, 1);
  const TensorType& x = data[0];
  expect_rank("linear", "x", x, 2, -1, "[..., D]");
  expect_dtype("linear", "x", x, DType::F32);
  int64_t units = positive_attr("linear", attrs, "units");
  int64_t d = x.shape.back();
  std::vector<ParamSpec> ps{make_param("weight", {DType::F32, {units, d}}, "xavier", true, d)};
  if (attrs.get_bool("bias")) ps.push_back(make_param("bias", {DType::F32, {units}}, "zeros"));
  return ps;
}

OpDef linear() {
  OpDef d;
  d.name = "linear";
  d.doc = "Fully connected layer y = x W^T + b over the last axis";
  d.category = "linear";
  d.input_names = {"x"};
  d.attrs = {required_attr("units", AttrKind::Int, "output features"),
             optional_attr("bias", AttrKind::Bool, true, "add a learned bias")};
  d.params = linear_params;
  d.infer = [](const std::vector<TensorType>& in, const Attrs& attrs) {
    if (in.empty()) expect_input_count("linear", in, 1);
    expect_params("linear", in, 1, linear_params({in[0]}, attrs));
    TensorType y = in[0];
    y.shape.back() = attrs.get_int("units");
    return std::vector<TensorType>{y};
  };
  d.cost = [](const std::vector<TensorType>& in, const std::vector<TensorType>& out,
              const Attrs& attrs) {
    const Shape& x = in[0].shape;
    int64_t rows = product(x, 0, x.size() - 1), units = attrs.get_int("units");
    Cost c;
    c.flops = 2 * rows * x.back() * units + (attrs.get_bool("bias") ? rows * units : 0);
    c.bytes = io_bytes(in, out);
    return c;
  };
  d.backward = {{0, 1}, {}};
  return d;
}

// --- matmul ------------------------------------------------------------------------------------------

struct MatmulDims {
  Shape batch;  // leading dimensions of a
  int64_t m, k, n;
};

MatmulDims matmul_dims(const TensorType& a, const TensorType& b, const Attrs& attrs) {
  const std::string op = "matmul";
  expect_rank(op, "a", a, 2, -1, "[..., M, K]");
  expect_dtype(op, "a", a, DType::F32);
  expect_dtype(op, "b", b, DType::F32);
  std::vector<std::string> extra{"a: " + a.str(), "b: " + b.str()};
  if (b.rank() != 2 && b.rank() != a.rank())
    fail(op + ": b must have rank 2 or the rank of a (" + std::to_string(a.rank()) + "), got " +
             b.str(),
         extra);
  size_t ra = a.shape.size(), rb = b.shape.size();
  if (rb == ra)
    for (size_t i = 0; i + 2 < ra; ++i)
      if (a.shape[i] != b.shape[i])
        fail(op + ": leading (batch) dimensions of " + a.str() + " and " + b.str() + " differ", extra);
  bool ta = attrs.get_bool("transpose_a"), tb = attrs.get_bool("transpose_b");
  MatmulDims d;
  d.batch.assign(a.shape.begin(), a.shape.end() - 2);
  d.m = ta ? a.shape[ra - 1] : a.shape[ra - 2];
  d.k = ta ? a.shape[ra - 2] : a.shape[ra - 1];
  int64_t kb = tb ? b.shape[rb - 1] : b.shape[rb - 2];
  d.n = tb ? b.shape[rb - 2] : b.shape[rb - 1];
  if (d.k != kb) {
    std::string note = std::string(ta ? " (a transposed)" : "") + (tb ? " (b transposed)" : "");
    fail(op + ": inner dimensions of " + a.str() + " and " + b.str() + " do not match: " +
             std::to_string(d.k) + " vs " + std::to_string(kb) + note,
         extra);
  }
  return d;
}

OpDef matmul() {
  OpDef d;
  d.name = "matmul";
  d.doc = "Matrix product of the last two axes, batched over leading axes of a";
  d.category = "linear";
  d.min_inputs = d.max_inputs = 2;
  d.input_names = {"a", "b"};
  d.attrs = {optional_attr("transpose_a", AttrKind::Bool, false, "use a^T"),
             optional_attr("transpose_b", AttrKind::Bool, false, "use b^T")};
  d.infer = [](const std::vector<TensorType>& in, const Attrs& attrs) {
    expect_input_count("matmul", in, 2);
    MatmulDims m = matmul_dims(in[0], in[1], attrs);
    Shape s = m.batch;
    s.push_back(m.m);
    s.push_back(m.n);
    return std::vector<TensorType>{{DType::F32, s}};
  };
  d.cost = [](const std::vector<TensorType>& in, const std::vector<TensorType>& out,
              const Attrs& attrs) {
    MatmulDims m = matmul_dims(in[0], in[1], attrs);
    return Cost{2 * num_elements(m.batch) * m.m * m.n * m.k, io_bytes(in, out)};
  };
  d.backward = {{0, 1}, {}};
  return d;
}

// --- embedding ---------------------------------------------------------------------------------------

std::vector<ParamSpec> embedding_params(const std::vector<TensorType>& data, const Attrs& attrs) {
  expect_input_count("embedding", data, 1);
  expect_dtype("embedding", "indices", data[0], DType::I32);
  int64_t vocab = positive_attr("embedding", attrs, "vocab");
  int64_t dim = positive_attr("embedding", attrs, "dim");
  return {make_param("weight", {DType::F32, {vocab, dim}}, "normal")};
}

OpDef embedding() {
  OpDef d;
  d.name = "embedding";
  d.doc = "Looks up rows of a learned [vocab, dim] table: i32[...] -> f32[..., dim]";
  d.category = "linear";
  d.input_names = {"indices"};
  d.attrs = {required_attr("vocab", AttrKind::Int, "table rows"),
             required_attr("dim", AttrKind::Int, "embedding width")};
  d.params = embedding_params;
  d.infer = [](const std::vector<TensorType>& in, const Attrs& attrs) {
    if (in.empty()) expect_input_count("embedding", in, 1);
    expect_params("embedding", in, 1, embedding_params({in[0]}, attrs));
    Shape s = in[0].shape;
    s.push_back(attrs.get_int("dim"));
    return std::vector<TensorType>{{DType::F32, s}};
  };
  // A gather touches only the looked-up rows, not the whole table: indices plus rows read and written.
  d.cost = [](const std::vector<TensorType>& in, const std::vector<TensorType>& out, const Attrs&) {
    return Cost{0, in[0].bytes() + 2 * total_bytes(out)};
  };
  // The table gradient is a scatter-add of dy at the indices; the table itself is not read.
  d.backward = {{0}, {}};
  return d;
}

}  // namespace

void register_linear_ops(OpRegistry& r) {
  r.add(linear());
  r.add(matmul());
  r.add(embedding());
}

}  // namespace sublinear::ir
