// input_specs: roles and ranges read off the graph for the example models and for labels that reach
// the loss through data-movement ops; an i32 input with no inferable range is an error naming it.
#include <gtest/gtest.h>

#include "data_test_util.h"

namespace sublinear {
namespace {

using data::InputRole;
using data::InputSpec;
using testing::load_example;
using testing::load_graph;

TEST(InputSpecs, MlpHasFeaturesAndLabels) {
  auto specs = data::input_specs(load_example("mlp.snet", 8, {{"classes", "12"}}));
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(specs[0].name, "x");
  EXPECT_EQ(specs[0].role, InputRole::Features);
  EXPECT_EQ(specs[0].type.str(), "f32[8, 784]");
  EXPECT_EQ(specs[1].name, "labels");
  EXPECT_EQ(specs[1].role, InputRole::Labels);
  EXPECT_EQ(specs[1].int_range, 12);
  EXPECT_EQ(specs[1].type.str(), "i32[8]");
}

TEST(InputSpecs, CnnLabelsReadByLossAndAccuracy) {
  auto specs = data::input_specs(load_example("cnn.snet", 4, {{"classes", "7"}, {"width", "8"}}));
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(specs[0].role, InputRole::Features);
  EXPECT_EQ(specs[0].type.str(), "f32[4, 3, 32, 32]");
  EXPECT_EQ(specs[1].role, InputRole::Labels);
  EXPECT_EQ(specs[1].int_range, 7);
}

TEST(InputSpecs, LstmLabelsReachTheLossThroughSelect) {
  auto specs = data::input_specs(load_example(
      "lstm.snet", 2, {{"layers", "1"}, {"hidden", "8"}, {"input_dim", "5"}, {"classes", "11"}, {"seq_len", "3"}}));
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(specs[0].role, InputRole::Features);
  EXPECT_EQ(specs[1].role, InputRole::Labels);
  EXPECT_EQ(specs[1].int_range, 11);
  EXPECT_EQ(specs[1].type.str(), "i32[2, 3]");
}

TEST(InputSpecs, EmbeddingInputIsTokens) {
  auto g = load_graph(R"(snet 1;
model lm(tokens: i32[N, 16], labels: i32[N, 16]) -> (loss) {
  e = embedding(tokens, vocab=100, dim=8);
  logits = linear(e, units=90);
  loss = softmax_cross_entropy(logits, labels);
}
)",
                      3);
  auto specs = data::input_specs(g);
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(specs[0].role, InputRole::Tokens);
  EXPECT_EQ(specs[0].int_range, 100);
  EXPECT_EQ(specs[1].role, InputRole::Labels);
  EXPECT_EQ(specs[1].int_range, 90);
}

TEST(InputSpecs, LabelsThroughReshapeTransposeAndConcat) {
  auto g = load_graph(R"(snet 1;
model m(x: f32[N, 6, 5], y: i32[N, 2, 3], z: i32[3, N]) -> (loss, acc) {
  logits = linear(reshape(x, shape=[-1, 5]), units=4);
  flat = reshape(y, shape=[-1]);
  loss = softmax_cross_entropy(logits, flat);
  both = transpose(concat(z, z[0:1, :], axis=0), perm=[1, 0]);
  acc = accuracy(linear(x[:, 0:3, :], units=9), y[:, 0, :]) + accuracy(linear(x[:, 0:4, :], units=6), both);
}
)",
                      2);
  auto specs = data::input_specs(g);
  ASSERT_EQ(specs.size(), 3u);
  EXPECT_EQ(specs[1].role, InputRole::Labels);
  // y reaches logits of 4 classes (via reshape) and of 9 (via select): the smaller range fits both.
  EXPECT_EQ(specs[1].int_range, 4);
  EXPECT_EQ(specs[2].role, InputRole::Labels);
  EXPECT_EQ(specs[2].int_range, 6);
}

TEST(InputSpecs, LabelsThroughSplitStackAndFlatten) {
  auto g = load_graph(R"(snet 1;
model m(x: f32[N, 2, 5], w: i32[N, 4], v: i32[N, 2, 1]) -> (loss) {
  (a, b) = split(w, parts=2, axis=1);
  st = stack(b, a, axis=2);
  loss = softmax_cross_entropy(linear(x, units=3), st[:, :, 0]) + mean(softmax_cross_entropy(linear(flatten(x, axis=2), units=8), flatten(v, axis=2)[:, 0], reduction="none"));
}
)",
                      2);
  auto specs = data::input_specs(g);
  ASSERT_EQ(specs.size(), 3u);
  EXPECT_EQ(specs[1].role, InputRole::Labels);
  EXPECT_EQ(specs[1].int_range, 3);
  EXPECT_EQ(specs[2].role, InputRole::Labels);
  EXPECT_EQ(specs[2].int_range, 8);
}

TEST(InputSpecs, ShiftedSequenceFeedingEmbeddingAndLossIsTokens) {
  auto g = load_graph(R"(snet 1;
model lm(seq: i32[N, 9]) -> (loss) {
  e = embedding(seq[:, 0:8], vocab=50, dim=4);
  loss = softmax_cross_entropy(linear(e, units=40), seq[:, 1:9]);
}
)",
                      2);
  auto specs = data::input_specs(g);
  ASSERT_EQ(specs.size(), 1u);
  EXPECT_EQ(specs[0].role, InputRole::Tokens);
  EXPECT_EQ(specs[0].int_range, 40);
}

// Indices of take address an axis: tokens over its extent (the smaller table wins when there are two).
TEST(InputSpecs, TakeIndicesAreTokensOverTheAxis) {
  auto g = load_graph(R"(snet 1;
model lm(ids: i32[N, 6], labels: i32[N, 6]) -> (loss) {
  weight table: f32[50, 8] = normal();
  e = take(table, ids);
  rows = take(e, ids[:, 0:4], axis=1);
  logits = linear(e, units=40) + mean(rows);
  loss = softmax_cross_entropy(logits, labels);
}
)",
                      2);
  auto specs = data::input_specs(g);
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(specs[0].role, InputRole::Tokens);
  EXPECT_EQ(specs[0].int_range, 6);
  EXPECT_EQ(specs[1].role, InputRole::Labels);
}

TEST(InputSpecs, IntInputWithoutRangeIsAnErrorNamingIt) {
  ir::Graph g;
  g.model_name = "m";
  ir::Node x;
  x.op = "input";
  x.name = "x";
  x.attrs.set("shape", std::vector<int64_t>{2, 4});
  x.attrs.set("dtype", std::string("f32"));
  x.outputs = {{ir::DType::F32, {2, 4}}};
  ir::NodeId xid = g.add_node(x);
  ir::Node idx = x;
  idx.name = "mystery_ids";
  idx.attrs.set("dtype", std::string("i32"));
  idx.outputs = {{ir::DType::I32, {2, 4}}};
  g.add_node(idx);
  ir::Node m;
  m.op = "mean";
  m.name = "loss";
  m.inputs = {{xid, 0}};
  m.attrs.set("axes", std::vector<int64_t>{});
  m.attrs.set("keepdims", false);
  m.outputs = {{ir::DType::F32, {}}};
  ir::NodeId mid = g.add_node(m);
  g.add_output({mid, 0}, "loss");
  try {
    data::input_specs(g);
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("'mystery_ids'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sublinear
