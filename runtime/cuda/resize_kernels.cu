// upsample on the GPU (runtime/cpu/resize_kernels.cpp's rules and f32 formulas): one thread per output
// element forward, one per input element backward gathering the output gradients that read it, in the
// CPU's order, so results are the CPU's bit for bit (explicit _rn intrinsics: no FMA contraction).
#include "runtime/cuda/cuda_device.cuh"
#include "runtime/cuda/cuda_kernels.h"
#include "runtime/cuda/cuda_util.h"

namespace sublinear::runtime::cuda {

namespace {

struct Geo {
  int64_t planes, h, w, sh, sw, ho, wo;
  bool bilinear;
};

Geo geometry(const OpCall& c, const ir::Shape& x) {
  const auto& s = c.node->attrs.get_int_list("scale");
  Geo g{};
  g.planes = x[0] * x[1];
  g.h = x[2];
  g.w = x[3];
  g.sh = s[0];
  g.sw = s.size() > 1 ? s[1] : s[0];
  g.ho = g.h * g.sh;
  g.wo = g.w * g.sw;
  g.bilinear = c.node->attrs.get_string("mode") == "bilinear";
  return g;
}

struct Tap {
  int64_t i0, i1;
  float l0, l1;
};

__device__ __forceinline__ Tap tap(int64_t o, int64_t s, int64_t n) {
  float src = __fsub_rn(__fmul_rn(__fadd_rn(static_cast<float>(o), 0.5f), __fdiv_rn(1.0f, static_cast<float>(s))), 0.5f);
  if (src < 0.0f) src = 0.0f;
  Tap t;
  t.i0 = static_cast<int64_t>(src);
  t.i1 = t.i0 + (t.i0 < n - 1 ? 1 : 0);
  t.l1 = __fsub_rn(src, static_cast<float>(t.i0));
  t.l0 = __fsub_rn(1.0f, t.l1);
  return t;
}

__device__ __forceinline__ float weight(const Tap& t, int64_t i) {
  return __fadd_rn(t.i0 == i ? t.l0 : 0.0f, t.i1 == i ? t.l1 : 0.0f);
}

__global__ void upsample_kernel(const float* x, float* y, Geo g, int64_t n) {
  for (int64_t e = global_thread(); e < n; e += global_stride()) {
    const int64_t ow = e % g.wo, oh = (e / g.wo) % g.ho, p = e / (g.wo * g.ho);
    const float* xp = x + p * g.h * g.w;
    if (!g.bilinear) {
      y[e] = xp[(oh / g.sh) * g.w + ow / g.sw];
      continue;
    }
    const Tap a = tap(oh, g.sh, g.h), b = tap(ow, g.sw, g.w);
    const float* x0 = xp + a.i0 * g.w;
    const float* x1 = xp + a.i1 * g.w;
    const float top = __fadd_rn(__fmul_rn(b.l0, x0[b.i0]), __fmul_rn(b.l1, x0[b.i1]));
    const float bottom = __fadd_rn(__fmul_rn(b.l0, x1[b.i0]), __fmul_rn(b.l1, x1[b.i1]));
    y[e] = __fadd_rn(__fmul_rn(a.l0, top), __fmul_rn(a.l1, bottom));
  }
}

__global__ void upsample_grad_kernel(const float* dy, float* dx, Geo g, bool acc, int64_t n) {
  for (int64_t e = global_thread(); e < n; e += global_stride()) {
    const int64_t j = e % g.w, i = (e / g.w) % g.h, p = e / (g.w * g.h);
    const float* dyp = dy + p * g.ho * g.wo;
    float s = 0.0f;
    if (!g.bilinear) {
      for (int64_t a = 0; a < g.sh; ++a)
        for (int64_t b = 0; b < g.sw; ++b) s = __fadd_rn(s, dyp[(i * g.sh + a) * g.wo + j * g.sw + b]);
    } else {
      const int64_t oh0 = max(int64_t{0}, (i - 2) * g.sh), oh1 = min(g.ho, (i + 2) * g.sh);
      const int64_t ow0 = max(int64_t{0}, (j - 2) * g.sw), ow1 = min(g.wo, (j + 2) * g.sw);
      for (int64_t oh = oh0; oh < oh1; ++oh) {
        const float wh = weight(tap(oh, g.sh, g.h), i);
        if (wh == 0.0f) continue;
        float row = 0.0f;
        for (int64_t ow = ow0; ow < ow1; ++ow) {
          const float ww = weight(tap(ow, g.sw, g.w), j);
          if (ww != 0.0f) row = __fadd_rn(row, __fmul_rn(ww, dyp[oh * g.wo + ow]));
        }
        s = __fadd_rn(s, __fmul_rn(wh, row));
      }
    }
    dx[e] = acc ? __fadd_rn(dx[e], s) : s;
  }
}

void upsample_forward(CudaContext& ctx, const OpCall& c) {
  const int64_t n = c.out[0].numel();
  if (n == 0) return;
  upsample_kernel<<<blocks_for(n), kThreads, 0, ctx.stream()>>>(c.in[0].f32(), c.out[0].f32(),
                                                                 geometry(c, c.in[0].type.shape), n);
  SL_CUDA_LAUNCH_CHECK();
}

void upsample_backward(CudaContext& ctx, const OpCall& c) {
  if (!grad_wanted(c, 0)) return;
  const bool acc = grad_accumulates(c, 0);
  if (!c.dy[0].present()) return zero_gradient(ctx, c.dx[0], acc);
  const int64_t n = c.dx[0].numel();
  if (n == 0) return;
  upsample_grad_kernel<<<blocks_for(n), kThreads, 0, ctx.stream()>>>(c.dy[0].f32(), c.dx[0].f32(),
                                                                      geometry(c, c.dx[0].type.shape), acc, n);
  SL_CUDA_LAUNCH_CHECK();
}

}  // namespace

void register_resize_kernels(KernelTable& t, CudaContext* ctx) {
  add_kernels(t, ctx, "upsample", upsample_forward, upsample_backward);
}

}  // namespace sublinear::runtime::cuda
