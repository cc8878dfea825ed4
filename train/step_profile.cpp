#include "train/step_profile.h"

#include <algorithm>

#include "ir/check.h"
#include "ir/op_registry.h"
#include "planner/cost_profile.h"
#include "planner/report.h"

namespace sublinear::runtime::train {

namespace {

nlohmann::ordered_json median(std::vector<double> v) {
  if (v.empty()) return nullptr;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

StepProfile::StepProfile(const planner::Plan& plan)
    : plan_(plan), forward_(plan.graph->size()), recompute_(plan.graph->size()), backward_(plan.graph->size()) {}

void StepProfile::add(const std::vector<double>& step_seconds) {
  SL_CHECK(step_seconds.size() == plan_.steps.size())
      << step_seconds.size() << " step times for a plan of " << plan_.steps.size() << " steps";
  const size_t nodes = plan_.graph->size();
  std::vector<double> f(nodes, -1), r(nodes, -1), b(nodes, -1);
  for (size_t i = 0; i < step_seconds.size(); ++i) {
    const planner::PlanStep& s = plan_.steps[i];
    auto& slot = s.kind == planner::StepKind::Forward     ? f[s.node]
                 : s.kind == planner::StepKind::Recompute ? r[s.node]
                                                          : b[s.node];
    slot = std::max(slot, 0.0) + step_seconds[i];
  }
  for (size_t n = 0; n < nodes; ++n) {
    if (f[n] >= 0) forward_[n].push_back(f[n]);
    if (r[n] >= 0) recompute_[n].push_back(r[n]);
    if (b[n] >= 0) backward_[n].push_back(b[n]);
  }
  ++steps_;
}

nlohmann::ordered_json StepProfile::to_json() const {
  const ir::Graph& g = *plan_.graph;
  nlohmann::ordered_json j;
  j["format"] = planner::kProfileFormat;
  j["model"] = g.model_name;
  j["batch"] = g.batch;
  j["plan"] = planner::strategy_label(plan_);
  j["steps_measured"] = steps_;
  j["nodes"] = nlohmann::ordered_json::array();
  for (const auto& n : g.nodes()) {
    if (n.def->is_source) continue;
    nlohmann::ordered_json e;
    e["node"] = n.name;
    e["op"] = n.op;
    e["forward_seconds"] = median(forward_[n.id]);
    e["recompute_seconds"] = median(recompute_[n.id]);
    e["backward_seconds"] = median(backward_[n.id]);
    j["nodes"].push_back(std::move(e));
  }
  return j;
}

}  // namespace sublinear::runtime::train
