#pragma once
// Shared pieces of the built-in op definitions (ir/ops/*.cpp): schema builders, the checks every
// family repeats (rank, dtype, axis, broadcasting) with uniform messages, and cost helpers. Internal to
// the op files; passes talk to ops through OpDef only.
#include <cstdint>
#include <string>
#include <vector>

#include "ir/op_registry.h"

namespace sublinear::ir::ops {

// --- attribute schema --------------------------------------------------------------------------------
AttrSpec required_attr(std::string name, AttrKind kind, std::string doc);
AttrSpec optional_attr(std::string name, AttrKind kind, AttrValue default_value, std::string doc,
                       std::vector<std::string> choices = {});
// The "dtype" attribute shared by input, param, zeros, ones and full.
AttrSpec dtype_attr();

ParamSpec make_param(std::string name, TensorType type, std::string init, bool trainable = true,
                     int64_t fan_in = 0);

// --- errors ------------------------------------------------------------------------------------------
[[noreturn]] void fail(const std::string& message, std::vector<std::string> extra = {});

// "op: input 'x' must be f32, got i32[2, 3]"
void expect_dtype(const std::string& op, const std::string& input, const TensorType& t, DType want);
// max_rank < 0: unbounded. `layout` describes the expected shape in the message ("[N, C, H, W]").
void expect_rank(const std::string& op, const std::string& input, const TensorType& t, int min_rank,
                 int max_rank, const std::string& layout = "");
// Guards against a frontend handing the wrong number of values (data inputs plus parameters).
void expect_input_count(const std::string& op, const std::vector<TensorType>& inputs, size_t n);
// Checks that the values after the data inputs are exactly the parameters `expected` describes.
void expect_params(const std::string& op, const std::vector<TensorType>& inputs, size_t n_data,
                   const std::vector<ParamSpec>& expected);

// An Int attribute that must be > 0.
int64_t positive_attr(const std::string& op, const Attrs& attrs, const std::string& name);
// An Ints attribute expanded to `n` entries (one entry is repeated), each >= min_value. Unlike
// Attrs::get_ints, a wrong length is the user's mistake and becomes a ShapeError.
std::vector<int64_t> ints_attr(const std::string& op, const Attrs& attrs, const std::string& name,
                               size_t n, int64_t min_value);

// Resolves a possibly negative axis against `extent` positions (rank, or rank + 1 where a new axis may
// go at the end) and throws naming the attribute and the shape when it is out of range.
int normalise_axis(const std::string& op, const std::string& attr, int64_t axis, int extent,
                   const TensorType& t);

// numpy broadcasting: right-aligned, a dimension of 1 stretches. Throws printing both shapes.
Shape broadcast_shapes(const std::string& op, const TensorType& a, const TensorType& b);

// Output extent of a sliding window (floor mode); <= 0 when the window does not fit.
int64_t window_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation);

int64_t product(const Shape& s, size_t begin, size_t end);

// --- cost --------------------------------------------------------------------------------------------
int64_t total_bytes(const std::vector<TensorType>& ts);
int64_t io_bytes(const std::vector<TensorType>& inputs, const std::vector<TensorType>& outputs);
// `flops_per_element` flops per element of output 0, bytes = everything read and written.
CostFn elementwise_cost(int64_t flops_per_element);

// --- makers ------------------------------------------------------------------------------------------
// A one-input f32 -> same-type op; the caller fills in backward, inplace and the rest.
OpDef unary_f32_op(std::string name, std::string doc, std::string category,
                   int64_t flops_per_element);

}  // namespace sublinear::ir::ops
