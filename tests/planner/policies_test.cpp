// Recompute policies: split candidates, annotations as hard constraints, the growth of the sqrt and log
// plans with depth, the memory budget, the paper's five strategies in order on a small ResNet, and
// parse_size. Every plan is checked by validate_plan.
#include "planner/policies.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "planner_test_util.h"

namespace sublinear::planner {
namespace {

using namespace ptest;

// The diagnostics of a user error, whether thrown alone or collected.
template <typename F>
std::vector<Diagnostic> user_errors(F&& f) {
  try {
    f();
  } catch (const UserErrors& e) {
    return e.diagnostics();
  } catch (const UserError& e) {
    return {e.diagnostic()};
  }
  return {};
}

// ---- split candidates ----------------------------------------------------------------------------------

TEST(SplitCandidates, PlainChainEveryNodeButTheLoss) {
  Chain c = chain(10);
  std::vector<ir::NodeId> want{c.h0};
  want.insert(want.end(), c.layers.begin(), c.layers.end());
  EXPECT_EQ(split_candidates(*c.graph), want);
}

TEST(SplitCandidates, ResidualChainUnitOutputsNotBranchNodes) {
  Residual r = residual_chain(8);
  auto cands = split_candidates(*r.graph);
  for (ir::NodeId u : r.unit_outputs)
    EXPECT_NE(std::find(cands.begin(), cands.end(), u), cands.end()) << r.graph->node(u).name;
  for (ir::NodeId u : r.internal)
    EXPECT_EQ(std::find(cands.begin(), cands.end(), u), cands.end()) << r.graph->node(u).name;
  EXPECT_TRUE(std::is_sorted(cands.begin(), cands.end()));
}

// ---- annotations ---------------------------------------------------------------------------------------

const char* kAnnotated = R"(snet 1;
model annotated(x: f32[N, 64]) -> (loss) {
  h = linear(x, units=64);
  @checkpoint a = relu(h);
  b = relu(linear(a, units=64));
  @recompute c = tanh(linear(b, units=64));
  d = relu(c);
  loss = mean(d);
}
)";

TEST(PolicyAnnotations, AreHardConstraintsForEveryPolicy) {
  auto g = load(kAnnotated, 4);
  ASSERT_TRUE(g);
  std::vector<ir::NodeId> keep, drop;
  for (const auto& n : g->nodes()) {
    if (n.annotation == ir::Annotation::Checkpoint) keep.push_back(n.id);
    if (n.annotation == ir::Annotation::Recompute && !n.def->is_source) drop.push_back(n.id);
  }
  ASSERT_EQ(keep.size(), 1u);  // the relu (cheap: drop-cheap would drop it)
  ASSERT_EQ(drop.size(), 2u);  // the linear and the tanh (none would keep them)
  std::vector<Plan> plans;
  for (Policy p : {Policy::None, Policy::DropCheap, Policy::Sqrt, Policy::Log}) plans.push_back(run(g, p));
  plans.push_back(run_budget(g, int64_t{1} << 40));  // any plan fits: the least recompute wins
  for (const Plan& p : plans) {
    ASSERT_TRUE(sound(p));
    for (ir::NodeId n : keep) {
      EXPECT_EQ(p.mirror[n], 0) << p.policy;
      EXPECT_EQ(count_steps(p, StepKind::Recompute, n), 0) << p.policy;
    }
    for (ir::NodeId n : drop) EXPECT_GE(p.mirror[n], 1) << p.policy << " " << g->node(n).name;
    // tanh's backward reads its output, so it is recomputed, from its recomputed input.
    EXPECT_EQ(count_steps(p, StepKind::Recompute, drop[1]), 1) << p.policy;
    EXPECT_EQ(count_steps(p, StepKind::Recompute, drop[0]), 1) << p.policy;
  }
  EXPECT_EQ(plans[0].recomputed_nodes, 2);
  EXPECT_EQ(plans[4].recomputed_nodes, 2);
}

TEST(PolicyAnnotations, RecomputeOnTheLossIsAUserErrorAtTheAnnotation) {
  std::string text = kAnnotated;
  text.replace(text.find("  loss = "), 9, "  @recompute loss = ");
  auto g = load(text, 4);
  ASSERT_TRUE(g);
  for (Policy p : {Policy::None, Policy::Sqrt}) {
    auto diags = user_errors([&] { run(g, p); });
    ASSERT_EQ(diags.size(), 1u);
    EXPECT_EQ(diags[0].span.loc.str(), "test.snet:8:3") << diags[0].message;
    EXPECT_NE(diags[0].message.find("@recompute"), std::string::npos) << diags[0].message;
    EXPECT_NE(diags[0].message.find("model output 'loss'"), std::string::npos) << diags[0].message;
  }
  EXPECT_EQ(user_errors([&] { run_budget(g, int64_t{1} << 40); }).size(), 1u);
}

// ---- scaling -----------------------------------------------------------------------------------------

struct Scaling {
  Plan none, sqrt, log;
};

Scaling scaling(int n) {
  Chain c = chain(n);
  Scaling s{run(c.graph, Policy::None), run(c.graph, Policy::Sqrt), run(c.graph, Policy::Log)};
  for (const Plan* p : {&s.none, &s.sqrt, &s.log}) EXPECT_TRUE(sound(*p)) << n;
  return s;
}

const std::vector<Scaling>& scalings() {  // chains of 64, 256 and 1024 relus, shared by the tests below
  static const std::vector<Scaling> s = {scaling(64), scaling(256), scaling(1024)};
  return s;
}

double ratio(int64_t a, int64_t b) { return static_cast<double>(a) / static_cast<double>(b); }

TEST(PolicyScaling, SqrtGrowsLikeTheSquareRootNoneLinearly) {
  const auto& s = scalings();
  for (size_t i = 0; i + 1 < s.size(); ++i) {
    const double sq = ratio(s[i + 1].sqrt.feature_map_peak_bytes, s[i].sqrt.feature_map_peak_bytes);
    const double no = ratio(s[i + 1].none.feature_map_peak_bytes, s[i].none.feature_map_peak_bytes);
    EXPECT_GE(sq, 1.5) << "depth x4 from step " << i;
    EXPECT_LE(sq, 2.8) << "depth x4 from step " << i;
    EXPECT_GT(no, 3.5) << "depth x4 from step " << i;
  }
  for (const auto& x : s) {
    EXPECT_LE(x.sqrt.extra_forward_ratio(), 1.0 + 1e-9);
    EXPECT_GT(x.sqrt.extra_forward_ratio(), 0.5);
    EXPECT_LT(x.sqrt.feature_map_peak_bytes, x.none.feature_map_peak_bytes);
  }
  // 1024 relus of 1 KiB: none keeps all of them; sqrt about 2 sqrt(n) of them.
  EXPECT_GT(s[2].none.feature_map_peak_bytes, 1024 * 1024);
  EXPECT_LT(s[2].sqrt.feature_map_peak_bytes, 4 * 32 * 1024);
}

TEST(PolicyScaling, LogGrowsFarLessThanSqrt) {
  const auto& s = scalings();
  const double grow = ratio(s[2].log.feature_map_peak_bytes, s[0].log.feature_map_peak_bytes);
  EXPECT_LT(grow, 2.5);
  EXPECT_LT(grow, ratio(s[2].sqrt.feature_map_peak_bytes, s[0].sqrt.feature_map_peak_bytes));
  EXPECT_LT(s[2].log.feature_map_peak_bytes, s[2].sqrt.feature_map_peak_bytes);
  // Extra forward work ~ log2(n): each level of the bisection recomputes about half a forward pass (a
  // pass stops at the last node it keeps), so 4x the depth (two more levels) adds about one.
  const int ns[] = {64, 256, 1024};
  for (size_t i = 0; i < s.size(); ++i) {
    const double lg = std::log2(static_cast<double>(ns[i]));
    EXPECT_GE(s[i].log.extra_forward_ratio(), 0.3 * lg) << ns[i];
    EXPECT_LE(s[i].log.extra_forward_ratio(), lg + 1.0) << ns[i];
    if (i == 0) continue;
    const double step = s[i].log.extra_forward_ratio() - s[i - 1].log.extra_forward_ratio();
    EXPECT_GT(step, 0.5) << ns[i];
    EXPECT_LT(step, 2.0) << ns[i];
  }
}

// ---- memory budget -------------------------------------------------------------------------------------

// Parses the size human_bytes printed after `key` ("needs 1.23 MiB in total") back to bytes.
int64_t size_after(const std::string& msg, const std::string& key) {
  size_t at = msg.find(key);
  if (at == std::string::npos) return -1;
  double v = 0;
  char unit[8] = {};
  if (std::sscanf(msg.c_str() + at + key.size(), "%lf %7s", &v, unit) != 2) return -1;
  const std::string u = unit;
  double mult = u == "B" ? 1 : u == "KiB" ? 1024.0 : u == "MiB" ? 1048576.0 : u == "GiB" ? 1073741824.0 : -1;
  return mult < 0 ? -1 : static_cast<int64_t>(v * mult);
}

TEST(PolicyBudget, PicksTheLeastRecomputeThatFits) {
  Residual r = residual_chain(48, 256);
  std::vector<Plan> fixed;
  for (Policy p : {Policy::None, Policy::DropCheap, Policy::Sqrt, Policy::Log}) fixed.push_back(run(r.graph, p));
  int64_t lo = INT64_MAX, hi = 0;
  for (const Plan& p : fixed) {
    ASSERT_TRUE(sound(p));
    lo = std::min(lo, p.total_peak_bytes());
    hi = std::max(hi, p.total_peak_bytes());
  }
  ASSERT_LT(lo, hi);
  for (int64_t budget : {hi, (lo + hi) / 2, fixed[2].total_peak_bytes(), lo}) {
    Plan p = run_budget(r.graph, budget);
    ASSERT_TRUE(sound(p));
    EXPECT_EQ(p.policy.rfind("budget(", 0), 0u) << p.policy;
    EXPECT_LE(p.total_peak_bytes(), budget);
    for (const Plan& f : fixed) {
      if (f.total_peak_bytes() <= budget) {
        EXPECT_LE(p.recompute_flops, f.recompute_flops) << f.policy << " fits";
      }
    }
  }
  EXPECT_EQ(run_budget(r.graph, hi).recompute_flops, 0);  // keeping everything fits
}

TEST(PolicyBudget, ImpossibleBudgetSaysTheSmallestPeak) {
  Residual r = residual_chain(48, 256);
  auto diags = user_errors([&] { run_budget(r.graph, 4096); });
  ASSERT_EQ(diags.size(), 1u);
  const std::string& msg = diags[0].message;
  EXPECT_NE(msg.find("--memory-budget 4.00 KiB cannot be met"), std::string::npos) << msg;
  const int64_t smallest = size_after(msg, ") needs ");
  ASSERT_GT(smallest, 0) << msg;
  // No policy does better than the smallest plan named, and that size (rounded up) is feasible.
  for (Policy pol : {Policy::None, Policy::DropCheap, Policy::Sqrt, Policy::Log})
    EXPECT_LE(smallest, run(r.graph, pol).total_peak_bytes() * 1.005) << policy_name(pol);
  Plan p = run_budget(r.graph, smallest + smallest / 100);
  EXPECT_TRUE(sound(p));
  EXPECT_TRUE(user_errors([&] { run_budget(r.graph, smallest - smallest / 100); }).size() == 1u);
}

// ---- the paper's strategies on a small ResNet -----------------------------------------------------------

TEST(PolicyStrategies, FiveStrategiesOfThePaperInOrderOnResNet) {
  std::ifstream in(source_dir() + "/examples/resnet_cifar.snet");
  ASSERT_TRUE(in) << source_dir();
  std::stringstream text;
  text << in.rdbuf();
  auto g = load(text.str(), 8, {{"depth", "20"}}, "resnet_cifar.snet");
  ASSERT_TRUE(g);
  PlanOptions bare, no_sharing;
  bare.inplace = bare.sharing = false;
  no_sharing.sharing = false;
  std::vector<Plan> plans = {run(g, Policy::None, bare), run(g, Policy::None, no_sharing), run(g, Policy::None),
                             run(g, Policy::DropCheap), run(g, Policy::Sqrt)};
  std::string table;
  for (const Plan& p : plans) {
    ASSERT_TRUE(sound(p));
    table += p.policy + (p.options.inplace ? "+inplace" : "") + (p.options.sharing ? "+sharing" : "") + " " +
             std::to_string(p.feature_map_peak_bytes) + "\n";
  }
  // Each strategy strictly improves on the previous one, even on this shallow net (at depth 20, batch 8:
  // 94 MiB, 56 MiB, 25 MiB, 17 MiB, 12 MiB). In-place and sharing alone cut memory more than 3x.
  for (size_t i = 1; i < plans.size(); ++i)
    EXPECT_LT(plans[i].feature_map_peak_bytes, plans[i - 1].feature_map_peak_bytes) << table;
  EXPECT_GT(ratio(plans[0].feature_map_peak_bytes, plans[2].feature_map_peak_bytes), 3.0) << table;
  EXPECT_EQ(plans[2].recompute_flops, 0);
  EXPECT_LE(plans[4].extra_forward_ratio(), 1.0 + 1e-9);
}

// ---- parse_size --------------------------------------------------------------------------------------------

TEST(ParseSize, UnitsAndErrors) {
  EXPECT_EQ(parse_size("6GiB", "--memory-budget"), int64_t{6} << 30);
  EXPECT_EQ(parse_size("512MiB", "--memory-budget"), int64_t{512} << 20);
  EXPECT_EQ(parse_size("1.5GB", "--memory-budget"), int64_t{1500000000});
  EXPECT_EQ(parse_size("1000", "--memory-budget"), 1000);
  EXPECT_EQ(parse_size("1000000B", "--memory-budget"), 1000000);
  EXPECT_EQ(parse_size("64KiB", "--memory-budget"), 65536);
  EXPECT_EQ(parse_size("2TB", "--memory-budget"), int64_t{2000000000000});
  for (const char* bad : {"", "GiB", "abc", "-1GiB", "0", "6 GiB", "6gib", "12XB", "1.5.3GB", "nan", "inf",
                          "1e30GiB", "0.25"}) {
    auto diags = user_errors([&] { parse_size(bad, "--memory-budget"); });
    ASSERT_EQ(diags.size(), 1u) << "'" << bad << "' was accepted";
    EXPECT_NE(diags[0].message.find("--memory-budget " + std::string(bad) + ":"), std::string::npos)
        << diags[0].message;
    EXPECT_NE(diags[0].message.find("6GiB"), std::string::npos) << diags[0].message;  // an example
  }
}

}  // namespace
}  // namespace sublinear::planner
