// How long the static arena allocator takes, and how close to the live peak each strategy gets.
// Usage: bench_arena [buffers] [repeats]   (defaults: 100000 buffers, best of 3)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "planner/arena_allocator.h"

namespace {

using sublinear::planner::ArenaPlan;
using sublinear::planner::BufferRequest;
using sublinear::planner::PlacementStrategy;

struct SplitMix64 {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  int64_t uniform(int64_t lo, int64_t hi) { return lo + static_cast<int64_t>(next() % static_cast<uint64_t>(hi - lo + 1)); }
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
};

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
  struct Case {
    const char* name;
    std::vector<BufferRequest> reqs;
  };
  const std::vector<Case> cases = {
      {"chain (2-3 steps)", chain(n, 1)},
      {"mixed lifetimes", mixed(n, 2)},
      {"conv train sqrt-ckpt", checkpointed_conv(n)},
  };
  std::printf("sizes in MiB; frag = arena - live peak; ratio = arena / live peak; best/first = arena ratio\n");
  std::printf("%-22s %8s %10s | %10s %9s %7s %8s | %10s %9s %7s %8s | %10s\n", "workload", "buffers",
              "live peak", "first-fit", "frag", "ratio", "ms", "best-fit", "frag", "ratio", "ms", "best/first");
  for (const auto& c : cases) {
    const Result f = run(c.reqs, PlacementStrategy::FirstFitInOrder, repeats);
    const Result b = run(c.reqs, PlacementStrategy::BestFitLargestFirst, repeats);
    const auto live = static_cast<double>(b.plan.live_peak_bytes);
    std::printf("%-22s %8zu %10.1f | %10.1f %9.1f %7.3f %8.1f | %10.1f %9.1f %7.3f %8.1f | %10.3f\n", c.name,
                c.reqs.size(), mib(b.plan.live_peak_bytes), mib(f.plan.arena_bytes),
                mib(f.plan.fragmentation_bytes()), static_cast<double>(f.plan.arena_bytes) / live, f.ms,
                mib(b.plan.arena_bytes), mib(b.plan.fragmentation_bytes()),
                static_cast<double>(b.plan.arena_bytes) / live, b.ms,
                static_cast<double>(b.plan.arena_bytes) / static_cast<double>(f.plan.arena_bytes));
  }
  return 0;
}
