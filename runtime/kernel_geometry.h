#pragma once
// Host-side geometry both backends must agree on: how the CPU kernels (runtime/cpu) and the CUDA
// kernels (runtime/cuda) cut shapes and attributes into axes, blocks, windows and GEMM dimensions, so
// a CUDA kernel's indexing matches the CPU's. One copy here, so the two cannot drift apart.
// Rules: pure functions of shapes and attributes, run on the host; no device code, no OpenMP, no CUDA
// headers, and C++17 only, since the .cu files include it through nvcc.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "ir/types.h"
#include "runtime/kernel.h"

namespace sublinear::runtime {

// --- shapes ----------------------------------------------------------------------------------------------

// `s` right-aligned to `rank` axes (numpy style): leading axes of extent 1.
ir::Shape padded(const ir::Shape& s, size_t rank);
std::vector<int64_t> row_major_strides(const ir::Shape& s);

// --- broadcasting ----------------------------------------------------------------------------------------

// out = f(a, b) with numpy broadcasting, as runs along the merged innermost axis. Axes of extent 1 are
// dropped and neighbours merged where both operands stay affine, so a bias add over [N, C, H, W] with
// [C, 1, 1] becomes runs of H*W with b's step 0.
struct BroadcastPlan {
  std::vector<int64_t> dims;                  // merged output axes, outermost first
  std::vector<int64_t> a_strides, b_strides;  // element strides per merged axis, 0 where broadcast
  int64_t inner() const { return dims.empty() ? 1 : dims.back(); }
  int64_t rows() const;
};

BroadcastPlan make_broadcast_plan(const ir::Shape& out, const ir::Shape& a, const ir::Shape& b);

// The axes of `out` along which `in` (right-aligned, numpy style) was broadcast: the axes its gradient
// must be summed over.
std::vector<char> broadcast_axes(const ir::Shape& out, const ir::Shape& in);

// --- transpose -------------------------------------------------------------------------------------------

// out = x with axes permuted, described over the output's axes with extent-1 axes dropped and
// neighbours merged where the permutation keeps them adjacent in x.
struct TransposePlan {
  std::vector<int64_t> dims;     // merged output axes
  std::vector<int64_t> strides;  // input element stride per merged output axis
};

TransposePlan make_transpose_plan(const ir::Shape& in, const std::vector<int64_t>& perm);

// --- concat, stack, split, slice, select -----------------------------------------------------------------

// The big tensor as [outer, total, inner] and piece i as [outer, extent[i], inner].
struct Pieces {
  int64_t outer = 1, inner = 1, total = 0;
  std::vector<int64_t> extent, start;
};

// Joining ops: concat along an existing axis, stack along a new one (every piece of extent 1).
Pieces join_pieces(const OpCall& c, const std::vector<Tensor>& parts);
Pieces split_pieces(const OpCall& c);

// x as [outer, dim, inner] and the taken indices begin, begin + step, ... below end of the middle axis.
struct Range {
  int64_t outer, dim, inner, begin, end, step = 1;
  int64_t count() const { return (end - begin - 1) / step + 1; }
};

// slice and select; a range outside the axis fails an SL_CHECK.
Range taken_range(const OpCall& c);

// --- softmax, mean, sum ----------------------------------------------------------------------------------

// x as [outer, classes, inner] around the softmax axis.
struct AxisView {
  int64_t outer = 1, classes = 1, inner = 1;
};

AxisView axis_view(const ir::Shape& s, int64_t axis_attr);

// The flags of the reduced axes and how many elements each output sums.
std::vector<char> reduced_axes(const OpCall& c, const ir::Shape& x, int64_t* count);
// x with the reduced axes kept as 1: the layout of the reduction's output.
ir::Shape kept_shape(const ir::Shape& x, const std::vector<char>& reduced);

// --- pooling ---------------------------------------------------------------------------------------------

// x [N, C, H, W] as planes of h x w, y as planes of ho x wo; the window fields are set only when
// `windowed` (max_pool and avg_pool, not global_avg_pool).
struct PoolGeometry {
  int64_t planes, h, w, ho, wo, kh, kw, sh, sw, ph, pw;
};

// x's shape comes from dx when x is absent.
PoolGeometry pool_geometry(const OpCall& c, bool windowed);

// --- linear, matmul --------------------------------------------------------------------------------------

// x viewed as [rows, in]; W [units, in].
struct LinearDims {
  int64_t rows, in, units;
};

LinearDims linear_dims(const OpCall& c);

// a [batch..., M, K] (stored [batch..., K, M] with transpose_a); b [K, N] (or [N, K]) shared by every
// batch entry when it has rank 2, else one per batch entry; y [batch..., M, N].
struct MatmulDims {
  int64_t batch, m, k, n;
  bool ta, tb, shared_b;
  int64_t a_size() const { return m * k; }
  int64_t b_size() const { return k * n; }
  int64_t y_size() const { return m * n; }
  int64_t lda() const { return ta ? m : k; }  // row length of a as stored
  int64_t ldb() const { return tb ? k : n; }
  // Batch entries stack into batch * M contiguous rows of a and y: one GEMM covers them all.
  bool folds_batch() const { return shared_b && !ta; }
};

MatmulDims matmul_dims(const OpCall& c);

// --- dropout ---------------------------------------------------------------------------------------------

// The mask is dropout_keep(seed, iteration, node, offset + index, rate) (runtime/counter_rng.h) and kept
// elements are multiplied by scale, so both backends drop and scale the same elements bit for bit. offset
// is OpCall::shard times the tensor's size (0 outside data-parallel runs).
struct DropoutKey {
  uint64_t seed, iteration, node;
  float rate, scale;
  uint64_t offset;
};

DropoutKey dropout_key(const OpCall& c);

}  // namespace sublinear::runtime
