// A local search over placement orders, for small arenas the greedy strategies leave fragmented.
//
// Why
//   The greedy placers (arena_allocator.cpp) place each buffer once, in one fixed order. On small plans
//   with buffers of many sizes (a dense block's concatenations, a U-Net's skips) their arena can sit 10 to
//   20% above the live peak, and the budget solver then pays for that fragmentation with recomputation: a
//   plan whose live bytes fit a budget is rejected because its arena does not. Placing buffers in a
//   better order removes most of it, and small plans are exactly the ones where many orders can be tried.
//
// Rules
//   1. Decoder: buffers are placed one by one in a given order, each at the lowest offset where it does
//      not overlap any already placed buffer whose lifetime shares a step with it (first fit). Every order
//      gives a valid placement. The decoder is complete: for any placement, the order of increasing offset
//      gives each buffer an offset no higher than it had, so some order reaches the optimum.
//   2. Start: the incumbent placement's buffers by increasing offset (by rule 1 no buffer lands higher
//      than it was), or, with no incumbent, largest first (ties: earlier first step, then index).
//   3. Moves: one to three swaps, each of a buffer drawn by a fixed-seed std::mt19937_64 and one whose
//      lifetime overlaps it (the order of two that never live together changes no offset). A move is
//      kept when the arena does not grow (sideways moves cross the plateaus that most orders sit on); a
//      placement is abandoned as soon as its arena passes the one kept, and starts from the first
//      position a move changed (the buffers before it keep their offsets).
//   4. Budget: `effort` counts placed neighbours visited, never time, so the result is a function of the
//      input alone. The search stops early at `good_enough`: the live peak (nothing is below it), or
//      within Auto's 1/256 of it.
//   5. The answer is returned only when it is smaller than the incumbent (the greedy strategies' best);
//      the caller's placement stands otherwise.
#include "planner/placement_search.h"

#include <algorithm>
#include <numeric>
#include <random>

namespace sublinear::planner {
namespace {

// std::mt19937_64's sequence is fixed by the standard, so the search is the same on every platform.
size_t below(std::mt19937_64& rng, size_t n) { return static_cast<size_t>(rng() % n); }

class Decoder {
 public:
  explicit Decoder(const std::vector<SearchBuffer>& b)
      : b_(b), placed_(b.size()), offset_(b.size()), kept_offset_(b.size()), prefix_top_(b.size() + 1) {
    const size_t n = b.size();
    conflicts_.resize(n);
    for (size_t i = 0; i < n; ++i)
      for (size_t j = i + 1; j < n; ++j)
        if (b[i].first <= b[j].last && b[j].first <= b[i].last) {
          conflicts_[i].push_back(j);
          conflicts_[j].push_back(i);
        }
  }

  // The arena of `order`, or a value above `limit` as soon as it is sure to pass it; `work` grows by the
  // neighbours visited. Positions before `from` must hold the kept order's buffers (accept()): their
  // offsets are the kept ones and only the rest is placed again.
  int64_t place(const std::vector<size_t>& order, size_t from, int64_t limit, int64_t& work) {
    offset_ = kept_offset_;
    for (size_t p = 0; p < order.size(); ++p) placed_[order[p]] = p < from;
    work += static_cast<int64_t>(order.size());
    int64_t top = prefix_top_[from];
    for (size_t p = from; p < order.size(); ++p) {
      const size_t i = order[p];
      ranges_.clear();
      for (size_t j : conflicts_[i])
        if (placed_[j]) ranges_.push_back({offset_[j], offset_[j] + b_[j].size});
      work += static_cast<int64_t>(conflicts_[i].size()) + 1;
      std::sort(ranges_.begin(), ranges_.end());
      int64_t at = 0;
      for (const auto& [begin, end] : ranges_) {
        if (begin >= at + b_[i].size) break;  // the gap below this range fits
        at = std::max(at, end);
      }
      offset_[i] = at;
      placed_[i] = 1;
      top = std::max(top, at + b_[i].size);
      if (top > limit) return top;
    }
    return top;
  }
  // Makes the last placement of `order` the kept one.
  void accept(const std::vector<size_t>& order) {
    kept_offset_ = offset_;
    for (size_t p = 0; p < order.size(); ++p)
      prefix_top_[p + 1] = std::max(prefix_top_[p], offset_[order[p]] + b_[order[p]].size);
  }
  const std::vector<int64_t>& offsets() const { return offset_; }
  const std::vector<size_t>& conflicts(size_t i) const { return conflicts_[i]; }

 private:
  const std::vector<SearchBuffer>& b_;
  std::vector<std::vector<size_t>> conflicts_;
  std::vector<char> placed_;
  std::vector<int64_t> offset_;
  std::vector<int64_t> kept_offset_;  // by buffer, of the kept order
  std::vector<int64_t> prefix_top_;   // [p]: the kept order's arena after its first p buffers
  std::vector<std::pair<int64_t, int64_t>> ranges_;
};

}  // namespace

std::vector<int64_t> search_placement_order(const std::vector<SearchBuffer>& buffers,
                                            const std::vector<int64_t>& start, int64_t good_enough, int64_t effort) {
  const size_t n = buffers.size();
  int64_t incumbent = INT64_MAX;
  if (!start.empty()) {
    incumbent = 0;
    for (size_t i = 0; i < n; ++i) incumbent = std::max(incumbent, start[i] + buffers[i].size);
  }
  if (n < 2 || incumbent <= good_enough) return {};
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (!start.empty() && start[a] != start[b]) return start[a] < start[b];
    if (buffers[a].size != buffers[b].size) return buffers[a].size > buffers[b].size;
    if (buffers[a].first != buffers[b].first) return buffers[a].first < buffers[b].first;
    return a < b;
  });
  Decoder decoder(buffers);
  int64_t work = 0;
  int64_t kept = decoder.place(order, 0, INT64_MAX, work);
  decoder.accept(order);
  std::vector<int64_t> best = kept < incumbent ? decoder.offsets() : std::vector<int64_t>{};
  int64_t best_arena = std::min(kept, incumbent);
  std::mt19937_64 rng{0x5EA4C4u};
  std::vector<size_t> trial;
  while (work < effort && best_arena > good_enough) {
    trial = order;
    const size_t swaps = 1 + below(rng, 3);
    size_t from = n;
    for (size_t s = 0; s < swaps; ++s) {
      // Two buffers whose lifetimes overlap: the order of any other two changes no offset.
      const size_t a = below(rng, n);
      const std::vector<size_t>& near = decoder.conflicts(trial[a]);
      if (near.empty()) continue;
      const size_t other = near[below(rng, near.size())];
      const size_t b = static_cast<size_t>(std::find(trial.begin(), trial.end(), other) - trial.begin());
      std::swap(trial[a], trial[b]);
      from = std::min({from, a, b});
    }
    if (from == n) continue;
    const int64_t arena = decoder.place(trial, from, kept, work);
    if (arena > kept) continue;
    kept = arena;
    order.swap(trial);
    decoder.accept(order);
    if (arena < best_arena) {
      best_arena = arena;
      best = decoder.offsets();
    }
  }
  return best;
}

}  // namespace sublinear::planner
