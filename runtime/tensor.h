#pragma once
// A typed view of memory the runtime owns: a slice of the feature-map arena at a planned offset, a
// persistent parameter/gradient/optimizer buffer, or an input batch. Views never own memory. On the CPU
// backend `data` is a host pointer; on the CUDA backend it is a device pointer.
#include <cstdint>

#include "ir/types.h"

namespace sublinear::runtime {

struct Tensor {
  void* data = nullptr;  // null: absent (a value the step does not read, or a zero gradient)
  ir::TensorType type;

  bool present() const { return data != nullptr; }
  int64_t numel() const { return ir::num_elements(type.shape); }
  int64_t bytes() const { return type.bytes(); }
  int rank() const { return type.rank(); }
  int64_t dim(int i) const { return type.shape[static_cast<size_t>(i)]; }
  float* f32() const { return static_cast<float*>(data); }
  int32_t* i32() const { return static_cast<int32_t*>(data); }
};

}  // namespace sublinear::runtime
