#include "ir/types.h"

namespace sublinear::ir {

int64_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::I32: return 4;
    case DType::BF16: return 2;
    case DType::F16: return 2;
  }
  return 4;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::I32: return "i32";
    case DType::BF16: return "bf16";
    case DType::F16: return "f16";
  }
  return "?";
}

bool parse_dtype(const std::string& s, DType* out) {
  if (s == "f32") *out = DType::F32;
  else if (s == "i32") *out = DType::I32;
  else if (s == "bf16") *out = DType::BF16;
  else if (s == "f16") *out = DType::F16;
  else return false;
  return true;
}

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

int64_t num_elements(const Shape& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

std::string size_problem(const TensorType& t) {
  int64_t n = 1;
  bool overflow = false;
  for (int64_t d : t.shape) {
    if (d < 0) return t.str() + " has a negative dimension";
    overflow = overflow || __builtin_mul_overflow(n, d, &n);
  }
  int64_t bytes = 0;
  overflow = overflow || __builtin_mul_overflow(n, dtype_size(t.dtype), &bytes);
  // A zero dimension makes the tensor empty whatever the others multiply to.
  for (int64_t d : t.shape)
    if (d == 0) return {};
  if (overflow) return t.str() + " has more elements than a 64-bit count holds";
  if (bytes > kMaxTensorBytes)
    return t.str() + " takes " + std::to_string(bytes >> 30) + " GiB, more than the 1 TiB a tensor may take";
  return {};
}

std::string TensorType::str() const { return std::string(dtype_name(dtype)) + shape_str(shape); }

}  // namespace sublinear::ir
