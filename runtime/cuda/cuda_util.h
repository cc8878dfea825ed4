#pragma once
// Host-callable building blocks shared by the CUDA kernels: fills, gradient stores, strided row copies
// and the deterministic sum reduction, all enqueued on the context's stream. Plain C++ (host code of
// any file may call them); the device code lives in cuda_util.cu.
// Rules (the same as runtime/cpu/cpu_util.h, so both backends agree):
// - Every output element is produced by one thread in an order fixed by the shapes alone: results are
//   bitwise the same for any buffer address (and the GPU has no thread-count knob to change them).
// - Sums run in double and are rounded to f32 once, scaled as float(sum * scale).
// - A gradient store either overwrites or adds (accumulate); an absent dy stores zeros or leaves an
//   accumulated gradient alone.
#include <cstdint>
#include <vector>

#include "ir/types.h"
#include "runtime/cuda/cuda_context.h"
#include "runtime/kernel.h"

namespace sublinear::runtime::cuda {

// `n` elements of `elem_bytes` (1, 2 or 4) bytes, each set to the low bytes of `bits`.
void fill_pattern(CudaContext& ctx, void* dst, int64_t n, uint32_t bits, int elem_bytes);
void fill_f32(CudaContext& ctx, float* dst, float value, int64_t n);

// dx = src or dx += src, element-wise (dx may be src: then a plain store is a no-op).
void store_gradient(CudaContext& ctx, float* dx, const float* src, int64_t n, bool accumulate);
// The gradient of an input whose dy is absent: zeros, or left alone when accumulating.
void zero_gradient(CudaContext& ctx, const Tensor& dx, bool accumulate);

// For o in [0, outer): `row` elements of `elem_bytes` bytes from src + o * src_stride to
// dst + o * dst_stride (strides in elements). Any dtype: elements are moved as bit patterns.
void copy_rows(CudaContext& ctx, void* dst, int64_t dst_stride, const void* src, int64_t src_stride, int64_t outer,
               int64_t row, int elem_bytes);
// The gradient form, in floats: dx rows = dy rows, += when accumulating, zeros for a null dy (nothing
// when also accumulating). dx == dy without accumulation is a no-op.
void grad_rows(CudaContext& ctx, float* dx, int64_t dx_stride, const float* dy, int64_t dy_stride, int64_t outer,
               int64_t row, bool accumulate);

// y (+)= float(scale * sum of x over the axes flagged in `reduced`), y dense over the kept axes in order.
// With `mult` (shape `mult_shape`, broadcast against `shape`), the sum is of x * mult per element (in
// f32, as the CPU computes the product before summing). y must not overlap x or mult.
void reduce_sum(CudaContext& ctx, const float* x, const ir::Shape& shape, const std::vector<char>& reduced, float* y,
                double scale, bool accumulate, const float* mult = nullptr, const ir::Shape& mult_shape = {});

}  // namespace sublinear::runtime::cuda
