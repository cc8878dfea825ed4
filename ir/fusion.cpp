#include "ir/fusion.h"

#include <vector>

#include "ir/check.h"

namespace sublinear::ir {

namespace {

// The relu that batch norm `b` can be fused with, or -1.
NodeId fusable_relu(const Graph& g, const Node& b, const std::vector<std::vector<std::vector<NodeId>>>& consumers,
                    const std::vector<char>& is_output0) {
  if (b.op != "batch_norm" || is_output0[static_cast<size_t>(b.id)]) return -1;
  const auto& readers = consumers[static_cast<size_t>(b.id)];
  if (readers[0].size() != 1) return -1;
  for (size_t k = 1; k < readers.size(); ++k)
    if (!readers[k].empty()) return -1;
  const Node& r = g.node(readers[0][0]);
  if (r.op != "relu" || r.inputs.size() != 1 || r.annotation != b.annotation) return -1;
  return r.id;
}

}  // namespace

Graph fuse_ops(const Graph& g, FusionReport* report) {
  const auto consumers = g.consumers();
  std::vector<char> is_output0(g.size(), 0);  // output 0 of the node is a model output
  for (const ValueRef& v : g.outputs())
    if (v.index == 0) is_output0[static_cast<size_t>(v.node)] = 1;

  std::vector<NodeId> partner(g.size(), -1);  // batch norm -> its relu
  std::vector<char> absorbed(g.size(), 0);    // relus that live on in a fused node
  for (const Node& n : g.nodes()) {
    const NodeId r = fusable_relu(g, n, consumers, is_output0);
    if (r < 0) continue;
    partner[static_cast<size_t>(n.id)] = r;
    absorbed[static_cast<size_t>(r)] = 1;
  }

  Graph out;
  out.model_name = g.model_name;
  out.batch = g.batch;
  out.source_file = g.source_file;
  // Where each old value lives in the new graph.
  std::vector<std::vector<ValueRef>> moved(g.size());
  FusionReport rep;
  for (const Node& n : g.nodes()) {
    if (absorbed[static_cast<size_t>(n.id)]) continue;  // its output was mapped with its batch norm
    Node m = n;
    m.id = -1;
    m.def = nullptr;
    for (ValueRef& in : m.inputs) {
      SL_CHECK(!moved[static_cast<size_t>(in.node)].empty()) << "fusion: '" << n.name << "' reads a value not yet placed";
      in = moved[static_cast<size_t>(in.node)][static_cast<size_t>(in.index)];
    }
    const NodeId r = partner[static_cast<size_t>(n.id)];
    if (r >= 0) {
      m.op = "batch_norm_relu";
      m.fused_from = {n.path, g.node(r).path};
      ++rep.batch_norm_relu;
    }
    const NodeId id = out.add_node(std::move(m));
    auto& place = moved[static_cast<size_t>(n.id)];
    for (int k = 0; k < static_cast<int>(n.outputs.size()); ++k) place.push_back(ValueRef{id, k});
    if (r >= 0) moved[static_cast<size_t>(r)] = {ValueRef{id, 0}};
  }
  for (size_t i = 0; i < g.outputs().size(); ++i) {
    const ValueRef v = g.outputs()[i];
    out.add_output(moved[static_cast<size_t>(v.node)][static_cast<size_t>(v.index)], g.output_names()[i]);
  }
  if (report != nullptr) *report = rep;
  return out;
}

FusionReport fused_in(const Graph& g) {
  FusionReport r;
  for (const Node& n : g.nodes())
    if (n.op == "batch_norm_relu" && !n.fused_from.empty()) ++r.batch_norm_relu;
  return r;
}

std::string describe_fusion(const FusionReport& r) {
  if (r.batch_norm_relu == 0) return {};
  return std::to_string(r.batch_norm_relu) + " batch_norm + relu pair" + (r.batch_norm_relu == 1 ? "" : "s") +
         " fused into one node each";
}

}  // namespace sublinear::ir
