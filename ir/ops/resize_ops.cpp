// upsample: [N, C, H, W] -> [N, C, H * sh, W * sw] by an integer factor, nearest or bilinear
// (PyTorch's nn.Upsample / F.interpolate with scale_factor; bilinear with align_corners=false, the
// half-pixel rule). The backward reads nothing saved: the gradient of each input pixel is a fixed
// weighted sum of output gradients.
#include "ir/ops/op_helpers.h"

namespace sublinear::ir {

using namespace ops;

void register_resize_ops(OpRegistry& r) {
  OpDef d;
  d.name = "upsample";
  d.doc = "Enlarges H and W of [N, C, H, W] by integer factors, nearest or bilinear (half-pixel centres)";
  d.category = "pool";
  d.min_inputs = d.max_inputs = 1;
  d.input_names = {"x"};
  d.attrs = {optional_attr("scale", AttrKind::Ints, std::vector<int64_t>{2}, "factor (sh, sw)"),
             optional_attr("mode", AttrKind::String, std::string("nearest"), "nearest or bilinear",
                           {"nearest", "bilinear"})};
  d.infer = [](const std::vector<TensorType>& in, const Attrs& attrs) {
    expect_input_count("upsample", in, 1);
    expect_rank("upsample", "x", in[0], 4, 4, "[N, C, H, W]");
    expect_dtype("upsample", "x", in[0], DType::F32);
    const std::vector<int64_t> s = ints_attr("upsample", attrs, "scale", 2, 1);
    for (int64_t f : s)
      if (f > 64) fail("upsample: scale " + shape_str(s) + " is larger than 64");
    const Shape& x = in[0].shape;
    return std::vector<TensorType>{{DType::F32, {x[0], x[1], x[2] * s[0], x[3] * s[1]}}};
  };
  d.cost = [](const std::vector<TensorType>& in, const std::vector<TensorType>& out, const Attrs& attrs) {
    const int64_t per = attrs.get_string("mode") == "bilinear" ? 8 : 1;
    return Cost{per * num_elements(out[0].shape), io_bytes(in, out)};
  };
  d.backward = {};
  d.cheap = true;
  r.add(std::move(d));
}

}  // namespace sublinear::ir
