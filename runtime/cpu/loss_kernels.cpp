// softmax, softmax_cross_entropy, mean, sum and accuracy on the CPU.
// Rules: softmax and the cross-entropy subtract the maximum before exponentiating and sum in double,
// one row per thread, so nothing overflows and results do not depend on the thread count; the loss of
// a batch adds the per-row losses in row order. Labels are checked before any is used: one outside
// [0, C) throws std::runtime_error naming the op, the label and the range (a data error, not a bug).
// The probabilities output of softmax_cross_entropy is hidden and never receives a gradient.
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>

#include <vector>

#include "ir/check.h"
#include "runtime/cpu/cpu_kernels.h"
#include "runtime/cpu/cpu_util.h"
#include "runtime/cpu/vec_math.h"
#include "runtime/cpu/vector_clones.h"
#include "runtime/kernel_geometry.h"

namespace sublinear::runtime::cpu {

namespace {

// Columns of the [outer, C, inner] view one softmax task handles together.
constexpr int64_t kSoftmaxBlock = 64;

// f(o, i0, len) per task of up to kSoftmaxBlock neighbouring columns of one outer index.
template <typename F>
void for_each_column_block(const AxisView& v, const F& f) {
  const int64_t blocks = (v.inner + kSoftmaxBlock - 1) / kSoftmaxBlock;
  parallel_for(v.outer * blocks, v.classes * std::min(v.inner, kSoftmaxBlock) * 8, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t i0 = (t % blocks) * kSoftmaxBlock;
      f(t / blocks, i0, std::min(kSoftmaxBlock, v.inner - i0));
    }
  });
}

void softmax_forward(const OpCall& c) {
  const AxisView v = axis_view(c.in[0].type.shape, c.node->attrs.get_int("axis"));
  const float* x = c.in[0].f32();
  float* y = c.out[0].f32();
  for_each_column_block(v, [&](int64_t o, int64_t i0, int64_t len) {
    const int64_t base = o * v.classes * v.inner + i0;
    float mx[kSoftmaxBlock];
    double sum[kSoftmaxBlock];
    std::copy(x + base, x + base + len, mx);
    for (int64_t k = 1; k < v.classes; ++k) {
      const float* row = x + base + k * v.inner;
      for (int64_t i = 0; i < len; ++i) mx[i] = row[i] > mx[i] ? row[i] : mx[i];
    }
    std::fill(sum, sum + len, 0.0);
    for (int64_t k = 0; k < v.classes; ++k) {
      const float* row = x + base + k * v.inner;
      float* out = y + base + k * v.inner;
      for (int64_t i = 0; i < len; ++i) {
        out[i] = vec_exp(row[i] - mx[i]);
        sum[i] += out[i];
      }
    }
    for (int64_t k = 0; k < v.classes; ++k) {
      float* out = y + base + k * v.inner;
      for (int64_t i = 0; i < len; ++i) out[i] = static_cast<float>(out[i] / sum[i]);
    }
  });
}

// dx = y * (dy - sum_k dy_k y_k) along the axis; reads y only.
void softmax_backward(const OpCall& c) {
  if (!grad_wanted(c, 0)) return;
  const bool acc = grad_accumulates(c, 0);
  if (!c.dy[0].present()) {
    zero_gradient(c.dx[0], acc);
    return;
  }
  const AxisView v = axis_view(c.out[0].type.shape, c.node->attrs.get_int("axis"));
  const float* y = c.out[0].f32();
  const float* g = c.dy[0].f32();
  float* dx = c.dx[0].f32();
  for_each_column_block(v, [&](int64_t o, int64_t i0, int64_t len) {
    const int64_t base = o * v.classes * v.inner + i0;
    double dot[kSoftmaxBlock];
    std::fill(dot, dot + len, 0.0);
    for (int64_t k = 0; k < v.classes; ++k) {
      const int64_t off = base + k * v.inner;
      for (int64_t i = 0; i < len; ++i) dot[i] += static_cast<double>(g[off + i]) * y[off + i];
    }
    for (int64_t k = 0; k < v.classes; ++k) {
      const int64_t off = base + k * v.inner;
      for (int64_t i = 0; i < len; ++i) {
        const float d = y[off + i] * static_cast<float>(g[off + i] - dot[i]);
        dx[off + i] = acc ? dx[off + i] + d : d;
      }
    }
  });
}

// --- softmax_cross_entropy, accuracy -------------------------------------------------------------------

// Serial, before any parallel loop: an exception must not leave an OpenMP region.
void check_labels(const OpCall& c, const Tensor& labels, int64_t classes) {
  const int32_t* l = labels.i32();
  const int64_t n = labels.numel();
  for (int64_t r = 0; r < n; ++r) {
    if (l[r] >= 0 && l[r] < classes) continue;
    std::string msg = c.node->op;
    msg += " (";
    msg += c.node->name;
    msg += "): label ";
    msg += std::to_string(l[r]);
    msg += " at position ";
    msg += std::to_string(r);
    msg += " is out of range [0, ";
    msg += std::to_string(classes);
    msg += ")";
    throw std::runtime_error(msg);
  }
}

int64_t class_count(const Tensor& logits) { return logits.type.shape.back(); }

// One row of softmax for the cross-entropy: pr = softmax(xr); returns log(sum exp(xr - max)) + max. The
// max and the sum run over kLanes fixed lanes (lane j takes classes j, j + kLanes, ...; the lanes are then
// added in order), so they vectorise at every width with the same result (vector_clones.h).
SL_VECTOR_CLONES double softmax_row(const float* xr, float* pr, int64_t C) {
  constexpr int64_t kLanes = 16;
  float lane_max[kLanes];
  for (int64_t j = 0; j < kLanes; ++j) lane_max[j] = xr[0];
  int64_t k = 0;
  for (; k + kLanes <= C; k += kLanes)
    for (int64_t j = 0; j < kLanes; ++j) lane_max[j] = xr[k + j] > lane_max[j] ? xr[k + j] : lane_max[j];
  float mx = lane_max[0];
  for (int64_t j = 1; j < kLanes; ++j) mx = lane_max[j] > mx ? lane_max[j] : mx;
  for (; k < C; ++k) mx = xr[k] > mx ? xr[k] : mx;
  for (k = 0; k < C; ++k) pr[k] = vec_exp(xr[k] - mx);
  double lane_sum[kLanes] = {};
  for (k = 0; k + kLanes <= C; k += kLanes)
    for (int64_t j = 0; j < kLanes; ++j) lane_sum[j] += pr[k + j];
  double sum = 0.0;
  for (int64_t j = 0; j < kLanes; ++j) sum += lane_sum[j];
  for (; k < C; ++k) sum += pr[k];
  for (k = 0; k < C; ++k) pr[k] = static_cast<float>(pr[k] / sum);
  return std::log(sum) + static_cast<double>(mx);
}

void xent_forward(const OpCall& c) {
  const Tensor &logits = c.in[0], &labels = c.in[1];
  const int64_t C = class_count(logits), rows = labels.numel();
  check_labels(c, labels, C);
  const std::string& reduction = c.node->attrs.get_string("reduction");
  const float* x = logits.f32();
  const int32_t* l = labels.i32();
  float* probs = c.out[1].f32();
  auto row_loss = std::make_unique<double[]>(static_cast<size_t>(rows));
  parallel_for(rows, C * 8, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * C;
      // -log softmax(x)[label] = log(sum exp(x - max)) + max - x[label]
      row_loss[static_cast<size_t>(r)] = softmax_row(xr, probs + r * C, C) - xr[l[r]];
    }
  });
  float* loss = c.out[0].f32();
  if (reduction == "none") {
    for (int64_t r = 0; r < rows; ++r) loss[r] = static_cast<float>(row_loss[static_cast<size_t>(r)]);
    return;
  }
  double total = 0.0;
  for (int64_t r = 0; r < rows; ++r) total += row_loss[static_cast<size_t>(r)];
  loss[0] = static_cast<float>(reduction == "mean" ? total / static_cast<double>(rows) : total);
}

// dlogits = g_row * (probs - onehot(label)), g_row from dy and the reduction. Reads logits and labels:
// each row's probabilities are computed again with softmax_row, the forward's bits.
void xent_backward(const OpCall& c) {
  if (!grad_wanted(c, 0)) return;
  const bool acc = grad_accumulates(c, 0);
  const Tensor& dy = c.dy[0];
  if (!dy.present()) {
    zero_gradient(c.dx[0], acc);
    return;
  }
  const Tensor &logits = c.in[0], &labels = c.in[1];
  const int64_t C = class_count(logits), rows = labels.numel();
  check_labels(c, labels, C);
  const std::string& reduction = c.node->attrs.get_string("reduction");
  const bool per_row = reduction == "none";
  const float shared = reduction == "mean"
                           ? static_cast<float>(static_cast<double>(dy.f32()[0]) / static_cast<double>(rows))
                           : dy.f32()[0];
  const int32_t* l = labels.i32();
  const float* x = logits.f32();
  const float* g = dy.f32();
  float* dx = c.dx[0].f32();
  parallel_for(rows, C * 8, [&](int64_t r0, int64_t r1) {
    thread_local std::vector<float> row;
    if (row.size() < static_cast<size_t>(C)) row.resize(static_cast<size_t>(C));
    float* pr = row.data();
    for (int64_t r = r0; r < r1; ++r) {
      const float gr = per_row ? g[r] : shared;
      softmax_row(x + r * C, pr, C);
      float* d = dx + r * C;
      for (int64_t k = 0; k < C; ++k) {
        const float v = gr * (pr[k] - (k == l[r] ? 1.0f : 0.0f));
        d[k] = acc ? d[k] + v : v;
      }
    }
  });
}

// Ties go to the first index, as argmax conventionally does.
void accuracy_forward(const OpCall& c) {
  const Tensor &logits = c.in[0], &labels = c.in[1];
  const int64_t C = class_count(logits), rows = labels.numel();
  check_labels(c, labels, C);
  const float* x = logits.f32();
  const int32_t* l = labels.i32();
  auto hit = std::make_unique<char[]>(static_cast<size_t>(rows));
  parallel_for(rows, C, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * C;
      int64_t best = 0;
      for (int64_t k = 1; k < C; ++k)
        if (xr[k] > xr[best]) best = k;
      hit[static_cast<size_t>(r)] = best == l[r];
    }
  });
  int64_t hits = 0;
  for (int64_t r = 0; r < rows; ++r) hits += hit[static_cast<size_t>(r)];
  c.out[0].f32()[0] = static_cast<float>(static_cast<double>(hits) / static_cast<double>(rows));
}

// --- mean, sum ---------------------------------------------------------------------------------------

template <bool Mean>
void reduce_forward(const OpCall& c) {
  const ir::Shape& x = c.in[0].type.shape;
  int64_t count = 1;
  const std::vector<char> flags = reduced_axes(c, x, &count);
  reduce_sum(c.in[0].f32(), x, flags, c.out[0].f32(), Mean ? 1.0 / static_cast<double>(count) : 1.0, false);
}

// dx = dy broadcast back over the reduced axes (times 1/count for mean); reads nothing of the forward.
template <bool Mean>
void reduce_backward(const OpCall& c) {
  if (!grad_wanted(c, 0)) return;
  const bool acc = grad_accumulates(c, 0);
  if (!c.dy[0].present()) {
    zero_gradient(c.dx[0], acc);
    return;
  }
  const ir::Shape& x = c.dx[0].type.shape;
  int64_t count = 1;
  const std::vector<char> flags = reduced_axes(c, x, &count);
  const ir::Shape kept = kept_shape(x, flags);  // laid out as dy
  const float s = Mean ? static_cast<float>(1.0 / static_cast<double>(count)) : 1.0f;
  const float* g = c.dy[0].f32();
  float* dx = c.dx[0].f32();
  for_each_broadcast_run(make_broadcast_plan(x, kept, kept),
                         [&](int64_t o, int64_t ig, int64_t, int64_t n, auto sg, auto) {
                           for (int64_t j = 0; j < n; ++j) {
                             const float v = Mean ? g[ig + j * sg] * s : g[ig + j * sg];
                             dx[o + j] = acc ? dx[o + j] + v : v;
                           }
                         });
}

}  // namespace

void register_loss_kernels(KernelTable& t) {
  t.add("softmax", {softmax_forward, softmax_backward});
  t.add("softmax_cross_entropy", {xent_forward, xent_backward});
  t.add("mean", {reduce_forward<true>, reduce_backward<true>});
  t.add("sum", {reduce_forward<false>, reduce_backward<false>});
  t.add("accuracy", {accuracy_forward, nullptr});
}

}  // namespace sublinear::runtime::cpu
