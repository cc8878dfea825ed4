#pragma once
// cuDNN's legacy descriptors take tensors of fewer than 2^31 elements (cudnnSetTensor4dDescriptor returns
// CUDNN_STATUS_NOT_SUPPORTED above), while sqrt and log plans fit batches on a 141 GB device whose
// activations are larger than that. Such a convolution runs as several along the batch axis, as PyTorch
// does: chunks of `chunk` examples (the last one smaller), each of whose tensors stays below the limit.
// Plain C++ (no CUDA headers), so the split is tested on machines without a GPU.
#include <cstdint>
#include <stdexcept>
#include <string>

namespace sublinear::runtime::cuda {

struct BatchSplit {
  int64_t chunk = 0;  // examples per call (the last call takes the rest)
  int64_t count = 0;  // calls
  int64_t size(int64_t i, int64_t n) const { return i + 1 < count ? chunk : n - chunk * (count - 1); }
};

inline constexpr int64_t kCudnnTensorLimit = INT32_MAX;  // elements of one 4-D descriptor, at most

// `per_example`: the most elements one example has in any tensor of the call (x or y). One example
// above the limit cannot be split this way: a user error naming the sizes.
inline BatchSplit split_batch(int64_t n, int64_t per_example, int64_t limit = kCudnnTensorLimit) {
  if (n <= 0 || per_example <= 0) return {n, n > 0 ? 1 : 0};
  if (per_example > limit)
    throw std::runtime_error("a convolution's tensor has " + std::to_string(per_example) +
                             " elements per example, more than cuDNN's " + std::to_string(limit) +
                             " per tensor; splitting the batch cannot help (make the layer smaller)");
  const int64_t chunk = n <= limit / per_example ? n : limit / per_example;
  return {chunk, (n + chunk - 1) / chunk};
}

}  // namespace sublinear::runtime::cuda
