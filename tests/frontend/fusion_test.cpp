// The fusion pass (ir/fusion.h) on graphs the frontend expands: which batch_norm + relu pairs become one
// node, and what the fused graph keeps of the original (names, spans, parameters, outputs, rng keys).
#include <gtest/gtest.h>

#include <map>

#include "ir/fusion.h"
#include "test_util.h"

namespace sublinear::testing {
namespace {

const char* kModel = R"(snet 1;
model m(x: f32[N, 3, 8, 8], labels: i32[N]) -> (loss, side) {
  a = relu(batch_norm(conv2d(x, out=4, kernel=3, pad=1)));
  b = batch_norm(a);
  c = relu(b);
  d = add(c, b);
  e = relu(batch_norm(dropout(d, rate=0.5)));
  @checkpoint f = batch_norm(e);
  g = relu(f);
  side = batch_norm(g);
  h = relu(side);
  loss = softmax_cross_entropy(linear(global_avg_pool(h), units=5), labels);
}
)";

std::map<std::string, int> op_counts(const ir::Graph& g) {
  std::map<std::string, int> n;
  for (const ir::Node& node : g.nodes()) ++n[node.op];
  return n;
}

TEST(Fusion, FusesBatchNormReluPairsAndOnlyThose) {
  frontend::LoadOptions opts;
  opts.batch = 2;
  auto plain = load_text(kModel, opts);
  ASSERT_TRUE(plain.ok) << plain.rendered;
  ir::FusionReport rep;
  const ir::Graph g = ir::fuse_ops(plain.graph, {}, &rep);
  // a and e fuse. b feeds add too; f carries @checkpoint and g does not; side is a model output.
  EXPECT_EQ(rep.batch_norm_relu, 2);
  auto before = op_counts(plain.graph), after = op_counts(g);
  EXPECT_EQ(after["batch_norm_relu"], 2);
  EXPECT_EQ(after["batch_norm"], before["batch_norm"] - 2);
  EXPECT_EQ(after["relu"], before["relu"] - 2);
  EXPECT_EQ(g.size(), plain.graph.size() - 2);

  // Parameters in the same order with the same names; the same inputs and outputs by name and type.
  ASSERT_EQ(g.params().size(), plain.graph.params().size());
  for (size_t i = 0; i < g.params().size(); ++i)
    EXPECT_EQ(g.node(g.params()[i]).name, plain.graph.node(plain.graph.params()[i]).name);
  EXPECT_EQ(g.output_names(), plain.graph.output_names());
  for (size_t i = 0; i < g.outputs().size(); ++i) EXPECT_EQ(g.type(g.outputs()[i]), plain.graph.type(plain.graph.outputs()[i]));

  for (const ir::Node& n : g.nodes()) {
    for (const ir::ValueRef& in : n.inputs) EXPECT_LT(in.node, n.id);  // still topological
    const ir::Node* was = plain.graph.find(n.name);
    ASSERT_NE(was, nullptr) << n.name;
    EXPECT_EQ(n.rng_key, was->rng_key) << n.name;  // dropout masks do not move
    if (n.op != "batch_norm_relu") {
      EXPECT_TRUE(n.fused_from.empty());
      continue;
    }
    EXPECT_EQ(was->op, "batch_norm");
    EXPECT_EQ(n.span.loc.line, was->span.loc.line);
    EXPECT_EQ(n.path, was->path);
    ASSERT_EQ(n.fused_from.size(), 2u);
    EXPECT_EQ(n.fused_from[0], was->path);
    EXPECT_NE(n.fused_from[1].find("relu"), std::string::npos) << n.fused_from[1];
  }
  // Fusing again finds nothing new.
  ir::FusionReport again;
  EXPECT_EQ(ir::fuse_ops(g, {}, &again).size(), g.size());
  EXPECT_EQ(again.total(), 0);
}

// Two layers of the standard library's lstm over three steps: six tails fused, each into a node reading
// the gates and c and giving h' and c'; under a policy that keeps step boundaries (sqrt), none.
TEST(Fusion, FusesLstmTailsWherePoliciesKeepWholeSteps) {
  const char* model = R"(snet 1;
model m(x: f32[N, 3, 4], labels: i32[N]) -> (loss) {
  low = lstm(hidden=5);
  high = lstm(hidden=5);
  h = zeros(shape=[N, 5]);
  c = zeros(shape=[N, 5]);
  h2 = zeros(shape=[N, 5]);
  c2 = zeros(shape=[N, 5]);
  repeat t in 0..3 {
    (h, c) = low(x[:, t], h, c);
    (h2, c2) = high(h, h2, c2);
  }
  loss = softmax_cross_entropy(linear(h2, units=4), labels);
}
)";
  frontend::LoadOptions opts;
  opts.batch = 2;
  auto plain = load_text(model, opts);
  ASSERT_TRUE(plain.ok) << plain.rendered;
  ir::FusionReport rep;
  const ir::Graph g = ir::fuse_ops(plain.graph, {}, &rep);
  EXPECT_EQ(rep.lstm_cell, 6);
  EXPECT_EQ(rep.batch_norm_relu, 0);
  int cells = 0;
  for (const ir::Node& n : g.nodes()) {
    if (n.op != "lstm_cell") continue;
    ++cells;
    EXPECT_EQ(n.fused_from.size(), 10u);
    EXPECT_EQ(n.attrs.get_int_list("order"), (std::vector<int64_t>{0, 1, 2, 3}));  // the block's i, f, g, o
    EXPECT_EQ(g.type(n.inputs[0]).shape, (ir::Shape{2, 20}));
    EXPECT_EQ(n.outputs.size(), 2u);
  }
  EXPECT_EQ(cells, 6);
  EXPECT_EQ(g.size(), plain.graph.size() - 6 * 9);
  ir::FusionReport under_sqrt;
  ir::fuse_ops(plain.graph, ir::FusionOptions::for_policy("sqrt"), &under_sqrt);
  EXPECT_EQ(under_sqrt.lstm_cell, 0);
  ir::FusionReport under_none;
  ir::fuse_ops(plain.graph, ir::FusionOptions::for_policy("none"), &under_none);
  EXPECT_EQ(under_none.lstm_cell, 6);
}

TEST(Fusion, LoadOptionsFuseRunsThePass) {
  frontend::LoadOptions opts;
  opts.batch = 2;
  opts.fusion = ir::FusionOptions{};
  auto fused = load_text(kModel, opts);
  ASSERT_TRUE(fused.ok) << fused.rendered;
  EXPECT_EQ(op_counts(fused.graph)["batch_norm_relu"], 2);
}

}  // namespace
}  // namespace sublinear::testing
