// max_pool, avg_pool and global_avg_pool over [N, C, H, W], hand-written.
// Rules: parallel over (n, c) planes only; within a plane windows are visited in a fixed order, so
// overlapping windows scatter their gradients deterministically. Padding never wins a max and, for
// avg_pool, counts in the divisor only with count_include_pad. max_pool's backward finds the argmax
// again as the first window position (row-major) whose x equals y: no index workspace is saved.
#include <algorithm>

#include "runtime/cpu/cpu_kernels.h"
#include "runtime/cpu/dnnl_util.h"
#include "runtime/kernel_geometry.h"

namespace sublinear::runtime::cpu {

namespace {

// The window of output (oh, ow) clipped to the input: rows [h0, h1), columns [w0, w1).
struct Window {
  int64_t h0, h1, w0, w1;
};

Window window(const PoolGeometry& g, int64_t oh, int64_t ow) {
  const int64_t hs = oh * g.sh - g.ph, ws = ow * g.sw - g.pw;
  return {std::max<int64_t>(hs, 0), std::min(hs + g.kh, g.h), std::max<int64_t>(ws, 0), std::min(ws + g.kw, g.w)};
}

void max_pool_forward(const OpCall& c) {
  const PoolGeometry g = pool_geometry(c, true);
  const float* x = c.in[0].f32();
  float* y = c.out[0].f32();
#pragma omp parallel for schedule(static) if (g.planes * g.ho * g.wo * g.kh * g.kw >= kParallelWork)
  for (int64_t p = 0; p < g.planes; ++p) {
    const float* xp = x + p * g.h * g.w;
    float* yp = y + p * g.ho * g.wo;
    for (int64_t oh = 0; oh < g.ho; ++oh)
      for (int64_t ow = 0; ow < g.wo; ++ow) {
        const auto win = window(g, oh, ow);
        // pad <= kernel / 2 (checked by the IR) keeps at least one input in every window.
        float m = xp[win.h0 * g.w + win.w0];
        for (int64_t ih = win.h0; ih < win.h1; ++ih)
          for (int64_t iw = win.w0; iw < win.w1; ++iw) m = std::max(m, xp[ih * g.w + iw]);
        yp[oh * g.wo + ow] = m;
      }
  }
}

void max_pool_backward(const OpCall& c) {
  if (!grad_wanted(c, 0)) return;
  const bool acc = grad_accumulates(c, 0);
  if (!c.dy[0].present()) return store_zero(c.dx[0], acc);
  const PoolGeometry g = pool_geometry(c, true);
  const float* x = c.in[0].f32();
  const float* y = c.out[0].f32();
  const float* dy = c.dy[0].f32();
  float* dx = c.dx[0].f32();
#pragma omp parallel for schedule(static) if (g.planes * (g.h * g.w + g.ho * g.wo * g.kh * g.kw) >= \
                                              kParallelWork)
  for (int64_t p = 0; p < g.planes; ++p) {
    const float* xp = x + p * g.h * g.w;
    const float* yp = y + p * g.ho * g.wo;
    const float* dyp = dy + p * g.ho * g.wo;
    float* dxp = dx + p * g.h * g.w;
    if (!acc) std::fill(dxp, dxp + g.h * g.w, 0.0f);
    for (int64_t oh = 0; oh < g.ho; ++oh)
      for (int64_t ow = 0; ow < g.wo; ++ow) {
        const auto win = window(g, oh, ow);
        const float m = yp[oh * g.wo + ow];
        bool found = false;  // stays false only for a NaN maximum: no gradient then
        for (int64_t ih = win.h0; ih < win.h1 && !found; ++ih)
          for (int64_t iw = win.w0; iw < win.w1; ++iw)
            if (xp[ih * g.w + iw] == m) {
              dxp[ih * g.w + iw] += dyp[oh * g.wo + ow];
              found = true;
              break;
            }
      }
  }
}

float avg_divisor(const PoolGeometry& g, const Window& win, bool include_pad) {
  // Floor-mode windows never reach past the padding, so including it always means the full kernel.
  return static_cast<float>(include_pad ? g.kh * g.kw : (win.h1 - win.h0) * (win.w1 - win.w0));
}

void avg_pool_forward(const OpCall& c) {
  const PoolGeometry g = pool_geometry(c, true);
  const bool include_pad = c.node->attrs.get_bool("count_include_pad");
  const float* x = c.in[0].f32();
  float* y = c.out[0].f32();
#pragma omp parallel for schedule(static) if (g.planes * g.ho * g.wo * g.kh * g.kw >= kParallelWork)
  for (int64_t p = 0; p < g.planes; ++p) {
    const float* xp = x + p * g.h * g.w;
    float* yp = y + p * g.ho * g.wo;
    for (int64_t oh = 0; oh < g.ho; ++oh)
      for (int64_t ow = 0; ow < g.wo; ++ow) {
        const auto win = window(g, oh, ow);
        float s = 0.0f;
        for (int64_t ih = win.h0; ih < win.h1; ++ih)
          for (int64_t iw = win.w0; iw < win.w1; ++iw) s += xp[ih * g.w + iw];
        yp[oh * g.wo + ow] = s / avg_divisor(g, win, include_pad);
      }
  }
}

void avg_pool_backward(const OpCall& c) {
  if (!grad_wanted(c, 0)) return;
  const bool acc = grad_accumulates(c, 0);
  if (!c.dy[0].present()) return store_zero(c.dx[0], acc);
  const PoolGeometry g = pool_geometry(c, true);
  const bool include_pad = c.node->attrs.get_bool("count_include_pad");
  const float* dy = c.dy[0].f32();
  float* dx = c.dx[0].f32();
#pragma omp parallel for schedule(static) if (g.planes * (g.h * g.w + g.ho * g.wo * g.kh * g.kw) >= \
                                              kParallelWork)
  for (int64_t p = 0; p < g.planes; ++p) {
    const float* dyp = dy + p * g.ho * g.wo;
    float* dxp = dx + p * g.h * g.w;
    if (!acc) std::fill(dxp, dxp + g.h * g.w, 0.0f);
    for (int64_t oh = 0; oh < g.ho; ++oh)
      for (int64_t ow = 0; ow < g.wo; ++ow) {
        const auto win = window(g, oh, ow);
        const float v = dyp[oh * g.wo + ow] / avg_divisor(g, win, include_pad);
        for (int64_t ih = win.h0; ih < win.h1; ++ih)
          for (int64_t iw = win.w0; iw < win.w1; ++iw) dxp[ih * g.w + iw] += v;
      }
  }
}

void global_avg_pool_forward(const OpCall& c) {
  const PoolGeometry g = pool_geometry(c, false);
  const int64_t hw = g.h * g.w;
  const float* x = c.in[0].f32();
  float* y = c.out[0].f32();
#pragma omp parallel for schedule(static) if (g.planes * hw >= kParallelWork)
  for (int64_t p = 0; p < g.planes; ++p) {
    double s = 0;
    for (int64_t i = 0; i < hw; ++i) s += x[p * hw + i];
    y[p] = static_cast<float>(s / static_cast<double>(hw));
  }
}

void global_avg_pool_backward(const OpCall& c) {
  if (!grad_wanted(c, 0)) return;
  const bool acc = grad_accumulates(c, 0);
  if (!c.dy[0].present()) return store_zero(c.dx[0], acc);
  const PoolGeometry g = pool_geometry(c, false);
  const int64_t hw = g.h * g.w;
  const float* dy = c.dy[0].f32();
  float* dx = c.dx[0].f32();
#pragma omp parallel for schedule(static) if (g.planes * hw >= kParallelWork)
  for (int64_t p = 0; p < g.planes; ++p) {
    const float v = dy[p] / static_cast<float>(hw);
    float* dxp = dx + p * hw;
    if (acc) {
      for (int64_t i = 0; i < hw; ++i) dxp[i] += v;
    } else {
      std::fill(dxp, dxp + hw, v);
    }
  }
}

}  // namespace

void register_pool_kernels(KernelTable& t) {
  t.add("max_pool", {max_pool_forward, max_pool_backward});
  t.add("avg_pool", {avg_pool_forward, avg_pool_backward});
  t.add("global_avg_pool", {global_avg_pool_forward, global_avg_pool_backward});
}

}  // namespace sublinear::runtime::cpu
