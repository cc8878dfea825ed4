#pragma once
// What a plan costs, told before anything runs: every memory category apart (the paper's figures count
// feature maps only; users measure everything), the arena against the live peak, the recomputation it
// buys that with, and the tensors that make the peak, pointed back at the DSL.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "planner/plan.h"
#include "planner/policies.h"

namespace sublinear::planner {

// One arena storage live at a step, named by the value occupying it then.
struct LiveTensor {
  ValueId value = -1;
  int32_t storage = -1;
  int64_t bytes = 0;  // the storage's bytes
};

// The arena storages live at `step` (first_step <= step <= last_step), largest first (ties: earlier
// storage), at most `limit` of them.
std::vector<LiveTensor> live_at_step(const Plan& plan, StepId step, size_t limit);

// Keys: policy, batch, parameter_bytes, gradient_bytes, optimizer_state_bytes, feature_map_peak_bytes,
// live_peak_bytes, workspace_bytes, total_peak_bytes, recomputed_nodes, extra_forward_ratio,
// plan_seconds; and input_bytes, fragmentation_bytes, inplace, sharing, optimizer, steps, forward_flops,
// recompute_flops, backward_flops, largest_at_peak ([{name, kind, bytes, type, loc, path}]), model,
// peak_step, strategy.
nlohmann::json plan_to_json(const Plan& plan);

// The human report: memory by category, arena and live peak, recomputation, plan time and the largest
// tensors live at the peak step with their DSL locations.
std::string format_plan(const Plan& plan);

// "no optimisation", "inplace", "inplace+sharing" for policy none; the policy name otherwise (with
// "no inplace" / "no sharing" appended when those are off).
std::string strategy_label(const Plan& plan);

// "12.3%" for 0.123; "3.14" for fixed(3.14159, 2).
std::string percent(double ratio);
std::string fixed(double v, int decimals);

// A table: the first row is the header, underlined; the first column left-aligned, the others right.
std::string format_table(const std::vector<std::vector<std::string>>& rows);

// The paper's comparison: one row per plan, feature-map peak relative to the first row.
std::string format_compare(const std::vector<Plan>& plans);

// The six strategies of the comparison, in order: no optimisation, inplace, inplace+sharing (all policy
// none), then drop-cheap, sqrt and log with in-place and sharing. Optimizer and alignment come from
// `base`; any memory budget is dropped.
std::vector<PlanRequest> compare_requests(const PlanRequest& base);

}  // namespace sublinear::planner
