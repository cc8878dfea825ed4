// Numbers combined with tensors (1 - z, x * 0.5 + 1.0, 2 / x, x ** 2), tensor division, the `**`
// operator on numbers (int when exact, checked for overflow), and a layer norm and GELU MLP written
// with the math ops, as README shows them.
#include <gtest/gtest.h>

#include "test_util.h"

namespace sublinear {
namespace {

using testing::load_text;

frontend::LoadOptions batch(int64_t n) {
  frontend::LoadOptions o;
  o.batch = n;
  return o;
}

// The single node of `op`; fails the test when there is not exactly one.
const ir::Node* only(const ir::Graph& g, const std::string& op) {
  const ir::Node* found = nullptr;
  int count = 0;
  for (const auto& n : g.nodes())
    if (n.op == op) found = &n, ++count;
  EXPECT_EQ(count, 1) << op;
  return count == 1 ? found : nullptr;
}

TEST(Arithmetic, NumbersAndTensorsLowerToOneOpEach) {
  struct Case {
    const char* expr;
    const char* op;
    double a, b;  // factor/offset for affine, exponent for pow, factor for scale
  };
  const Case cases[] = {
      {"1 - x", "affine", -1.0, 1.0},   {"x - 2", "affine", 1.0, -2.0},     {"x + 0.5", "affine", 1.0, 0.5},
      {"3 + x", "affine", 1.0, 3.0},    {"x * 0.5", "scale", 0.5, 0},       {"2 * x", "scale", 2.0, 0},
      {"x / 4", "scale", 0.25, 0},      {"x ** 2", "pow", 2.0, 0},          {"x ** 0.5", "pow", 0.5, 0},
      {"1 / x", "pow", -1.0, 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.expr);
    auto r = load_text(std::string("snet 1;\nmodel m(x: f32[N, 3]) -> (loss) {\n  y = ") + c.expr +
                           ";\n  loss = mean(y);\n}\n",
                       batch(2));
    ASSERT_TRUE(r.ok) << r.rendered;
    const ir::Node* n = only(r.graph, c.op);
    ASSERT_NE(n, nullptr);
    if (std::string(c.op) == "affine") {
      EXPECT_EQ(n->attrs.get_float("factor"), c.a);
      EXPECT_EQ(n->attrs.get_float("offset"), c.b);
    } else if (std::string(c.op) == "pow") {
      EXPECT_EQ(n->attrs.get_float("exponent"), c.a);
    } else {
      EXPECT_EQ(n->attrs.get_float("factor"), c.a);
    }
  }
}

// An elementwise op given a number gets the scalar tensor the number denotes (positional or named).
TEST(Arithmetic, NumbersAreScalarTensorsForElementwiseOps) {
  auto r = load_text(R"(snet 1;
model m(x: f32[N, 3], pad: i32[N, 3]) -> (loss) {
  a = where(pad, x, -1e9);
  b = maximum(x, 0);
  c = where(cond=pad, a=0.5, b=x);
  loss = mean(a) + mean(b) + mean(c);
}
)", batch(2));
  ASSERT_TRUE(r.ok) << r.rendered;
  int fills = 0;
  for (const auto& n : r.graph.nodes())
    if (n.op == "full") {
      ++fills;
      EXPECT_EQ(n.outputs[0].str(), "f32[]");
    }
  EXPECT_EQ(fills, 3);
  for (const auto& n : r.graph.nodes())
    if (n.op == "where") {
      EXPECT_EQ(n.outputs[0].str(), "f32[2, 3]");
    }
  // Ops that are not elementwise still want a tensor.
  r = load_text("snet 1;\nmodel m(x: f32[N, 3]) -> (loss) {\n  y = matmul(x, 2);\n  loss = mean(y);\n}\n", batch(2));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.rendered.find("'matmul' expects a tensor here, got"), std::string::npos) << r.rendered;
}

TEST(Arithmetic, TensorsDivideAndNumbersPower) {
  auto r = load_text(R"(snet 1;
param k: int = 2 ** 10;
param f: float = 2 ** -1 + 0.0;
model m(x: f32[N, 3], y: f32[3]) -> (loss) {
  q = x / y;
  e = 2 ** x;
  loss = mean(q) + mean(e) * f + mean(x) * k;
}
)",
                     batch(2));
  ASSERT_TRUE(r.ok) << r.rendered;
  const ir::Node* d = only(r.graph, "div");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->outputs[0].str(), "f32[2, 3]");
  EXPECT_NE(only(r.graph, "exp"), nullptr);
  bool k_used = false, f_used = false;
  for (const auto& n : r.graph.nodes()) {
    if (n.op != "scale") continue;
    k_used |= n.attrs.get_float("factor") == 1024.0;
    f_used |= n.attrs.get_float("factor") == 0.5;
  }
  EXPECT_TRUE(k_used);
  EXPECT_TRUE(f_used);
}

TEST(Arithmetic, PowerBindsTighterThanMinusAndIsRightAssociative) {
  auto r = load_text(R"(snet 1;
param a: int = -2 ** 2;
param b: int = 2 ** 3 ** 2;
model m(x: f32[N, 3]) -> (loss) {
  loss = mean(x) * a + mean(x) * b;
}
)",
                     batch(2));
  ASSERT_TRUE(r.ok) << r.rendered;
  bool minus4 = false, b512 = false;
  for (const auto& n : r.graph.nodes()) {
    if (n.op != "scale") continue;
    minus4 |= n.attrs.get_float("factor") == -4.0;
    b512 |= n.attrs.get_float("factor") == 512.0;
  }
  EXPECT_TRUE(minus4);
  EXPECT_TRUE(b512);
}

TEST(Arithmetic, MistakesAreErrorsWithHints) {
  auto overflow = load_text("snet 1;\nparam k: int = 3 ** 41;\nmodel m(x: f32[N, 3]) -> (loss) { loss = mean(x); }\n",
                            batch(2));
  EXPECT_FALSE(overflow.ok);
  EXPECT_NE(overflow.rendered.find("integer overflow: 3 ** 41"), std::string::npos) << overflow.rendered;
  auto tensor_power = load_text("snet 1;\nmodel m(x: f32[N, 3]) -> (loss) { loss = mean(x ** x); }\n", batch(2));
  EXPECT_FALSE(tensor_power.ok);
  EXPECT_NE(tensor_power.rendered.find("exp(b * log(a))"), std::string::npos) << tensor_power.rendered;
  auto modulo = load_text("snet 1;\nmodel m(x: f32[N, 3]) -> (loss) { loss = mean(x % 2); }\n", batch(2));
  EXPECT_FALSE(modulo.ok);
  EXPECT_NE(modulo.rendered.find("not defined on tensors"), std::string::npos) << modulo.rendered;
  auto bad_base = load_text("snet 1;\nmodel m(x: f32[N, 3]) -> (loss) { loss = mean((-2) ** x); }\n", batch(2));
  EXPECT_FALSE(bad_base.ok);
  EXPECT_NE(bad_base.rendered.find("positive base"), std::string::npos) << bad_base.rendered;
  auto deep = load_text("snet 1;\nparam k: int = 1" + [] {
    std::string s;
    for (int i = 0; i < 5000; ++i) s += " ** 1";
    return s;
  }() + ";\nmodel m(x: f32[N, 3]) -> (loss) { loss = mean(x); }\n", batch(2));
  EXPECT_FALSE(deep.ok);
  EXPECT_NE(deep.rendered.find("nested deeper than"), std::string::npos) << deep.rendered.substr(0, 400);
}

// What README's Transformer section writes: a pre-norm GELU MLP block with layer_norm, and an RMSNorm
// spelled out with the math ops (which must agree in shape with rms_norm).
TEST(Arithmetic, TransformerPiecesWriteNaturally) {
  auto r = load_text(R"(snet 1;
block mlp(x: f32, d: int) {
  n = layer_norm(x);
  h = gelu(linear(n, units=4 * d), approximate="tanh");
  return x + linear(h, units=d);
}
block my_rms(x: f32) {
  return x * rsqrt(mean(x * x, axes=[-1], keepdims=true) + 1e-6);
}
model m(x: f32[N, 5, 8]) -> (loss) {
  y = mlp(x, d=8);
  z = my_rms(y) - rms_norm(y, affine=false);
  loss = mean(silu(z) * 0.5 + 1.0);
}
)",
                     batch(2));
  ASSERT_TRUE(r.ok) << r.rendered;
  const ir::Node* ln = only(r.graph, "layer_norm");
  ASSERT_NE(ln, nullptr);
  EXPECT_EQ(ln->inputs.size(), 3u);  // x, gamma, beta
  EXPECT_EQ(r.graph.type(ln->inputs[1]).str(), "f32[8]");
  EXPECT_NE(only(r.graph, "gelu"), nullptr);
  EXPECT_NE(only(r.graph, "rsqrt"), nullptr);
  EXPECT_NE(only(r.graph, "silu"), nullptr);
  const ir::Node* rms = only(r.graph, "rms_norm");
  ASSERT_NE(rms, nullptr);
  EXPECT_EQ(rms->inputs.size(), 1u);
}

// Weight tying: `instance.weight` is the parameter the instance made, one node used twice.
TEST(Members, InstanceWeightsCanBeNamedForTying) {
  auto r = load_text(R"(snet 1;
block proj(x: f32) {
  weight W: f32[dim(x, -1), 3] = xavier();
  return matmul(x, W);
}
model m(tokens: i32[N, 4], labels: i32[N, 4]) -> (loss) {
  tok = embedding(vocab=3, dim=3);
  p = proj();
  lin = linear(units=3);
  h = lin(p(tok(tokens)));
  logits = matmul(h, tok.weight, transpose_b=true) + lin.bias + matmul(h, p.W);
  loss = softmax_cross_entropy(logits, labels);
}
)",
                     batch(2));
  ASSERT_TRUE(r.ok) << r.rendered;
  EXPECT_EQ(r.graph.params().size(), 4u);  // the table, W, the linear's weight and bias: nothing new
  const ir::Node* emb = only(r.graph, "embedding");
  ASSERT_NE(emb, nullptr);
  bool tied = false;
  for (const auto& n : r.graph.nodes())
    if (n.op == "matmul" && n.inputs.size() == 2 && n.inputs[1] == emb->inputs[1]) tied = true;
  EXPECT_TRUE(tied) << "the output matmul does not read the embedding's table";

  const char* head = "snet 1;\nmodel m(x: f32[N, 3]) -> (loss) {\n";
  auto not_called = load_text(std::string(head) + "  lin = linear(units=3);\n  loss = mean(x * lin.weight);\n}\n", batch(2));
  EXPECT_FALSE(not_called.ok);
  EXPECT_NE(not_called.rendered.find("'lin' has made no weights yet"), std::string::npos) << not_called.rendered;
  auto typo = load_text(std::string(head) + "  lin = linear(units=3);\n  y = lin(x);\n  loss = mean(y * lin.wieght);\n}\n",
                        batch(2));
  EXPECT_FALSE(typo.ok);
  EXPECT_NE(typo.rendered.find("has no weight 'wieght'"), std::string::npos) << typo.rendered;
  EXPECT_NE(typo.rendered.find("its weights: bias, weight"), std::string::npos) << typo.rendered;
  EXPECT_NE(typo.rendered.find("test.snet:5:"), std::string::npos) << typo.rendered;
  auto tensor = load_text(std::string(head) + "  loss = mean(x.weight);\n}\n", batch(2));
  EXPECT_FALSE(tensor.ok);
  EXPECT_NE(tensor.rendered.find("only a layer instance has weights"), std::string::npos) << tensor.rendered;
}

}  // namespace
}  // namespace sublinear
