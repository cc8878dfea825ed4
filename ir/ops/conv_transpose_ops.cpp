// conv_transpose2d: the gradient of conv2d with respect to its input, as a layer (PyTorch's
// nn.ConvTranspose2d): learned upsampling in decoders. Weight [C_in, out / groups, kh, kw] (PyTorch's
// layout), output size (H - 1) * stride - 2 * pad + dilation * (kernel - 1) + output_padding + 1.
// output_padding (only to pick among the sizes a strided conv2d maps to the same input size) must be
// smaller than the stride (PyTorch also allows it below the dilation) and at most pad (it becomes
// padding removed from the bottom and right edge).
#include "ir/ops/op_helpers.h"

namespace sublinear::ir {

using namespace ops;

namespace {

const char* kOp = "conv_transpose2d";

struct Geometry {
  int64_t n, c, h, w, out, groups;
  std::vector<int64_t> kernel, stride, pad, dilation, output_padding;
  int64_t ho, wo;
};

Geometry geometry(const TensorType& x, const Attrs& attrs) {
  expect_rank(kOp, "x", x, 4, 4, "[N, C, H, W]");
  expect_dtype(kOp, "x", x, DType::F32);
  Geometry g;
  g.n = x.shape[0], g.c = x.shape[1], g.h = x.shape[2], g.w = x.shape[3];
  g.out = positive_attr(kOp, attrs, "out");
  g.groups = positive_attr(kOp, attrs, "groups");
  g.kernel = ints_attr(kOp, attrs, "kernel", 2, 1);
  g.stride = ints_attr(kOp, attrs, "stride", 2, 1);
  g.pad = ints_attr(kOp, attrs, "pad", 2, 0);
  g.dilation = ints_attr(kOp, attrs, "dilation", 2, 1);
  g.output_padding = ints_attr(kOp, attrs, "output_padding", 2, 0);
  if (g.c % g.groups != 0 || g.out % g.groups != 0)
    fail(std::string(kOp) + ": input channels " + std::to_string(g.c) + " and out=" + std::to_string(g.out) +
         " must both be divisible by groups=" + std::to_string(g.groups));
  int64_t size[2];
  for (int i = 0; i < 2; ++i) {
    const int64_t op = g.output_padding[i];
    if (op >= g.stride[i])
      fail(std::string(kOp) + ": output_padding " + shape_str(g.output_padding) + " must be smaller than the stride " +
           shape_str(g.stride));
    if (op > g.pad[i])
      fail(std::string(kOp) + ": output_padding " + shape_str(g.output_padding) + " larger than pad " +
           shape_str(g.pad) + " is not supported");
    const int64_t in = i == 0 ? g.h : g.w;
    size[i] = (in - 1) * g.stride[i] - 2 * g.pad[i] + g.dilation[i] * (g.kernel[i] - 1) + op + 1;
  }
  g.ho = size[0], g.wo = size[1];
  if (g.ho <= 0 || g.wo <= 0)
    fail(std::string(kOp) + ": the padding leaves no output for " + x.str() + " (output would be " +
         std::to_string(g.ho) + "x" + std::to_string(g.wo) + ")");
  return g;
}

std::vector<ParamSpec> params_of(const std::vector<TensorType>& data, const Attrs& attrs) {
  expect_input_count(kOp, data, 1);
  Geometry g = geometry(data[0], attrs);
  // PyTorch initialises with fan_in computed from weight.size(1) * kh * kw (out / groups here).
  const int64_t fan_in = g.out / g.groups * g.kernel[0] * g.kernel[1];
  std::vector<ParamSpec> ps;
  ps.push_back(make_param("weight", {DType::F32, {g.c, g.out / g.groups, g.kernel[0], g.kernel[1]}}, "kaiming",
                          true, fan_in));
  if (attrs.get_bool("bias")) ps.push_back(make_param("bias", {DType::F32, {g.out}}, "zeros"));
  return ps;
}

}  // namespace

void register_conv_transpose_ops(OpRegistry& r) {
  OpDef d;
  d.name = kOp;
  d.doc = "2-D transposed convolution (learned upsampling) over [N, C, H, W], PyTorch's ConvTranspose2d";
  d.category = "conv";
  d.min_inputs = d.max_inputs = 1;
  d.input_names = {"x"};
  d.attrs = {
      required_attr("out", AttrKind::Int, "output channels"),
      required_attr("kernel", AttrKind::Ints, "kernel size (kh, kw)"),
      optional_attr("stride", AttrKind::Ints, std::vector<int64_t>{1}, "stride (sh, sw)"),
      optional_attr("pad", AttrKind::Ints, std::vector<int64_t>{0}, "padding removed from each edge (ph, pw)"),
      optional_attr("output_padding", AttrKind::Ints, std::vector<int64_t>{0}, "extra rows/columns at the end"),
      optional_attr("dilation", AttrKind::Ints, std::vector<int64_t>{1}, "dilation (dh, dw)"),
      optional_attr("groups", AttrKind::Int, int64_t{1}, "channel groups"),
      optional_attr("bias", AttrKind::Bool, true, "add a learned bias"),
  };
  d.params = params_of;
  d.infer = [](const std::vector<TensorType>& in, const Attrs& attrs) {
    if (in.empty()) expect_input_count(kOp, in, 1);
    expect_params(kOp, in, 1, params_of({in[0]}, attrs));
    Geometry g = geometry(in[0], attrs);
    return std::vector<TensorType>{{DType::F32, {g.n, g.out, g.ho, g.wo}}};
  };
  d.cost = [](const std::vector<TensorType>& in, const std::vector<TensorType>& out, const Attrs& attrs) {
    Geometry g = geometry(in[0], attrs);
    Cost c;
    c.flops = 2 * g.n * g.h * g.w * g.c * (g.out / g.groups) * g.kernel[0] * g.kernel[1];
    if (attrs.get_bool("bias")) c.flops += num_elements(out[0].shape);
    c.bytes = io_bytes(in, out);
    return c;
  };
  d.backward = {{0, 1}, {}};
  r.add(std::move(d));
}

}  // namespace sublinear::ir
