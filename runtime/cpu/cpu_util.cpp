// Deterministic reductions and gradient stores for the CPU kernels (see cpu_util.h for the rules).
#include "runtime/cpu/cpu_util.h"

#include <memory>

#include "ir/check.h"

namespace sublinear::runtime::cpu {

namespace {

// Elements of the reduced index space summed by one task when the reduced axes end the layout. Fixed,
// so the partial sums (and thus the rounding) depend on the shape only, never on the thread count.
constexpr int64_t kReduceChunk = int64_t{1} << 14;
// Output elements one task owns when kept axes end the layout: a contiguous, vectorisable row.
constexpr int64_t kReduceBlock = 256;

struct Group {
  int64_t size;
  int64_t stride;  // in x, filled once all groups are known
  bool reduced;
};

// Offset in x of position `m` of the row-major index space spanned by `groups`.
int64_t offset_of(int64_t m, const std::vector<Group>& groups) {
  int64_t off = 0;
  for (size_t k = groups.size(); k-- > 0;) {
    off += (m % groups[k].size) * groups[k].stride;
    m /= groups[k].size;
  }
  return off;
}

void store_scaled(float* y, double v, double scale, bool accumulate) {
  const float s = static_cast<float>(v * scale);
  *y = accumulate ? *y + s : s;
}

// Kept axes end the layout: each task sums a row of up to kReduceBlock outputs over every reduced
// position in row-major order.
void reduce_inner_kept(const float* x, const std::vector<Group>& kept_outer, int64_t inner,
                       const std::vector<Group>& red, int64_t R, float* y, double scale, bool accumulate) {
  int64_t mo_count = 1;
  for (const auto& g : kept_outer) mo_count *= g.size;
  const int64_t blocks = (inner + kReduceBlock - 1) / kReduceBlock;
  parallel_for(mo_count * blocks, R * std::min(inner, kReduceBlock), [&](int64_t t0, int64_t t1) {
    double acc[kReduceBlock];
    std::vector<int64_t> idx(red.size());
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t mo = t / blocks, i0 = (t % blocks) * kReduceBlock;
      const int64_t len = std::min(kReduceBlock, inner - i0);
      const float* base = x + offset_of(mo, kept_outer) + i0;
      std::fill(acc, acc + len, 0.0);
      std::fill(idx.begin(), idx.end(), 0);
      int64_t off = 0;
      for (int64_t r = 0; r < R; ++r) {
        const float* p = base + off;
        for (int64_t i = 0; i < len; ++i) acc[i] += p[i];
        for (size_t k = red.size(); k-- > 0;) {
          off += red[k].stride;
          if (++idx[k] < red[k].size) break;
          off -= idx[k] * red[k].stride;
          idx[k] = 0;
        }
      }
      float* out = y + mo * inner + i0;
      for (int64_t i = 0; i < len; ++i) store_scaled(out + i, acc[i], scale, accumulate);
    }
  });
}

// Reduced axes end the layout: each output's reduced positions form contiguous runs of `run` elements;
// the index space is cut into chunks of kReduceChunk positions, summed in parallel, then in order.
void reduce_inner_reduced(const float* x, const std::vector<Group>& kept, const std::vector<Group>& red_outer,
                          int64_t run, int64_t R, float* y, double scale, bool accumulate) {
  int64_t M = 1;
  for (const auto& g : kept) M *= g.size;
  const int64_t chunks = (R + kReduceChunk - 1) / kReduceChunk;
  auto partial = std::make_unique<double[]>(static_cast<size_t>(M * chunks));
  parallel_for(M * chunks, std::min(R, kReduceChunk), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t m = t / chunks, c = t % chunks;
      const float* base = x + offset_of(m, kept);
      int64_t r = c * kReduceChunk;
      const int64_t r_end = std::min(R, r + kReduceChunk);
      double s = 0.0;
      while (r < r_end) {
        const int64_t j = r % run, n = std::min(run - j, r_end - r);
        const float* p = base + offset_of(r / run, red_outer) + j;
        for (int64_t i = 0; i < n; ++i) s += p[i];
        r += n;
      }
      partial[static_cast<size_t>(t)] = s;
    }
  });
  parallel_for(M, chunks, [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m) {
      double s = 0.0;
      for (int64_t c = 0; c < chunks; ++c) s += partial[static_cast<size_t>(m * chunks + c)];
      store_scaled(y + m, s, scale, accumulate);
    }
  });
}

}  // namespace

void reduce_sum(const float* x, const ir::Shape& shape, const std::vector<char>& reduced, float* y,
                double scale, bool accumulate) {
  SL_CHECK(reduced.size() == shape.size()) << "reduce_sum: " << reduced.size() << " flags for "
                                           << ir::shape_str(shape);
  // Canonical form: extent-1 axes dropped, neighbours of the same kind merged (x is dense, so any two
  // neighbours merge).
  std::vector<Group> groups;
  for (size_t k = 0; k < shape.size(); ++k) {
    if (shape[k] == 1) continue;
    const bool r = reduced[k] != 0;
    if (!groups.empty() && groups.back().reduced == r) groups.back().size *= shape[k];
    else groups.push_back({shape[k], 0, r});
  }
  int64_t stride = 1;
  for (size_t k = groups.size(); k-- > 0;) {
    groups[k].stride = stride;
    stride *= groups[k].size;
  }
  const int64_t n = stride;
  int64_t R = 1;
  std::vector<Group> kept, red;
  for (const auto& g : groups) {
    (g.reduced ? red : kept).push_back(g);
    if (g.reduced) R *= g.size;
  }
  if (R == 1) {
    parallel_for(n, 1, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) store_scaled(y + i, x[i], scale, accumulate);
    });
    return;
  }
  if (!groups.back().reduced) {
    const int64_t inner = kept.back().size;
    kept.pop_back();
    reduce_inner_kept(x, kept, inner, red, R, y, scale, accumulate);
  } else {
    const int64_t run = red.back().size;
    red.pop_back();
    reduce_inner_reduced(x, kept, red, run, R, y, scale, accumulate);
  }
}

void store_gradient(float* dx, const float* src, int64_t n, bool accumulate) {
  if (dx == src && !accumulate) return;
  parallel_for(n, 1, [&](int64_t i0, int64_t i1) {
    if (accumulate) {
      for (int64_t i = i0; i < i1; ++i) dx[i] += src[i];
    } else {
      for (int64_t i = i0; i < i1; ++i) dx[i] = src[i];
    }
  });
}

void fill_f32(float* dst, float value, int64_t n) {
  parallel_for(n, 1, [&](int64_t i0, int64_t i1) { std::fill(dst + i0, dst + i1, value); });
}

void zero_gradient(const Tensor& dx, bool accumulate) {
  if (!dx.present() || accumulate) return;
  fill_f32(dx.f32(), 0.0f, dx.numel());
}

}  // namespace sublinear::runtime::cpu
