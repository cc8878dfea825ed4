// Recompute policies: mirror counts for build_plan. Rules:
// - Annotations are hard constraints for every policy: @checkpoint forces m = 0, @recompute forces
//   m >= 1. @recompute on a graph output or on an op the registry marks as not recomputable is a user
//   error naming the annotation.
// - none keeps everything; drop-cheap recomputes the ops the registry marks cheap (paper 4.2); log is
//   recursive bisection of the split candidates (fixed_policies.h).
// - sqrt is the paper's Algorithm 3 (fixed_policies.h) with the Appendix A search over its budget B:
//   B = 0 gives x (kept bytes) and y (largest segment); B = sqrt(x*y), then 6 points over
//   [B/sqrt(2), sqrt(2)*B]; each is costed by the real allocator and the smallest arena wins.
// - a memory budget takes the plan with the least recomputation whose total peak fits from the budget
//   solver's frontier (budget_solver.h), which includes every fixed policy; otherwise it says the
//   smallest peak there is.
#include "planner/policies.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "ir/check.h"
#include "ir/diagnostic.h"
#include "ir/format_util.h"
#include "ir/op_registry.h"
#include "planner/budget_solver.h"
#include "planner/fixed_policies.h"
#include "planner/plan_validator.h"
#include "planner/scheduler.h"
#include "planner/split_points.h"

namespace sublinear::planner {

const char* policy_name(Policy p) {
  switch (p) {
    case Policy::None: return "none";
    case Policy::DropCheap: return "drop-cheap";
    case Policy::Sqrt: return "sqrt";
    case Policy::Log: return "log";
  }
  return "?";
}

bool parse_policy(const std::string& s, Policy* out) {
  for (Policy p : {Policy::None, Policy::DropCheap, Policy::Sqrt, Policy::Log})
    if (s == policy_name(p)) {
      *out = p;
      return true;
    }
  return false;
}

int64_t parse_size(const std::string& text, const std::string& flag) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  std::string unit = text.substr(used);
  double mult = -1;
  const std::pair<const char*, double> units[] = {
      {"", 1},        {"B", 1},         {"KiB", 1024.0},   {"MiB", 1048576.0}, {"GiB", 1073741824.0},
      {"TiB", 1099511627776.0}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}};
  for (const auto& [name, m] : units)
    if (unit == name) mult = m;
  // At least one byte and within int64 (this also refuses nan and inf, which stod accepts).
  const double bytes = v * mult;
  if (used == 0 || mult < 0 || !(bytes >= 1 && bytes < 9.2e18))
    throw UserError(SourceSpan{SourceLoc{"<command line>", 0, 0, 1}, nullptr},
                    flag + " " + text + ": expected a positive size such as 6GiB, 512MiB, 1.5GB or 1000000");
  return static_cast<int64_t>(bytes);
}

std::vector<ir::NodeId> split_candidates(const ir::Graph& g) {
  CutAnalysis c = analyse_cuts(g);
  std::vector<ir::NodeId> out;
  for (size_t p = 0; p < c.order.size(); ++p)
    if (c.candidate[p]) out.push_back(c.order[p]);
  return out;
}

namespace {

SourceSpan command_line() { return SourceSpan{SourceLoc{"<command line>", 0, 0, 1}, nullptr}; }

Plan make(const std::shared_ptr<const ir::Graph>& g, const std::vector<int32_t>& m, const PlanOptions& o,
          const std::string& name) {
  return build_plan(g, constrain_mirror(*g, m), o, name);
}

void check_annotations(const ir::Graph& g) {
  std::vector<Diagnostic> errors;
  for (const auto& n : g.nodes()) {
    if (n.annotation != ir::Annotation::Recompute) continue;
    std::string why;
    if (!n.def->recomputable) why = "op '" + n.op + "' cannot be recomputed faithfully";
    for (size_t i = 0; i < g.outputs().size(); ++i)
      if (g.outputs()[i].node == n.id) why = "it produces the model output '" + g.output_names()[i] + "', which is always kept";
    if (why.empty()) continue;
    errors.push_back(Diagnostic{Severity::Error, SourceSpan{n.annotation_loc, n.span.frames},
                                "@recompute cannot apply to " + n.path + ": " + why, {}});
  }
  if (!errors.empty()) throw UserErrors(std::move(errors));
}

Plan best_sqrt(const std::shared_ptr<const ir::Graph>& g, const CutAnalysis& c, const PlanOptions& o) {
  // The search compares figures; only the winner is built in full.
  const GraphCosts costs = graph_costs(*g, o);
  std::optional<Plan> best;
  for (int64_t b : sqrt_search_budgets(*g, c)) {
    Plan p = build_plan_figures(g, constrain_mirror(*g, algorithm3(*g, c, b).mirror), o, costs);
    if (!best || p.feature_map_peak_bytes < best->feature_map_peak_bytes ||
        (p.feature_map_peak_bytes == best->feature_map_peak_bytes && p.recompute_cost < best->recompute_cost))
      best = std::move(p);
  }
  return build_plan(g, best->mirror, o, "sqrt");
}

Plan within_budget(const std::shared_ptr<const ir::Graph>& g, const CutAnalysis& c, const PlanRequest& req) {
  const PlanOptions& o = req.options;
  const int64_t budget = *req.memory_budget;
  Frontier f = solve_frontier(g, c, o);
  if (const FrontierPoint* best = pick_for_budget(f, budget)) {
    Plan out = build_point(f, *best);
    out.policy = "budget(" + out.policy + ")";
    return out;
  }
  const Plan smallest_plan = build_point(f, f.points.front());
  const Plan* smallest = &smallest_plan;
  Diagnostic d;
  d.span = req.budget_span.loc.known() ? req.budget_span : command_line();
  d.message = req.budget_name + " " + ir::human_bytes(budget) + " cannot be met: the smallest plan found (" +
              smallest->policy + ") needs " + ir::human_bytes(smallest->total_peak_bytes()) + " in total";
  d.extra.push_back("feature maps " + ir::human_bytes(smallest->feature_map_peak_bytes) + ", parameters " +
                    ir::human_bytes(smallest->parameter_bytes) + ", gradients " +
                    ir::human_bytes(smallest->gradient_bytes) + ", optimizer state " +
                    ir::human_bytes(smallest->optimizer_state_bytes) + ", workspace " +
                    ir::human_bytes(smallest->workspace_bytes));
  d.extra.push_back("try a smaller batch, " +
                    std::string(req.budget_name == "--memory-budget" ? "--optimizer sgd" : "optimizer.kind: sgd") +
                    " (no optimizer state), or " + req.budget_name + " " + ir::human_bytes(smallest->total_peak_bytes()));
  int checkpoints = 0;
  for (const auto& n : g->nodes()) {
    if (n.annotation != ir::Annotation::Checkpoint) continue;
    if (checkpoints++ < 5)
      d.extra.push_back("@checkpoint at " + n.annotation_loc.str() + " keeps " + n.path + " (" +
                        ir::human_bytes(n.outputs[0].bytes()) + ")");
  }
  if (checkpoints > 5) d.extra.push_back("... and " + std::to_string(checkpoints - 5) + " more @checkpoint nodes");
  throw UserError(std::move(d));
}

}  // namespace

Frontier plan_frontier(std::shared_ptr<const ir::Graph> g, const PlanOptions& options) {
  SL_CHECK(g) << "plan_frontier without a graph";
  check_annotations(*g);
  return solve_frontier(g, analyse_cuts(*g), options);
}

Plan plan_model(std::shared_ptr<const ir::Graph> g, const PlanRequest& req) {
  SL_CHECK(g) << "plan_model without a graph";
  auto t0 = std::chrono::steady_clock::now();
  check_annotations(*g);
  CutAnalysis cuts = analyse_cuts(*g);
  Plan plan;
  if (req.memory_budget) {
    plan = within_budget(g, cuts, req);
  } else {
    switch (req.policy) {
      case Policy::None: plan = make(g, std::vector<int32_t>(g->size(), 0), req.options, "none"); break;
      case Policy::DropCheap: plan = make(g, drop_cheap_mirror(*g), req.options, "drop-cheap"); break;
      case Policy::Sqrt: plan = best_sqrt(g, cuts, req.options); break;
      case Policy::Log: plan = make(g, log_mirror(*g, cuts), req.options, "log"); break;
    }
  }
  plan.plan_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
#ifndef NDEBUG
  // Debug builds prove every plan they hand out (tests do it explicitly in any build).
  auto faults = validate_plan(plan);
  SL_CHECK(faults.empty()) << "planner produced an invalid plan:\n" << format_faults(faults, plan);
#endif
  return plan;
}

}  // namespace sublinear::planner
