#pragma once
// Device-side helpers of the CUDA kernels (included by .cu files only): launch shapes, grid-stride
// loops, fixed-order block reductions and index maps for broadcasting and permuted copies.
// Rules: a block reduction combines the threads' values in one fixed tree, so its result depends only on
// the values (kernels using it launch exactly kThreads threads per block); index maps are built on the
// host from shapes alone.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "ir/check.h"
#include "ir/types.h"
#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/cuda_context.h"

namespace sublinear::runtime::cuda {

constexpr int kThreads = 256;
constexpr int kMaxRank = 8;
// Grid-stride loops cap the grid here: enough blocks to fill an H200 many times over.
constexpr int64_t kMaxBlocks = int64_t{1} << 16;

inline unsigned blocks_for(int64_t n, int threads = kThreads) {
  const int64_t b = (n + threads - 1) / threads;
  return static_cast<unsigned>(std::clamp<int64_t>(b, 1, kMaxBlocks));
}

__device__ __forceinline__ int64_t global_thread() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t global_stride() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

// Sum of one value per thread over a block of kThreads threads, in a fixed tree. Every thread gets the
// result; the block must call it uniformly.
template <typename T>
__device__ T block_sum(T v) {
  __shared__ T buf[kThreads];
  const int t = threadIdx.x;
  buf[t] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (t < s) buf[t] = buf[t] + buf[t + s];
    __syncthreads();
  }
  const T r = buf[0];
  __syncthreads();  // buf is reused by the next call
  return r;
}

// Maximum over the block (exact, so the tree order does not matter for finite values).
__device__ __forceinline__ float block_max(float v) {
  __shared__ float buf[kThreads];
  const int t = threadIdx.x;
  buf[t] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (t < s) buf[t] = buf[t + s] > buf[t] ? buf[t + s] : buf[t];
    __syncthreads();
  }
  const float r = buf[0];
  __syncthreads();
  return r;
}

// Records a data error for the host to throw (DeviceError's rules): the slot belongs to the first node
// that reports (kernels of one stream run in order), and among that node's reports the smallest position
// wins, as on the CPU, however its threads are scheduled.
__device__ __forceinline__ void report_error(DeviceError* e, int code, int node, long long value, long long position,
                                             long long limit) {
  const unsigned long long tag = (static_cast<unsigned long long>(static_cast<unsigned>(code)) << 32) |
                                 static_cast<unsigned>(node);
  const unsigned long long owner = atomicCAS(&e->tag, 0ull, tag);
  if (owner != 0ull && owner != tag) return;  // an earlier node's error stands
  e->limit = limit;                           // the same for every report of this node
  const unsigned long long pos = position < 0xffffffffll ? static_cast<unsigned long long>(position) : 0xffffffffull;
  atomicMax(&e->first, ~((pos << 32) | static_cast<unsigned>(static_cast<int>(value))));
}

// A row-major index space of `rank` axes and, for up to two operands, each one's element stride along
// every axis (0 where it is broadcast). Passed to kernels by value.
struct IndexMap {
  int rank = 0;
  int64_t dims[kMaxRank] = {};
  int64_t stride[2][kMaxRank] = {};
};

// Offsets of the operands at flat index i of the index space.
__device__ __forceinline__ void map_offsets(const IndexMap& m, int64_t i, int64_t* o0, int64_t* o1) {
  int64_t a = 0, b = 0;
  for (int k = m.rank - 1; k >= 0; --k) {
    const int64_t d = m.dims[k];
    const int64_t c = i % d;
    i /= d;
    a += c * m.stride[0][k];
    b += c * m.stride[1][k];
  }
  *o0 = a;
  *o1 = b;
}

// Broadcasting `a` and `b` (right-aligned, numpy rules) to `out`: extent-1 output axes dropped,
// neighbours merged where both operands stay affine. Defined in cuda_util.cu.
IndexMap broadcast_map(const ir::Shape& out, const ir::Shape& a, const ir::Shape& b);
// y = transpose(x, perm) over y's index space: operand 0 is x.
IndexMap transpose_map(const ir::Shape& in, const std::vector<int64_t>& perm);

}  // namespace sublinear::runtime::cuda
