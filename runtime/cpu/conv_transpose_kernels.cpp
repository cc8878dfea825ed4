// conv_transpose2d on oneDNN's deconvolution primitives (forward, backward data, backward weights + bias),
// cached by geometry, with conv_kernels.cpp's layout rule: plain nchw and PyTorch's [C_in, out/g, kh, kw]
// weights (oneDNN's iohw / giohw) for small problems, oneDNN's choice with reorders for large ones.
// Rules: as conv2d's (the layout is a pure function of the geometry; accumulation through a temporary
// and a sum post-op; dx complete before dW is touched). output_padding is padding removed from the
// bottom and right only, so the right padding is pad - output_padding.
#include <optional>
#include <string>
#include <unordered_map>

#include "runtime/cpu/cpu_kernels.h"
#include "runtime/cpu/dnnl_util.h"

namespace sublinear::runtime::cpu {

namespace {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

constexpr int64_t kBlockedMacs = int64_t{1} << 20;

struct Geometry {
  int64_t n, c, h, w, out, groups, kh, kw, sh, sw, ph, pw, oph, opw, dh, dw, ho, wo;
  bool bias;

  bool blocked() const { return n * c * h * w * (out / groups) * kh * kw >= kBlockedMacs; }
  memory::desc prim_md(const memory::desc& plain) const {
    return blocked() ? memory::desc(plain.dims(), dt::f32, tag::any) : plain;
  }
  std::string key() const {
    return make_key({{n, c, h, w, out, groups}, {kh, kw, sh, sw, ph, pw, oph, opw, dh, dw}, {ho, wo, bias ? 1 : 0}});
  }
  memory::desc src_md() const { return {{n, c, h, w}, dt::f32, tag::nchw}; }
  memory::desc dst_md() const { return {{n, out, ho, wo}, dt::f32, tag::nchw}; }
  // oneDNN's deconvolution weights are logically [out, c] per group; PyTorch stores [c, out/g], which is
  // the iohw (giohw) layout of those dims.
  memory::desc weights_md() const {
    if (groups == 1) return {{out, c, kh, kw}, dt::f32, tag::iohw};
    return {{groups, out / groups, c / groups, kh, kw}, dt::f32, tag::giohw};
  }
  memory::desc bias_md() const { return bias ? memory::desc({out}, dt::f32, tag::x) : memory::desc(); }
  memory::dims strides() const { return {sh, sw}; }
  memory::dims dilates() const { return {dh - 1, dw - 1}; }
  memory::dims pad_l() const { return {ph, pw}; }
  memory::dims pad_r() const { return {ph - oph, pw - opw}; }
};

Geometry geometry(const ir::Node& node, const ir::TensorType& x) {
  const auto& a = node.attrs;
  Geometry g{};
  g.n = x.shape[0], g.c = x.shape[1], g.h = x.shape[2], g.w = x.shape[3];
  g.out = a.get_int("out");
  g.groups = a.get_int("groups");
  auto kernel = a.get_ints("kernel", 2), stride = a.get_ints("stride", 2), pad = a.get_ints("pad", 2),
       dil = a.get_ints("dilation", 2), op = a.get_ints("output_padding", 2);
  g.kh = kernel[0], g.kw = kernel[1], g.sh = stride[0], g.sw = stride[1];
  g.ph = pad[0], g.pw = pad[1], g.dh = dil[0], g.dw = dil[1], g.oph = op[0], g.opw = op[1];
  const auto& y = node.outputs[0].shape;
  g.ho = y[2], g.wo = y[3];
  g.bias = a.get_bool("bias");
  return g;
}

struct Forward {
  dnnl::deconvolution_forward::primitive_desc pd;
  dnnl::deconvolution_forward prim;
};

struct Backward {
  dnnl::deconvolution_backward_data::primitive_desc data_pd;
  dnnl::deconvolution_backward_data data;
  dnnl::deconvolution_backward_weights::primitive_desc weights_pd;
  dnnl::deconvolution_backward_weights weights;
};

PrimitiveCache<Forward>& forward_cache() {
  cpu_engine();
  static PrimitiveCache<Forward> cache;
  return cache;
}

PrimitiveCache<Backward>& backward_cache() {
  cpu_engine();
  static PrimitiveCache<Backward> cache;
  return cache;
}

std::shared_ptr<const Forward> forward_primitive(const Geometry& g) {
  return forward_cache().get(g.key(), [&] {
    dnnl::deconvolution_forward::desc d(dnnl::prop_kind::forward_training, dnnl::algorithm::deconvolution_direct,
                                        g.prim_md(g.src_md()), g.prim_md(g.weights_md()), g.bias_md(),
                                        g.prim_md(g.dst_md()), g.strides(), g.dilates(), g.pad_l(), g.pad_r());
    dnnl::deconvolution_forward::primitive_desc pd(d, cpu_engine());
    return Forward{pd, dnnl::deconvolution_forward(pd)};
  });
}

std::shared_ptr<const Backward> backward_primitive(const Geometry& g) {
  auto fwd = forward_primitive(g);
  return backward_cache().get(g.key(), [&] {
    dnnl::deconvolution_backward_data::desc dd(dnnl::algorithm::deconvolution_direct, g.prim_md(g.src_md()),
                                               g.prim_md(g.weights_md()), g.prim_md(g.dst_md()), g.strides(),
                                               g.dilates(), g.pad_l(), g.pad_r());
    dnnl::deconvolution_backward_data::primitive_desc dpd(dd, cpu_engine(), fwd->pd);
    dnnl::deconvolution_backward_weights::desc wd(dnnl::algorithm::deconvolution_direct, g.prim_md(g.src_md()),
                                                  g.prim_md(g.weights_md()), g.bias_md(), g.prim_md(g.dst_md()),
                                                  g.strides(), g.dilates(), g.pad_l(), g.pad_r());
    dnnl::deconvolution_backward_weights::primitive_desc wpd(wd, cpu_engine(), fwd->pd);
    return Backward{dpd, dnnl::deconvolution_backward_data(dpd), wpd, dnnl::deconvolution_backward_weights(wpd)};
  });
}

void conv_transpose2d_forward(const OpCall& c) {
  const Geometry g = geometry(*c.node, c.in[0].type);
  auto f = forward_primitive(g);
  Output y(f->pd.dst_desc(), g.dst_md(), c.out[0].data, false);
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, input(f->pd.src_desc(), g.src_md(), c.in[0].data)},
      {DNNL_ARG_WEIGHTS, input(f->pd.weights_desc(), g.weights_md(), c.in[1].data)},
      {DNNL_ARG_DST, y.target()}};
  if (g.bias) args.emplace(DNNL_ARG_BIAS, memory(g.bias_md(), cpu_engine(), c.in[2].data));
  f->prim.execute(cpu_stream(), args);
  y.finish();
  cpu_stream().wait();
}

void conv_transpose2d_backward(const OpCall& c) {
  const Geometry g = geometry(*c.node, c.in[0].type);
  const bool want_x = grad_wanted(c, 0), want_w = grad_wanted(c, 1), want_b = g.bias && grad_wanted(c, 2);
  if (!c.dy[0].present()) {
    for (size_t i = 0; i < c.dx.size(); ++i) store_zero(c.dx[i], grad_accumulates(c, i));
    return;
  }
  if (!want_x && !want_w && !want_b) return;
  auto b = backward_primitive(g);
  if (want_x) {
    Output dx(b->data_pd.diff_src_desc(), g.src_md(), c.dx[0].data, grad_accumulates(c, 0));
    b->data.execute(cpu_stream(), {{DNNL_ARG_DIFF_DST, input(b->data_pd.diff_dst_desc(), g.dst_md(), c.dy[0].data)},
                                   {DNNL_ARG_WEIGHTS, input(b->data_pd.weights_desc(), g.weights_md(), c.in[1].data)},
                                   {DNNL_ARG_DIFF_SRC, dx.target()}});
    dx.finish();
    cpu_stream().wait();
  }
  if (want_w || want_b) {
    Output dw(b->weights_pd.diff_weights_desc(), g.weights_md(), want_w ? c.dx[1].data : nullptr,
              grad_accumulates(c, 1));
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, input(b->weights_pd.src_desc(), g.src_md(), c.in[0].data)},
        {DNNL_ARG_DIFF_DST, input(b->weights_pd.diff_dst_desc(), g.dst_md(), c.dy[0].data)},
        {DNNL_ARG_DIFF_WEIGHTS, dw.target()}};
    std::optional<Output> db;
    if (g.bias) {
      db.emplace(g.bias_md(), g.bias_md(), want_b ? c.dx[2].data : nullptr, grad_accumulates(c, 2));
      args.emplace(DNNL_ARG_DIFF_BIAS, db->target());
    }
    b->weights.execute(cpu_stream(), args);
    dw.finish();
    if (db) db->finish();
    cpu_stream().wait();
  }
}

}  // namespace

void register_conv_transpose_kernels(KernelTable& t) {
  t.add("conv_transpose2d", {conv_transpose2d_forward, conv_transpose2d_backward});
}

}  // namespace sublinear::runtime::cpu
