#pragma once
// Values the expander computes with: compile-time scalars, tensors (references to IR values), lists
// (tuples, collected yields), callables (ops, blocks, shared-weight layer instances) and Poison, which
// stands for the result of a statement that already failed so one mistake is reported once.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "frontend/ast.h"
#include "ir/graph.h"

namespace sublinear::ir {
struct OpDef;
}

namespace sublinear::frontend {

struct Callable;

struct Value {
  enum class Kind { None, Int, Float, Bool, String, Tensor, List, Callable, Poison };
  Kind kind = Kind::None;
  int64_t i = 0;
  double f = 0;
  bool b = false;
  std::string s;
  ir::ValueRef t;
  std::shared_ptr<const std::vector<Value>> list;
  std::shared_ptr<const Callable> fn;

  static Value none() { return Value{}; }
  static Value poison() { Value v; v.kind = Kind::Poison; return v; }
  static Value of_int(int64_t x) { Value v; v.kind = Kind::Int; v.i = x; return v; }
  static Value of_float(double x) { Value v; v.kind = Kind::Float; v.f = x; return v; }
  static Value of_bool(bool x) { Value v; v.kind = Kind::Bool; v.b = x; return v; }
  static Value of_string(std::string x) { Value v; v.kind = Kind::String; v.s = std::move(x); return v; }
  static Value of_tensor(ir::ValueRef r) { Value v; v.kind = Kind::Tensor; v.t = r; return v; }
  static Value of_list(std::vector<Value> xs) {
    Value v;
    v.kind = Kind::List;
    v.list = std::make_shared<const std::vector<Value>>(std::move(xs));
    return v;
  }

  bool is_poison() const { return kind == Kind::Poison; }
  bool is_number() const { return kind == Kind::Int || kind == Kind::Float; }
  double as_double() const { return kind == Kind::Int ? static_cast<double>(i) : f; }
};

const char* kind_name(Value::Kind k);

// The weights a shared layer owns, keyed by the path of the creating call relative to the instance,
// so every call of the instance finds the same parameter nodes.
struct InstanceState {
  std::string label;  // "repeat[2]/cell": where and under which name it was declared
  std::map<std::string, ir::ValueRef> weights;
  std::map<std::string, std::shared_ptr<InstanceState>> children;  // instances declared inside
};

struct NamedValue {
  std::string name;
  Value value;
  SourceLoc loc;
};

struct Callable {
  enum class Kind { Op, Block, Builtin, OpInstance, BlockInstance };
  Kind kind = Kind::Op;
  std::string name;
  const ir::OpDef* op = nullptr;
  std::shared_ptr<const BlockDecl> block;
  std::vector<NamedValue> bound;  // arguments fixed where an instance was declared
  std::shared_ptr<InstanceState> state;
};

}  // namespace sublinear::frontend
