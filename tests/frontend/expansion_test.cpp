// What expansion produces: node paths, annotations, shared weights, explicit weights, repeat
// expressions, tensor indexing, params and --set, `if`, imports and the standard library.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "test_util.h"

namespace sublinear {
namespace {

namespace fs = std::filesystem;
using testing::load_text;

frontend::LoadOptions batch(int64_t n) {
  frontend::LoadOptions o;
  o.batch = n;
  return o;
}

// The node with this path; fails the test (and returns null) when there is none.
const ir::Node* by_path(const ir::Graph& g, const std::string& path) {
  for (const auto& n : g.nodes())
    if (n.path == path) return &n;
  ADD_FAILURE() << "no node with path '" << path << "'";
  return nullptr;
}

int count_op(const ir::Graph& g, const std::string& op) {
  int k = 0;
  for (const auto& n : g.nodes()) k += n.op == op;
  return k;
}

std::string all_paths(const ir::Graph& g) {
  std::string out;
  for (const auto& n : g.nodes()) out += n.path + "\n";
  return out;
}

// --- paths ------------------------------------------------------------------------------------------

TEST(Expansion, PathsNameFramesAndRepeatedLabels) {
  auto r = load_text(R"(snet 1;
block blk(x: f32) {
  a = conv2d(x, out=4, kernel=3, pad=1);
  b = conv2d(relu(a), out=4, kernel=3, pad=1);
  return b;
}
model m(x: f32[N, 4, 8, 8]) -> (loss) {
  h = x;
  repeat i in 0..4 {
    h = blk(h);
  }
  g = blk(h);
  k = blk(g);
  repeat j in 0..2 {
    k = relu(k);
  }
  loss = mean(k);
}
)", batch(2));
  ASSERT_TRUE(r.ok) << r.rendered;
  const ir::Graph& g = r.graph;
  if (auto* n = by_path(g, "repeat[3]/blk/conv2d#2")) {
    EXPECT_EQ(n->op, "conv2d");
    EXPECT_EQ(n->span.frame_path(), "repeat[3]/blk");
    EXPECT_EQ(n->span.loc.line, 4);
    // Its weight is named after it and is its second parameter input (after the data input).
    EXPECT_EQ(g.node(n->inputs[1].node).name, "repeat[3]/blk/conv2d#2.weight");
    EXPECT_EQ(g.node(n->inputs[2].node).name, "repeat[3]/blk/conv2d#2.bias");
  }
  by_path(g, "repeat[0]/blk/conv2d#1");
  by_path(g, "repeat[2]/blk/relu#1");
  // Top-level calls of one block: blk, then blk#2.
  by_path(g, "blk/conv2d#1");
  if (auto* n = by_path(g, "blk#2/conv2d#2")) {
    EXPECT_EQ(n->span.frame_path(), "blk#2");
  }
  // The second repeat of a frame.
  by_path(g, "repeat#2[0]/relu#1");
  if (auto* n = by_path(g, "repeat#2[1]/relu#1")) {
    EXPECT_EQ(n->span.frame_path(), "repeat#2[1]");
  }
  by_path(g, "mean#1");
  // 6 blk expansions x 2 convs, each with its own weight and bias.
  EXPECT_EQ(count_op(g, "conv2d"), 12);
  EXPECT_EQ(g.params().size(), 24u);
}

TEST(Expansion, PathsInsideNestedBlocksAndRepeats) {
  auto r = load_text(R"(snet 1;
block inner(x: f32) {
  return relu(x);
}
block outer(x: f32) {
  y = x;
  repeat i in 0..2 {
    y = inner(y);
  }
  return inner(y);
}
model m(x: f32[N, 4]) -> (loss) {
  loss = mean(outer(x));
}
)");
  ASSERT_TRUE(r.ok) << r.rendered;
  by_path(r.graph, "outer/repeat[1]/inner/relu#1");
  by_path(r.graph, "outer/inner/relu#1");
  EXPECT_EQ(count_op(r.graph, "relu"), 3) << all_paths(r.graph);
}

// --- annotations ------------------------------------------------------------------------------------

TEST(Expansion, AnnotationsPropagateAndInnermostWins) {
  auto r = load_text(R"(snet 1;
@recompute block rb(x: f32) {
  a = relu(x);
  @checkpoint b = relu(a);
  return b;
}
block plain(x: f32) {
  return tanh(x);
}
model m(x: f32[N, 4]) -> (loss) {
  @recompute h = relu(linear(x, units=4));
  @checkpoint p = plain(h);
  @checkpoint q = rb(p);
  @checkpoint repeat i in 0..2 {
    @recompute q = relu(q);
    q = sigmoid(q);
  }
  loss = mean(q);
}
)");
  ASSERT_TRUE(r.ok) << r.rendered;
  const ir::Graph& g = r.graph;
  using A = ir::Annotation;
  auto ann = [&](const std::string& path) {
    const ir::Node* n = by_path(g, path);
    return n ? n->annotation : A::None;
  };
  // A statement: every node it creates.
  EXPECT_EQ(ann("linear#1"), A::Recompute);
  EXPECT_EQ(ann("relu#1"), A::Recompute);
  // A block call: the block's nodes.
  EXPECT_EQ(ann("plain/tanh#1"), A::Checkpoint);
  // The block definition is inside the call; a statement inside the block is inside both.
  EXPECT_EQ(ann("rb/relu#1"), A::Recompute);
  EXPECT_EQ(ann("rb/relu#2"), A::Checkpoint);
  // A repeat: every iteration, unless a statement in it says otherwise.
  for (const char* it : {"repeat[0]", "repeat[1]"}) {
    EXPECT_EQ(ann(std::string(it) + "/relu#1"), A::Recompute) << it;
    EXPECT_EQ(ann(std::string(it) + "/sigmoid#1"), A::Checkpoint) << it;
  }
  EXPECT_EQ(ann("mean#1"), A::None);
  // The annotation's own location is recorded: rb/relu#1 gets it from the block definition.
  if (auto* n = by_path(g, "rb/relu#1")) {
    EXPECT_EQ(n->annotation_loc.str(), "test.snet:2:1");
  }
  if (auto* n = by_path(g, "rb/relu#2")) {
    EXPECT_EQ(n->annotation_loc.str(), "test.snet:4:3");
  }
}

TEST(Expansion, ModelAnnotationAppliesToEveryComputingNode) {
  auto r = load_text(R"(snet 1;
@recompute model m(x: f32[N, 4]) -> (loss) {
  h = relu(linear(x, units=4));
  @checkpoint k = tanh(h);
  loss = mean(k);
}
)");
  ASSERT_TRUE(r.ok) << r.rendered;
  for (const auto& n : r.graph.nodes()) {
    if (n.is_input() || n.is_param()) continue;
    EXPECT_EQ(n.annotation, n.op == "tanh" ? ir::Annotation::Checkpoint : ir::Annotation::Recompute) << n.path;
  }
}

// --- shared weights ---------------------------------------------------------------------------------

const char* kSharedLstm = R"(snet 1;
model m(x: f32[N, 5, 4], h0: f32[N, 8], c0: f32[N, 8]) -> (loss) {
  cell = lstm(hidden=8);
  h = h0;
  c = c0;
  repeat t in 0..5 {
    (h, c) = cell(x[:, t], h, c);
  }
  loss = mean(h);
}
)";

TEST(Expansion, SharedLstmCreatesItsParamsOnce) {
  auto r = load_text(kSharedLstm, batch(2));
  ASSERT_TRUE(r.ok) << r.rendered;
  const ir::Graph& g = r.graph;
  const auto params = g.params();
  ASSERT_EQ(params.size(), 3u) << all_paths(g);
  const ir::Node* w_x = g.find("cell/linear#1.weight");
  const ir::Node* b_x = g.find("cell/linear#1.bias");
  const ir::Node* w_h = g.find("cell/linear#2.weight");
  ASSERT_TRUE(w_x && b_x && w_h) << all_paths(g);
  EXPECT_EQ(w_x->outputs[0].str(), "f32[32, 4]");
  EXPECT_EQ(b_x->outputs[0].str(), "f32[32]");
  EXPECT_EQ(w_h->outputs[0].str(), "f32[32, 8]");
  const auto consumers = g.consumers();
  for (const ir::Node* p : {w_x, b_x, w_h}) {
    const auto& users = consumers[p->id][0];
    ASSERT_EQ(users.size(), 5u) << p->name;
    for (size_t t = 0; t < users.size(); ++t) {
      EXPECT_EQ(g.node(users[t]).op, "linear");
      EXPECT_EQ(g.node(users[t]).span.frame_path(), "repeat[" + std::to_string(t) + "]/lstm");
    }
  }
  EXPECT_EQ(count_op(g, "linear"), 10);
  EXPECT_EQ(g.type(g.loss()).str(), "f32[]");
}

TEST(Expansion, TwoInstancesAndDirectCallsDoNotShare) {
  auto r = load_text(R"(snet 1;
model m(x: f32[N, 4], h0: f32[N, 8], c0: f32[N, 8]) -> (loss) {
  a = lstm(hidden=8);
  b = lstm(hidden=8);
  (h1, c1) = a(x, h0, c0);
  (h2, c2) = b(x, h0, c0);
  (h3, c3) = lstm(x, h0, c0, hidden=8);
  (h4, c4) = lstm(x, h0, c0, hidden=8);
  loss = mean(h1 + h2 + h3 + h4);
}
)");
  ASSERT_TRUE(r.ok) << r.rendered;
  EXPECT_EQ(r.graph.params().size(), 12u) << all_paths(r.graph);
  EXPECT_NE(r.graph.find("a/linear#1.weight"), nullptr);
  EXPECT_NE(r.graph.find("b/linear#1.weight"), nullptr);
  // Calls through instances count as calls of the block too: the direct calls are the third and fourth.
  EXPECT_NE(r.graph.find("lstm#3/linear#1.weight"), nullptr) << all_paths(r.graph);
  EXPECT_NE(r.graph.find("lstm#4/linear#1.weight"), nullptr) << all_paths(r.graph);
}

TEST(Expansion, SharedOpInstance) {
  auto r = load_text(R"(snet 1;
model m(a: f32[N, 4], b: f32[N, 4]) -> (loss) {
  fc = linear(units=3);
  loss = mean(fc(a) + fc(b));
}
)");
  ASSERT_TRUE(r.ok) << r.rendered;
  ASSERT_EQ(r.graph.params().size(), 2u) << all_paths(r.graph);
  const ir::Node* w = r.graph.find("fc.weight");
  ASSERT_NE(w, nullptr) << all_paths(r.graph);
  EXPECT_EQ(r.graph.consumers()[w->id][0].size(), 2u);
}

// --- explicit weights -------------------------------------------------------------------------------

TEST(Expansion, ExplicitWeightDeclarations) {
  auto r = load_text(R"(snet 1;
block proj(x: f32[_, 4]) {
  weight w: f32[4, 3] = normal();
  return matmul(x, w);
}
model m(x: f32[N, 4]) -> (loss) {
  weight mix: f32[4, 4];
  y = matmul(x, mix);
  p = proj(y);
  shared = proj();
  s1 = shared(y);
  s2 = shared(x);
  loss = mean(p) + mean(s1 + s2);
}
)");
  ASSERT_TRUE(r.ok) << r.rendered;
  const ir::Graph& g = r.graph;
  ASSERT_EQ(g.params().size(), 3u) << all_paths(g);
  const ir::Node* mix = g.find("mix");
  ASSERT_NE(mix, nullptr) << all_paths(g);
  EXPECT_EQ(mix->outputs[0].str(), "f32[4, 4]");
  EXPECT_EQ(mix->attrs.get_string("init"), "xavier");
  EXPECT_EQ(mix->attrs.get_int("fan_in"), 4);
  EXPECT_EQ(mix->span.loc.str(), "test.snet:7:10");
  const ir::Node* pw = g.find("proj/w");
  ASSERT_NE(pw, nullptr) << all_paths(g);
  EXPECT_EQ(pw->outputs[0].str(), "f32[4, 3]");
  EXPECT_EQ(pw->attrs.get_string("init"), "normal");
  const ir::Node* sw = g.find("shared/w");
  ASSERT_NE(sw, nullptr) << all_paths(g);
  const auto consumers = g.consumers();
  EXPECT_EQ(consumers[mix->id][0].size(), 1u);
  EXPECT_EQ(consumers[pw->id][0].size(), 1u);
  ASSERT_EQ(consumers[sw->id][0].size(), 2u);
  for (ir::NodeId user : consumers[sw->id][0]) {
    EXPECT_EQ(g.node(user).op, "matmul");
    EXPECT_EQ(g.node(user).inputs[1].node, sw->id);
  }
}

// --- repeat expressions and indexing ----------------------------------------------------------------

TEST(Expansion, RepeatExpressionCollectsYields) {
  auto r = load_text(R"(snet 1;
model m(x: f32[N, 4]) -> (loss) {
  xs = repeat i in 0..3 {
    y = linear(x, units=4);
    yield y;
  };
  s = add_n(xs);
  st = stack(xs, axis=1);
  last = xs[-1];
  loss = mean(s) + mean(st) + mean(last) * len(xs);
}
)", batch(2));
  ASSERT_TRUE(r.ok) << r.rendered;
  const ir::Graph& g = r.graph;
  const ir::Node* l0 = by_path(g, "repeat[0]/linear#1");
  const ir::Node* l2 = by_path(g, "repeat[2]/linear#1");
  const ir::Node* add_n = by_path(g, "add_n#1");
  const ir::Node* stack = by_path(g, "stack#1");
  ASSERT_TRUE(l0 && l2 && add_n && stack);
  ASSERT_EQ(add_n->inputs.size(), 3u);
  EXPECT_EQ(add_n->inputs[0].node, l0->id);
  EXPECT_EQ(add_n->inputs[2].node, l2->id);
  EXPECT_EQ(stack->outputs[0].str(), "f32[2, 3, 4]");
  // xs[-1] is the last yield itself, not a copy; len(xs) == 3 scales its mean.
  const auto consumers = g.consumers();
  bool mean_of_last = false;
  for (ir::NodeId u : consumers[l2->id][0]) mean_of_last |= g.node(u).op == "mean";
  EXPECT_TRUE(mean_of_last);
  bool scaled_by_3 = false;
  for (const auto& n : g.nodes())
    if (n.op == "scale") scaled_by_3 |= n.attrs.get_float("factor") == 3.0;
  EXPECT_TRUE(scaled_by_3);
}

TEST(Expansion, SteppedSlices) {
  auto r = load_text(R"(snet 1;
model m(x: f32[N, 8, 4]) -> (loss) {
  s = 2;
  a = x[:, ::2];
  b = x[:, 1:7:s + 1, :];
  c = x[:, ::1];
  d = x[::1, 3::100];
  loss = mean(a) + mean(b) + mean(c) + mean(d);
}
)", batch(2));
  ASSERT_TRUE(r.ok) << r.rendered;
  const ir::Graph& g = r.graph;
  EXPECT_EQ(count_op(g, "slice"), 3);  // c is x itself
  if (auto* n = by_path(g, "slice#1")) {
    EXPECT_EQ(n->attrs.get_int("step"), 2);
    EXPECT_EQ(n->outputs[0].str(), "f32[2, 4, 4]");
  }
  if (auto* n = by_path(g, "slice#2")) {
    EXPECT_EQ(n->attrs.get_int("start"), 1);
    EXPECT_EQ(n->attrs.get_int("step"), 3);
    EXPECT_EQ(n->outputs[0].str(), "f32[2, 2, 4]");
  }
  if (auto* n = by_path(g, "slice#3")) EXPECT_EQ(n->outputs[0].str(), "f32[2, 1, 4]");
}

TEST(Expansion, TensorIndexingMakesSelectAndSlice) {
  auto r = load_text(R"(snet 1;
model m(x: f32[N, 5, 4]) -> (loss) {
  t = 2;
  a = x[:, t];
  b = x[:, 1:3];
  c = x[0, 1];
  d = x[:, -1, 2:];
  e = x[:, :];
  loss = mean(a) + mean(b) + mean(c) + mean(d) + mean(e);
}
)", batch(2));
  ASSERT_TRUE(r.ok) << r.rendered;
  const ir::Graph& g = r.graph;
  if (auto* n = by_path(g, "select#1")) {
    EXPECT_EQ(n->attrs.get_int("axis"), 1);
    EXPECT_EQ(n->attrs.get_int("index"), 2);
    EXPECT_EQ(n->outputs[0].str(), "f32[2, 4]");
  }
  if (auto* n = by_path(g, "slice#1")) {
    EXPECT_EQ(n->attrs.get_int("axis"), 1);
    EXPECT_EQ(n->attrs.get_int("start"), 1);
    EXPECT_EQ(n->attrs.get_int("end"), 3);
    EXPECT_EQ(n->outputs[0].str(), "f32[2, 2, 4]");
  }
  // x[0, 1]: the first select drops axis 0, so the second index addresses the old axis 1.
  if (auto* n = by_path(g, "select#3")) {
    EXPECT_EQ(n->attrs.get_int("axis"), 0);
    EXPECT_EQ(n->outputs[0].str(), "f32[4]");
  }
  if (auto* n = by_path(g, "slice#2")) {
    EXPECT_EQ(n->attrs.get_int("axis"), 1);
    EXPECT_EQ(n->attrs.get_int("start"), 2);
    EXPECT_EQ(n->outputs[0].str(), "f32[2, 2]");
  }
  // A full range is no node at all: x[:, :] is x.
  EXPECT_EQ(count_op(g, "select"), 4);
  EXPECT_EQ(count_op(g, "slice"), 2);
}

// --- params, --set and `if` -------------------------------------------------------------------------

const char* kParams = R"(snet 1;
param width: int = 4;
param rate: float = 0.5;
param use_bias: bool = true;
param q: int = -7 / 2;
param rem: int = -7 % 2;
param wide: int = width * 2 + q;
model m(x: f32[N, 4]) -> (loss) {
  h = linear(x, units=width, bias=use_bias);
  d = dropout(h, rate=rate);
  k = linear(d, units=wide + 10);
  f = linear(k, units=q + 10);
  g = linear(f, units=rem + 1);
  loss = mean(g);
}
)";

int64_t units_of(const ir::Graph& g, const std::string& path) {
  const ir::Node* n = by_path(g, path);
  return n ? n->attrs.get_int("units") : -1;
}

TEST(Expansion, ParamArithmeticFloorsLikePython) {
  auto r = load_text(kParams);
  ASSERT_TRUE(r.ok) << r.rendered;
  EXPECT_EQ(units_of(r.graph, "linear#1"), 4);
  EXPECT_EQ(units_of(r.graph, "linear#2"), 14);  // 4 * 2 + (-4) + 10
  EXPECT_EQ(units_of(r.graph, "linear#3"), 6);   // -7 / 2 == -4
  EXPECT_EQ(units_of(r.graph, "linear#4"), 2);   // -7 % 2 == 1
  EXPECT_NE(r.graph.find("linear#1.bias"), nullptr);
  if (auto* d = by_path(r.graph, "dropout#1")) {
    EXPECT_EQ(d->attrs.get_float("rate"), 0.5);
  }
}

TEST(Expansion, SetOverridesIntFloatBool) {
  frontend::LoadOptions o;
  o.sets = {{"width", "16"}, {"rate", "0.25"}, {"use_bias", "false"}};
  auto r = load_text(kParams, o);
  ASSERT_TRUE(r.ok) << r.rendered;
  EXPECT_EQ(units_of(r.graph, "linear#1"), 16);
  EXPECT_EQ(units_of(r.graph, "linear#2"), 38);  // params computed from width see the override
  EXPECT_EQ(r.graph.find("linear#1.bias"), nullptr);
  if (auto* d = by_path(r.graph, "dropout#1")) {
    EXPECT_EQ(d->attrs.get_float("rate"), 0.25);
  }
}

TEST(Expansion, BatchBindsN) {
  auto r = load_text(R"(snet 1;
param half: int = N / 2;
model m(x: f32[N, 4]) -> (loss) {
  h = linear(x, units=half);
  loss = mean(h);
}
)", batch(6));
  ASSERT_TRUE(r.ok) << r.rendered;
  EXPECT_EQ(r.graph.type({r.graph.inputs()[0], 0}).str(), "f32[6, 4]");
  EXPECT_EQ(units_of(r.graph, "linear#1"), 3);
}

TEST(Expansion, IfEvaluatesOnlyTheChosenBranch) {
  auto r = load_text(R"(snet 1;
param deep: bool = false;
block stack_of(x: f32, n: int) {
  y = if n == 0 then x else stack_of(relu(x), n=n-1);
  return y;
}
model m(x: f32[N, 4]) -> (loss) {
  a = if deep then no_such_layer(x) else x;
  b = stack_of(a, n=4);
  loss = mean(b);
}
)");
  ASSERT_TRUE(r.ok) << r.rendered;
  EXPECT_EQ(count_op(r.graph, "relu"), 4);
  by_path(r.graph, "stack_of/stack_of/stack_of/stack_of/relu#1");
}

// --- imports and the standard library ---------------------------------------------------------------

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("snet-import-test-" + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  fs::path write(const std::string& rel, const std::string& text) const {
    fs::path p = path_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p;
  }

 private:
  fs::path path_;
};

testing::LoadOutcome load_file(const fs::path& p) {
  testing::LoadOutcome out;
  SourceManager sources;
  try {
    out.graph = frontend::load_model(p.string(), {}, sources);
    out.ok = true;
  } catch (const UserErrors& e) {
    out.diags = e.diagnostics();
  } catch (const UserError& e) {
    out.diags = {e.diagnostic()};
  }
  for (const auto& d : out.diags) out.rendered += format_diagnostic(d, sources, false);
  return out;
}

TEST(Expansion, ImportsBringInBlocksAndParams) {
  TempDir dir;
  dir.write("lib/blocks.snet", R"(snet 1;
import "more.snet";
param lib_width: int = 6;
block twice(x: f32) {
  return relu(relu(x));
}
)");
  dir.write("lib/more.snet", R"(snet 1;
import "blocks.snet";
block wide(x: f32, n: int) {
  return linear(x, units=n);
}
)");
  fs::path main = dir.write("main.snet", R"(snet 1;
import "lib/blocks.snet";
model m(x: f32[N, 4]) -> (loss) {
  h = wide(twice(x), n=lib_width);
  loss = mean(h);
}
)");
  auto r = load_file(main);
  ASSERT_TRUE(r.ok) << r.rendered;
  const ir::Node* lin = by_path(r.graph, "wide/linear#1");
  ASSERT_NE(lin, nullptr);
  EXPECT_EQ(lin->attrs.get_int("units"), 6);
  EXPECT_EQ(fs::path(lin->span.loc.file).filename(), "more.snet");
  EXPECT_EQ(lin->span.loc.line, 4);
  EXPECT_EQ(count_op(r.graph, "relu"), 2);
}

TEST(Expansion, ErrorsInImportsPointIntoTheImportedFile) {
  TempDir dir;
  dir.write("lib.snet", R"(snet 1;
block bad(x: f32) {
  return relu(y);
}
)");
  fs::path main = dir.write("main.snet", R"(snet 1;
import "lib.snet";
import "missing.snet";
model m(x: f32[N, 4]) -> (loss) {
  loss = mean(bad(x));
}
)");
  auto r = load_file(main);
  ASSERT_FALSE(r.ok);
  // The unreadable import stops loading before expansion.
  ASSERT_EQ(r.diags.size(), 1u) << r.rendered;
  EXPECT_EQ(r.diags[0].span.loc.str(), main.string() + ":3:8");
  EXPECT_NE(r.diags[0].message.find("cannot read"), std::string::npos) << r.diags[0].message;

  main = dir.write("main.snet", R"(snet 1;
import "lib.snet";
model m(x: f32[N, 4]) -> (loss) {
  loss = mean(bad(x));
}
)");
  r = load_file(main);
  ASSERT_FALSE(r.ok);
  ASSERT_EQ(r.diags.size(), 1u) << r.rendered;
  EXPECT_EQ(fs::path(r.diags[0].span.loc.file).filename(), "lib.snet");
  EXPECT_EQ(r.diags[0].span.loc.line, 3);
  EXPECT_EQ(r.diags[0].span.loc.column, 15);
  EXPECT_NE(r.rendered.find("note: in expansion of block bad at " + main.string() + ":4:15"),
            std::string::npos)
      << r.rendered;
}

TEST(Expansion, StdlibLstmIsFoundWithoutConfiguration) {
  auto r = load_text(R"(snet 1;
model m(x: f32[N, 4], h0: f32[N, 8], c0: f32[N, 8]) -> (loss) {
  (h, c) = lstm(x, h0, c0, hidden=8);
  loss = mean(h) + mean(c);
}
)", batch(3));
  ASSERT_TRUE(r.ok) << r.rendered;
  const ir::Node* n = by_path(r.graph, "lstm/split#1");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->span.loc.file, "<stdlib>/std.snet");
  EXPECT_EQ(n->outputs.size(), 4u);
  EXPECT_EQ(n->outputs[0].str(), "f32[3, 8]");
}

}  // namespace
}  // namespace sublinear
