#pragma once
// A training plan: the static schedule of one training step (forward, recomputation, backward) over
// logical values, and where each value lives. Built by build_plan (scheduler.cpp) from a graph and a
// mirror count per node; checked by validate_plan (plan_validator.cpp); reported by report.cpp.
//
// Categories (kept apart and reported apart, because users compare them with what they measure):
//   inputs           model inputs, fed by the data pipeline, outside the arena
//   parameters       weights and batch-norm running statistics, persistent, outside the arena
//   parameter grads  one buffer per trainable parameter, persistent, accumulated in place
//   optimizer state  per optimizer (momentum: 1x trainable params, adam: 2x), persistent
//   feature maps     activations, their recomputed copies and activation gradients: the arena
//   workspace        scratch an op asks for (e.g. convolution), one buffer of the largest request
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace sublinear::planner {

enum class StepKind { Forward, Recompute, Backward };
const char* step_kind_name(StepKind k);  // "forward", "recompute", "backward"

enum class ValueKind {
  Input,       // a model input (not in the arena)
  Param,       // a parameter (not in the arena)
  ParamGrad,   // gradient of a trainable parameter (not in the arena)
  Activation,  // a forward output (version 0) or a recomputed copy of one (version > 0)
  Gradient,    // gradient of an activation
};
const char* value_kind_name(ValueKind k);

using ValueId = int32_t;
using StepId = int32_t;

struct PlanValue {
  ValueId id = -1;
  ValueKind kind = ValueKind::Activation;
  ir::ValueRef source;      // the forward value it is, copies, or is the gradient of
  int32_t version = 0;      // Activation: 0 = computed by the forward pass, k = k-th recomputation
  ir::TensorType type;
  int64_t bytes = 0;
  int32_t storage = -1;     // index into Plan::storages; -1 when outside the arena
  std::string name;         // "stage1/relu#2", "stage1/relu#2@r1" (copy), "grad(stage1/relu#2)"
};

struct PlanStep {
  StepId id = -1;
  StepKind kind = StepKind::Forward;
  ir::NodeId node = -1;                 // the forward node it runs, recomputes or differentiates
  std::vector<ValueId> reads;           // values read (before any write of this step)
  std::vector<ValueId> writes;          // values written whole (fresh contents)
  std::vector<ValueId> accumulates;     // gradients added into: read-modify-write of a live value
  std::vector<std::pair<ValueId, ValueId>> inplace;  // (written, read) pairs that share storage
  int64_t flops = 0;
  int64_t workspace_bytes = 0;
};

// One arena buffer: the values folded into it by in-place, their joint lifetime and its offset.
struct Storage {
  int32_t id = -1;
  int64_t bytes = 0;                    // the largest value folded in (all equal under in-place rules)
  StepId first_step = 0, last_step = 0; // inclusive
  int64_t offset = -1;
  std::vector<ValueId> values;
};

enum class Optimizer { Sgd, Momentum, Adam };
const char* optimizer_name(Optimizer o);

// Measured forward times per node (cost_profile.h), replacing the registry's FLOPs as the cost of
// recomputation: what the budget solver minimises and "extra forward" reports.
struct CostProfile {
  std::string source;                // the profile file
  std::vector<int64_t> forward_ns;   // per node id; 0 for sources
};

// How recomputation is costed without a profile, from the registry's per-op figures.
//   Traffic: FLOPs plus kTrafficFlopsPerByte for every byte read or written. Batch norm, activations and
//            elementwise ops move many bytes for few FLOPs and are bound by memory bandwidth; a FLOP
//            count calls them nearly free. 10 FLOPs per byte is the balance of a CPU core (about 60
//            GFLOP/s in convolutions, 3 to 6 GB/s in memory-bound kernels, measured here) and of a
//            datacenter GPU alike (tens of TFLOP/s against a few TB/s).
//   Flops:   the FLOPs alone (the paper's measure).
enum class CostModel { Traffic, Flops };
inline constexpr int64_t kTrafficFlopsPerByte = 10;

struct PlanOptions {
  bool inplace = true;
  bool sharing = true;
  Optimizer optimizer = Optimizer::Momentum;
  int64_t alignment = 256;
  std::shared_ptr<const CostProfile> costs;  // measured times; null: cost_model
  CostModel cost_model = CostModel::Traffic;
  // Small plans still fragmented after the greedy placements get PlacementStrategy::OrderSearch too
  // (arena_allocator.h). Off only for a search's candidate builds, which re-place the plans they keep.
  bool placement_search = true;
};

// The unit of Plan::forward_cost and recompute_cost: "ns" (a profile), "flops", or "flop-eq" (Traffic:
// FLOP-equivalents); and one line saying what "extra forward" then measures.
const char* cost_unit_of(const PlanOptions& o);
std::string cost_meaning(const PlanOptions& o);

struct Plan {
  std::string policy;                   // "none", "drop-cheap", "sqrt", "log", "budget", "manual"
  PlanOptions options;
  std::shared_ptr<const ir::Graph> graph;
  std::vector<int32_t> mirror;          // m(v) per node: 0 keep, 1 recompute once, >1 recursive
  // Empty, or per node: -1, or the node before whose backward step a dropped node is recomputed and held
  // for its later readers: ahead of the first step that needs it, or after recomputations that did not
  // hold it (scheduler.cpp's rules; the budget solver's "early" plans). Only triggers that recomputed
  // something are listed.
  std::vector<ir::NodeId> early_at;
  std::vector<PlanValue> values;
  std::vector<PlanStep> steps;
  std::vector<Storage> storages;

  int64_t input_bytes = 0;
  int64_t parameter_bytes = 0;          // trainable and non-trainable parameters
  int64_t gradient_bytes = 0;           // parameter gradients
  int64_t optimizer_state_bytes = 0;
  int64_t feature_map_peak_bytes = 0;   // the arena size
  int64_t live_peak_bytes = 0;          // max over steps of live feature-map bytes (aligned)
  int64_t workspace_bytes = 0;
  StepId peak_step = 0;                 // a step where live feature-map bytes reach live_peak_bytes
  int64_t forward_flops = 0;            // one forward pass
  int64_t recompute_flops = 0;          // extra forward work of the recompute steps
  // The same two in the unit recomputation is costed in (cost_unit()): FLOP-equivalents (CostModel),
  // FLOPs, or measured nanoseconds with a cost profile. The solver minimises recompute_cost; "extra
  // forward" is their ratio.
  int64_t forward_cost = 0;
  int64_t recompute_cost = 0;
  int64_t backward_flops = 0;
  int32_t recomputed_nodes = 0;         // distinct forward nodes recomputed at least once
  double plan_seconds = 0;

  int64_t total_peak_bytes() const {
    return input_bytes + parameter_bytes + gradient_bytes + optimizer_state_bytes + feature_map_peak_bytes +
           workspace_bytes;
  }
  double extra_forward_ratio() const {
    return forward_cost > 0 ? static_cast<double>(recompute_cost) / static_cast<double>(forward_cost) : 0.0;
  }
  const char* cost_unit() const { return cost_unit_of(options); }
  int64_t fragmentation_bytes() const { return feature_map_peak_bytes - live_peak_bytes; }
};

}  // namespace sublinear::planner
