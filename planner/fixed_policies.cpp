// The fixed policies' mirror vectors. Rules:
// - Annotations are hard constraints (constrain_mirror): @checkpoint forces m = 0, @recompute forces
//   m >= 1; sources, graph outputs and ops the registry marks not recomputable are always kept.
// - drop-cheap recomputes exactly the recomputable ops the registry marks cheap.
// - Algorithm 3 keeps the crossing set of each candidate where the accumulated bytes pass B.
// - log gives the middle candidate's crossing set level 0, the middles of the halves level 1, and so
//   on; every other node gets the deepest level + 1.
#include "planner/fixed_policies.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "ir/op_registry.h"

namespace sublinear::planner {

std::vector<int32_t> constrain_mirror(const ir::Graph& g, std::vector<int32_t> m) {
  for (const auto& n : g.nodes()) {
    if (n.def->is_source) {
      m[n.id] = 0;
      continue;
    }
    if (n.annotation == ir::Annotation::Checkpoint) m[n.id] = 0;
    if (n.annotation == ir::Annotation::Recompute) m[n.id] = std::max(m[n.id], 1);
    if (!n.def->recomputable) m[n.id] = 0;
  }
  for (const auto& out : g.outputs()) m[out.node] = 0;
  return m;
}

std::vector<int32_t> drop_cheap_mirror(const ir::Graph& g) {
  std::vector<int32_t> m(g.size(), 0);
  for (const auto& n : g.nodes()) m[n.id] = n.def->cheap && n.def->recomputable ? 1 : 0;
  return m;
}

Algorithm3 algorithm3(const ir::Graph& g, const CutAnalysis& c, int64_t budget) {
  Algorithm3 r;
  r.mirror.assign(g.size(), 1);
  std::vector<char> kept(g.size(), 0);
  CrossingSweep sweep(c);
  int64_t acc = 0;
  for (size_t p = 0; p < c.order.size(); ++p) {
    sweep.advance(p);
    acc += c.node_bytes[p];
    if (!c.candidate[p] || acc <= budget) continue;
    for (const auto& v : sweep.crossing()) {
      if (kept[v.node]) continue;
      kept[v.node] = 1;
      r.mirror[v.node] = 0;
      for (const auto& t : g.node(v.node).outputs) r.kept_bytes += t.bytes();
    }
    r.max_segment = std::max(r.max_segment, acc);
    acc = 0;
  }
  r.max_segment = std::max(r.max_segment, acc);
  return r;
}

std::vector<int64_t> algorithm3_breakpoints(const CutAnalysis& c, size_t limit) {
  // At B the walk cuts where the accumulated bytes first exceed B; raising B changes nothing until it
  // reaches the smallest accumulated value at a cut, which then no longer cuts.
  std::vector<int64_t> out;
  for (int64_t budget = 0; out.size() < limit;) {
    out.push_back(budget);
    int64_t acc = 0, next = -1;
    for (size_t p = 0; p < c.order.size(); ++p) {
      acc += c.node_bytes[p];
      if (!c.candidate[p] || acc <= budget) continue;
      if (next < 0 || acc < next) next = acc;
      acc = 0;
    }
    if (next < 0) break;
    budget = next;
  }
  return out;
}

std::vector<int64_t> sqrt_search_budgets(const ir::Graph& g, const CutAnalysis& c) {
  Algorithm3 first = algorithm3(g, c, 0);
  const double b = std::sqrt(static_cast<double>(first.kept_bytes) * static_cast<double>(first.max_segment));
  std::vector<int64_t> out = {0, static_cast<int64_t>(b)};
  for (int i = 0; i < 6; ++i) out.push_back(static_cast<int64_t>(b / std::sqrt(2.0) * std::pow(2.0, i / 5.0)));
  return out;
}

std::vector<int32_t> log_mirror(const ir::Graph& g, const CutAnalysis& c) {
  std::vector<size_t> cands;
  for (size_t p = 0; p < c.order.size(); ++p)
    if (c.candidate[p]) cands.push_back(p);
  std::vector<int32_t> level(c.order.size(), -1);
  int32_t deepest = 0;
  std::function<void(size_t, size_t, int32_t)> bisect = [&](size_t lo, size_t hi, int32_t l) {
    if (lo >= hi) return;
    size_t mid = lo + (hi - lo) / 2;
    level[cands[mid]] = l;
    deepest = std::max(deepest, l);
    bisect(lo, mid, l + 1);
    bisect(mid + 1, hi, l + 1);
  };
  bisect(0, cands.size(), 0);
  std::vector<int32_t> m(g.size(), deepest + 1);
  CrossingSweep sweep(c);
  for (size_t p = 0; p < c.order.size(); ++p) {
    sweep.advance(p);
    if (level[p] < 0) continue;
    for (const auto& v : sweep.crossing()) m[v.node] = std::min(m[v.node], level[p]);
  }
  return m;
}

}  // namespace sublinear::planner
