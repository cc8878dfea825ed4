// build_plan on hand-built graphs, with answers worked out by hand: the steps of a training step, which
// ones fold in place, the arena with and without sharing, minimal backward reads, gradient
// accumulation, lazy recomputation with m = 1 and the recursive scheme with m > 1. Every plan is
// checked by validate_plan.
//
// Sizes: batch 4 x width 64 f32 = 1024 bytes per activation (a multiple of the 256-byte alignment);
// the loss is a scalar (4 bytes, 256 aligned).
#include "planner/scheduler.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "planner_test_util.h"

namespace sublinear::planner {
namespace {

using namespace ptest;

constexpr int64_t kAct = 1024;
constexpr int64_t kLoss = 256;

PlanOptions opts(bool inplace, bool sharing) {
  PlanOptions o;
  o.inplace = inplace;
  o.sharing = sharing;
  return o;
}

Plan plan(const std::shared_ptr<const ir::Graph>& g, std::vector<int32_t> m, PlanOptions o = {}) {
  return build_plan(g, std::move(m), o, "manual");
}

// The value a forward step of `node` writes (output `k`).
ValueId forward_value(const Plan& p, ir::NodeId node, int k = 0) {
  auto s = steps_of(p, StepKind::Forward, node);
  return s.size() == 1 ? s[0]->writes.at(k) : -1;
}

ValueId grad_value(const Plan& p, ir::NodeId node, int k = 0) {
  for (const auto& v : p.values)
    if ((v.kind == ValueKind::Gradient || v.kind == ValueKind::ParamGrad) && v.source.node == node &&
        v.source.index == k)
      return v.id;
  return -1;
}

std::vector<std::pair<StepKind, ir::NodeId>> schedule(const Plan& p) {
  std::vector<std::pair<StepKind, ir::NodeId>> out;
  for (const auto& s : p.steps) out.emplace_back(s.kind, s.node);
  return out;
}

// Lazy recomputation: every copy is read; each run of recompute steps is followed by a backward step
// reading a copy the run wrote, and every copy is first read no later than that step.
::testing::AssertionResult recomputed_lazily(const Plan& p) {
  std::map<ValueId, StepId> first_read;
  for (const auto& s : p.steps) {
    for (ValueId v : s.reads) first_read.emplace(v, s.id);
    for (ValueId v : s.accumulates) first_read.emplace(v, s.id);
  }
  for (size_t i = 0; i < p.steps.size();) {
    if (p.steps[i].kind != StepKind::Recompute) {
      ++i;
      continue;
    }
    size_t j = i;
    std::vector<ValueId> copies;
    for (; j < p.steps.size() && p.steps[j].kind == StepKind::Recompute; ++j)
      copies.insert(copies.end(), p.steps[j].writes.begin(), p.steps[j].writes.end());
    if (j == p.steps.size() || p.steps[j].kind != StepKind::Backward)
      return ::testing::AssertionFailure() << "recompute run at step " << i << " is not followed by a backward step";
    bool feeds = false;
    for (ValueId c : copies) {
      auto it = first_read.find(c);
      if (it == first_read.end()) return ::testing::AssertionFailure() << "copy " << p.values[c].name << " is never read";
      if (it->second > static_cast<StepId>(j))
        return ::testing::AssertionFailure() << "copy " << p.values[c].name << " is first read at step " << it->second
                                             << ", after the backward step " << j << " its run precedes";
      for (ValueId r : p.steps[j].reads) feeds = feeds || r == c;
    }
    if (!feeds) return ::testing::AssertionFailure() << "backward step " << j << " reads nothing its recompute run wrote";
    i = j;
  }
  return ::testing::AssertionSuccess();
}

// ---- keep everything ----------------------------------------------------------------------------------

// x, w -> h0 = add -> r1..r6 relu -> loss = mean. relu's backward reads its output only, so r_k (k >= 1)
// lives until relu_k's backward and cannot be overwritten by relu_{k+1}; h0 is read by relu_1 alone (add's
// backward reads nothing forward), so relu_1 writes r1 over h0. In the backward pass every relu writes
// its input gradient over its output gradient, so the whole gradient chain is one buffer.
//   steps  0 add, 1..6 relu, 7 mean | 8 B mean, 9 B relu6, ..., 14 B relu1, 15 B add
TEST(Scheduler, ReluChainKeepEverythingFoldsInPlaceAndShares) {
  constexpr int n = 6;
  Chain c = chain(n);
  Plan p = plan(c.graph, std::vector<int32_t>(c.graph->size(), 0), opts(true, true));
  ASSERT_TRUE(sound(p));
  ASSERT_EQ(p.steps.size(), 2u * n + 4);
  EXPECT_EQ(count_steps(p, StepKind::Forward), n + 2);
  EXPECT_EQ(count_steps(p, StepKind::Backward), n + 2);
  EXPECT_EQ(count_steps(p, StepKind::Recompute), 0);
  // Forward: only relu_1 folds, over h0.
  for (const auto& s : p.steps) {
    if (s.kind != StepKind::Forward) continue;
    if (s.node == c.layers[0]) {
      ASSERT_EQ(s.inplace.size(), 1u);
      EXPECT_EQ(s.inplace[0], std::make_pair(forward_value(p, c.layers[0]), forward_value(p, c.h0)));
    } else {
      EXPECT_TRUE(s.inplace.empty()) << "forward step " << s.id << " of " << c.graph->node(s.node).name;
    }
  }
  // Backward: each relu folds grad(input) over grad(output); mean and add do not.
  for (int k = 0; k < n; ++k) {
    auto b = steps_of(p, StepKind::Backward, c.layers[k]);
    ASSERT_EQ(b.size(), 1u);
    const ir::NodeId below = k == 0 ? c.h0 : c.layers[k - 1];
    ASSERT_EQ(b[0]->inplace.size(), 1u);
    EXPECT_EQ(b[0]->inplace[0], std::make_pair(grad_value(p, below), grad_value(p, c.layers[k])));
  }
  EXPECT_TRUE(steps_of(p, StepKind::Backward, c.loss)[0]->inplace.empty());
  // Storages: {h0, r1}, r2..r6, loss, the gradient chain. All are live at step 8 (mean's backward).
  EXPECT_EQ(p.storages.size(), static_cast<size_t>(n + 2));
  EXPECT_EQ(p.live_peak_bytes, (n + 1) * kAct + kLoss);
  EXPECT_EQ(p.feature_map_peak_bytes, (n + 1) * kAct + kLoss);
  EXPECT_EQ(p.peak_step, n + 2);
  EXPECT_EQ(p.forward_flops, (n + 2) * 256);  // add, relus and mean: one flop per element of 256
  EXPECT_EQ(p.recompute_flops, 0);

  // Everything overlaps at the peak, so sharing alone gains nothing here.
  Plan no_sharing = plan(c.graph, std::vector<int32_t>(c.graph->size(), 0), opts(true, false));
  ASSERT_TRUE(valid(no_sharing));
  EXPECT_EQ(no_sharing.feature_map_peak_bytes, (n + 1) * kAct + kLoss);

  // Without in-place: 2n + 3 storages (h0, r1..r6, loss, grad(r6)..grad(r1), grad(h0)); each gradient
  // lives two steps. Peak at step 9 (relu_6's backward): r1..r6, loss, grad(r6), grad(r5).
  Plan no_inplace = plan(c.graph, std::vector<int32_t>(c.graph->size(), 0), opts(false, true));
  ASSERT_TRUE(valid(no_inplace));
  EXPECT_EQ(no_inplace.storages.size(), static_cast<size_t>(2 * n + 3));
  for (const auto& s : no_inplace.steps) EXPECT_TRUE(s.inplace.empty());
  EXPECT_EQ(no_inplace.live_peak_bytes, (n + 2) * kAct + kLoss);
  EXPECT_EQ(no_inplace.peak_step, n + 3);
  EXPECT_EQ(no_inplace.feature_map_peak_bytes, (n + 2) * kAct + kLoss);

  Plan neither = plan(c.graph, std::vector<int32_t>(c.graph->size(), 0), opts(false, false));
  ASSERT_TRUE(valid(neither));
  EXPECT_EQ(neither.feature_map_peak_bytes, (2 * n + 2) * kAct + kLoss);
  EXPECT_EQ(neither.live_peak_bytes, (n + 2) * kAct + kLoss);
}

// A value with a second reader cannot be overwritten by its first reader: in the diamond, relu reads h
// before tanh does, so only tanh (h's last reader) folds over h.
TEST(Scheduler, InPlaceOnlyForTheLastReader) {
  Diamond d = diamond();
  Plan p = plan(d.graph, std::vector<int32_t>(d.graph->size(), 0));
  ASSERT_TRUE(sound(p));
  EXPECT_TRUE(steps_of(p, StepKind::Forward, d.a)[0]->inplace.empty());
  auto t = steps_of(p, StepKind::Forward, d.t)[0];
  ASSERT_EQ(t->inplace.size(), 1u);
  EXPECT_EQ(t->inplace[0], std::make_pair(forward_value(p, d.t), forward_value(p, d.h)));
  // c = add(a, t): a and t are read by their own backward steps, so add writes c to fresh bytes.
  EXPECT_TRUE(steps_of(p, StepKind::Forward, d.c)[0]->inplace.empty());
}

// ---- minimal backward dependencies ---------------------------------------------------------------------

TEST(Scheduler, SigmoidBackwardReadsItsOutputAndGradientOnly) {
  GraphBuilder b("sig");
  ir::NodeId x = b.input("x", {4, 64});
  ir::NodeId w = b.param("w", {64});
  ir::NodeId h = b.op("add", {{x, 0}, {w, 0}});
  ir::NodeId s = b.op("sigmoid", h);
  ir::NodeId loss = b.op("mean", s);
  b.output(loss, "loss");
  auto g = b.finish();
  Plan p = plan(g, std::vector<int32_t>(g->size(), 0));
  ASSERT_TRUE(sound(p));
  auto bs = steps_of(p, StepKind::Backward, s);
  ASSERT_EQ(bs.size(), 1u);
  EXPECT_EQ(bs[0]->reads, (std::vector<ValueId>{forward_value(p, s), grad_value(p, s)}));
  EXPECT_EQ(bs[0]->writes, std::vector<ValueId>{grad_value(p, h)});
  // h is not needed by any backward step, so sigmoid writes s over it.
  auto fs = steps_of(p, StepKind::Forward, s);
  ASSERT_EQ(fs[0]->inplace.size(), 1u);
  EXPECT_EQ(fs[0]->inplace[0].second, forward_value(p, h));
  // mean's backward reads nothing: the loss gradient is the constant 1.
  EXPECT_TRUE(steps_of(p, StepKind::Backward, loss)[0]->reads.empty());
}

// batch_norm's backward reads x, gamma and the saved batch statistics (never beta or the running
// statistics); dropout's backward reads only its output gradient (the mask is regenerated).
TEST(Scheduler, BatchNormAndDropoutBackwardReads) {
  GraphBuilder b("bn");
  ir::NodeId x = b.input("x", {4, 8, 4, 4});
  ir::NodeId w = b.param("w", {8, 1, 1});
  ir::NodeId h = b.op("add", {{x, 0}, {w, 0}});
  ir::NodeId bn = b.op("batch_norm", h, {}, "bn");
  ir::NodeId dr = b.op("dropout", bn, {{"rate", 0.25}});
  ir::NodeId loss = b.op("mean", dr);
  b.output(loss, "loss");
  auto g = b.finish();
  const ir::Node& bnn = g->node(bn);
  ASSERT_EQ(bnn.inputs.size(), 5u);  // x, gamma, beta, running_mean, running_var
  for (int mirror : {0, 1}) {
    std::vector<int32_t> m(g->size(), 0);
    m[bn] = m[dr] = m[h] = mirror;
    Plan p = plan(g, m);
    ASSERT_TRUE(sound(p)) << "mirror " << mirror;
    auto bs = steps_of(p, StepKind::Backward, bn);
    ASSERT_EQ(bs.size(), 1u);
    std::vector<std::string> reads;
    for (ValueId v : bs[0]->reads) reads.push_back(p.values[v].name);
    const std::string sfx = mirror ? "@r1" : "";
    EXPECT_EQ(reads, (std::vector<std::string>{"add#1" + sfx, "bn.gamma", "bn:1" + sfx, "bn:2" + sfx, "grad(bn)"}));
    std::vector<std::string> writes;
    for (ValueId v : bs[0]->writes) writes.push_back(p.values[v].name);
    EXPECT_EQ(writes, (std::vector<std::string>{"grad(add#1)", "grad(bn.gamma)", "grad(bn.beta)"}));
    auto ds = steps_of(p, StepKind::Backward, dr);
    ASSERT_EQ(ds.size(), 1u);
    EXPECT_EQ(ds[0]->reads, std::vector<ValueId>{grad_value(p, dr)});
    // Dropout's output is read by nothing backward: with mirror 1 it is not recomputed at all.
    EXPECT_EQ(count_steps(p, StepKind::Recompute, dr), 0);
    EXPECT_EQ(count_steps(p, StepKind::Recompute, bn), mirror);
    EXPECT_EQ(count_steps(p, StepKind::Recompute, h), mirror);
  }
  Plan p = plan(g, std::vector<int32_t>(g->size(), 0));
  EXPECT_EQ(p.gradient_bytes, 4 * 8 + 4 * 8 + 4 * 8);  // w, gamma, beta; not the running statistics
  EXPECT_EQ(p.parameter_bytes, 5 * 4 * 8);
}

// ---- gradient accumulation -------------------------------------------------------------------------------

TEST(Scheduler, TwoReadersGiveOneGradientWrittenOnceAccumulatedOnce) {
  Diamond d = diamond();
  Plan p = plan(d.graph, std::vector<int32_t>(d.graph->size(), 0));
  ASSERT_TRUE(sound(p));
  int grads_of_h = 0;
  for (const auto& v : p.values) grads_of_h += v.kind == ValueKind::Gradient && v.source.node == d.h;
  ASSERT_EQ(grads_of_h, 1);
  const ValueId gh = grad_value(p, d.h);
  std::vector<std::pair<StepKind, ir::NodeId>> writers, accumulators;
  for (const auto& s : p.steps) {
    for (ValueId v : s.writes)
      if (v == gh) writers.emplace_back(s.kind, s.node);
    for (ValueId v : s.accumulates)
      if (v == gh) accumulators.emplace_back(s.kind, s.node);
  }
  // Reverse topological order: tanh (the later reader) writes it, relu adds into it.
  EXPECT_EQ(writers, (std::vector<std::pair<StepKind, ir::NodeId>>{{StepKind::Backward, d.t}}));
  EXPECT_EQ(accumulators, (std::vector<std::pair<StepKind, ir::NodeId>>{{StepKind::Backward, d.a}}));
}

TEST(Scheduler, SharedWeightHasOneParamGradAccumulated) {
  Recurrent r = shared_weight_chain(5);
  Plan p = plan(r.graph, std::vector<int32_t>(r.graph->size(), 0));
  ASSERT_TRUE(sound(p));
  std::vector<ValueId> grads;
  for (const auto& v : p.values)
    if (v.source.node == r.weight && v.kind == ValueKind::ParamGrad) grads.push_back(v.id);
  ASSERT_EQ(grads.size(), 1u);
  EXPECT_EQ(p.values[grads[0]].storage, -1);  // persistent, outside the arena
  int writes = 0, accumulates = 0;
  for (const auto& s : p.steps) {
    for (ValueId v : s.writes) writes += v == grads[0];
    for (ValueId v : s.accumulates) accumulates += v == grads[0];
  }
  EXPECT_EQ(writes, 1);
  EXPECT_EQ(accumulates, 4);
  EXPECT_EQ(p.gradient_bytes, 64 * 64 * 4);
  EXPECT_EQ(p.optimizer_state_bytes, 64 * 64 * 4);  // momentum
  // matmul's backward reads both operands: x (an input), h_1..h_4 and W.
  EXPECT_EQ(p.backward_flops, 2 * p.forward_flops - 256);  // two GEMMs per matmul, mean's once
}

// ---- recomputation ---------------------------------------------------------------------------------------

// Chain of 8 relus; r4 and r8 kept, everything else (h0, r1-r3, r5-r7) mirror 1. Node ids: h0 = 2,
// r_k = 2 + k, mean = 11. relu_7's backward recomputes r5, r6, r7 from r4; relu_3's recomputes h0,
// r1, r2, r3 from the sources. Each dropped node once.
TEST(Scheduler, MirrorOneRecomputesEachDroppedNodeOnceRightBeforeUse) {
  Chain c = chain(8);
  std::vector<int32_t> m(c.graph->size(), 1);
  m[c.layers[3]] = m[c.layers[7]] = 0;
  Plan p = plan(c.graph, m);
  ASSERT_TRUE(sound(p));
  using S = std::pair<StepKind, ir::NodeId>;
  const auto F = StepKind::Forward, R = StepKind::Recompute, B = StepKind::Backward;
  std::vector<S> want = {{F, 2}, {F, 3}, {F, 4}, {F, 5}, {F, 6}, {F, 7}, {F, 8}, {F, 9}, {F, 10}, {F, 11},
                         {B, 11}, {B, 10}, {R, 7}, {R, 8}, {R, 9}, {B, 9}, {B, 8}, {B, 7}, {B, 6},
                         {R, 2}, {R, 3}, {R, 4}, {R, 5}, {B, 5}, {B, 4}, {B, 3}, {B, 2}};
  EXPECT_EQ(schedule(p), want);
  EXPECT_TRUE(recomputed_lazily(p));
  EXPECT_EQ(p.recomputed_nodes, 7);
  EXPECT_EQ(p.recompute_flops, 7 * 256);
  EXPECT_EQ(p.forward_flops, 10 * 256);
  EXPECT_LE(p.recompute_flops, p.forward_flops);
  // Extra forward is in the cost model's unit: FLOPs, 7 of the 10 equal nodes, or (the default) FLOPs
  // plus traffic, where the loss node reads and writes fewer bytes than a layer.
  EXPECT_DOUBLE_EQ(p.extra_forward_ratio(), static_cast<double>(p.recompute_cost) / static_cast<double>(p.forward_cost));
  EXPECT_STREQ(p.cost_unit(), "flop-eq");
  PlanOptions flops;
  flops.cost_model = CostModel::Flops;
  const Plan pf = build_plan(c.graph, m, flops, "manual");
  EXPECT_STREQ(pf.cost_unit(), "flops");
  EXPECT_EQ(pf.recompute_cost, pf.recompute_flops);
  EXPECT_DOUBLE_EQ(pf.extra_forward_ratio(), 0.7);
  // Backward steps read the copies, never a dropped version 0.
  for (const auto* s : steps_of(p, B))
    for (ValueId v : s->reads) {
      const PlanValue& pv = p.values[v];
      if (pv.kind == ValueKind::Activation) {
        EXPECT_EQ(pv.version, p.mirror[pv.source.node]) << pv.name;
      }
    }
  // Storages (steps inclusive): {h0, r1..r4} 0-18, {r5..r8} 5-11, loss 9-26, gradients 10-26, r5@r1
  // 12-17, r6@r1 13-16, r7@r1 14-15, {h0@r1, r1@r1} 19-25, r2@r1 21-24, r3@r1 22-23. Peak at step 14:
  // {h0..r4}, loss, gradients and three copies.
  EXPECT_EQ(p.storages.size(), 10u);
  EXPECT_EQ(p.live_peak_bytes, 5 * kAct + kLoss);
  EXPECT_EQ(p.peak_step, 14);
  EXPECT_EQ(p.feature_map_peak_bytes, 5 * kAct + kLoss);

  // Keeping everything: {h0, r1}, r2..r8, loss and the gradients, all live at mean's backward.
  Plan keep = plan(c.graph, std::vector<int32_t>(c.graph->size(), 0));
  ASSERT_TRUE(sound(keep));
  EXPECT_EQ(keep.feature_map_peak_bytes, 9 * kAct + kLoss);
}

// Random mirror counts in {0, 1} over graphs with branches, residual units and shared weights: plans
// are valid, read minimally, recompute each node at most once and at most one forward pass in total.
TEST(Scheduler, MirrorZeroOrOneNeverRecomputesTwice) {
  uint64_t state = 0x5eed;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<uint32_t>(state >> 33);
  };
  std::vector<std::shared_ptr<const ir::Graph>> graphs = {diamond().graph, residual_chain(6).graph,
                                                          shared_weight_chain(7).graph, chain(12).graph};
  for (const auto& g : graphs) {
    for (int trial = 0; trial < 25; ++trial) {
      std::vector<int32_t> m(g->size());
      for (auto& x : m) x = static_cast<int32_t>(next() % 2);
      for (bool inplace : {true, false}) {
        Plan p = plan(g, m, opts(inplace, true));
        ASSERT_TRUE(sound(p)) << g->model_name << " trial " << trial;
        ASSERT_TRUE(recomputed_lazily(p)) << g->model_name << " trial " << trial;
        for (const auto& n : g->nodes()) EXPECT_LE(count_steps(p, StepKind::Recompute, n.id), 1) << n.name;
        EXPECT_LE(p.recompute_flops, p.forward_flops);
        EXPECT_LE(p.feature_map_peak_bytes, plan(g, m, opts(inplace, false)).feature_map_peak_bytes);
      }
    }
  }
}

// The recursive scheme on a chain of 16 relus: r8 and r16 kept in both plans. With m in {0, 1} each
// segment is recomputed whole and kept; with r4 and r12 at m = 1 and the rest at m = 2, a segment's
// first recomputation keeps only r4/r12 and the m = 2 nodes are recomputed again from them (or from
// r8 / the sources), sub-segment by sub-segment: more recomputation, less memory.
TEST(Scheduler, MirrorTwoRecomputesMoreForLessMemory) {
  Chain c = chain(16);
  std::vector<int32_t> one(c.graph->size(), 1), two(c.graph->size(), 2);
  for (auto* m : {&one, &two}) (*m)[c.layers[7]] = (*m)[c.layers[15]] = 0;
  two[c.layers[3]] = two[c.layers[11]] = 1;
  Plan p1 = plan(c.graph, one), p2 = plan(c.graph, two);
  ASSERT_TRUE(sound(p1));
  ASSERT_TRUE(sound(p2));
  EXPECT_TRUE(recomputed_lazily(p1));
  EXPECT_TRUE(recomputed_lazily(p2));
  int max1 = 0, max2 = 0;
  for (const auto& n : c.graph->nodes()) {
    max1 = std::max(max1, count_steps(p1, StepKind::Recompute, n.id));
    max2 = std::max(max2, count_steps(p2, StepKind::Recompute, n.id));
  }
  EXPECT_EQ(max1, 1);
  EXPECT_EQ(max2, 2);
  // r9..r11 feed r12's first copy, then are recomputed for their own backward; r12 and r4 once.
  EXPECT_EQ(count_steps(p2, StepKind::Recompute, c.layers[8]), 2);
  EXPECT_EQ(count_steps(p2, StepKind::Recompute, c.layers[11]), 1);
  EXPECT_EQ(count_steps(p2, StepKind::Recompute, c.layers[3]), 1);
  EXPECT_EQ(count_steps(p2, StepKind::Recompute, c.layers[14]), 1);  // after r12: nothing to feed
  EXPECT_EQ(p1.recomputed_nodes, p2.recomputed_nodes);
  EXPECT_GT(p2.recompute_flops, p1.recompute_flops);
  EXPECT_LT(p2.feature_map_peak_bytes, p1.feature_map_peak_bytes);
  // 15 dropped nodes: once each with m = 1; with m = 2, h0, r1-r3 and r9-r11 twice, the rest once.
  EXPECT_EQ(p1.recompute_flops, 15 * 256);
  EXPECT_EQ(p2.recompute_flops, 22 * 256);
  EXPECT_LT(p1.feature_map_peak_bytes, plan(c.graph, std::vector<int32_t>(c.graph->size(), 0)).feature_map_peak_bytes);
}

// Recomputing ahead of need (Plan::early_at), on four residual units (in-place off): the first two units
// are dropped and recomputed once. Lazily, the first unit's copies are made before relu#5's backward
// step, which needs a1 = relu(h1), while two gradients of the second unit are live: 6,400 B. Asked to
// materialise h1 before the backward step of add#7 (the second unit's output), the pass runs while one
// gradient is live and keeps a0 and h1, and a1 is made from h1 when needed: 5,376 B, the same
// recomputation. This is Checkmate's optimal schedule at that size (checkmate_milp_test.cpp).
TEST(Scheduler, RecomputingEarlierHoldsLessWhereFewerGradientsAreLive) {
  const Residual r = residual_chain(4);
  PlanOptions o;
  o.inplace = false;
  std::vector<int32_t> m(r.graph->size(), 0);
  m[r.h0] = 1;
  for (int k = 0; k < 4; ++k) m[r.internal[static_cast<size_t>(k)]] = 1;  // a0, s0, a1, s1
  m[r.unit_outputs[0]] = 1;                                               // h1
  std::vector<ir::NodeId> early(r.graph->size(), -1);
  early[r.unit_outputs[0]] = r.unit_outputs[1];
  const Plan lazy = build_plan(r.graph, m, o, "lazy"), ahead = build_plan(r.graph, m, o, "early", early);
  ASSERT_TRUE(sound(lazy));
  ASSERT_TRUE(sound(ahead));
  EXPECT_EQ(lazy.feature_map_peak_bytes, 6400);
  EXPECT_EQ(ahead.feature_map_peak_bytes, 5376);
  EXPECT_EQ(ahead.recompute_cost, lazy.recompute_cost);
  EXPECT_EQ(ahead.recomputed_nodes, lazy.recomputed_nodes);
  EXPECT_EQ(ahead.early_at, early);
  EXPECT_TRUE(lazy.early_at.empty());
  // h0, a0, s0 and h1 are made just before add#7's backward step; a1 just before its own.
  auto step_of = [](const Plan& p, StepKind kind, ir::NodeId n) {
    for (size_t i = 0; i < p.steps.size(); ++i)
      if (p.steps[i].kind == kind && p.steps[i].node == n) return i;
    return p.steps.size();
  };
  const size_t add7 = step_of(ahead, StepKind::Backward, r.unit_outputs[1]);
  for (ir::NodeId n : {r.h0, r.internal[0], r.internal[1], r.unit_outputs[0]}) {
    EXPECT_LT(step_of(ahead, StepKind::Recompute, n), add7) << r.graph->node(n).name;
    EXPECT_GT(step_of(ahead, StepKind::Recompute, n), step_of(ahead, StepKind::Backward, r.internal[4]));
  }
  EXPECT_EQ(step_of(ahead, StepKind::Recompute, r.internal[2]) + 1, step_of(ahead, StepKind::Backward, r.internal[2]));
  // A trigger on a kept node, or after the node's copy is made, changes nothing, and the plan does not
  // list it.
  std::vector<ir::NodeId> idle(r.graph->size(), -1);
  idle[r.unit_outputs[2]] = r.unit_outputs[3];  // h3 is kept (mirror 0)
  idle[r.internal[2]] = r.h0;                   // a1's trigger comes after its backward step
  const Plan same = build_plan(r.graph, m, o, "idle", idle);
  auto sequence = [](const Plan& p) {
    std::vector<std::pair<StepKind, ir::NodeId>> out;
    for (const auto& st : p.steps) out.emplace_back(st.kind, st.node);
    return out;
  };
  EXPECT_EQ(sequence(same), sequence(lazy));
  EXPECT_EQ(same.feature_map_peak_bytes, lazy.feature_map_peak_bytes);
  EXPECT_TRUE(same.early_at.empty());
  // With the useful trigger too, only that one is listed.
  idle[r.unit_outputs[0]] = r.unit_outputs[1];
  EXPECT_EQ(build_plan(r.graph, m, o, "both", idle).early_at, early);
}

// A trigger after a node's first recomputation holds the copy it makes. Below, relus L1 (mirror 3) and
// L2 (mirror 2) are dropped and L3 (mirror 1) is recomputed for its backward step: L1 and L2 only
// transiently. L2's step makes L1 transiently again (its depth-2 pass retains L2, not L1), and L1's own
// step makes it a third time. Triggered at L2's step, L1 is materialised there, retained, and serves
// both steps.
TEST(Scheduler, ATriggerAfterATransientRecomputationHoldsTheCopy) {
  const Chain c = chain(5);
  PlanOptions o;
  o.inplace = false;
  std::vector<int32_t> m(c.graph->size(), 0);
  const ir::NodeId l1 = c.layers[0], l2 = c.layers[1], l3 = c.layers[2];
  m[l1] = 3;
  m[l2] = 2;
  m[l3] = 1;
  std::vector<ir::NodeId> early(c.graph->size(), -1);
  early[l1] = l2;
  const Plan lazy = build_plan(c.graph, m, o, "lazy"), held = build_plan(c.graph, m, o, "held", early);
  ASSERT_TRUE(sound(lazy));
  ASSERT_TRUE(sound(held));
  // The recomputations of L1..L3 (digits) and their backward steps (B and the digit), in plan order.
  auto trace = [&](const Plan& p) {
    std::string out;
    for (const PlanStep& st : p.steps) {
      const int k = st.node == l1 ? 1 : st.node == l2 ? 2 : st.node == l3 ? 3 : 0;
      if (k == 0 || st.kind == StepKind::Forward) continue;
      if (st.kind == StepKind::Backward) out += 'B';
      out += static_cast<char>('0' + k);
    }
    return out;
  };
  EXPECT_EQ(trace(lazy), "123B312B21B1");
  EXPECT_EQ(trace(held), "123B312B2B1");
  EXPECT_EQ(held.early_at, early);
  EXPECT_LT(held.recompute_cost, lazy.recompute_cost);
  // At L3's step, where L1 is first made transiently, the same trigger holds it instead: recomputed once
  // in all, and L2 is then retained by the deeper pass L3's step runs from it.
  early[l1] = l3;
  const Plan ahead = build_plan(c.graph, m, o, "ahead", early);
  ASSERT_TRUE(sound(ahead));
  EXPECT_EQ(trace(ahead), "123B3B2B1");
}

// Planning must scale to unrolled recurrent nets (the paper's LSTM has ~100k steps): when most storages
// live from the forward pass to the backward pass, largest-first best fit is quadratic (3.3 s here before
// build_plan placed with PlacementStrategy::Auto; about 0.1 s after).
TEST(Scheduler, LongChainPlansQuickly) {
  constexpr int n = 20000;
  Chain c = chain(n);
  auto t0 = std::chrono::steady_clock::now();
  Plan p = plan(c.graph, std::vector<int32_t>(c.graph->size(), 0));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(valid(p));
  EXPECT_EQ(p.steps.size(), 2u * n + 4);
  EXPECT_EQ(p.feature_map_peak_bytes, (n + 1) * kAct + kLoss);  // as in the 6-relu chain above
#ifdef NDEBUG
  EXPECT_LT(seconds, 1.5);
#else
  EXPECT_LT(seconds, 5.0);  // about 1 s unoptimised
#endif
}

// ---- graph outputs -----------------------------------------------------------------------------------------

TEST(Scheduler, GraphOutputsAreNeverDropped) {
  GraphBuilder b("two_outputs");
  ir::NodeId x = b.input("x", {4, 64});
  ir::NodeId w = b.param("w", {64});
  ir::NodeId h = b.op("add", {{x, 0}, {w, 0}});
  ir::NodeId r1 = b.op("relu", h);
  ir::NodeId r2 = b.op("tanh", r1);
  ir::NodeId r3 = b.op("relu", r2);
  ir::NodeId loss = b.op("mean", r3);
  b.output(loss, "loss");
  b.output(r2, "features");
  auto g = b.finish();
  Plan p = plan(g, std::vector<int32_t>(g->size(), 1));
  ASSERT_TRUE(sound(p));
  EXPECT_EQ(p.mirror[loss], 0);
  EXPECT_EQ(p.mirror[r2], 0);
  EXPECT_EQ(p.mirror[x], 0);
  EXPECT_EQ(p.mirror[r1], 1);
  EXPECT_EQ(count_steps(p, StepKind::Recompute, r2), 0);
  EXPECT_EQ(count_steps(p, StepKind::Recompute, loss), 0);
  EXPECT_EQ(count_steps(p, StepKind::Recompute, r3), 1);
  EXPECT_EQ(count_steps(p, StepKind::Recompute, r1), 1);
  // The outputs stay in their buffers to the end of the step.
  const StepId end = static_cast<StepId>(p.steps.size()) - 1;
  for (ir::NodeId o : {loss, r2}) {
    const PlanValue& v = p.values[forward_value(p, o)];
    ASSERT_GE(v.storage, 0);
    EXPECT_EQ(p.storages[v.storage].last_step, end) << v.name;
  }
}

// The search's lean builds must judge a mirror vector exactly as the full build does: every figure,
// without the steps, values and storages. One scratch serves all the builds of a graph, as in a search.
TEST(BuildPlanFigures, EqualToTheFullPlanOnRandomMirrors) {
  std::vector<std::shared_ptr<const ir::Graph>> graphs = {chain(12).graph, residual_chain(6).graph, diamond().graph,
                                                          shared_weight_chain(10).graph};
  uint64_t state = 12345;
  auto next = [&] { return state = state * 6364136223846793005ULL + 1442695040888963407ULL, state >> 33; };
  for (const auto& g : graphs) {
    const GraphCosts costs = graph_costs(*g, {});
    for (int trial = 0; trial < 40; ++trial) {
      std::vector<int32_t> m(g->size(), 0);
      for (const auto& n : g->nodes())
        if (!n.def->is_source && n.def->recomputable) m[n.id] = static_cast<int32_t>(next() % 4);
      for (const auto& out : g->outputs()) m[out.node] = 0;
      // Half the trials also recompute some nodes ahead of need, before a random later node's step.
      std::vector<ir::NodeId> early;
      if (trial % 2 == 1) {
        early.assign(g->size(), -1);
        for (const auto& n : g->nodes())
          if (m[n.id] > 0 && next() % 2 == 0)
            early[n.id] = static_cast<ir::NodeId>(n.id + 1 + next() % (g->size() - n.id));
        for (auto& t : early) t = t >= static_cast<ir::NodeId>(g->size()) ? -1 : t;
      }
      const Plan full = build_plan(g, m, {}, "full", early);
      const Plan lean = build_plan_figures(g, m, {}, costs, {}, nullptr, early);
      ASSERT_TRUE(sound(full));
      EXPECT_EQ(lean.total_peak_bytes(), full.total_peak_bytes()) << g->model_name << " trial " << trial;
      EXPECT_EQ(lean.feature_map_peak_bytes, full.feature_map_peak_bytes);
      EXPECT_EQ(lean.live_peak_bytes, full.live_peak_bytes);
      EXPECT_EQ(lean.recompute_flops, full.recompute_flops);
      EXPECT_EQ(lean.forward_flops, full.forward_flops);
      EXPECT_EQ(lean.backward_flops, full.backward_flops);
      EXPECT_EQ(lean.recomputed_nodes, full.recomputed_nodes);
      EXPECT_EQ(lean.recompute_cost, full.recompute_cost);
      EXPECT_EQ(lean.forward_cost, full.forward_cost);
      EXPECT_EQ(lean.workspace_bytes, full.workspace_bytes);
      EXPECT_EQ(lean.peak_step, full.peak_step);
      EXPECT_EQ(lean.mirror, full.mirror);
      EXPECT_EQ(lean.early_at, full.early_at);
      EXPECT_TRUE(lean.steps.empty() && lean.values.empty() && lean.storages.empty());
    }
  }
}

}  // namespace
}  // namespace sublinear::planner
