#pragma once
// Recompute policies: how mirror counts are chosen. Every policy respects the DSL's annotations as hard
// constraints (@checkpoint: m = 0; @recompute: m >= 1) and never drops a node the registry marks as not
// recomputable.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "planner/budget_solver.h"
#include "planner/plan.h"

namespace sublinear::planner {

enum class Policy {
  None,       // keep everything
  DropCheap,  // keep conv/matmul outputs, recompute batch-norm, activation, pooling (paper 4.2)
  Sqrt,       // Algorithm 3 over split candidates, with the Appendix A search over its budget B
  Log,        // recursive bisection of the split candidates: O(log n) memory
};
const char* policy_name(Policy p);                        // "none", "drop-cheap", "sqrt", "log"
bool parse_policy(const std::string& s, Policy* out);

struct PlanRequest {
  Policy policy = Policy::None;
  std::optional<int64_t> memory_budget;  // total peak bytes; picks the least extra compute that fits
  PlanOptions options;
  // Where the budget was given, for the error when it cannot be met: its name ("--memory-budget", or
  // "memory.budget" from an experiment file) and its span (unknown: the command line).
  std::string budget_name = "--memory-budget";
  SourceSpan budget_span;
};

// Plans `g`. User errors (annotations that cannot be honoured: UserErrors, one per annotation; a budget
// that cannot be met: UserError) carry the spans involved.
Plan plan_model(std::shared_ptr<const ir::Graph> g, const PlanRequest& req);

// The frontier of exact plans for `g` (budget_solver.h) under `options`; annotations as for plan_model.
Frontier plan_frontier(std::shared_ptr<const ir::Graph> g, const PlanOptions& options);

// Values whose removal cuts the graph between the inputs and the loss (articulation points of the
// forward DAG, e.g. each residual unit's output), in topological order: the candidate checkpoints.
std::vector<ir::NodeId> split_candidates(const ir::Graph& g);

// Parses "6GiB", "512MiB", "1.5GB", "1000000" (bytes); throws UserError naming the flag otherwise.
int64_t parse_size(const std::string& text, const std::string& flag);

}  // namespace sublinear::planner
