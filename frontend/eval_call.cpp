// Calls: ops (which become IR nodes, creating their parameters), blocks (inlined in a new frame) and
// shared-layer instances. A call to a layer op or a block that gives no tensor arguments declares an
// instance (`cell = lstm(hidden=1024);`): every later call of it uses the same parameter nodes, which is
// how the IR records weight sharing.
#include <algorithm>
#include <optional>

#include "frontend/expander.h"
#include "ir/check.h"

namespace sublinear::frontend {

std::string Expander::next_label(const std::string& base) {
  int k = ++frame_->counters[base];
  return base + "#" + std::to_string(k);
}

ir::AttrValue Expander::to_attr(const NamedValue& nv) const {
  const Value& v = nv.value;
  switch (v.kind) {
    case Value::Kind::Int: return v.i;
    case Value::Kind::Float: return v.f;
    case Value::Kind::Bool: return v.b;
    case Value::Kind::String: return v.s;
    case Value::Kind::List: {
      std::vector<int64_t> out;
      for (const auto& x : *v.list) {
        if (x.kind != Value::Kind::Int)
          fail(nv.loc, "attribute '" + nv.name + "' takes a list of ints, found " + type_str(x));
        out.push_back(x.i);
      }
      return out;
    }
    default:
      fail(nv.loc, "attribute '" + nv.name + "' must be a compile-time value, got " + type_str(v),
           {"tensors are passed positionally: op(x, attr=value)"});
  }
}

Value Expander::eval_call(const Expr& e) {
  std::string declared_as = std::exchange(pending_name_, std::string());
  Value callee = eval(*e.callee);
  if (callee.is_poison()) return callee;
  if (callee.kind != Value::Kind::Callable)
    fail(e.callee->loc, type_str(callee) + " is not a layer, block or op; it cannot be called");
  std::vector<NamedValue> args;
  bool seen_named = false;
  for (const auto& a : e.args) {
    if (a.name.empty() && seen_named)
      fail(a.loc, "positional argument after a named one");
    seen_named = seen_named || !a.name.empty();
    for (const auto& prev : args)
      if (!a.name.empty() && prev.name == a.name) fail(a.loc, "argument '" + a.name + "' given twice");
    Value v = eval(*a.value);
    if (v.is_poison()) return v;
    args.push_back({a.name, std::move(v), a.loc});
  }
  const Callable& fn = *callee.fn;
  pending_name_ = declared_as;  // make_instance reads it
  Value out;
  switch (fn.kind) {
    case Callable::Kind::Builtin: {
      std::vector<Value> vals;
      for (const auto& a : args) {
        if (!a.name.empty()) fail(a.loc, "'" + fn.name + "' takes no named arguments");
        vals.push_back(a.value);
      }
      out = eval_builtin(fn.name, vals, e);
      break;
    }
    case Callable::Kind::Op: {
      // sqrt, exp, log, sin, cos and abs of one number are compile-time numbers, not ops.
      if (is_number_math(fn.name) && args.size() == 1 && args[0].name.empty() && args[0].value.is_number()) {
        out = eval_builtin(fn.name, {args[0].value}, e);
        break;
      }
      out = call_op(*fn.op, args, e, nullptr);
      break;
    }
    case Callable::Kind::OpInstance: out = call_op(*fn.op, args, e, &fn); break;
    case Callable::Kind::Block: out = call_block(fn.block, args, e, nullptr); break;
    case Callable::Kind::BlockInstance: out = call_block(fn.block, args, e, &fn); break;
  }
  pending_name_.clear();
  return out;
}

Value Expander::make_instance(const Callable& base, const std::vector<NamedValue>& named, const Expr& call) {
  std::string name = pending_name_.empty() ? next_label(base.name + "_layer") : pending_name_;
  auto c = std::make_shared<Callable>(base);
  c->kind = base.kind == Callable::Kind::Op ? Callable::Kind::OpInstance : Callable::Kind::BlockInstance;
  c->bound = named;
  if (c->kind == Callable::Kind::OpInstance) {
    std::vector<std::pair<std::string, ir::AttrValue>> attrs;
    for (const auto& nv : named) {
      attrs.emplace_back(nv.name, to_attr(nv));
      // As for calls: an unknown attribute name points at the argument, not the call.
      const auto& specs = base.op->attrs;
      if (std::none_of(specs.begin(), specs.end(), [&](auto& s) { return s.name == nv.name; })) {
        try {
          ir::validate_attrs(*base.op, {attrs.back()});
        } catch (const ir::ShapeError& err) {
          fail(nv.loc, err.what(), err.extra());
        }
      }
    }
    try {
      ir::validate_attrs(*base.op, attrs);
    } catch (const ir::ShapeError& err) {
      fail(call.loc, err.what(), err.extra());
    }
  }
  if (frame_->instance) {
    // Declared inside a shared layer: every call of the outer layer must find the same inner one.
    auto& slot = frame_->instance->children[frame_->instance_prefix + name];
    if (!slot) {
      slot = std::make_shared<InstanceState>();
      slot->label = frame_->instance->label + "/" + frame_->instance_prefix + name;
    }
    c->state = slot;
  } else {
    c->state = std::make_shared<InstanceState>();
    c->state->label = frame_->prefix.empty() ? name : frame_->prefix + "/" + name;
  }
  Value v;
  v.kind = Value::Kind::Callable;
  v.fn = std::move(c);
  return v;
}

Value Expander::call_op(const ir::OpDef& def, const std::vector<NamedValue>& args, const Expr& call,
                        const Callable* instance) {
  const size_t slots = std::max<size_t>(def.input_names.size(), def.min_inputs > 0 ? def.min_inputs : 0);
  std::vector<std::optional<ir::ValueRef>> named_inputs(slots);
  std::vector<ir::ValueRef> inputs;
  std::vector<std::pair<std::string, ir::AttrValue>> attrs;
  std::vector<NamedValue> attr_args;
  if (instance)
    for (const auto& b : instance->bound) attrs.emplace_back(b.name, to_attr(b));
  auto tensor_of = [&](const NamedValue& a) {
    // Elementwise ops broadcast, so a number is the scalar tensor it denotes: where(m, x, -1e9), maximum(x, 0).
    if ((a.value.kind == Value::Kind::Int || a.value.kind == Value::Kind::Float) && def.category == "elementwise")
      return make_node(*ir::OpRegistry::global().find("full"), {},
                       {{"shape", std::vector<int64_t>{}}, {"value", a.value.as_double()}}, a.loc, nullptr)
          .t;
    if (a.value.kind != Value::Kind::Tensor) {
      std::vector<std::string> hint;
      if (a.value.kind == Value::Kind::List)
        hint.push_back("a call that returns several values gives a list: unpack it first, (a, b) = f(x);, "
                       "or index it, f(x)[0]");
      else if (a.value.kind != Value::Kind::Poison && a.value.kind != Value::Kind::Callable &&
               a.value.kind != Value::Kind::None)
        hint.push_back("attributes are passed by name: " + def.name + "(x, name=value)");
      fail(a.loc, "'" + def.name + "' expects a tensor here, got " + type_str(a.value), hint);
    }
    return a.value.t;
  };
  for (const auto& a : args) {
    if (a.name.empty()) {
      if (a.value.kind == Value::Kind::List && def.max_inputs == -1) {
        for (const auto& x : *a.value.list) inputs.push_back(tensor_of({"", x, a.loc}));
      } else {
        inputs.push_back(tensor_of(a));
      }
      continue;
    }
    auto in = std::find(def.input_names.begin(), def.input_names.end(), a.name);
    if (in != def.input_names.end() &&
        (a.value.kind == Value::Kind::Tensor ||
         ((a.value.kind == Value::Kind::Int || a.value.kind == Value::Kind::Float) && def.category == "elementwise"))) {
      named_inputs[in - def.input_names.begin()] = tensor_of(a);
      continue;
    }
    if (instance)
      for (const auto& b : instance->bound)
        if (b.name == a.name)
          fail(a.loc, "attribute '" + a.name + "' is fixed where the shared layer '" + instance->state->label +
                          "' was declared");
    attrs.emplace_back(a.name, to_attr(a));
    attr_args.push_back(a);
  }
  for (size_t i = 0; i < named_inputs.size(); ++i) {
    if (!named_inputs[i]) continue;
    if (i < inputs.size())
      fail(call.loc, "input '" + def.input_names[i] + "' of '" + def.name + "' is given twice");
    if (i != inputs.size())
      fail(call.loc, "input '" + def.input_names[inputs.size()] + "' of '" + def.name + "' is missing");
    inputs.push_back(*named_inputs[i]);
  }
  if (def.params && inputs.empty() && def.min_inputs > 0 && !instance)
    return make_instance(Callable{Callable::Kind::Op, def.name, &def, nullptr, {}, nullptr}, attr_args, call);
  const int n = static_cast<int>(inputs.size());
  if (n < def.min_inputs || (def.max_inputs >= 0 && n > def.max_inputs)) {
    std::string names;
    for (const auto& s : def.input_names) names += (names.empty() ? "" : ", ") + s;
    std::string want = def.max_inputs < 0 ? "at least " + std::to_string(def.min_inputs)
                       : def.min_inputs == def.max_inputs ? std::to_string(def.min_inputs)
                       : std::to_string(def.min_inputs) + " to " + std::to_string(def.max_inputs);
    fail(call.loc, "'" + def.name + "' takes " + want + " tensor input" +
                       (want == "1" || want == "at least 1" ? "" : "s") +
                       (names.empty() ? "" : " (" + names + ")") + ", got " + std::to_string(n));
  }
  // Unknown attribute names point at the argument, not the call.
  for (const auto& a : attr_args) {
    bool known = std::any_of(def.attrs.begin(), def.attrs.end(), [&](auto& s) { return s.name == a.name; });
    if (!known) {
      try {
        ir::validate_attrs(def, {{a.name, to_attr(a)}});
      } catch (const ir::ShapeError& err) {
        fail(a.loc, err.what(), err.extra());
      }
    }
  }
  return make_node(def, std::move(inputs), attrs, call.loc, instance ? instance->state.get() : nullptr);
}

Value Expander::make_node(const ir::OpDef& def, std::vector<ir::ValueRef> inputs,
                          const std::vector<std::pair<std::string, ir::AttrValue>>& attr_list,
                          const SourceLoc& loc, InstanceState* op_instance) {
  if (graph_.size() >= kMaxNodes) {
    if (limit_reported_) throw Poisoned{};
    limit_reported_ = true;
    fail(loc, "the model expands to more than " + std::to_string(kMaxNodes) + " nodes");
  }
  ir::Attrs attrs;
  try {
    attrs = ir::validate_attrs(def, attr_list);
  } catch (const ir::ShapeError& err) {
    fail(loc, err.what(), err.extra());
  }
  const std::string label = next_label(def.name);
  const std::string path = frame_->prefix.empty() ? label : frame_->prefix + "/" + label;
  std::vector<ir::TensorType> types;
  for (const auto& in : inputs) types.push_back(graph_.type(in));
  if (def.params) {
    std::vector<ir::ParamSpec> specs;
    try {
      specs = def.params(types, attrs);
    } catch (const ir::ShapeError& err) {
      fail(loc, err.what(), err.extra());
    }
    for (const auto& spec : specs) {
      std::string key = op_instance ? spec.name : frame_->instance_prefix + label + "." + spec.name;
      ir::ValueRef ref = make_param(key, path + "." + spec.name, spec, loc, op_instance);
      inputs.push_back(ref);
      types.push_back(graph_.type(ref));
    }
  }
  std::vector<ir::TensorType> outs;
  try {
    outs = def.infer(types, attrs);
  } catch (const ir::ShapeError& err) {
    fail(loc, err.what(), err.extra());
  }
  for (const auto& t : outs)
    if (std::string why = ir::size_problem(t); !why.empty()) fail(loc, def.name + ": the result " + why);
  ir::Node n;
  n.op = def.name;
  n.def = &def;
  n.name = path;
  n.path = path;
  n.inputs = std::move(inputs);
  n.attrs = std::move(attrs);
  n.outputs = std::move(outs);
  n.span = span(loc);
  n.annotation = annotation_;
  n.annotation_loc = annotation_loc_;
  const size_t visible = def.visible_outputs < 0 ? n.outputs.size() : static_cast<size_t>(def.visible_outputs);
  ir::NodeId id = graph_.add_node(std::move(n));
  if (visible == 1) return Value::of_tensor({id, 0});
  std::vector<Value> outs_v;
  for (size_t i = 0; i < visible; ++i) outs_v.push_back(Value::of_tensor({id, static_cast<int>(i)}));
  return Value::of_list(std::move(outs_v));
}

ir::ValueRef Expander::make_param(const std::string& key, const std::string& name, const ir::ParamSpec& spec,
                                  const SourceLoc& loc, InstanceState* op_instance) {
  InstanceState* st = op_instance ? op_instance : frame_->instance;
  std::string node_name = name;
  if (st) {
    auto it = st->weights.find(key);
    if (it != st->weights.end()) {
      const ir::TensorType& have = graph_.type(it->second);
      if (!(have == spec.type))
        fail(loc, "shared layer '" + st->label + "' is called with inputs that need " + spec.name + " " +
                      spec.type.str() + ", but its first call made it " + have.str(),
             {"a shared layer must see inputs of the same shape on every call"});
      return it->second;
    }
    node_name = op_instance ? st->label + "." + spec.name : st->label + "/" + key;
  }
  if (std::string why = ir::size_problem(spec.type); !why.empty()) fail(loc, "parameter '" + spec.name + "': " + why);
  ir::Node p;
  p.op = "param";
  p.name = node_name;
  p.path = node_name;
  p.attrs = ir::validate_attrs(*ir::OpRegistry::global().find("param"),
                               {{"shape", spec.type.shape},
                                {"dtype", std::string(ir::dtype_name(spec.type.dtype))},
                                {"init", spec.init},
                                {"trainable", spec.trainable},
                                {"fan_in", spec.fan_in},
                                {"std", spec.std}});
  p.outputs = {spec.type};
  p.span = span(loc);
  ir::ValueRef ref{graph_.add_node(std::move(p)), 0};
  if (st) st->weights[key] = ref;
  return ref;
}

Value Expander::call_block(const std::shared_ptr<const BlockDecl>& decl, const std::vector<NamedValue>& args,
                           const Expr& call, const Callable* instance) {
  const BlockDecl& d = *decl;
  std::vector<std::optional<NamedValue>> given(d.params.size());
  auto index_of = [&](const std::string& name) -> int {
    for (size_t i = 0; i < d.params.size(); ++i)
      if (d.params[i].name == name) return static_cast<int>(i);
    return -1;
  };
  if (instance)
    for (const auto& b : instance->bound) given[index_of(b.name)] = b;
  size_t pos = 0;
  std::vector<NamedValue> named;
  for (const auto& a : args) {
    int idx;
    if (a.name.empty()) {
      while (pos < given.size() && given[pos]) ++pos;
      if (pos >= d.params.size())
        fail(a.loc, "block '" + d.name + "' takes " + std::to_string(d.params.size()) + " argument" +
                        (d.params.size() == 1 ? "" : "s") + ", got more (declared at " + d.loc.str() + ")");
      idx = static_cast<int>(pos++);
    } else {
      idx = index_of(a.name);
      if (idx < 0) {
        std::string msg = "block '" + d.name + "' has no argument '" + a.name + "'";
        std::string best;
        int best_d = 3;
        for (const auto& p : d.params) {
          int dd = ir::edit_distance(p.name, a.name);
          if (dd < best_d) best_d = dd, best = p.name;
        }
        if (!best.empty()) msg += " (did you mean '" + best + "'?)";
        fail(a.loc, msg);
      }
      if (given[idx]) {
        if (instance && std::any_of(instance->bound.begin(), instance->bound.end(),
                                    [&](auto& b) { return b.name == a.name; }))
          fail(a.loc, "argument '" + a.name + "' is fixed where the shared layer '" + instance->state->label +
                          "' was declared");
        fail(a.loc, "argument '" + a.name + "' of block '" + d.name + "' is given twice");
      }
      named.push_back(a);
    }
    given[idx] = a;
  }
  if (!instance) {
    bool has_tensor_param = false, tensor_given = false;
    for (size_t i = 0; i < d.params.size(); ++i) {
      if (!d.params[i].type.is_tensor) continue;
      has_tensor_param = true;
      tensor_given = tensor_given || given[i].has_value();
    }
    if (has_tensor_param && !tensor_given) {
      for (const auto& a : args)
        if (a.name.empty())
          fail(a.loc, "declaring a shared '" + d.name + "' takes named arguments only");
      return make_instance(Callable{Callable::Kind::Block, d.name, nullptr, decl, {}, nullptr}, named, call);
    }
  }
  if (depth_ >= kMaxBlockDepth)
    fail(call.loc, "block '" + d.name + "' is expanded " + std::to_string(kMaxBlockDepth) +
                       " levels deep: recursion without end?",
         {"a recursive block must stop through a compile-time `if`, e.g. "
          "`y = if n == 0 then x else " + d.name + "(x, n=n-1);`"});

  // Argument type errors are the caller's: they keep the caller's expansion chain.
  const FrameChain caller_chain = frame_->chain;
  auto caller_fail = [&](const SourceLoc& loc, const std::string& msg) {
    throw UserError(SourceSpan{loc, caller_chain}, msg);
  };

  int k = ++frame_->counters["block:" + d.name];
  std::string label = k == 1 ? d.name : d.name + "#" + std::to_string(k);
  Frame f;
  auto chain = std::make_shared<std::vector<ExpansionFrame>>(*frame_->chain);
  chain->push_back(ExpansionFrame{label, d.name, call.loc});
  f.chain = std::move(chain);
  f.prefix = frame_->prefix.empty() ? label : frame_->prefix + "/" + label;
  if (instance) {
    f.instance = instance->state.get();
    f.instance_prefix.clear();
  } else {
    f.instance = frame_->instance;
    f.instance_prefix = frame_->instance_prefix + label + "/";
  }
  Scope scope;
  Frame* saved_frame = frame_;
  Scope* saved_scope = scope_;
  const ir::Annotation saved_annotation = annotation_;
  const SourceLoc saved_annotation_loc = annotation_loc_;
  struct Restore {
    Expander* self;
    Frame* frame;
    Scope* scope;
    ir::Annotation annotation;
    SourceLoc annotation_loc;
    std::vector<Value>* yields;
    ~Restore() {
      self->enclosing_yields_ = yields;
      self->frame_ = frame;
      self->scope_ = scope;
      self->annotation_ = annotation;
      self->annotation_loc_ = annotation_loc;
      --self->depth_;
    }
  } restore{this, saved_frame, saved_scope, saved_annotation, saved_annotation_loc, enclosing_yields_};
  enclosing_yields_ = nullptr;  // a block body never yields into its caller's list
  ++depth_;
  frame_ = &f;
  scope_ = &scope;
  for (const auto& a : d.annotations) {
    if (a.name != "recompute" && a.name != "checkpoint") fail(a.loc, "unknown annotation '@" + a.name + "'");
    annotation_ = a.name == "recompute" ? ir::Annotation::Recompute : ir::Annotation::Checkpoint;
    annotation_loc_ = a.loc;
  }

  for (size_t i = 0; i < d.params.size(); ++i) {
    const BlockParam& p = d.params[i];
    Value v;
    SourceLoc where = given[i] ? given[i]->loc : call.loc;
    if (given[i]) {
      v = given[i]->value;
    } else if (p.default_value) {
      v = eval(*p.default_value);  // may read earlier arguments
      if (v.is_poison()) return v;
      where = p.default_value->loc;
    } else {
      caller_fail(call.loc, "missing argument '" + p.name + "' for block '" + d.name + "' (declared at " +
                                d.loc.str() + ")");
    }
    const TypeExpr& t = p.type;
    if (!t.is_tensor) {
      if (t.scalar == "float" && v.kind == Value::Kind::Int) v = Value::of_float(static_cast<double>(v.i));
      bool ok = (t.scalar == "int" && v.kind == Value::Kind::Int) ||
                (t.scalar == "float" && v.kind == Value::Kind::Float) ||
                (t.scalar == "bool" && v.kind == Value::Kind::Bool);
      if (!ok)
        caller_fail(where, "argument '" + p.name + "' of block '" + d.name + "' is " + t.scalar + ", got " +
                               type_str(v));
    } else {
      if (v.kind != Value::Kind::Tensor)
        caller_fail(where, "argument '" + p.name + "' of block '" + d.name + "' is a tensor, got " + type_str(v));
      const ir::TensorType& tt = graph_.type(v.t);
      std::string want = t.dtype;
      bool ok = want == ir::dtype_name(tt.dtype);
      if (t.has_dims) {
        std::vector<bool> wild;
        ir::Shape shape = eval_shape(t, true, &wild);
        want += "[";
        for (size_t j = 0; j < shape.size(); ++j)
          want += (j ? ", " : "") + (wild[j] ? std::string("_") : std::to_string(shape[j]));
        want += "]";
        if (shape.size() != tt.shape.size()) ok = false;
        for (size_t j = 0; ok && j < shape.size(); ++j)
          if (!wild[j] && shape[j] != tt.shape[j]) ok = false;
      }
      if (!ok)
        throw UserError(Diagnostic{Severity::Error, SourceSpan{where, caller_chain},
                                   "argument '" + p.name + "' of block '" + d.name + "' has the wrong type",
                                   {"expected: " + want, "got:      " + tt.str()}});
    }
    scope.vars[p.name] = Binding{v, p.loc, false};
  }
  Value result = Value::none();
  exec_body(d.body, true, &result, nullptr);
  return result;
}

}  // namespace sublinear::frontend
