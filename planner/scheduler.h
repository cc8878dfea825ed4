#pragma once
// The schedule of one training step for given mirror counts (the paper's Algorithm 2, with the
// recursion of section 4.4), followed by liveness, in-place folding, sharing and arena offsets.
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "planner/plan.h"

namespace sublinear::planner {

// mirror[v] for every node of g: 0 keeps the node's outputs from the forward pass; k > 0 drops them
// after their last forward reader and recomputes them when the backward pass needs them; a value
// recomputed at recomputation depth d is kept for later backward steps only when mirror <= d, so
// k > 1 gives the recursive scheme. Sources (inputs, parameters) are never dropped. `early_at` (empty, or
// one entry per node: -1, or the node before whose backward step the node is recomputed and held: ahead
// of need, or after recomputations that did not hold it) is Plan::early_at.
Plan build_plan(std::shared_ptr<const ir::Graph> g, std::vector<int32_t> mirror, const PlanOptions& opts,
                std::string policy, std::vector<ir::NodeId> early_at = {});

struct BuildScratch;  // the flat schedule and working arrays a build fills (scheduler.cpp)

// What every plan of a graph shares, whatever its mirror counts: each node's forward FLOPs and
// workspace bytes, asked of the registry once, the gradient analysis, and the memory builds reuse.
struct GraphCosts {
  std::vector<int64_t> flops, workspace;
  std::vector<int64_t> backward_flops;  // per node: its backward step's FLOPs
  std::vector<int64_t> cost;           // recomputation cost: per the options' CostModel, or measured ns
  std::vector<int64_t> bytes;          // output bytes, output k of node n at bytes[first_output[n] + k]
  std::vector<size_t> first_output;
  // Per output (indexed as bytes): it depends on a trainable parameter through differentiable f32 ops
  // (needs_grad); it is a model output, kept to the end of the step (graph_output).
  std::vector<char> needs_grad, graph_output;
  std::vector<ir::DType> dtype;        // per output
  std::vector<char> has_backward;      // per node: a gradient reaches an output and an input needs one
  std::vector<char> is_source;         // per node: an input or a parameter, never computed
  std::vector<char> recomputable;      // per node: its op may be recomputed
  // Node n's inputs are input_refs[inputs_at[n] .. inputs_at[n + 1]): the schedule's walks read them
  // without touching the nodes.
  std::vector<ir::ValueRef> input_refs;
  std::vector<uint32_t> inputs_at;
  int64_t input_bytes = 0, parameter_bytes = 0, trainable_bytes = 0;
  // Reused by every build given these costs, so a search's thousands of builds do not allocate per
  // step; builds sharing one GraphCosts must therefore not run concurrently.
  std::shared_ptr<BuildScratch> scratch;
  size_t output_index(ir::ValueRef r) const { return first_output[r.node] + static_cast<size_t>(r.index); }
  int64_t output_bytes(ir::ValueRef r) const { return bytes[output_index(r)]; }
  std::span<const ir::ValueRef> inputs(ir::NodeId n) const {
    return {input_refs.data() + inputs_at[n], input_refs.data() + inputs_at[n + 1]};
  }
};
GraphCosts graph_costs(const ir::Graph& g, const PlanOptions& o);

// build_plan for a search that builds many plans and keeps few: the same schedule, storages, arena and
// every figure, but the plan holds only the figures and the mirror counts: no values, steps or
// storages (reports, the validator and codegen need build_plan's). `costs` is graph_costs(*g, opts).
//
// `place_if`, when set, is asked before the arena is placed with a lower bound of the total peak (the
// live peak in place of the arena) and the plan's recompute cost; when it answers false the arena is not
// placed: feature_map_peak_bytes is then the live peak and `*placed` is false. A search uses it to skip
// plans the bound already shows are dominated. `live_by_step`, when given, receives the live feature-map
// bytes (aligned) at each step: a search repairing a plan over budget sees every step above it, not only
// the peak.
using PlaceIf = std::function<bool(int64_t total_lower_bound, int64_t recompute_cost)>;
Plan build_plan_figures(std::shared_ptr<const ir::Graph> g, std::vector<int32_t> mirror, const PlanOptions& opts,
                        const GraphCosts& costs, const PlaceIf& place_if = {}, bool* placed = nullptr,
                        std::vector<ir::NodeId> early_at = {}, std::vector<int64_t>* live_by_step = nullptr);

}  // namespace sublinear::planner
