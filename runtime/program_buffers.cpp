#include "runtime/program_buffers.h"

namespace sublinear::runtime {

std::vector<ParamBuffer> describe_params(const planner::Plan& p) {
  const ir::Graph& g = *p.graph;
  std::vector<char> has_grad(g.size(), 0);
  for (const auto& v : p.values)
    if (v.kind == planner::ValueKind::ParamGrad) has_grad[static_cast<size_t>(v.source.node)] = 1;
  std::vector<ParamBuffer> out;
  for (ir::NodeId id : g.params()) {
    const ir::Node& n = g.node(id);
    ParamBuffer b;
    b.node = id;
    b.name = n.name;
    b.type = n.outputs[0];
    b.trainable = n.attrs.get_bool("trainable") && n.outputs[0].dtype == ir::DType::F32;
    b.has_grad = has_grad[static_cast<size_t>(id)] != 0;
    out.push_back(std::move(b));
  }
  return out;
}

}  // namespace sublinear::runtime
