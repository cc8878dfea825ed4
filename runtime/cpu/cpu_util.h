#pragma once
// Shared loops of the hand-written CPU kernels: static OpenMP partitioning, numpy broadcasting
// iteration, deterministic sum reductions and the gradient store every backward repeats.
// Rules: every result element is produced by one thread, in an order fixed by the shapes alone, so
// results are bitwise the same for any thread count and any buffer address. Nothing here keeps memory
// between calls. Inner loops take their steps as compile-time constants so that they vectorise.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "ir/types.h"
#include "runtime/kernel.h"
#include "runtime/kernel_geometry.h"

namespace sublinear::runtime::cpu {

// Below this many element operations a loop stays on the calling thread: forking costs more.
inline constexpr int64_t kParallelWork = int64_t{1} << 15;

// f(begin, end) over [0, n), in at most one contiguous chunk per thread. `work_per_item` estimates the
// cost of one item so that small loops run serially. Callers must make each item's result independent
// of the chunking (it always is when items write disjoint outputs).
template <typename F>
void parallel_for(int64_t n, int64_t work_per_item, const F& f) {
  if (n <= 0) return;
  const int64_t threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const int64_t chunks = std::min(n, threads);
  if (chunks <= 1 || n * std::max<int64_t>(work_per_item, 1) < kParallelWork) {
    f(int64_t{0}, n);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) f(n * c / chunks, n * (c + 1) / chunks);
}

using Step0 = std::integral_constant<int64_t, 0>;
using Step1 = std::integral_constant<int64_t, 1>;

// f(out_offset, a_offset, b_offset, n, a_step, b_step) for each run of n consecutive output elements of
// a BroadcastPlan (runtime/kernel_geometry.h); the steps are Step0 or Step1. Runs are split among
// threads; each run is visited exactly once.
template <typename F>
void for_each_broadcast_run(const BroadcastPlan& p, const F& f) {
  const int64_t inner = p.inner(), rows = p.rows();
  const size_t outer_axes = p.dims.empty() ? 0 : p.dims.size() - 1;
  const int64_t sa = p.dims.empty() ? 0 : p.a_strides.back();
  const int64_t sb = p.dims.empty() ? 0 : p.b_strides.back();
  auto run = [&](auto a_step, auto b_step) {
    parallel_for(rows, inner, [&](int64_t r0, int64_t r1) {
      // Offsets of row r0 by decomposition, then an odometer for the rows after it.
      std::vector<int64_t> idx(outer_axes);
      int64_t ao = 0, bo = 0, rem = r0;
      for (size_t k = outer_axes; k-- > 0;) {
        idx[k] = rem % p.dims[k];
        rem /= p.dims[k];
        ao += idx[k] * p.a_strides[k];
        bo += idx[k] * p.b_strides[k];
      }
      for (int64_t r = r0; r < r1; ++r) {
        f(r * inner, ao, bo, inner, a_step, b_step);
        for (size_t k = outer_axes; k-- > 0;) {
          ao += p.a_strides[k];
          bo += p.b_strides[k];
          if (++idx[k] < p.dims[k]) break;
          ao -= idx[k] * p.a_strides[k];
          bo -= idx[k] * p.b_strides[k];
          idx[k] = 0;
        }
      }
    });
  };
  if (sa == 1 && sb == 1) run(Step1{}, Step1{});
  else if (sa == 1) run(Step1{}, Step0{});
  else if (sb == 1) run(Step0{}, Step1{});
  else run(Step0{}, Step0{});
}

// y = scale * (sum of x over the axes flagged in `reduced`), y dense over the kept axes in order (the
// layout is the same with or without keepdims); with `accumulate`, y += that instead. Each element
// sums in double, in row-major order of the reduced axes (split at fixed boundaries when that order
// is contiguous, then the partial sums in order). y must not overlap x.
void reduce_sum(const float* x, const ir::Shape& shape, const std::vector<char>& reduced, float* y,
                double scale, bool accumulate);

// dx = src, or dx += src when accumulating; src == dx without accumulation is a no-op. Element-wise,
// so dx may be the very buffer src is.
void store_gradient(float* dx, const float* src, int64_t n, bool accumulate);
// The gradient of an input whose dy is absent: zeros, or left alone when accumulating.
void zero_gradient(const Tensor& dx, bool accumulate);
void fill_f32(float* dst, float value, int64_t n);

}  // namespace sublinear::runtime::cpu
