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

// Keys: model, batch, optimizer, plans_built, points ([{total_peak_bytes, feature_map_peak_bytes,
// recompute_flops, forward_flops, extra_forward_ratio, recomputed_nodes, family}]), fixed ([{policy,
// total_peak_bytes, feature_map_peak_bytes, recompute_flops, extra_forward_ratio,
// frontier_recompute_flops, frontier_extra_forward_ratio}]).
nlohmann::json frontier_to_json(const Frontier& f);

}  // namespace sublinear::planner
