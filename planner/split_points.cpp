#include "planner/split_points.h"

#include <algorithm>

#include "ir/op_registry.h"

namespace sublinear::planner {

namespace {

bool is_compute(const ir::Node& n) { return !n.def->is_source && !n.inputs.empty(); }

}  // namespace

CutAnalysis analyse_cuts(const ir::Graph& g, int window) {
  CutAnalysis c;
  std::vector<int32_t> pos(g.size(), -1);
  for (const auto& n : g.nodes()) {
    if (!is_compute(n)) continue;
    pos[n.id] = static_cast<int32_t>(c.order.size());
    c.order.push_back(n.id);
    int64_t b = 0;
    for (const auto& t : n.outputs) b += t.bytes();
    c.node_bytes.push_back(b);
  }
  const size_t n = c.order.size();
  c.born.resize(n);
  c.expires.resize(n);
  std::vector<int64_t> dcount(n + 1, 0), dbytes(n + 1, 0);
  // Last forward reader of each value produced by a compute node.
  std::vector<std::vector<int32_t>> last(g.size());
  for (const auto& node : g.nodes()) last[node.id].assign(node.outputs.size(), -1);
  for (const auto& node : g.nodes()) {
    if (pos[node.id] < 0) continue;
    for (const auto& in : node.inputs)
      if (pos[in.node] >= 0) last[in.node][in.index] = std::max(last[in.node][in.index], pos[node.id]);
  }
  for (ir::NodeId id : c.order) {
    const ir::Node& node = g.node(id);
    for (size_t k = 0; k < node.outputs.size(); ++k) {
      const int32_t p = pos[id], q = last[id][k];
      if (q <= p) continue;  // not read by a later forward node: never crosses
      const ir::ValueRef v{id, static_cast<int>(k)};
      c.born[p].push_back(v);
      c.expires[q - 1].push_back(v);  // crosses positions p .. q-1
      dcount[p] += 1, dcount[q] -= 1;
      dbytes[p] += node.outputs[k].bytes(), dbytes[q] -= node.outputs[k].bytes();
    }
  }
  c.crossing_count.resize(n);
  c.crossing_bytes.resize(n);
  int64_t cc = 0, cb = 0;
  for (size_t p = 0; p < n; ++p) {
    cc += dcount[p], cb += dbytes[p];
    c.crossing_count[p] = static_cast<int32_t>(cc);
    c.crossing_bytes[p] = cb;
  }
  c.candidate.assign(n, 0);
  for (size_t p = 0; p + 1 < n; ++p) {
    const ir::NodeId id = c.order[p];
    bool own_crosses = false;
    for (const auto& v : c.born[p]) own_crosses = own_crosses || v.node == id;
    if (!own_crosses) continue;
    const size_t lo = p >= static_cast<size_t>(window) ? p - window : 0;
    const size_t hi = std::min(n - 1, p + window);
    // Positions nothing crosses (the loss, metrics: the end of the forward pass) are no cut to compare
    // with; counting them would exclude every position within `window` of the end.
    bool minimal = true;
    for (size_t q = lo; q <= hi && minimal; ++q)
      minimal = c.crossing_count[q] == 0 || c.crossing_count[p] <= c.crossing_count[q];
    c.candidate[p] = minimal;
  }
  return c;
}

void CrossingSweep::advance(size_t p) {
  if (p > 0)
    for (const auto& v : c_.expires[p - 1]) live_.erase(v);
  for (const auto& v : c_.born[p]) live_.insert(v);
}

}  // namespace sublinear::planner
