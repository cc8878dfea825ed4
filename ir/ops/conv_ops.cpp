// Convolution layers.
#include "ir/ops/op_helpers.h"

namespace sublinear::ir {

using namespace ops;

namespace {

const char* kOp = "conv2d";

struct ConvGeometry {
  int64_t n, c, h, w;        // input
  int64_t out, groups;
  std::vector<int64_t> kernel, stride, pad, dilation;
  int64_t ho, wo;
};

// Every check of conv2d lives here so params() and infer() report the same errors.
ConvGeometry geometry(const TensorType& x, const Attrs& attrs) {
  expect_rank(kOp, "x", x, 4, 4, "[N, C, H, W]");
  expect_dtype(kOp, "x", x, DType::F32);
  ConvGeometry g;
  g.n = x.shape[0], g.c = x.shape[1], g.h = x.shape[2], g.w = x.shape[3];
  g.out = positive_attr(kOp, attrs, "out");
  g.groups = positive_attr(kOp, attrs, "groups");
  g.kernel = ints_attr(kOp, attrs, "kernel", 2, 1);
  g.stride = ints_attr(kOp, attrs, "stride", 2, 1);
  g.pad = ints_attr(kOp, attrs, "pad", 2, 0);
  g.dilation = ints_attr(kOp, attrs, "dilation", 2, 1);
  if (g.c % g.groups != 0)
    fail(std::string(kOp) + ": input channels " + std::to_string(g.c) + " of " + x.str() +
         " are not divisible by groups=" + std::to_string(g.groups));
  if (g.out % g.groups != 0)
    fail(std::string(kOp) + ": output channels out=" + std::to_string(g.out) +
         " are not divisible by groups=" + std::to_string(g.groups));
  g.ho = window_out_size(g.h, g.kernel[0], g.stride[0], g.pad[0], g.dilation[0]);
  g.wo = window_out_size(g.w, g.kernel[1], g.stride[1], g.pad[1], g.dilation[1]);
  if (g.ho <= 0 || g.wo <= 0) {
    fail(std::string(kOp) + ": the " + std::to_string(g.kernel[0]) + "x" + std::to_string(g.kernel[1]) +
             " kernel does not fit in " + x.str() + " (output would be " + std::to_string(g.ho) +
             "x" + std::to_string(g.wo) + ")",
         {"input:    " + x.str(), "kernel:   " + shape_str(g.kernel), "stride:   " + shape_str(g.stride),
          "pad:      " + shape_str(g.pad), "dilation: " + shape_str(g.dilation)});
  }
  return g;
}

std::vector<ParamSpec> conv_params(const std::vector<TensorType>& data, const Attrs& attrs) {
  expect_input_count(kOp, data, 1);
  ConvGeometry g = geometry(data[0], attrs);
  int64_t fan_in = g.c / g.groups * g.kernel[0] * g.kernel[1];
  std::vector<ParamSpec> ps;
  ps.push_back(make_param("weight", {DType::F32, {g.out, g.c / g.groups, g.kernel[0], g.kernel[1]}},
                          "kaiming", true, fan_in));
  if (attrs.get_bool("bias")) ps.push_back(make_param("bias", {DType::F32, {g.out}}, "zeros"));
  return ps;
}

}  // namespace

void register_conv_ops(OpRegistry& r) {
  OpDef d;
  d.name = kOp;
  d.doc = "2-D convolution over [N, C, H, W] with a learned filter and optional bias";
  d.category = "conv";
  d.min_inputs = d.max_inputs = 1;
  d.input_names = {"x"};
  d.attrs = {
      required_attr("out", AttrKind::Int, "output channels"),
      required_attr("kernel", AttrKind::Ints, "kernel size (kh, kw)"),
      optional_attr("stride", AttrKind::Ints, std::vector<int64_t>{1}, "stride (sh, sw)"),
      optional_attr("pad", AttrKind::Ints, std::vector<int64_t>{0}, "zero padding (ph, pw)"),
      optional_attr("dilation", AttrKind::Ints, std::vector<int64_t>{1}, "dilation (dh, dw)"),
      optional_attr("groups", AttrKind::Int, int64_t{1}, "channel groups"),
      optional_attr("bias", AttrKind::Bool, true, "add a learned bias"),
  };
  d.params = conv_params;
  d.infer = [](const std::vector<TensorType>& in, const Attrs& attrs) {
    if (in.empty()) expect_input_count(kOp, in, 1);
    std::vector<TensorType> data{in[0]};
    expect_params(kOp, in, 1, conv_params(data, attrs));
    ConvGeometry g = geometry(in[0], attrs);
    return std::vector<TensorType>{{DType::F32, {g.n, g.out, g.ho, g.wo}}};
  };
  d.cost = [](const std::vector<TensorType>& in, const std::vector<TensorType>& out,
              const Attrs& attrs) {
    ConvGeometry g = geometry(in[0], attrs);
    int64_t outputs = g.n * g.out * g.ho * g.wo;
    Cost c;
    c.flops = 2 * outputs * (g.c / g.groups) * g.kernel[0] * g.kernel[1];
    if (attrs.get_bool("bias")) c.flops += outputs;
    c.bytes = io_bytes(in, out);
    return c;
  };
  // dW needs x, dx needs W; the bias gradient only sums dy.
  d.backward = {{0, 1}, {}};
  r.add(std::move(d));
}

}  // namespace sublinear::ir
