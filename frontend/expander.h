#pragma once
// The expander interprets the AST of a model: compile-time params are folded, blocks inlined, repeats
// unrolled, layers create their parameters, and every tensor operation becomes an ir::Node whose span
// and path say where in the DSL, and through which expansions, it came from.
//
// Rules it enforces (each a diagnostic with file:line:col, never an abort):
// - names are single-assignment within a scope; inside a repeat body, assigning a name that an
//   enclosing scope of the same body defines updates it for the next iteration (loop-carried values);
// - blocks see only their arguments and the globals (params, blocks, ops), never the caller's locals;
// - `return` is the last statement of a block, `yield` only appears in a repeat used as an expression;
// - repeat bounds, `if` conditions, shapes and attributes are compile-time values;
// - a block recursing deeper than kMaxBlockDepth is reported as recursion without end;
// - the innermost @recompute / @checkpoint annotation applies to every node a statement creates.
// Errors are collected per statement: a failing statement binds its targets to Poison, which silences
// everything computed from it, and expansion goes on to find further independent mistakes.
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "frontend/ast.h"
#include "frontend/frontend.h"
#include "frontend/values.h"
#include "ir/diagnostic.h"
#include "ir/graph.h"
#include "ir/op_registry.h"

namespace sublinear::frontend {

inline constexpr int kMaxBlockDepth = 200;

bool is_builtin(const std::string& name);  // dim, rank, len, min, max, floor, ceil, sqrt
// Ops that, given one number, are compile-time math on it: sqrt, exp, log, sin, cos, abs.
bool is_number_math(const std::string& name);
// Expansion limits, so that a model too large to plan is an error in seconds, not a machine out of
// memory: a node costs about 3 KB while expanding (100,000 nodes, a 20,000-layer MLP, take 300 MB), and
// repeats that create nothing still take time per iteration.
inline constexpr size_t kMaxNodes = 1'000'000;
inline constexpr int64_t kMaxRepeatIterations = 500'000;  // over every repeat of the model
inline constexpr size_t kMaxErrors = 25;

// Thrown where a compile-time value is needed but an earlier error poisoned it: the statement is
// abandoned silently, the original error having been reported already.
struct Poisoned {};

struct Binding {
  Value value;
  SourceLoc loc;
  bool constant = false;  // loop variables
};

struct Scope {
  std::unordered_map<std::string, Binding> vars;
  Scope* parent = nullptr;  // null at a block or model body: lookups then go to the globals
};

// One block expansion or repeat iteration.
struct Frame {
  FrameChain chain;
  std::string prefix;                           // path of the frame ("repeat[3]/bottleneck")
  std::unordered_map<std::string, int> counters;  // labels already used in this frame
  InstanceState* instance = nullptr;            // the shared layer whose weights this frame uses
  std::string instance_prefix;                  // this frame's path relative to that instance
};

class Expander {
 public:
  Expander(const std::vector<Program>& programs, const LoadOptions& opts);
  ir::Graph run();  // throws UserErrors with everything found

 private:
  // --- declarations and globals (expander.cpp)
  void collect_declarations();
  void evaluate_params();
  const ModelDecl& choose_model();
  void expand_model(const ModelDecl& m);

  // --- statements (expander.cpp)
  void exec_body(const std::vector<StmtPtr>& body, bool is_block_body, Value* result,
                 std::vector<Value>* yields);
  void exec_stmt(const Stmt& s, bool is_last_in_block, Value* result, std::vector<Value>* yields);
  void exec_assign(const Stmt& s);
  void exec_weight(const Stmt& s);
  void run_repeat(const Repeat& r, SourceLoc loc, std::vector<Value>* yields);
  void assign(const std::string& name, Value v, const SourceLoc& loc);
  void poison_targets(const Stmt& s);
  void report(UserError& e);

  // --- expressions (eval_expr.cpp)
  Value eval(const Expr& e);
  Value eval_name(const Expr& e);
  Value eval_unary(const Expr& e);
  Value eval_member(const Expr& e);
  Value eval_binary(const Expr& e);
  Value tensor_binary(const Expr& e, const Value& a, const Value& b);
  Value number_power(const Expr& e, const Value& a, const Value& b);
  Value eval_index(const Expr& e);
  Value eval_builtin(const std::string& name, const std::vector<Value>& args, const Expr& call);
  int64_t eval_int(const Expr& e, const char* what);
  ir::Shape eval_shape(const TypeExpr& t, bool allow_wildcards, std::vector<bool>* wildcard);
  const Binding* lookup_local(const std::string& name) const;
  std::vector<std::string> visible_names() const;

  // --- calls and nodes (eval_call.cpp)
  Value eval_call(const Expr& e);
  Value call_op(const ir::OpDef& def, const std::vector<NamedValue>& args, const Expr& call,
                const Callable* instance);
  Value call_block(const std::shared_ptr<const BlockDecl>& decl, const std::vector<NamedValue>& args,
                   const Expr& call, const Callable* instance);
  Value make_instance(const Callable& base, const std::vector<NamedValue>& named, const Expr& call);
  Value make_node(const ir::OpDef& def, std::vector<ir::ValueRef> inputs,
                  const std::vector<std::pair<std::string, ir::AttrValue>>& attrs, const SourceLoc& loc,
                  InstanceState* op_instance);
  // A parameter node, or the one a shared layer already owns under `key`.
  ir::ValueRef make_param(const std::string& key, const std::string& name, const ir::ParamSpec& spec,
                          const SourceLoc& loc, InstanceState* op_instance);
  std::string next_label(const std::string& base);
  ir::AttrValue to_attr(const NamedValue& nv) const;

  SourceSpan span(const SourceLoc& loc) const { return SourceSpan{loc, frame_->chain}; }
  // Param override i (LoadOptions::sets) for errors: where it was given, and how ("--set name=value", or
  // "model.params.name = value" from an experiment file).
  bool set_from_file(size_t i) const;
  SourceSpan set_span(size_t i) const;
  std::string set_name(size_t i, bool with_value = true) const;
  [[noreturn]] void fail(const SourceLoc& loc, const std::string& msg,
                         std::vector<std::string> extra = {}) const;
  std::string type_str(const Value& v) const;

  const std::vector<Program>& programs_;
  LoadOptions opts_;
  ir::Graph graph_;
  std::vector<Diagnostic> diags_;
  std::vector<std::string> reported_locs_;

  std::unordered_map<std::string, std::shared_ptr<const BlockDecl>> blocks_;
  std::unordered_map<std::string, Binding> globals_;  // params and N
  const ModelDecl* model_ = nullptr;

  Frame* frame_ = nullptr;
  Scope* scope_ = nullptr;
  ir::Annotation annotation_ = ir::Annotation::None;
  SourceLoc annotation_loc_;
  int depth_ = 0;
  int64_t repeat_iterations_ = 0;  // run so far, over every repeat
  bool limit_reported_ = false;     // an expansion limit tripped: later statements stop silently
  std::string pending_name_;  // the variable an instance is being declared as, for its label
  // The list of the innermost repeat expression being run, so a misplaced `yield` in a repeat
  // statement nested inside it poisons that list instead of leaving it silently short.
  std::vector<Value>* enclosing_yields_ = nullptr;
};

}  // namespace sublinear::frontend
