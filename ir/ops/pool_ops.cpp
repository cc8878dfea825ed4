// Spatial pooling over [N, C, H, W].
#include <variant>

#include "ir/ops/op_helpers.h"

namespace sublinear::ir {

using namespace ops;

namespace {

struct PoolGeometry {
  std::vector<int64_t> kernel, stride, pad;
  int64_t ho, wo;
};

PoolGeometry geometry(const std::string& op, const TensorType& x, const Attrs& attrs) {
  expect_rank(op, "x", x, 4, 4, "[N, C, H, W]");
  expect_dtype(op, "x", x, DType::F32);
  PoolGeometry g;
  g.kernel = ints_attr(op, attrs, "kernel", 2, 1);
  auto* stride = std::get_if<std::vector<int64_t>>(&attrs.get("stride"));
  g.stride = stride && stride->empty() ? g.kernel : ints_attr(op, attrs, "stride", 2, 1);
  g.pad = ints_attr(op, attrs, "pad", 2, 0);
  for (int i = 0; i < 2; ++i)
    // A window made mostly of padding would see no input at all along its edge.
    if (g.pad[i] > g.kernel[i] / 2)
      fail(op + ": pad " + shape_str(g.pad) + " must be at most half the kernel " +
           shape_str(g.kernel));
  g.ho = window_out_size(x.shape[2], g.kernel[0], g.stride[0], g.pad[0], 1);
  g.wo = window_out_size(x.shape[3], g.kernel[1], g.stride[1], g.pad[1], 1);
  if (g.ho <= 0 || g.wo <= 0)
    fail(op + ": the " + std::to_string(g.kernel[0]) + "x" + std::to_string(g.kernel[1]) +
             " window does not fit in " + x.str() + " (output would be " + std::to_string(g.ho) +
             "x" + std::to_string(g.wo) + ")",
         {"input:  " + x.str(), "kernel: " + shape_str(g.kernel), "stride: " + shape_str(g.stride),
          "pad:    " + shape_str(g.pad)});
  return g;
}

OpDef window_pool(const std::string& name, const std::string& doc) {
  OpDef d;
  d.name = name;
  d.doc = doc;
  d.category = "pool";
  d.min_inputs = d.max_inputs = 1;
  d.input_names = {"x"};
  d.attrs = {
      required_attr("kernel", AttrKind::Ints, "window size (kh, kw)"),
      optional_attr("stride", AttrKind::Ints, std::vector<int64_t>{}, "stride (sh, sw); [] = kernel"),
      optional_attr("pad", AttrKind::Ints, std::vector<int64_t>{0}, "padding (ph, pw)"),
  };
  d.infer = [name](const std::vector<TensorType>& in, const Attrs& attrs) {
    expect_input_count(name, in, 1);
    PoolGeometry g = geometry(name, in[0], attrs);
    const Shape& s = in[0].shape;
    return std::vector<TensorType>{{DType::F32, {s[0], s[1], g.ho, g.wo}}};
  };
  // One comparison or addition per window element.
  d.cost = [name](const std::vector<TensorType>& in, const std::vector<TensorType>& out,
                  const Attrs& attrs) {
    PoolGeometry g = geometry(name, in[0], attrs);
    Cost c;
    c.flops = num_elements(out[0].shape) * g.kernel[0] * g.kernel[1];
    c.bytes = io_bytes(in, out);
    return c;
  };
  d.cheap = true;
  return d;
}

}  // namespace

void register_pool_ops(OpRegistry& r) {
  OpDef max_pool = window_pool("max_pool", "Maximum over sliding windows");
  // The gradient is routed to the argmax, found again by comparing x with y.
  max_pool.backward = {{0}, {0}};
  r.add(std::move(max_pool));

  OpDef avg_pool = window_pool("avg_pool", "Average over sliding windows");
  avg_pool.attrs.push_back(optional_attr("count_include_pad", AttrKind::Bool, true,
                                         "divide by the full window, padding included"));
  r.add(std::move(avg_pool));

  OpDef gap;
  gap.name = "global_avg_pool";
  gap.doc = "Average over H and W: [N, C, H, W] -> [N, C]";
  gap.category = "pool";
  gap.min_inputs = gap.max_inputs = 1;
  gap.input_names = {"x"};
  gap.infer = [](const std::vector<TensorType>& in, const Attrs&) {
    expect_input_count("global_avg_pool", in, 1);
    expect_rank("global_avg_pool", "x", in[0], 4, 4, "[N, C, H, W]");
    expect_dtype("global_avg_pool", "x", in[0], DType::F32);
    return std::vector<TensorType>{{DType::F32, {in[0].shape[0], in[0].shape[1]}}};
  };
  gap.cost = [](const std::vector<TensorType>& in, const std::vector<TensorType>& out, const Attrs&) {
    return Cost{num_elements(in[0].shape), io_bytes(in, out)};
  };
  gap.cheap = true;
  r.add(std::move(gap));
}

}  // namespace sublinear::ir
