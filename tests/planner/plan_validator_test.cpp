// The plan validator: a hand-built correct plan (forward, recomputation, backward, sharing, in-place in
// both passes, an accumulated gradient, a graph output), copies of it broken one way each, and random
// chain plans placed by plan_arena (fixed seeds), valid and then corrupted.
#include "planner/plan_validator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <string>
#include <utility>
#include <vector>

#include "ir/op_registry.h"
#include "planner/arena_allocator.h"

#include "tests/support/split_mix64.h"

namespace sublinear::planner {
namespace {

using Kind = PlanFault::Kind;

using sublinear::testing::SplitMix64;

std::string dump(const std::vector<PlanFault>& faults, const Plan& plan) { return format_faults(faults, plan); }

// ---- the hand-built plan ------------------------------------------------------------------------------
//   x (input), w (param); h1 = add(x, w); r = relu(h1); s = sigmoid(r); loss = add(s, r)  [graph output]
// Value ids and the steps (F forward, R recompute, B backward), 1024 bytes each, 256-byte alignment:
enum : ValueId { X, W, GW, A, B, C, LOSS, GC, GB, CR, GA };
//   0 F add      reads x, w        writes a            a    [0, 1024)    S0
//   1 F relu     reads a           writes b (in place over a)             S0
//   2 F sigmoid  reads b           writes c            c    [1024, 2048) S1
//   3 F add      reads c, b        writes loss         loss [2048, 3072) S2 (live to the end)
//   4 B add      reads b           writes g_c, g_b     g_c  [1024, 2048) S3 (shares c's bytes)
//                                                       g_b  [3072, 4096) S4
//   5 R sigmoid  reads b           writes c@r1         c@r1 [4096, 5120) S5
//   6 B sigmoid  reads c@r1, g_c   accumulates g_b
//   7 B relu     reads b, g_b      writes g_a (in place over g_b)          S4
//   8 B add      reads g_a         writes g_w (parameter gradient, outside the arena)
std::shared_ptr<const ir::Graph> tiny_graph() {
  auto g = std::make_shared<ir::Graph>();
  g->model_name = "tiny";
  const ir::TensorType t{ir::DType::F32, {256}};
  int line = 1;
  auto add = [&](const std::string& op, const std::string& name, const std::string& path,
                 std::vector<ir::ValueRef> inputs, std::vector<std::pair<std::string, ir::AttrValue>> attrs) {
    ir::Node n;
    n.op = op;
    n.name = name;
    n.path = path;
    n.inputs = std::move(inputs);
    n.attrs = ir::validate_attrs(*ir::OpRegistry::global().find(op), attrs);
    n.outputs = {t};
    n.span.loc = SourceLoc{"model.snet", line++, 7, 1};
    return g->add_node(std::move(n));
  };
  const std::vector<int64_t> shape{256};
  add("input", "x", "x", {}, {{"shape", shape}});
  add("param", "w", "w", {}, {{"shape", shape}});
  add("add", "h1", "net/add#1", {{0, 0}, {1, 0}}, {});
  add("relu", "r", "net/relu#1", {{2, 0}}, {});
  add("sigmoid", "s", "net/sigmoid#1", {{3, 0}}, {});
  add("add", "loss", "net/add#2", {{4, 0}, {3, 0}}, {});
  g->add_output({5, 0}, "loss");
  return g;
}

Plan good_plan() {
  Plan p;
  p.policy = "manual";
  p.graph = tiny_graph();
  p.mirror = {0, 0, 0, 0, 1, 0};
  const ir::TensorType t{ir::DType::F32, {256}};
  auto value = [&](ValueKind k, ir::NodeId node, int32_t version, int32_t storage, std::string name) {
    PlanValue v;
    v.id = static_cast<ValueId>(p.values.size());
    v.kind = k;
    v.source = {node, 0};
    v.version = version;
    v.type = t;
    v.bytes = 1024;
    v.storage = storage;
    v.name = std::move(name);
    p.values.push_back(std::move(v));
  };
  value(ValueKind::Input, 0, 0, -1, "x");
  value(ValueKind::Param, 1, 0, -1, "w");
  value(ValueKind::ParamGrad, 1, 0, -1, "grad(w)");
  value(ValueKind::Activation, 2, 0, 0, "h1");
  value(ValueKind::Activation, 3, 0, 0, "r");
  value(ValueKind::Activation, 4, 0, 1, "s");
  value(ValueKind::Activation, 5, 0, 2, "loss");
  value(ValueKind::Gradient, 4, 0, 3, "grad(s)");
  value(ValueKind::Gradient, 3, 0, 4, "grad(r)");
  value(ValueKind::Activation, 4, 1, 5, "s@r1");
  value(ValueKind::Gradient, 2, 0, 4, "grad(h1)");
  auto step = [&](StepKind k, ir::NodeId node, std::vector<ValueId> reads, std::vector<ValueId> writes,
                  std::vector<ValueId> acc = {}, std::vector<std::pair<ValueId, ValueId>> inplace = {}) {
    PlanStep s;
    s.id = static_cast<StepId>(p.steps.size());
    s.kind = k;
    s.node = node;
    s.reads = std::move(reads);
    s.writes = std::move(writes);
    s.accumulates = std::move(acc);
    s.inplace = std::move(inplace);
    p.steps.push_back(std::move(s));
  };
  step(StepKind::Forward, 2, {X, W}, {A});
  step(StepKind::Forward, 3, {A}, {B}, {}, {{B, A}});
  step(StepKind::Forward, 4, {B}, {C});
  step(StepKind::Forward, 5, {C, B}, {LOSS});
  step(StepKind::Backward, 5, {B}, {GC, GB});
  step(StepKind::Recompute, 4, {B}, {CR});
  step(StepKind::Backward, 4, {CR, GC}, {}, {GB});
  step(StepKind::Backward, 3, {B, GB}, {GA}, {}, {{GA, GB}});
  step(StepKind::Backward, 2, {GA}, {GW});
  auto storage = [&](int64_t offset, StepId first, StepId last, std::vector<ValueId> values) {
    Storage st;
    st.id = static_cast<int32_t>(p.storages.size());
    st.bytes = 1024;
    st.first_step = first;
    st.last_step = last;
    st.offset = offset;
    st.values = std::move(values);
    p.storages.push_back(std::move(st));
  };
  storage(0, 0, 7, {A, B});
  storage(1024, 2, 3, {C});
  storage(2048, 3, 8, {LOSS});
  storage(1024, 4, 6, {GC});
  storage(3072, 4, 8, {GB, GA});
  storage(4096, 5, 6, {CR});
  p.feature_map_peak_bytes = 5120;
  return p;
}

void expect_fault(const PlanFault& f, Kind k, StepId step, ValueId v, ValueId other) {
  EXPECT_EQ(fault_kind_name(f.kind), std::string(fault_kind_name(k))) << f.message;
  EXPECT_EQ(f.step, step) << f.message;
  EXPECT_EQ(f.value, v) << f.message;
  EXPECT_EQ(f.other, other) << f.message;
}

TEST(PlanValidatorTest, CorrectPlanHasNoFaults) {
  Plan p = good_plan();
  auto faults = validate_plan(p);
  EXPECT_TRUE(faults.empty()) << dump(faults, p);
  EXPECT_EQ(format_faults(faults, p), "");
  p.graph = nullptr;  // the graph only names things (and keeps graph outputs live)
  EXPECT_TRUE(validate_plan(p).empty());
}

TEST(PlanValidatorTest, TwoLiveValuesAtOneOffset) {
  Plan p = good_plan();
  p.storages[5].offset = 1024;  // s@r1 onto grad(s), which step 6 still reads
  auto f = validate_plan(p);
  ASSERT_EQ(f.size(), 2u) << dump(f, p);
  expect_fault(f[0], Kind::WriteOverLive, 5, CR, GC);
  expect_fault(f[1], Kind::ReadOverwritten, 6, GC, CR);
  for (const auto& x : f) {
    EXPECT_NE(x.message.find("'s@r1'"), std::string::npos) << x.message;
    EXPECT_NE(x.message.find("'grad(s)'"), std::string::npos) << x.message;
    EXPECT_NE(x.message.find("[1024, 2048)"), std::string::npos) << x.message;
  }
  EXPECT_NE(f[0].message.find("step 5 (recompute 's' at net/sigmoid#1)"), std::string::npos) << f[0].message;
  EXPECT_NE(f[0].message.find("still read at step 6"), std::string::npos) << f[0].message;
  EXPECT_NE(f[1].message.find("overwritten by activation 's@r1' at step 5"), std::string::npos) << f[1].message;
}

TEST(PlanValidatorTest, ReadBeforeWrite) {
  Plan p = good_plan();
  std::swap(p.steps[2], p.steps[3]);  // the loss reads s before sigmoid writes it
  p.steps[2].id = 2;
  p.steps[3].id = 3;
  auto f = validate_plan(p);
  ASSERT_EQ(f.size(), 1u) << dump(f, p);
  expect_fault(f[0], Kind::ReadBeforeWrite, 2, C, -1);
  EXPECT_NE(f[0].message.find("no earlier step wrote"), std::string::npos) << f[0].message;
}

TEST(PlanValidatorTest, InPlaceOverAnInputStillRead) {
  Plan p = good_plan();
  p.steps[4].reads.push_back(A);  // h1 is read after relu wrote r over it
  auto f = validate_plan(p);
  ASSERT_EQ(f.size(), 2u) << dump(f, p);
  expect_fault(f[0], Kind::WriteOverLive, 1, B, A);
  expect_fault(f[1], Kind::ReadOverwritten, 4, A, B);
  EXPECT_NE(f[0].message.find("still read at step 4 (backward 'loss'"), std::string::npos) << f[0].message;
}

TEST(PlanValidatorTest, SharingAnInputWithoutInPlace) {
  Plan p = good_plan();
  p.steps[1].inplace.clear();  // relu writes over its input without saying so
  auto f = validate_plan(p);
  ASSERT_EQ(f.size(), 1u) << dump(f, p);
  expect_fault(f[0], Kind::WriteOverLive, 1, B, A);
  EXPECT_NE(f[0].message.find("reads while writing"), std::string::npos) << f[0].message;
}

TEST(PlanValidatorTest, AccumulateIntoOverwrittenGradient) {
  Plan p = good_plan();
  p.storages[5].offset = 3072;  // s@r1 onto grad(r) between its first write and its accumulate
  auto f = validate_plan(p);
  ASSERT_EQ(f.size(), 2u) << dump(f, p);
  expect_fault(f[0], Kind::WriteOverLive, 5, CR, GB);
  expect_fault(f[1], Kind::ReadOverwritten, 6, GB, CR);
  EXPECT_NE(f[1].message.find("accumulates into gradient 'grad(r)'"), std::string::npos) << f[1].message;
}

TEST(PlanValidatorTest, AccumulateWithoutFirstWrite) {
  Plan p = good_plan();
  p.steps[4].writes = {GC};  // grad(r)'s first contribution is missing
  auto f = validate_plan(p);
  ASSERT_EQ(f.size(), 1u) << dump(f, p);
  expect_fault(f[0], Kind::ReadBeforeWrite, 6, GB, -1);
}

TEST(PlanValidatorTest, GraphOutputStaysLive) {
  Plan p = good_plan();
  p.storages[3].offset = 2048;  // grad(s) onto the loss, which no step reads but the caller does
  auto f = validate_plan(p);
  ASSERT_EQ(f.size(), 1u) << dump(f, p);
  expect_fault(f[0], Kind::WriteOverLive, 4, GC, LOSS);
  EXPECT_NE(f[0].message.find("graph output"), std::string::npos) << f[0].message;
}

TEST(PlanValidatorTest, MisalignedOffset) {
  Plan p = good_plan();
  p.storages[5].offset = 4096 + 64;
  p.feature_map_peak_bytes = 6144;
  auto f = validate_plan(p);
  ASSERT_EQ(f.size(), 1u) << dump(f, p);
  expect_fault(f[0], Kind::Misaligned, -1, CR, -1);
  EXPECT_NE(f[0].message.find("4160"), std::string::npos) << f[0].message;
}

TEST(PlanValidatorTest, ValuePastTheArenaEnd) {
  Plan p = good_plan();
  p.feature_map_peak_bytes = 4096;
  auto f = validate_plan(p);
  ASSERT_EQ(f.size(), 1u) << dump(f, p);
  expect_fault(f[0], Kind::OutOfArena, -1, CR, -1);
  EXPECT_NE(f[0].message.find("[4096, 5120)"), std::string::npos) << f[0].message;

  Plan q = good_plan();
  q.storages[1].offset = -1024;
  f = validate_plan(q);
  ASSERT_EQ(f.size(), 1u) << dump(f, q);
  expect_fault(f[0], Kind::OutOfArena, -1, C, -1);
}

TEST(PlanValidatorTest, BadReferences) {
  {
    Plan p = good_plan();
    p.steps[2].reads.push_back(99);
    auto f = validate_plan(p);
    ASSERT_EQ(f.size(), 1u) << dump(f, p);
    expect_fault(f[0], Kind::BadReference, 2, -1, -1);
    EXPECT_NE(f[0].message.find("value #99"), std::string::npos) << f[0].message;
  }
  {
    Plan p = good_plan();
    p.values[C].storage = 42;  // also disagrees with storage #1's list
    auto f = validate_plan(p);
    ASSERT_EQ(f.size(), 2u) << dump(f, p);
    expect_fault(f[0], Kind::BadReference, -1, C, -1);
    expect_fault(f[1], Kind::BadReference, -1, C, -1);
  }
  {
    Plan p = good_plan();
    p.values[CR].storage = -1;  // an activation with no bytes, then read
    p.storages[5].values.clear();
    auto f = validate_plan(p);
    ASSERT_EQ(f.size(), 1u) << dump(f, p);
    expect_fault(f[0], Kind::BadReference, 6, CR, -1);
  }
  {
    Plan p = good_plan();
    p.steps[7].inplace.push_back({CR, GB});  // s@r1 is not written by step 7
    auto f = validate_plan(p);
    ASSERT_EQ(f.size(), 1u) << dump(f, p);
    expect_fault(f[0], Kind::BadReference, 7, CR, GB);
  }
  {
    Plan p = good_plan();
    p.steps[0].node = 77;
    p.steps[3].id = 9;
    auto f = validate_plan(p);
    ASSERT_EQ(f.size(), 2u) << dump(f, p);
    expect_fault(f[0], Kind::BadReference, 0, -1, -1);
    expect_fault(f[1], Kind::BadReference, 3, -1, -1);
  }
}

TEST(PlanValidatorTest, MaxFaultsAndFormatting) {
  Plan p = good_plan();
  for (auto& st : p.storages) st.offset = 0;  // everything collides
  auto all = validate_plan(p, 1000);
  EXPECT_GT(all.size(), 5u);
  EXPECT_EQ(validate_plan(p, 3).size(), 3u);
  EXPECT_TRUE(validate_plan(p, 0).empty());

  Plan q = good_plan();
  q.storages[5].offset = 1024;
  auto f = validate_plan(q);
  ASSERT_EQ(f.size(), 2u);
  const std::string text = format_faults(f, q);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2) << text;
  // Steps 5 and 6 run node 4, created at line 5 of the DSL.
  EXPECT_EQ(text.rfind("model.snet:5:7 net/sigmoid#1: write-over-live: step 5 (recompute", 0), 0u) << text;
  EXPECT_NE(text.find("\nmodel.snet:5:7 net/sigmoid#1: read-overwritten: step 6"), std::string::npos) << text;

  q.graph = nullptr;
  const std::string bare = format_faults(validate_plan(q), q);
  EXPECT_EQ(bare.rfind("node 4: write-over-live: step 5 (recompute node 4)", 0), 0u) << bare;

  Plan r = good_plan();
  r.feature_map_peak_bytes = 4096;
  EXPECT_EQ(format_faults(validate_plan(r), r).rfind("model.snet:5:7 net/sigmoid#1: out-of-arena:", 0), 0u);
}

// ---- random chain plans ---------------------------------------------------------------------------------
// A chain of L layers with random skip inputs and sizes; layers with mirror 1 are dropped after the
// forward pass and recomputed from kept inputs when the backward pass first needs them; gradients are
// written by their first contribution and accumulated by later ones; in-place folds where the input dies;
// offsets from plan_arena on the storages' lifetimes.
// For plans too long for plan_arena (whose cost grows with the number of overlapping lifetimes, here
// O(n)): one free list per aligned size, storages taken in first-step order, a storage's bytes freed
// after its last step. Valid, with heavy reuse of the same bytes.
void pool_offsets(Plan& p) {
  const int64_t align = p.options.alignment;
  std::map<int64_t, std::vector<int64_t>> free_lists;
  using Active = std::pair<StepId, int32_t>;  // (last step, storage)
  std::priority_queue<Active, std::vector<Active>, std::greater<>> active;
  int64_t top = 0;
  for (auto& st : p.storages) {
    while (!active.empty() && active.top().first < st.first_step) {
      const Storage& done = p.storages[active.top().second];
      free_lists[align_up(done.bytes, align)].push_back(done.offset);
      active.pop();
    }
    auto& list = free_lists[align_up(st.bytes, align)];
    if (list.empty()) {
      st.offset = top;
      top += align_up(st.bytes, align);
    } else {
      st.offset = list.back();
      list.pop_back();
    }
    active.push({st.last_step, st.id});
  }
  p.feature_map_peak_bytes = top;
}

Plan random_chain_plan(uint64_t seed, int64_t min_layers, int64_t max_layers, bool pooled = false) {
  SplitMix64 rng{seed};
  Plan p;
  const int L = static_cast<int>(rng.uniform(min_layers, max_layers));
  auto value = [&](ValueKind k, int node, int version, int64_t bytes) {
    PlanValue v;
    v.id = static_cast<ValueId>(p.values.size());
    v.kind = k;
    v.source = {node, 0};
    v.version = version;
    v.bytes = bytes;
    v.name = std::to_string(node);
    p.values.push_back(std::move(v));
    return p.values.back().id;
  };
  std::vector<std::pair<StepId, std::pair<ValueId, ValueId>>> candidates;  // (step, (written, read))
  auto step = [&](StepKind k, int node, std::vector<ValueId> reads, std::vector<ValueId> writes,
                  std::vector<ValueId> acc = {}) {
    PlanStep s;
    s.id = static_cast<StepId>(p.steps.size());
    s.kind = k;
    s.node = node;
    s.reads = std::move(reads);
    s.writes = std::move(writes);
    s.accumulates = std::move(acc);
    p.steps.push_back(std::move(s));
    return p.steps.back().id;
  };
  const int64_t sizes[] = {256, 512, 1000, 1024};
  std::vector<std::vector<int>> inputs(L + 1);
  std::vector<ValueId> act(L + 1), copy(L + 1, -1), grad(L + 1, -1);
  std::vector<char> dropped(L + 1, 0);
  act[0] = value(ValueKind::Input, 0, 0, 1024);
  const ValueId gw = value(ValueKind::ParamGrad, 1, 0, 4096);
  for (int i = 1; i <= L; ++i) {
    inputs[i] = {i - 1};
    if (i >= 3 && rng.unit() < 0.3) inputs[i].push_back(static_cast<int>(rng.uniform(1, i - 2)));
    act[i] = value(ValueKind::Activation, i, 0, sizes[rng.uniform(0, 3)]);
    bool inputs_kept = true;
    for (int j : inputs[i]) inputs_kept = inputs_kept && !dropped[j];
    dropped[i] = i < L && inputs_kept && rng.unit() < 0.4;
  }
  for (int i = 1; i <= L; ++i) {
    std::vector<ValueId> reads;
    for (int j : inputs[i]) reads.push_back(act[j]);
    StepId s = step(StepKind::Forward, i, reads, {act[i]});
    if (i >= 2) candidates.push_back({s, {act[i], act[i - 1]}});
  }
  auto available = [&](int y) {
    if (!dropped[y]) return act[y];
    if (copy[y] < 0) {
      std::vector<ValueId> reads;
      for (int j : inputs[y]) reads.push_back(act[j]);
      copy[y] = value(ValueKind::Activation, y, 1, p.values[act[y]].bytes);
      step(StepKind::Recompute, y, reads, {copy[y]});
    }
    return copy[y];
  };
  for (int i = L; i >= 1; --i) {
    std::vector<ValueId> reads, writes, acc;
    if (i < L) reads.push_back(grad[i]);
    if (i == L || rng.unit() < 0.5) reads.push_back(available(i));
    for (int j : inputs[i])
      if (rng.unit() < 0.5) reads.push_back(available(j));
    ValueId first_new = -1;
    for (int j : inputs[i]) {
      if (j == 0) {
        writes.push_back(gw);
      } else if (grad[j] < 0) {
        grad[j] = value(ValueKind::Gradient, j, 0, sizes[rng.uniform(0, 3)]);
        writes.push_back(grad[j]);
        if (first_new < 0) first_new = grad[j];
      } else {
        acc.push_back(grad[j]);
      }
    }
    StepId s = step(StepKind::Backward, i, reads, writes, acc);
    if (i < L && first_new >= 0) candidates.push_back({s, {first_new, grad[i]}});
  }
  // Lifetimes, in-place folding, storages, placement.
  const size_t nv = p.values.size();
  std::vector<StepId> first(nv, -1), last(nv, -1);
  for (const auto& s : p.steps) {
    for (ValueId v : s.writes) first[v] = s.id, last[v] = std::max(last[v], s.id);
    for (ValueId v : s.reads) last[v] = std::max(last[v], s.id);
    for (ValueId v : s.accumulates) last[v] = std::max(last[v], s.id);
  }
  auto in_arena = [&](ValueId v) {
    return p.values[v].kind == ValueKind::Activation || p.values[v].kind == ValueKind::Gradient;
  };
  std::vector<ValueId> fold_into(nv, -1);  // written value -> the value it takes the storage of
  std::vector<char> folded_over(nv, 0);
  for (const auto& [s, pair] : candidates) {
    const auto [w, u] = pair;
    if (!in_arena(u) || last[u] != s || folded_over[u] || p.values[w].bytes != p.values[u].bytes ||
        rng.unit() < 0.5)
      continue;
    fold_into[w] = u;
    folded_over[u] = 1;
    p.steps[s].inplace.push_back({w, u});
  }
  for (const auto& s : p.steps) {
    for (ValueId v : s.writes) {
      if (!in_arena(v)) continue;
      if (fold_into[v] >= 0) {
        Storage& st = p.storages[p.values[fold_into[v]].storage];
        p.values[v].storage = st.id;
        st.values.push_back(v);
        st.last_step = std::max(st.last_step, last[v]);
        continue;
      }
      Storage st;
      st.id = static_cast<int32_t>(p.storages.size());
      st.bytes = p.values[v].bytes;
      st.first_step = s.id;
      st.last_step = last[v];
      st.values.push_back(v);
      p.values[v].storage = st.id;
      p.storages.push_back(std::move(st));
    }
  }
  if (pooled) {
    pool_offsets(p);
    return p;
  }
  std::vector<BufferRequest> reqs;
  for (const auto& st : p.storages) reqs.push_back({st.id, st.bytes, st.first_step, st.last_step});
  const auto strategy = rng.unit() < 0.5 ? PlacementStrategy::FirstFitInOrder : PlacementStrategy::BestFitLargestFirst;
  ArenaPlan ap = plan_arena(reqs, strategy, p.options.alignment);
  for (size_t i = 0; i < ap.placements.size(); ++i) p.storages[i].offset = ap.placements[i].offset;
  p.feature_map_peak_bytes = ap.arena_bytes;
  return p;
}

TEST(PlanValidatorTest, RandomChainPlansAreValidAndCorruptionsAreCaught) {
  int corrupted = 0;
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    Plan p = random_chain_plan(seed, 3, 40);
    auto faults = validate_plan(p);
    ASSERT_TRUE(faults.empty()) << "seed " << seed << "\n" << dump(faults, p);

    // Move one storage onto another whose lifetime overlaps it.
    SplitMix64 rng{seed * 7919};
    std::vector<std::pair<size_t, size_t>> pairs;
    for (size_t a = 0; a < p.storages.size(); ++a)
      for (size_t b = 0; b < p.storages.size(); ++b)
        if (a != b && p.storages[a].first_step <= p.storages[b].last_step &&
            p.storages[b].first_step <= p.storages[a].last_step)
          pairs.push_back({a, b});
    if (pairs.empty()) continue;
    const auto [a, b] = pairs[rng.uniform(0, static_cast<int64_t>(pairs.size()) - 1)];
    if (p.storages[a].offset == p.storages[b].offset) continue;  // cannot happen in a valid plan
    p.storages[a].offset = p.storages[b].offset;
    faults = validate_plan(p);
    EXPECT_FALSE(faults.empty()) << "seed " << seed << ": storage " << a << " moved onto " << b;
    ++corrupted;
  }
  EXPECT_GT(corrupted, 150);
}

TEST(PlanValidatorTest, HundredThousandStepsAreFast) {
  Plan p = random_chain_plan(42, 46000, 46000, /*pooled=*/true);
  ASSERT_GE(p.steps.size(), 100000u);
  const auto t0 = std::chrono::steady_clock::now();
  auto faults = validate_plan(p);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_TRUE(faults.empty()) << dump(faults, p);
  EXPECT_LT(s, 5.0) << p.steps.size() << " steps";
  RecordProperty("validate_seconds", std::to_string(s));

  // One collision deep inside the backward pass is still found.
  for (size_t a = p.storages.size() / 2; a + 1 < p.storages.size(); ++a) {
    Storage& x = p.storages[a];
    const Storage& y = p.storages[a + 1];
    if (x.offset == y.offset || y.first_step > x.last_step) continue;
    x.offset = y.offset;
    EXPECT_FALSE(validate_plan(p).empty()) << "storage " << a << " moved onto " << a + 1;
    break;
  }
}

}  // namespace
}  // namespace sublinear::planner
