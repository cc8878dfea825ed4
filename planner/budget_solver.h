#pragma once
// The memory/recomputation frontier of a graph, and the plan with the least recomputation that fits a
// budget. Every point is an exact plan (build_plan: real schedule, real arena), never a model's guess;
// the solver only decides which mirror vectors are worth building.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "planner/plan.h"
#include "planner/split_points.h"

namespace sublinear::planner {

// One exact plan's figures and the mirror counts that build it again (build_plan), without the plan:
// a frontier of an unrolled LSTM holds dozens of points, each plan hundreds of thousands of steps.
struct FrontierPoint {
  std::string policy;               // the family it came from, or the fixed policy's name
  std::vector<int32_t> mirror;      // annotations applied: build_plan(g, mirror, ..., early_at) is this plan
  std::vector<ir::NodeId> early_at; // Plan::early_at: empty, or nodes recomputed and held at chosen steps
  int64_t total_peak = 0;           // Plan::total_peak_bytes()
  int64_t feature_map_peak_bytes = 0;
  int64_t recompute_flops = 0;
  int64_t forward_flops = 0;
  int64_t recompute_cost = 0;       // what the frontier minimises (Plan::recompute_cost)
  int64_t forward_cost = 0;
  std::string cost_unit;            // Plan::cost_unit()
  int32_t recomputed_nodes = 0;

  static FrontierPoint of(const Plan& p, std::string policy);
  int64_t total_peak_bytes() const { return total_peak; }
  double extra_forward_ratio() const {
    return forward_cost > 0 ? static_cast<double>(recompute_cost) / static_cast<double>(forward_cost) : 0.0;
  }
};

struct Frontier {
  std::shared_ptr<const ir::Graph> graph;
  PlanOptions options;
  // Pareto-optimal plans: total peak strictly ascending, recompute cost strictly descending. The
  // first is the smallest plan found, the last recomputes least (nothing, unless annotations force
  // it). Families: "none", "drop-cheap", "sqrt", "log", "segments", "nested", "tail", "greedy", "kick",
  // "early".
  std::vector<FrontierPoint> points;
  // The fixed policies' own plans (none, drop-cheap, sqrt as its Appendix A search picks it, log),
  // which the frontier dominates, for placing them against it.
  std::vector<FrontierPoint> fixed;
  int32_t plans_built = 0;     // candidates judged by the scheduler (and the allocator, unless ...)
  int32_t plans_unplaced = 0;  // ... their lower bound was already dominated
};

// Builds the frontier. The candidate set does not depend on any budget, so picking from it is
// monotone: a larger budget never gets more recomputation.
Frontier solve_frontier(const std::shared_ptr<const ir::Graph>& g, const CutAnalysis& cuts, const PlanOptions& o);

// The frontier point with the least recomputation whose total peak is at most `budget`; nullptr when
// none fits (the first point is then the smallest there is).
const FrontierPoint* pick_for_budget(const Frontier& f, int64_t budget);

// The full plan of a frontier point (names, types: what reports, validation and codegen read).
Plan build_point(const Frontier& f, const FrontierPoint& p);

// What the solver offers at drop-cheap's total, at sqrt's, and at their geometric mean (the rows
// `plan --compare` adds), each built and labelled "budget <size>"; budgets no point fits are left out.
std::vector<Plan> plans_at_fixed_totals(const Frontier& f);

}  // namespace sublinear::planner
