#pragma once
// The .snet abstract syntax tree: what the parser (parser.cpp) builds from ANTLR's parse tree and the
// expander (expander.cpp) interprets. Every node keeps its SourceLoc for diagnostics.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ir/source_span.h"

namespace sublinear::frontend {

struct Expr;
struct Stmt;
using ExprPtr = std::shared_ptr<const Expr>;
using StmtPtr = std::shared_ptr<const Stmt>;

struct Annotation {
  std::string name;  // "recompute", "checkpoint"
  SourceLoc loc;
};

// `repeat i in lo..hi { body }`, as a statement or as an expression that collects its yields.
struct Repeat {
  std::string var;
  SourceLoc var_loc;
  ExprPtr lo, hi;
  std::vector<StmtPtr> body;
};

struct Arg {
  std::string name;  // empty: positional
  ExprPtr value;
  SourceLoc loc;
};

struct IndexItem {
  bool is_range = false;
  ExprPtr point;   // when !is_range
  ExprPtr lo, hi;  // when is_range; null = open end
  ExprPtr step;    // when is_range; null = 1
  SourceLoc loc;
};

enum class ExprKind { Int, Float, Bool, String, Name, List, Call, Index, Member, Unary, Binary, If, Repeat };

struct Expr {
  ExprKind kind = ExprKind::Int;
  SourceLoc loc;
  int64_t int_value = 0;
  double float_value = 0;
  bool bool_value = false;
  std::string text;                // name, string literal, operator ("+", "and", "-", "not"), or member
  std::vector<ExprPtr> operands;   // list items; unary/binary operands; if: cond, then, else
  ExprPtr callee;                  // call, index and member target
  std::vector<Arg> args;           // call
  std::vector<IndexItem> indices;  // index
  std::shared_ptr<const Repeat> repeat;
};

struct TypeExpr {
  bool is_tensor = false;
  std::string scalar;              // "int", "float", "bool" when !is_tensor
  std::string dtype;               // "f32", ... when is_tensor
  bool has_dims = false;           // `f32` alone accepts any shape
  std::vector<ExprPtr> dims;       // null entry = `_` (any size)
  SourceLoc loc;
  std::string str() const;         // as written, roughly: "f32[N, C, _, _]"
};

enum class StmtKind { Assign, Repeat, Return, Yield, Weight };

struct Stmt {
  StmtKind kind = StmtKind::Assign;
  SourceLoc loc;
  std::vector<Annotation> annotations;
  std::vector<std::string> targets;      // assign: one name, or several for a tuple
  std::vector<SourceLoc> target_locs;
  ExprPtr value;                         // assign, yield
  std::vector<ExprPtr> values;           // return
  std::shared_ptr<const Repeat> repeat;  // repeat statement
  // weight NAME: TYPE = INIT(ARGS);
  std::string weight_name;
  TypeExpr weight_type;
  std::string init_name;                 // empty: default initialiser
  std::vector<Arg> init_args;
  SourceLoc init_loc;
};

struct BlockParam {
  std::string name;
  TypeExpr type;
  ExprPtr default_value;  // may be null
  SourceLoc loc;
};

struct BlockDecl {
  std::string name;
  SourceLoc loc;
  std::vector<Annotation> annotations;
  std::vector<BlockParam> params;
  std::vector<StmtPtr> body;
};

struct ModelInput {
  std::string name;
  TypeExpr type;
  SourceLoc loc;
};

struct ModelDecl {
  std::string name;
  SourceLoc loc;
  std::vector<Annotation> annotations;
  std::vector<ModelInput> inputs;
  std::vector<std::string> outputs;
  std::vector<SourceLoc> output_locs;
  std::vector<StmtPtr> body;
};

struct ParamDecl {
  std::string name;
  std::string type;  // "int", "float", "bool"
  ExprPtr value;
  SourceLoc loc;
};

struct ImportDecl {
  std::string path;
  SourceLoc loc;
};

struct Program {
  std::string file;
  bool has_version = false;
  int64_t version = 0;
  SourceLoc version_loc;
  std::vector<ImportDecl> imports;
  std::vector<ParamDecl> params;
  std::vector<std::shared_ptr<const BlockDecl>> blocks;
  std::vector<std::shared_ptr<const ModelDecl>> models;
};

}  // namespace sublinear::frontend
