#include "ir/verify.h"

#include <unordered_map>

#include "ir/check.h"
#include "ir/op_registry.h"
#include "ir/printer.h"

namespace sublinear::ir {

namespace {

std::string where(const Node& n) {
  std::string out = value_ref_str({n.id, 0});
  out += " '" + n.name + "'";
  if (!n.path.empty()) out += " (" + n.path + ")";
  if (n.span.loc.known()) out += " at " + n.span.loc.str();
  return out;
}

std::string types_str(const std::vector<TensorType>& ts) {
  std::string out = "(";
  for (size_t i = 0; i < ts.size(); ++i) out += (i ? ", " : "") + ts[i].str();
  return out + ")";
}

}  // namespace

std::vector<std::string> graph_problems(const Graph& g) {
  std::vector<std::string> problems;
  const auto& nodes = g.nodes();
  const auto n_nodes = static_cast<NodeId>(nodes.size());
  std::unordered_map<std::string, NodeId> by_name;
  by_name.reserve(nodes.size());
  std::vector<TensorType> in_types;

  for (NodeId i = 0; i < n_nodes; ++i) {
    const Node& n = nodes[i];
    if (n.id != i)
      problems.push_back(where(n) + ": id " + std::to_string(n.id) + " at position " + std::to_string(i));

    auto [it, fresh] = by_name.emplace(n.name, i);
    if (!fresh) problems.push_back(where(n) + ": name also used by %" + std::to_string(it->second));

    if (!n.def) {
      problems.push_back(where(n) + ": op '" + n.op + "' is not resolved");
      continue;
    }
    if (n.def->name != n.op)
      problems.push_back(where(n) + ": op '" + n.op + "' resolved to '" + n.def->name + "'");

    // Inputs are validated before any of them is dereferenced: a broken graph must be reported, not
    // crash the checker.
    bool inputs_ok = true;
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      ValueRef in = n.inputs[k];
      if (in.node < 0 || in.node >= i) {
        problems.push_back(where(n) + ": input " + std::to_string(k) + " reads " + value_ref_str(in) +
                           ", which does not precede it");
        inputs_ok = false;
      } else if (in.index < 0 || in.index >= static_cast<int>(nodes[in.node].outputs.size())) {
        problems.push_back(where(n) + ": input " + std::to_string(k) + " reads " + value_ref_str(in) +
                           " but '" + nodes[in.node].name + "' has " +
                           std::to_string(nodes[in.node].outputs.size()) + " outputs");
        inputs_ok = false;
      }
    }

    bool source = n.def->is_source || n.is_input() || n.is_param();
    if (source) {
      if (!n.inputs.empty()) problems.push_back(where(n) + ": source node has inputs");
      if (n.outputs.size() != 1)
        problems.push_back(where(n) + ": source node has " + std::to_string(n.outputs.size()) + " outputs");
      continue;
    }
    if (!inputs_ok || !n.def->infer) continue;

    in_types.clear();
    for (const auto& in : n.inputs) in_types.push_back(nodes[in.node].outputs[in.index]);
    try {
      auto inferred = n.def->infer(in_types, n.attrs);
      if (inferred != n.outputs)
        problems.push_back(where(n) + ": " + n.op + types_str(in_types) + " infers " + types_str(inferred) +
                           " but the node has " + types_str(n.outputs));
    } catch (const std::exception& e) {
      problems.push_back(where(n) + ": shape inference fails on " + types_str(in_types) + ": " + e.what());
    }
  }

  const auto& outs = g.outputs();
  if (outs.empty()) problems.push_back("graph '" + g.model_name + "' has no outputs");
  if (g.output_names().size() != outs.size())
    problems.push_back("graph has " + std::to_string(outs.size()) + " outputs but " +
                       std::to_string(g.output_names().size()) + " output names");
  for (size_t k = 0; k < outs.size(); ++k) {
    ValueRef v = outs[k];
    std::string name = k < g.output_names().size() ? g.output_names()[k] : "output " + std::to_string(k);
    if (v.node < 0 || v.node >= n_nodes || v.index < 0 ||
        v.index >= static_cast<int>(nodes[v.node].outputs.size())) {
      problems.push_back("output '" + name + "' refers to missing value " + value_ref_str(v));
      continue;
    }
    const TensorType& t = nodes[v.node].outputs[v.index];
    if (k == 0 && !(t.dtype == DType::F32 && t.shape.empty()))
      problems.push_back("loss output '" + name + "' = " + value_ref_str(v) + " of " + where(nodes[v.node]) +
                         " is " + t.str() + ", expected a scalar f32[]");
  }
  return problems;
}

void verify_graph(const Graph& g) {
  auto problems = graph_problems(g);
  std::string all;
  for (const auto& p : problems) all += "\n  " + p;
  SL_CHECK(problems.empty()) << "graph '" << g.model_name << "' violates " << problems.size()
                             << " invariant(s):" << all;
}

}  // namespace sublinear::ir
