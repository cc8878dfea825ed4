// max_pool, avg_pool and global_avg_pool over [N, C, H, W] on the GPU, hand-written: bitwise the CPU
// kernels' results (runtime/cpu/pool_kernels.cpp) except global_avg_pool's forward sum.
// Rules: forwards use one thread per output and visit the window in the CPU's row-major order. Backwards
// gather instead of scatter: one thread per input element adds the contributions of the outputs whose
// windows cover it, in the CPU's (oh, ow) order, onto zero or the accumulated gradient, so overlapping
// windows need no atomics and the additions happen in the CPU's order. max_pool's gradient goes to the
// first window position (row-major) whose x equals y, found again from x and y (no saved indices); a
// NaN maximum matches nothing and passes no gradient. Padding never wins a max and counts in avg_pool's
// divisor only with count_include_pad.
#include "runtime/cuda/cuda_device.cuh"
#include "runtime/cuda/cuda_kernels.h"
#include "runtime/cuda/cuda_util.h"
#include "runtime/kernel_geometry.h"

namespace sublinear::runtime::cuda {

namespace {

struct Window {
  int64_t h0, h1, w0, w1;
};

__device__ __forceinline__ Window window(const PoolGeometry& g, int64_t oh, int64_t ow) {
  const int64_t hs = oh * g.sh - g.ph, ws = ow * g.sw - g.pw;
  return {hs > 0 ? hs : 0, hs + g.kh < g.h ? hs + g.kh : g.h, ws > 0 ? ws : 0, ws + g.kw < g.w ? ws + g.kw : g.w};
}

// The outputs along one axis whose windows cover input position i: [lo, hi].
__device__ __forceinline__ void covering(int64_t i, int64_t k, int64_t s, int64_t p, int64_t out, int64_t* lo,
                                         int64_t* hi) {
  const int64_t first = i + p - k + 1;  // o * s >= first
  *lo = first <= 0 ? 0 : (first + s - 1) / s;
  const int64_t last = (i + p) / s;  // o * s <= i + p
  *hi = last < out - 1 ? last : out - 1;
}

__global__ void max_pool_kernel(const float* x, float* y, PoolGeometry g) {
  const int64_t n = g.planes * g.ho * g.wo;
  for (int64_t i = global_thread(); i < n; i += global_stride()) {
    const int64_t ow = i % g.wo, oh = (i / g.wo) % g.ho, p = i / (g.wo * g.ho);
    const float* xp = x + p * g.h * g.w;
    const Window win = window(g, oh, ow);
    // pad <= kernel / 2 (checked by the IR) keeps at least one input in every window.
    float m = xp[win.h0 * g.w + win.w0];
    for (int64_t ih = win.h0; ih < win.h1; ++ih)
      for (int64_t iw = win.w0; iw < win.w1; ++iw) {
        const float v = xp[ih * g.w + iw];
        m = m < v ? v : m;  // std::max's rule: the first of equals stays
      }
    y[i] = m;
  }
}

// Whether input (ih, iw) is the first position of output (oh, ow)'s window whose x equals y.
__device__ __forceinline__ bool is_argmax(const float* xp, const PoolGeometry& g, int64_t oh, int64_t ow, int64_t ih,
                                          int64_t iw, float m) {
  const Window win = window(g, oh, ow);
  for (int64_t h = win.h0; h < win.h1; ++h)
    for (int64_t w = win.w0; w < win.w1; ++w)
      if (xp[h * g.w + w] == m) return h == ih && w == iw;
  return false;
}

__global__ void max_pool_grad_kernel(const float* x, const float* y, const float* dy, float* dx, PoolGeometry g,
                                     bool acc) {
  const int64_t n = g.planes * g.h * g.w;
  for (int64_t i = global_thread(); i < n; i += global_stride()) {
    const int64_t iw = i % g.w, ih = (i / g.w) % g.h, p = i / (g.w * g.h);
    const float* xp = x + p * g.h * g.w;
    const float* yp = y + p * g.ho * g.wo;
    const float* dyp = dy + p * g.ho * g.wo;
    const float xv = xp[ih * g.w + iw];
    float s = acc ? dx[i] : 0.0f;
    int64_t oh0, oh1, ow0, ow1;
    covering(ih, g.kh, g.sh, g.ph, g.ho, &oh0, &oh1);
    covering(iw, g.kw, g.sw, g.pw, g.wo, &ow0, &ow1);
    for (int64_t oh = oh0; oh <= oh1; ++oh)
      for (int64_t ow = ow0; ow <= ow1; ++ow) {
        const float m = yp[oh * g.wo + ow];
        if (xv == m && is_argmax(xp, g, oh, ow, ih, iw, m)) s = __fadd_rn(s, dyp[oh * g.wo + ow]);
      }
    dx[i] = s;
  }
}

__device__ __forceinline__ float avg_divisor(const PoolGeometry& g, const Window& win, bool include_pad) {
  // Floor-mode windows never reach past the padding, so including it always means the full kernel.
  return static_cast<float>(include_pad ? g.kh * g.kw : (win.h1 - win.h0) * (win.w1 - win.w0));
}

__global__ void avg_pool_kernel(const float* x, float* y, PoolGeometry g, bool include_pad) {
  const int64_t n = g.planes * g.ho * g.wo;
  for (int64_t i = global_thread(); i < n; i += global_stride()) {
    const int64_t ow = i % g.wo, oh = (i / g.wo) % g.ho, p = i / (g.wo * g.ho);
    const float* xp = x + p * g.h * g.w;
    const Window win = window(g, oh, ow);
    float s = 0.0f;
    for (int64_t ih = win.h0; ih < win.h1; ++ih)
      for (int64_t iw = win.w0; iw < win.w1; ++iw) s = __fadd_rn(s, xp[ih * g.w + iw]);
    y[i] = __fdiv_rn(s, avg_divisor(g, win, include_pad));
  }
}

__global__ void avg_pool_grad_kernel(const float* dy, float* dx, PoolGeometry g, bool include_pad, bool acc) {
  const int64_t n = g.planes * g.h * g.w;
  for (int64_t i = global_thread(); i < n; i += global_stride()) {
    const int64_t iw = i % g.w, ih = (i / g.w) % g.h, p = i / (g.w * g.h);
    const float* dyp = dy + p * g.ho * g.wo;
    float s = acc ? dx[i] : 0.0f;
    int64_t oh0, oh1, ow0, ow1;
    covering(ih, g.kh, g.sh, g.ph, g.ho, &oh0, &oh1);
    covering(iw, g.kw, g.sw, g.pw, g.wo, &ow0, &ow1);
    for (int64_t oh = oh0; oh <= oh1; ++oh)
      for (int64_t ow = ow0; ow <= ow1; ++ow) {
        const Window win = window(g, oh, ow);
        s = __fadd_rn(s, __fdiv_rn(dyp[oh * g.wo + ow], avg_divisor(g, win, include_pad)));
      }
    dx[i] = s;
  }
}

// One block per plane: the sum in double, in a fixed tree.
__global__ void global_avg_pool_kernel(const float* x, float* y, int64_t planes, int64_t hw) {
  for (int64_t p = blockIdx.x; p < planes; p += gridDim.x) {
    double s = 0.0;
    for (int64_t i = threadIdx.x; i < hw; i += kThreads) s += x[p * hw + i];
    s = block_sum(s);
    if (threadIdx.x == 0) y[p] = static_cast<float>(s / static_cast<double>(hw));
  }
}

__global__ void global_avg_pool_grad_kernel(const float* dy, float* dx, int64_t planes, int64_t hw, bool acc) {
  const int64_t n = planes * hw;
  for (int64_t i = global_thread(); i < n; i += global_stride()) {
    const float v = __fdiv_rn(dy[i / hw], static_cast<float>(hw));
    dx[i] = acc ? __fadd_rn(dx[i], v) : v;
  }
}

void max_pool_forward(CudaContext& ctx, const OpCall& c) {
  const PoolGeometry g = pool_geometry(c, true);
  const int64_t n = g.planes * g.ho * g.wo;
  if (n == 0) return;
  max_pool_kernel<<<blocks_for(n), kThreads, 0, ctx.stream()>>>(c.in[0].f32(), c.out[0].f32(), g);
  SL_CUDA_LAUNCH_CHECK();
}

void max_pool_backward(CudaContext& ctx, const OpCall& c) {
  if (!grad_wanted(c, 0)) return;
  const bool acc = grad_accumulates(c, 0);
  if (!c.dy[0].present()) return zero_gradient(ctx, c.dx[0], acc);
  const PoolGeometry g = pool_geometry(c, true);
  const int64_t n = g.planes * g.h * g.w;
  if (n == 0) return;
  max_pool_grad_kernel<<<blocks_for(n), kThreads, 0, ctx.stream()>>>(c.in[0].f32(), c.out[0].f32(), c.dy[0].f32(),
                                                                      c.dx[0].f32(), g, acc);
  SL_CUDA_LAUNCH_CHECK();
}

void avg_pool_forward(CudaContext& ctx, const OpCall& c) {
  const PoolGeometry g = pool_geometry(c, true);
  const int64_t n = g.planes * g.ho * g.wo;
  if (n == 0) return;
  avg_pool_kernel<<<blocks_for(n), kThreads, 0, ctx.stream()>>>(c.in[0].f32(), c.out[0].f32(), g,
                                                                 c.node->attrs.get_bool("count_include_pad"));
  SL_CUDA_LAUNCH_CHECK();
}

void avg_pool_backward(CudaContext& ctx, const OpCall& c) {
  if (!grad_wanted(c, 0)) return;
  const bool acc = grad_accumulates(c, 0);
  if (!c.dy[0].present()) return zero_gradient(ctx, c.dx[0], acc);
  const PoolGeometry g = pool_geometry(c, true);
  const int64_t n = g.planes * g.h * g.w;
  if (n == 0) return;
  avg_pool_grad_kernel<<<blocks_for(n), kThreads, 0, ctx.stream()>>>(
      c.dy[0].f32(), c.dx[0].f32(), g, c.node->attrs.get_bool("count_include_pad"), acc);
  SL_CUDA_LAUNCH_CHECK();
}

void global_avg_pool_forward(CudaContext& ctx, const OpCall& c) {
  const PoolGeometry g = pool_geometry(c, false);
  if (g.planes == 0) return;
  global_avg_pool_kernel<<<blocks_for(g.planes, 1), kThreads, 0, ctx.stream()>>>(c.in[0].f32(), c.out[0].f32(),
                                                                                  g.planes, g.h * g.w);
  SL_CUDA_LAUNCH_CHECK();
}

void global_avg_pool_backward(CudaContext& ctx, const OpCall& c) {
  if (!grad_wanted(c, 0)) return;
  const bool acc = grad_accumulates(c, 0);
  if (!c.dy[0].present()) return zero_gradient(ctx, c.dx[0], acc);
  const PoolGeometry g = pool_geometry(c, false);
  const int64_t n = g.planes * g.h * g.w;
  if (n == 0) return;
  global_avg_pool_grad_kernel<<<blocks_for(n), kThreads, 0, ctx.stream()>>>(c.dy[0].f32(), c.dx[0].f32(), g.planes,
                                                                             g.h * g.w, acc);
  SL_CUDA_LAUNCH_CHECK();
}

}  // namespace

void register_pool_kernels(KernelTable& t, CudaContext* ctx) {
  add_kernels(t, ctx, "max_pool", max_pool_forward, max_pool_backward);
  add_kernels(t, ctx, "avg_pool", avg_pool_forward, avg_pool_backward);
  add_kernels(t, ctx, "global_avg_pool", global_avg_pool_forward, global_avg_pool_backward);
}

}  // namespace sublinear::runtime::cuda
