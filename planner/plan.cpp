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

}  // namespace sublinear::planner
