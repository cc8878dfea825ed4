// Graph printing, summary, Graphviz and verification on hand-built graphs: the frontend is not needed,
// so these pin down the IR layer's own behaviour.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <regex>

#include "ir/dot.h"
#include "ir/format_util.h"
#include "ir/op_registry.h"
#include "ir/printer.h"
#include "ir/summary.h"
#include "ir/verify.h"

namespace sublinear::ir {
namespace {

using AttrList = std::vector<std::pair<std::string, AttrValue>>;

const OpDef& def_of(const std::string& op) {
  const OpDef* d = OpRegistry::global().find(op);
  if (!d) throw std::runtime_error("op '" + op + "' is not registered");
  return *d;
}

AttrList tensor(std::vector<int64_t> shape, const std::string& dtype = "f32") {
  return {{"shape", std::move(shape)}, {"dtype", dtype}};
}

FrameChain chain(const std::vector<std::string>& labels) {
  auto frames = std::make_shared<std::vector<ExpansionFrame>>();
  int line = 10;
  for (const auto& l : labels) {
    bool repeat = l.rfind("repeat[", 0) == 0;
    frames->push_back({l, repeat ? "" : l, {"models/mlp.snet", line++, 3, 1}});
  }
  return frames;
}

// Builds nodes the way the frontend does: validated attrs, inferred outputs, a layer's params created
// from its ParamSpecs just before it and appended to its inputs.
class Builder {
 public:
  explicit Builder(Graph& g) : g_(g) {}

  FrameChain frames;  // applied to every node added until changed

  NodeId source(const std::string& op, const std::string& name, const AttrList& attrs, int line) {
    return add(op, name, {}, attrs, line);
  }

  NodeId layer(const std::string& op, const std::string& name, std::vector<ValueRef> data,
               const AttrList& attrs, int line) {
    const OpDef& d = def_of(op);
    Attrs validated = validate_attrs(d, attrs);
    if (d.params) {
      std::vector<TensorType> types;
      for (auto v : data) types.push_back(g_.type(v));
      for (const auto& p : d.params(types, validated)) {
        AttrList pa{{"shape", p.type.shape},
                    {"dtype", std::string(dtype_name(p.type.dtype))},
                    {"init", p.init},
                    {"trainable", p.trainable},
                    {"fan_in", p.fan_in}};
        data.push_back({add("param", name + "." + p.name, {}, pa, line), 0});
      }
    }
    return add(op, name, data, attrs, line);
  }

 private:
  NodeId add(const std::string& op, const std::string& name, std::vector<ValueRef> inputs,
             const AttrList& attrs, int line) {
    const OpDef& d = def_of(op);
    Node n;
    n.op = op;
    n.name = name;
    n.inputs = std::move(inputs);
    n.attrs = validate_attrs(d, attrs);
    std::vector<TensorType> types;
    for (auto v : n.inputs) types.push_back(g_.type(v));
    n.outputs = d.infer(types, n.attrs);
    n.span.loc = {"models/mlp.snet", line, 7, 1};
    n.span.frames = frames;
    std::string prefix = n.span.frame_path();
    n.path = (prefix.empty() ? "" : prefix + "/") + op + "#" + std::to_string(++label_count_[op]);
    return g_.add_node(std::move(n));
  }

  Graph& g_;
  std::map<std::string, int> label_count_;
};

// x f32[4, 8] -> linear(16) -> relu -> linear(3) -> softmax_cross_entropy with labels i32[4]. The
// hidden layer sits in repeat[0]/block, the output layer in repeat[1]/block.
Graph tiny_mlp() {
  Graph g;
  g.model_name = "mlp";
  g.batch = 4;
  g.source_file = "models/mlp.snet";
  Builder b(g);
  NodeId x = b.source("input", "x", tensor({4, 8}), 2);
  NodeId y = b.source("input", "labels", tensor({4}, "i32"), 3);
  b.frames = chain({"repeat[0]", "block"});
  NodeId h = b.layer("linear", "h", {{x, 0}}, {{"units", int64_t{16}}}, 5);
  NodeId a = b.layer("relu", "a", {{h, 0}}, {}, 6);
  g.mutable_node(a).annotation = Annotation::Recompute;
  b.frames = chain({"repeat[1]", "block"});
  NodeId logits = b.layer("linear", "logits", {{a, 0}}, {{"units", int64_t{3}}}, 5);
  b.frames = nullptr;
  NodeId loss = b.layer("softmax_cross_entropy", "loss", {{logits, 0}, {y, 0}}, {}, 8);
  g.add_output({loss, 0}, "loss");
  g.add_output({logits, 0}, "logits");
  return g;
}

TEST(FormatUtil, HumanBytes) {
  EXPECT_EQ(human_bytes(0), "0 B");
  EXPECT_EQ(human_bytes(512), "512 B");
  EXPECT_EQ(human_bytes(1023), "1023 B");
  EXPECT_EQ(human_bytes(1536), "1.50 KiB");
  EXPECT_EQ(human_bytes(int64_t{6} << 30), "6.00 GiB");
  EXPECT_EQ(human_bytes((int64_t{1} << 20) - 1), "1.00 MiB");
  EXPECT_EQ(human_bytes(-2048), "-2.00 KiB");
}

TEST(FormatUtil, WithCommas) {
  EXPECT_EQ(with_commas(0), "0");
  EXPECT_EQ(with_commas(999), "999");
  EXPECT_EQ(with_commas(1000), "1,000");
  EXPECT_EQ(with_commas(25557032), "25,557,032");
  EXPECT_EQ(with_commas(-1234567), "-1,234,567");
  EXPECT_EQ(with_commas(INT64_MIN), "-9,223,372,036,854,775,808");
}

TEST(Printer, TinyMlp) {
  Graph g = tiny_mlp();
  const std::string param_tail = ", std=0.01, trainable=true}";
  std::string expected =
      "model mlp (batch 4)\n"
      "%0 x = input() {dtype=\"f32\", shape=[4, 8]} : f32[4, 8]  # mlp.snet:2:7 input#1\n"
      "%1 labels = input() {dtype=\"i32\", shape=[4]} : i32[4]  # mlp.snet:3:7 input#2\n"
      "%2 h.weight = param() {dtype=\"f32\", fan_in=8, init=\"xavier\", shape=[16, 8]" + param_tail +
      " : f32[16, 8]  # mlp.snet:5:7 repeat[0]/block/param#1\n"
      "%3 h.bias = param() {dtype=\"f32\", fan_in=0, init=\"zeros\", shape=[16]" + param_tail +
      " : f32[16]  # mlp.snet:5:7 repeat[0]/block/param#2\n"
      "%4 h = linear(%0, %2, %3) {bias=true, units=16} : f32[4, 16]"
      "  # mlp.snet:5:7 repeat[0]/block/linear#1\n"
      "%5 a = relu(%4) : f32[4, 16]  # mlp.snet:6:7 repeat[0]/block/relu#1 @recompute\n"
      "%6 logits.weight = param() {dtype=\"f32\", fan_in=16, init=\"xavier\", shape=[3, 16]" + param_tail +
      " : f32[3, 16]  # mlp.snet:5:7 repeat[1]/block/param#3\n"
      "%7 logits.bias = param() {dtype=\"f32\", fan_in=0, init=\"zeros\", shape=[3]" + param_tail +
      " : f32[3]  # mlp.snet:5:7 repeat[1]/block/param#4\n"
      "%8 logits = linear(%5, %6, %7) {bias=true, units=3} : f32[4, 3]"
      "  # mlp.snet:5:7 repeat[1]/block/linear#2\n"
      "%9 loss = softmax_cross_entropy(%8, %1) {reduction=\"mean\"} : f32[], f32[4, 3]"
      "  # mlp.snet:8:7 softmax_cross_entropy#1\n"
      "outputs: loss=%9, logits=%8\n";
  EXPECT_EQ(print_graph(g), expected);

  std::string bare = print_graph(g, false);
  EXPECT_NE(bare.find("%4 h = linear(%0, %2, %3) {bias=true, units=16} : f32[4, 16]\n"), std::string::npos)
      << bare;
  EXPECT_NE(bare.find("%5 a = relu(%4) : f32[4, 16]  # @recompute\n"), std::string::npos) << bare;
  EXPECT_EQ(bare.find("mlp.snet:"), std::string::npos);
  EXPECT_EQ(value_ref_str({9, 1}), "%9.1");
}

TEST(Summary, TinyMlpByHand) {
  Graph g = tiny_mlp();
  GraphSummary s = summarize(g);
  EXPECT_EQ(s.model, "mlp");
  EXPECT_EQ(s.batch, 4);
  EXPECT_EQ(s.nodes, 10);
  std::map<std::string, int64_t> by_op{{"linear", 2}, {"relu", 1}, {"softmax_cross_entropy", 1}};
  EXPECT_EQ(s.nodes_by_op, by_op);
  EXPECT_EQ(s.params, 16 * 8 + 16 + 3 * 16 + 3);
  EXPECT_EQ(s.param_bytes, 4 * 195);
  EXPECT_EQ(s.state_bytes, 0);
  EXPECT_EQ(s.inputs_bytes, 4 * 8 * 4 + 4 * 4);
  EXPECT_EQ(s.shared_param_uses, 0);

  // linear: 2*N*D*units multiply-adds plus N*units bias adds; relu: one per element. Only the loss
  // is taken from its cost function.
  const Node& loss = g.node(9);
  std::vector<TensorType> loss_in{g.type(loss.inputs[0]), g.type(loss.inputs[1])};
  int64_t loss_flops = def_of("softmax_cross_entropy").cost(loss_in, loss.outputs, loss.attrs).flops;
  EXPECT_GT(loss_flops, 0);
  int64_t linear1 = 2 * 4 * 8 * 16 + 4 * 16, relu = 4 * 16, linear2 = 2 * 4 * 16 * 3 + 4 * 3;
  EXPECT_EQ(linear1, 1088);
  EXPECT_EQ(s.forward_flops, linear1 + relu + linear2 + loss_flops);

  // h, a: f32[4, 16]; logits f32[4, 3]; loss f32[] and probs f32[4, 3].
  EXPECT_EQ(s.activation_bytes, 256 + 256 + 48 + 4 + 48);
  ASSERT_EQ(s.largest_activations.size(), 5u);
  EXPECT_EQ(s.largest_activations[0].name, "h");  // ties keep graph order
  EXPECT_EQ(s.largest_activations[1].name, "a");
  EXPECT_EQ(s.largest_activations[2].name, "logits");
  EXPECT_EQ(s.largest_activations[3].name, "loss.1");
  EXPECT_EQ(s.largest_activations[3].type, "f32[4, 3]");
  EXPECT_EQ(s.largest_activations[0].path, "repeat[0]/block/linear#1");
  EXPECT_EQ(s.largest_activations[0].loc, "models/mlp.snet:5:7");

  std::string text = format_summary(s);
  EXPECT_NE(text.find("model mlp (batch 4)"), std::string::npos) << text;
  EXPECT_NE(text.find("780 B (780 bytes)"), std::string::npos) << text;
  EXPECT_NE(text.find("  linear                 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  softmax_cross_entropy  1\n"), std::string::npos) << text;

  auto j = summary_to_json(s);
  EXPECT_EQ(j["params"], 195);
  EXPECT_EQ(j["shared_params"], 0);
  EXPECT_EQ(j["nodes_by_op"]["linear"], 2);
  EXPECT_EQ(j["largest_activations"].size(), 5u);
  EXPECT_EQ(j["largest_activations"][0]["bytes"], 256);
  for (const char* key : {"model", "batch", "nodes", "param_bytes", "state_bytes", "inputs_bytes",
                          "forward_flops", "activation_bytes"})
    EXPECT_TRUE(j.contains(key)) << key;
}

TEST(Summary, SharedAndStateParams) {
  Graph g;
  g.model_name = "shared";
  Builder b(g);
  NodeId x = b.source("input", "x", tensor({2, 4}), 1);
  NodeId w = b.source("param", "w", tensor({4, 4}), 2);
  AttrList stat_attrs = tensor({4});
  stat_attrs.push_back({"trainable", false});
  NodeId stat = b.source("param", "stat", stat_attrs, 3);
  Node n1;
  n1.op = "linear";
  n1.name = "t0";
  n1.inputs = {{x, 0}, {w, 0}};
  n1.attrs = validate_attrs(def_of("linear"), {{"units", int64_t{4}}, {"bias", false}});
  n1.outputs = {{DType::F32, {2, 4}}};
  NodeId t0 = g.add_node(n1);
  Node n2 = n1;
  n2.name = "t1";
  n2.inputs = {{t0, 0}, {w, 0}};
  g.add_node(n2);
  (void)stat;
  GraphSummary s = summarize(g);
  EXPECT_EQ(s.shared_param_uses, 1);
  EXPECT_EQ(s.params, 16);
  EXPECT_EQ(s.state_bytes, 16);
  EXPECT_EQ(s.forward_flops, 2 * (2 * 2 * 4 * 4));
}

size_t count(const std::string& text, const std::regex& re) {
  auto begin = std::sregex_iterator(text.begin(), text.end(), re);
  return static_cast<size_t>(std::distance(begin, std::sregex_iterator()));
}

const std::regex kNodeDecl(R"(^\s*n\d+ \[)", std::regex::multiline);
const std::regex kBoxDecl(R"(^\s*c\d+ \[)", std::regex::multiline);
const std::regex kEdge(R"( -> )");

TEST(Dot, ClustersFollowFrames) {
  Graph g = tiny_mlp();
  std::string dot = graph_to_dot(g);
  EXPECT_EQ(dot.rfind("digraph \"mlp\" {", 0), 0u) << dot;
  EXPECT_EQ(count(dot, std::regex(R"(subgraph cluster_\d+ \{)")), 4u) << dot;  // 2 repeats x block
  EXPECT_EQ(count(dot, std::regex(R"(label="repeat\[0\]";)")), 1u) << dot;
  EXPECT_EQ(count(dot, std::regex(R"(label="block";)")), 2u) << dot;
  EXPECT_EQ(count(dot, kNodeDecl), 10u) << dot;
  EXPECT_EQ(count(dot, kBoxDecl), 0u) << dot;
  EXPECT_EQ(count(dot, kEdge), 9u) << dot;
  EXPECT_NE(dot.find("n4 -> n5 [label=\"f32[4, 16]\"];"), std::string::npos) << dot;
  EXPECT_NE(dot.find("label=\"h\\nlinear\""), std::string::npos) << dot;

  // h (and its params) sit inside the first block cluster, which is inside repeat[0].
  auto r0 = dot.find("label=\"repeat[0]\";"), blk = dot.find("label=\"block\";");
  auto h = dot.find("n4 ["), r1 = dot.find("label=\"repeat[1]\";");
  EXPECT_LT(r0, blk);
  EXPECT_LT(blk, h);
  EXPECT_LT(h, r1);

  std::string no_params = graph_to_dot(g, -1, false);
  EXPECT_EQ(count(no_params, kNodeDecl), 6u) << no_params;
  EXPECT_EQ(count(no_params, kEdge), 5u) << no_params;
}

TEST(Dot, CollapseReplacesFramesWithBoxes) {
  Graph g = tiny_mlp();
  std::string top = graph_to_dot(g, 0);
  EXPECT_EQ(count(top, kBoxDecl), 2u) << top;
  EXPECT_EQ(count(top, kNodeDecl), 3u) << top;  // x, labels, loss
  EXPECT_NE(top.find("label=\"repeat[0]\\n2 ops\""), std::string::npos) << top;
  EXPECT_NE(top.find("label=\"repeat[1]\\n1 op\""), std::string::npos) << top;
  // x -> box0, box0 -> box1, box1 -> loss, labels -> loss.
  EXPECT_EQ(count(top, kEdge), 4u) << top;

  std::string one = graph_to_dot(g, 1);
  EXPECT_EQ(count(one, std::regex(R"(subgraph cluster_\d+ \{)")), 2u) << one;
  EXPECT_NE(one.find("label=\"repeat[0]/block\\n2 ops\""), std::string::npos) << one;
  EXPECT_EQ(graph_to_dot(g, 2), graph_to_dot(g, -1));
}

TEST(Dot, EscapesAndDedupsEdges) {
  EXPECT_EQ(dot_escape("a \"b\"\\c\nd"), "a \\\"b\\\"\\\\c\\nd");
  // A box reading one value through several of its nodes gets a single edge with that value's type.
  Graph g;
  g.model_name = "quote\"d";
  Builder b(g);
  NodeId x = b.source("input", "x", tensor({2, 3}), 1);
  b.frames = chain({"pair"});
  NodeId r1 = b.layer("relu", "r1", {{x, 0}}, {}, 2);
  NodeId r2 = b.layer("relu", "r2", {{x, 0}}, {}, 3);
  b.layer("add", "s", {{r1, 0}, {r2, 0}}, {}, 4);
  std::string dot = graph_to_dot(g, 0);
  EXPECT_EQ(dot.rfind("digraph \"quote\\\"d\" {", 0), 0u) << dot;
  EXPECT_EQ(count(dot, kEdge), 1u) << dot;
  EXPECT_NE(dot.find("n0 -> c0 [label=\"f32[2, 3]\"];"), std::string::npos) << dot;
}

// 12,000 ops in 2,000 repeat iterations: rendering must stay linear.
TEST(Dot, LargeGraphIsFast) {
  Graph g;
  g.model_name = "deep";
  Builder b(g);
  NodeId cur = b.source("input", "x", tensor({2, 8}), 1);
  auto stage = chain({"stage"});
  for (int i = 0; i < 2000; ++i) {
    auto frames = std::make_shared<std::vector<ExpansionFrame>>(*stage);
    frames->push_back({"repeat[" + std::to_string(i) + "]", "", {"m.snet", 2, 1, 1}});
    frames->push_back({"unit", "unit", {"m.snet", 3, 1, 1}});
    b.frames = frames;
    NodeId h = b.layer("linear", "h" + std::to_string(i), {{cur, 0}}, {{"units", int64_t{8}}}, 4);
    NodeId r = b.layer("relu", "r" + std::to_string(i), {{h, 0}}, {}, 5);
    cur = b.layer("add", "o" + std::to_string(i), {{r, 0}, {cur, 0}}, {}, 6);
  }
  b.frames = nullptr;
  g.add_output({b.layer("mean", "loss", {{cur, 0}}, {}, 7), 0}, "loss");
  auto start = std::chrono::steady_clock::now();
  std::string full = graph_to_dot(g);
  std::string collapsed = graph_to_dot(g, 1);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(secs, 2.0);
  std::printf("dot of %zu nodes, twice: %.3f s\n", g.size(), secs);
  EXPECT_EQ(count(full, kNodeDecl), g.size());
  EXPECT_EQ(count(collapsed, kBoxDecl), 2000u);
  EXPECT_EQ(count(collapsed, kNodeDecl), 2u);  // x and the loss
  EXPECT_EQ(count(collapsed, kEdge), 2001u);  // x -> unit0 -> ... -> loss; residuals merge in
  EXPECT_NE(collapsed.find("label=\"stage/repeat[7]\\n3 ops\""), std::string::npos);
  EXPECT_TRUE(graph_problems(g).empty());
}

TEST(Verify, SoundGraphHasNoProblems) {
  Graph g = tiny_mlp();
  EXPECT_TRUE(graph_problems(g).empty());
  verify_graph(g);
}

TEST(Verify, CatchesWrongOutputShape) {
  Graph g = tiny_mlp();
  g.mutable_node(4).outputs[0].shape = {4, 17};
  auto problems = graph_problems(g);
  // h itself, and relu whose input no longer matches its recorded output.
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_NE(problems[0].find("'h'"), std::string::npos) << problems[0];
  EXPECT_NE(problems[0].find("repeat[0]/block/linear#1"), std::string::npos) << problems[0];
  EXPECT_NE(problems[0].find("f32[4, 16]"), std::string::npos) << problems[0];
  EXPECT_NE(problems[0].find("f32[4, 17]"), std::string::npos) << problems[0];
  EXPECT_NE(problems[1].find("'a'"), std::string::npos) << problems[1];
  EXPECT_DEATH(verify_graph(g), "violates");
}

TEST(Verify, CatchesStructuralBreakage) {
  Graph g = tiny_mlp();
  g.mutable_node(5).name = "h";
  g.mutable_node(5).inputs = {{7, 0}};
  g.add_output({8, 0}, "second");
  auto problems = graph_problems(g);
  std::string all;
  for (const auto& p : problems) all += p + "\n";
  EXPECT_NE(all.find("name also used by %4"), std::string::npos) << all;
  EXPECT_NE(all.find("does not precede it"), std::string::npos) << all;

  Graph no_scalar;
  no_scalar.model_name = "m";
  Builder b(no_scalar);
  NodeId x = b.source("input", "x", tensor({2}), 1);
  no_scalar.add_output({x, 0}, "loss");
  problems = graph_problems(no_scalar);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("expected a scalar f32[]"), std::string::npos) << problems[0];

  Graph empty;
  ASSERT_EQ(graph_problems(empty).size(), 1u);
}

}  // namespace
}  // namespace sublinear::ir
