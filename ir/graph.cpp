#include "ir/graph.h"

#include "ir/check.h"
#include "ir/op_registry.h"

namespace sublinear::ir {

const char* annotation_name(Annotation a) {
  switch (a) {
    case Annotation::None: return "";
    case Annotation::Recompute: return "recompute";
    case Annotation::Checkpoint: return "checkpoint";
  }
  return "";
}

NodeId Graph::add_node(Node n) {
  n.id = static_cast<NodeId>(nodes_.size());
  for (const auto& in : n.inputs) {
    SL_CHECK(in.node >= 0 && in.node < n.id) << "node '" << n.name << "' reads %" << in.node
                                             << " which does not precede it";
    SL_CHECK(in.index >= 0 && in.index < static_cast<int>(nodes_[in.node].outputs.size()))
        << "node '" << n.name << "' reads output " << in.index << " of '" << nodes_[in.node].name << "'";
  }
  if (n.rng_key < 0) n.rng_key = n.id;
  if (!n.def) n.def = OpRegistry::global().find(n.op);
  SL_CHECK(n.def) << "unknown op '" << n.op << "' for node '" << n.name << "'";
  nodes_.push_back(std::move(n));
  return nodes_.back().id;
}

const Node& Graph::node(NodeId id) const {
  SL_CHECK(id >= 0 && id < static_cast<NodeId>(nodes_.size())) << "node id " << id;
  return nodes_[id];
}

Node& Graph::mutable_node(NodeId id) {
  SL_CHECK(id >= 0 && id < static_cast<NodeId>(nodes_.size())) << "node id " << id;
  return nodes_[id];
}

const TensorType& Graph::type(ValueRef v) const {
  const Node& n = node(v.node);
  SL_CHECK(v.index >= 0 && v.index < static_cast<int>(n.outputs.size()))
      << "output " << v.index << " of '" << n.name << "'";
  return n.outputs[v.index];
}

void Graph::add_output(ValueRef v, std::string name) {
  (void)type(v);
  outputs_.push_back(v);
  output_names_.push_back(std::move(name));
}

ValueRef Graph::loss() const {
  SL_CHECK(!outputs_.empty()) << "graph '" << model_name << "' has no outputs";
  return outputs_.front();
}

std::vector<NodeId> Graph::inputs() const {
  std::vector<NodeId> out;
  for (const auto& n : nodes_)
    if (n.is_input()) out.push_back(n.id);
  return out;
}

std::vector<NodeId> Graph::params() const {
  std::vector<NodeId> out;
  for (const auto& n : nodes_)
    if (n.is_param()) out.push_back(n.id);
  return out;
}

std::vector<std::vector<std::vector<NodeId>>> Graph::consumers() const {
  std::vector<std::vector<std::vector<NodeId>>> out(nodes_.size());
  for (const auto& n : nodes_) out[n.id].resize(n.outputs.size());
  for (const auto& n : nodes_)
    for (const auto& in : n.inputs) out[in.node][in.index].push_back(n.id);
  return out;
}

const Node* Graph::find(const std::string& name) const {
  for (const auto& n : nodes_)
    if (n.name == name) return &n;
  return nullptr;
}

}  // namespace sublinear::ir
