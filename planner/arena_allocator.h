#pragma once
// The planner's last stage: static arena allocation. Given tensors with sizes and lifetimes over an
// execution order, give each a byte offset in ONE arena so that no two tensors whose lifetimes overlap
// share bytes. The arena size is the plan's peak. See arena_allocator.cpp for the rules.
#include <cstdint>
#include <string>
#include <vector>

namespace sublinear::planner {

// One tensor to place. Steps index the execution order; both ends are inclusive.
struct BufferRequest {
  int64_t id;         // caller's id (e.g. a value id); not interpreted, only copied and reported
  int64_t bytes;      // > 0, as requested (rounded up to the alignment when placed)
  int32_t first_use;  // step index where it is written (inclusive)
  int32_t last_use;   // last step index where it is read (inclusive), >= first_use
};

// Where a request went. `bytes` is the requested size; the placement occupies
// [offset, offset + round_up(bytes, alignment)).
struct BufferPlacement {
  int64_t id;
  int64_t offset;
  int64_t bytes;
  int32_t first_use, last_use;
};

enum class PlacementStrategy {
  // Simple free-list baseline: requests in first_use order, each at the lowest conflict-free offset.
  FirstFitInOrder,
  // Largest first, each into the smallest gap that fits (else on top of the conflicting buffers).
  // O(n log n + n k log k), k = buffers whose lifetimes overlap the one being placed: slow when most
  // buffers live long (forward activations kept for the backward pass make k ~ n / 2).
  BestFitLargestFirst,
  // Requests in first_use order (ties: larger first, then id) over a coalescing free list: each goes into
  // the smallest free gap that fits (ties: lowest offset), else the arena grows. O(n log n) whatever k.
  BestFitInOrder,
  // A local search over the order in which buffers are placed lowest-first (placement_search.h), from
  // largest first; for a few hundred buffers at most, where many orders can be tried.
  OrderSearch,
  // Runs both best-fit strategies and keeps the smaller arena when the lifetimes overlap little enough for
  // BestFitLargestFirst to be cheap, else BestFitInOrder alone; on small plans still fragmented after them,
  // OrderSearch too (the rules are in arena_allocator.cpp).
  Auto,
  // Auto without its order search: for a search that places thousands of candidate plans and re-places
  // only the ones it keeps with Auto.
  AutoGreedy,
};

struct ArenaPlan {
  std::vector<BufferPlacement> placements;  // same order as requests
  int64_t arena_bytes = 0;      // max over placements of offset + aligned bytes (the plan's peak)
  int64_t live_peak_bytes = 0;  // max over steps of the sum of aligned bytes live at that step (lower bound)
  // The strategy that produced the placements: the one asked for, or the one Auto picked (never Auto).
  PlacementStrategy strategy = PlacementStrategy::FirstFitInOrder;
  int64_t fragmentation_bytes() const { return arena_bytes - live_peak_bytes; }
};

const char* to_string(PlacementStrategy s);

// Rounds `bytes` up to a multiple of `alignment` (> 0).
int64_t align_up(int64_t bytes, int64_t alignment);

// Places every request. Bad requests (bytes <= 0, last_use < first_use) and alignment <= 0 are internal
// errors (SL_CHECK): the planner generates the requests.
ArenaPlan plan_arena(const std::vector<BufferRequest>& reqs,
                     PlacementStrategy s = PlacementStrategy::Auto, int64_t alignment = 256);

// Max over steps of the sum of aligned bytes live at that step: a lower bound on any arena.
int64_t live_peak_bytes(const std::vector<BufferRequest>& reqs, int64_t alignment = 256);

// Checks that no two placements with overlapping lifetimes overlap in bytes, that all lie within the arena,
// that offsets are aligned and non-negative and that sizes and lifetimes are well formed. Returns the
// problems (empty = valid), each naming the ids involved, their byte ranges and lifetimes. At most
// `max_problems` are listed, then one line saying how many more were found.
std::vector<std::string> validate_arena(const ArenaPlan& plan, int64_t alignment = 256,
                                        size_t max_problems = 100);

}  // namespace sublinear::planner
