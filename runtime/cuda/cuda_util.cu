// Shared CUDA building blocks: fills, gradient stores, row copies, the deterministic reduction and the
// index maps (rules in cuda_util.h and cuda_device.cuh).
#include "runtime/cuda/cuda_util.h"

#include <cstring>

#include "runtime/cuda/cuda_device.cuh"
#include "runtime/kernel_geometry.h"

namespace sublinear::runtime::cuda {

namespace {

// Below this many summed elements per output one thread sums them; from here one block does, in a
// fixed tree. The choice depends on the shape only, so results stay deterministic.
constexpr int64_t kBlockReduceMin = 64;

template <typename T>
__global__ void fill_kernel(T* dst, int64_t n, T value) {
  for (int64_t i = global_thread(); i < n; i += global_stride()) dst[i] = value;
}

__global__ void store_gradient_kernel(float* dx, const float* src, int64_t n, bool accumulate) {
  for (int64_t i = global_thread(); i < n; i += global_stride()) dx[i] = accumulate ? dx[i] + src[i] : src[i];
}

template <typename T>
__global__ void copy_rows_kernel(T* dst, int64_t dst_stride, const T* src, int64_t src_stride, int64_t outer,
                                 int64_t row) {
  const int64_t n = outer * row;
  for (int64_t i = global_thread(); i < n; i += global_stride()) {
    const int64_t o = i / row, j = i - o * row;
    dst[o * dst_stride + j] = src[o * src_stride + j];
  }
}

// dy == nullptr: zeros.
__global__ void grad_rows_kernel(float* dx, int64_t dx_stride, const float* dy, int64_t dy_stride, int64_t outer,
                                 int64_t row, bool accumulate) {
  const int64_t n = outer * row;
  for (int64_t i = global_thread(); i < n; i += global_stride()) {
    const int64_t o = i / row, j = i - o * row;
    const float g = dy == nullptr ? 0.0f : dy[o * dy_stride + j];
    float* d = dx + o * dx_stride + j;
    *d = accumulate ? *d + g : g;
  }
}

// x's index space split into kept axes (the output's, row-major) and reduced axes (summed in row-major
// order); per axis the element strides of x and of the optional multiplier.
struct ReduceDesc {
  int kept_rank = 0, red_rank = 0;
  int64_t kdim[kMaxRank] = {}, kx[kMaxRank] = {}, km[kMaxRank] = {};
  int64_t rdim[kMaxRank] = {}, rx[kMaxRank] = {}, rm[kMaxRank] = {};
  int64_t M = 1, R = 1;
};

__device__ __forceinline__ void decompose(int64_t i, int rank, const int64_t* dims, const int64_t* s0,
                                          const int64_t* s1, int64_t* o0, int64_t* o1) {
  int64_t a = 0, b = 0;
  for (int k = rank - 1; k >= 0; --k) {
    const int64_t c = i % dims[k];
    i /= dims[k];
    a += c * s0[k];
    b += c * s1[k];
  }
  *o0 = a;
  *o1 = b;
}

template <bool Mult>
__device__ __forceinline__ double reduced_value(const float* x, const float* mult, const ReduceDesc& d, int64_t bx,
                                                int64_t bm, int64_t r) {
  int64_t ox, om;
  decompose(r, d.red_rank, d.rdim, d.rx, d.rm, &ox, &om);
  float v = x[bx + ox];
  if (Mult) v = __fmul_rn(v, mult[bm + om]);
  return static_cast<double>(v);
}

__device__ __forceinline__ void store_scaled(float* y, double s, double scale, bool accumulate) {
  const float v = static_cast<float>(s * scale);
  *y = accumulate ? *y + v : v;
}

template <bool Mult>
__global__ void reduce_thread_kernel(const float* x, const float* mult, float* y, ReduceDesc d, double scale,
                                     bool accumulate) {
  for (int64_t m = global_thread(); m < d.M; m += global_stride()) {
    int64_t bx, bm;
    decompose(m, d.kept_rank, d.kdim, d.kx, d.km, &bx, &bm);
    double s = 0.0;
    for (int64_t r = 0; r < d.R; ++r) s += reduced_value<Mult>(x, mult, d, bx, bm, r);
    store_scaled(y + m, s, scale, accumulate);
  }
}

template <bool Mult>
__global__ void reduce_block_kernel(const float* x, const float* mult, float* y, ReduceDesc d, double scale,
                                    bool accumulate) {
  for (int64_t m = blockIdx.x; m < d.M; m += gridDim.x) {
    int64_t bx, bm;
    decompose(m, d.kept_rank, d.kdim, d.kx, d.km, &bx, &bm);
    double s = 0.0;
    for (int64_t r = threadIdx.x; r < d.R; r += kThreads) s += reduced_value<Mult>(x, mult, d, bx, bm, r);
    s = block_sum(s);
    if (threadIdx.x == 0) store_scaled(y + m, s, scale, accumulate);
  }
}

// A plan's merged axes as an IndexMap, whose fixed-size arrays kernels take by value; `s1` empty for a
// single operand.
IndexMap index_map(const std::vector<int64_t>& dims, const std::vector<int64_t>& s0, const std::vector<int64_t>& s1,
                   const char* what) {
  SL_CHECK(dims.size() <= static_cast<size_t>(kMaxRank)) << what << " over more than " << kMaxRank << " axes";
  IndexMap m;
  m.rank = static_cast<int>(dims.size());
  for (size_t k = 0; k < dims.size(); ++k) {
    m.dims[k] = dims[k];
    m.stride[0][k] = s0[k];
    m.stride[1][k] = s1.empty() ? 0 : s1[k];
  }
  return m;
}

}  // namespace

IndexMap broadcast_map(const ir::Shape& out, const ir::Shape& a, const ir::Shape& b) {
  const BroadcastPlan p = make_broadcast_plan(out, a, b);
  return index_map(p.dims, p.a_strides, p.b_strides, "broadcast");
}

IndexMap transpose_map(const ir::Shape& in, const std::vector<int64_t>& perm) {
  const TransposePlan p = make_transpose_plan(in, perm);
  return index_map(p.dims, p.strides, {}, "transpose");
}

void fill_pattern(CudaContext& ctx, void* dst, int64_t n, uint32_t bits, int elem_bytes) {
  if (n <= 0) return;
  const unsigned blocks = blocks_for(n);
  switch (elem_bytes) {
    case 4: fill_kernel<<<blocks, kThreads, 0, ctx.stream()>>>(static_cast<uint32_t*>(dst), n, bits); break;
    case 2:
      fill_kernel<<<blocks, kThreads, 0, ctx.stream()>>>(static_cast<uint16_t*>(dst), n,
                                                         static_cast<uint16_t>(bits));
      break;
    case 1:
      fill_kernel<<<blocks, kThreads, 0, ctx.stream()>>>(static_cast<uint8_t*>(dst), n, static_cast<uint8_t>(bits));
      break;
    default: SL_CHECK(false) << "fill of " << elem_bytes << "-byte elements";
  }
  SL_CUDA_LAUNCH_CHECK();
}

void fill_f32(CudaContext& ctx, float* dst, float value, int64_t n) {
  uint32_t bits;
  static_assert(sizeof(bits) == sizeof(value));
  std::memcpy(&bits, &value, sizeof(bits));
  fill_pattern(ctx, dst, n, bits, 4);
}

void store_gradient(CudaContext& ctx, float* dx, const float* src, int64_t n, bool accumulate) {
  if (n <= 0 || (dx == src && !accumulate)) return;
  store_gradient_kernel<<<blocks_for(n), kThreads, 0, ctx.stream()>>>(dx, src, n, accumulate);
  SL_CUDA_LAUNCH_CHECK();
}

void zero_gradient(CudaContext& ctx, const Tensor& dx, bool accumulate) {
  if (!dx.present() || accumulate || dx.bytes() == 0) return;
  // +0.0f is all zero bits.
  SL_CUDA_CHECK(cudaMemsetAsync(dx.data, 0, static_cast<size_t>(dx.bytes()), ctx.stream()));
}

void copy_rows(CudaContext& ctx, void* dst, int64_t dst_stride, const void* src, int64_t src_stride, int64_t outer,
               int64_t row, int elem_bytes) {
  if (outer <= 0 || row <= 0) return;
  if (outer == 1 || (dst_stride == row && src_stride == row)) {
    SL_CUDA_CHECK(cudaMemcpyAsync(dst, src, static_cast<size_t>(outer * row * elem_bytes), cudaMemcpyDeviceToDevice,
                                  ctx.stream()));
    return;
  }
  const unsigned blocks = blocks_for(outer * row);
  switch (elem_bytes) {
    case 4:
      copy_rows_kernel<<<blocks, kThreads, 0, ctx.stream()>>>(static_cast<uint32_t*>(dst), dst_stride,
                                                              static_cast<const uint32_t*>(src), src_stride, outer,
                                                              row);
      break;
    case 2:
      copy_rows_kernel<<<blocks, kThreads, 0, ctx.stream()>>>(static_cast<uint16_t*>(dst), dst_stride,
                                                              static_cast<const uint16_t*>(src), src_stride, outer,
                                                              row);
      break;
    case 1:
      copy_rows_kernel<<<blocks, kThreads, 0, ctx.stream()>>>(static_cast<uint8_t*>(dst), dst_stride,
                                                              static_cast<const uint8_t*>(src), src_stride, outer,
                                                              row);
      break;
    default: SL_CHECK(false) << "copy of " << elem_bytes << "-byte elements";
  }
  SL_CUDA_LAUNCH_CHECK();
}

void grad_rows(CudaContext& ctx, float* dx, int64_t dx_stride, const float* dy, int64_t dy_stride, int64_t outer,
               int64_t row, bool accumulate) {
  if (outer <= 0 || row <= 0) return;
  if (dy == nullptr && accumulate) return;
  if (dy == dx && dx_stride == dy_stride && !accumulate) return;
  grad_rows_kernel<<<blocks_for(outer * row), kThreads, 0, ctx.stream()>>>(dx, dx_stride, dy, dy_stride, outer, row,
                                                                            accumulate);
  SL_CUDA_LAUNCH_CHECK();
}

void reduce_sum(CudaContext& ctx, const float* x, const ir::Shape& shape, const std::vector<char>& reduced, float* y,
                double scale, bool accumulate, const float* mult, const ir::Shape& mult_shape) {
  SL_CHECK(reduced.size() == shape.size()) << "reduce_sum: " << reduced.size() << " flags for "
                                           << ir::shape_str(shape);
  const auto xs = row_major_strides(shape);
  std::vector<int64_t> ms(shape.size(), 0);
  if (mult != nullptr) {
    const ir::Shape pm = padded(mult_shape, shape.size());
    const auto st = row_major_strides(pm);
    for (size_t k = 0; k < shape.size(); ++k) ms[k] = pm[k] == 1 ? 0 : st[k];
  }
  // Canonical form: extent-1 axes dropped, neighbours of the same kind merged where both operands stay
  // affine (x is dense, so only the multiplier can prevent it).
  ReduceDesc d;
  int prev = -1;  // 0 kept, 1 reduced: the kind of the last group
  for (size_t k = 0; k < shape.size(); ++k) {
    if (shape[k] == 1) continue;
    const int kind = reduced[k] ? 1 : 0;
    int& rank = kind ? d.red_rank : d.kept_rank;
    int64_t* dims = kind ? d.rdim : d.kdim;
    int64_t* sx = kind ? d.rx : d.kx;
    int64_t* sm = kind ? d.rm : d.km;
    if (prev == kind && rank > 0 && sm[rank - 1] == ms[k] * shape[k]) {
      dims[rank - 1] *= shape[k];
      sx[rank - 1] = xs[k];
      sm[rank - 1] = ms[k];
    } else {
      SL_CHECK(rank < kMaxRank) << "reduce_sum over more than " << kMaxRank << " axes";
      dims[rank] = shape[k];
      sx[rank] = xs[k];
      sm[rank] = ms[k];
      ++rank;
    }
    prev = kind;
  }
  for (int k = 0; k < d.kept_rank; ++k) d.M *= d.kdim[k];
  for (int k = 0; k < d.red_rank; ++k) d.R *= d.rdim[k];
  if (ir::num_elements(shape) == 0) return;
  cudaStream_t s = ctx.stream();
  const bool by_block = d.R >= kBlockReduceMin;
  if (mult != nullptr) {
    if (by_block) reduce_block_kernel<true><<<blocks_for(d.M, 1), kThreads, 0, s>>>(x, mult, y, d, scale, accumulate);
    else reduce_thread_kernel<true><<<blocks_for(d.M), kThreads, 0, s>>>(x, mult, y, d, scale, accumulate);
  } else {
    if (by_block) reduce_block_kernel<false><<<blocks_for(d.M, 1), kThreads, 0, s>>>(x, mult, y, d, scale, accumulate);
    else reduce_thread_kernel<false><<<blocks_for(d.M), kThreads, 0, s>>>(x, mult, y, d, scale, accumulate);
  }
  SL_CUDA_LAUNCH_CHECK();
}

}  // namespace sublinear::runtime::cuda
