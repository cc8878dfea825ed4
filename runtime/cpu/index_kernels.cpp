// arange and argmax on the CPU. arange: element i is start + i * step, computed in f32 (or exactly in
// i32). argmax: the first index of the largest element along the axis, a NaN beating any number (the
// first NaN wins), as torch.argmax. Neither has a gradient.
#include <cmath>

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

}  // namespace

void register_index_kernels(KernelTable& t) {
  t.add("arange", {arange_forward, nullptr});
  t.add("argmax", {argmax_forward, nullptr});
}

}  // namespace sublinear::runtime::cpu
