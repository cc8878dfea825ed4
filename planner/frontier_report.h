#pragma once
// The frontier told to a person or a program: each Pareto-optimal plan's total and feature-map peak
// against its extra forward work, and the fixed policies placed against it (what the frontier offers
// at the same total).
#include <string>

#include <nlohmann/json.hpp>

#include "planner/budget_solver.h"

namespace sublinear::planner {

// A table from the smallest total to keep-everything, then one row per fixed policy with the frontier's
// recomputation at that policy's total.
std::string format_frontier(const Frontier& f);

// Keys: model, batch, optimizer, plans_built, cost_unit ("flops", or "ns" with a cost profile), points
// ([{total_peak_bytes, feature_map_peak_bytes, recompute_flops, forward_flops, recompute_cost,
// forward_cost, extra_forward_ratio, recomputed_nodes, family}]), fixed ([{policy, total_peak_bytes,
// feature_map_peak_bytes, recompute_flops, recompute_cost, extra_forward_ratio, frontier_recompute_flops,
// frontier_recompute_cost, frontier_extra_forward_ratio}]). extra_forward_ratio is in the cost unit.
nlohmann::json frontier_to_json(const Frontier& f);

}  // namespace sublinear::planner
