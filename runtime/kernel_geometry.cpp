// Host-side geometry shared by the CPU and CUDA kernels (see kernel_geometry.h for the rules).
#include "runtime/kernel_geometry.h"

#include <variant>

#include "ir/check.h"

namespace sublinear::runtime {

namespace {

int64_t product(const ir::Shape& s, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t k = begin; k < end && k < s.size(); ++k) p *= s[k];
  return p;
}

int resolve_axis(int64_t axis, int extent) { return static_cast<int>(axis < 0 ? axis + extent : axis); }

Pieces pieces(int64_t outer, int64_t inner, const std::vector<int64_t>& extent) {
  Pieces p;
  p.outer = outer;
  p.inner = inner;
  p.extent = extent;
  for (int64_t e : extent) {
    p.start.push_back(p.total);
    p.total += e;
  }
  return p;
}

}  // namespace

ir::Shape padded(const ir::Shape& s, size_t rank) {
  SL_CHECK(s.size() <= rank) << "shape " << ir::shape_str(s) << " has more axes than " << rank;
  ir::Shape p(rank - s.size(), 1);
  p.insert(p.end(), s.begin(), s.end());
  return p;
}

std::vector<int64_t> row_major_strides(const ir::Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (size_t k = s.size(); k-- > 1;) st[k - 1] = st[k] * s[k];
  return st;
}

int64_t BroadcastPlan::rows() const {
  int64_t r = 1;
  for (size_t k = 0; k + 1 < dims.size(); ++k) r *= dims[k];
  return r;
}

BroadcastPlan make_broadcast_plan(const ir::Shape& out, const ir::Shape& a, const ir::Shape& b) {
  const size_t rank = out.size();
  SL_CHECK(a.size() <= rank && b.size() <= rank) << "broadcast of " << ir::shape_str(a) << " and "
                                                 << ir::shape_str(b) << " to " << ir::shape_str(out);
  const ir::Shape pa = padded(a, rank), pb = padded(b, rank);
  const auto sa = row_major_strides(pa), sb = row_major_strides(pb);
  BroadcastPlan p;
  for (size_t k = 0; k < rank; ++k) {
    if (out[k] == 1) continue;
    SL_CHECK((pa[k] == 1 || pa[k] == out[k]) && (pb[k] == 1 || pb[k] == out[k]))
        << "shapes " << ir::shape_str(a) << " and " << ir::shape_str(b) << " do not broadcast to "
        << ir::shape_str(out);
    const int64_t as = pa[k] == 1 ? 0 : sa[k], bs = pb[k] == 1 ? 0 : sb[k];
    if (!p.dims.empty() && p.a_strides.back() == as * out[k] && p.b_strides.back() == bs * out[k]) {
      p.dims.back() *= out[k];
      p.a_strides.back() = as;
      p.b_strides.back() = bs;
    } else {
      p.dims.push_back(out[k]);
      p.a_strides.push_back(as);
      p.b_strides.push_back(bs);
    }
  }
  return p;
}

std::vector<char> broadcast_axes(const ir::Shape& out, const ir::Shape& in) {
  const ir::Shape p = padded(in, out.size());
  std::vector<char> r(out.size(), 0);
  for (size_t k = 0; k < out.size(); ++k) r[k] = p[k] == 1 && out[k] != 1;
  return r;
}

TransposePlan make_transpose_plan(const ir::Shape& in, const std::vector<int64_t>& perm) {
  const std::vector<int64_t> in_strides = row_major_strides(in);
  TransposePlan p;
  for (int64_t ax : perm) {
    const int64_t d = in[static_cast<size_t>(ax)], s = in_strides[static_cast<size_t>(ax)];
    if (d == 1) continue;
    if (!p.dims.empty() && p.strides.back() == s * d) {
      p.dims.back() *= d;
      p.strides.back() = s;
    } else {
      p.dims.push_back(d);
      p.strides.push_back(s);
    }
  }
  return p;
}

Pieces join_pieces(const OpCall& c, const std::vector<Tensor>& parts) {
  const ir::Shape& s0 = parts[0].type.shape;
  if (c.node->op == "stack") {
    const int axis = resolve_axis(c.node->attrs.get_int("axis"), static_cast<int>(s0.size()) + 1);
    return pieces(product(s0, 0, static_cast<size_t>(axis)), product(s0, static_cast<size_t>(axis), s0.size()),
                  std::vector<int64_t>(parts.size(), 1));
  }
  const int axis = resolve_axis(c.node->attrs.get_int("axis"), static_cast<int>(s0.size()));
  std::vector<int64_t> extent;
  for (const auto& t : parts) extent.push_back(t.type.shape[static_cast<size_t>(axis)]);
  return pieces(product(s0, 0, static_cast<size_t>(axis)), product(s0, static_cast<size_t>(axis) + 1, s0.size()),
                extent);
}

Pieces split_pieces(const OpCall& c) {
  const ir::Shape& s = c.in[0].type.shape;
  const int axis = resolve_axis(c.node->attrs.get_int("axis"), static_cast<int>(s.size()));
  const int64_t parts = c.node->attrs.get_int("parts");
  return pieces(product(s, 0, static_cast<size_t>(axis)), product(s, static_cast<size_t>(axis) + 1, s.size()),
                std::vector<int64_t>(static_cast<size_t>(parts), s[static_cast<size_t>(axis)] / parts));
}

Range taken_range(const OpCall& c) {
  const ir::Shape& s = c.in[0].type.shape;
  const int axis = resolve_axis(c.node->attrs.get_int("axis"), static_cast<int>(s.size()));
  const size_t a = static_cast<size_t>(axis);
  Range r{product(s, 0, a), s[a], product(s, a + 1, s.size()), 0, 0};
  auto resolve = [&](int64_t v) { return v < 0 ? v + r.dim : v; };
  if (c.node->op == "select") {
    r.begin = resolve(c.node->attrs.get_int("index"));
    r.end = r.begin + 1;
  } else {
    r.begin = resolve(c.node->attrs.get_int("start"));
    r.end = resolve(c.node->attrs.get_int("end"));
    r.step = c.node->attrs.get_int("step");
  }
  SL_CHECK(0 <= r.begin && r.begin < r.end && r.end <= r.dim && r.step >= 1)
      << c.node->op << ": range [" << r.begin << ", " << r.end << ") outside axis of " << r.dim;
  return r;
}

AxisView axis_view(const ir::Shape& s, int64_t axis_attr) {
  const int rank = static_cast<int>(s.size());
  const size_t axis = static_cast<size_t>(axis_attr < 0 ? axis_attr + rank : axis_attr);
  AxisView v;
  for (size_t k = 0; k < s.size(); ++k) {
    if (k < axis) v.outer *= s[k];
    else if (k == axis) v.classes = s[k];
    else v.inner *= s[k];
  }
  return v;
}

std::vector<char> reduced_axes(const OpCall& c, const ir::Shape& x, int64_t* count) {
  const auto& axes = c.node->attrs.get_int_list("axes");
  std::vector<char> flags(x.size(), axes.empty() ? 1 : 0);
  for (int64_t a : axes) flags[static_cast<size_t>(a < 0 ? a + static_cast<int64_t>(x.size()) : a)] = 1;
  *count = 1;
  for (size_t k = 0; k < x.size(); ++k)
    if (flags[k]) *count *= x[k];
  return flags;
}

ir::Shape kept_shape(const ir::Shape& x, const std::vector<char>& reduced) {
  ir::Shape kept = x;
  for (size_t k = 0; k < x.size(); ++k)
    if (reduced[k]) kept[k] = 1;
  return kept;
}

PoolGeometry pool_geometry(const OpCall& c, bool windowed) {
  const Tensor& x = c.in[0].present() ? c.in[0] : c.dx[0];
  PoolGeometry g{};
  g.planes = x.dim(0) * x.dim(1), g.h = x.dim(2), g.w = x.dim(3);
  if (!windowed) return g;
  const auto& a = c.node->attrs;
  const auto kernel = a.get_ints("kernel", 2);
  const auto* stride_list = std::get_if<std::vector<int64_t>>(&a.get("stride"));
  // The IR's default stride [] means "the kernel".
  const auto stride = stride_list && stride_list->empty() ? kernel : a.get_ints("stride", 2);
  const auto pad = a.get_ints("pad", 2);
  g.kh = kernel[0], g.kw = kernel[1], g.sh = stride[0], g.sw = stride[1], g.ph = pad[0], g.pw = pad[1];
  const auto& y = c.node->outputs[0].shape;
  g.ho = y[2], g.wo = y[3];
  return g;
}

LinearDims linear_dims(const OpCall& c) {
  const Tensor& x = c.in[0];
  const int64_t in = x.dim(x.rank() - 1);
  return {in > 0 ? x.numel() / in : 0, in, c.in[1].dim(0)};
}

MatmulDims matmul_dims(const OpCall& c) {
  const Tensor& a = c.in[0];
  const Tensor& b = c.in[1];
  const Tensor& y = c.out[0];
  MatmulDims d{};
  d.ta = c.node->attrs.get_bool("transpose_a");
  d.tb = c.node->attrs.get_bool("transpose_b");
  d.m = y.dim(y.rank() - 2);
  d.n = y.dim(y.rank() - 1);
  d.k = d.ta ? a.dim(a.rank() - 2) : a.dim(a.rank() - 1);
  d.batch = 1;
  for (int i = 0; i + 2 < a.rank(); ++i) d.batch *= a.dim(i);
  d.shared_b = b.rank() == 2;
  return d;
}

DropoutKey dropout_key(const OpCall& c) {
  const double rate = c.node->attrs.get_float("rate");
  const auto offset = static_cast<uint64_t>(c.shard) * static_cast<uint64_t>(ir::num_elements(c.node->outputs[0].shape));
  return {c.seed, static_cast<uint64_t>(c.iteration), static_cast<uint64_t>(c.node->rng_key), static_cast<float>(rate),
          static_cast<float>(1.0 / (1.0 - rate)), offset};
}

}  // namespace sublinear::runtime
