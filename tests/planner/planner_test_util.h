#pragma once
// Helpers for the planner tests: hand-built graphs (every node through ir::Graph::add_node, attributes
// validated against the op's schema, output types from the op's own shape inference, layer parameters
// from OpDef::params), models from .snet text, and the checks every test applies to every plan it
// builds (validate_plan, minimal backward reads).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "frontend/frontend.h"
#include "ir/diagnostic.h"
#include "ir/graph.h"
#include "ir/op_registry.h"
#include "planner/plan.h"
#include "planner/plan_validator.h"
#include "planner/policies.h"

namespace sublinear::planner::ptest {

using Attrs = std::vector<std::pair<std::string, ir::AttrValue>>;

// Builds a graph node by node. Every node gets its own line in "hand.snet" so faults and errors point
// somewhere distinct.
class GraphBuilder {
 public:
  explicit GraphBuilder(std::string model, int64_t batch = 4) : g_(std::make_shared<ir::Graph>()) {
    g_->model_name = std::move(model);
    g_->batch = batch;
    g_->source_file = "hand.snet";
  }

  ir::NodeId input(const std::string& name, std::vector<int64_t> shape, const std::string& dtype = "f32") {
    return source("input", name, {{"shape", std::move(shape)}, {"dtype", dtype}});
  }
  ir::NodeId param(const std::string& name, std::vector<int64_t> shape, bool trainable = true) {
    return source("param", name, {{"shape", std::move(shape)}, {"trainable", trainable}});
  }

  // A compute node over `data` (its data inputs); a layer's parameters are created first as param
  // nodes named "<name>.<param>", in OpDef::params order, and appended to the inputs.
  ir::NodeId op(const std::string& op, std::vector<ir::ValueRef> data, const Attrs& attrs = {},
                std::string name = "") {
    const ir::OpDef* def = ir::OpRegistry::global().find(op);
    EXPECT_NE(def, nullptr) << op;
    ir::Attrs a = ir::validate_attrs(*def, attrs);
    if (name.empty()) name = op + "#" + std::to_string(++count_);
    std::vector<ir::ValueRef> inputs = data;
    if (def->params) {
      std::vector<ir::TensorType> types;
      for (const auto& v : data) types.push_back(g_->type(v));
      for (const auto& ps : def->params(types, a)) {
        const std::string dtype = ps.type.dtype == ir::DType::F32 ? "f32" : "i32";
        ir::NodeId p = source("param", name + "." + ps.name,
                              {{"shape", ps.type.shape}, {"dtype", dtype}, {"trainable", ps.trainable}});
        inputs.push_back({p, 0});
      }
    }
    std::vector<ir::TensorType> in_types;
    for (const auto& v : inputs) in_types.push_back(g_->type(v));
    ir::Node n;
    n.op = op;
    n.name = name;
    n.path = name;
    n.inputs = std::move(inputs);
    n.attrs = a;
    n.outputs = def->infer(in_types, a);
    n.span.loc = SourceLoc{"hand.snet", ++line_, 1, 1};
    return g_->add_node(std::move(n));
  }
  ir::NodeId op(const std::string& o, ir::NodeId x, const Attrs& attrs = {}, std::string name = "") {
    return op(o, std::vector<ir::ValueRef>{{x, 0}}, attrs, std::move(name));
  }

  void output(ir::NodeId n, const std::string& name, int index = 0) { g_->add_output({n, index}, name); }
  ir::Graph& graph() { return *g_; }
  std::shared_ptr<const ir::Graph> finish() { return g_; }

 private:
  ir::NodeId source(const std::string& op, const std::string& name, const Attrs& attrs) {
    const ir::OpDef* def = ir::OpRegistry::global().find(op);
    ir::Node n;
    n.op = op;
    n.name = name;
    n.path = name;
    n.attrs = ir::validate_attrs(*def, attrs);
    n.outputs = def->infer({}, n.attrs);
    n.span.loc = SourceLoc{"hand.snet", ++line_, 1, 1};
    return g_->add_node(std::move(n));
  }

  std::shared_ptr<ir::Graph> g_;
  int count_ = 0;
  int line_ = 0;
};

// x: input f32[batch, width]; w: param f32[width]; h0 = add(x, w); n layers of `act` (each f32[batch,
// width]); loss = mean(last layer), the only graph output.
struct Chain {
  std::shared_ptr<const ir::Graph> graph;
  ir::NodeId x = -1, w = -1, h0 = -1, loss = -1;
  std::vector<ir::NodeId> layers;
};

inline Chain chain(int n, int64_t width = 64, int64_t batch = 4, const std::string& act = "relu") {
  GraphBuilder b("chain", batch);
  Chain c;
  c.x = b.input("x", {batch, width});
  c.w = b.param("w", {width});
  c.h0 = b.op("add", {{c.x, 0}, {c.w, 0}});
  ir::NodeId h = c.h0;
  for (int i = 0; i < n; ++i) c.layers.push_back(h = b.op(act, h));
  c.loss = b.op("mean", h);
  b.output(c.loss, "loss");
  c.graph = b.finish();
  return c;
}

// x, w as in chain; h = add(x, w); `units` residual units h = add(h, scale(relu(h), 0.5)); loss = mean.
struct Residual {
  std::shared_ptr<const ir::Graph> graph;
  ir::NodeId h0 = -1, loss = -1;
  std::vector<ir::NodeId> unit_outputs;  // each unit's add
  std::vector<ir::NodeId> internal;      // each unit's relu and scale
};

inline Residual residual_chain(int units, int64_t width = 64, int64_t batch = 4) {
  GraphBuilder b("residual", batch);
  Residual r;
  ir::NodeId x = b.input("x", {batch, width});
  ir::NodeId w = b.param("w", {width});
  ir::NodeId h = r.h0 = b.op("add", {{x, 0}, {w, 0}});
  for (int u = 0; u < units; ++u) {
    ir::NodeId a = b.op("relu", h);
    ir::NodeId s = b.op("scale", a, {{"factor", 0.5}});
    h = b.op("add", {{h, 0}, {s, 0}});
    r.internal.push_back(a);
    r.internal.push_back(s);
    r.unit_outputs.push_back(h);
  }
  r.loss = b.op("mean", h);
  b.output(r.loss, "loss");
  r.graph = b.finish();
  return r;
}

// h = add(x, w) read by two branches: a = relu(h), t = tanh(h); c = add(a, t); loss = mean(c).
struct Diamond {
  std::shared_ptr<const ir::Graph> graph;
  ir::NodeId h = -1, a = -1, t = -1, c = -1, loss = -1;
};

inline Diamond diamond(int64_t width = 64, int64_t batch = 4) {
  GraphBuilder b("diamond", batch);
  Diamond d;
  ir::NodeId x = b.input("x", {batch, width});
  ir::NodeId w = b.param("w", {width});
  d.h = b.op("add", {{x, 0}, {w, 0}});
  d.a = b.op("relu", d.h);
  d.t = b.op("tanh", d.h);
  d.c = b.op("add", {{d.a, 0}, {d.t, 0}});
  d.loss = b.op("mean", d.c);
  b.output(d.loss, "loss");
  d.graph = b.finish();
  return d;
}

// One weight W f32[width, width] shared by `steps` matmuls: h_{t+1} = matmul(h_t, W); loss = mean.
struct Recurrent {
  std::shared_ptr<const ir::Graph> graph;
  ir::NodeId weight = -1, loss = -1;
  std::vector<ir::NodeId> steps;
};

inline Recurrent shared_weight_chain(int steps, int64_t width = 64, int64_t batch = 4) {
  GraphBuilder b("recurrent", batch);
  Recurrent r;
  ir::NodeId h = b.input("x", {batch, width});
  r.weight = b.param("W", {width, width});
  for (int t = 0; t < steps; ++t) r.steps.push_back(h = b.op("matmul", {{h, 0}, {r.weight, 0}}));
  r.loss = b.op("mean", h);
  b.output(r.loss, "loss");
  r.graph = b.finish();
  return r;
}

// A model from .snet text (with the standard library); user errors fail the test with the rendered
// diagnostics.
inline std::shared_ptr<const ir::Graph> load(const std::string& text, int64_t batch,
                                             std::vector<std::pair<std::string, std::string>> sets = {},
                                             const std::string& file = "test.snet") {
  frontend::LoadOptions opts;
  opts.batch = batch;
  opts.sets = std::move(sets);
  SourceManager sources;
  try {
    return std::make_shared<const ir::Graph>(frontend::load_model_text(file, text, opts, sources));
  } catch (const UserErrors& e) {
    std::string s;
    for (const auto& d : e.diagnostics()) s += format_diagnostic(d, sources, false);
    ADD_FAILURE() << s;
  } catch (const UserError& e) {
    ADD_FAILURE() << format_diagnostic(e.diagnostic(), sources, false);
  }
  return nullptr;
}

// The repository's root, from this header's own path (CMake compiles with absolute paths).
inline std::string source_dir() {
  std::string f = __FILE__;
  return f.substr(0, f.rfind("/tests/planner/"));
}

// plan_model with a policy, or with a memory budget (the default options otherwise).
inline Plan run(const std::shared_ptr<const ir::Graph>& g, Policy policy, PlanOptions o = {}) {
  PlanRequest r;
  r.policy = policy;
  r.options = o;
  return plan_model(g, r);
}

inline Plan run_budget(const std::shared_ptr<const ir::Graph>& g, int64_t budget) {
  PlanRequest r;
  r.memory_budget = budget;
  return plan_model(g, r);
}

// validate_plan finds nothing.
inline ::testing::AssertionResult valid(const Plan& p) {
  auto faults = validate_plan(p);
  if (faults.empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << p.policy << " plan has " << faults.size() << " fault(s):\n"
                                       << format_faults(faults, p);
}

// Every backward step reads exactly the forward values its OpDef::backward lists (some version of
// each) and the gradients of its node's outputs, nothing else.
inline ::testing::AssertionResult backward_reads_minimal(const Plan& p) {
  const ir::Graph& g = *p.graph;
  for (const auto& s : p.steps) {
    if (s.kind != StepKind::Backward) continue;
    const ir::Node& n = g.node(s.node);
    std::multiset<std::pair<int, int>> want, got;
    for (int i : n.def->backward.inputs)
      if (static_cast<size_t>(i) < n.inputs.size()) want.insert({n.inputs[i].node, n.inputs[i].index});
    for (int k : n.def->backward.outputs) want.insert({n.id, k});
    for (ValueId v : s.reads) {
      const PlanValue& pv = p.values[v];
      if (pv.kind == ValueKind::Gradient) {
        if (pv.source.node != n.id)
          return ::testing::AssertionFailure() << "backward of " << n.name << " reads " << pv.name;
        continue;
      }
      got.insert({pv.source.node, pv.source.index});
    }
    if (want != got) {
      std::string names;
      for (ValueId v : s.reads) names += " " + p.values[v].name;
      return ::testing::AssertionFailure() << "backward of " << n.name << " (" << n.op << ") reads" << names;
    }
  }
  return ::testing::AssertionSuccess();
}

// Both checks, for plans whose details a test does not inspect.
inline ::testing::AssertionResult sound(const Plan& p) {
  auto r = valid(p);
  return r ? backward_reads_minimal(p) : r;
}

inline std::vector<const PlanStep*> steps_of(const Plan& p, StepKind kind, ir::NodeId node = -1) {
  std::vector<const PlanStep*> out;
  for (const auto& s : p.steps)
    if (s.kind == kind && (node < 0 || s.node == node)) out.push_back(&s);
  return out;
}

inline int count_steps(const Plan& p, StepKind kind, ir::NodeId node = -1) {
  return static_cast<int>(steps_of(p, kind, node).size());
}

// An example model from the source tree's examples/.
inline std::shared_ptr<const ir::Graph> example(const std::string& file, int64_t batch,
                                                std::vector<std::pair<std::string, std::string>> sets) {
  std::ifstream in(source_dir() + "/examples/" + file);
  EXPECT_TRUE(in) << file;
  std::stringstream text;
  text << in.rdbuf();
  return load(text.str(), batch, std::move(sets), file);
}

// Calls fn(mirror) for every mirror vector with entries up to `depth` on the nodes a plan may drop (not
// sources, recomputable, not a graph output): (depth + 1)^n of them, for exhaustive searches.
template <typename F>
void for_each_mirror(const ir::Graph& g, int depth, F&& fn) {
  std::vector<ir::NodeId> free;
  for (const auto& n : g.nodes())
    if (!n.def->is_source && n.def->recomputable) free.push_back(n.id);
  for (const auto& out : g.outputs()) std::erase(free, out.node);
  std::vector<int32_t> m(g.size(), 0);
  for (;;) {
    fn(std::as_const(m));
    size_t k = 0;
    for (; k < free.size() && m[free[k]] == depth; ++k) m[free[k]] = 0;
    if (k == free.size()) return;
    ++m[free[k]];
  }
}

// ---- hand-built graphs the examples do not cover --------------------------------------------------------

// DenseNet-style: `blocks` dense blocks of `layers` layers, each layer bn-relu-conv3x3 over the concat of
// everything before it in the block, a transition (bn-relu-conv1x1-avg_pool) between blocks.
inline std::shared_ptr<const ir::Graph> dense_net(int blocks, int layers, int64_t growth = 8, int64_t batch = 2) {
  GraphBuilder b("dense", batch);
  ir::NodeId x = b.input("x", {batch, 3, 16, 16});
  ir::NodeId h = b.op("conv2d", x, {{"out", int64_t{16}}, {"kernel", std::vector<int64_t>{3}}, {"pad", std::vector<int64_t>{1}}});
  int64_t channels = 16;
  for (int blk = 0; blk < blocks; ++blk) {
    std::vector<ir::ValueRef> feats{{h, 0}};
    for (int l = 0; l < layers; ++l) {
      ir::NodeId in = feats.size() == 1 ? h : b.op("concat", feats, {{"axis", int64_t{1}}});
      ir::NodeId n = b.op("batch_norm", in);
      ir::NodeId r = b.op("relu", n);
      ir::NodeId c = b.op("conv2d", r, {{"out", growth}, {"kernel", std::vector<int64_t>{3}}, {"pad", std::vector<int64_t>{1}}});
      feats.push_back({c, 0});
      channels += growth;
    }
    h = b.op("concat", feats, {{"axis", int64_t{1}}});
    if (blk + 1 < blocks) {
      ir::NodeId n = b.op("batch_norm", h);
      ir::NodeId r = b.op("relu", n);
      channels /= 2;
      ir::NodeId c = b.op("conv2d", r, {{"out", channels}, {"kernel", std::vector<int64_t>{1}}});
      h = b.op("avg_pool", c, {{"kernel", std::vector<int64_t>{2}}, {"stride", std::vector<int64_t>{2}}});
    }
  }
  ir::NodeId loss = b.op("mean", b.op("relu", h));
  b.output(loss, "loss");
  return b.finish();
}

// U-Net-style over features: an encoder narrowing by halves, a decoder widening back, each decoder level
// added to the encoder output of its width (the long skips).
inline std::shared_ptr<const ir::Graph> u_net(int levels, int64_t width = 256, int64_t batch = 16) {
  GraphBuilder b("unet", batch);
  ir::NodeId h = b.input("x", {batch, width});
  std::vector<ir::NodeId> skips;
  int64_t w = width;
  for (int l = 0; l < levels; ++l) {
    h = b.op("relu", b.op("linear", h, {{"units", w}}));
    h = b.op("relu", b.op("linear", h, {{"units", w}}));
    skips.push_back(h);
    w /= 2;
  }
  h = b.op("relu", b.op("linear", h, {{"units", w}}));
  for (int l = levels - 1; l >= 0; --l) {
    w *= 2;
    h = b.op("relu", b.op("linear", h, {{"units", w}}));
    h = b.op("add", {{h, 0}, {skips[l], 0}});
    h = b.op("tanh", b.op("linear", h, {{"units", w}}));
  }
  b.output(b.op("mean", h), "loss");
  return b.finish();
}

// A stacked RNN unrolled over `steps`: layer k at step t is tanh(linear(below_t) + matmul(h_{k,t-1}, U_k))
// with U_k shared by every step of the layer.
inline std::shared_ptr<const ir::Graph> stacked_rnn(int layers, int steps, int64_t width = 64, int64_t batch = 8) {
  GraphBuilder b("rnn", batch);
  std::vector<ir::NodeId> u, h;
  for (int k = 0; k < layers; ++k) {
    u.push_back(b.param("U" + std::to_string(k), {width, width}));
    h.push_back(b.input("h0_" + std::to_string(k), {batch, width}));
  }
  ir::NodeId last = -1;
  for (int t = 0; t < steps; ++t) {
    ir::NodeId below = b.input("x" + std::to_string(t), {batch, width});
    for (int k = 0; k < layers; ++k) {
      ir::NodeId in = b.op("linear", below, {{"units", width}});
      ir::NodeId rec = b.op("matmul", {{h[k], 0}, {u[k], 0}});
      below = h[k] = b.op("tanh", b.op("add", {{in, 0}, {rec, 0}}));
    }
    last = below;
  }
  b.output(b.op("mean", last), "loss");
  return b.finish();
}

}  // namespace sublinear::planner::ptest
