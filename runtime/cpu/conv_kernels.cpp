// conv2d on oneDNN: forward, backward data and backward weights (+ bias) primitives, cached by geometry.
// The caller's buffers are plain nchw / (g)oihw. Small problems run on them directly (oneDNN's
// im2col + sgemm path); larger ones let oneDNN choose blocked layouts (its direct JIT kernels, about 1.5x
// faster even counting the reorders) and reorder in and out per call.
// Rules: the layout choice is a pure function of the geometry, so bits depend only on inputs and the
// thread count; no kernel keeps memory between calls except the cached primitives; accumulation goes
// through a temporary and a reorder with a sum post-op (oneDNN backward primitives only overwrite); dx
// is complete before dW is touched, so two dx entries sharing a buffer stay correct.
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

// Multiply-adds from which oneDNN's blocked layouts pay for the reorders around them.
constexpr int64_t kBlockedMacs = int64_t{1} << 20;

struct ConvGeometry {
  int64_t n, c, h, w, out, groups, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo;
  bool bias;

  bool blocked() const { return n * out * ho * wo * (c / groups) * kh * kw >= kBlockedMacs; }
  // What the primitives are created with: the plain layout, or "any" for oneDNN to choose.
  memory::desc prim_md(const memory::desc& plain) const {
    return blocked() ? memory::desc(plain.dims(), dt::f32, tag::any) : plain;
  }

  std::string key() const {
    return make_key({{n, c, h, w, out, groups}, {kh, kw, sh, sw, ph, pw, dh, dw}, {ho, wo, bias ? 1 : 0}});
  }
  memory::desc src_md() const { return {{n, c, h, w}, dt::f32, tag::nchw}; }
  memory::desc dst_md() const { return {{n, out, ho, wo}, dt::f32, tag::nchw}; }
  // [out, c/g, kh, kw] is bitwise the goihw layout of [g, out/g, c/g, kh, kw].
  memory::desc weights_md() const {
    if (groups == 1) return {{out, c, kh, kw}, dt::f32, tag::oihw};
    return {{groups, out / groups, c / groups, kh, kw}, dt::f32, tag::goihw};
  }
  memory::desc bias_md() const { return bias ? memory::desc({out}, dt::f32, tag::x) : memory::desc(); }
  memory::dims strides() const { return {sh, sw}; }
  memory::dims dilates() const { return {dh - 1, dw - 1}; }  // oneDNN counts the gaps, not the step
  // Symmetric padding: oneDNN checks the output size with the same floor division the IR uses, so the
  // right padding may overhang (as in PyTorch) without changing any output.
  memory::dims padding() const { return {ph, pw}; }
};

ConvGeometry geometry(const ir::Node& node, const ir::TensorType& x) {
  const auto& a = node.attrs;
  ConvGeometry g{};
  g.n = x.shape[0], g.c = x.shape[1], g.h = x.shape[2], g.w = x.shape[3];
  g.out = a.get_int("out");
  g.groups = a.get_int("groups");
  auto kernel = a.get_ints("kernel", 2), stride = a.get_ints("stride", 2), pad = a.get_ints("pad", 2),
       dil = a.get_ints("dilation", 2);
  g.kh = kernel[0], g.kw = kernel[1], g.sh = stride[0], g.sw = stride[1];
  g.ph = pad[0], g.pw = pad[1], g.dh = dil[0], g.dw = dil[1];
  const auto& y = node.outputs[0].shape;
  g.ho = y[2], g.wo = y[3];
  g.bias = a.get_bool("bias");
  return g;
}

struct Forward {
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward prim;
};

struct Backward {
  dnnl::convolution_backward_data::primitive_desc data_pd;
  dnnl::convolution_backward_data data;
  dnnl::convolution_backward_weights::primitive_desc weights_pd;
  dnnl::convolution_backward_weights weights;
};

// The engine is created before the caches, so it is destroyed after the primitives made on it.
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

std::shared_ptr<const Forward> forward_primitive(const ConvGeometry& g) {
  return forward_cache().get(g.key(), [&] {
    // forward_training in every mode, so Eval runs the same implementation (and bits) as Train.
    dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                      g.prim_md(g.src_md()), g.prim_md(g.weights_md()), g.bias_md(),
                                      g.prim_md(g.dst_md()), g.strides(), g.dilates(), g.padding(),
                                      g.padding());
    dnnl::convolution_forward::primitive_desc pd(d, cpu_engine());
    return Forward{pd, dnnl::convolution_forward(pd)};
  });
}

std::shared_ptr<const Backward> backward_primitive(const ConvGeometry& g) {
  auto fwd = forward_primitive(g);
  return backward_cache().get(g.key(), [&] {
    dnnl::convolution_backward_data::desc dd(dnnl::algorithm::convolution_direct, g.prim_md(g.src_md()),
                                             g.prim_md(g.weights_md()), g.prim_md(g.dst_md()), g.strides(),
                                             g.dilates(), g.padding(), g.padding());
    dnnl::convolution_backward_data::primitive_desc dpd(dd, cpu_engine(), fwd->pd);
    dnnl::convolution_backward_weights::desc wd(dnnl::algorithm::convolution_direct, g.prim_md(g.src_md()),
                                                g.prim_md(g.weights_md()), g.bias_md(), g.prim_md(g.dst_md()),
                                                g.strides(), g.dilates(), g.padding(), g.padding());
    dnnl::convolution_backward_weights::primitive_desc wpd(wd, cpu_engine(), fwd->pd);
    return Backward{dpd, dnnl::convolution_backward_data(dpd), wpd, dnnl::convolution_backward_weights(wpd)};
  });
}

void conv2d_forward(const OpCall& c) {
  const ConvGeometry g = geometry(*c.node, c.in[0].type);
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

void conv2d_backward(const OpCall& c) {
  const ConvGeometry g = geometry(*c.node, c.in[0].type);
  const bool want_x = grad_wanted(c, 0), want_w = grad_wanted(c, 1), want_b = g.bias && grad_wanted(c, 2);
  if (!c.dy[0].present()) {
    for (size_t i = 0; i < c.dx.size(); ++i) store_zero(c.dx[i], grad_accumulates(c, i));
    return;
  }
  if (!want_x && !want_w && !want_b) return;
  auto b = backward_primitive(g);
  // dy in each primitive's layout, reordered at most once when both want the same one.
  memory dy_data;
  if (want_x) {
    dy_data = input(b->data_pd.diff_dst_desc(), g.dst_md(), c.dy[0].data);
    Output dx(b->data_pd.diff_src_desc(), g.src_md(), c.dx[0].data, grad_accumulates(c, 0));
    b->data.execute(cpu_stream(),
                    {{DNNL_ARG_DIFF_DST, dy_data},
                     {DNNL_ARG_WEIGHTS, input(b->data_pd.weights_desc(), g.weights_md(), c.in[1].data)},
                     {DNNL_ARG_DIFF_SRC, dx.target()}});
    dx.finish();
    cpu_stream().wait();
  }

  if (want_w || want_b) {
    const memory::desc& dy_want = b->weights_pd.diff_dst_desc();
    const memory dy_weights =
        want_x && dy_want == b->data_pd.diff_dst_desc() ? dy_data : input(dy_want, g.dst_md(), c.dy[0].data);
    // The primitive produces both; an unwanted one lands in a temporary.
    Output dw(b->weights_pd.diff_weights_desc(), g.weights_md(), want_w ? c.dx[1].data : nullptr,
              grad_accumulates(c, 1));
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, input(b->weights_pd.src_desc(), g.src_md(), c.in[0].data)},
        {DNNL_ARG_DIFF_DST, dy_weights},
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

void register_conv_kernels(KernelTable& t) { t.add("conv2d", {conv2d_forward, conv2d_backward}); }

}  // namespace sublinear::runtime::cpu
