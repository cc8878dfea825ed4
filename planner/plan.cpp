#include "planner/plan.h"

namespace sublinear::planner {

const char* step_kind_name(StepKind k) {
  switch (k) {
    case StepKind::Forward: return "forward";
    case StepKind::Recompute: return "recompute";
    case StepKind::Backward: return "backward";
  }
  return "?";
}

const char* value_kind_name(ValueKind k) {
  switch (k) {
    case ValueKind::Input: return "input";
    case ValueKind::Param: return "parameter";
    case ValueKind::ParamGrad: return "parameter gradient";
    case ValueKind::Activation: return "activation";
    case ValueKind::Gradient: return "gradient";
  }
  return "?";
}

const char* optimizer_name(Optimizer o) {
  switch (o) {
    case Optimizer::Sgd: return "sgd";
    case Optimizer::Momentum: return "momentum";
    case Optimizer::Adam: return "adam";
  }
  return "?";
}

const char* cost_unit_of(const PlanOptions& o) {
  if (o.costs) return "ns";
  return o.cost_model == CostModel::Flops ? "flops" : "flop-eq";
}

std::string cost_meaning(const PlanOptions& o) {
  if (o.costs) return "recomputed forward time (measured, " + o.costs->source + ") as a share of one forward pass";
  if (o.cost_model == CostModel::Flops) return "recomputed forward FLOPs as a share of one forward pass";
  return "recomputed forward work (FLOPs plus " + std::to_string(kTrafficFlopsPerByte) +
         " per byte read or written) as a share of one forward pass";
}

}  // namespace sublinear::planner
