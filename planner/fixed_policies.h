#pragma once
// The paper's fixed recomputation rules as mirror vectors (one count per node, see scheduler.h), before
// annotations are applied. The policies (policies.cpp) plan them; the budget solver (budget_solver.cpp)
// starts from them and must never do worse than any of them.
#include <cstdint>
#include <vector>

#include "ir/graph.h"
#include "planner/split_points.h"

namespace sublinear::planner {

// Applies the annotations and the registry on top of a policy's choice: sources, graph outputs,
// @checkpoint and non-recomputable ops get 0; @recompute gets at least 1. The result is what
// build_plan gets.
std::vector<int32_t> constrain_mirror(const ir::Graph& g, std::vector<int32_t> m);

// drop-cheap (paper 4.2): recompute the ops the registry marks cheap, keep the rest.
std::vector<int32_t> drop_cheap_mirror(const ir::Graph& g);

// The paper's Algorithm 3 with budget B over the split candidates: walk the compute nodes, accumulate
// output bytes, and at a candidate whose accumulated bytes exceed B keep its crossing set (m = 0) and
// start a new segment; everything else is recomputed once (m = 1).
struct Algorithm3 {
  std::vector<int32_t> mirror;
  int64_t kept_bytes = 0;     // x: bytes of the kept crossing sets
  int64_t max_segment = 0;    // y: the largest segment's bytes
};
Algorithm3 algorithm3(const ir::Graph& g, const CutAnalysis& c, int64_t budget);

// Every B at which Algorithm 3's choice changes, ascending from 0, at most `limit` of them: between two
// consecutive values (and above the last) it builds the same plan, so these cover every Algorithm 3 plan
// there is (all of them when fewer than `limit`).
std::vector<int64_t> algorithm3_breakpoints(const CutAnalysis& c, size_t limit);

// The B values Algorithm 3 is tried at by sqrt's Appendix A search: sqrt(x*y) from B = 0, then 6 points
// over [B/sqrt(2), sqrt(2)*B].
std::vector<int64_t> sqrt_search_budgets(const ir::Graph& g, const CutAnalysis& c);

// log: recursive bisection of the candidates; with the scheduler's depth rule, section 4.4 with k = 1.
std::vector<int32_t> log_mirror(const ir::Graph& g, const CutAnalysis& c);

}  // namespace sublinear::planner
