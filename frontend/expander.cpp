// Declarations, params, the model and statements. See expander.h for the rules.
#include "frontend/expander.h"

#include <algorithm>
#include <cmath>
#include <charconv>

#include "frontend/parser.h"
#include "frontend/stdlib.h"
#include "ir/check.h"

namespace sublinear::frontend {

const char* kind_name(Value::Kind k) {
  switch (k) {
    case Value::Kind::None: return "nothing";
    case Value::Kind::Int: return "int";
    case Value::Kind::Float: return "float";
    case Value::Kind::Bool: return "bool";
    case Value::Kind::String: return "string";
    case Value::Kind::Tensor: return "tensor";
    case Value::Kind::List: return "list";
    case Value::Kind::Callable: return "layer or block";
    case Value::Kind::Poison: return "error";
  }
  return "?";
}

Expander::Expander(const std::vector<Program>& programs, const LoadOptions& opts)
    : programs_(programs), opts_(opts) {}

void Expander::fail(const SourceLoc& loc, const std::string& msg, std::vector<std::string> extra) const {
  throw UserError(Diagnostic{Severity::Error, span(loc), msg, std::move(extra)});
}

void Expander::report(UserError& e) {
  const std::string key = e.diagnostic().span.loc.str();
  // One report per source location: an error inside a block or repeat would otherwise repeat for
  // every expansion of it.
  if (std::find(reported_locs_.begin(), reported_locs_.end(), key) != reported_locs_.end()) return;
  reported_locs_.push_back(key);
  if (diags_.size() < kMaxErrors) diags_.push_back(e.diagnostic());
}

ir::Graph Expander::run() {
  Frame top;
  top.chain = std::make_shared<const std::vector<ExpansionFrame>>();
  frame_ = &top;
  try {
    collect_declarations();
    evaluate_params();
    const ModelDecl& m = choose_model();
    if (diags_.empty()) expand_model(m);
  } catch (UserError& e) {
    report(e);
  } catch (Poisoned&) {
  }
  frame_ = nullptr;
  if (!diags_.empty()) throw UserErrors(std::move(diags_));
  return std::move(graph_);
}

void Expander::collect_declarations() {
  for (const Program& p : programs_) {
    const bool is_stdlib = p.file == kStdlibFileName;
    SourceLoc start{p.file, 1, 1, 1};
    if (!p.has_version) {
      UserError e(span(start), "missing version header: start the file with `snet " +
                                   std::to_string(kLanguageVersion) + ";`");
      report(e);
    } else if (p.version != kLanguageVersion) {
      UserError e(span(p.version_loc), "unsupported language version " + std::to_string(p.version) +
                                           " (this sublinear reads version " +
                                           std::to_string(kLanguageVersion) + ")");
      report(e);
    }
    for (const auto& b : p.blocks) {
      auto it = blocks_.find(b->name);
      if (it != blocks_.end() && it->second->loc.file != kStdlibFileName && !is_stdlib) {
        UserError e(span(b->loc), "block '" + b->name + "' is defined twice (first at " +
                                      it->second->loc.str() + ")");
        report(e);
        continue;
      }
      // A user block may shadow a standard-library block of the same name.
      blocks_[b->name] = b;
    }
  }
}

namespace {

bool parse_set_value(const std::string& type, const std::string& text, Value* out) {
  if (type == "bool") {
    if (text == "true" || text == "1") *out = Value::of_bool(true);
    else if (text == "false" || text == "0") *out = Value::of_bool(false);
    else return false;
    return true;
  }
  if (type == "int") {
    int64_t v = 0;
    auto r = std::from_chars(text.data(), text.data() + text.size(), v);
    if (r.ec != std::errc() || r.ptr != text.data() + text.size()) return false;
    *out = Value::of_int(v);
    return true;
  }
  try {
    size_t used = 0;
    double d = std::stod(text, &used);
    if (used != text.size()) return false;
    *out = Value::of_float(d);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

void Expander::evaluate_params() {
  globals_["N"] = Binding{Value::of_int(opts_.batch), SourceLoc{"<command line: --batch>", 0, 0, 1}, true};
  std::vector<bool> used(opts_.sets.size(), false);
  for (const Program& p : programs_) {
    for (const auto& pd : p.params) {
      try {
        if (pd.name == "N") fail(pd.loc, "'N' is the batch size, bound by --batch; choose another param name");
        // Params are global and looked up first: one named like an op, block or builtin would hide it
        // everywhere, standard library included.
        const ir::OpDef* op = ir::OpRegistry::global().find(pd.name);
        const char* clash = op && !op->is_source ? "an op" : blocks_.count(pd.name) ? "a block"
                            : is_builtin(pd.name) ? "a builtin" : nullptr;
        if (clash)
          fail(pd.loc, "param '" + pd.name + "' has the name of " + clash + "; choose another name (e.g. '" +
                           pd.name + "_rate' or '" + pd.name + "_size')");
        if (auto it = globals_.find(pd.name); it != globals_.end())
          fail(pd.loc, "param '" + pd.name + "' is declared twice (first at " + it->second.loc.str() + ")");
        Value v;
        bool overridden = false;
        for (size_t i = 0; i < opts_.sets.size(); ++i) {
          if (opts_.sets[i].first != pd.name) continue;
          used[i] = true;
          overridden = true;
          if (!parse_set_value(pd.type, opts_.sets[i].second, &v))
            throw UserError(set_span(i), set_name(i) + ": '" + pd.name + "' is " +
                                             (pd.type == "int" ? "an " : "a ") + pd.type + " param (declared at " +
                                             pd.loc.str() + ")");
        }
        if (!overridden) v = eval(*pd.value);
        if (v.is_poison()) continue;
        if (pd.type == "float" && v.kind == Value::Kind::Int) v = Value::of_float(static_cast<double>(v.i));
        const bool ok = (pd.type == "int" && v.kind == Value::Kind::Int) ||
                        (pd.type == "float" && v.kind == Value::Kind::Float) ||
                        (pd.type == "bool" && v.kind == Value::Kind::Bool);
        if (!ok)
          fail(pd.value->loc, "param '" + pd.name + "' is declared " + pd.type + " but its value is " +
                                  type_str(v));
        globals_[pd.name] = Binding{v, pd.loc, true};
      } catch (UserError& e) {
        report(e);
        globals_[pd.name] = Binding{Value::poison(), pd.loc, true};
      }
    }
  }
  for (size_t i = 0; i < opts_.sets.size(); ++i) {
    if (used[i]) continue;
    std::string msg = set_name(i, false) + ": the model has no param '" + opts_.sets[i].first + "'";
    std::string best;
    int best_d = 3;
    std::string known;
    for (const auto& [name, b] : globals_) {
      if (name == "N") continue;
      int d = ir::edit_distance(name, opts_.sets[i].first);
      if (d < best_d) best_d = d, best = name;
    }
    if (!best.empty()) msg += " (did you mean '" + best + "'?)";
    UserError e(set_span(i), msg);
    report(e);
  }
}

bool Expander::set_from_file(size_t i) const { return i < opts_.set_locs.size() && opts_.set_locs[i].known(); }

SourceSpan Expander::set_span(size_t i) const {
  return SourceSpan{set_from_file(i) ? opts_.set_locs[i] : SourceLoc{"<command line>", 0, 0, 1}, nullptr};
}

std::string Expander::set_name(size_t i, bool with_value) const {
  const auto& [name, value] = opts_.sets[i];
  if (set_from_file(i)) return "model.params." + name + (with_value ? " = " + value : "");
  return "--set " + name + (with_value ? "=" + value : "");
}

const ModelDecl& Expander::choose_model() {
  const Program& main = programs_.back();
  if (main.models.empty())
    fail(SourceLoc{main.file, 1, 1, 1}, "no `model` in " + main.file + ": declare one with "
                                        "`model name(inputs) -> (loss) { ... }`");
  if (opts_.model.empty()) {
    if (main.models.size() > 1) {
      std::string names;
      for (const auto& m : main.models) names += (names.empty() ? "" : ", ") + m->name;
      fail(main.models[1]->loc, "the file declares several models (" + names + "); choose one with --model");
    }
    return *main.models.front();
  }
  for (const auto& m : main.models)
    if (m->name == opts_.model) return *m;
  fail(SourceLoc{main.file, 1, 1, 1}, "no model named '" + opts_.model + "' in " + main.file);
}

void Expander::expand_model(const ModelDecl& m) {
  model_ = &m;
  graph_.model_name = m.name;
  graph_.batch = opts_.batch;
  graph_.source_file = m.loc.file;
  Scope scope;
  scope_ = &scope;
  for (const auto& a : m.annotations) {
    if (a.name != "recompute" && a.name != "checkpoint") fail(a.loc, "unknown annotation '@" + a.name + "'");
    annotation_ = a.name == "recompute" ? ir::Annotation::Recompute : ir::Annotation::Checkpoint;
    annotation_loc_ = a.loc;
  }
  for (const auto& in : m.inputs) {
    try {
      if (scope.vars.count(in.name)) fail(in.loc, "input '" + in.name + "' is declared twice");
      if (!in.type.has_dims)
        fail(in.type.loc, "model input '" + in.name + "' needs a shape, e.g. " + in.type.dtype + "[N, 784]");
      ir::Shape shape = eval_shape(in.type, false, nullptr);
      ir::Node n;
      n.op = "input";
      n.name = in.name;
      n.path = in.name;
      n.span = span(in.loc);
      ir::DType dt{};
      SL_CHECK(ir::parse_dtype(in.type.dtype, &dt)) << in.type.dtype;
      n.attrs = ir::validate_attrs(*ir::OpRegistry::global().find("input"),
                                   {{"shape", shape}, {"dtype", in.type.dtype}});
      n.outputs = {ir::TensorType{dt, shape}};
      if (std::string why = ir::size_problem(n.outputs[0]); !why.empty())
        fail(in.type.loc, "model input '" + in.name + "': " + why);
      ir::NodeId id = graph_.add_node(std::move(n));
      scope.vars[in.name] = Binding{Value::of_tensor({id, 0}), in.loc, false};
    } catch (UserError& e) {
      report(e);
      scope.vars[in.name] = Binding{Value::poison(), in.loc, false};
    }
  }
  exec_body(m.body, false, nullptr, nullptr);
  for (size_t i = 0; i < m.outputs.size(); ++i) {
    const std::string& name = m.outputs[i];
    try {
      auto it = scope.vars.find(name);
      if (it == scope.vars.end())
        fail(m.output_locs[i], "output '" + name + "' is never assigned in model '" + m.name + "'");
      const Value& v = it->second.value;
      if (v.is_poison()) continue;
      if (v.kind != Value::Kind::Tensor)
        fail(m.output_locs[i], "output '" + name + "' must be a tensor, got " + type_str(v));
      const auto& t = graph_.type(v.t);
      if (i == 0 && !(t.shape.empty() && t.dtype == ir::DType::F32))
        fail(m.output_locs[i], "the first output '" + name + "' is the training loss and must be a scalar "
                               "f32[], got " + t.str(),
             {"hint: reduce it, e.g. softmax_cross_entropy(logits, labels) or mean(x)"});
      graph_.add_output(v.t, name);
    } catch (UserError& e) {
      report(e);
    }
  }
  scope_ = nullptr;
}

void Expander::exec_body(const std::vector<StmtPtr>& body, bool is_block_body, Value* result,
                         std::vector<Value>* yields) {
  for (size_t i = 0; i < body.size(); ++i)
    exec_stmt(*body[i], is_block_body && i + 1 == body.size(), result, yields);
}

void Expander::poison_targets(const Stmt& s) {
  for (size_t i = 0; i < s.targets.size(); ++i) {
    if (scope_->vars.count(s.targets[i])) continue;  // a redefinition: the first value stands
    bool carried = false;
    for (Scope* sc = scope_->parent; sc && !carried; sc = sc->parent) {
      auto it = sc->vars.find(s.targets[i]);
      if (it == sc->vars.end()) continue;
      // A failed loop-carried update: later uses must not see the stale value (loop variables stay).
      if (!it->second.constant) it->second.value = Value::poison();
      carried = true;
    }
    if (!carried) scope_->vars[s.targets[i]] = Binding{Value::poison(), s.target_locs[i], false};
  }
  if (s.kind == StmtKind::Weight && !lookup_local(s.weight_name))
    scope_->vars[s.weight_name] = Binding{Value::poison(), s.target_locs[0], false};
}

void Expander::exec_stmt(const Stmt& s, bool is_last_in_block, Value* result, std::vector<Value>* yields) {
  const ir::Annotation saved = annotation_;
  const SourceLoc saved_loc = annotation_loc_;
  try {
    const Annotation* seen = nullptr;
    for (const auto& a : s.annotations) {
      if (a.name != "recompute" && a.name != "checkpoint")
        fail(a.loc, "unknown annotation '@" + a.name + "'",
             {"known annotations: @recompute (drop after forward, recompute for backward), "
              "@checkpoint (always keep)"});
      if (seen && seen->name != a.name)
        fail(a.loc, "@" + a.name + " contradicts @" + seen->name + " on the same statement");
      seen = &a;
      annotation_ = a.name == "recompute" ? ir::Annotation::Recompute : ir::Annotation::Checkpoint;
      annotation_loc_ = a.loc;
    }
    switch (s.kind) {
      case StmtKind::Assign: exec_assign(s); break;
      case StmtKind::Weight: exec_weight(s); break;
      case StmtKind::Repeat: run_repeat(*s.repeat, s.loc, nullptr); break;
      case StmtKind::Yield: {
        if (!yields)
          fail(s.loc, "`yield` outside a repeat expression",
               {"collect values with `xs = repeat i in 0..n { ...; yield x; };`"});
        Value v = eval(*s.value);
        yields->push_back(v);
        break;
      }
      case StmtKind::Return: {
        if (!result) fail(s.loc, "`return` is only allowed in a block (a model names its outputs)");
        if (!is_last_in_block) fail(s.loc, "`return` must be the last statement of a block");
        std::vector<Value> vs;
        for (const auto& e : s.values) vs.push_back(eval(*e));
        const bool poisoned = std::any_of(vs.begin(), vs.end(), [](const Value& v) { return v.is_poison(); });
        *result = poisoned ? Value::poison() : vs.size() == 1 ? vs[0] : Value::of_list(std::move(vs));
        break;
      }
    }
  } catch (UserError& e) {
    report(e);
    poison_targets(s);
    if (s.kind == StmtKind::Return && result) *result = Value::poison();
    if (s.kind == StmtKind::Yield && (yields || enclosing_yields_))  // poisons the list
      (yields ? yields : enclosing_yields_)->push_back(Value::poison());
  } catch (Poisoned&) {
    poison_targets(s);
    if (s.kind == StmtKind::Return && result) *result = Value::poison();
    if (s.kind == StmtKind::Yield && (yields || enclosing_yields_))
      (yields ? yields : enclosing_yields_)->push_back(Value::poison());
  }
  annotation_ = saved;
  annotation_loc_ = saved_loc;
}

void Expander::assign(const std::string& name, Value v, const SourceLoc& loc) {
  if (auto g = globals_.find(name); g != globals_.end())
    fail(loc, "'" + name + "' is a param (declared at " + g->second.loc.str() + "); choose another name");
  auto it = scope_->vars.find(name);
  if (it != scope_->vars.end()) {
    if (it->second.constant) fail(loc, "cannot assign to loop variable '" + name + "'");
    fail(loc, "'" + name + "' is already defined at " + it->second.loc.str() +
                  "; values are single-assignment (use a new name, or update it inside a repeat)");
  }
  for (Scope* sc = scope_->parent; sc; sc = sc->parent) {
    auto jt = sc->vars.find(name);
    if (jt == sc->vars.end()) continue;
    if (jt->second.constant) fail(loc, "cannot assign to loop variable '" + name + "'");
    jt->second.value = std::move(v);  // loop-carried: the next iteration sees the new value
    return;
  }
  scope_->vars[name] = Binding{std::move(v), loc, false};
}

void Expander::exec_assign(const Stmt& s) {
  pending_name_ = s.targets.size() == 1 ? s.targets[0] : "";
  Value v = eval(*s.value);
  pending_name_.clear();
  // An instance declaration computes nothing, so an annotation on it would annotate nothing: say where
  // it belongs instead of accepting it.
  if (v.kind == Value::Kind::Callable && !s.annotations.empty())
    fail(s.annotations[0].loc,
         "@" + s.annotations[0].name + " on the declaration of '" + s.targets[0] +
             "' annotates nothing: a declaration computes no value",
         {"annotate the statements that call it: @" + s.annotations[0].name + " h = " + s.targets[0] + "(x);"});
  if (s.targets.size() == 1) {
    if (v.kind == Value::Kind::None)
      fail(s.value->loc, "this call returns nothing; there is no value to assign to '" + s.targets[0] + "'");
    assign(s.targets[0], std::move(v), s.target_locs[0]);
    return;
  }
  if (v.is_poison()) {
    poison_targets(s);
    return;
  }
  if (v.kind != Value::Kind::List)
    fail(s.value->loc, "cannot unpack " + type_str(v) + " into " + std::to_string(s.targets.size()) + " names");
  if (v.list->size() != s.targets.size())
    fail(s.value->loc, "cannot unpack " + std::to_string(v.list->size()) + " values into " +
                           std::to_string(s.targets.size()) + " names");
  for (size_t i = 0; i < s.targets.size(); ++i) assign(s.targets[i], (*v.list)[i], s.target_locs[i]);
}

void Expander::run_repeat(const Repeat& r, SourceLoc loc, std::vector<Value>* yields) {
  Value lo = eval(*r.lo), hi = eval(*r.hi);
  if (lo.is_poison() || hi.is_poison()) return;
  for (const auto* b : {&lo, &hi})
    if (b->kind != Value::Kind::Int)
      fail(b == &lo ? r.lo->loc : r.hi->loc,
           "repeat bounds must be compile-time integers, got " + type_str(*b),
           {"bounds may use params, literals, N and dim(x, axis), not tensor values"});
  // The count in unsigned arithmetic: hi - lo overflows int64 for bounds of opposite signs.
  const uint64_t count = hi.i > lo.i ? static_cast<uint64_t>(hi.i) - static_cast<uint64_t>(lo.i) : 0;
  if (count > static_cast<uint64_t>(kMaxRepeatIterations))
    fail(loc, "repeat of " + std::to_string(count) + " iterations is larger than sublinear expands (at most " +
                  std::to_string(kMaxRepeatIterations) + " iterations over all the model's repeats)");
  int k = ++frame_->counters["repeat"];
  std::string base = k == 1 ? "repeat" : "repeat#" + std::to_string(k);
  Frame* outer_frame = frame_;
  Scope* outer_scope = scope_;
  std::vector<Value>* outer_yields = enclosing_yields_;
  if (yields) enclosing_yields_ = yields;
  for (int64_t i = lo.i; i < hi.i; ++i) {
    if (++repeat_iterations_ > kMaxRepeatIterations) {
      // Reported once, where it tripped; the repeats around it then stop without a report each.
      if (limit_reported_) throw Poisoned{};
      limit_reported_ = true;
      fail(loc, "the model's repeats run more than " + std::to_string(kMaxRepeatIterations) +
                    " iterations in all (this one was at iteration " + std::to_string(i - lo.i) + " of " +
                    std::to_string(count) + "); nested repeats multiply",
           {"sublinear expands every iteration into nodes: reduce the bounds"});
    }
    Frame f;
    auto chain = std::make_shared<std::vector<ExpansionFrame>>(*outer_frame->chain);
    std::string label = base + "[" + std::to_string(i) + "]";
    chain->push_back(ExpansionFrame{label, "", loc});
    f.chain = std::move(chain);
    f.prefix = outer_frame->prefix.empty() ? label : outer_frame->prefix + "/" + label;
    f.instance = outer_frame->instance;
    f.instance_prefix = outer_frame->instance_prefix + label + "/";
    Scope sc;
    sc.parent = outer_scope;
    sc.vars[r.var] = Binding{Value::of_int(i), r.var_loc, true};
    frame_ = &f;
    scope_ = &sc;
    try {
      exec_body(r.body, false, nullptr, yields);
    } catch (...) {
      frame_ = outer_frame;
      scope_ = outer_scope;
      enclosing_yields_ = outer_yields;
      throw;
    }
    frame_ = outer_frame;
    scope_ = outer_scope;
  }
  enclosing_yields_ = outer_yields;
}

void Expander::exec_weight(const Stmt& s) {
  if (!s.annotations.empty())
    fail(s.annotations[0].loc,
         "@" + s.annotations[0].name + " on weight '" + s.weight_name +
             "' annotates nothing: a weight is a parameter, always kept, never computed",
         {"annotate the statements that compute values from it"});
  if (!s.weight_type.has_dims)
    fail(s.weight_type.loc, "weight '" + s.weight_name + "' needs a shape, e.g. f32[256, 128]");
  ir::Shape shape = eval_shape(s.weight_type, false, nullptr);
  ir::ParamSpec spec;
  spec.name = s.weight_name;
  ir::DType dt{};
  SL_CHECK(ir::parse_dtype(s.weight_type.dtype, &dt)) << s.weight_type.dtype;
  spec.type = ir::TensorType{dt, shape};
  spec.fan_in = 1;
  for (size_t i = 1; i < shape.size(); ++i) spec.fan_in *= shape[i];
  spec.init = s.init_name.empty() ? "xavier" : s.init_name;
  static const std::vector<std::string> inits = {"zeros", "ones", "normal", "uniform", "xavier", "kaiming"};
  if (std::find(inits.begin(), inits.end(), spec.init) == inits.end())
    fail(s.init_loc, "unknown initialiser '" + spec.init + "'",
         {"initialisers: zeros(), ones(), normal(), uniform(), xavier(), kaiming()"});
  // normal(std=0.02) (or normal(0.02)) sets the standard deviation, as GPT-2's initialisation needs;
  // the other initialisers derive their scale from the shape and take nothing.
  if (!s.init_args.empty() && spec.init != "normal")
    fail(s.init_args[0].loc, "initialiser '" + spec.init + "' takes no arguments");
  for (size_t i = 0; i < s.init_args.size(); ++i) {
    const Arg& a = s.init_args[i];
    if (i > 0 || (!a.name.empty() && a.name != "std"))
      fail(a.loc, "normal() takes one argument, std (the standard deviation): normal(std=0.02)");
    const Value v = eval(*a.value);
    if (v.is_poison()) continue;  // already reported
    if (v.kind != Value::Kind::Int && v.kind != Value::Kind::Float)
      fail(a.loc, "normal(): std must be a number, got " + type_str(v));
    spec.std = v.as_double();
    if (!(spec.std > 0 && std::isfinite(spec.std)))
      fail(a.loc, "normal(): std must be positive and finite, got " + std::to_string(spec.std));
  }
  std::string name = frame_->prefix.empty() ? s.weight_name : frame_->prefix + "/" + s.weight_name;
  ir::ValueRef ref = make_param(frame_->instance_prefix + s.weight_name, name, spec, s.target_locs[0], nullptr);
  assign(s.weight_name, Value::of_tensor(ref), s.target_locs[0]);
}

}  // namespace sublinear::frontend
