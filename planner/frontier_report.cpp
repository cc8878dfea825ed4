// Frontier reports. Rules: every figure is an exact plan's (build_plan); "extra fwd" is recompute cost
// as a share of one forward pass, in the unit the solver minimises (cost_unit_of); a fixed policy's frontier figure is
// pick_for_budget at that policy's own total, the plan a user asking for that budget gets.
#include "planner/frontier_report.h"

#include "ir/format_util.h"
#include "planner/report.h"

namespace sublinear::planner {

std::string format_frontier(const Frontier& f) {
  std::string out;
  if (f.points.empty()) return out;
  if (f.graph) {
    out += "frontier for " + f.graph->model_name + " (batch " + ir::with_commas(f.graph->batch) +
           ", optimizer " + optimizer_name(f.options.optimizer) + "): " + std::to_string(f.points.size()) +
           " plans on it, " + std::to_string(f.plans_built) + " built (" + std::to_string(f.plans_unplaced) +
           " ruled out before placing their arena)\n";
  }
  std::vector<std::vector<std::string>> rows;
  const std::string unit = cost_unit_of(f.options);
  rows.push_back({"total", "feature maps", "extra fwd", "recompute " + unit, "recomputed", "from"});
  for (const auto& p : f.points)
    rows.push_back({ir::human_bytes(p.total_peak_bytes()), ir::human_bytes(p.feature_map_peak_bytes),
                    percent(p.extra_forward_ratio()), ir::with_commas(p.recompute_cost),
                    ir::with_commas(p.recomputed_nodes), p.policy});
  out += format_table(rows);
  out += "\nfixed policies against it (the frontier at the policy's own total):\n";
  rows.clear();
  rows.push_back({"policy", "total", "extra fwd", "frontier extra fwd", "frontier total"});
  for (const auto& p : f.fixed) {
    const FrontierPoint* at = pick_for_budget(f, p.total_peak_bytes());
    rows.push_back({p.policy, ir::human_bytes(p.total_peak_bytes()), percent(p.extra_forward_ratio()),
                    at ? percent(at->extra_forward_ratio()) : "-", at ? ir::human_bytes(at->total_peak_bytes()) : "-"});
  }
  out += format_table(rows);
  out += "total: every category (inputs, parameters, gradients, optimizer state, feature maps, workspace);\n";
  out += "extra fwd: " + cost_meaning(f.options) + "\n";
  return out;
}

nlohmann::json frontier_to_json(const Frontier& f) {
  nlohmann::json j;
  if (f.graph) {
    j["model"] = f.graph->model_name;
    j["batch"] = f.graph->batch;
    j["optimizer"] = optimizer_name(f.options.optimizer);
  }
  j["plans_built"] = f.plans_built;
  j["plans_unplaced"] = f.plans_unplaced;
  j["cost_unit"] = cost_unit_of(f.options);
  j["points"] = nlohmann::json::array();
  for (const auto& p : f.points)
    j["points"].push_back({{"total_peak_bytes", p.total_peak_bytes()},
                           {"feature_map_peak_bytes", p.feature_map_peak_bytes},
                           {"recompute_flops", p.recompute_flops},
                           {"forward_flops", p.forward_flops},
                           {"recompute_cost", p.recompute_cost},
                           {"forward_cost", p.forward_cost},
                           {"extra_forward_ratio", p.extra_forward_ratio()},
                           {"recomputed_nodes", p.recomputed_nodes},
                           {"family", p.policy}});
  j["fixed"] = nlohmann::json::array();
  for (const auto& p : f.fixed) {
    const FrontierPoint* at = pick_for_budget(f, p.total_peak_bytes());
    j["fixed"].push_back({{"policy", p.policy},
                          {"total_peak_bytes", p.total_peak_bytes()},
                          {"feature_map_peak_bytes", p.feature_map_peak_bytes},
                          {"recompute_flops", p.recompute_flops},
                          {"recompute_cost", p.recompute_cost},
                          {"extra_forward_ratio", p.extra_forward_ratio()},
                          {"frontier_recompute_flops", at ? nlohmann::json(at->recompute_flops) : nlohmann::json()},
                          {"frontier_recompute_cost", at ? nlohmann::json(at->recompute_cost) : nlohmann::json()},
                          {"frontier_extra_forward_ratio",
                           at ? nlohmann::json(at->extra_forward_ratio()) : nlohmann::json()}});
  }
  return j;
}

}  // namespace sublinear::planner
