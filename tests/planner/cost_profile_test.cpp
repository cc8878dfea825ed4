// Cost profiles: what load_cost_profile accepts and refuses (each refusal a user error at the file that
// says what is wrong), and the budget solver costing recomputation by them: which ops are cheap to
// recompute is then what was measured, not what the registry guesses.
#include "planner/cost_profile.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "ir/op_registry.h"
#include "planner/budget_solver.h"
#include "planner/policies.h"
#include "planner/scheduler.h"
#include "planner_test_util.h"

namespace sublinear::planner {
namespace {

using namespace ptest;
namespace fs = std::filesystem;

// A profile of `g` with `seconds(node)` as each computing node's forward time.
template <typename F>
nlohmann::json profile_of(const ir::Graph& g, F&& seconds) {
  nlohmann::json j;
  j["format"] = kProfileFormat;
  j["model"] = g.model_name;
  j["batch"] = g.batch;
  j["steps_measured"] = 3;
  j["nodes"] = nlohmann::json::array();
  for (const auto& n : g.nodes())
    if (!n.def->is_source)
      j["nodes"].push_back({{"node", n.name}, {"op", n.op}, {"forward_seconds", seconds(n)},
                            {"recompute_seconds", nullptr}, {"backward_seconds", 2 * seconds(n)}});
  return j;
}

std::string write_file(const std::string& name, const std::string& text) {
  const fs::path p = fs::temp_directory_path() / ("sl_costs_" + std::to_string(getpid()) + "_" + name);
  std::ofstream(p) << text;
  return p.string();
}

// The message of the user error loading `text` raises ("" when none).
std::string refusal(const ir::Graph& g, const std::string& text) {
  try {
    load_cost_profile(write_file("bad.json", text), g);
  } catch (const UserError& e) {
    EXPECT_NE(e.diagnostic().span.loc.file.find("sl_costs_"), std::string::npos);  // located at the file
    return e.diagnostic().message;
  }
  return "";
}

TEST(CostProfile, ReadsEveryComputingNodesTime) {
  Residual r = residual_chain(3);
  const auto j = profile_of(*r.graph, [](const ir::Node& n) { return n.op == "relu" ? 2e-3 : 1e-6; });
  auto costs = load_cost_profile(write_file("ok.json", j.dump()), *r.graph);
  ASSERT_EQ(costs->forward_ns.size(), r.graph->size());
  for (const auto& n : r.graph->nodes()) {
    if (n.def->is_source) EXPECT_EQ(costs->forward_ns[n.id], 0);
    else EXPECT_EQ(costs->forward_ns[n.id], n.op == "relu" ? 2000000 : 1000) << n.name;
  }
}

TEST(CostProfile, RefusesWhatIsNotThisModelsProfile) {
  Residual r = residual_chain(3);
  const auto good = profile_of(*r.graph, [](const ir::Node&) { return 1e-6; });
  EXPECT_NE(refusal(*r.graph, "{not json").find("does not parse"), std::string::npos);
  EXPECT_NE(refusal(*r.graph, "{\"format\": \"other\"}").find("not a cost profile"), std::string::npos);
  auto other = good;
  other["model"] = "resnet";
  EXPECT_NE(refusal(*r.graph, other.dump()).find("measured model 'resnet', this is 'residual'"), std::string::npos);
  auto batch = good;
  batch["batch"] = 64;
  EXPECT_NE(refusal(*r.graph, batch.dump()).find("measured at batch 64, this plan is for batch 4"), std::string::npos);
  auto missing = good;
  missing["nodes"].erase(missing["nodes"].begin());
  EXPECT_NE(refusal(*r.graph, missing.dump()).find("has no time for node '"), std::string::npos);
  auto unknown = good;
  unknown["nodes"][0]["node"] = "gone#7";
  EXPECT_NE(refusal(*r.graph, unknown.dump()).find("node 'gone#7' is not a computing node"), std::string::npos);
  auto negative = good;
  negative["nodes"][1]["forward_seconds"] = -1;
  EXPECT_NE(refusal(*r.graph, negative.dump()).find("nodes[1].forward_seconds"), std::string::npos);
  auto twice = good;
  twice["nodes"].push_back(twice["nodes"][0]);
  EXPECT_NE(refusal(*r.graph, twice.dump()).find("appears twice"), std::string::npos);
  EXPECT_EQ(refusal(*r.graph, good.dump()), "");
  try {
    load_cost_profile("/nonexistent/profile.json", *r.graph);
    ADD_FAILURE() << "no error";
  } catch (const UserError& e) {
    EXPECT_NE(e.diagnostic().message.find("cannot read"), std::string::npos);
  }
}

// Measured times where the registry's "cheap" ops are the slow ones (as batch norm and ReLU are on a
// CPU): the solver follows the measurement and still dominates every fixed policy in the unit it uses.
TEST(CostProfile, TheSolverMinimisesMeasuredTime) {
  Residual r = residual_chain(12, 256);
  PlanOptions o;
  o.costs = load_cost_profile(
      write_file("slow_relu.json",
                 profile_of(*r.graph, [](const ir::Node& n) { return n.op == "relu" ? 1e-3 : 1e-6; }).dump()),
      *r.graph);
  Frontier f = plan_frontier(r.graph, o);
  ASSERT_EQ(f.fixed.size(), 4u);
  for (const FrontierPoint& fx : f.fixed) {
    EXPECT_EQ(fx.cost_unit, "ns");
    const FrontierPoint* p = pick_for_budget(f, fx.total_peak);
    ASSERT_NE(p, nullptr);
    EXPECT_LE(p->recompute_cost, fx.recompute_cost) << fx.policy;
  }
  // In time, drop-cheap recomputes every slow ReLU: the frontier at its size costs far less.
  const FrontierPoint& cheap = f.fixed[1];
  const FrontierPoint* at = pick_for_budget(f, cheap.total_peak);
  EXPECT_LT(at->recompute_cost, cheap.recompute_cost / 2) << cheap.recompute_cost;
  // A plan built with the costs reports them, and its FLOPs stay FLOPs.
  PlanRequest req;
  req.memory_budget = cheap.total_peak;
  req.options = o;
  const Plan plan = plan_model(r.graph, req);
  EXPECT_TRUE(sound(plan));
  EXPECT_STREQ(plan.cost_unit(), "ns");
  EXPECT_EQ(plan.recompute_cost, at->recompute_cost);
  int64_t relu_ns = 0;
  for (const auto& s : plan.steps)
    if (s.kind == StepKind::Recompute && r.graph->node(s.node).op == "relu") relu_ns += 1000000;
  EXPECT_LE(relu_ns, plan.recompute_cost);
  PlanRequest flops_req = req;
  flops_req.options.costs = nullptr;
  EXPECT_STREQ(plan_model(r.graph, flops_req).cost_unit(), "flop-eq");
  flops_req.options.cost_model = CostModel::Flops;
  EXPECT_STREQ(plan_model(r.graph, flops_req).cost_unit(), "flops");
}

// Without a profile the default costs every node its FLOPs plus 10 per byte it reads and writes, so a
// ReLU (one FLOP per element, eight bytes moved) is no longer nearly free beside a matmul; "flops"
// restores the FLOP count, and both names work where a profile path does.
TEST(CostProfile, TrafficIsTheDefaultAndFlopsAnOption) {
  Residual r = residual_chain(6, 256);
  const GraphCosts traffic = graph_costs(*r.graph, {});
  PlanOptions fo;
  apply_costs(fo, "flops", *r.graph);
  EXPECT_EQ(fo.cost_model, CostModel::Flops);
  const GraphCosts flops = graph_costs(*r.graph, fo);
  int checked = 0;
  for (const auto& n : r.graph->nodes()) {
    if (n.def->is_source || !n.def->cost) continue;
    std::vector<ir::TensorType> ins;
    for (const auto& in : n.inputs) ins.push_back(r.graph->type(in));
    const ir::Cost c = n.def->cost(ins, n.outputs, n.attrs);
    EXPECT_EQ(traffic.cost[n.id], c.flops + kTrafficFlopsPerByte * c.bytes) << n.name;
    EXPECT_EQ(flops.cost[n.id], c.flops) << n.name;
    if (n.op == "relu") {
      EXPECT_GT(traffic.cost[n.id], 10 * c.flops) << n.name;
    }
    ++checked;
  }
  EXPECT_GT(checked, 10);
  PlanOptions to;
  apply_costs(to, "traffic", *r.graph);
  EXPECT_EQ(to.cost_model, CostModel::Traffic);
  EXPECT_EQ(to.costs, nullptr);
  EXPECT_TRUE(is_cost_model_name("flops") && is_cost_model_name("traffic") && !is_cost_model_name("run/profile.json"));
  // On a ResNet drop-cheap recomputes batch norms and ReLUs: a few percent of the FLOPs, far more of
  // the traffic.
  const auto resnet = example("resnet_cifar.snet", 4, {{"depth", "20"}});
  PlanRequest cheap;
  cheap.policy = Policy::DropCheap;
  const Plan by_traffic = plan_model(resnet, cheap);
  cheap.options = fo;
  const Plan by_flops = plan_model(resnet, cheap);
  EXPECT_LT(by_flops.extra_forward_ratio(), 0.1);
  EXPECT_EQ(by_traffic.recompute_flops, by_flops.recompute_flops);
  EXPECT_GT(by_traffic.extra_forward_ratio(), 2 * by_flops.extra_forward_ratio());
}

}  // namespace
}  // namespace sublinear::planner
