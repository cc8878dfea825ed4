// Expressions: literals, names, operators, indexing and the compile-time builtins.
// Tensor arithmetic maps to ops: a + b -> add, a - b -> sub, a * b -> mul, x * 2.0 -> scale.
#include <cmath>
#include <cstdio>
#include <limits>

#include "frontend/expander.h"
#include "ir/check.h"

namespace sublinear::frontend {

namespace {

const std::vector<std::string>& builtin_names() {
  static const std::vector<std::string> names = {"dim", "rank", "len", "min", "max", "floor", "ceil", "sqrt"};
  return names;
}

}  // namespace

bool is_builtin(const std::string& n) {
  for (const auto& b : builtin_names())
    if (b == n) return true;
  return false;
}

std::string Expander::type_str(const Value& v) const {
  switch (v.kind) {
    case Value::Kind::Tensor: return "tensor " + graph_.type(v.t).str();
    case Value::Kind::Int: return "int " + std::to_string(v.i);
    case Value::Kind::Float: return "float " + ir::attr_value_str(v.f);
    case Value::Kind::Bool: return std::string("bool ") + (v.b ? "true" : "false");
    case Value::Kind::String: return "string \"" + v.s + "\"";
    case Value::Kind::List: return "list of " + std::to_string(v.list->size());
    case Value::Kind::Callable: return "layer or block '" + v.fn->name + "'";
    default: return kind_name(v.kind);
  }
}

const Binding* Expander::lookup_local(const std::string& name) const {
  for (const Scope* sc = scope_; sc; sc = sc->parent) {
    auto it = sc->vars.find(name);
    if (it != sc->vars.end()) return &it->second;
  }
  return nullptr;
}

std::vector<std::string> Expander::visible_names() const {
  std::vector<std::string> out;
  for (const Scope* sc = scope_; sc; sc = sc->parent)
    for (const auto& [k, v] : sc->vars) out.push_back(k);
  for (const auto& [k, v] : globals_) out.push_back(k);
  for (const auto& [k, v] : blocks_) out.push_back(k);
  for (const auto* d : ir::OpRegistry::global().all())
    if (!d->is_source) out.push_back(d->name);
  for (const auto& b : builtin_names()) out.push_back(b);
  return out;
}

Value Expander::eval(const Expr& e) {
  switch (e.kind) {
    case ExprKind::Int: return Value::of_int(e.int_value);
    case ExprKind::Float: return Value::of_float(e.float_value);
    case ExprKind::Bool: return Value::of_bool(e.bool_value);
    case ExprKind::String: return Value::of_string(e.text);
    case ExprKind::Name: return eval_name(e);
    case ExprKind::List: {
      std::vector<Value> items;
      for (const auto& x : e.operands) {
        items.push_back(eval(*x));
        if (items.back().is_poison()) return Value::poison();
      }
      return Value::of_list(std::move(items));
    }
    case ExprKind::Call: return eval_call(e);
    case ExprKind::Index: return eval_index(e);
    case ExprKind::Member: return eval_member(e);
    case ExprKind::Unary: return eval_unary(e);
    case ExprKind::Binary: return eval_binary(e);
    case ExprKind::If: {
      Value c = eval(*e.operands[0]);
      if (c.is_poison()) return c;
      if (c.kind != Value::Kind::Bool)
        fail(e.operands[0]->loc, "`if` needs a compile-time bool condition, got " + type_str(c));
      // Only the chosen branch is evaluated: that is what lets a recursive block stop.
      return eval(*e.operands[c.b ? 1 : 2]);
    }
    case ExprKind::Repeat: {
      std::vector<Value> ys;
      run_repeat(*e.repeat, e.loc, &ys);
      for (const auto& y : ys)
        if (y.is_poison()) return Value::poison();
      return Value::of_list(std::move(ys));
    }
  }
  SL_CHECK(false) << "unhandled expression kind";
  return {};
}

Value Expander::eval_name(const Expr& e) {
  if (const Binding* b = lookup_local(e.text)) return b->value;
  if (auto g = globals_.find(e.text); g != globals_.end()) return g->second.value;
  auto make = [&](Callable::Kind k) {
    auto c = std::make_shared<Callable>();
    c->kind = k;
    c->name = e.text;
    Value v;
    v.kind = Value::Kind::Callable;
    v.fn = c;
    return std::pair{v, c};
  };
  if (auto bl = blocks_.find(e.text); bl != blocks_.end()) {
    auto [v, c] = make(Callable::Kind::Block);
    c->block = bl->second;
    return v;
  }
  if (const ir::OpDef* d = ir::OpRegistry::global().find(e.text); d && !d->is_source) {
    auto [v, c] = make(Callable::Kind::Op);
    c->op = d;
    return v;
  }
  if (is_builtin(e.text)) return make(Callable::Kind::Builtin).first;
  std::string msg = "undefined name '" + e.text + "'";
  std::string best;
  int best_d = 3;
  for (const auto& n : visible_names()) {
    int d = ir::edit_distance(n, e.text);
    if (d < best_d) best_d = d, best = n;
  }
  if (!best.empty()) msg += " (did you mean '" + best + "'?)";
  fail(e.loc, msg);
}

int64_t Expander::eval_int(const Expr& e, const char* what) {
  Value v = eval(e);
  if (v.is_poison()) throw Poisoned{};
  if (v.kind != Value::Kind::Int) fail(e.loc, std::string(what) + " must be a compile-time int, got " + type_str(v));
  return v.i;
}

ir::Shape Expander::eval_shape(const TypeExpr& t, bool allow_wildcards, std::vector<bool>* wildcard) {
  ir::Shape shape;
  for (const auto& d : t.dims) {
    if (!d) {
      if (!allow_wildcards) fail(t.loc, "`_` (any size) is only allowed in block argument types");
      shape.push_back(-1);
      if (wildcard) wildcard->push_back(true);
      continue;
    }
    int64_t v = eval_int(*d, "a dimension");
    if (v <= 0) fail(d->loc, "dimension must be positive, got " + std::to_string(v));
    shape.push_back(v);
    if (wildcard) wildcard->push_back(false);
  }
  return shape;
}

// `instance.name`: a weight a layer instance made (emb.weight, for weight tying: the output layer
// `matmul(h, emb.weight, transpose_b=true)` uses the embedding's table, and both uses' gradients add up
// in the one parameter). Op instances name their weights as the op does ("weight", "bias", "gamma");
// block instances by the name of the weight inside the block (an explicit `weight W` or the last part
// of "linear#1.weight" when that is unique).
Value Expander::eval_member(const Expr& e) {
  Value obj = eval(*e.callee);
  if (obj.is_poison()) return obj;
  const std::string what = e.callee->kind == ExprKind::Name ? "'" + e.callee->text + "'" : "this value";
  if (obj.kind != Value::Kind::Callable || !obj.fn->state)
    fail(e.loc, "'." + e.text + "': only a layer instance has weights to name, and " + what + " is " + type_str(obj),
         {"declare an instance and call it first: emb = embedding(vocab=V, dim=D); x = emb(tokens); ... emb.weight"});
  const auto& weights = obj.fn->state->weights;
  if (weights.empty())
    fail(e.loc, what + " has made no weights yet: call it once before naming " + e.text,
         {"weights get their shapes from the first call's inputs"});
  if (auto it = weights.find(e.text); it != weights.end()) return Value::of_tensor(it->second);
  const ir::ValueRef* found = nullptr;
  int matches = 0;
  std::string names;
  for (const auto& [key, ref] : weights) {
    names += (names.empty() ? "" : ", ") + key;
    const size_t dot = key.rfind('.');
    if (dot != std::string::npos && key.compare(dot + 1, std::string::npos, e.text) == 0) found = &ref, ++matches;
  }
  if (matches == 1) return Value::of_tensor(*found);
  fail(e.loc, what + (matches > 1 ? " has several weights named '" : " has no weight '") + e.text + "'",
       {"its weights: " + names});
}

Value Expander::eval_unary(const Expr& e) {
  Value v = eval(*e.operands[0]);
  if (v.is_poison()) return v;
  if (e.text == "not") {
    if (v.kind != Value::Kind::Bool) fail(e.loc, "`not` needs a bool, got " + type_str(v));
    return Value::of_bool(!v.b);
  }
  if (v.kind == Value::Kind::Int) {
    if (v.i == std::numeric_limits<int64_t>::min())
      fail(e.loc, "integer overflow: -(" + std::to_string(v.i) + ") does not fit in a 64-bit int");
    return Value::of_int(-v.i);
  }
  if (v.kind == Value::Kind::Float) return Value::of_float(-v.f);
  if (v.kind == Value::Kind::Tensor)
    return make_node(*ir::OpRegistry::global().find("scale"), {v.t}, {{"factor", -1.0}}, e.loc, nullptr);
  fail(e.loc, "cannot negate " + type_str(v));
}

// A tensor combined with a tensor or a number. Tensors: + - * / elementwise with broadcasting. With a
// number: x * s and x / s scale, x + s, x - s and s - x are one affine op, s / x is s * x ** -1, x ** s
// a pow op and s ** x exp(x * ln s).
Value Expander::tensor_binary(const Expr& e, const Value& a, const Value& b) {
  const std::string& op = e.text;
  const auto& reg = ir::OpRegistry::global();
  auto node = [&](const char* name, std::vector<ir::ValueRef> in, std::vector<std::pair<std::string, ir::AttrValue>> attrs) {
    return make_node(*reg.find(name), std::move(in), std::move(attrs), e.loc, nullptr);
  };
  const bool ta = a.kind == Value::Kind::Tensor, tb = b.kind == Value::Kind::Tensor;
  if (ta && tb) {
    const char* name = op == "+" ? "add" : op == "-" ? "sub" : op == "*" ? "mul" : op == "/" ? "div" : nullptr;
    if (!name)
      fail(e.loc, "operator '" + op + "' is not defined between two tensors",
           op == "**" ? std::vector<std::string>{"a tensor power takes a number: x ** 2, or exp(b * log(a))"}
                      : std::vector<std::string>{"tensors support +, -, * and / (elementwise, with broadcasting)"});
    return node(name, {a.t, b.t}, {});
  }
  const Value& t = ta ? a : b;
  const Value& s = ta ? b : a;
  if (!s.is_number())
    fail(e.loc, "cannot apply '" + op + "' to " + type_str(a) + " and " + type_str(b),
         {"a tensor combines with a tensor or a number (x * 0.5, 1 - x, x / 2, x ** 2)"});
  const double v = s.as_double();
  if (!std::isfinite(v)) fail(e.loc, "the number in '" + op + "' is not finite");
  if (op == "*") return node("scale", {t.t}, {{"factor", v}});
  if (op == "+") return node("affine", {t.t}, {{"factor", 1.0}, {"offset", v}});
  if (op == "-") return node("affine", {t.t}, {{"factor", ta ? 1.0 : -1.0}, {"offset", ta ? -v : v}});
  if (op == "/" && ta) {
    if (v == 0) fail(e.loc, "division of a tensor by zero");
    return node("scale", {t.t}, {{"factor", 1.0 / v}});
  }
  if (op == "/") {
    Value inv = node("pow", {t.t}, {{"exponent", -1.0}});
    return v == 1.0 ? inv : node("scale", {inv.t}, {{"factor", v}});
  }
  if (op == "**" && ta) return node("pow", {t.t}, {{"exponent", v}});
  if (op == "**") {
    if (!(v > 0)) fail(e.loc, "a number raised to a tensor needs a positive base, got " + std::to_string(v));
    return node("exp", {node("scale", {t.t}, {{"factor", std::log(v)}}).t}, {});
  }
  fail(e.loc, "operator '" + op + "' is not defined on tensors",
       {"tensors support +, -, *, / and ** (by a number), elementwise"});
}

// number ** number: an int when both are ints and the exponent is not negative (checked for
// overflow), else a float.
Value Expander::number_power(const Expr& e, const Value& a, const Value& b) {
  if (a.kind == Value::Kind::Int && b.kind == Value::Kind::Int && b.i >= 0) {
    int64_t r = 1, base = a.i;
    for (int64_t k = b.i; k > 0; k >>= 1) {
      if ((k & 1) && __builtin_mul_overflow(r, base, &r))
        fail(e.loc, "integer overflow: " + std::to_string(a.i) + " ** " + std::to_string(b.i) +
                        " does not fit in a 64-bit int");
      if (k > 1 && __builtin_mul_overflow(base, base, &base)) {
        // base squared overflows; the result does too unless no further bit is set (impossible: k > 1).
        fail(e.loc, "integer overflow: " + std::to_string(a.i) + " ** " + std::to_string(b.i) +
                        " does not fit in a 64-bit int");
      }
    }
    return Value::of_int(r);
  }
  const double r = std::pow(a.as_double(), b.as_double());
  if (!std::isfinite(r))
    fail(e.loc, std::to_string(a.as_double()) + " ** " + std::to_string(b.as_double()) + " is not a finite number");
  return Value::of_float(r);
}

Value Expander::eval_binary(const Expr& e) {
  const std::string& op = e.text;
  Value a = eval(*e.operands[0]);
  if (a.is_poison()) return a;
  if (op == "and" || op == "or") {
    if (a.kind != Value::Kind::Bool) fail(e.operands[0]->loc, "`" + op + "` needs bools, got " + type_str(a));
    if (op == "and" && !a.b) return a;
    if (op == "or" && a.b) return a;
    Value b = eval(*e.operands[1]);
    if (b.is_poison()) return b;
    if (b.kind != Value::Kind::Bool) fail(e.operands[1]->loc, "`" + op + "` needs bools, got " + type_str(b));
    return b;
  }
  Value b = eval(*e.operands[1]);
  if (b.is_poison()) return b;
  const bool ta = a.kind == Value::Kind::Tensor, tb = b.kind == Value::Kind::Tensor;
  if (ta || tb) return tensor_binary(e, a, b);

  if (op == "+" && a.kind == Value::Kind::List && b.kind == Value::Kind::List) {
    std::vector<Value> out(*a.list);
    out.insert(out.end(), b.list->begin(), b.list->end());
    return Value::of_list(std::move(out));
  }
  if (op == "==" || op == "!=") {
    bool eq;
    if (a.is_number() && b.is_number()) eq = a.as_double() == b.as_double();
    else if (a.kind == Value::Kind::Bool && b.kind == Value::Kind::Bool) eq = a.b == b.b;
    else if (a.kind == Value::Kind::String && b.kind == Value::Kind::String) eq = a.s == b.s;
    else fail(e.loc, "cannot compare " + type_str(a) + " with " + type_str(b));
    return Value::of_bool(op == "==" ? eq : !eq);
  }
  if (!a.is_number() || !b.is_number())
    fail(e.loc, "cannot apply '" + op + "' to " + type_str(a) + " and " + type_str(b));
  if (op == "**") return number_power(e, a, b);
  if (op == "<") return Value::of_bool(a.as_double() < b.as_double());
  if (op == "<=") return Value::of_bool(a.as_double() <= b.as_double());
  if (op == ">") return Value::of_bool(a.as_double() > b.as_double());
  if (op == ">=") return Value::of_bool(a.as_double() >= b.as_double());
  if (a.kind == Value::Kind::Int && b.kind == Value::Kind::Int) {
    int64_t x = a.i, y = b.i, r = 0;
    auto overflow = [&] {
      fail(e.loc, "integer overflow: " + std::to_string(x) + " " + op + " " + std::to_string(y) +
                      " does not fit in a 64-bit int");
    };
    const bool wrapped = op == "+"   ? __builtin_add_overflow(x, y, &r)
                         : op == "-" ? __builtin_sub_overflow(x, y, &r)
                         : op == "*" ? __builtin_mul_overflow(x, y, &r)
                                     : false;
    if (wrapped) overflow();
    if (op == "+" || op == "-" || op == "*") return Value::of_int(r);
    if (y == 0) fail(e.loc, "division by zero");
    // The one quotient that does not fit (and whose hardware division traps): the remainder is 0.
    if (y == -1) {
      if (op == "%") return Value::of_int(0);
      if (x == std::numeric_limits<int64_t>::min()) overflow();
      return Value::of_int(-x);
    }
    // Integer division floors, like Python's //, so shape arithmetic never goes fractional.
    int64_t q = x / y, m = x % y;
    if (m != 0 && ((m < 0) != (y < 0))) --q, m += y;
    return Value::of_int(op == "/" ? q : m);
  }
  double x = a.as_double(), y = b.as_double();
  if (op == "+") return Value::of_float(x + y);
  if (op == "-") return Value::of_float(x - y);
  if (op == "*") return Value::of_float(x * y);
  if (y == 0) fail(e.loc, "division by zero");
  if (op == "/") return Value::of_float(x / y);
  return Value::of_float(std::fmod(x, y));
}

Value Expander::eval_index(const Expr& e) {
  Value base = eval(*e.callee);
  if (base.is_poison()) return base;
  auto norm = [&](int64_t i, int64_t n, const SourceLoc& loc, const std::string& what) {
    int64_t j = i < 0 ? i + n : i;
    if (j < 0 || j >= n)
      fail(loc, "index " + std::to_string(i) + " is out of range for " + what);
    return j;
  };
  if (base.kind == Value::Kind::List) {
    if (e.indices.size() != 1 || e.indices[0].is_range)
      fail(e.loc, "a list takes one integer index");
    int64_t i = eval_int(*e.indices[0].point, "a list index");
    return (*base.list)[norm(i, static_cast<int64_t>(base.list->size()), e.indices[0].loc,
                             "a list of " + std::to_string(base.list->size()))];
  }
  if (base.kind != Value::Kind::Tensor) fail(e.loc, "cannot index " + type_str(base));
  const auto& reg = ir::OpRegistry::global();
  Value cur = base;
  const int rank = graph_.type(base.t).rank();
  if (static_cast<int>(e.indices.size()) > rank)
    fail(e.loc, "too many indices (" + std::to_string(e.indices.size()) + ") for " + type_str(base));
  int64_t axis = 0;
  for (const auto& ix : e.indices) {
    const ir::TensorType& t = graph_.type(cur.t);
    const int64_t n = t.shape[axis];
    if (!ix.is_range) {
      int64_t i = eval_int(*ix.point, "an index");
      norm(i, n, ix.loc, "axis " + std::to_string(axis) + " of " + t.str());
      cur = make_node(*reg.find("select"), {cur.t}, {{"axis", axis}, {"index", i}}, ix.loc, nullptr);
      continue;  // the axis is gone, the next index addresses the one after it
    }
    int64_t lo = ix.lo ? eval_int(*ix.lo, "a slice bound") : 0;
    int64_t hi = ix.hi ? eval_int(*ix.hi, "a slice bound") : n;
    if (lo < 0) lo += n;
    if (hi < 0) hi += n;
    const int64_t step = ix.step ? eval_int(*ix.step, "a slice step") : 1;
    if (step < 1)
      fail(ix.step->loc, "a slice step must be positive, got " + std::to_string(step) +
                             " (reversed slices are not supported; use a positive step)");
    if (lo < 0 || hi > n || lo >= hi)
      fail(ix.loc, "slice " + std::to_string(lo) + ":" + std::to_string(hi) + " is empty or out of range for axis " +
                       std::to_string(axis) + " of " + t.str());
    if (step != 1)
      cur = make_node(*reg.find("slice"), {cur.t}, {{"axis", axis}, {"start", lo}, {"end", hi}, {"step", step}}, ix.loc,
                      nullptr);
    else if (lo != 0 || hi != n)
      cur = make_node(*reg.find("slice"), {cur.t}, {{"axis", axis}, {"start", lo}, {"end", hi}}, ix.loc, nullptr);
    ++axis;
  }
  return cur;
}

namespace {
std::string number_text(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}
}  // namespace

Value Expander::eval_builtin(const std::string& name, const std::vector<Value>& args, const Expr& call) {
  auto need = [&](size_t n) {
    if (args.size() != n)
      fail(call.loc, "'" + name + "' takes " + std::to_string(n) + " argument" + (n == 1 ? "" : "s") + ", got " +
                         std::to_string(args.size()));
  };
  auto tensor_type = [&](const Value& v) -> const ir::TensorType& {
    if (v.kind != Value::Kind::Tensor) fail(call.loc, "'" + name + "' needs a tensor, got " + type_str(v));
    return graph_.type(v.t);
  };
  if (name == "dim") {
    need(2);
    const auto& t = tensor_type(args[0]);
    if (args[1].kind != Value::Kind::Int) fail(call.loc, "dim(x, axis): axis must be an int");
    int64_t ax = args[1].i < 0 ? args[1].i + t.rank() : args[1].i;
    if (ax < 0 || ax >= t.rank())
      fail(call.loc, "axis " + std::to_string(args[1].i) + " is out of range for " + t.str());
    return Value::of_int(t.shape[ax]);
  }
  if (name == "rank") {
    need(1);
    return Value::of_int(tensor_type(args[0]).rank());
  }
  if (name == "len") {
    need(1);
    if (args[0].kind != Value::Kind::List) fail(call.loc, "len needs a list, got " + type_str(args[0]));
    return Value::of_int(static_cast<int64_t>(args[0].list->size()));
  }
  if (name == "min" || name == "max") {
    if (args.empty()) fail(call.loc, "'" + name + "' needs at least one number");
    Value best = args[0];
    for (const auto& a : args) {
      if (!a.is_number()) fail(call.loc, "'" + name + "' needs numbers, got " + type_str(a));
      if ((name == "min") ? a.as_double() < best.as_double() : a.as_double() > best.as_double()) best = a;
    }
    return best;
  }
  need(1);
  if (!args[0].is_number()) fail(call.loc, "'" + name + "' needs a number, got " + type_str(args[0]));
  double x = args[0].as_double();
  if (name == "floor" || name == "ceil") {
    const double r = name == "floor" ? std::floor(x) : std::ceil(x);
    // [-2^63, 2^63): the doubles that convert to an int64 exactly.
    if (!(r >= -9223372036854775808.0 && r < 9223372036854775808.0))
      fail(call.loc, name + "(" + number_text(x) + ") does not fit in a 64-bit int");
    return Value::of_int(static_cast<int64_t>(r));
  }
  double r = 0;
  if (name == "sqrt") {
    if (x < 0) fail(call.loc, "sqrt of a negative number");
    r = std::sqrt(x);
  } else if (name == "exp") {
    r = std::exp(x);
  } else if (name == "log") {
    if (!(x > 0)) fail(call.loc, "log of a number that is not positive");
    r = std::log(x);
  } else if (name == "sin") {
    r = std::sin(x);
  } else if (name == "cos") {
    r = std::cos(x);
  } else if (name == "abs") {
    if (args[0].kind == Value::Kind::Int) {
      if (args[0].i == std::numeric_limits<int64_t>::min()) fail(call.loc, "integer overflow: abs of the smallest int");
      return Value::of_int(args[0].i < 0 ? -args[0].i : args[0].i);
    }
    r = std::fabs(x);
  } else {
    SL_CHECK(false) << "unhandled builtin " << name;
  }
  if (!std::isfinite(r)) fail(call.loc, name + "(" + number_text(x) + ") is not a finite number");
  return Value::of_float(r);
}

bool is_number_math(const std::string& name) {
  return name == "sqrt" || name == "exp" || name == "log" || name == "sin" || name == "cos" || name == "abs";
}

}  // namespace sublinear::frontend
