#include "ir/fusion.h"

#include <algorithm>
#include <array>
#include <vector>

#include "ir/check.h"

namespace sublinear::ir {

namespace {

using Consumers = std::vector<std::vector<std::vector<NodeId>>>;

// A chain to replace: its nodes, the node the fused node is emitted at (all its inputs exist there, and
// every reader of its outputs comes later), and the fused node itself (inputs in the old graph's ids).
struct Fused {
  std::vector<NodeId> nodes;
  NodeId anchor = -1;
  Node node;
  std::vector<std::pair<ValueRef, int>> outputs;  // old value -> output of the fused node
};

struct Matcher {
  const Graph& g;
  const Consumers& consumers;
  std::vector<char> is_output;  // per node: some output is a model output
  std::vector<char> taken;      // already in a chain

  const std::vector<NodeId>& readers(ValueRef v) const {
    return consumers[static_cast<size_t>(v.node)][static_cast<size_t>(v.index)];
  }
  // The single reader of v, when it has exactly one and v is not a model output; else -1.
  NodeId only_reader(ValueRef v) const {
    const auto& r = readers(v);
    if (r.size() != 1 || is_output[static_cast<size_t>(v.node)]) return -1;
    return r[0];
  }
  bool free(NodeId id) const { return !taken[static_cast<size_t>(id)]; }

  // batch_norm whose only reader is a relu with the same annotation.
  bool batch_norm_relu(const Node& b, Fused* out) const {
    if (b.op != "batch_norm") return false;
    for (int k = 1; k < static_cast<int>(b.outputs.size()); ++k)
      if (!readers({b.id, k}).empty()) return false;
    const NodeId r = only_reader({b.id, 0});
    if (r < 0 || !free(r)) return false;
    const Node& relu = g.node(r);
    if (relu.op != "relu" || relu.inputs.size() != 1 || relu.annotation != b.annotation) return false;
    out->nodes = {b.id, r};
    out->anchor = b.id;
    out->node = b;
    out->node.op = "batch_norm_relu";
    out->node.fused_from = {b.path, relu.path};
    out->outputs = {{{b.id, 1}, 1}, {{b.id, 2}, 2}, {{r, 0}, 0}};
    return true;
  }

  // An LSTM step's tail as lstm(...) in the standard library writes it (operands in either order):
  //   (q0, q1, q2, q3) = split(gates, parts=4, last axis)
  //   c' = sigmoid(q_f) * c + sigmoid(q_i) * tanh(q_g);  h' = sigmoid(q_o) * tanh(c')
  // Every intermediate has one reader; c' has at most one reader besides its tanh (so its gradient is a
  // sum of two terms, which adds alike in any order); h' has readers; one annotation throughout; every
  // value the same type as c (no broadcasting).
  bool lstm_cell(const Node& split, Fused* out) const {
    if (split.op != "split" || split.outputs.size() != 4 || split.inputs.size() != 1) return false;
    const TensorType& gates = g.type(split.inputs[0]);
    const int64_t rank = static_cast<int64_t>(gates.shape.size());
    const int64_t axis = split.attrs.get_int("axis");
    if (rank == 0 || (axis != rank - 1 && axis != -1)) return false;
    const TensorType quarter = split.outputs[0];
    const Annotation note = split.annotation;
    auto same = [&](const Node& n) {
      return free(n.id) && n.annotation == note && n.outputs.size() == 1 && n.outputs[0] == quarter;
    };
    // Each quarter's single reader: an activation.
    std::array<NodeId, 4> act{};
    int tanhs = 0;
    for (int q = 0; q < 4; ++q) {
      act[q] = only_reader({split.id, q});
      if (act[q] < 0) return false;
      const Node& a = g.node(act[q]);
      if (!same(a) || (a.op != "sigmoid" && a.op != "tanh")) return false;
      tanhs += a.op == "tanh";
    }
    if (tanhs != 1) return false;
    // The products.
    auto product_of = [&](NodeId a) -> NodeId {
      const NodeId m = only_reader({a, 0});
      if (m < 0) return -1;
      const Node& n = g.node(m);
      return n.op == "mul" && n.inputs.size() == 2 && same(n) ? m : -1;
    };
    int qg = -1;
    for (int q = 0; q < 4; ++q)
      if (g.node(act[q]).op == "tanh") qg = q;
    const NodeId m2 = product_of(act[qg]);
    if (m2 < 0) return false;
    // m2 = sigmoid(q_i) * tanh(q_g).
    int qi = -1;
    for (const ValueRef& v : g.node(m2).inputs)
      for (int q = 0; q < 4; ++q)
        if (q != qg && v == ValueRef{act[q], 0}) qi = q;
    if (qi < 0) return false;
    // c' = m1 + m2, with m1 = sigmoid(q_f) * c.
    const NodeId add = only_reader({m2, 0});
    if (add < 0) return false;
    const Node& a = g.node(add);
    if (a.op != "add" || a.inputs.size() != 2 || !same(a)) return false;
    const ValueRef other = a.inputs[0] == ValueRef{m2, 0} ? a.inputs[1] : a.inputs[0];
    if (other.index != 0 || other.node == m2) return false;
    const NodeId m1 = other.node;
    const Node& mul1 = g.node(m1);
    if (mul1.op != "mul" || mul1.inputs.size() != 2 || !same(mul1) || only_reader({m1, 0}) != add) return false;
    int qf = -1;
    ValueRef c{};
    for (int k = 0; k < 2; ++k)
      for (int q = 0; q < 4; ++q)
        if (q != qg && q != qi && mul1.inputs[static_cast<size_t>(k)] == ValueRef{act[q], 0}) {
          qf = q;
          c = mul1.inputs[static_cast<size_t>(1 - k)];
        }
    if (qf < 0 || g.type(c) != quarter) return false;
    for (NodeId n : act)
      if (c.node == n) return false;
    const int qo = 6 - qi - qf - qg;
    if (g.node(act[qo]).op != "sigmoid") return false;
    // h' = sigmoid(q_o) * tanh(c').
    NodeId tc = -1;
    int others = 0;
    for (NodeId r : readers({add, 0})) {
      if (g.node(r).op == "tanh" && tc < 0) tc = r;
      else ++others;
    }
    if (tc < 0 || others > 1 || !same(g.node(tc))) return false;
    const NodeId m3 = product_of(tc);
    if (m3 < 0 || product_of(act[qo]) != m3) return false;
    if (readers({m3, 0}).empty()) return false;

    out->nodes = {split.id, act[0], act[1], act[2], act[3], m1, m2, add, tc, m3};
    for (NodeId n : out->nodes)
      if (!free(n)) return false;
    // At m1: after c exists and after the split; before c' and h' have any reader.
    out->anchor = m1;
    Node f;
    f.op = "lstm_cell";
    f.name = split.name;
    f.path = split.path;
    f.span = split.span;
    f.annotation = note;
    f.annotation_loc = split.annotation_loc;
    f.rng_key = split.rng_key;
    f.inputs = {split.inputs[0], c};
    f.attrs.set("order", std::vector<int64_t>{qi, qf, qg, qo});
    f.outputs = {quarter, quarter};
    for (NodeId n : out->nodes) f.fused_from.push_back(g.node(n).path);
    out->node = std::move(f);
    out->outputs = {{{m3, 0}, 0}, {{add, 0}, 1}};
    return true;
  }
};

}  // namespace

FusionOptions FusionOptions::for_policy(const std::string& policy) {
  FusionOptions o;
  o.lstm_cell = policy == "none" || policy == "drop-cheap";
  return o;
}

Graph fuse_ops(const Graph& g, const FusionOptions& options, FusionReport* report) {
  const Consumers consumers = g.consumers();
  Matcher m{g, consumers, std::vector<char>(g.size(), 0), std::vector<char>(g.size(), 0)};
  for (const ValueRef& v : g.outputs()) m.is_output[static_cast<size_t>(v.node)] = 1;

  FusionReport rep;
  std::vector<Fused> chains;
  std::vector<int> chain_at(g.size(), -1);  // anchor node -> chain
  for (const Node& n : g.nodes()) {
    if (!m.free(n.id)) continue;
    Fused f;
    if (options.batch_norm_relu && m.batch_norm_relu(n, &f)) {
      ++rep.batch_norm_relu;
    } else if (options.lstm_cell && m.lstm_cell(n, &f)) {
      ++rep.lstm_cell;
    } else {
      continue;
    }
    for (NodeId id : f.nodes) m.taken[static_cast<size_t>(id)] = 1;
    chain_at[static_cast<size_t>(f.anchor)] = static_cast<int>(chains.size());
    chains.push_back(std::move(f));
  }

  Graph out;
  out.model_name = g.model_name;
  out.batch = g.batch;
  out.source_file = g.source_file;
  // Where each old value lives in the new graph.
  std::vector<std::vector<ValueRef>> moved(g.size());
  auto place = [&](ValueRef v) {
    const auto& at = moved[static_cast<size_t>(v.node)];
    SL_CHECK(static_cast<size_t>(v.index) < at.size() && at[static_cast<size_t>(v.index)].node >= 0)
        << "fusion: %" << v.node << "." << v.index << " ('" << g.node(v.node).name << "') is read before it is placed";
    return at[static_cast<size_t>(v.index)];
  };
  for (const Node& n : g.nodes()) {
    const int c = chain_at[static_cast<size_t>(n.id)];
    if (c < 0 && m.taken[static_cast<size_t>(n.id)]) continue;  // inside a chain: placed with its anchor
    Node node = c >= 0 ? chains[static_cast<size_t>(c)].node : n;
    node.id = -1;
    node.def = nullptr;
    for (ValueRef& in : node.inputs) in = place(in);
    const NodeId id = out.add_node(std::move(node));
    if (c < 0) {
      for (int k = 0; k < static_cast<int>(n.outputs.size()); ++k) moved[static_cast<size_t>(n.id)].push_back({id, k});
      continue;
    }
    for (const auto& [old, k] : chains[static_cast<size_t>(c)].outputs) {
      auto& at = moved[static_cast<size_t>(old.node)];
      if (at.size() <= static_cast<size_t>(old.index)) at.resize(static_cast<size_t>(old.index) + 1, ValueRef{-1, 0});
      at[static_cast<size_t>(old.index)] = ValueRef{id, k};
    }
  }
  for (size_t i = 0; i < g.outputs().size(); ++i) out.add_output(place(g.outputs()[i]), g.output_names()[i]);
  if (report != nullptr) *report = rep;
  return out;
}

FusionReport fused_in(const Graph& g) {
  FusionReport r;
  for (const Node& n : g.nodes()) {
    if (n.fused_from.empty()) continue;
    if (n.op == "batch_norm_relu") ++r.batch_norm_relu;
    if (n.op == "lstm_cell") ++r.lstm_cell;
  }
  return r;
}

std::string describe_fusion(const FusionReport& r) {
  std::string s;
  auto part = [&s](int n, const std::string& one, const std::string& many) {
    if (n == 0) return;
    if (!s.empty()) s += ", ";
    s += std::to_string(n) + " " + (n == 1 ? one : many);
  };
  part(r.batch_norm_relu, "batch_norm + relu pair", "batch_norm + relu pairs");
  part(r.lstm_cell, "LSTM cell tail", "LSTM cell tails");
  if (!s.empty()) s += " fused into one node each";
  return s;
}

}  // namespace sublinear::ir
