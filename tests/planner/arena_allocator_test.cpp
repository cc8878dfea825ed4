// The static arena allocator: hand-computed optima, the validator on hand-broken plans, random workloads
// (fixed seeds), the comparison between the placement strategies, Auto's choice and planning time at scale.
#include "planner/arena_allocator.h"

#include <gtest/gtest.h>

#include <numeric>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "tests/support/split_mix64.h"

namespace sublinear::planner {
namespace {

constexpr int64_t U = 256;  // one alignment unit
constexpr PlacementStrategy kFirst = PlacementStrategy::FirstFitInOrder;
constexpr PlacementStrategy kBest = PlacementStrategy::BestFitLargestFirst;
constexpr PlacementStrategy kInOrder = PlacementStrategy::BestFitInOrder;
constexpr PlacementStrategy kAuto = PlacementStrategy::Auto;
constexpr PlacementStrategy kSearch = PlacementStrategy::OrderSearch;
const PlacementStrategy kAll[] = {kFirst, kBest, kInOrder, kSearch, kAuto};

using sublinear::testing::SplitMix64;

std::vector<int64_t> offsets(const ArenaPlan& p) {
  std::vector<int64_t> out;
  for (const auto& pl : p.placements) out.push_back(pl.offset);
  return out;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + "\n";
  return s;
}

// The rules checked pair by pair, independently of validate_arena's sweep (for small plans).
bool brute_force_valid(const ArenaPlan& plan, int64_t alignment) {
  const auto& ps = plan.placements;
  for (size_t i = 0; i < ps.size(); ++i) {
    const int64_t si = align_up(ps[i].bytes, alignment);
    if (ps[i].offset < 0 || ps[i].offset % alignment != 0 || ps[i].offset + si > plan.arena_bytes) return false;
    for (size_t j = 0; j < i; ++j) {
      const int64_t sj = align_up(ps[j].bytes, alignment);
      const bool live_together = ps[i].first_use <= ps[j].last_use && ps[j].first_use <= ps[i].last_use;
      const bool share_bytes = ps[i].offset < ps[j].offset + sj && ps[j].offset < ps[i].offset + si;
      if (live_together && share_bytes) return false;
    }
  }
  return true;
}

// Everything a plan must satisfy, whatever the strategy.
void expect_sound(const std::vector<BufferRequest>& reqs, const ArenaPlan& plan, int64_t alignment = U) {
  const auto problems = validate_arena(plan, alignment);
  EXPECT_TRUE(problems.empty()) << joined(problems);
  ASSERT_EQ(plan.placements.size(), reqs.size());
  int64_t top = 0;
  for (size_t i = 0; i < reqs.size(); ++i) {
    const auto& p = plan.placements[i];
    EXPECT_EQ(p.id, reqs[i].id);
    EXPECT_EQ(p.bytes, reqs[i].bytes);
    EXPECT_EQ(p.first_use, reqs[i].first_use);
    EXPECT_EQ(p.last_use, reqs[i].last_use);
    EXPECT_EQ(p.offset % alignment, 0);
    top = std::max(top, p.offset + align_up(p.bytes, alignment));
  }
  EXPECT_EQ(plan.arena_bytes, top);
  EXPECT_EQ(plan.live_peak_bytes, live_peak_bytes(reqs, alignment));
  EXPECT_GE(plan.arena_bytes, plan.live_peak_bytes);
  EXPECT_EQ(plan.fragmentation_bytes(), plan.arena_bytes - plan.live_peak_bytes);
}

// ---- hand-computed optima ------------------------------------------------------------------------------

TEST(ArenaAllocator, EmptyRequestsGiveAnEmptyArena) {
  for (auto s : kAll) {
    const ArenaPlan p = plan_arena({}, s);
    EXPECT_TRUE(p.placements.empty());
    EXPECT_EQ(p.arena_bytes, 0);
    EXPECT_EQ(p.live_peak_bytes, 0);
    EXPECT_TRUE(validate_arena(p).empty());
  }
}

TEST(ArenaAllocator, DisjointLifetimesReuseOneSlot) {
  const std::vector<BufferRequest> reqs = {
      {10, 4 * U, 0, 0}, {11, 12 * U, 1, 2}, {12, 8 * U, 3, 3}, {13, 1, 4, 9}};
  for (auto s : kAll) {
    SCOPED_TRACE(to_string(s));
    const ArenaPlan p = plan_arena(reqs, s);
    expect_sound(reqs, p);
    EXPECT_EQ(p.arena_bytes, 12 * U);  // max size
    EXPECT_EQ(p.live_peak_bytes, 12 * U);
    EXPECT_EQ(offsets(p), (std::vector<int64_t>{0, 0, 0, 0}));
  }
}

TEST(ArenaAllocator, AllOverlappingNeedTheSum) {
  const std::vector<BufferRequest> reqs = {{1, 1 * U, 0, 5}, {2, 2 * U, 1, 5}, {3, 3 * U, 0, 3}, {4, 4 * U, 2, 2}};
  for (auto s : kAll) {
    SCOPED_TRACE(to_string(s));
    const ArenaPlan p = plan_arena(reqs, s);
    expect_sound(reqs, p);
    EXPECT_EQ(p.arena_bytes, 10 * U);
    EXPECT_EQ(p.live_peak_bytes, 10 * U);
    EXPECT_EQ(p.fragmentation_bytes(), 0);
  }
  // Largest first stacks them by size.
  EXPECT_EQ(offsets(plan_arena(reqs, kBest)), (std::vector<int64_t>{9 * U, 7 * U, 4 * U, 0}));
  // In order: by first_use, ties in request order (1, 3, 2, 4).
  EXPECT_EQ(offsets(plan_arena(reqs, kFirst)), (std::vector<int64_t>{0, 4 * U, 1 * U, 6 * U}));
}

TEST(ArenaAllocator, ChainWhereEachLivesTwoStepsNeedsTwoSlots) {
  // a -> b -> c -> d: each is written at step i and read by the next op at step i + 1.
  const std::vector<BufferRequest> reqs = {{0, 4096, 0, 1}, {1, 4096, 1, 2}, {2, 4096, 2, 3}, {3, 4096, 3, 4}};
  for (auto s : kAll) {
    SCOPED_TRACE(to_string(s));
    const ArenaPlan p = plan_arena(reqs, s);
    expect_sound(reqs, p);
    EXPECT_EQ(p.arena_bytes, 2 * 4096);
    EXPECT_EQ(p.live_peak_bytes, 2 * 4096);
    EXPECT_EQ(offsets(p), (std::vector<int64_t>{0, 4096, 0, 4096}));
  }
}

TEST(ArenaAllocator, SizesAreRoundedUpToTheAlignment) {
  EXPECT_EQ(align_up(1, 256), 256);
  EXPECT_EQ(align_up(100, 256), 256);
  EXPECT_EQ(align_up(256, 256), 256);
  EXPECT_EQ(align_up(257, 256), 512);
  EXPECT_EQ(align_up(100, 64), 128);
  EXPECT_EQ(align_up(100, 1), 100);

  const std::vector<BufferRequest> one = {{7, 100, 0, 0}};
  const std::vector<BufferRequest> two = {{7, 100, 0, 1}, {8, 100, 1, 2}};
  for (auto s : kAll) {
    SCOPED_TRACE(to_string(s));
    ArenaPlan p = plan_arena(one, s);
    expect_sound(one, p);
    EXPECT_EQ(p.arena_bytes, 256);
    EXPECT_EQ(p.live_peak_bytes, 256);
    EXPECT_EQ(p.placements[0].bytes, 100);  // the requested size is reported, the aligned one occupied

    p = plan_arena(two, s);
    expect_sound(two, p);
    EXPECT_EQ(offsets(p), (std::vector<int64_t>{0, 256}));
    EXPECT_EQ(p.arena_bytes, 512);

    p = plan_arena(two, s, 64);
    expect_sound(two, p, 64);
    EXPECT_EQ(offsets(p), (std::vector<int64_t>{0, 128}));
    EXPECT_EQ(p.arena_bytes, 256);
    EXPECT_EQ(p.live_peak_bytes, 256);
  }
}

TEST(ArenaAllocator, FirstFitFragmentsWhereBestFitLargestFirstIsOptimal) {
  // step:      0  1  2
  //   A (1U)   x
  //   B (1U)   x  x  x
  //   C (2U)      x
  // In order, A takes [0, 1U) and B [1U, 2U); at step 1 A is dead but its 1U hole below B cannot hold C,
  // which goes on top: 4U. Largest first puts C at 0, A (not live with C) also at 0, B on top: 3U, the
  // live peak (step 1: B + C), hence optimal.
  const std::vector<BufferRequest> reqs = {{100, 1 * U, 0, 0}, {101, 1 * U, 0, 2}, {102, 2 * U, 1, 1}};
  const ArenaPlan first = plan_arena(reqs, kFirst);
  const ArenaPlan best = plan_arena(reqs, kBest);
  expect_sound(reqs, first);
  expect_sound(reqs, best);
  EXPECT_EQ(first.live_peak_bytes, 3 * U);
  EXPECT_EQ(first.arena_bytes, 4 * U);
  EXPECT_EQ(first.fragmentation_bytes(), 1 * U);
  EXPECT_EQ(offsets(first), (std::vector<int64_t>{0, 1 * U, 2 * U}));
  EXPECT_EQ(best.arena_bytes, 3 * U);
  EXPECT_EQ(best.fragmentation_bytes(), 0);
  EXPECT_EQ(offsets(best), (std::vector<int64_t>{0, 2 * U, 0}));
}

TEST(ArenaAllocator, BestFitTakesTheSmallestGapThatFits) {
  // Placement order (largest first) and where each goes, in units:
  //   V 8 [2,2] -> 0;  W 4 [0,0] -> 0;  Y 3 [0,1] -> 4 (above W);  Z 2 [0,2] -> 8 (above V);
  //   X 2 [1,1] -> 0 (gaps [0,4) and [7,8): the 4-gap is the only one that fits);
  //   E 1 [1,1]: live with X [0,2), Y [4,7), Z [8,10) -> gaps [2,4) (2U) and [7,8) (1U): best fit is 7,
  //   first fit would be 2. Arena 10U = live peak at step 2 (V + Z).
  const std::vector<BufferRequest> reqs = {{0, 8 * U, 2, 2}, {1, 4 * U, 0, 0}, {2, 3 * U, 0, 1},
                                           {3, 2 * U, 0, 2}, {4, 2 * U, 1, 1}, {5, 1 * U, 1, 1}};
  const ArenaPlan best = plan_arena(reqs, kBest);
  expect_sound(reqs, best);
  EXPECT_EQ(offsets(best), (std::vector<int64_t>{0, 0, 4 * U, 8 * U, 0, 7 * U}));
  EXPECT_EQ(best.arena_bytes, 10 * U);
  EXPECT_EQ(best.live_peak_bytes, 10 * U);
}

TEST(ArenaAllocator, BestFitTieBreaksAreDeterministic) {
  // Equal sizes: earlier first_use first, then smaller id, whatever the request order.
  const std::vector<BufferRequest> a = {{5, U, 0, 1}, {3, U, 0, 1}, {4, U, 1, 1}};
  const std::vector<BufferRequest> b = {{4, U, 1, 1}, {5, U, 0, 1}, {3, U, 0, 1}};
  const ArenaPlan pa = plan_arena(a, kBest);
  const ArenaPlan pb = plan_arena(b, kBest);
  expect_sound(a, pa);
  expect_sound(b, pb);
  EXPECT_EQ(offsets(pa), (std::vector<int64_t>{1 * U, 0, 2 * U}));  // id 3 -> 0, id 5 -> 1U, id 4 -> 2U
  EXPECT_EQ(offsets(pb), (std::vector<int64_t>{2 * U, 1 * U, 0}));
}

// ---- BestFitInOrder by hand -----------------------------------------------------------------------------

TEST(BestFitInOrder, ReusesTheSlotsOfDeadBuffers) {
  // step:      0  1  2  3
  //   A (4U)   x  x
  //   K (1U)   x  x  x  x   keeps the arena end above A's slot
  //   B (4U)         x      A is dead: B takes its slot
  //   C (2U)            x   B is dead: C takes the low end of its slot
  const std::vector<BufferRequest> reqs = {{0, 4 * U, 0, 1}, {1, 1 * U, 0, 3}, {2, 4 * U, 2, 2}, {3, 2 * U, 3, 3}};
  const ArenaPlan p = plan_arena(reqs, kInOrder);
  expect_sound(reqs, p);
  EXPECT_EQ(p.strategy, kInOrder);
  EXPECT_EQ(offsets(p), (std::vector<int64_t>{0, 4 * U, 0, 0}));
  EXPECT_EQ(p.arena_bytes, 5 * U);
  EXPECT_EQ(p.live_peak_bytes, 5 * U);
}

TEST(BestFitInOrder, ABufferWrittenAtTheLastReadOfAnotherCannotReuseIt) {
  // A is read for the last time at step 3 where B is written: both are live at step 3 (rule 1), so B goes
  // above A. C, written at step 4, may take A's slot: A's range is freed after step 3.
  const std::vector<BufferRequest> reqs = {{0, 4 * U, 0, 3}, {1, 4 * U, 3, 5}, {2, 4 * U, 4, 4}};
  const ArenaPlan p = plan_arena(reqs, kInOrder);
  expect_sound(reqs, p);
  EXPECT_EQ(offsets(p), (std::vector<int64_t>{0, 4 * U, 0}));
  EXPECT_EQ(p.arena_bytes, 8 * U);
  EXPECT_EQ(p.live_peak_bytes, 8 * U);
  // Shift C to step 3 and it conflicts with both: it goes on top.
  const std::vector<BufferRequest> late = {{0, 4 * U, 0, 3}, {1, 4 * U, 3, 5}, {2, 4 * U, 3, 3}};
  const ArenaPlan q = plan_arena(late, kInOrder);
  expect_sound(late, q);
  EXPECT_EQ(offsets(q), (std::vector<int64_t>{0, 4 * U, 8 * U}));
  EXPECT_EQ(q.arena_bytes, 12 * U);
}

TEST(BestFitInOrder, TakesTheSmallestFreeGapThatFitsLowestOnTies) {
  // step 0: A (4U) -> [0, 4U), S1 (1U, lives on) -> [4U, 5U)
  // step 1: B (2U) -> [5U, 7U), S2 (1U, lives on) -> [7U, 8U)
  // step 2: D (2U) -> [8U, 10U), S3 (1U, lives on) -> [10U, 11U); the live peak, 11U
  // step 3: A, B and D are dead: gaps [0, 4U), [5U, 7U), [8U, 10U). E (2U) takes the smallest that fits,
  //   2U, and of the two 2U gaps the lower: 5U (first fit would take 0). F (1U) then takes the remaining
  //   2U gap's low end, 8U, not the 4U gap.
  const std::vector<BufferRequest> reqs = {
      {0, 4 * U, 0, 2}, {1, 1 * U, 0, 9}, {2, 2 * U, 1, 2}, {3, 1 * U, 1, 9}, {4, 2 * U, 2, 2},
      {5, 1 * U, 2, 9}, {6, 2 * U, 3, 4}, {7, 1 * U, 3, 4}};
  const ArenaPlan p = plan_arena(reqs, kInOrder);
  expect_sound(reqs, p);
  EXPECT_EQ(offsets(p), (std::vector<int64_t>{0, 4 * U, 5 * U, 7 * U, 8 * U, 10 * U, 5 * U, 8 * U}));
  EXPECT_EQ(p.arena_bytes, 11 * U);
  // First fit, for contrast, fills the 4U hole: same arena here, but the big hole is split.
  EXPECT_EQ(offsets(plan_arena(reqs, kFirst))[6], 0);
}

TEST(BestFitInOrder, CoalescesFreedNeighboursIntoOneGap) {
  // step 0: A (2U) -> 0.  step 1: M (2U) -> 2U, B (2U) -> 4U, K (1U, lives on) -> 6U.
  // After step 1 M dies: gap [2U, 4U) between A and B. After step 2 A and B die: with the gap between them
  // they merge into one gap [0, 6U), whatever order they are freed in, and C (6U) fits at 0. Without
  // coalescing C would go on top (13U); the arena is the live peak (step 1: 7U).
  const std::vector<BufferRequest> reqs = {
      {0, 2 * U, 0, 2}, {1, 2 * U, 1, 1}, {2, 2 * U, 1, 2}, {3, 1 * U, 1, 9}, {4, 6 * U, 3, 3}};
  const ArenaPlan p = plan_arena(reqs, kInOrder);
  expect_sound(reqs, p);
  EXPECT_EQ(offsets(p), (std::vector<int64_t>{0, 2 * U, 4 * U, 6 * U, 0}));
  EXPECT_EQ(p.arena_bytes, 7 * U);
  EXPECT_EQ(p.live_peak_bytes, 7 * U);
  // Two neighbours freed at different steps merge as well: after step 0 A dies, after step 1 B does.
  const std::vector<BufferRequest> two = {{0, 2 * U, 0, 0}, {1, 2 * U, 0, 1}, {2, 1 * U, 0, 9}, {3, 4 * U, 2, 2}};
  const ArenaPlan q = plan_arena(two, kInOrder);
  expect_sound(two, q);
  EXPECT_EQ(offsets(q), (std::vector<int64_t>{0, 2 * U, 4 * U, 0}));
  EXPECT_EQ(q.arena_bytes, 5 * U);
}

TEST(BestFitInOrder, GrowsTheArenaFromTheTopmostGapOrTheEnd) {
  // K (1U) -> 0; A (2U) -> [1U, 3U). After step 1 A dies: the gap [1U, 3U) touches the arena end, so B
  // (3U, too big for it) starts at 1U and the arena grows to 4U, not 6U.
  const std::vector<BufferRequest> top = {{0, 1 * U, 0, 5}, {1, 2 * U, 1, 1}, {2, 3 * U, 2, 2}};
  const ArenaPlan p = plan_arena(top, kInOrder);
  expect_sound(top, p);
  EXPECT_EQ(offsets(p), (std::vector<int64_t>{0, 1 * U, 1 * U}));
  EXPECT_EQ(p.arena_bytes, 4 * U);
  // The same with T (1U) above A: A's gap no longer touches the end and B goes on top.
  const std::vector<BufferRequest> covered = {{0, 1 * U, 0, 5}, {1, 2 * U, 1, 1}, {3, 1 * U, 1, 5}, {2, 3 * U, 2, 2}};
  const ArenaPlan q = plan_arena(covered, kInOrder);
  expect_sound(covered, q);
  EXPECT_EQ(offsets(q), (std::vector<int64_t>{0, 1 * U, 3 * U, 4 * U}));
  EXPECT_EQ(q.arena_bytes, 7 * U);
  // The topmost buffer dying makes a gap at the end, which merges with a free gap below it.
  const std::vector<BufferRequest> merged = {{0, 1 * U, 0, 5}, {1, 2 * U, 1, 1}, {3, 1 * U, 1, 1}, {2, 4 * U, 2, 2}};
  const ArenaPlan r = plan_arena(merged, kInOrder);
  expect_sound(merged, r);
  EXPECT_EQ(offsets(r), (std::vector<int64_t>{0, 1 * U, 3 * U, 1 * U}));
  EXPECT_EQ(r.arena_bytes, 5 * U);
}

TEST(BestFitInOrder, TiesPlaceLargerFirstThenSmallerId) {
  // All written at step 0: 2U first, then the 1U ones by id, whatever the request order.
  const std::vector<BufferRequest> a = {{5, U, 0, 1}, {3, 2 * U, 0, 1}, {4, U, 0, 1}};
  const std::vector<BufferRequest> b = {{4, U, 0, 1}, {5, U, 0, 1}, {3, 2 * U, 0, 1}};
  const ArenaPlan pa = plan_arena(a, kInOrder);
  const ArenaPlan pb = plan_arena(b, kInOrder);
  expect_sound(a, pa);
  expect_sound(b, pb);
  EXPECT_EQ(offsets(pa), (std::vector<int64_t>{3 * U, 0, 2 * U}));
  EXPECT_EQ(offsets(pb), (std::vector<int64_t>{2 * U, 3 * U, 0}));
  // Steps need not start at 0 nor be dense (the sorts fall back to comparisons).
  const std::vector<BufferRequest> sparse = {
      {0, 2 * U, -1000000, 0}, {1, U, 5, 2000000000}, {2, U, 1, 1}, {3, 2 * U, 2000000000, 2000000000}};
  const ArenaPlan ps = plan_arena(sparse, kInOrder);
  expect_sound(sparse, ps);
  // 0 dies after its step 0, so 2 (step 1) and then 1 (step 5) reuse its slot; 3 shares step 2e9 with 1 and
  // extends the topmost gap.
  EXPECT_EQ(offsets(ps), (std::vector<int64_t>{0, 0, 0, 1 * U}));
  EXPECT_EQ(ps.arena_bytes, 3 * U);
}

// ---- Auto ---------------------------------------------------------------------------------------------

TEST(AutoStrategy, KeepsLargestFirstWhenItIsSmaller) {
  // FirstFitFragmentsWhereBestFitLargestFirstIsOptimal's case: in order, A and B share step 0 and B sits
  // above A's 1U hole, too small for C: 4U. Largest first: 3U.
  const std::vector<BufferRequest> reqs = {{100, 1 * U, 0, 0}, {101, 1 * U, 0, 2}, {102, 2 * U, 1, 1}};
  const ArenaPlan in_order = plan_arena(reqs, kInOrder);
  const ArenaPlan largest = plan_arena(reqs, kBest);
  const ArenaPlan chosen = plan_arena(reqs);  // Auto is the default
  expect_sound(reqs, chosen);
  EXPECT_EQ(in_order.arena_bytes, 4 * U);
  EXPECT_EQ(largest.arena_bytes, 3 * U);
  EXPECT_EQ(chosen.strategy, kBest);
  EXPECT_EQ(chosen.arena_bytes, 3 * U);
  EXPECT_EQ(offsets(chosen), offsets(largest));
}

TEST(AutoStrategy, KeepsInOrderWhenItIsSmaller) {
  // Largest first puts the two 4U buffers at 0 (they do not overlap), X (1U, steps 0-2) above the first
  // and Y (1U, steps 2-4) above both: 6U. In order, Y takes the low end of D's dead slot at step 2 and
  // the freed X merges with the rest of it, where E (4U) fits at step 3: 5U, the live peak.
  const std::vector<BufferRequest> reqs = {{0, 1 * U, 0, 2}, {1, 4 * U, 3, 3}, {2, 1 * U, 2, 4}, {3, 4 * U, 0, 1}};
  const ArenaPlan in_order = plan_arena(reqs, kInOrder);
  const ArenaPlan largest = plan_arena(reqs, kBest);
  const ArenaPlan chosen = plan_arena(reqs, kAuto);
  expect_sound(reqs, chosen);
  EXPECT_EQ(offsets(largest), (std::vector<int64_t>{4 * U, 0, 5 * U, 0}));
  EXPECT_EQ(largest.arena_bytes, 6 * U);
  EXPECT_EQ(offsets(in_order), (std::vector<int64_t>{4 * U, 1 * U, 0, 0}));
  EXPECT_EQ(in_order.arena_bytes, 5 * U);
  EXPECT_EQ(in_order.live_peak_bytes, 5 * U);
  EXPECT_EQ(chosen.strategy, kInOrder);
  EXPECT_EQ(offsets(chosen), offsets(in_order));
}

TEST(AutoStrategy, KeepsInOrderAtTheLivePeakAndStrategiesAreNamed) {
  // In order reaches the live peak (8 KiB): kept without running largest first.
  const std::vector<BufferRequest> reqs = {{0, 4096, 0, 1}, {1, 4096, 1, 2}, {2, 4096, 2, 3}};
  EXPECT_EQ(plan_arena(reqs, kBest).arena_bytes, plan_arena(reqs, kInOrder).arena_bytes);
  EXPECT_EQ(plan_arena(reqs, kAuto).strategy, kInOrder);
  // Above the live peak both run (ties to largest first: the property test below). In order, A, B and C
  // (1, 4, 4 KiB) stack from 0 and D (5 KiB, when A and B have died) fits nowhere below C's top: 13 KiB
  // where 9 KiB are live. Largest first puts D and B at the bottom: 9 KiB.
  const std::vector<BufferRequest> spread = {{0, 1024, 0, 0}, {1, 4096, 0, 0}, {2, 4096, 0, 1}, {3, 5120, 1, 1}};
  EXPECT_EQ(plan_arena(spread, kInOrder).arena_bytes, 13 * 1024);
  EXPECT_EQ(plan_arena(spread, kInOrder).live_peak_bytes, 9 * 1024);
  EXPECT_EQ(plan_arena(spread, kAuto).strategy, kBest);
  EXPECT_EQ(plan_arena(spread, kAuto).arena_bytes, 9 * 1024);
  for (auto s : {kFirst, kBest, kInOrder}) EXPECT_EQ(plan_arena(reqs, s).strategy, s);
  EXPECT_STREQ(to_string(kFirst), "first-fit-in-order");
  EXPECT_STREQ(to_string(kBest), "best-fit-largest-first");
  EXPECT_STREQ(to_string(kInOrder), "best-fit-in-order");
  EXPECT_STREQ(to_string(kAuto), "auto");
}

TEST(ArenaAllocator, LivePeakIsExact) {
  // step:        0    1    2    3    4    5
  //   0 (1U)     x    x    x
  //   1 (2U)          x    x    x
  //   2 (4U)               x
  //   3 (1U)                         x    x
  //   4 (1 B)              x    x             -> 1U once aligned
  // live:        1U   3U   8U   3U   1U   1U
  const std::vector<BufferRequest> reqs = {
      {0, 1 * U, 0, 2}, {1, 2 * U, 1, 3}, {2, 4 * U, 2, 2}, {3, 1 * U, 4, 5}, {4, 1, 2, 3}};
  EXPECT_EQ(live_peak_bytes(reqs), 8 * U);
  EXPECT_EQ(live_peak_bytes(reqs, 1), 7 * U + 1);
  for (auto s : kAll) {
    const ArenaPlan p = plan_arena(reqs, s);
    expect_sound(reqs, p);
    EXPECT_EQ(p.live_peak_bytes, 8 * U);
  }
  // A buffer read for the last time at step t still counts at t; one written at t + 1 does not overlap it.
  EXPECT_EQ(live_peak_bytes({{0, U, 0, 3}, {1, U, 3, 4}}), 2 * U);
  EXPECT_EQ(live_peak_bytes({{0, U, 0, 3}, {1, U, 4, 4}}), 1 * U);
  // Negative steps are only positions in the order.
  EXPECT_EQ(live_peak_bytes({{0, U, -5, -1}, {1, 2 * U, -1, 0}, {2, U, 0, 0}}), 3 * U);
}

// ---- the validator on hand-broken plans ------------------------------------------------------------

ArenaPlan two_buffer_plan() {
  ArenaPlan p;
  p.placements = {{41, 0, 300, 0, 2}, {42, 512, 256, 1, 3}};
  p.arena_bytes = 768;
  p.live_peak_bytes = 768;
  return p;
}

TEST(ValidateArena, AcceptsAValidPlan) { EXPECT_TRUE(validate_arena(two_buffer_plan()).empty()); }

TEST(ValidateArena, CatchesOverlappingLiveBuffersAtTheSameOffset) {
  ArenaPlan p = two_buffer_plan();
  p.placements[1].offset = 0;
  const auto problems = validate_arena(p);
  ASSERT_EQ(problems.size(), 1u) << joined(problems);
  const std::string& m = problems[0];
  EXPECT_NE(m.find("buffer 41 bytes [0, 512) steps [0, 2]"), std::string::npos) << m;
  EXPECT_NE(m.find("buffer 42 bytes [0, 256) steps [1, 3]"), std::string::npos) << m;
  EXPECT_NE(m.find("overlap"), std::string::npos) << m;

  // Partial overlap is caught too (41 occupies [0, 512) once aligned: 300 B -> 512 B).
  p.placements[1].offset = 256;
  EXPECT_EQ(validate_arena(p).size(), 1u);
  // The same bytes are fine when the lifetimes do not overlap.
  p.placements[1].offset = 0;
  p.placements[1].first_use = 3;
  EXPECT_TRUE(validate_arena(p).empty()) << joined(validate_arena(p));
}

TEST(ValidateArena, CatchesABufferPastTheArenaEnd) {
  ArenaPlan p = two_buffer_plan();
  p.arena_bytes = 700;
  const auto problems = validate_arena(p);
  ASSERT_EQ(problems.size(), 1u) << joined(problems);
  EXPECT_NE(problems[0].find("buffer 42 bytes [512, 768)"), std::string::npos) << problems[0];
  EXPECT_NE(problems[0].find("past the arena end"), std::string::npos) << problems[0];
  EXPECT_NE(problems[0].find("700"), std::string::npos) << problems[0];
}

TEST(ValidateArena, CatchesAMisalignedOffset) {
  ArenaPlan p = two_buffer_plan();
  p.placements[1].offset = 640;
  p.arena_bytes = 1024;
  auto problems = validate_arena(p);
  ASSERT_EQ(problems.size(), 1u) << joined(problems);
  EXPECT_NE(problems[0].find("buffer 42"), std::string::npos) << problems[0];
  EXPECT_NE(problems[0].find("not a multiple of the alignment 256"), std::string::npos) << problems[0];
  // ... and it is fine under a smaller alignment.
  EXPECT_TRUE(validate_arena(p, 128).empty()) << joined(validate_arena(p, 128));
}

TEST(ValidateArena, CatchesMalformedPlacements) {
  ArenaPlan p = two_buffer_plan();
  p.placements[0].bytes = 0;
  p.placements[1].last_use = 0;
  p.placements[1].offset = -256;
  const auto problems = validate_arena(p);
  ASSERT_EQ(problems.size(), 3u) << joined(problems);
  EXPECT_NE(problems[0].find("buffer 41"), std::string::npos);
  EXPECT_NE(problems[1].find("buffer 42"), std::string::npos);
  EXPECT_NE(problems[2].find("negative"), std::string::npos);
}

TEST(ValidateArena, ListsEveryOverlappingPairUpToALimit) {
  // Five live buffers at offset 0: 10 pairs.
  ArenaPlan p;
  for (int64_t i = 0; i < 5; ++i) p.placements.push_back({i, 0, U, 0, 1});
  p.arena_bytes = U;
  EXPECT_EQ(validate_arena(p).size(), 10u);
  const auto capped = validate_arena(p, U, 4);
  ASSERT_EQ(capped.size(), 5u);
  EXPECT_EQ(capped.back(), "... and 6 more problems");
}

// ---- bad requests are internal errors ------------------------------------------------------------------

TEST(ArenaAllocatorDeathTest, BadRequestsAreInternalErrors) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(plan_arena({{77, 0, 0, 1}}), "internal error.*id 77.*0 bytes");
  EXPECT_DEATH(plan_arena({{78, -5, 0, 1}}), "internal error.*id 78");
  EXPECT_DEATH(plan_arena({{79, 16, 3, 2}}), "internal error.*id 79.*lifetime \\[3, 2\\]");
  EXPECT_DEATH(plan_arena({{80, 16, 0, 0}}, kBest, 0), "internal error.*alignment");
}

// ---- workloads -----------------------------------------------------------------------------------------

// Random lifetimes and log-uniform sizes, the shape of a mixed graph of activations, gradients and
// temporaries.
std::vector<BufferRequest> random_workload(uint64_t seed, int n, int steps, int max_len) {
  SplitMix64 rng{seed};
  std::vector<BufferRequest> reqs;
  reqs.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const auto first = static_cast<int32_t>(rng.uniform(0, steps - 1));
    // Mostly short lives, a few long ones.
    const int64_t len = rng.unit() < 0.8 ? rng.uniform(0, 3) : rng.uniform(0, max_len);
    const auto bytes = static_cast<int64_t>(std::exp2(8.0 + 16.0 * rng.unit()));  // 256 B .. 16 MiB
    reqs.push_back({i, std::max<int64_t>(1, bytes), first, static_cast<int32_t>(first + len)});
  }
  return reqs;
}

// Training a chain of conv-bn-relu layers (4 stages: channels double and the spatial size halves, so each
// stage's maps are half the previous stage's) with Chen et al.'s segment checkpointing, `k` layers per
// segment. Layer i writes a_i from a_{i-1}; its backward reads a_{i-1} and the incoming gradient and writes
// the gradient of a_{i-1}, read by the next backward op. The forward keeps each segment's output (the next
// segment's input); the backward, per segment from last to first, recomputes the segment's other maps
// (keeping them until their backward) and then runs its backward. Every op also has a one-step workspace.
// k = 1 keeps everything; k = layers recomputes everything but the last map.
std::vector<BufferRequest> conv_chain_workload(int layers, int k, int64_t batch) {
  std::vector<BufferRequest> reqs;
  int64_t next_id = 0;
  auto map_bytes = [&](int layer) {
    const int stage = std::min(3, 4 * layer / layers);
    const int64_t c = 64LL << stage;
    const int64_t hw = 56 >> stage;
    return batch * c * hw * hw * 4;
  };
  auto add = [&](int64_t bytes, int32_t first, int32_t last) {
    reqs.push_back({next_id++, bytes, first, last});
  };
  const auto L = static_cast<size_t>(layers);
  auto kept = [&](int i) { return i % k == k - 1 || i + 1 == layers; };
  int32_t step = 0;
  std::vector<int32_t> fwd(L), rec(L, -1), bwd(L);
  for (int i = 0; i < layers; ++i) fwd[static_cast<size_t>(i)] = step++;
  for (int s = (layers + k - 1) / k - 1; s >= 0; --s) {
    const int lo = s * k, hi = std::min(layers, lo + k);
    for (int i = lo; i < hi; ++i) {
      if (!kept(i)) rec[static_cast<size_t>(i)] = step++;
    }
    for (int i = hi - 1; i >= lo; --i) bwd[static_cast<size_t>(i)] = step++;
  }
  for (int i = 0; i < layers; ++i) {
    const auto u = static_cast<size_t>(i);
    const int64_t bytes = map_bytes(i);
    // The backward of layer i + 1 reads a_i (the loss, at the last layer's backward, reads the last map).
    const int32_t read_by_bwd = i + 1 < layers ? bwd[u + 1] : bwd[u];
    if (kept(i)) {
      add(bytes, fwd[u], read_by_bwd);
    } else {
      add(bytes, fwd[u], fwd[u] + 1);   // forward copy, read by the next layer only
      add(bytes, rec[u], read_by_bwd);  // recomputed copy, kept for the backward
      add(bytes / 4 + 1000, rec[u], rec[u]);  // recompute workspace
    }
    add(bytes / 4 + 1000, fwd[u], fwd[u]);                  // forward workspace
    add(bytes, bwd[u], i > 0 ? bwd[u - 1] : bwd[u]);        // gradient of a_{i-1}, read next
    add(bytes / 2 + 1000, bwd[u], bwd[u]);                  // backward workspace
  }
  return reqs;
}

// A ResNet bottleneck chain (inference): each block reads x (4C channels), writes a = conv1x1(x) (C),
// b = conv3x3(a) (C), c = conv1x1(b) (4C) and y = c + x; the first block of stages 2-4 halves the spatial
// size and adds a projection shortcut p = conv1x1(x). x stays live across the block, so its slot sits
// between the block's temporaries, which is where an in-order free list fragments.
std::vector<BufferRequest> bottleneck_chain_workload(int blocks_per_stage, int64_t batch) {
  std::vector<BufferRequest> reqs;
  int64_t next_id = 0;
  int32_t step = 0;
  int64_t hw = 56;
  const int64_t c0 = 64;
  reqs.push_back({next_id++, batch * 4 * c0 * hw * hw * 4, step, step});  // the stem's output
  step++;
  size_t x = 0;
  for (int stage = 0; stage < 4; ++stage) {
    for (int blk = 0; blk < blocks_per_stage; ++blk) {
      const bool down = stage > 0 && blk == 0;
      if (down) hw /= 2;
      const int64_t thin = batch * (c0 << stage) * hw * hw * 4, wide = 4 * thin;
      const int32_t t1 = step++, t2 = step++, t3 = step++;
      reqs.push_back({next_id++, thin, t1, t2});             // a
      reqs.push_back({next_id++, thin / 2 + 1000, t1, t1});  // conv1 workspace
      reqs.push_back({next_id++, thin, t2, t3});             // b
      reqs.push_back({next_id++, thin + 1000, t2, t2});      // conv2 workspace
      const int32_t t_proj = down ? step++ : -1;
      const int32_t t_add = step++;
      reqs.push_back({next_id++, wide, t3, t_add});  // c
      if (down) reqs.push_back({next_id++, wide, t_proj, t_add});  // projection shortcut
      reqs[x].last_use = down ? t_proj : t_add;
      reqs.push_back({next_id++, wide, t_add, t_add});  // y, the next block's x
      x = reqs.size() - 1;
    }
  }
  reqs[x].last_use = step;  // read by the head
  return reqs;
}

TEST(ArenaAllocatorProperty, RandomWorkloadsAlwaysValidate) {
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const int n = 1 + static_cast<int>(seed * 7 % 300);
    const auto reqs = random_workload(seed, n, 1 + static_cast<int>(seed % 60), 1 + static_cast<int>(seed % 40));
    for (auto s : kAll) {
      SCOPED_TRACE(to_string(s));
      const ArenaPlan p = plan_arena(reqs, s);
      expect_sound(reqs, p);
      if (HasFailure()) return;
    }
    // Unaligned placement (alignment 1) too.
    for (auto s : {kBest, kInOrder}) {
      SCOPED_TRACE(std::string(to_string(s)) + ", alignment 1");
      const ArenaPlan p1 = plan_arena(reqs, s, 1);
      expect_sound(reqs, p1, 1);
      EXPECT_TRUE(brute_force_valid(p1, 1));
    }
    // The validator agrees with the pairwise check on valid plans and on plans with one buffer moved.
    ArenaPlan p = plan_arena(reqs, seed % 3 == 0 ? kFirst : seed % 3 == 1 ? kBest : kInOrder);
    EXPECT_TRUE(brute_force_valid(p, U));
    SplitMix64 rng{seed * 31};
    for (int trial = 0; trial < 5; ++trial) {
      ArenaPlan broken = p;
      auto& victim = broken.placements[static_cast<size_t>(rng.uniform(0, n - 1))];
      victim.offset = rng.uniform(0, broken.arena_bytes / U) * U + (trial == 4 ? 8 : 0);
      EXPECT_EQ(validate_arena(broken).empty(), brute_force_valid(broken, U)) << joined(validate_arena(broken));
    }
    if (HasFailure()) return;
  }
}

TEST(ArenaAllocatorProperty, AutoKeepsTheSmallerBestFitThenSearchesSmallPlans) {
  int closes = 0, searched = 0;
  for (uint64_t seed = 300; seed < 340; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const auto reqs = random_workload(seed, 1 + static_cast<int>(seed * 13 % 500), 1 + static_cast<int>(seed % 80), 30);
    const ArenaPlan largest = plan_arena(reqs, kBest);
    const ArenaPlan in_order = plan_arena(reqs, kInOrder);
    const ArenaPlan chosen = plan_arena(reqs, kAuto);
    expect_sound(reqs, chosen);
    // In order within 1/256 of the live peak is kept; else the smaller, ties to largest first; then, on
    // up to 256 buffers still above 1/256 of the live peak, the order search's placement when smaller.
    const bool close = in_order.arena_bytes - in_order.live_peak_bytes <= in_order.live_peak_bytes / 256;
    const bool largest_wins = !close && largest.arena_bytes <= in_order.arena_bytes;
    const int64_t greedy = close ? in_order.arena_bytes : std::min(largest.arena_bytes, in_order.arena_bytes);
    const bool may_search =
        !close && reqs.size() <= 256 && greedy - chosen.live_peak_bytes > chosen.live_peak_bytes / 256;
    if (chosen.strategy == kSearch) {
      ++searched;
      EXPECT_TRUE(may_search);
      EXPECT_LT(chosen.arena_bytes, greedy);
      EXPECT_GE(chosen.arena_bytes, chosen.live_peak_bytes);
      continue;
    }
    EXPECT_EQ(chosen.strategy, largest_wins ? kBest : kInOrder);
    EXPECT_EQ(chosen.arena_bytes, greedy);
    EXPECT_LE(chosen.arena_bytes - chosen.live_peak_bytes,
              std::max(largest.arena_bytes - largest.live_peak_bytes, chosen.live_peak_bytes / 256));
    EXPECT_EQ(offsets(chosen), offsets(largest_wins ? largest : in_order));
    closes += close;
  }
  // Every rule is exercised.
  EXPECT_GT(closes, 0);
  EXPECT_GT(searched, 0);
  EXPECT_LT(closes + searched, 40);
}

// ---- OrderSearch ---------------------------------------------------------------------------------------

// The least arena over every order of first-fit placement: the optimum, since some order reaches it
// (placement_search.cpp, rule 1). n! placements: tiny workloads only.
int64_t best_over_all_orders(const std::vector<BufferRequest>& reqs) {
  std::vector<size_t> order(reqs.size());
  std::iota(order.begin(), order.end(), size_t{0});
  int64_t best = INT64_MAX;
  do {
    std::vector<int64_t> off(reqs.size(), -1);
    int64_t top = 0;
    for (size_t i : order) {
      const int64_t size = align_up(reqs[i].bytes, U);
      int64_t at = 0;
      for (bool moved = true; moved;) {  // lowest offset clear of every placed, overlapping buffer
        moved = false;
        for (size_t j = 0; j < reqs.size(); ++j) {
          if (off[j] < 0 || reqs[i].first_use > reqs[j].last_use || reqs[j].first_use > reqs[i].last_use) continue;
          const int64_t end = off[j] + align_up(reqs[j].bytes, U);
          if (at < end && off[j] < at + size) at = end, moved = true;
        }
      }
      off[i] = at;
      top = std::max(top, at + size);
    }
    best = std::min(best, top);
  } while (std::next_permutation(order.begin(), order.end()));
  return best;
}

// 6 to 8 buffers of 1 to 16 U over 4 steps: small enough for all orders, crowded enough that the greedy
// orders sometimes (about one workload in 12) leave a hole.
std::vector<BufferRequest> crowded_workload(uint64_t seed) {
  SplitMix64 rng{seed};
  const int n = 6 + static_cast<int>(seed % 3);
  std::vector<BufferRequest> reqs;
  for (int i = 0; i < n; ++i) {
    const auto first = static_cast<int32_t>(rng.uniform(0, 3));
    reqs.push_back({i, rng.uniform(1, 16) * U, first, static_cast<int32_t>(first + rng.uniform(0, 3))});
  }
  return reqs;
}

TEST(OrderSearch, FindsTheBestOrderOnTinyWorkloads) {
  int below_greedy = 0;
  for (uint64_t seed = 0; seed < 120; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const auto reqs = crowded_workload(seed);
    const ArenaPlan searched = plan_arena(reqs, kSearch);
    expect_sound(reqs, searched);
    EXPECT_EQ(searched.strategy, kSearch);
    EXPECT_EQ(searched.arena_bytes, best_over_all_orders(reqs));
    const int64_t greedy = std::min(plan_arena(reqs, kBest).arena_bytes, plan_arena(reqs, kInOrder).arena_bytes);
    EXPECT_LE(searched.arena_bytes, greedy);
    below_greedy += searched.arena_bytes < greedy;
    // Auto: the search's arena where the greedy orders leave more than 1/256 of the live peak (here, any
    // hole: sizes are multiples of U).
    EXPECT_EQ(plan_arena(reqs, kAuto).arena_bytes, std::min(greedy, searched.arena_bytes));
  }
  EXPECT_GT(below_greedy, 0);  // the workloads include some the greedy orders fragment
}

TEST(OrderSearch, AutoPlacesADenseBlockPlanAtItsLivePeak) {
  // The storages of a planned dense block (ptest::dense_net(1, 3, 4, 1), budget-solver plan, in-place
  // off): concatenations of growing width, small batch-norm statistics, and maps kept across the
  // backward pass. Both greedy orders leave 20% or more above the live peak.
  const int64_t lifetimes[][3] = {
      {0, 12, 16384}, {1, 2, 16384}, {1, 1, 64}, {1, 1, 64}, {2, 3, 16384}, {3, 24, 4096}, {4, 5, 20480}, {5,
      6, 20480}, {5, 5, 80}, {5, 5, 80}, {6, 7, 20480}, {7, 21, 4096}, {8, 9, 24576}, {9, 10, 24576}, {9, 22,
      96}, {9, 22, 96}, {10, 19, 24576}, {11, 12, 4096}, {12, 13, 28672}, {13, 16, 28672}, {14, 36, 4}, {15,
      16, 28672}, {16, 17, 28672}, {17, 36, 16384}, {17, 33, 4096}, {17, 27, 4096}, {17, 18, 4096}, {18, 19,
      24576}, {19, 22, 24576}, {20, 35, 16384}, {21, 22, 24576}, {22, 23, 24576}, {24, 29, 20480}, {25, 26,
      20480}, {25, 29, 80}, {25, 29, 80}, {26, 28, 20480}, {27, 28, 20480}, {28, 29, 20480}, {29, 30, 20480},
      {31, 32, 16384}, {31, 35, 64}, {31, 35, 64}, {32, 34, 16384}, {33, 34, 16384}, {34, 35, 16384}
  };
  std::vector<BufferRequest> reqs;
  for (const auto& l : lifetimes)
    reqs.push_back({static_cast<int64_t>(reqs.size()), l[2], static_cast<int32_t>(l[0]), static_cast<int32_t>(l[1])});
  const ArenaPlan in_order = plan_arena(reqs, kInOrder), largest = plan_arena(reqs, kBest);
  const int64_t live = in_order.live_peak_bytes, greedy = std::min(in_order.arena_bytes, largest.arena_bytes);
  EXPECT_EQ(live, 119552);
  EXPECT_GT(greedy, live * 6 / 5);
  const ArenaPlan chosen = plan_arena(reqs, kAuto);
  expect_sound(reqs, chosen);
  EXPECT_EQ(chosen.strategy, kSearch);
  // 46 buffers: the search gets its small-plan effort and reaches the live peak (with the effort plans of
  // over 64 buffers get, it stops at 127,744 B).
  EXPECT_EQ(chosen.arena_bytes, live);
  // Deterministic: the same requests get the same offsets.
  EXPECT_EQ(offsets(plan_arena(reqs, kAuto)), offsets(chosen));
}

// BestFitInOrder restated naively: before each placement, recompute the free gaps of [0, arena end) from
// scratch as the maximal ranges no live placed buffer covers, and apply the rule to them. O(n^2 log n).
std::vector<int64_t> reference_best_fit_in_order(const std::vector<BufferRequest>& reqs, int64_t alignment) {
  const size_t n = reqs.size();
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const auto& x = reqs[a];
    const auto& y = reqs[b];
    if (x.first_use != y.first_use) return x.first_use < y.first_use;
    const int64_t sx = align_up(x.bytes, alignment), sy = align_up(y.bytes, alignment);
    if (sx != sy) return sx > sy;
    if (x.id != y.id) return x.id < y.id;
    return a < b;
  });
  std::vector<int64_t> offset(n, -1);
  std::vector<size_t> placed;
  int64_t end = 0;
  for (size_t i : order) {
    const int64_t size = align_up(reqs[i].bytes, alignment);
    std::vector<std::pair<int64_t, int64_t>> used;  // live byte ranges, sorted
    for (size_t j : placed) {
      if (reqs[j].last_use >= reqs[i].first_use) used.push_back({offset[j], offset[j] + align_up(reqs[j].bytes, alignment)});
    }
    std::sort(used.begin(), used.end());
    std::vector<std::pair<int64_t, int64_t>> gaps;  // maximal free ranges below the end
    int64_t cursor = 0;
    for (const auto& [b, e] : used) {
      if (b > cursor) gaps.push_back({cursor, b});
      cursor = std::max(cursor, e);
    }
    if (cursor < end) gaps.push_back({cursor, end});
    int64_t best = -1, best_size = 0;
    for (const auto& [b, e] : gaps) {
      if (e - b >= size && (best < 0 || e - b < best_size)) best = b, best_size = e - b;
    }
    if (best < 0) best = !gaps.empty() && gaps.back().second == end ? gaps.back().first : end;
    offset[i] = best;
    end = std::max(end, best + size);
    placed.push_back(i);
  }
  return offset;
}

TEST(ArenaAllocatorProperty, BestFitInOrderMatchesANaiveRestatement) {
  for (uint64_t seed = 500; seed < 800; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const int n = 1 + static_cast<int>(seed * 11 % 250);
    auto reqs = random_workload(seed, n, 1 + static_cast<int>(seed % 50), 1 + static_cast<int>(seed % 30));
    if (seed % 2 == 0) {
      // Few distinct sizes: many equal gaps, the common case in real plans.
      SplitMix64 rng{seed};
      for (auto& r : reqs) r.bytes = rng.uniform(1, 4) * U - rng.uniform(0, 1) * 100;
    }
    const ArenaPlan p = plan_arena(reqs, kInOrder);
    expect_sound(reqs, p);
    EXPECT_EQ(offsets(p), reference_best_fit_in_order(reqs, U));
    if (HasFailure()) return;
  }
  // Larger, with two sizes only and long lives: hundreds of equal gaps at once, freed in any order.
  for (uint64_t seed = 900; seed < 910; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    auto reqs = random_workload(seed, 1500, 300, 200);
    SplitMix64 rng{seed};
    for (auto& r : reqs) r.bytes = rng.uniform(1, 2) * U;
    const ArenaPlan p = plan_arena(reqs, kInOrder);
    expect_sound(reqs, p);
    EXPECT_EQ(offsets(p), reference_best_fit_in_order(reqs, U));
    if (HasFailure()) return;
  }
}

// BestFitLargestFirst restated naively: in size order (ties: first_use, id, request order), the smallest
// gap between the placed buffers whose lifetimes meet this one's (ties: lowest), else above them all.
std::vector<int64_t> reference_best_fit_largest_first(const std::vector<BufferRequest>& reqs, int64_t alignment) {
  const size_t n = reqs.size();
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const int64_t sa = align_up(reqs[a].bytes, alignment), sb = align_up(reqs[b].bytes, alignment);
    if (sa != sb) return sa > sb;
    if (reqs[a].first_use != reqs[b].first_use) return reqs[a].first_use < reqs[b].first_use;
    if (reqs[a].id != reqs[b].id) return reqs[a].id < reqs[b].id;
    return a < b;
  });
  std::vector<int64_t> offset(n, -1);
  std::vector<size_t> placed;
  for (size_t i : order) {
    const int64_t size = align_up(reqs[i].bytes, alignment);
    std::vector<std::pair<int64_t, int64_t>> used;
    for (size_t j : placed)
      if (reqs[j].last_use >= reqs[i].first_use && reqs[j].first_use <= reqs[i].last_use)
        used.push_back({offset[j], offset[j] + align_up(reqs[j].bytes, alignment)});
    std::sort(used.begin(), used.end());
    int64_t cursor = 0, best = -1, best_gap = 0;
    for (const auto& [b, e] : used) {
      if (b > cursor && b - cursor >= size && (best < 0 || b - cursor < best_gap)) best = cursor, best_gap = b - cursor;
      cursor = std::max(cursor, e);
    }
    offset[i] = best >= 0 ? best : cursor;
    placed.push_back(i);
  }
  return offset;
}

// Both of BestFitLargestFirst's ways to find a buffer's gaps (sorting its conflicts, or walking every
// placed buffer when the conflicts are most of them) place exactly as the rule says.
TEST(ArenaAllocatorProperty, BestFitLargestFirstMatchesANaiveRestatement) {
  for (uint64_t seed = 1200; seed < 1300; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const int n = 1 + static_cast<int>(seed * 17 % 400);
    auto reqs = random_workload(seed, n, 1 + static_cast<int>(seed % 50), 1 + static_cast<int>(seed % 30));
    EXPECT_EQ(offsets(plan_arena(reqs, kBest)), reference_best_fit_largest_first(reqs, U));
    if (HasFailure()) return;
  }
  // Keep-everything shape: forward values live until their backward step, so each conflicts with most.
  for (uint64_t seed = 1300; seed < 1304; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    SplitMix64 rng{seed};
    std::vector<BufferRequest> reqs;
    const int layers = 600;
    for (int i = 0; i < layers; ++i) {
      const int32_t t = i, back = 2 * layers - i;
      reqs.push_back({2 * i, rng.uniform(1, 8) * U - rng.uniform(0, 1) * 100, t, back});
      reqs.push_back({2 * i + 1, rng.uniform(1, 4) * U, back - 1, back});  // its gradient
    }
    const ArenaPlan p = plan_arena(reqs, kBest);
    expect_sound(reqs, p);
    EXPECT_EQ(offsets(p), reference_best_fit_largest_first(reqs, U));
    if (HasFailure()) return;
  }
}

TEST(ArenaAllocatorCompare, BestFitBeatsFirstFitOnRandomWorkloads) {
  int64_t first_total = 0, best_total = 0, live_total = 0;
  int best_wins = 0, first_wins = 0;
  for (uint64_t seed = 1000; seed < 1020; ++seed) {
    const auto reqs = random_workload(seed, 2000, 400, 60);
    const ArenaPlan first = plan_arena(reqs, kFirst);
    const ArenaPlan best = plan_arena(reqs, kBest);
    expect_sound(reqs, first);
    expect_sound(reqs, best);
    first_total += first.arena_bytes;
    best_total += best.arena_bytes;
    live_total += best.live_peak_bytes;
    best_wins += best.arena_bytes < first.arena_bytes;
    first_wins += first.arena_bytes < best.arena_bytes;
  }
  RecordProperty("first_fit_total", std::to_string(first_total));
  RecordProperty("best_fit_total", std::to_string(best_total));
  std::printf("random: live %lld  first-fit %lld (%.3fx)  best-fit %lld (%.3fx)  wins best %d first %d\n",
              static_cast<long long>(live_total), static_cast<long long>(first_total),
              static_cast<double>(first_total) / static_cast<double>(live_total),
              static_cast<long long>(best_total), static_cast<double>(best_total) / static_cast<double>(live_total),
              best_wins, first_wins);
  EXPECT_LE(best_total, first_total);
  EXPECT_GE(best_total, live_total);
}

TEST(ArenaAllocatorCompare, BestFitBeatsFirstFitOnConvChains) {
  int64_t first_total = 0, best_total = 0;
  for (int layers : {16, 50, 100, 200}) {
    const int sqrt_k = std::max(1, static_cast<int>(std::lround(std::sqrt(layers))));
    for (int k : {1, sqrt_k, layers}) {
      SCOPED_TRACE("layers " + std::to_string(layers) + " k " + std::to_string(k));
      const auto reqs = conv_chain_workload(layers, k, 32);
      const ArenaPlan first = plan_arena(reqs, kFirst);
      const ArenaPlan best = plan_arena(reqs, kBest);
      expect_sound(reqs, first);
      expect_sound(reqs, best);
      std::printf("conv chain layers=%3d k=%3d: live %6.1f MiB  first-fit %6.1f MiB  best-fit %6.1f MiB\n",
                  layers, k, static_cast<double>(best.live_peak_bytes) / (1 << 20),
                  static_cast<double>(first.arena_bytes) / (1 << 20),
                  static_cast<double>(best.arena_bytes) / (1 << 20));
      first_total += first.arena_bytes;
      best_total += best.arena_bytes;
    }
  }
  EXPECT_LE(best_total, first_total);

  // Residual chains: the shortcut splits the free space and the in-order free list pays for it.
  int64_t res_first = 0, res_best = 0;
  for (int blocks : {3, 8, 30}) {
    SCOPED_TRACE("bottleneck blocks per stage " + std::to_string(blocks));
    const auto reqs = bottleneck_chain_workload(blocks, 32);
    const ArenaPlan first = plan_arena(reqs, kFirst);
    const ArenaPlan best = plan_arena(reqs, kBest);
    expect_sound(reqs, first);
    expect_sound(reqs, best);
    std::printf("bottleneck chain blocks/stage=%2d: live %6.1f MiB  first-fit %6.1f MiB  best-fit %6.1f MiB\n",
                blocks, static_cast<double>(best.live_peak_bytes) / (1 << 20),
                static_cast<double>(first.arena_bytes) / (1 << 20),
                static_cast<double>(best.arena_bytes) / (1 << 20));
    res_first += first.arena_bytes;
    res_best += best.arena_bytes;
  }
  EXPECT_LT(res_best, res_first);
  EXPECT_LE(best_total + res_best, first_total + res_first);
}

// ---- scale ---------------------------------------------------------------------------------------------

TEST(ArenaAllocatorScale, LongChainPlansQuickly) {
  // 200,000 buffers, each live 2-3 steps: quadratic placement would take minutes here.
  SplitMix64 rng{42};
  std::vector<BufferRequest> reqs;
  const int n = 200000;
  reqs.reserve(n);
  for (int i = 0; i < n; ++i) {
    const auto bytes = static_cast<int64_t>(std::exp2(10.0 + 12.0 * rng.unit()));
    reqs.push_back({i, bytes, i, static_cast<int32_t>(i + 1 + rng.uniform(0, 1))});
  }
  for (auto s : kAll) {
    if (s == kSearch) continue;  // for a few hundred buffers, not 200,000 (Auto never runs it here)
    SCOPED_TRACE(to_string(s));
    const auto t0 = std::chrono::steady_clock::now();
    const ArenaPlan p = plan_arena(reqs, s);
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(sec, 5.0);
    EXPECT_TRUE(validate_arena(p).empty());
    EXPECT_GE(p.arena_bytes, p.live_peak_bytes);
    EXPECT_LE(p.arena_bytes, 3 * p.live_peak_bytes);
  }
}

// An unrolled LSTM trained without checkpointing, `T` time steps: forward step i writes its activations,
// all read again at the mirrored backward step 2T-1-i, and short-lived temporaries; backward step 2T-1-i
// writes gradients read by the next backward step and a workspace. All the kept activations (a third of
// the buffers) are live at the turn, so k reaches ~ n / 3: BestFitLargestFirst and FirstFitInOrder are
// quadratic there.
std::vector<BufferRequest> lstm_workload(int T) {
  std::vector<BufferRequest> reqs;
  reqs.reserve(static_cast<size_t>(6 * T));
  const int64_t hidden[3] = {512, 1024, 768};  // three stacked layers, round robin
  int64_t id = 0;
  for (int i = 0; i < T; ++i) {
    const int64_t h = 64 * hidden[i % 3] * 4;  // batch 64, fp32
    const auto fwd = static_cast<int32_t>(i), bwd = static_cast<int32_t>(2 * T - 1 - i);
    reqs.push_back({id++, 4 * h, fwd, bwd});        // gates, kept for the backward
    reqs.push_back({id++, h, fwd, bwd});            // cell state, kept
    reqs.push_back({id++, 2 * h + 1000, fwd, fwd});  // forward temporary
    reqs.push_back({id++, h, bwd, bwd + 1});        // gradient, read by the next backward step
    reqs.push_back({id++, 4 * h, bwd, bwd});        // backward workspace
    reqs.push_back({id++, h / 2, fwd, fwd + 2});    // short-lived, over three forward steps
  }
  return reqs;
}

TEST(ArenaAllocatorScale, LstmTrainingPlansQuicklyWithAuto) {
  // 300,000 buffers. BestFitLargestFirst took ~5 s on 28,000 buffers of this shape; Auto must not run it.
  const auto reqs = lstm_workload(50000);
  ASSERT_EQ(reqs.size(), 300000u);
  const auto t0 = std::chrono::steady_clock::now();
  const ArenaPlan p = plan_arena(reqs);
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("lstm %zu buffers: auto -> %s in %.3f s, arena / live peak %.5f\n", reqs.size(), to_string(p.strategy),
              sec, static_cast<double>(p.arena_bytes) / static_cast<double>(p.live_peak_bytes));
  EXPECT_LT(sec, 3.0);  // loose: catches quadratic behaviour, not a regression of a few percent
  EXPECT_EQ(p.strategy, kInOrder);
  ASSERT_EQ(p.placements.size(), reqs.size());
  EXPECT_TRUE(validate_arena(p).empty()) << joined(validate_arena(p, U, 3));
  EXPECT_GE(p.arena_bytes, p.live_peak_bytes);
  EXPECT_LE(p.arena_bytes, p.live_peak_bytes + p.live_peak_bytes / 20);  // within 5% of the lower bound
}

}  // namespace
}  // namespace sublinear::planner
