#pragma once
// Shared pieces of the CUDA tests: device buffers whose copies go through the default context's stream
// (so they are ordered with the kernels under test), and element-wise comparison with a stated
// tolerance. Every test starts with
//   std::string why;
//   if (!runtime::cuda::cuda_device_usable(&why)) GTEST_SKIP() << "no usable CUDA device: " << why;
// so the suite passes, skipped, on machines without a GPU.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/cuda_context.h"
#include "runtime/cuda/cuda_optimizer.h"
#include "runtime/cuda/cuda_program.h"

namespace sublinear::testing {

inline runtime::cuda::CudaContext& gpu() { return runtime::cuda::default_cuda_context(); }

// A device allocation of at least 4 bytes; copies are queued on gpu()'s stream and waited for.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes) : bytes_(bytes) {
    SL_CUDA_CHECK(cudaMalloc(&p_, std::max<size_t>(bytes, 4)));
  }
  ~DeviceBuffer() { cudaFree(p_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* get() const { return p_; }
  float* f32() const { return static_cast<float*>(p_); }
  size_t bytes() const { return bytes_; }

  void upload(const void* host) {
    if (bytes_ == 0) return;
    SL_CUDA_CHECK(cudaMemcpyAsync(p_, host, bytes_, cudaMemcpyHostToDevice, gpu().stream()));
    SL_CUDA_CHECK(cudaStreamSynchronize(gpu().stream()));
  }
  // Every 32-bit word set to `bits` (a NaN pattern shows a kernel reading what it should only write).
  void fill_words(uint32_t bits) {
    std::vector<uint32_t> h((bytes_ + 3) / 4, bits);
    SL_CUDA_CHECK(cudaMemcpyAsync(p_, h.data(), bytes_, cudaMemcpyHostToDevice, gpu().stream()));
    SL_CUDA_CHECK(cudaStreamSynchronize(gpu().stream()));
  }
  // The contents as floats (rounded up to whole words), after everything queued so far.
  std::vector<float> download() const {
    std::vector<float> h((bytes_ + 3) / 4, 0.0f);
    SL_CUDA_CHECK(cudaStreamSynchronize(gpu().stream()));
    if (bytes_ > 0) {
      SL_CUDA_CHECK(cudaMemcpyAsync(h.data(), p_, bytes_, cudaMemcpyDeviceToHost, gpu().stream()));
      SL_CUDA_CHECK(cudaStreamSynchronize(gpu().stream()));
    }
    return h;
  }

 private:
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

constexpr uint32_t kNanBits = 0x7fc00000u;

// |gpu - cpu| <= atol + rtol * |cpu| per element, atol scaled by the largest |cpu| (at least 1), so a
// GEMM's absolute rounding is judged against its magnitude; NaN must meet NaN. rtol = atol = 0 is a
// bitwise comparison (up to the sign of zero).
struct Tolerance {
  double rtol = 0, atol = 0;
};

inline void expect_close(const std::string& what, const float* gpu_v, const float* cpu_v, int64_t n, Tolerance t) {
  double scale = 1.0;
  for (int64_t i = 0; i < n; ++i)
    if (std::isfinite(cpu_v[i])) scale = std::max(scale, static_cast<double>(std::fabs(cpu_v[i])));
  int64_t bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double g = gpu_v[i], c = cpu_v[i];
    const bool ok = (std::isnan(g) && std::isnan(c)) || std::fabs(g - c) <= t.atol * scale + t.rtol * std::fabs(c);
    if (!ok && ++bad <= 5)
      ADD_FAILURE() << what << ": element " << i << " is " << g << " on the GPU, " << c << " on the CPU (difference "
                    << g - c << ", tolerance rtol " << t.rtol << " atol " << t.atol << " x " << scale << ")";
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << n << " elements differ";
}

inline bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  // memcmp's pointers must not be null, even for no bytes: an empty vector's data() may be.
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

}  // namespace sublinear::testing
