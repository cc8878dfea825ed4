// Fused attention on the CPU (ir/ops/attention_ops.cpp): y = softmax(q k^T * scale, causal mask) v
// per (batch, head), saving only y and each query row's log-sum-exp.
// Rules: the forward works on blocks of kBlock query rows (scores of the block by one GEMM into a
// per-thread buffer, masked softmax, a second GEMM with v), so nothing larger than kBlock x Tk exists.
// The backward recomputes each block's probabilities as exp(score - lse), writes the block's dq and
// accumulates the head's dk and dv in per-thread buffers over the blocks in order; heads run in
// parallel, so gradients are the same for any thread count. Two of dq, dk, dv may be one buffer
// (attention(x, x, x)): each is computed whole before it is stored, q first, and the later ones
// accumulate (the kernel contract).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "runtime/cpu/cpu_kernels.h"
#include "runtime/cpu/cpu_util.h"
#include "runtime/cpu/dnnl_util.h"
#include "runtime/cpu/vec_math.h"

namespace sublinear::runtime::cpu {

namespace {

struct Geometry {
  int64_t heads = 0;  // product of the leading axes (batch * heads)
  int64_t tq = 0, tk = 0, d = 0, dv = 0;
  float scale = 0;
  bool causal = false;
  // Keys query i attends to: [0, keys(i)).
  int64_t keys(int64_t i) const { return causal ? std::min(i + 1, tk) : tk; }
};

Geometry geometry(const OpCall& c) {
  const ir::Shape& q = c.in[0].type.shape;
  const size_t r = q.size();
  Geometry g;
  g.tq = q[r - 2];
  g.d = q[r - 1];
  g.tk = c.in[1].type.shape[r - 2];
  g.dv = c.in[2].type.shape[r - 1];
  g.heads = 1;
  for (size_t i = 0; i + 2 < r; ++i) g.heads *= q[i];
  const double s = c.node->attrs.get_float("scale");
  g.scale = static_cast<float>(s > 0 ? s : 1.0 / std::sqrt(static_cast<double>(g.d)));
  g.causal = c.node->attrs.get_bool("causal");
  return g;
}

float dot(const float* a, const float* b, int64_t n) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

// Query rows per block: the scores of one block (kBlock x Tk floats) are the largest scratch.
constexpr int64_t kBlock = 64;

// Keys the rows [i0, i1) of a block need (all keys, or up to the last row's position when causal).
int64_t block_keys(const Geometry& g, int64_t i1) { return g.causal ? std::min(i1, g.tk) : g.tk; }

// p = softmax-probabilities of one block's scores (rows [i0, i1), ld = keys), masked entries 0. With
// lse given they are exp(s - lse) (the backward); else the row statistics are computed and stored.
void block_probabilities(const Geometry& g, int64_t i0, int64_t i1, int64_t keys, float* p, float* lse_out,
                         const float* lse_in) {
  for (int64_t i = i0; i < i1; ++i) {
    float* pr = p + (i - i0) * keys;
    const int64_t n = g.keys(i);
    if (lse_in) {
      const float l = lse_in[i];
      for (int64_t j = 0; j < n; ++j) pr[j] = vec_exp(pr[j] - l);
    } else {
      float m = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j < n; ++j) m = std::max(m, pr[j]);
      // The exponentials in one loop (it vectorises), their sum in order in another.
      for (int64_t j = 0; j < n; ++j) pr[j] = vec_exp(pr[j] - m);
      float sum = 0.0f;
      for (int64_t j = 0; j < n; ++j) sum += pr[j];
      const float inv = 1.0f / sum;
      for (int64_t j = 0; j < n; ++j) pr[j] *= inv;
      lse_out[i] = m + std::log(sum);
    }
    std::fill(pr + n, pr + keys, 0.0f);
  }
}

// Heads run in parallel; within a head, query blocks go in order (the backward accumulates dk and dv
// over them), and the GEMMs inside run on the calling thread, so results do not depend on the thread
// count.
void attention_forward(const OpCall& c) {
  const Geometry g = geometry(c);
  const float* q = c.in[0].f32();
  const float* k = c.in[1].f32();
  const float* v = c.in[2].f32();
  float* y = c.out[0].f32();
  float* lse = c.out[1].f32();
  parallel_for(g.heads, kParallelWork, [&](int64_t h0, int64_t h1) {
    std::vector<float> p(static_cast<size_t>(kBlock * g.tk));
    for (int64_t h = h0; h < h1; ++h) {
      const float* kh = k + h * g.tk * g.d;
      const float* vh = v + h * g.tk * g.dv;
      for (int64_t i0 = 0; i0 < g.tq; i0 += kBlock) {
        const int64_t i1 = std::min(i0 + kBlock, g.tq), rows = i1 - i0, keys = block_keys(g, i1);
        float* yb = y + (h * g.tq + i0) * g.dv;
        if (keys == 0) {
          std::fill(yb, yb + rows * g.dv, 0.0f);
          continue;
        }
        sgemm(false, true, rows, keys, g.d, g.scale, q + (h * g.tq + i0) * g.d, g.d, kh, g.d, 0.0f, p.data(), keys);
        block_probabilities(g, i0, i1, keys, p.data(), lse + h * g.tq, nullptr);
        sgemm(false, false, rows, g.dv, keys, 1.0f, p.data(), keys, vh, g.dv, 0.0f, yb, g.dv);
      }
    }
  });
}

void store(float* dst, const float* src, int64_t n, bool acc) {
  if (acc) {
    for (int64_t e = 0; e < n; ++e) dst[e] += src[e];
  } else {
    std::copy(src, src + n, dst);
  }
}

void attention_backward(const OpCall& c) {
  const Geometry g = geometry(c);
  bool want[3], acc[3];
  for (size_t i = 0; i < 3; ++i) {
    want[i] = grad_wanted(c, i);
    acc[i] = grad_accumulates(c, i);
  }
  if (!c.dy[0].present()) {
    for (size_t i = 0; i < 3; ++i)
      if (want[i]) zero_gradient(c.dx[i], acc[i]);
    return;
  }
  const float* q = c.in[0].f32();
  const float* k = c.in[1].f32();
  const float* v = c.in[2].f32();
  const float* y = c.out[0].f32();
  const float* lse = c.out[1].f32();
  const float* dy = c.dy[0].f32();
  parallel_for(g.heads, kParallelWork, [&](int64_t h0, int64_t h1) {
    std::vector<float> p(static_cast<size_t>(kBlock * g.tk)), dp(static_cast<size_t>(kBlock * g.tk));
    std::vector<float> dq_blk(static_cast<size_t>(kBlock * g.d)), delta(static_cast<size_t>(kBlock));
    std::vector<float> dk_h(static_cast<size_t>(g.tk * g.d)), dv_h(static_cast<size_t>(g.tk * g.dv));
    for (int64_t h = h0; h < h1; ++h) {
      const float* kh = k + h * g.tk * g.d;
      const float* vh = v + h * g.tk * g.dv;
      std::fill(dk_h.begin(), dk_h.end(), 0.0f);
      std::fill(dv_h.begin(), dv_h.end(), 0.0f);
      for (int64_t i0 = 0; i0 < g.tq; i0 += kBlock) {
        const int64_t i1 = std::min(i0 + kBlock, g.tq), rows = i1 - i0, keys = block_keys(g, i1);
        const int64_t r0 = h * g.tq + i0;
        const float* qb = q + r0 * g.d;
        const float* dyb = dy + r0 * g.dv;
        if (keys == 0) {
          std::fill(dq_blk.begin(), dq_blk.begin() + rows * g.d, 0.0f);
        } else {
          for (int64_t i = 0; i < rows; ++i) delta[i] = dot(dyb + i * g.dv, y + (r0 + i) * g.dv, g.dv);
          sgemm(false, true, rows, keys, g.d, g.scale, qb, g.d, kh, g.d, 0.0f, p.data(), keys);
          block_probabilities(g, i0, i1, keys, p.data(), nullptr, lse + h * g.tq);
          // dv += p^T dy; dp = dy v^T; ds = p (dp - delta) * scale, written over dp.
          sgemm(true, false, keys, g.dv, rows, 1.0f, p.data(), keys, dyb, g.dv, 1.0f, dv_h.data(), g.dv);
          sgemm(false, true, rows, keys, g.dv, 1.0f, dyb, g.dv, vh, g.dv, 0.0f, dp.data(), keys);
          for (int64_t i = 0; i < rows; ++i) {
            float* dr = dp.data() + i * keys;
            const float* pr = p.data() + i * keys;
            for (int64_t j = 0; j < keys; ++j) dr[j] = pr[j] * (dr[j] - delta[i]) * g.scale;
          }
          sgemm(false, false, rows, g.d, keys, 1.0f, dp.data(), keys, kh, g.d, 0.0f, dq_blk.data(), g.d);
          sgemm(true, false, keys, g.d, rows, 1.0f, dp.data(), keys, qb, g.d, 1.0f, dk_h.data(), g.d);
        }
        if (want[0]) store(c.dx[0].f32() + r0 * g.d, dq_blk.data(), rows * g.d, acc[0]);
      }
      if (want[1]) store(c.dx[1].f32() + h * g.tk * g.d, dk_h.data(), g.tk * g.d, acc[1]);
      if (want[2]) store(c.dx[2].f32() + h * g.tk * g.dv, dv_h.data(), g.tk * g.dv, acc[2]);
    }
  });
}

}  // namespace

void register_attention_kernels(KernelTable& t) { t.add("attention", {attention_forward, attention_backward}); }

}  // namespace sublinear::runtime::cpu
