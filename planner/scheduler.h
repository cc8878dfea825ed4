#pragma once
// The schedule of one training step for given mirror counts (the paper's Algorithm 2, with the
// recursion of section 4.4), followed by liveness, in-place folding, sharing and arena offsets.
#include <memory>
#include <string>
#include <vector>

#include "planner/plan.h"

namespace sublinear::planner {

// mirror[v] for every node of g: 0 keeps the node's outputs from the forward pass; k > 0 drops them
// after their last forward reader and recomputes them when the backward pass needs them; a value
// recomputed at recomputation depth d is kept for later backward steps only when mirror <= d, so
// k > 1 gives the recursive scheme. Sources (inputs, parameters) are never dropped.
Plan build_plan(std::shared_ptr<const ir::Graph> g, std::vector<int32_t> mirror, const PlanOptions& opts,
                std::string policy);

}  // namespace sublinear::planner
