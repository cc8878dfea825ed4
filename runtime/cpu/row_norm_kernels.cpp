// layer_norm and rms_norm on the CPU: each row (the trailing axes from `axis` on, d elements) is
// normalised on its own.
// Rules: row statistics are sums in double in element order, so they depend on the row alone; the
// forward saves them (mean and 1/sqrt(var + eps), or 1/sqrt(mean square + eps)) for the backward, which
// recomputes x-hat from x instead of keeping it. gamma's and beta's gradients sum over rows in row
// order per column (columns split among threads), so they are the same for any thread count. dx may be
// dy's buffer: the parameter gradients are taken first, and each row reads its dy before writing dx.
#include <cmath>
#include <vector>

#include "runtime/cpu/cpu_kernels.h"
#include "runtime/cpu/cpu_util.h"

namespace sublinear::runtime::cpu {

namespace {

struct Rows {
  int64_t rows = 0, d = 0;
  float eps = 0;
  bool affine = false;
};

Rows rows_of(const OpCall& c) {
  const ir::Shape& s = c.in[0].type.shape;
  int64_t axis = c.node->attrs.get_int("axis");
  if (axis < 0) axis += static_cast<int64_t>(s.size());
  Rows r;
  r.rows = 1;
  r.d = 1;
  for (size_t i = 0; i < s.size(); ++i) (static_cast<int64_t>(i) < axis ? r.rows : r.d) *= s[i];
  r.eps = static_cast<float>(c.node->attrs.get_float("eps"));
  r.affine = c.node->attrs.get_bool("affine");
  return r;
}

template <bool Centred>
void row_norm_forward(const OpCall& c) {
  const Rows g = rows_of(c);
  const float* x = c.in[0].f32();
  const float* gamma = g.affine ? c.in[1].f32() : nullptr;
  const float* beta = g.affine && Centred ? c.in[2].f32() : nullptr;
  float* y = c.out[0].f32();
  float* mean_out = Centred ? c.out[1].f32() : nullptr;
  float* rstd_out = c.out[Centred ? 2 : 1].f32();
  const int64_t d = g.d;
  parallel_for(g.rows, 4 * d, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * d;
      float* yr = y + r * d;
      float mean = 0;
      double sq = 0;
      if constexpr (Centred) {
        double s = 0;
        for (int64_t j = 0; j < d; ++j) s += xr[j];
        mean = static_cast<float>(s / static_cast<double>(d));
        for (int64_t j = 0; j < d; ++j) {
          const double t = static_cast<double>(xr[j]) - mean;
          sq += t * t;
        }
        mean_out[r] = mean;
      } else {
        for (int64_t j = 0; j < d; ++j) sq += static_cast<double>(xr[j]) * xr[j];
      }
      const float rstd = static_cast<float>(1.0 / std::sqrt(sq / static_cast<double>(d) + g.eps));
      rstd_out[r] = rstd;
      if (gamma && beta) {
        for (int64_t j = 0; j < d; ++j) yr[j] = (xr[j] - mean) * rstd * gamma[j] + beta[j];
      } else if (gamma) {
        for (int64_t j = 0; j < d; ++j) yr[j] = (xr[j] - mean) * rstd * gamma[j];
      } else {
        for (int64_t j = 0; j < d; ++j) yr[j] = (xr[j] - mean) * rstd;
      }
    }
  });
}

template <bool Centred>
void row_norm_backward(const OpCall& c) {
  const Rows g = rows_of(c);
  const size_t n_params = g.affine ? (Centred ? 2 : 1) : 0;
  if (!c.dy[0].present()) {
    for (size_t i = 0; i <= n_params; ++i)
      if (grad_wanted(c, i)) zero_gradient(c.dx[i], grad_accumulates(c, i));
    return;
  }
  const int64_t d = g.d, rows = g.rows;
  const float* x = c.in[0].f32();
  const float* gamma = g.affine ? c.in[1].f32() : nullptr;
  const float* mean = Centred ? c.out[1].f32() : nullptr;
  const float* rstd = c.out[Centred ? 2 : 1].f32();
  const float* dy = c.dy[0].f32();
  auto xhat = [&](int64_t r, int64_t j) { return (x[r * d + j] - (Centred ? mean[r] : 0.0f)) * rstd[r]; };

  // gamma and beta first: dx may overwrite dy.
  const bool want_gamma = g.affine && grad_wanted(c, 1);
  const bool want_beta = g.affine && Centred && grad_wanted(c, 2);
  if (want_gamma || want_beta) {
    float* dgamma = want_gamma ? c.dx[1].f32() : nullptr;
    float* dbeta = want_beta ? c.dx[2].f32() : nullptr;
    const bool acc_gamma = want_gamma && grad_accumulates(c, 1);
    const bool acc_beta = want_beta && grad_accumulates(c, 2);
    parallel_for(d, 2 * rows, [&](int64_t j0, int64_t j1) {
      std::vector<double> sg(static_cast<size_t>(j1 - j0), 0.0), sb(static_cast<size_t>(j1 - j0), 0.0);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = j0; j < j1; ++j) {
          const float gy = dy[r * d + j];
          sg[static_cast<size_t>(j - j0)] += static_cast<double>(gy) * xhat(r, j);
          sb[static_cast<size_t>(j - j0)] += gy;
        }
      for (int64_t j = j0; j < j1; ++j) {
        const size_t k = static_cast<size_t>(j - j0);
        if (dgamma) dgamma[j] = static_cast<float>(acc_gamma ? dgamma[j] + sg[k] : sg[k]);
        if (dbeta) dbeta[j] = static_cast<float>(acc_beta ? dbeta[j] + sb[k] : sb[k]);
      }
    });
  }

  if (!grad_wanted(c, 0)) return;
  const bool acc = grad_accumulates(c, 0);
  float* dx = c.dx[0].f32();
  parallel_for(rows, 6 * d, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* dyr = dy + r * d;
      double s1 = 0, s2 = 0;  // sums of g and g * x-hat, g = dy * gamma
      for (int64_t j = 0; j < d; ++j) {
        const float gj = gamma ? dyr[j] * gamma[j] : dyr[j];
        s1 += gj;
        s2 += static_cast<double>(gj) * xhat(r, j);
      }
      const float m1 = Centred ? static_cast<float>(s1 / static_cast<double>(d)) : 0.0f;
      const float m2 = static_cast<float>(s2 / static_cast<double>(d));
      float* dxr = dx + r * d;
      for (int64_t j = 0; j < d; ++j) {
        const float gj = gamma ? dyr[j] * gamma[j] : dyr[j];
        const float v = rstd[r] * (gj - m1 - xhat(r, j) * m2);
        dxr[j] = acc ? dxr[j] + v : v;
      }
    }
  });
}

}  // namespace

void register_row_norm_kernels(KernelTable& t) {
  t.add("layer_norm", {row_norm_forward<true>, row_norm_backward<true>});
  t.add("rms_norm", {row_norm_forward<false>, row_norm_backward<false>});
}

}  // namespace sublinear::runtime::cpu
