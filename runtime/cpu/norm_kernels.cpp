// batch_norm over x [N, C, ...] (or any channel axis but the batch's: x as [n, c, s] around it) with
// per-channel statistics, following cuDNN's outputs: y, the batch
// mean and the inverse standard deviation 1/sqrt(var + eps) of the biased batch variance.
// Rules: hand-written OpenMP loops, parallel over channels only; each channel's reductions run
// in double in a fixed order (element j of each (n, c) row into lane j % 8 of eight partial sums, the
// lanes then added in order: independent chains the compiler vectorises, where one running sum was
// bound by the latency of each addition), so results do not depend on the thread count or on buffer
// addresses. Train updates the running statistics (running_var with the unbiased variance,
// as PyTorch); Recompute computes exactly what Train computes but leaves them alone; Eval normalises
// with them. batch_norm_relu (ir/fusion.h) is the same kernel with relu's expressions applied as y is
// written (x < 0 ? 0 : x) and as dy is read (y > 0 ? dy : 0), so it is bitwise the two ops in sequence.
#include <cmath>
#include <vector>

#include "runtime/cpu/cpu_kernels.h"
#include "runtime/cpu/dnnl_util.h"

namespace sublinear::runtime::cpu {

namespace {

struct Layout {
  int64_t n, c, s;  // x viewed as [n, c, s]
  int64_t count() const { return n * s; }
  int64_t at(int64_t i, int64_t ch) const { return (i * c + ch) * s; }  // start of one (n, c) row
};

constexpr int64_t kLanes = 8;

// relu's backward (runtime/cpu/activation_kernels.cpp), on values already loaded.
inline float relu_grad(float y, float dy) { return y > 0.0f ? dy : 0.0f; }

// Eight partial sums in double; add(j, v) puts element j of a row in lane j % 8.
struct LaneSum {
  double lane[kLanes] = {};
  // Adds f(j) for j in [0, s) of one row.
  template <typename F>
  void add_row(int64_t s, F f) {
    int64_t j = 0;
    for (; j + kLanes <= s; j += kLanes)
      for (int64_t k = 0; k < kLanes; ++k) lane[k] += f(j + k);
    for (; j < s; ++j) lane[j % kLanes] += f(j);
  }
  double total() const {
    double t = 0;
    for (int64_t k = 0; k < kLanes; ++k) t += lane[k];
    return t;
  }
};

// The axes before the channel axis (attribute `axis`) are n, those after it s.
Layout layout(const OpCall& call) {
  const Tensor& x = call.in[0];
  int64_t axis = call.node->attrs.get_int("axis");
  if (axis < 0) axis += x.rank();
  Layout l{1, x.dim(static_cast<int>(axis)), 1};
  for (int d = 0; d < axis; ++d) l.n *= x.dim(d);
  for (int d = static_cast<int>(axis) + 1; d < x.rank(); ++d) l.s *= x.dim(d);
  return l;
}

template <bool Relu>
void batch_norm_forward(const OpCall& call) {
  const Layout l = layout(call);
  const float* x = call.in[0].f32();
  const float* gamma = call.in[1].f32();
  const float* beta = call.in[2].f32();
  float* running_mean = call.in[3].f32();
  float* running_var = call.in[4].f32();
  float* y = call.out[0].f32();
  float* save_mean = call.out.size() > 1 ? call.out[1].f32() : nullptr;
  float* save_invstd = call.out.size() > 2 ? call.out[2].f32() : nullptr;
  const double eps = call.node->attrs.get_float("eps");
  const double momentum = call.node->attrs.get_float("momentum");
  const bool batch_stats = call.mode != Mode::Eval;
  const bool update = call.mode == Mode::Train;
  const int64_t count = l.count();

#pragma omp parallel for schedule(static) if (3 * l.n * l.c * l.s >= kParallelWork)
  for (int64_t ch = 0; ch < l.c; ++ch) {
    double mean, var;
    if (batch_stats) {
      LaneSum sum;
      for (int64_t i = 0; i < l.n; ++i) {
        const float* row = x + l.at(i, ch);
        sum.add_row(l.s, [row](int64_t j) { return static_cast<double>(row[j]); });
      }
      mean = count > 0 ? sum.total() / static_cast<double>(count) : 0.0;
      // Two passes: sum of squares minus squared mean cancels badly for inputs far from zero.
      LaneSum sq;
      for (int64_t i = 0; i < l.n; ++i) {
        const float* row = x + l.at(i, ch);
        sq.add_row(l.s, [row, mean](int64_t j) {
          const double d = row[j] - mean;
          return d * d;
        });
      }
      var = count > 0 ? sq.total() / static_cast<double>(count) : 0.0;
    } else {
      mean = running_mean[ch];
      var = running_var[ch];
    }
    const double invstd = 1.0 / std::sqrt(var + eps);
    if (save_mean) save_mean[ch] = static_cast<float>(mean);
    if (save_invstd) save_invstd[ch] = static_cast<float>(invstd);
    const float scale = static_cast<float>(gamma[ch] * invstd);
    const float shift = static_cast<float>(beta[ch] - mean * gamma[ch] * invstd);
    for (int64_t i = 0; i < l.n; ++i) {
      const float* xr = x + l.at(i, ch);
      float* yr = y + l.at(i, ch);
      if constexpr (Relu) {
        for (int64_t j = 0; j < l.s; ++j) {
          const float v = xr[j] * scale + shift;
          yr[j] = v < 0.0f ? 0.0f : v;
        }
      } else {
        for (int64_t j = 0; j < l.s; ++j) yr[j] = xr[j] * scale + shift;
      }
    }
    if (update) {
      // A single value per channel has no unbiased variance; fall back to the biased one (0).
      const double unbiased =
          count > 1 ? var * static_cast<double>(count) / static_cast<double>(count - 1) : var;
      running_mean[ch] = static_cast<float>((1.0 - momentum) * running_mean[ch] + momentum * mean);
      running_var[ch] = static_cast<float>((1.0 - momentum) * running_var[ch] + momentum * unbiased);
    }
  }
}

// Gradients through the batch statistics (training-mode forward):
//   xhat = (x - mean) * invstd, dbeta = sum dy, dgamma = sum dy * xhat,
//   dx = gamma * invstd * (dy - dbeta / count - xhat * dgamma / count).
template <bool Relu>
void batch_norm_backward(const OpCall& call) {
  const Layout l = layout(call);
  const bool want_x = grad_wanted(call, 0), want_g = grad_wanted(call, 1), want_b = grad_wanted(call, 2);
  const bool acc_x = grad_accumulates(call, 0), acc_g = grad_accumulates(call, 1), acc_b = grad_accumulates(call, 2);
  if (!call.dy[0].present()) {
    for (size_t i = 0; i < call.dx.size(); ++i) store_zero(call.dx[i], grad_accumulates(call, i));
    return;
  }
  const float* x = call.in[0].f32();
  const float* gamma = call.in[1].f32();
  const float* save_mean = call.out[1].f32();
  const float* save_invstd = call.out[2].f32();
  const float* dy = call.dy[0].f32();
  const float* y = Relu ? call.out[0].f32() : nullptr;
  float* dx = want_x ? call.dx[0].f32() : nullptr;
  float* dgamma = want_g ? call.dx[1].f32() : nullptr;
  float* dbeta = want_b ? call.dx[2].f32() : nullptr;
  const double count = static_cast<double>(l.count());
  // With relu, a channel's dy is first masked into a per-thread buffer (relu's own backward, one simple
  // loop), which the batch-norm loops below then read, from cache, exactly as they read dy unfused: the
  // same vectorised code and the same bits.
  thread_local std::vector<float> masked;

#pragma omp parallel for schedule(static) if (3 * l.n * l.c * l.s >= kParallelWork)
  for (int64_t ch = 0; ch < l.c; ++ch) {
    const double mean = save_mean[ch], invstd = save_invstd[ch];
    if constexpr (Relu) {
      if (masked.size() < static_cast<size_t>(l.count())) masked.resize(static_cast<size_t>(l.count()));
      for (int64_t i = 0; i < l.n; ++i) {
        const float* yr = y + l.at(i, ch);
        const float* dyr = dy + l.at(i, ch);
        float* m = masked.data() + i * l.s;
        for (int64_t j = 0; j < l.s; ++j) m[j] = relu_grad(yr[j], dyr[j]);
      }
    }
    auto dy_row = [&](int64_t i) -> const float* {
      if constexpr (Relu) return masked.data() + i * l.s;
      return dy + l.at(i, ch);
    };
    LaneSum dy_lanes, dy_xhat_lanes;
    for (int64_t i = 0; i < l.n; ++i) {
      const float* xr = x + l.at(i, ch);
      const float* dyr = dy_row(i);
      dy_lanes.add_row(l.s, [dyr](int64_t j) { return static_cast<double>(dyr[j]); });
      dy_xhat_lanes.add_row(l.s, [=](int64_t j) { return dyr[j] * ((xr[j] - mean) * invstd); });
    }
    const double sum_dy = dy_lanes.total(), sum_dy_xhat = dy_xhat_lanes.total();
    if (dgamma) dgamma[ch] = static_cast<float>(sum_dy_xhat + (acc_g ? dgamma[ch] : 0.0));
    if (dbeta) dbeta[ch] = static_cast<float>(sum_dy + (acc_b ? dbeta[ch] : 0.0));
    if (!dx) continue;
    // dx = k * (dy - mean_dy - xhat * mean_dy_xhat) folded into a * dy + b * x + c per channel.
    const double k = gamma[ch] * invstd;
    const double mean_dy = count > 0 ? sum_dy / count : 0.0;
    const double mean_dy_xhat = count > 0 ? sum_dy_xhat / count : 0.0;
    const float a = static_cast<float>(k);
    const float b = static_cast<float>(-k * mean_dy_xhat * invstd);
    const float c = static_cast<float>(k * (mean_dy_xhat * invstd * mean - mean_dy));
    for (int64_t i = 0; i < l.n; ++i) {
      const float* xr = x + l.at(i, ch);
      const float* dyr = dy_row(i);
      float* dxr = dx + l.at(i, ch);
      if (acc_x) {
        for (int64_t j = 0; j < l.s; ++j) dxr[j] += a * dyr[j] + b * xr[j] + c;
      } else {
        for (int64_t j = 0; j < l.s; ++j) dxr[j] = a * dyr[j] + b * xr[j] + c;
      }
    }
  }
}

}  // namespace

void register_norm_kernels(KernelTable& t) {
  t.add("batch_norm", {batch_norm_forward<false>, batch_norm_backward<false>});
  t.add("batch_norm_relu", {batch_norm_forward<true>, batch_norm_backward<true>});
}

}  // namespace sublinear::runtime::cpu
