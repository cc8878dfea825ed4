#pragma once
// The op registry: every op is declared once, here, with everything a pass needs to know about it:
// attribute schema, the parameters a layer creates, shape and dtype inference, cost, which forward
// values its backward reads (kept minimal: the paper's point is that a needless dependency keeps a value
// alive and destroys sharing), in-place options and recomputation safety. The gradient definition has a
// slot here that the planner fills.
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "ir/attrs.h"
#include "ir/graph.h"
#include "ir/types.h"

namespace sublinear::ir {

// Thrown by shape inference and parameter creation; the frontend attaches the DSL location.
class ShapeError : public std::runtime_error {
 public:
  explicit ShapeError(const std::string& message, std::vector<std::string> extra = {})
      : std::runtime_error(message), extra_(std::move(extra)) {}
  const std::vector<std::string>& extra() const { return extra_; }

 private:
  std::vector<std::string> extra_;  // e.g. {"left:  f32[2, 3]", "right: f32[3, 2]"}
};

struct AttrSpec {
  std::string name;
  AttrKind kind = AttrKind::Int;
  std::optional<AttrValue> default_value;  // nullopt: required
  std::string doc;
  std::vector<std::string> choices;        // for String attributes; empty = any
};

// A weight a layer op creates (conv2d's filter, linear's weight and bias, batch_norm's scale).
struct ParamSpec {
  std::string name;    // "weight", "bias", "gamma", "running_mean"
  TensorType type;
  std::string init;    // "kaiming", "xavier", "zeros", "ones", "normal"
  bool trainable = true;  // false for running statistics
  int64_t fan_in = 0;  // for init scaling
  double std = 0.01;   // for init "normal"
};

struct Cost {
  int64_t flops = 0;   // multiply-adds count as 2
  int64_t bytes = 0;   // bytes read plus written, ignoring caches
};

// What the backward of an op reads from the forward pass. Anything not listed may be freed (or
// overwritten in place) as soon as the forward consumers are done with it. An input index past the
// node's inputs names a parameter an attribute left out (layer_norm's gamma with affine=false) and
// reads nothing.
struct BackwardDeps {
  std::vector<int> inputs;   // indices into the node's inputs (data inputs and parameters)
  std::vector<int> outputs;  // indices into the node's outputs
};

// The op may write output `output` over input `input` (same size and dtype).
struct InplaceOption {
  int output = 0;
  int input = 0;
};

struct GradientContext;  // defined by the planner
using GradientFn = std::function<void(GradientContext&)>;

using InferFn = std::function<std::vector<TensorType>(const std::vector<TensorType>& inputs,
                                                      const Attrs& attrs)>;
using ParamsFn = std::function<std::vector<ParamSpec>(const std::vector<TensorType>& data_inputs,
                                                      const Attrs& attrs)>;
using CostFn = std::function<Cost(const std::vector<TensorType>& inputs,
                                  const std::vector<TensorType>& outputs, const Attrs& attrs)>;

struct OpDef {
  std::string name;
  std::string doc;          // one line, for `sublinear ops` and the README reference
  std::string category;     // "conv", "norm", "activation", "pool", "linear", "elementwise", ...
  int min_inputs = 1;       // data inputs given by the user (parameters not counted)
  int max_inputs = 1;       // -1: variadic (concat, stack, add_n)
  std::vector<std::string> input_names;  // for messages: {"x"}, {"a", "b"}
  std::vector<AttrSpec> attrs;
  ParamsFn params;          // null for ops without weights
  InferFn infer;            // over data inputs followed by parameters, in node order
  int visible_outputs = -1; // outputs the DSL sees (-1: all); the rest are saved state for backward
                            // (batch_norm's batch statistics, softmax_cross_entropy's probabilities)
  CostFn cost;
  BackwardDeps backward;
  bool differentiable = true;  // false: no gradient flows through (argmax, integer ops)
  std::vector<InplaceOption> inplace;
  bool recomputable = true;    // false: never dropped by a recompute policy
  bool cheap = false;          // dropped by the "drop-cheap" policy (section 4.2 of the paper)
  GradientFn gradient;         // filled by the planner
  bool is_source = false;      // input, param: no inputs, nothing to compute
};

class OpRegistry {
 public:
  static OpRegistry& global();  // all built-in ops registered on first use

  void add(OpDef def);          // SL_CHECKs the name is new
  const OpDef* find(const std::string& name) const;
  std::vector<const OpDef*> all() const;  // sorted by name

  // Names within edit distance 2, for "did you mean" hints.
  std::vector<std::string> similar(const std::string& name) const;

 private:
  std::vector<OpDef> defs_;
};

// Registration of the built-in ops, one function per family (ir/ops/*.cpp).
void register_source_ops(OpRegistry& r);
void register_conv_ops(OpRegistry& r);
void register_norm_ops(OpRegistry& r);
void register_activation_ops(OpRegistry& r);
void register_pool_ops(OpRegistry& r);
void register_linear_ops(OpRegistry& r);
void register_elementwise_ops(OpRegistry& r);
void register_math_ops(OpRegistry& r);
void register_attention_ops(OpRegistry& r);
void register_resize_ops(OpRegistry& r);
void register_index_ops(OpRegistry& r);
void register_conv_transpose_ops(OpRegistry& r);
void register_shape_ops(OpRegistry& r);
void register_loss_ops(OpRegistry& r);

// Validates user attributes against a schema: fills defaults, converts int->float where the schema
// says float, and throws ShapeError naming the attribute on unknown names, wrong kinds, bad choices or
// missing required ones.
Attrs validate_attrs(const OpDef& def, const std::vector<std::pair<std::string, AttrValue>>& given);

int edit_distance(const std::string& a, const std::string& b);

}  // namespace sublinear::ir
