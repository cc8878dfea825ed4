// The paper's promise, checked bitwise on the CPU: recomputation, in-place folding and sharing change
// where values live and how often they are computed, never what is computed. For every example model
// at a small size, losses, parameter gradients, weights after several optimizer steps and batch-norm
// running statistics are bitwise equal under every strategy; and the arena the executor measures is
// exactly the arena the plan promised.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "ir/fusion.h"
#include "planner/plan_validator.h"
#include "planner/scheduler.h"
#include "runtime/cpu/cpu_kernels.h"
#include "runtime/optimizer.h"
#include "tests/runtime/runtime_test_util.h"

namespace sublinear::testing {
namespace {

struct RunResult {
  std::vector<uint32_t> losses;                  // bit patterns
  std::vector<std::vector<float>> grads;         // per param, after the last step
  std::vector<std::vector<float>> weights;       // per param (running statistics included), at the end
  int64_t planned_arena = 0, measured_arena = 0, canary_arena = 0;
  int32_t recomputed = 0;
  int32_t early = 0;  // nodes the plan recomputes ahead of need (Plan::early_at)
};

RunResult train_plan(std::shared_ptr<const ir::Graph> g, std::shared_ptr<const planner::Plan> plan, int steps) {
  runtime::ExecutorOptions eo;
  eo.seed = 7;
  runtime::Executor ex(plan, runtime::cpu::cpu_kernels(), eo);
  ex.init_params();
  auto specs = runtime::data::input_specs(*g);
  runtime::train::OptimizerConfig oc;
  oc.kind = runtime::train::OptimizerKind::Sgd;
  oc.momentum = 0.9;
  oc.nesterov = true;
  oc.weight_decay = 1e-4;
  std::vector<std::vector<float>> momentum;
  for (const auto& p : ex.params()) momentum.emplace_back(p.trainable ? ir::num_elements(p.type.shape) : 0, 0.0f);
  RunResult r;
  for (int step = 0; step < steps; ++step) {
    fill_inputs(specs, ex.inputs(), step);
    ex.run_step(step);
    float loss = ex.loss();
    uint32_t bits;
    std::memcpy(&bits, &loss, 4);
    r.losses.push_back(bits);
    std::vector<runtime::train::ParamSlot> slots;
    for (size_t i = 0; i < ex.params().size(); ++i) {
      auto& p = ex.params()[i];
      if (!p.trainable || !p.has_grad) continue;
      runtime::train::ParamSlot s;
      s.w = p.data;
      s.g = p.grad;
      s.state0 = momentum[i].data();
      s.n = ir::num_elements(p.type.shape);
      s.decay = true;
      slots.push_back(s);
    }
    runtime::train::optimizer_step(oc, 0.05, step, slots);
  }
  for (const auto& p : ex.params()) {
    const int64_t n = ir::num_elements(p.type.shape);
    r.weights.emplace_back(p.data, p.data + n);
    r.grads.emplace_back(p.grad ? std::vector<float>(p.grad, p.grad + n) : std::vector<float>{});
  }
  r.planned_arena = plan->feature_map_peak_bytes;
  r.measured_arena = ex.arena_peak_bytes();
  r.canary_arena = ex.arena_canary_peak_bytes();
  r.recomputed = plan->recomputed_nodes;
  r.early = static_cast<int32_t>(
      std::count_if(plan->early_at.begin(), plan->early_at.end(), [](ir::NodeId t) { return t >= 0; }));
  return r;
}

RunResult train_steps(std::shared_ptr<const ir::Graph> g, const planner::PlanRequest& req, int steps) {
  return train_plan(g, std::make_shared<const planner::Plan>(planner::plan_model(g, req)), steps);
}

bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  // memcmp's pointers must not be null, even for no bytes: an empty vector's data() may be.
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// `got` trained bitwise like `want` (losses, weights with running statistics, gradients), and its arena is
// exactly what its plan said, for the views handed to kernels and for the highest byte written.
void expect_same_training(const RunResult& got, const RunResult& want, const ir::Graph& g) {
  EXPECT_EQ(got.losses, want.losses);
  ASSERT_EQ(got.weights.size(), want.weights.size());
  for (size_t i = 0; i < got.weights.size(); ++i) {
    EXPECT_TRUE(bitwise_equal(got.weights[i], want.weights[i])) << "parameter " << g.node(g.params()[i]).name;
    EXPECT_TRUE(bitwise_equal(got.grads[i], want.grads[i])) << "gradient of " << g.node(g.params()[i]).name;
  }
  EXPECT_EQ(got.measured_arena, got.planned_arena) << "arena views handed to kernels";
  EXPECT_EQ(got.canary_arena, got.planned_arena) << "highest arena byte written";
}

class StrategiesTest : public ::testing::TestWithParam<ModelCase> {};

TEST_P(StrategiesTest, BitwiseEqualAcrossStrategies) {
  const ModelCase& c = GetParam();
  auto g = load_case(c);
  auto strategies = all_strategies();
  // A budget between sqrt and keeping everything: the planner must pick something in between.
  {
    planner::PlanRequest keep = strategies[2].request, sq = strategies[4].request;
    const int64_t hi = planner::plan_model(g, keep).total_peak_bytes();
    const int64_t lo = planner::plan_model(g, sq).total_peak_bytes();
    planner::PlanRequest b = keep;
    b.memory_budget = lo + (hi - lo) / 2;
    strategies.push_back({"budget", b});
    // The smallest plan the solver has: where it recomputes most.
    b.memory_budget = planner::plan_frontier(g, keep.options).points.front().total_peak_bytes();
    strategies.push_back({"smallest budget", b});
  }
  const int kSteps = 3;
  RunResult ref = train_steps(g, strategies[0].request, kSteps);
  int32_t max_recomputed = 0;
  for (size_t s = 0; s < strategies.size(); ++s) {
    SCOPED_TRACE(c.name + " under " + strategies[s].label);
    RunResult r = s == 0 ? ref : train_steps(g, strategies[s].request, kSteps);
    max_recomputed = std::max(max_recomputed, r.recomputed);
    expect_same_training(r, ref, *g);
  }
  // The comparison means something only if some strategy recomputed.
  EXPECT_GT(max_recomputed, 0);
  // Training moved the weights and the loss is finite.
  for (uint32_t bits : ref.losses) {
    float l;
    std::memcpy(&l, &bits, 4);
    EXPECT_TRUE(std::isfinite(l));
  }
}

// Recomputing ahead of need (Plan::early_at) moves recompute steps, never changes them: sqrt's plan with
// every recomputed node's first recomputation moved two backward steps earlier trains bitwise like sqrt's
// own, and its arena is still exactly what the plan says.
TEST_P(StrategiesTest, RecomputingEarlierChangesNoBit) {
  const ModelCase& c = GetParam();
  auto g = load_case(c);
  planner::PlanRequest sq = all_strategies()[4].request;
  const planner::Plan lazy = planner::plan_model(g, sq);
  std::vector<ir::NodeId> backward, early(g->size(), -1);
  std::vector<char> seen(g->size(), 0);
  for (const auto& st : lazy.steps) {
    if (st.kind == planner::StepKind::Backward) backward.push_back(st.node);
    if (st.kind != planner::StepKind::Recompute || seen[st.node]) continue;
    seen[st.node] = 1;
    if (backward.size() >= 2) early[st.node] = backward[backward.size() - 2];
  }
  auto moved = std::make_shared<const planner::Plan>(planner::build_plan(g, lazy.mirror, sq.options, "early", early));
  ASSERT_TRUE(planner::validate_plan(*moved).empty());
  const int kSteps = 3;
  const RunResult ref = train_plan(g, std::make_shared<const planner::Plan>(lazy), kSteps);
  const RunResult r = train_plan(g, moved, kSteps);
  if (r.early == 0) GTEST_SKIP() << c.name << ": sqrt recomputes nothing two backward steps in";
  // The recompute steps did move.
  auto sequence = [](const planner::Plan& p) {
    std::vector<std::pair<planner::StepKind, ir::NodeId>> out;
    for (const auto& st : p.steps) out.emplace_back(st.kind, st.node);
    return out;
  };
  EXPECT_NE(sequence(*moved), sequence(lazy));
  std::printf("  %s: %d nodes recomputed ahead of need, arena %lld B (lazily %lld B)\n", c.name.c_str(), r.early,
              static_cast<long long>(r.planned_arena), static_cast<long long>(ref.planned_arena));
  EXPECT_EQ(r.recomputed, ref.recomputed);
  expect_same_training(r, ref, *g);
}

// Fusion (ir/fusion.h) replaces batch_norm + relu by one node doing the same arithmetic: under every
// recomputing strategy, training the fused graph is bitwise training the graph as written (dropout masks
// included: cnn has dropout after a fused pair), and the fused plan's arena is still exactly measured.
TEST_P(StrategiesTest, FusionChangesNoBit) {
  const ModelCase& c = GetParam();
  auto g = load_case(c);
  ir::FusionReport rep;
  auto fused = std::make_shared<const ir::Graph>(ir::fuse_ops(*g, {}, &rep));
  if (rep.total() == 0) GTEST_SKIP() << c.name << " has nothing to fuse";
  ASSERT_LT(fused->size(), g->size());
  const auto strategies = all_strategies();
  for (size_t s : {size_t{2}, size_t{3}, size_t{4}}) {
    SCOPED_TRACE(c.name + " under " + strategies[s].label);
    const RunResult want = train_steps(g, strategies[s].request, 3);
    const RunResult got = train_steps(fused, strategies[s].request, 3);
    expect_same_training(got, want, *g);
  }
}

// The fused LSTM tail at a width where the kernels' vector loops and their scalar tails both run (37),
// two layers, seven steps: bitwise the unfused cell under none, drop-cheap and sqrt.
TEST(Fusion, WideLstmTrainsBitwiseLikeTheUnfusedCell) {
  ModelCase c{"lstm37", "examples/lstm.snet",
              {{"layers", "2"}, {"hidden", "37"}, {"seq_len", "7"}, {"classes", "9"}, {"input_dim", "5"}}, 3};
  auto g = load_case(c);
  ir::FusionReport rep;
  auto fused = std::make_shared<const ir::Graph>(ir::fuse_ops(*g, {}, &rep));
  ASSERT_EQ(rep.lstm_cell, 14);
  const auto strategies = all_strategies();
  for (size_t s : {size_t{2}, size_t{3}, size_t{4}}) {
    SCOPED_TRACE(strategies[s].label);
    const RunResult want = train_steps(g, strategies[s].request, 3);
    const RunResult got = train_steps(fused, strategies[s].request, 3);
    EXPECT_EQ(got.losses, want.losses);
    for (size_t i = 0; i < got.weights.size(); ++i) {
      EXPECT_TRUE(bitwise_equal(got.weights[i], want.weights[i])) << g->node(g->params()[i]).name;
      EXPECT_TRUE(bitwise_equal(got.grads[i], want.grads[i])) << g->node(g->params()[i]).name;
    }
    EXPECT_EQ(got.measured_arena, got.planned_arena);
  }
  // Keeping everything, the fused plan keeps less: no activated gates, tanh(c') or split copies.
  EXPECT_LT(planner::plan_model(fused, strategies[2].request).feature_map_peak_bytes,
            planner::plan_model(g, strategies[2].request).feature_map_peak_bytes);
}

// The fused attention op against the same GPT written with matmul, causal_mask and softmax: same
// parameters (the fused model has no extra ones), losses and weights after a few steps agree to float
// rounding, while the fused plan keeps no score matrices.
TEST(FusedAttention, TrainsLikeTheUnfusedComposition) {
  ModelCase fused, unfused;
  for (const auto& c : small_example_models()) {
    if (c.name == "gpt") fused = c;
    if (c.name == "gpt_unfused") unfused = c;
  }
  auto gf = load_case(fused), gu = load_case(unfused);
  ASSERT_EQ(gf->params().size(), gu->params().size());
  planner::PlanRequest req = all_strategies()[2].request;
  RunResult a = train_steps(gf, req, 4), b = train_steps(gu, req, 4);
  ASSERT_EQ(a.losses.size(), b.losses.size());
  for (size_t s = 0; s < a.losses.size(); ++s) {
    float la, lb;
    std::memcpy(&la, &a.losses[s], 4);
    std::memcpy(&lb, &b.losses[s], 4);
    EXPECT_NEAR(la, lb, 2e-5 * std::abs(lb)) << "step " << s;
  }
  for (size_t i = 0; i < a.weights.size(); ++i)
    for (size_t j = 0; j < a.weights[i].size(); ++j)
      ASSERT_NEAR(a.weights[i][j], b.weights[i][j], 1e-5) << gf->node(gf->params()[i]).name << "[" << j << "]";
  // At a context where the scores matter (64 positions, 16 wide), the fused plan is smaller.
  for (auto* c : {&fused, &unfused})
    for (auto& [k, v] : c->sets)
      if (k == "seq_len") v = "64";
  EXPECT_LT(planner::plan_model(load_case(fused), req).feature_map_peak_bytes,
            planner::plan_model(load_case(unfused), req).feature_map_peak_bytes);
}

INSTANTIATE_TEST_SUITE_P(Examples, StrategiesTest, ::testing::ValuesIn(small_example_models()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace sublinear::testing
