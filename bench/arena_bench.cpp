// How long the static arena allocator takes, and how close to the live peak each strategy gets.
// Usage: bench_arena [buffers] [repeats] [all]   (defaults: 100000 buffers, best of 3)
// first-fit-in-order is O(n k) and best-fit-largest-first O(n k log k) (k = overlapping lifetimes): they
// are skipped ("-") on workloads whose overlap estimate exceeds 1e9 pairs (minutes) unless the third
// argument is "all".
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "planner/arena_allocator.h"

#include "tests/support/split_mix64.h"

namespace {

using sublinear::planner::ArenaPlan;
using sublinear::planner::BufferRequest;
using sublinear::planner::PlacementStrategy;

using sublinear::testing::SplitMix64;

// A long chain: buffer i is written at step i and lives 2-3 steps; sizes log-uniform 1 KiB .. 4 MiB.
std::vector<BufferRequest> chain(int n, uint64_t seed) {
  SplitMix64 rng{seed};
  std::vector<BufferRequest> reqs;
  reqs.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const auto bytes = static_cast<int64_t>(std::exp2(10.0 + 12.0 * rng.unit()));
    reqs.push_back({i, bytes, i, static_cast<int32_t>(i + 1 + rng.uniform(0, 1))});
  }
  return reqs;
}

// Mixed lifetimes over n / 4 steps: mostly 1-4 steps, one in five up to 64; sizes 256 B .. 16 MiB.
std::vector<BufferRequest> mixed(int n, uint64_t seed) {
  SplitMix64 rng{seed};
  const int steps = std::max(1, n / 4);
  std::vector<BufferRequest> reqs;
  reqs.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const auto first = static_cast<int32_t>(rng.uniform(0, steps - 1));
    const int64_t len = rng.unit() < 0.8 ? rng.uniform(0, 3) : rng.uniform(0, 63);
    const auto bytes = static_cast<int64_t>(std::exp2(8.0 + 16.0 * rng.unit()));
    reqs.push_back({i, bytes, first, static_cast<int32_t>(first + len)});
  }
  return reqs;
}

// Training a conv chain with sqrt(n) checkpointing (Chen et al. algorithm 1): segment outputs live from
// the forward to the backward, recomputed maps from their recompute step to their backward step,
// gradients until the next backward op, workspaces one step. About 5 buffers per layer.
std::vector<BufferRequest> checkpointed_conv(int buffers) {
  const int layers = std::max(4, buffers / 5);
  const int k = std::max(1, static_cast<int>(std::lround(std::sqrt(layers))));
  auto map_bytes = [&](int layer) {
    const int stage = std::min(3, 4 * layer / layers);
    return int64_t{32} * (64LL << stage) * (56 >> stage) * (56 >> stage) * 4;
  };
  auto kept = [&](int i) { return i % k == k - 1 || i + 1 == layers; };
  const auto L = static_cast<size_t>(layers);
  std::vector<int32_t> fwd(L), rec(L, -1), bwd(L);
  int32_t step = 0;
  for (int i = 0; i < layers; ++i) fwd[static_cast<size_t>(i)] = step++;
  for (int s = (layers + k - 1) / k - 1; s >= 0; --s) {
    const int lo = s * k, hi = std::min(layers, lo + k);
    for (int i = lo; i < hi; ++i) {
      if (!kept(i)) rec[static_cast<size_t>(i)] = step++;
    }
    for (int i = hi - 1; i >= lo; --i) bwd[static_cast<size_t>(i)] = step++;
  }
  std::vector<BufferRequest> reqs;
  int64_t id = 0;
  for (int i = 0; i < layers; ++i) {
    const auto u = static_cast<size_t>(i);
    const int64_t b = map_bytes(i);
    const int32_t read_by_bwd = i + 1 < layers ? bwd[u + 1] : bwd[u];
    if (kept(i)) {
      reqs.push_back({id++, b, fwd[u], read_by_bwd});
    } else {
      reqs.push_back({id++, b, fwd[u], fwd[u] + 1});
      reqs.push_back({id++, b, rec[u], read_by_bwd});
    }
    reqs.push_back({id++, b / 4 + 1000, fwd[u], fwd[u]});
    reqs.push_back({id++, b, bwd[u], i > 0 ? bwd[u - 1] : bwd[u]});
    reqs.push_back({id++, b / 2 + 1000, bwd[u], bwd[u]});
  }
  return reqs;
}

// An unrolled multi-layer LSTM trained without checkpointing, about `buffers` buffers. Forward op t (cell
// of one layer at one time step, t = 0..T-1) keeps its gates, cell state and output for the backward
// (live until the mirrored backward op 2T-1-t) and uses a one-step workspace; backward op 2T-1-t writes the
// gradients of the cell's inputs (read by the next backward op) and a one-step workspace. So 3/7 of the
// buffers live from the forward to the backward, all of them at the turn: k is up to ~ n / 2.
std::vector<BufferRequest> lstm(int buffers) {
  const int64_t batch = 64;
  const int64_t hidden[3] = {512, 1024, 768};  // per layer
  const int ops = std::max(3, buffers / 7);
  std::vector<BufferRequest> reqs;
  reqs.reserve(static_cast<size_t>(7 * ops));
  int64_t id = 0;
  for (int t = 0; t < ops; ++t) {
    const int64_t h = batch * hidden[t % 3] * 4;  // one hidden-sized fp32 map
    const auto fwd = static_cast<int32_t>(t), bwd = static_cast<int32_t>(2 * ops - 1 - t);
    reqs.push_back({id++, 4 * h, fwd, bwd});       // gates
    reqs.push_back({id++, h, fwd, bwd});           // cell state
    reqs.push_back({id++, h, fwd, bwd});           // output
    reqs.push_back({id++, 2 * h + 512, fwd, fwd});  // workspace
    reqs.push_back({id++, h, bwd, bwd + 1});       // gradient of the input
    reqs.push_back({id++, h, bwd, bwd + 1});       // gradient of the previous cell state
    reqs.push_back({id++, 4 * h, bwd, bwd});       // gate gradients (workspace)
  }
  return reqs;
}

// The overlap estimate plan_arena's Auto uses: the sum over buffers of the other buffers live at its
// first step.
double overlap_pairs(const std::vector<BufferRequest>& reqs) {
  if (reqs.empty()) return 0;
  int32_t lo = reqs[0].first_use, hi = reqs[0].last_use;
  for (const auto& r : reqs) {
    lo = std::min(lo, r.first_use);
    hi = std::max(hi, r.last_use);
  }
  std::vector<int64_t> live(static_cast<size_t>(hi - lo) + 2, 0);
  for (const auto& r : reqs) {
    ++live[static_cast<size_t>(r.first_use - lo)];
    --live[static_cast<size_t>(r.last_use - lo) + 1];
  }
  for (size_t k = 1; k < live.size(); ++k) live[k] += live[k - 1];
  double pairs = 0;
  for (const auto& r : reqs) pairs += static_cast<double>(live[static_cast<size_t>(r.first_use - lo)] - 1);
  return pairs;
}

struct Result {
  ArenaPlan plan;
  double ms = 0;
};

Result run(const std::vector<BufferRequest>& reqs, PlacementStrategy s, int repeats) {
  Result r;
  r.ms = 1e30;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    ArenaPlan p = sublinear::planner::plan_arena(reqs, s);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    r.ms = std::min(r.ms, ms);
    r.plan = std::move(p);
  }
  const auto problems = sublinear::planner::validate_arena(r.plan);
  if (!problems.empty()) {
    std::fprintf(stderr, "%s produced an invalid plan: %s\n", sublinear::planner::to_string(s),
                 problems.front().c_str());
    std::exit(1);
  }
  return r;
}

double mib(int64_t b) { return static_cast<double>(b) / (1024.0 * 1024.0); }

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 100000;
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 3;
  const bool all = argc > 3 && std::string(argv[3]) == "all";
  struct Case {
    const char* name;
    std::vector<BufferRequest> reqs;
  };
  const std::vector<Case> cases = {
      {"chain (2-3 steps)", chain(n, 1)},
      {"mixed lifetimes", mixed(n, 2)},
      {"conv train sqrt-ckpt", checkpointed_conv(n)},
      {"lstm train no-ckpt", lstm(n)},
  };
  const PlacementStrategy strategies[] = {PlacementStrategy::FirstFitInOrder, PlacementStrategy::BestFitLargestFirst,
                                          PlacementStrategy::BestFitInOrder, PlacementStrategy::Auto};
  std::printf("sizes in MiB; ratio = arena / live peak (1 = no fragmentation); ms = best of %d; pairs = Auto's\n"
              "overlap estimate (Auto runs both best fits below 2e7); auto = the strategy Auto kept\n",
              repeats);
  std::printf("%-21s %7s %8s %9s |", "workload", "buffers", "pairs", "live peak");
  for (const char* name : {"first-fit", "best-fit largest", "best-fit in-order", "auto"}) std::printf(" %-24s |", name);
  std::printf(" auto kept\n%-21s %7s %8s %9s |", "", "", "", "");
  for (int k = 0; k < 4; ++k) std::printf(" %9s %6s %7s |", "arena", "ratio", "ms");
  std::printf("\n");
  for (const auto& c : cases) {
    const double pairs = overlap_pairs(c.reqs);
    std::printf("%-21s %7zu %8.1e %9.1f |", c.name, c.reqs.size(), pairs,
                mib(sublinear::planner::live_peak_bytes(c.reqs)));
    std::fflush(stdout);
    const char* kept = "";
    for (const PlacementStrategy s : strategies) {
      const bool quadratic = s == PlacementStrategy::FirstFitInOrder || s == PlacementStrategy::BestFitLargestFirst;
      if (quadratic && pairs > 1e9 && !all) {
        std::printf(" %9s %6s %7s |", "-", "-", "-");
        continue;
      }
      const Result r = run(c.reqs, s, repeats);
      const auto live = static_cast<double>(r.plan.live_peak_bytes);
      std::printf(" %9.1f %6.3f %7.1f |", mib(r.plan.arena_bytes), static_cast<double>(r.plan.arena_bytes) / live,
                  r.ms);
      std::fflush(stdout);
      if (s == PlacementStrategy::Auto) kept = sublinear::planner::to_string(r.plan.strategy);
    }
    std::printf(" %s\n", kept);
  }
  return 0;
}
