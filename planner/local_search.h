#pragma once
// The budget solver's searches on small graphs (local_search.cpp): each builds exact plans and offers
// them to the frontier under construction. `droppable` marks the nodes a plan may drop.
#include <vector>

#include "ir/graph.h"
#include "planner/pareto_set.h"

namespace sublinear::planner {

// From keep-everything, the single (and, with `pairs`, paired) changes that save most bytes per FLOP.
void greedy_walk(ParetoSet& set, const ir::Graph& g, const std::vector<char>& droppable, bool pairs);
// From the `starts` smallest points, the depth changes of one or two nodes that lower the peak most.
void descend(ParetoSet& set, const ir::Graph& g, const std::vector<char>& droppable, size_t starts);
// Every point with any recomputed node kept (or made shallower) where that costs no peak.
void improve_locally(ParetoSet& set, const ir::Graph& g, const std::vector<char>& droppable);
// The early moves below (early_moves in local_search.cpp) set one trigger: a node's first recomputation
// moved one to `steps` backward steps ahead of need, or a copy made at a later recomputation held.
// Every point with each of its early moves, twice over.
void recompute_earlier(ParetoSet& set, const ir::Graph& g, size_t steps);
// From every point (and from it with depths above 1 made 1), the early moves that lower the peak most.
void early_descent(ParetoSet& set, const ir::Graph& g, size_t steps);
// Every point with one recomputed node made shallower by one and then each early move of the result.
void keep_and_recompute_earlier(ParetoSet& set, const ir::Graph& g, size_t steps);
// At every point's total: each depth change of one node (or of a node and its producer), repaired back
// under that total and descended.
void kick_and_repair(ParetoSet& set, const ir::Graph& g, const std::vector<char>& droppable);

}  // namespace sublinear::planner
