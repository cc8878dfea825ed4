// The budget solver's guarantees: a well-formed frontier of sound plans; dominance over every fixed
// policy (none, drop-cheap, sqrt, log and Algorithm 3 over a sweep of B) on the example models and on
// hand-built dense-block, U-Net and multi-layer RNN graphs; a monotone --memory-budget; and, on graphs
// small enough to enumerate every mirror vector, recomputation within 5% of the true optimum.
#include "planner/budget_solver.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "planner/fixed_policies.h"
#include "planner/frontier_report.h"
#include "planner/frontier_svg.h"
#include "planner/policies.h"
#include "planner/scheduler.h"
#include "ir/format_util.h"
#include "planner_test_util.h"

namespace sublinear::planner {
namespace {

using namespace ptest;

// ---- the frontier's shape and soundness ------------------------------------------------------------------

::testing::AssertionResult well_formed(const Frontier& f) {
  if (f.points.empty()) return ::testing::AssertionFailure() << "empty frontier";
  for (size_t i = 0; i < f.points.size(); ++i) {
    const FrontierPoint& p = f.points[i];
    // The full plan is sound and has the figures the search judged it by (build_point checks).
    if (auto r = sound(build_point(f, p)); !r) return r << " (frontier point " << i << ")";
    if (i > 0 && !(p.total_peak_bytes() > f.points[i - 1].total_peak_bytes() &&
                   p.recompute_cost < f.points[i - 1].recompute_cost))
      return ::testing::AssertionFailure() << "points " << i - 1 << " and " << i << " are not Pareto-ordered";
  }
  if (f.fixed.size() != 4) return ::testing::AssertionFailure() << f.fixed.size() << " fixed policies";
  return ::testing::AssertionSuccess();
}

// Every fixed plan that fits a budget recomputes at least as much as the solver's plan for that budget,
// and the solver reaches at least the smallest of their totals.
template <typename P>
::testing::AssertionResult dominates(const Frontier& f, const std::vector<P>& others) {
  int64_t smallest = INT64_MAX;
  for (const P& o : others) {
    smallest = std::min(smallest, o.total_peak_bytes());
    const FrontierPoint* p = pick_for_budget(f, o.total_peak_bytes());
    if (!p) return ::testing::AssertionFailure() << o.policy << " fits " << o.total_peak_bytes() << " B, the solver nothing";
    if (p->recompute_cost > o.recompute_cost)
      return ::testing::AssertionFailure() << "at " << o.total_peak_bytes() << " B " << o.policy << " recomputes "
                                           << o.recompute_cost << " cost, the solver (" << p->policy << ") "
                                           << p->recompute_cost;
  }
  if (f.points.front().total_peak_bytes() > smallest)
    return ::testing::AssertionFailure() << "smallest frontier point " << f.points.front().total_peak_bytes()
                                         << " B, a fixed policy reaches " << smallest << " B";
  return ::testing::AssertionSuccess();
}

// The fixed policies as users run them, and Algorithm 3 over a geometric sweep of B.
std::vector<Plan> fixed_and_sweep(const std::shared_ptr<const ir::Graph>& g) {
  std::vector<Plan> out;
  for (Policy p : {Policy::None, Policy::DropCheap, Policy::Sqrt, Policy::Log}) out.push_back(run(g, p));
  const CutAnalysis cuts = analyse_cuts(*g);
  int64_t total = 0;
  for (int64_t b : cuts.node_bytes) total += b;
  for (int i = 0; i <= 24; ++i) {
    const auto budget = static_cast<int64_t>(static_cast<double>(total) * std::pow(2.0, -i / 2.0));
    out.push_back(build_plan(g, constrain_mirror(*g, algorithm3(*g, cuts, budget).mirror), {}, "alg3"));
  }
  return out;
}

void expect_dominates_everything(const std::shared_ptr<const ir::Graph>& g) {
  ASSERT_TRUE(g);
  Frontier f = plan_frontier(g, {});
  ASSERT_TRUE(well_formed(f));
  EXPECT_TRUE(dominates(f, f.fixed));
  EXPECT_TRUE(dominates(f, fixed_and_sweep(g)));
  EXPECT_EQ(f.points.back().recompute_cost, 0);  // none of these graphs forces recomputation
}

TEST(BudgetSolverDominance, ResNetCifar) { expect_dominates_everything(example("resnet_cifar.snet", 4, {{"depth", "20"}})); }
TEST(BudgetSolverDominance, ImageNetResNet) {
  expect_dominates_everything(example("resnet.snet", 2, {{"depth", "50"}, {"image_size", "64"}}));
}
TEST(BudgetSolverDominance, Mlp) { expect_dominates_everything(example("mlp.snet", 8, {{"layers", "12"}})); }
TEST(BudgetSolverDominance, Cnn) { expect_dominates_everything(example("cnn.snet", 4, {})); }
TEST(BudgetSolverDominance, Lstm) {
  expect_dominates_everything(example("lstm.snet", 4, {{"layers", "2"}, {"hidden", "64"}, {"classes", "50"}, {"seq_len", "12"}}));
}
TEST(BudgetSolverDominance, CharLstm) {
  expect_dominates_everything(
      example("char_lstm.snet", 4, {{"layers", "2"}, {"hidden", "64"}, {"vocab", "40"}, {"seq_len", "10"}}));
}
TEST(BudgetSolverDominance, DenseNet) { expect_dominates_everything(dense_net(3, 6)); }
TEST(BudgetSolverDominance, DenseNetExample) {
  expect_dominates_everything(example("densenet.snet", 2, {{"depth", "40"}, {"growth", "6"}, {"image_size", "16"}}));
}
TEST(BudgetSolverDominance, UNet) { expect_dominates_everything(u_net(4)); }
TEST(BudgetSolverDominance, StackedRnn) { expect_dominates_everything(stacked_rnn(3, 16)); }

TEST(BudgetSolverDominance, AnnotationsHoldOnEveryPoint) {
  auto g = example("annotated.snet", 4, {});
  ASSERT_TRUE(g);
  Frontier f = plan_frontier(g, {});
  ASSERT_TRUE(well_formed(f));
  EXPECT_TRUE(dominates(f, f.fixed));
  for (const FrontierPoint& p : f.points)
    for (const auto& n : g->nodes()) {
      if (n.annotation == ir::Annotation::Checkpoint) {
        EXPECT_EQ(p.mirror[n.id], 0) << n.name;
      }
      if (n.annotation == ir::Annotation::Recompute) {
        EXPECT_GE(p.mirror[n.id], 1) << n.name;
      }
    }
}

// ---- the budget as users give it --------------------------------------------------------------------------

TEST(BudgetSolverMonotone, LargerBudgetNeverRecomputesMore) {
  for (const auto& g : {example("resnet_cifar.snet", 4, {{"depth", "20"}}), dense_net(2, 5), u_net(3)}) {
    ASSERT_TRUE(g);
    Frontier f = plan_frontier(g, {});
    const int64_t lo = f.points.front().total_peak_bytes(), hi = f.points.back().total_peak_bytes();
    int64_t previous = INT64_MAX;
    for (int i = 0; i <= 40; ++i) {
      const int64_t budget = lo + (hi - lo) * i / 40;
      Plan p = run_budget(g, budget);
      EXPECT_LE(p.total_peak_bytes(), budget);
      EXPECT_LE(p.recompute_cost, previous) << g->model_name << " at " << budget << " B";
      previous = p.recompute_cost;
    }
    EXPECT_EQ(previous, 0);
  }
}

// Below every plan but log's and the nested groups' (mirror 2 inside a recomputed group, 1 on its
// sub-groups' ends), the nested plans are far cheaper than log's: before them a budget there fell to
// log's plan (2.7 forward passes here, against 0.79 now).
TEST(BudgetSolverNested, FillsTheGapAboveLog) {
  const auto g = example("resnet_cifar.snet", 8, {{"depth", "56"}});
  ASSERT_TRUE(g);
  const Frontier f = plan_frontier(g, {});
  ASSERT_TRUE(well_formed(f));
  const FrontierPoint& log = f.fixed[3];
  int64_t others_smallest = INT64_MAX;
  bool nested_point = false;
  for (const FrontierPoint& p : f.points) {
    if (p.policy != "log" && p.policy != "nested") others_smallest = std::min(others_smallest, p.total_peak);
    if (p.policy == "nested" && std::find(p.mirror.begin(), p.mirror.end(), 2) != p.mirror.end()) nested_point = true;
  }
  ASSERT_TRUE(nested_point) << "no plan with a nested group on the frontier";
  ASSERT_LT(log.total_peak, others_smallest);
  const FrontierPoint* p = pick_for_budget(f, others_smallest - 1);
  ASSERT_NE(p, nullptr);
  EXPECT_LT(2 * p->recompute_cost, log.recompute_cost)
      << "below the other plans the solver offers " << p->policy << " at " << p->extra_forward_ratio()
      << " of a forward pass, log " << log.extra_forward_ratio();
}

TEST(BudgetSolverMonotone, BudgetPlanIsTheFrontierPoint) {
  auto g = dense_net(2, 4);
  Frontier f = plan_frontier(g, {});
  for (const FrontierPoint& want : f.points) {
    Plan p = run_budget(g, want.total_peak_bytes());
    EXPECT_TRUE(sound(p));
    EXPECT_EQ(p.total_peak_bytes(), want.total_peak_bytes());
    EXPECT_EQ(p.recompute_cost, want.recompute_cost);
    EXPECT_EQ(p.policy, "budget(" + want.policy + ")");
  }
}

// Candidates are placed greedily; the points kept, and the candidates whose live bytes could still join
// the frontier, are re-placed with the order search at the end. On a small dense block the greedy
// orders leave its plans 8% above their live bytes on average: re-placed, the frontier never loses a
// point and recomputes about half as much at sqrt's size.
TEST(BudgetSolverPlacement, FragmentedPlansAreReplacedBeforeTheyAreJudged) {
  const auto g = dense_net(1, 3, 4, 1);
  PlanOptions greedy;
  greedy.placement_search = false;
  const Frontier searched = plan_frontier(g, {}), plain = plan_frontier(g, greedy);
  ASSERT_TRUE(well_formed(searched));
  EXPECT_EQ(searched.plans_built, plain.plans_built);  // the same candidates, placed again at the end
  for (const FrontierPoint& p : plain.points) {
    const FrontierPoint* q = pick_for_budget(searched, p.total_peak_bytes());
    ASSERT_NE(q, nullptr) << p.total_peak_bytes();
    EXPECT_LE(q->recompute_cost, p.recompute_cost) << "at " << p.total_peak_bytes() << " B";
  }
  const int64_t at_sqrt = plain.fixed[2].total_peak_bytes();
  ASSERT_NE(pick_for_budget(plain, at_sqrt), nullptr);
  EXPECT_LT(2 * pick_for_budget(searched, at_sqrt)->recompute_cost, pick_for_budget(plain, at_sqrt)->recompute_cost);
  // Every point is placed within 5% of its live bytes (build_point also checks that the plan built from
  // its mirror vector, with the options' order search, has the point's figures).
  for (const FrontierPoint& p : searched.points) {
    const Plan full = build_point(searched, p);
    EXPECT_LE(full.fragmentation_bytes(), full.live_peak_bytes / 20) << "at " << p.total_peak_bytes() << " B";
  }
}

// ---- what users see ------------------------------------------------------------------------------------------

TEST(BudgetSolverReport, CompareRowsAtTheFixedPoliciesSizes) {
  auto g = example("resnet_cifar.snet", 4, {{"depth", "20"}});
  ASSERT_TRUE(g);
  Frontier f = plan_frontier(g, {});
  std::vector<Plan> rows = plans_at_fixed_totals(f);
  ASSERT_EQ(rows.size(), 3u);
  const FrontierPoint& cheap = f.fixed[1];
  const FrontierPoint& sqrt = f.fixed[2];
  EXPECT_LE(rows[0].total_peak_bytes(), sqrt.total_peak_bytes());
  EXPECT_LE(rows[0].recompute_cost, sqrt.recompute_cost);
  EXPECT_LE(rows[2].total_peak_bytes(), cheap.total_peak_bytes());
  EXPECT_LE(rows[2].recompute_cost, cheap.recompute_cost);
  EXPECT_GE(rows[0].recompute_cost, rows[1].recompute_cost);
  EXPECT_GE(rows[1].recompute_cost, rows[2].recompute_cost);
  EXPECT_EQ(rows[0].policy, "budget " + ir::human_bytes(sqrt.total_peak_bytes()));
  for (const Plan& p : rows) EXPECT_TRUE(sound(p));
}

TEST(BudgetSolverReport, FrontierTableAndJsonListEveryPoint) {
  auto g = u_net(3);
  Frontier f = plan_frontier(g, {});
  const std::string t = format_frontier(f);
  EXPECT_NE(t.find("frontier for unet (batch 16"), std::string::npos) << t;
  EXPECT_NE(t.find(std::to_string(f.points.size()) + " plans on it"), std::string::npos) << t;
  for (const FrontierPoint& p : f.points) EXPECT_NE(t.find(ir::with_commas(p.recompute_cost)), std::string::npos) << t;
  for (const char* policy : {"none", "drop-cheap", "sqrt", "log"}) EXPECT_NE(t.find(policy), std::string::npos);
  const nlohmann::json j = frontier_to_json(f);
  ASSERT_EQ(j["points"].size(), f.points.size());
  for (size_t i = 0; i < f.points.size(); ++i) {
    EXPECT_EQ(j["points"][i]["total_peak_bytes"].get<int64_t>(), f.points[i].total_peak_bytes());
    EXPECT_EQ(j["points"][i]["recompute_cost"].get<int64_t>(), f.points[i].recompute_cost);
  }
  ASSERT_EQ(j["fixed"].size(), 4u);
  for (const auto& row : j["fixed"])
    EXPECT_LE(row["frontier_recompute_cost"].get<int64_t>(), row["recompute_cost"].get<int64_t>()) << row.dump();
}

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

TEST(BudgetSolverReport, FrontierSvgDrawsEveryPointAndPolicy) {
  auto g = dense_net(2, 4);
  Frontier f = plan_frontier(g, {});
  const std::string svg = frontier_svg(f);
  EXPECT_EQ(svg.rfind("<svg ", 0), 0u);
  EXPECT_NE(svg.find("</svg>\n"), std::string::npos);
  EXPECT_EQ(count(svg, "<circle class=\"pt\""), f.points.size());
  EXPECT_EQ(count(svg, "<path class=\"fx\" d=\"M"), f.fixed.size() + 1);  // and the legend's
  EXPECT_EQ(count(svg, "<polyline class=\"stair\""), 1u);
  EXPECT_NE(svg.find("dense, batch 2"), std::string::npos);
  for (const FrontierPoint& p : f.points) EXPECT_NE(svg.find(ir::with_commas(p.recompute_cost) + " " + p.cost_unit), std::string::npos);
  // Every coordinate lies on the page.
  for (const char* attr : {" cx=\"", " cy=\"", " x=\"", " y=\""}) {
    for (size_t at = svg.find(attr); at != std::string::npos; at = svg.find(attr, at + 1)) {
      const double v = std::stod(svg.substr(at + std::string(attr).size()));
      EXPECT_GE(v, 0.0) << svg.substr(at, 40);
      EXPECT_LE(v, 1100.0) << svg.substr(at, 40);
    }
  }
}

// Every family that found a point has a colour and a legend entry (a new search's family would
// otherwise be drawn in the fallback grey and left out), and a legend of many families stays on the page.
TEST(BudgetSolverReport, FrontierSvgNamesEveryFamilyInItsLegend) {
  for (const auto& g : {u_net(2, 64, 8), dense_net(1, 3, 4, 1)}) {
    Frontier f = plan_frontier(g, {});
    const std::string svg = frontier_svg(f);
    std::set<std::string> families;
    for (const FrontierPoint& p : f.points) families.insert(p.policy);
    EXPECT_GE(families.size(), 3u) << g->model_name;
    for (const std::string& name : families) EXPECT_NE(svg.find(">" + name + " ("), std::string::npos) << name;
    EXPECT_EQ(svg.find("#bab0ac"), std::string::npos) << g->model_name << ": a point in the fallback colour";
    // The legend's last entry, at the legend's 6.2 px a character, ends on the page.
    const std::string key = "fixed policy, dashed down to the solver at its size";
    const size_t end = svg.find(">" + key + "<");
    ASSERT_NE(end, std::string::npos);
    const size_t x = svg.rfind(" x=\"", end);
    EXPECT_LE(std::stod(svg.substr(x + 4)) + 6.2 * static_cast<double>(key.size()), 1100.0) << g->model_name;
  }
}

// ---- near-optimality against exhaustive search ------------------------------------------------------------

// The true frontier: every mirror vector with entries up to `depth` on the droppable nodes.
std::map<int64_t, int64_t> exhaustive_frontier(const std::shared_ptr<const ir::Graph>& g, int depth) {
  std::map<int64_t, int64_t> best;  // total -> least recompute at exactly that total
  size_t vectors = 0;
  for_each_mirror(*g, depth, [&](const std::vector<int32_t>& m) {
    if (++vectors == 5001) ADD_FAILURE() << "too many vectors to enumerate";
    Plan p = build_plan(g, m, {}, "exhaustive");
    auto [it, fresh] = best.emplace(p.total_peak_bytes(), p.recompute_cost);
    if (!fresh) it->second = std::min(it->second, p.recompute_cost);
  });
  return best;
}

void expect_near_optimal(const std::shared_ptr<const ir::Graph>& g, int depth) {
  ASSERT_TRUE(g);
  Frontier f = plan_frontier(g, {});
  ASSERT_TRUE(well_formed(f));
  const std::map<int64_t, int64_t> truth = exhaustive_frontier(g, depth);
  EXPECT_LE(f.points.front().total_peak_bytes(), truth.begin()->first) << "the smallest peak there is";
  int64_t optimum = INT64_MAX;
  for (const auto& [total, recompute] : truth) {
    optimum = std::min(optimum, recompute);  // the least recomputation within `total`
    const FrontierPoint* p = pick_for_budget(f, total);
    ASSERT_NE(p, nullptr) << g->model_name << " at " << total << " B";
    EXPECT_LE(static_cast<double>(p->recompute_cost), 1.05 * static_cast<double>(optimum))
        << g->model_name << " at " << total << " B: optimum " << optimum << " cost, solver " << p->recompute_cost;
  }
}

TEST(BudgetSolverOptimality, ChainWithinFivePercentOfExhaustive) { expect_near_optimal(chain(11).graph, 1); }
TEST(BudgetSolverOptimality, ChainTwoDeepWithinFivePercentOfExhaustive) { expect_near_optimal(chain(6).graph, 2); }
TEST(BudgetSolverOptimality, ResidualWithinFivePercentOfExhaustive) { expect_near_optimal(residual_chain(3).graph, 1); }
TEST(BudgetSolverOptimality, DiamondWithinFivePercentOfExhaustive) { expect_near_optimal(diamond().graph, 2); }
TEST(BudgetSolverOptimality, DenseBlockWithinFivePercentOfExhaustive) { expect_near_optimal(dense_net(1, 2, 4, 1), 1); }
TEST(BudgetSolverOptimality, RnnStepsWithinFivePercentOfExhaustive) { expect_near_optimal(stacked_rnn(1, 3, 16, 4), 1); }
TEST(BudgetSolverOptimality, UNetWithinFivePercentOfExhaustive) { expect_near_optimal(u_net(1, 64, 8), 1); }

// A compound change no single or paired move reaches: on a two-level U-Net at 14,080 B the optimum
// (Checkmate's MILP, CheckmateMilp.SolverWithinFivePercentOnAUNet) keeps a skip the descent recomputed,
// drops a decoder output it kept, and recomputes a sum twice. Keeping the skip alone costs 1 KiB more at
// four steps, dropping the output (with its producer) only moves two of them into the recomputation, and
// only the sum's second recomputation then brings the peak back: kick and repair finds it by the bytes
// above the budget over all steps.
TEST(BudgetSolverOptimality, KickAndRepairFindsAUNetsFourChangeSchedule) {
  PlanOptions o;
  o.inplace = false;
  const auto g = u_net(2, 64, 8);
  const Frontier f = solve_frontier(g, analyse_cuts(*g), o);
  const auto at = std::find_if(f.points.begin(), f.points.end(),
                               [](const FrontierPoint& p) { return p.feature_map_peak_bytes == 14080; });
  ASSERT_NE(at, f.points.end());
  EXPECT_EQ(at->recompute_cost, 391168);
  EXPECT_EQ(build_point(f, *at).recompute_cost, 391168);
  // At 12,032 B the same changes with two early triggers, also the MILP's optimum.
  const auto below = std::find_if(f.points.begin(), f.points.end(),
                                  [](const FrontierPoint& p) { return p.feature_map_peak_bytes == 12032; });
  ASSERT_NE(below, f.points.end());
  EXPECT_EQ(below->recompute_cost, 706048);
  // Where the descents stopped before (427,008 at the same bytes), four changes away from the optimum.
  auto by_name = [&](std::initializer_list<std::pair<const char*, int32_t>> depths) {
    std::vector<int32_t> m(g->size(), 0);
    for (const auto& [name, d] : depths) m[static_cast<size_t>(g->find(name)->id)] = d;
    return build_plan(g, m, o, "manual");
  };
  const Plan descent = by_name({{"linear#5", 1}, {"relu#6", 1}, {"linear#7", 1}, {"relu#8", 1}, {"linear#11", 1},
                                {"relu#12", 1}, {"add#13", 1}, {"add#18", 1}});
  const Plan optimum = by_name({{"linear#5", 1}, {"linear#7", 1}, {"relu#8", 1}, {"linear#11", 1}, {"relu#12", 1},
                                {"add#13", 2}, {"add#18", 1}, {"linear#14", 1}, {"tanh#15", 1}});
  EXPECT_EQ(descent.feature_map_peak_bytes, 14080);
  EXPECT_EQ(descent.recompute_cost, 427008);
  EXPECT_EQ(optimum.feature_map_peak_bytes, 14080);
  EXPECT_EQ(optimum.recompute_cost, 391168);
}

// Holding a copy after transient recomputations (an early trigger at a later recomputation): at the dense
// block's two smallest sizes the MILP's optimum recomputes the first convolution transiently for two
// backward steps and then holds it, 6,207,680 at 106,752 B and 5,679,680 at 107,264 B
// (CheckmateMilp.SolverWithinFivePercentOnADenseBlock proves the solver's points). Without CBC: the
// solver is within 5% of those optima there, with a trigger on a node its lazy plan recomputes before
// the trigger's step.
TEST(BudgetSolverOptimality, HeldCopiesReachTheDenseBlocksSmallestOptima) {
  PlanOptions o;
  o.inplace = false;
  const auto g = dense_net(1, 3, 4, 1);
  const Frontier f = solve_frontier(g, analyse_cuts(*g), o);
  for (const auto& [bytes, optimum] : {std::pair<int64_t, int64_t>{106752, 6207680}, {107264, 5679680}}) {
    const FrontierPoint* best = nullptr;
    for (const FrontierPoint& p : f.points)
      if (p.feature_map_peak_bytes <= bytes) best = &p;  // ascending total, descending recompute
    ASSERT_NE(best, nullptr) << bytes;
    EXPECT_LE(static_cast<double>(best->recompute_cost), 1.05 * static_cast<double>(optimum)) << bytes;
    ASSERT_FALSE(best->early_at.empty()) << bytes;
    const Plan lazy = build_plan(g, best->mirror, o, "lazy");
    bool held = false;
    for (size_t v = 0; v < best->early_at.size(); ++v) {
      if (best->early_at[v] < 0) continue;
      for (const PlanStep& st : lazy.steps) {
        if (st.kind == StepKind::Backward && st.node == best->early_at[v]) break;
        held |= st.kind == StepKind::Recompute && st.node == static_cast<ir::NodeId>(v);
      }
    }
    EXPECT_TRUE(held) << bytes << ": no trigger comes after a recomputation of its node";
  }
}

}  // namespace
}  // namespace sublinear::planner
