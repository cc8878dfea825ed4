// Text -> AST. ANTLR recovers from syntax errors; we collect every one it reports (rewording its
// messages a little) and only build the AST when there are none, so the builder below may assume a
// well-formed tree.
#include "frontend/parser.h"

#include <antlr4-runtime.h>

#include <cstdio>

#include "SnetLexer.h"
#include "SnetParser.h"
#include "ir/check.h"
#include "ir/diagnostic.h"

namespace sublinear::frontend {

using snetgen::SnetLexer;
using snetgen::SnetParser;

namespace {

class CollectingErrorListener : public antlr4::BaseErrorListener {
 public:
  explicit CollectingErrorListener(std::string file) : file_(std::move(file)) {}

  void syntaxError(antlr4::Recognizer* recognizer, antlr4::Token* offending, size_t line,
                   size_t col, const std::string& msg, std::exception_ptr) override {
    SourceLoc loc{file_, static_cast<int>(line), static_cast<int>(col) + 1, 1};
    std::string text = msg;
    if (dynamic_cast<antlr4::Lexer*>(recognizer)) {
      // "token recognition error at: '$'" -> "unexpected character '$'"
      auto pos = msg.find("at: ");
      text = "unexpected character " + (pos == std::string::npos ? msg : msg.substr(pos + 4));
    } else {
      if (offending && offending->getType() != antlr4::Token::EOF)
        loc.length = std::max<int>(1, static_cast<int>(offending->getText().size()));
      text = "syntax error: " + reword(msg);
    }
    // ANTLR can report the same spot twice while recovering; once is enough.
    for (const auto& d : diags_)
      if (d.span.loc.line == loc.line && d.span.loc.column == loc.column) return;
    diags_.push_back(Diagnostic{Severity::Error, SourceSpan{loc, nullptr}, text, {}});
  }

  std::vector<Diagnostic>& diagnostics() { return diags_; }

 private:
  static std::string reword(std::string msg) {
    auto replace = [&](const std::string& from, const std::string& to) {
      for (size_t p = msg.find(from); p != std::string::npos; p = msg.find(from, p + to.size()))
        msg.replace(p, from.size(), to);
    };
    replace("<EOF>", "end of file");
    replace("mismatched input", "unexpected");
    replace("extraneous input", "unexpected");
    replace("no viable alternative at input", "cannot parse");
    return msg;
  }

  std::string file_;
  std::vector<Diagnostic> diags_;
};

class AstBuilder {
 public:
  explicit AstBuilder(std::string file) : file_(std::move(file)) {}

  Program build(SnetParser::ProgramContext* ctx) {
    Program p;
    p.file = file_;
    if (auto* v = ctx->versionDecl()) {
      p.has_version = true;
      p.version = parse_int(v->INT()->getSymbol());
      p.version_loc = loc(v->INT()->getSymbol());
    }
    for (auto* item : ctx->item()) {
      if (auto* i = item->importDecl()) {
        p.imports.push_back({unquote(i->STRING()->getText()), loc(i->STRING()->getSymbol())});
      } else if (auto* d = item->paramDecl()) {
        ParamDecl pd;
        pd.name = d->ID()->getText();
        pd.loc = loc(d->ID()->getSymbol());
        pd.type = d->scalarType()->getText();
        pd.value = expr(d->expr());
        p.params.push_back(std::move(pd));
      } else if (auto* b = item->blockDecl()) {
        p.blocks.push_back(block(b));
      } else if (auto* m = item->modelDecl()) {
        p.models.push_back(model(m));
      }
    }
    return p;
  }

 private:
  SourceLoc loc(antlr4::Token* t) const {
    return SourceLoc{file_, static_cast<int>(t->getLine()), static_cast<int>(t->getCharPositionInLine()) + 1,
                     std::max<int>(1, static_cast<int>(t->getText().size()))};
  }
  SourceLoc loc(antlr4::ParserRuleContext* c) const {
    SourceLoc l = loc(c->getStart());
    antlr4::Token* stop = c->getStop();
    if (stop && stop->getLine() == c->getStart()->getLine())
      l.length = std::max<int>(1, static_cast<int>(stop->getStopIndex() - c->getStart()->getStartIndex() + 1));
    return l;
  }

  int64_t parse_int(antlr4::Token* t) {
    try {
      return std::stoll(t->getText());
    } catch (const std::out_of_range&) {
      throw UserError(SourceSpan{loc(t), nullptr}, "integer literal " + t->getText() + " is too large");
    }
  }

  static std::string unquote(const std::string& s) {
    std::string out;
    for (size_t i = 1; i + 1 < s.size(); ++i) {
      if (s[i] == '\\' && i + 2 < s.size()) {
        char c = s[++i];
        out += c == 'n' ? '\n' : c == 't' ? '\t' : c;
      } else {
        out += s[i];
      }
    }
    return out;
  }

  std::vector<frontend::Annotation> annotations(const std::vector<SnetParser::AnnotationContext*>& as) {
    std::vector<frontend::Annotation> out;
    for (auto* a : as) {
      SourceLoc l = loc(a->getStart());
      l.length = static_cast<int>(a->ID()->getText().size()) + 1;
      out.push_back({a->ID()->getText(), l});
    }
    return out;
  }

  TypeExpr tensor_type(SnetParser::TensorTypeContext* c) {
    TypeExpr t;
    t.is_tensor = true;
    t.dtype = c->DTYPE()->getText();
    t.loc = loc(c);
    t.has_dims = c->getStop() && c->getStop()->getText() == "]";
    for (auto* d : c->dim()) t.dims.push_back(d->expr() ? expr(d->expr()) : nullptr);
    return t;
  }

  TypeExpr type_spec(SnetParser::TypeSpecContext* c) {
    if (c->tensorType()) return tensor_type(c->tensorType());
    TypeExpr t;
    t.scalar = c->scalarType()->getText();
    t.loc = loc(c);
    return t;
  }

  std::shared_ptr<const BlockDecl> block(SnetParser::BlockDeclContext* c) {
    auto b = std::make_shared<BlockDecl>();
    b->name = c->ID()->getText();
    b->loc = loc(c->ID()->getSymbol());
    b->annotations = annotations(c->annotation());
    for (auto* p : c->blockParam()) {
      BlockParam bp;
      bp.name = p->ID()->getText();
      bp.loc = loc(p->ID()->getSymbol());
      bp.type = type_spec(p->typeSpec());
      if (p->expr()) bp.default_value = expr(p->expr());
      b->params.push_back(std::move(bp));
    }
    b->body = body(c->body());
    return b;
  }

  std::shared_ptr<const ModelDecl> model(SnetParser::ModelDeclContext* c) {
    auto m = std::make_shared<ModelDecl>();
    auto ids = c->ID();
    m->name = ids[0]->getText();
    m->loc = loc(ids[0]->getSymbol());
    m->annotations = annotations(c->annotation());
    for (auto* in : c->modelInput())
      m->inputs.push_back({in->ID()->getText(), tensor_type(in->tensorType()), loc(in->ID()->getSymbol())});
    for (size_t i = 1; i < ids.size(); ++i) {
      m->outputs.push_back(ids[i]->getText());
      m->output_locs.push_back(loc(ids[i]->getSymbol()));
    }
    m->body = body(c->body());
    return m;
  }

  std::vector<StmtPtr> body(SnetParser::BodyContext* c) {
    std::vector<StmtPtr> out;
    for (auto* s : c->stmt()) out.push_back(stmt(s));
    return out;
  }

  std::shared_ptr<const Repeat> repeat(antlr4::tree::TerminalNode* var,
                                       const std::vector<SnetParser::ExprContext*>& bounds,
                                       SnetParser::BodyContext* b) {
    auto r = std::make_shared<Repeat>();
    r->var = var->getText();
    r->var_loc = loc(var->getSymbol());
    r->lo = expr(bounds[0]);
    r->hi = expr(bounds[1]);
    r->body = body(b);
    return r;
  }

  std::vector<Arg> args(SnetParser::ArgListContext* c) {
    std::vector<Arg> out;
    if (!c) return out;
    for (auto* a : c->arg()) {
      Arg arg;
      if (a->ID()) arg.name = a->ID()->getText();
      arg.value = expr(a->expr());
      arg.loc = a->ID() ? loc(a->ID()->getSymbol()) : arg.value->loc;
      out.push_back(std::move(arg));
    }
    return out;
  }

  StmtPtr stmt(SnetParser::StmtContext* c) {
    auto s = std::make_shared<Stmt>();
    s->annotations = annotations(c->annotation());
    auto* core = c->stmtCore();
    s->loc = loc(core->getStart());
    if (auto* a = dynamic_cast<SnetParser::AssignStmtContext*>(core)) {
      s->kind = StmtKind::Assign;
      if (auto* t = dynamic_cast<SnetParser::SingleTargetContext*>(a->target())) {
        s->targets.push_back(t->ID()->getText());
        s->target_locs.push_back(loc(t->ID()->getSymbol()));
      } else if (auto* tt = dynamic_cast<SnetParser::TupleTargetContext*>(a->target())) {
        for (auto* id : tt->ID()) {
          s->targets.push_back(id->getText());
          s->target_locs.push_back(loc(id->getSymbol()));
        }
      }
      s->value = expr(a->expr());
    } else if (auto* r = dynamic_cast<SnetParser::RepeatStmtContext*>(core)) {
      s->kind = StmtKind::Repeat;
      s->loc.length = 6;
      s->repeat = repeat(r->ID(), r->expr(), r->body());
    } else if (auto* ret = dynamic_cast<SnetParser::ReturnStmtContext*>(core)) {
      s->kind = StmtKind::Return;
      for (auto* e : ret->expr()) s->values.push_back(expr(e));
    } else if (auto* y = dynamic_cast<SnetParser::YieldStmtContext*>(core)) {
      s->kind = StmtKind::Yield;
      s->loc.length = 5;
      s->value = expr(y->expr());
    } else if (auto* w = dynamic_cast<SnetParser::WeightStmtContext*>(core)) {
      s->kind = StmtKind::Weight;
      auto ids = w->ID();
      s->weight_name = ids[0]->getText();
      s->target_locs.push_back(loc(ids[0]->getSymbol()));
      s->weight_type = tensor_type(w->tensorType());
      if (ids.size() > 1) {
        s->init_name = ids[1]->getText();
        s->init_loc = loc(ids[1]->getSymbol());
        s->init_args = args(w->argList());
      }
    } else {
      SL_CHECK(false) << "unhandled statement kind at " << s->loc.str();
    }
    return s;
  }

  ExprPtr binary(SnetParser::ExprContext* c, const std::string& op, SnetParser::ExprContext* l,
                 SnetParser::ExprContext* r, antlr4::Token* op_tok) {
    auto e = std::make_shared<Expr>();
    e->kind = ExprKind::Binary;
    e->loc = loc(op_tok);
    e->text = op;
    e->operands = {expr(l), expr(r)};
    (void)c;
    return e;
  }

  ExprPtr expr(SnetParser::ExprContext* c) {
    SL_CHECK(c) << "null expression in a tree without syntax errors";
    if (auto* p = dynamic_cast<SnetParser::PrimaryExprContext*>(c)) return primary(p->primary());
    auto e = std::make_shared<Expr>();
    e->loc = loc(c);
    if (auto* call = dynamic_cast<SnetParser::CallExprContext*>(c)) {
      e->kind = ExprKind::Call;
      e->callee = expr(call->expr());
      e->loc = e->callee->loc;
      e->args = args(call->argList());
    } else if (auto* ix = dynamic_cast<SnetParser::IndexExprContext*>(c)) {
      e->kind = ExprKind::Index;
      e->callee = expr(ix->expr());
      for (auto* i : ix->index()) {
        IndexItem item;
        item.loc = loc(i);
        if (auto* pi = dynamic_cast<SnetParser::PointIndexContext*>(i)) {
          item.point = expr(pi->expr());
        } else if (auto* ri = dynamic_cast<SnetParser::RangeIndexContext*>(i)) {
          item.is_range = true;
          if (ri->lo) item.lo = expr(ri->lo);
          if (ri->hi) item.hi = expr(ri->hi);
          if (ri->step) item.step = expr(ri->step);
        }
        e->indices.push_back(std::move(item));
      }
    } else if (auto* mb = dynamic_cast<SnetParser::MemberExprContext*>(c)) {
      e->kind = ExprKind::Member;
      e->callee = expr(mb->expr());
      e->text = mb->name->getText();  // `weight` is a keyword, and the name most often wanted here
      e->loc = loc(mb->name);
    } else if (auto* u = dynamic_cast<SnetParser::UnaryExprContext*>(c)) {
      e->kind = ExprKind::Unary;
      e->text = u->op->getText();
      e->loc = loc(u->op);
      e->operands = {expr(u->expr())};
    } else if (auto* pw = dynamic_cast<SnetParser::PowExprContext*>(c)) {
      return binary(c, "**", pw->expr(0), pw->expr(1), pw->op);
    } else if (auto* m = dynamic_cast<SnetParser::MulExprContext*>(c)) {
      return binary(c, m->op->getText(), m->expr(0), m->expr(1), m->op);
    } else if (auto* a = dynamic_cast<SnetParser::AddExprContext*>(c)) {
      return binary(c, a->op->getText(), a->expr(0), a->expr(1), a->op);
    } else if (auto* r = dynamic_cast<SnetParser::RelExprContext*>(c)) {
      return binary(c, r->op->getText(), r->expr(0), r->expr(1), r->op);
    } else if (auto* q = dynamic_cast<SnetParser::EqExprContext*>(c)) {
      return binary(c, q->op->getText(), q->expr(0), q->expr(1), q->op);
    } else if (auto* an = dynamic_cast<SnetParser::AndExprContext*>(c)) {
      return binary(c, "and", an->expr(0), an->expr(1), an->AND()->getSymbol());
    } else if (auto* o = dynamic_cast<SnetParser::OrExprContext*>(c)) {
      return binary(c, "or", o->expr(0), o->expr(1), o->OR()->getSymbol());
    } else if (auto* f = dynamic_cast<SnetParser::IfExprContext*>(c)) {
      e->kind = ExprKind::If;
      e->loc = loc(f->IF()->getSymbol());
      e->operands = {expr(f->expr(0)), expr(f->expr(1)), expr(f->expr(2))};
    } else if (auto* re = dynamic_cast<SnetParser::RepeatExprContext*>(c)) {
      e->kind = ExprKind::Repeat;
      e->loc = loc(re->REPEAT()->getSymbol());
      e->repeat = repeat(re->ID(), re->expr(), re->body());
    } else {
      SL_CHECK(false) << "unhandled expression at " << e->loc.str();
    }
    return e;
  }

  ExprPtr primary(SnetParser::PrimaryContext* c) {
    if (auto* p = dynamic_cast<SnetParser::ParenExprContext*>(c)) return expr(p->expr());
    auto e = std::make_shared<Expr>();
    e->loc = loc(c);
    if (auto* i = dynamic_cast<SnetParser::IntLitContext*>(c)) {
      e->kind = ExprKind::Int;
      e->int_value = parse_int(i->INT()->getSymbol());
    } else if (auto* f = dynamic_cast<SnetParser::FloatLitContext*>(c)) {
      e->kind = ExprKind::Float;
      try {
        e->float_value = std::stod(f->FLOAT()->getText());
      } catch (const std::out_of_range&) {
        throw UserError(SourceSpan{loc(f->FLOAT()->getSymbol()), nullptr},
                        "float literal " + f->FLOAT()->getText() + " is out of range");
      }
    } else if (auto* b = dynamic_cast<SnetParser::BoolLitContext*>(c)) {
      e->kind = ExprKind::Bool;
      e->bool_value = b->TRUE() != nullptr;
    } else if (auto* s = dynamic_cast<SnetParser::StringLitContext*>(c)) {
      e->kind = ExprKind::String;
      e->text = unquote(s->STRING()->getText());
    } else if (auto* n = dynamic_cast<SnetParser::NameRefContext*>(c)) {
      e->kind = ExprKind::Name;
      e->text = n->ID()->getText();
    } else if (auto* l = dynamic_cast<SnetParser::ListLitContext*>(c)) {
      e->kind = ExprKind::List;
      for (auto* x : l->expr()) e->operands.push_back(expr(x));
    } else {
      SL_CHECK(false) << "unhandled primary at " << e->loc.str();
    }
    return e;
  }

  std::string file_;
};

}  // namespace

std::string TypeExpr::str() const {
  if (!is_tensor) return scalar;
  return dtype + (has_dims ? "[...]" : "");
}

namespace {

// The first byte that does not start or continue a well-formed UTF-8 sequence (overlong forms,
// surrogates and code points above U+10FFFF included), at its line and column (in code points).
// ANTLR's input stream aborts the process on one.
void check_utf8(const std::string& file, const std::string& text) {
  int line = 1, column = 1;
  const auto* b = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  for (size_t i = 0; i < n;) {
    const unsigned c = b[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = len > 0 && i + len <= n;
    for (size_t k = 1; ok && k < len; ++k) ok = (b[i + k] & 0xC0) == 0x80;
    if (ok && len > 1) {
      uint32_t cp = c & (0x7F >> len);
      for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (b[i + k] & 0x3F);
      const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= least[len] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    }
    if (!ok) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", c);
      throw UserError(SourceSpan{SourceLoc{file, line, column, 1}, nullptr},
                      std::string("invalid UTF-8: byte ") + hex +
                          " does not form a character; a model file must be UTF-8 text (re-save it as UTF-8)");
    }
    if (c == '\n') line += 1, column = 1;
    else column += 1;
    i += len;
  }
}

// Nesting limits, checked before anything recurses over the input: ANTLR's parser recurses once per
// bracket and prefix operator, the AST builder and the expander once per tree level, and input deep
// enough exhausts the stack (a crash, not an error). kMaxNesting bounds the brackets open plus the
// prefix operators pending at any token; kMaxTreeDepth the parse tree (a sum of N terms is N deep).
constexpr int kMaxNesting = 200;
constexpr int kMaxTreeDepth = 1000;

SourceLoc token_loc(const std::string& file, const antlr4::Token* t) {
  return SourceLoc{file, static_cast<int>(t->getLine()), static_cast<int>(t->getCharPositionInLine()) + 1,
                   std::max<int>(1, static_cast<int>(t->getText().size()))};
}

void check_nesting(const std::string& file, antlr4::CommonTokenStream& tokens) {
  tokens.fill();
  // brackets open; prefix operators since the last operand; and the right-associative `**` chains (the
  // parser recurses once per `**` of a chain) at each bracket level, with their total.
  int depth = 0, pending = 0, chained = 0;
  std::vector<int> chains = {0};
  for (antlr4::Token* t : tokens.getTokens()) {
    if (t->getType() == antlr4::Token::EOF) break;
    const std::string s = t->getText();
    const bool operand = t->getType() == SnetLexer::ID || t->getType() == SnetLexer::INT ||
                         t->getType() == SnetLexer::FLOAT || t->getType() == SnetLexer::STRING ||
                         t->getType() == SnetLexer::TRUE || t->getType() == SnetLexer::FALSE;
    if (s == "(" || s == "[" || s == "{") {
      ++depth;
      chains.push_back(0);
    } else if (s == ")" || s == "]" || s == "}") {
      depth = std::max(0, depth - 1), pending = 0;
      if (chains.size() > 1) chained -= chains.back(), chains.pop_back();
    } else if (s == "-" || s == "+" || t->getType() == SnetLexer::NOT) {
      ++pending;
    } else if (s == "**") {
      ++chains.back(), ++chained;
    } else if (operand) {
      pending = 0;
    } else {
      chained -= chains.back(), chains.back() = 0;
    }
    if (depth + pending + chained > kMaxNesting)
      throw UserError(SourceSpan{token_loc(file, t), nullptr},
                      "expression nested deeper than " + std::to_string(kMaxNesting) +
                          " levels (brackets, prefix operators and chained **); split it into named steps");
  }
}

void check_tree_depth(const std::string& file, antlr4::tree::ParseTree* root) {
  std::vector<std::pair<antlr4::tree::ParseTree*, int>> stack = {{root, 1}};
  while (!stack.empty()) {
    auto [node, d] = stack.back();
    stack.pop_back();
    if (d > kMaxTreeDepth) {
      SourceLoc loc{file, 0, 0, 1};
      if (auto* ctx = dynamic_cast<antlr4::ParserRuleContext*>(node); ctx && ctx->getStart())
        loc = token_loc(file, ctx->getStart());
      else if (auto* leaf = dynamic_cast<antlr4::tree::TerminalNode*>(node); leaf && leaf->getSymbol())
        loc = token_loc(file, leaf->getSymbol());
      throw UserError(SourceSpan{loc, nullptr},
                      "expression nested deeper than " + std::to_string(kMaxTreeDepth) +
                          " levels; split it into named steps (a long sum: add_n([...]))");
    }
    for (auto* child : node->children) stack.emplace_back(child, d + 1);
  }
}

}  // namespace

Program parse_program(const std::string& file, const std::string& text) {
  check_utf8(file, text);
  antlr4::ANTLRInputStream input(text);
  SnetLexer lexer(&input);
  CollectingErrorListener listener(file);
  lexer.removeErrorListeners();
  lexer.addErrorListener(&listener);
  antlr4::CommonTokenStream tokens(&lexer);
  if (listener.diagnostics().empty()) check_nesting(file, tokens);
  SnetParser parser(&tokens);
  parser.removeErrorListeners();
  parser.addErrorListener(&listener);
  SnetParser::ProgramContext* tree = parser.program();
  if (!listener.diagnostics().empty()) {
    auto diags = std::move(listener.diagnostics());
    std::stable_sort(diags.begin(), diags.end(), [](const Diagnostic& a, const Diagnostic& b) {
      return a.span.loc.line != b.span.loc.line ? a.span.loc.line < b.span.loc.line
                                                : a.span.loc.column < b.span.loc.column;
    });
    throw UserErrors(std::move(diags));
  }
  check_tree_depth(file, tree);
  AstBuilder builder(file);
  return builder.build(tree);
}

}  // namespace sublinear::frontend
