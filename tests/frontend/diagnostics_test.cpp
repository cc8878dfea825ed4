// One test per frontend diagnostic: each asserts the file, line and column the error points at and its
// message, on a small inline model. Line 1 of every model is the `snet 1;` header, so the line numbers
// below can be read straight off the raw strings.
#include <gtest/gtest.h>

#include "diag_util.h"

namespace sublinear {
namespace {

using namespace testing;

// --- syntax -----------------------------------------------------------------------------------------

TEST(Diagnostics, LexerErrorUnexpectedCharacter) {
  auto r = load_text(R"(snet 1;
model m(x: f32[N, 4]) -> (loss) {
  loss = mean(x) $;
}
)");
  EXPECT_TRUE(one_error(r, 3, 18, "unexpected character '$'"));
}

TEST(Diagnostics, SyntaxErrorMissingSemicolon) {
  auto r = load_text(R"(snet 1;
model m(x: f32[N, 4]) -> (loss) {
  h = relu(x)
  loss = mean(h);
}
)");
  // ANTLR reports the missing token where it notices it: at the next statement.
  EXPECT_TRUE(one_error(r, 4, 3, "syntax error: missing ';' at 'loss'"));
}

TEST(Diagnostics, SeveralSyntaxErrorsInOneRun) {
  auto r = load_text(R"(snet 1;
block b(x: f32) {
  y = relu(x)
  return y;
}
model m(x: f32[N, 4]) -> (loss) {
  h = relu(x));
  loss = mean(h);
}
)");
  ASSERT_FALSE(r.ok);
  ASSERT_EQ(r.diags.size(), 2u) << r.rendered;
  EXPECT_EQ(r.diags[0].span.loc.str(), "test.snet:4:3");
  EXPECT_NE(r.diags[0].message.find("missing ';'"), std::string::npos) << r.diags[0].message;
  EXPECT_EQ(r.diags[1].span.loc.str(), "test.snet:7:14");
  EXPECT_NE(r.diags[1].message.find("unexpected ')'"), std::string::npos) << r.diags[1].message;
}

TEST(Diagnostics, FloatLiteralOutOfRange) {
  auto r = load_text(R"(snet 1;
param big: float = 1e400;
model m(x: f32[N, 4]) -> (loss) {
  loss = mean(x) * big;
}
)");
  EXPECT_TRUE(one_error(r, 2, 20, "float literal 1e400 is out of range"));
}

TEST(Diagnostics, ParamNamedLikeAnOp) {
  // A param is global and would hide the op everywhere, standard-library blocks included.
  auto r = load_text(R"(snet 1;
param dropout: float = 0.5;
model m(x: f32[N, 4]) -> (loss) {
  loss = mean(x);
}
)");
  EXPECT_TRUE(one_error(r, 2, 7, "param 'dropout' has the name of an op"));
}

TEST(Diagnostics, MissingVersionHeader) {
  auto r = load_text(R"(model m(x: f32[N, 4]) -> (loss) {
  loss = mean(x);
}
)");
  EXPECT_TRUE(one_error(r, 1, 1, "missing version header: start the file with `snet 1;`"));
}

TEST(Diagnostics, UnsupportedVersion) {
  auto r = load_text(R"(snet 2;
model m(x: f32[N, 4]) -> (loss) {
  loss = mean(x);
}
)");
  EXPECT_TRUE(one_error(r, 1, 6, "unsupported language version 2"));
}

// --- names and calls --------------------------------------------------------------------------------

TEST(Diagnostics, UndefinedNameSuggestsCloseOne) {
  auto r = load_text(R"(snet 1;
model m(features: f32[N, 4]) -> (loss) {
  loss = mean(featurs);
}
)");
  EXPECT_TRUE(one_error(r, 3, 15, "undefined name 'featurs' (did you mean 'features'?)"));
}

TEST(Diagnostics, OpWrongArity) {
  auto r = load_text(R"(snet 1;
model m(x: f32[N, 4]) -> (loss) {
  h = relu(x, x);
  loss = mean(h);
}
)");
  EXPECT_TRUE(one_error(r, 3, 7, "'relu' takes 1 tensor input (x), got 2"));
}

TEST(Diagnostics, BlockTooManyArguments) {
  auto r = load_text(R"(snet 1;
block b(x: f32) {
  return relu(x);
}
model m(x: f32[N, 4]) -> (loss) {
  h = b(x, x);
  loss = mean(h);
}
)");
  EXPECT_TRUE(one_error(r, 6, 12, "block 'b' takes 1 argument, got more (declared at test.snet:2:7)"));
}

TEST(Diagnostics, BlockUnknownArgument) {
  auto r = load_text(R"(snet 1;
block b(x: f32, width: int) {
  return linear(x, units=width);
}
model m(x: f32[N, 4]) -> (loss) {
  h = b(x, widht=3);
  loss = mean(h);
}
)");
  EXPECT_TRUE(one_error(r, 6, 12, "block 'b' has no argument 'widht' (did you mean 'width'?)"));
}

TEST(Diagnostics, BlockMissingArgument) {
  auto r = load_text(R"(snet 1;
block b(x: f32, width: int) {
  return linear(x, units=width);
}
model m(x: f32[N, 4]) -> (loss) {
  h = b(x);
  loss = mean(h);
}
)");
  EXPECT_TRUE(one_error(r, 6, 7, "missing argument 'width' for block 'b' (declared at test.snet:2:7)"));
  // The caller's mistake: no note about the block's own expansion.
  EXPECT_TRUE(!r.diags.empty() && r.diags[0].span.frames && r.diags[0].span.frames->empty());
}

TEST(Diagnostics, UnknownAttributeListsKnownOnes) {
  auto r = load_text(R"(snet 1;
model m(x: f32[N, 4]) -> (loss) {
  h = linear(x, unit=16);
  loss = mean(h);
}
)");
  ASSERT_TRUE(one_error(r, 3, 17, "unknown attribute 'unit' for op 'linear' (did you mean 'units'?)"));
  EXPECT_TRUE(has_extra(r.diags[0], "'linear' takes: units, bias")) << r.rendered;
}

TEST(Diagnostics, UnknownAttributeOfASharedLayerDeclaration) {
  auto r = load_text(R"(snet 1;
model m(x: f32[N, 4]) -> (loss) {
  fc = linear(unit=3);
  loss = mean(fc(x));
}
)");
  ASSERT_TRUE(one_error(r, 3, 15, "unknown attribute 'unit' for op 'linear' (did you mean 'units'?)"));
  EXPECT_TRUE(has_extra(r.diags[0], "'linear' takes: units, bias")) << r.rendered;
}

TEST(Diagnostics, VariadicOpWithoutInputs) {
  auto r = load_text(R"(snet 1;
model m(x: f32[N, 4]) -> (loss) {
  s = add_n([]);
  loss = mean(s);
}
)");
  EXPECT_TRUE(one_error(r, 3, 7, "'add_n' takes at least 1 tensor input (xs), got 0"));
}

TEST(Diagnostics, WrongAttributeKind) {
  auto r = load_text(R"(snet 1;
model m(x: f32[N, 4]) -> (loss) {
  h = linear(x, units=1.5);
  loss = mean(h);
}
)");
  EXPECT_TRUE(one_error(r, 3, 7, "attribute 'units' of 'linear' expects int, got float 1.5"));
}

// --- shapes and types -------------------------------------------------------------------------------

TEST(Diagnostics, AddShapeMismatchPrintsBothShapes) {
  auto r = load_text(R"(snet 1;
model m(a: f32[N, 4], b: f32[N, 5]) -> (loss) {
  s = a + b;
  loss = mean(s);
}
)", batch(2));
  ASSERT_TRUE(one_error(r, 3, 9, "add: shapes f32[2, 4] and f32[2, 5] do not broadcast"));
  EXPECT_TRUE(has_extra(r.diags[0], "left:  f32[2, 4]")) << r.rendered;
  EXPECT_TRUE(has_extra(r.diags[0], "right: f32[2, 5]")) << r.rendered;
}

TEST(Diagnostics, MatmulInnerDimensionMismatch) {
  auto r = load_text(R"(snet 1;
model m(a: f32[N, 4], b: f32[5, 3]) -> (loss) {
  p = matmul(a, b);
  loss = mean(p);
}
)", batch(2));
  ASSERT_TRUE(one_error(r, 3, 7, "matmul: inner dimensions of f32[2, 4] and f32[5, 3] do not match: 4 vs 5"));
  EXPECT_TRUE(has_extra(r.diags[0], "a: f32[2, 4]")) << r.rendered;
  EXPECT_TRUE(has_extra(r.diags[0], "b: f32[5, 3]")) << r.rendered;
}

TEST(Diagnostics, LinearNeedsRankTwo) {
  auto r = load_text(R"(snet 1;
model m(v: f32[4]) -> (loss) {
  p = linear(v, units=3);
  loss = mean(p);
}
)");
  EXPECT_TRUE(one_error(r, 3, 7, "linear: input 'x' must have rank >= 2 [..., D], got f32[4] (rank 1)"));
}

TEST(Diagnostics, BlockArgumentTypeMismatch) {
  auto r = load_text(R"(snet 1;
block b(x: f32[_, 8]) {
  return relu(x);
}
model m(x: f32[N, 4]) -> (loss) {
  h = b(x);
  loss = mean(h);
}
)", batch(2));
  ASSERT_TRUE(one_error(r, 6, 9, "argument 'x' of block 'b' has the wrong type"));
  ASSERT_EQ(r.diags[0].extra.size(), 2u) << r.rendered;
  EXPECT_EQ(r.diags[0].extra[0], "expected: f32[_, 8]");
  EXPECT_EQ(r.diags[0].extra[1], "got:      f32[2, 4]");
}

// --- blocks, control flow and scopes ----------------------------------------------------------------

TEST(Diagnostics, RecursionWithoutEnd) {
  auto r = load_text(R"(snet 1;
block r(x: f32) {
  return r(x);
}
model m(x: f32[N, 4]) -> (loss) {
  h = r(x);
  loss = mean(h);
}
)");
  ASSERT_TRUE(one_error(r, 3, 10, "recursion without end"));
  EXPECT_NE(r.diags[0].message.find("block 'r' is expanded 200 levels deep"), std::string::npos);
  // The long chain of notes is elided in the middle.
  EXPECT_NE(r.rendered.find("more expansion levels"), std::string::npos) << r.rendered;
}

TEST(Diagnostics, RecursionWithCompileTimeBaseCaseWorks) {
  auto r = load_text(R"(snet 1;
block deep(x: f32, n: int) {
  y = if n == 0 then x else deep(relu(x), n=n-1);
  return y;
}
model m(x: f32[N, 4]) -> (loss) {
  h = deep(x, n=5);
  loss = mean(h);
}
)");
  ASSERT_TRUE(r.ok) << r.rendered;
  int relus = 0;
  for (const auto& n : r.graph.nodes()) relus += n.op == "relu";
  EXPECT_EQ(relus, 5);
}

TEST(Diagnostics, RepeatBoundIsATensor) {
  auto r = load_text(R"(snet 1;
model m(x: f32[N, 4]) -> (loss) {
  h = x;
  repeat i in 0..x {
    h = relu(h);
  }
  loss = mean(h);
}
)", batch(2));
  EXPECT_TRUE(one_error(r, 4, 18, "repeat bounds must be compile-time integers, got tensor f32[2, 4]"));
}

TEST(Diagnostics, RepeatBoundIsAFloat) {
  auto r = load_text(R"(snet 1;
model m(x: f32[N, 4]) -> (loss) {
  h = x;
  repeat i in 0..2.5 {
    h = relu(h);
  }
  loss = mean(h);
}
)");
  EXPECT_TRUE(one_error(r, 4, 18, "repeat bounds must be compile-time integers, got float 2.5"));
}

TEST(Diagnostics, IfConditionNotBool) {
  auto r = load_text(R"(snet 1;
model m(x: f32[N, 4]) -> (loss) {
  h = if 1 then relu(x) else x;
  loss = mean(h);
}
)");
  EXPECT_TRUE(one_error(r, 3, 10, "`if` needs a compile-time bool condition, got int 1"));
}

TEST(Diagnostics, RedefinitionInSameScope) {
  auto r = load_text(R"(snet 1;
model m(x: f32[N, 4]) -> (loss) {
  h = relu(x);
  h = relu(h);
  loss = mean(h);
}
)");
  EXPECT_TRUE(one_error(r, 4, 3, "'h' is already defined at test.snet:3:3; values are single-assignment"));
}

TEST(Diagnostics, LoopCarriedUpdateInsideRepeatWorks) {
  auto r = load_text(R"(snet 1;
model m(x: f32[N, 4]) -> (loss) {
  h = x;
  repeat i in 0..3 {
    h = relu(h);
  }
  loss = mean(h);
}
)");
  ASSERT_TRUE(r.ok) << r.rendered;
  std::vector<const ir::Node*> relus;
  for (const auto& n : r.graph.nodes())
    if (n.op == "relu") relus.push_back(&n);
  ASSERT_EQ(relus.size(), 3u);
  EXPECT_EQ(relus[0]->inputs[0].node, r.graph.inputs()[0]);
  EXPECT_EQ(relus[1]->inputs[0].node, relus[0]->id);
  EXPECT_EQ(relus[2]->inputs[0].node, relus[1]->id);
  const ir::Node& mean = r.graph.node(r.graph.loss().node);
  EXPECT_EQ(mean.inputs[0].node, relus[2]->id);
}

TEST(Diagnostics, YieldOutsideRepeatExpression) {
  auto r = load_text(R"(snet 1;
model m(x: f32[N, 4]) -> (loss) {
  repeat i in 0..2 {
    yield relu(x);
  }
  loss = mean(x);
}
)");
  EXPECT_TRUE(one_error(r, 4, 5, "`yield` outside a repeat expression"));
}

TEST(Diagnostics, ReturnNotLast) {
  auto r = load_text(R"(snet 1;
block b(x: f32) {
  return relu(x);
  y = relu(x);
}
model m(x: f32[N, 4]) -> (loss) {
  h = b(x);
  loss = mean(h);
}
)");
  EXPECT_TRUE(one_error(r, 3, 3, "`return` must be the last statement of a block"));
}

// --- model outputs and annotations ------------------------------------------------------------------

TEST(Diagnostics, FirstOutputNotScalar) {
  auto r = load_text(R"(snet 1;
model m(x: f32[N, 4]) -> (h) {
  h = relu(x);
}
)", batch(2));
  ASSERT_TRUE(one_error(r, 2, 27,
                        "the first output 'h' is the training loss and must be a scalar f32[], got f32[2, 4]"));
  EXPECT_TRUE(has_extra(r.diags[0], "hint: reduce it")) << r.rendered;
}

TEST(Diagnostics, OutputNeverAssigned) {
  auto r = load_text(R"(snet 1;
model m(x: f32[N, 4]) -> (loss, logits) {
  loss = mean(x);
}
)");
  EXPECT_TRUE(one_error(r, 2, 33, "output 'logits' is never assigned in model 'm'"));
}

TEST(Diagnostics, UnknownAnnotation) {
  auto r = load_text(R"(snet 1;
model m(x: f32[N, 4]) -> (loss) {
  @recomput h = relu(x);
  loss = mean(x);
}
)");
  ASSERT_TRUE(one_error(r, 3, 3, "unknown annotation '@recomput'"));
  EXPECT_TRUE(has_extra(r.diags[0], "@recompute")) << r.rendered;
}

TEST(Diagnostics, ConflictingAnnotations) {
  auto r = load_text(R"(snet 1;
model m(x: f32[N, 4]) -> (loss) {
  @recompute @checkpoint h = relu(x);
  loss = mean(h);
}
)");
  EXPECT_TRUE(one_error(r, 3, 14, "@checkpoint contradicts @recompute on the same statement"));
}

// --- params and --set -------------------------------------------------------------------------------

const char* kParamModel = R"(snet 1;
param depth: int = 3;
model m(x: f32[N, 4]) -> (loss) {
  h = x;
  repeat i in 0..depth {
    h = relu(h);
  }
  loss = mean(h);
}
)";

TEST(Diagnostics, SetUnknownParam) {
  auto r = load_text(kParamModel, with_set("dpth", "5"));
  EXPECT_TRUE(one_error(r, 0, 0, "--set dpth: the model has no param 'dpth' (did you mean 'depth'?)",
                        "<command line>"));
}

TEST(Diagnostics, SetWrongType) {
  auto r = load_text(kParamModel, with_set("depth", "deep"));
  EXPECT_TRUE(one_error(r, 0, 0, "--set depth=deep: 'depth' is an int param (declared at test.snet:2:7)",
                        "<command line>"));
}

TEST(Diagnostics, DivisionByZeroInParamArithmetic) {
  auto r = load_text(R"(snet 1;
param width: int = 64;
param half: int = width / (width - 64);
model m(x: f32[N, 4]) -> (loss) {
  h = linear(x, units=half);
  loss = mean(h);
}
)");
  // Only the division is reported: `half` is poisoned, so the linear that uses it stays quiet.
  EXPECT_TRUE(one_error(r, 3, 25, "division by zero"));
}

TEST(Diagnostics, IndexOutOfRange) {
  auto r = load_text(R"(snet 1;
model m(x: f32[N, 4]) -> (loss) {
  c = x[:, 4];
  loss = mean(c);
}
)", batch(2));
  EXPECT_TRUE(one_error(r, 3, 12, "index 4 is out of range for axis 1 of f32[2, 4]"));
}

TEST(Diagnostics, SliceStepMustBePositive) {
  auto r = load_text(R"(snet 1;
model m(x: f32[N, 4]) -> (loss) {
  c = x[:, ::-1];
  loss = mean(c);
}
)", batch(2));
  EXPECT_TRUE(one_error(r, 3, 14, "a slice step must be positive, got -1"));
  r = load_text(R"(snet 1;
model m(x: f32[N, 4]) -> (loss) {
  c = x[:, 1:3:0];
  loss = mean(c);
}
)", batch(2));
  EXPECT_TRUE(one_error(r, 3, 16, "a slice step must be positive, got 0"));
}

// normal() takes its standard deviation; nothing else takes arguments.
TEST(Diagnostics, InitialiserArguments) {
  auto ok = load_text(R"(snet 1;
model m(x: f32[N, 4]) -> (loss) {
  weight A: f32[4, 4] = normal(std=0.02);
  weight B: f32[4, 4] = normal(0.5);
  weight C: f32[4, 4] = normal();
  loss = mean(matmul(matmul(matmul(x, A), B), C));
}
)", batch(2));
  ASSERT_TRUE(ok.ok) << ok.rendered;
  std::vector<double> stds;
  for (const auto& n : ok.graph.nodes())
    if (n.op == "param") stds.push_back(n.attrs.get_float("std"));
  EXPECT_EQ(stds, (std::vector<double>{0.02, 0.5, 0.01}));
  struct Bad {
    const char* init;
    int col;
    const char* message;
  };
  for (const Bad& b : {Bad{"normal(mean=1.0)", 32, "normal() takes one argument, std"},
                       Bad{"normal(0.1, 0.2)", 37, "normal() takes one argument, std"},
                       Bad{"normal(std=-1)", 32, "std must be positive and finite, got -1"},
                       Bad{"normal(std=\"a\")", 32, "std must be a number"},
                       Bad{"xavier(std=1)", 32, "initialiser 'xavier' takes no arguments"}}) {
    SCOPED_TRACE(b.init);
    auto r = load_text(std::string("snet 1;\nmodel m(x: f32[N, 4]) -> (loss) {\n  weight A: f32[4, 4] = ") + b.init +
                           ";\n  loss = mean(matmul(x, A));\n}\n",
                       batch(2));
    EXPECT_TRUE(one_error(r, 3, b.col, b.message)) << r.rendered;
  }
}

TEST(Diagnostics, ListIndexOutOfRange) {
  auto r = load_text(R"(snet 1;
model m(x: f32[N, 4]) -> (loss) {
  xs = [x, x];
  c = xs[-3];
  loss = mean(c);
}
)");
  EXPECT_TRUE(one_error(r, 4, 10, "index -3 is out of range for a list of 2"));
}

TEST(Diagnostics, SharedLayerCalledWithDifferentInputShape) {
  auto r = load_text(R"(snet 1;
model m(a: f32[N, 4], b: f32[N, 6]) -> (loss) {
  fc = linear(units=8);
  ya = fc(a);
  yb = fc(b);
  loss = mean(ya) + mean(yb);
}
)");
  ASSERT_TRUE(one_error(r, 5, 8, "shared layer 'fc' is called with inputs that need weight f32[8, 6], "
                                 "but its first call made it f32[8, 4]"));
  EXPECT_TRUE(has_extra(r.diags[0], "same shape on every call")) << r.rendered;
}

}  // namespace
}  // namespace sublinear
