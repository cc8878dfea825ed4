#pragma once
// A search over the order in which a few buffers are placed lowest-first (first fit), for the arenas the
// greedy orders leave fragmented. The rules are in placement_search.cpp.
#include <cstdint>
#include <vector>

namespace sublinear::planner {

// One buffer as the search sees it: its size already aligned, its lifetime's inclusive steps.
struct SearchBuffer {
  int64_t size;
  int64_t first, last;
};

// Offsets for `buffers` whose arena is smaller than the `start` placement's (offsets by buffer; empty:
// none, any placement will do), or an empty vector when the search found none within `effort` (a count
// of placed-neighbour visits, so the answer is the same on any machine). Stops as soon as the arena is at
// most `good_enough` bytes: the live peak, below which no placement can go, or that plus a margin the
// caller accepts.
std::vector<int64_t> search_placement_order(const std::vector<SearchBuffer>& buffers,
                                            const std::vector<int64_t>& start, int64_t good_enough, int64_t effort);

}  // namespace sublinear::planner
