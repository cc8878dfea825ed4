#pragma once
// Measured costs for the planner: the profile `sublinear train --profile` writes (profile.json in the run
// directory), read back as each node's forward time so that recomputation is costed in time rather
// than FLOPs (`plan --costs FILE`, `memory.costs` in an experiment).
//
// The file: {"format": "sublinear profile 1", "model": NAME, "batch": N, "steps_measured": K,
//            "nodes": [{"node": NAME, "op": OP, "forward_seconds": S, "recompute_seconds": S or null,
//                       "backward_seconds": S or null}, ...]}
// with one entry per computing node of the model (sources have none), times the median over the
// measured steps.
#include <memory>
#include <string>

#include "ir/graph.h"
#include "planner/plan.h"

namespace sublinear::planner {

inline constexpr const char* kProfileFormat = "sublinear profile 1";

// Reads `path` for graph `g`. User errors (located at the file) for: a file that cannot be read or is
// not a profile; another model or batch size; a computing node of `g` the profile lacks, or a node it has
// that `g` does not (the model changed since it was measured); a time that is not a non-negative number.
std::shared_ptr<const CostProfile> load_cost_profile(const std::string& path, const ir::Graph& g);

// `plan --costs` and `memory.costs`: "traffic" (the default) or "flops" pick the registry's cost model
// (CostModel); anything else is a profile's path, loaded for `g`.
void apply_costs(PlanOptions& o, const std::string& spec, const ir::Graph& g);
bool is_cost_model_name(const std::string& spec);

}  // namespace sublinear::planner
