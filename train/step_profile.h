#pragma once
// `sublinear train --profile`: the time of every node's forward, recompute and backward steps over a
// run, medians per node, written to the run directory as profile.json in the format
// planner/cost_profile.h reads back (`plan --costs`, `memory.costs`).
#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "planner/plan.h"

namespace sublinear::runtime::train {

class StepProfile {
 public:
  explicit StepProfile(const planner::Plan& plan);
  // One training step: seconds per plan step, in plan order.
  void add(const std::vector<double>& step_seconds);
  int64_t steps() const { return steps_; }
  // The profile document (planner::kProfileFormat): per computing node, the median over the steps
  // added of its forward time, and of its recompute and backward times where the plan has them.
  nlohmann::ordered_json to_json() const;

 private:
  const planner::Plan& plan_;
  int64_t steps_ = 0;
  // Per node, one entry per step added: summed seconds of its steps of each kind (-1: none planned).
  std::vector<std::vector<double>> forward_, recompute_, backward_;
};

}  // namespace sublinear::runtime::train
