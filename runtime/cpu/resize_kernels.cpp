// upsample on the CPU: nearest and bilinear by integer factors (PyTorch's rules: nearest takes input
// pixel floor(o / s); bilinear samples at (o + 0.5) / s - 0.5, clamped at 0, between the two nearest
// input pixels, the second clamped at the edge).
// Rules: the backward is a gather, never a scatter: each input pixel sums the gradients of the output
// pixels that read it, in output order, so any split over threads gives the same bits and dx may not
// overlap dy (upsample has no in-place option). All arithmetic in f32, as PyTorch's CPU kernel.
#include <algorithm>
#include <vector>

#include "runtime/cpu/cpu_kernels.h"
#include "runtime/cpu/cpu_util.h"

namespace sublinear::runtime::cpu {

namespace {

struct Geometry {
  int64_t planes, h, w, sh, sw, ho, wo;
  bool bilinear;
};

Geometry geometry(const OpCall& c, const ir::Shape& x) {
  const auto& s = c.node->attrs.get_int_list("scale");
  Geometry g;
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

// The two input indices an output index reads and their weights (bilinear, one axis).
struct Tap {
  int64_t i0, i1;
  float l0, l1;
};

Tap tap(int64_t o, int64_t s, int64_t n) {
  float src = (static_cast<float>(o) + 0.5f) * (1.0f / static_cast<float>(s)) - 0.5f;
  if (src < 0.0f) src = 0.0f;
  Tap t;
  t.i0 = static_cast<int64_t>(src);
  t.i1 = t.i0 + (t.i0 < n - 1 ? 1 : 0);
  t.l1 = src - static_cast<float>(t.i0);
  t.l0 = 1.0f - t.l1;
  return t;
}

// Weight with which output index o reads input index i along one axis.
float weight(const Tap& t, int64_t i) { return (t.i0 == i ? t.l0 : 0.0f) + (t.i1 == i ? t.l1 : 0.0f); }

std::vector<Tap> taps(int64_t out, int64_t s, int64_t n) {
  std::vector<Tap> v(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) v[static_cast<size_t>(o)] = tap(o, s, n);
  return v;
}

void upsample_forward(const OpCall& c) {
  const Geometry g = geometry(c, c.in[0].type.shape);
  const float* x = c.in[0].f32();
  float* y = c.out[0].f32();
  const std::vector<Tap> th = taps(g.ho, g.sh, g.h), tw = taps(g.wo, g.sw, g.w);
  parallel_for(g.planes * g.ho, g.wo * (g.bilinear ? 8 : 1), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t p = r / g.ho, oh = r % g.ho;
      const float* xp = x + p * g.h * g.w;
      float* yr = y + r * g.wo;
      if (!g.bilinear) {
        const float* xr = xp + (oh / g.sh) * g.w;
        for (int64_t ow = 0; ow < g.wo; ++ow) yr[ow] = xr[ow / g.sw];
        continue;
      }
      const Tap& a = th[static_cast<size_t>(oh)];
      const float* x0 = xp + a.i0 * g.w;
      const float* x1 = xp + a.i1 * g.w;
      for (int64_t ow = 0; ow < g.wo; ++ow) {
        const Tap& b = tw[static_cast<size_t>(ow)];
        yr[ow] = a.l0 * (b.l0 * x0[b.i0] + b.l1 * x0[b.i1]) + a.l1 * (b.l0 * x1[b.i0] + b.l1 * x1[b.i1]);
      }
    }
  });
}

void upsample_backward(const OpCall& c) {
  if (!grad_wanted(c, 0)) return;
  const bool acc = grad_accumulates(c, 0);
  if (!c.dy[0].present()) return zero_gradient(c.dx[0], acc);
  const Geometry g = geometry(c, c.dx[0].type.shape);
  const float* dy = c.dy[0].f32();
  float* dx = c.dx[0].f32();
  const std::vector<Tap> th = taps(g.ho, g.sh, g.h), tw = taps(g.wo, g.sw, g.w);
  parallel_for(g.planes * g.h, g.w * g.sh * g.sw * (g.bilinear ? 9 : 1), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t p = r / g.h, i = r % g.h;
      const float* dyp = dy + p * g.ho * g.wo;
      float* dxr = dx + r * g.w;
      for (int64_t j = 0; j < g.w; ++j) {
        float s = 0.0f;
        if (!g.bilinear) {
          for (int64_t a = 0; a < g.sh; ++a)
            for (int64_t b = 0; b < g.sw; ++b) s += dyp[(i * g.sh + a) * g.wo + j * g.sw + b];
        } else {
          // Output rows and columns that can read input (i, j): a superset, weighted by 0 where not.
          const int64_t oh0 = std::max<int64_t>(0, (i - 2) * g.sh), oh1 = std::min(g.ho, (i + 2) * g.sh);
          const int64_t ow0 = std::max<int64_t>(0, (j - 2) * g.sw), ow1 = std::min(g.wo, (j + 2) * g.sw);
          for (int64_t oh = oh0; oh < oh1; ++oh) {
            const float wh = weight(th[static_cast<size_t>(oh)], i);
            if (wh == 0.0f) continue;
            float row = 0.0f;
            for (int64_t ow = ow0; ow < ow1; ++ow) {
              const float ww = weight(tw[static_cast<size_t>(ow)], j);
              if (ww != 0.0f) row += ww * dyp[oh * g.wo + ow];
            }
            s += wh * row;
          }
        }
        dxr[j] = acc ? dxr[j] + s : s;
      }
    }
  });
}

}  // namespace

void register_resize_kernels(KernelTable& t) { t.add("upsample", {upsample_forward, upsample_backward}); }

}  // namespace sublinear::runtime::cpu
