#pragma once
// Tensor element types and shapes. Shapes are concrete: the batch dimension N is bound when a model is
// expanded (check/plan take --batch), which keeps every later pass free of symbolic arithmetic.
#include <cstdint>
#include <string>
#include <vector>

namespace sublinear::ir {

enum class DType { F32, I32, BF16, F16 };

int64_t dtype_size(DType t);
const char* dtype_name(DType t);          // "f32"
bool parse_dtype(const std::string& s, DType* out);

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& s);    // "[32, 64, 56, 56]"
int64_t num_elements(const Shape& s);     // 1 for a scalar []

// The largest tensor a model may declare or produce: 1 TiB. Beyond any accelerator or host today, and
// small enough that every sum the planner forms over a graph's tensors (at most a million nodes,
// frontend/expander.h) stays far inside int64.
inline constexpr int64_t kMaxTensorBytes = int64_t{1} << 40;

struct TensorType;
// Empty when `t` is a tensor the rest of sublinear can count: dimensions >= 0 and at most
// kMaxTensorBytes in all (computed without overflow); else why not, for a user error.
std::string size_problem(const TensorType& t);

struct TensorType {
  DType dtype = DType::F32;
  Shape shape;

  int64_t bytes() const { return num_elements(shape) * dtype_size(dtype); }
  int rank() const { return static_cast<int>(shape.size()); }
  std::string str() const;                // "f32[32, 64, 56, 56]"
  bool operator==(const TensorType& o) const { return dtype == o.dtype && shape == o.shape; }
};

}  // namespace sublinear::ir
