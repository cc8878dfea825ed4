#pragma once
// A test-only oracle for the budget solver: Checkmate's MILP (Jain et al., "Checkmate: Breaking the
// Memory Wall with Optimal Tensor Rematerialization", MLSys 2020, section 4), solved with CBC, over the
// training step the scheduler builds for a graph. Its optimum is the least recomputation of *any*
// schedule that keeps the live feature-map bytes within a budget: any order of recomputations, any
// depth, a value kept for some backward steps and recomputed again for later ones. It is therefore a
// lower bound on what the solver can reach, which is what the near-optimality tests need.
//
// The graph Checkmate sees, and why its optimum bounds ours from below:
//   - Stages are the steps of the keep-everything plan (forward steps, then backward steps), built
//     with in-place off: in-place folding shrinks our live bytes below the sum of the live values,
//     which Checkmate's memory does not model. Compare with solver plans built with inplace = false.
//   - Items are the arena values each step writes (one per value, so two outputs are freed apart, as
//     the scheduler frees them); a step that writes no arena value gets one item of zero bytes, so its
//     reads still have to be resident when it runs. Items are ordered by stage.
//   - An item depends on the items that wrote what its step reads or accumulates into (a gradient
//     accumulated by several backward steps is one item, written by the first and read by the rest).
//   - Stage s computes every item of step s. Forward items may be computed again in later stages, all
//     items of one step together (R tied), at the node's recomputation cost (GraphCosts::cost); backward
//     items and the items of nodes the registry marks not recomputable are computed once.
//   - Memory during stage t after computing item k: the items retained into t (S) plus the items
//     computed in t so far that have not been freed; an item is freed after its last user in the stage
//     when it is not retained into t + 1 (Checkmate's FREE, linearised as in the paper). Graph outputs
//     are retained to the end, as the scheduler keeps them. Bytes are aligned as Plan::live_peak_bytes
//     aligns them, so a schedule the scheduler builds maps onto a solution of no larger memory and no
//     more cost: the optimum is at most the recomputation of any plan whose live peak fits.
// The mapping assumes the scheduler's recomputations within one stage run in Checkmate's item order.
// A backward step that recomputes two of its inputs' chains may run the later chain first (its passes
// are ordered per input); Checkmate, forced into index order, may then hold more at that step. The
// graphs the tests use recompute one chain per backward step, and CheckmateMilp.BoundsEveryPlan*
// check the bound against every plan of their tiny ones rather than trust the argument.
#include <cstdint>
#include <memory>

#include "ir/graph.h"
#include "planner/plan.h"

namespace sublinear::planner::ptest {

struct MilpOutcome {
  bool available = false;  // built with CBC; when false nothing below is meaningful
  bool feasible = false;   // a schedule within the budget exists (proven when optimal, else found)
  bool optimal = false;    // CBC proved `best` optimal (within its gap)
  bool infeasible = false; // CBC proved no schedule fits
  double best = 0;         // the best schedule's recomputation, in GraphCosts::cost units
  double bound = 0;        // a proven lower bound on every schedule's recomputation (always valid)
  int columns = 0, rows = 0;
  int nodes = 0;           // branch-and-bound nodes CBC explored
  double seconds = 0;
};

// The least recomputation within `live_budget` feature-map bytes (Plan::live_peak_bytes' measure).
// `o.inplace` must be false. CBC runs serially, so its answer is a function of the model alone; it stops
// after `max_nodes` branch-and-bound nodes (the same answer on any machine), or after `max_seconds` as a
// safety net a test should never reach; `bound` is then still a valid lower bound. With `cutoff` > 0
// only schedules recomputing less than it are sought: when CBC proves there are none (much faster than
// proving an optimum), `bound` is the cutoff and `best` infinite.
MilpOutcome checkmate_least_recompute(const std::shared_ptr<const ir::Graph>& g, const PlanOptions& o,
                                      int64_t live_budget, int max_nodes, double cutoff = 0,
                                      double max_seconds = 600);

}  // namespace sublinear::planner::ptest
