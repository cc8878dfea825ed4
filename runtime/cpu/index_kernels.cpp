// arange and argmax on the CPU. arange: element i is start + i * step, computed in f32 (or exactly in
// i32). argmax: the first index of the largest element along the axis, a NaN beating any number (the
// first NaN wins), as torch.argmax. Neither has a gradient. take: x as [outer, dim, inner], y[o, p, :] =
// x[o, idx[p], :]; an index outside [0, dim) is a data error (std::out_of_range, as embedding). Its
// gradient adds dy rows into dx in position order (a stable counting sort groups positions by index),
// so it is the same for any thread count.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "ir/check.h"
#include "runtime/cpu/cpu_kernels.h"
#include "runtime/cpu/cpu_util.h"

namespace sublinear::runtime::cpu {

namespace {

void arange_forward(const OpCall& c) {
  const Tensor& y = c.out[0];
  const int64_t n = y.numel();
  if (y.type.dtype == ir::DType::I32) {
    const int64_t start = static_cast<int64_t>(c.node->attrs.get_float("start"));
    const int64_t step = static_cast<int64_t>(c.node->attrs.get_float("step"));
    for (int64_t i = 0; i < n; ++i) y.i32()[i] = static_cast<int32_t>(start + i * step);
    return;
  }
  const float start = static_cast<float>(c.node->attrs.get_float("start"));
  const float step = static_cast<float>(c.node->attrs.get_float("step"));
  for (int64_t i = 0; i < n; ++i) y.f32()[i] = start + static_cast<float>(i) * step;
}

void argmax_forward(const OpCall& c) {
  const ir::Shape& s = c.in[0].type.shape;
  int64_t axis = c.node->attrs.get_int("axis");
  if (axis < 0) axis += static_cast<int64_t>(s.size());
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= s[static_cast<size_t>(i)];
  for (size_t i = static_cast<size_t>(axis) + 1; i < s.size(); ++i) inner *= s[i];
  const int64_t len = s[static_cast<size_t>(axis)];
  const float* x = c.in[0].f32();
  int32_t* y = c.out[0].i32();
  parallel_for(outer * inner, len, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t o = r / inner, in = r % inner;
      const float* p = x + o * len * inner + in;
      int64_t best = 0;
      float bv = p[0];
      for (int64_t k = 1; k < len && !std::isnan(bv); ++k) {
        const float v = p[k * inner];
        if (v > bv || std::isnan(v)) best = k, bv = v;
      }
      y[r] = static_cast<int32_t>(best);
    }
  });
}

struct TakeView {
  int64_t outer = 1, dim = 1, inner = 1, n = 0;
};

TakeView take_view(const OpCall& c, const ir::Shape& x) {
  int64_t axis = c.node->attrs.get_int("axis");
  if (axis < 0) axis += static_cast<int64_t>(x.size());
  TakeView v;
  for (int64_t i = 0; i < axis; ++i) v.outer *= x[static_cast<size_t>(i)];
  for (size_t i = static_cast<size_t>(axis) + 1; i < x.size(); ++i) v.inner *= x[i];
  v.dim = x[static_cast<size_t>(axis)];
  v.n = c.in[1].numel();
  const int32_t* idx = c.in[1].i32();
  for (int64_t p = 0; p < v.n; ++p)
    if (idx[p] < 0 || idx[p] >= v.dim)
      throw std::out_of_range("take '" + c.node->name + "': index " + std::to_string(idx[p]) + " at position " +
                              std::to_string(p) + " is outside axis " + std::to_string(axis) + " of " +
                              std::to_string(v.dim) + " entries");
  return v;
}

void take_forward(const OpCall& c) {
  const TakeView v = take_view(c, c.in[0].type.shape);
  const int32_t* idx = c.in[1].i32();
  const int64_t elem = ir::dtype_size(c.in[0].type.dtype), row = v.inner * elem;
  const char* x = static_cast<const char*>(c.in[0].data);
  char* y = static_cast<char*>(c.out[0].data);
  parallel_for(v.outer * v.n, v.inner, [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t o = q / v.n, p = q % v.n;
      std::memcpy(y + q * row, x + (o * v.dim + idx[p]) * row, static_cast<size_t>(row));
    }
  });
}

void take_backward(const OpCall& c) {
  if (!grad_wanted(c, 0)) return;
  SL_CHECK(c.dx[0].type.dtype == ir::DType::F32) << "take: gradient of a " << c.dx[0].type.str() << " input requested";
  const bool acc = grad_accumulates(c, 0);
  if (!c.dy[0].present()) return zero_gradient(c.dx[0], acc);
  const TakeView v = take_view(c, c.dx[0].type.shape);
  const int32_t* idx = c.in[1].i32();
  std::vector<int64_t> start(static_cast<size_t>(v.dim) + 1, 0), order(static_cast<size_t>(v.n));
  for (int64_t p = 0; p < v.n; ++p) ++start[static_cast<size_t>(idx[p]) + 1];
  for (int64_t r = 0; r < v.dim; ++r) start[r + 1] += start[r];
  std::vector<int64_t> next(start.begin(), start.end() - 1);
  for (int64_t p = 0; p < v.n; ++p) order[static_cast<size_t>(next[static_cast<size_t>(idx[p])]++)] = p;
  const float* dy = c.dy[0].f32();
  float* dx = c.dx[0].f32();
  parallel_for(v.outer * v.dim, v.inner * (1 + v.n / std::max<int64_t>(v.dim, 1)), [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t o = q / v.dim, r = q % v.dim;
      float* d = dx + q * v.inner;
      if (!acc) std::fill(d, d + v.inner, 0.0f);
      for (int64_t k = start[r]; k < start[r + 1]; ++k) {
        const float* g = dy + (o * v.n + order[k]) * v.inner;
        for (int64_t j = 0; j < v.inner; ++j) d[j] += g[j];
      }
    }
  });
}

}  // namespace

void register_index_kernels(KernelTable& t) {
  t.add("arange", {arange_forward, nullptr});
  t.add("argmax", {argmax_forward, nullptr});
  t.add("take", {take_forward, take_backward});
}

}  // namespace sublinear::runtime::cpu
