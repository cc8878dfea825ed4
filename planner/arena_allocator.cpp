// Static arena allocation: the planner's last stage.
//
// Why
//   Chen et al. (section 3) decide all storage before running: no allocator runs per step, every tensor
//   of the plan lives at a fixed byte offset in one arena allocated once. Earlier planner stages fix the
//   execution order and, for each tensor, the first step that writes it and the last step that reads it.
//   This file turns those lifetimes into offsets, like Glow's MemoryAllocator and TVM's
//   static_plan_block_memory.cc, and the arena size it returns is the number the planner reports as the
//   plan's peak memory.
//
// Rules (the invariants a plan satisfies; validate_arena checks them independently of the placer)
//   1. Lifetimes are closed intervals of steps [first_use, last_use]. Two buffers conflict when their
//      lifetimes share a step: a buffer read for the last time at step t does not free its bytes for a
//      buffer written at step t (the op at t reads its inputs while it writes its outputs). In-place
//      reuse is decided earlier, by giving the output the input's value, not here.
//   2. Every size is rounded up to the alignment (256 B by default, what cudaMalloc guarantees and what
//      cuDNN and vectorised kernels want); every offset is a multiple of it. A placement occupies
//      [offset, offset + align_up(bytes)).
//   3. Two conflicting buffers never share a byte. Buffers that do not conflict may share any bytes.
//   4. arena_bytes = max over placements of offset + aligned bytes; every placement lies inside it.
//   5. live_peak_bytes = max over steps of the aligned bytes live at that step. No placement can do
//      better, so arena_bytes >= live_peak_bytes; the difference is fragmentation.
//   6. Placements come back in request order; the plan is deterministic (no dependence on pointer
//      values or hash order): every ordering below ends its ties on the request index.
//   Bad requests (bytes <= 0, last_use < first_use) are internal errors: the planner generates them.
//
// Strategies (k = number of buffers whose lifetimes overlap the one being placed). Finding the smallest
// arena is NP-hard (dynamic storage allocation); all are greedy heuristics, bounded below by rule 5.
//   FirstFitInOrder is O(n log n + n k); BestFitLargestFirst is O(n log n + n min(k log k, n)) (it sorts
//   each buffer's conflicts by offset, or walks every placed buffer in offset order, skipping those whose
//   lifetimes miss it, when k is a large share of them; on checkpointed plans k is O(sqrt(n)), but when forward activations live until the
//   backward pass k ~ n / 2 and it turns quadratic); BestFitInOrder is O(n log n)
//   whatever k. Its step sorts are counting sorts when the steps span at most 4n + 1024 values (the
//   scheduler's step ids are dense), else comparison sorts.
//   FirstFitInOrder: the simple free-list baseline. Sweep the requests in first_use order keeping the
//     active set (placed buffers still live) ordered by offset; expire buffers whose last_use has passed
//     with a heap; place each at the lowest gap of the active set that fits, else on top. Ties in
//     first_use keep request order.
//   BestFitLargestFirst: sort by size descending (ties: earlier first_use, then id). Placement order is
//     not time order, so the lifetime-overlapping buffers come from a static centred interval tree over
//     all lifetimes (O(log n + k) per query; unplaced hits are skipped). Their byte ranges, sorted by
//     offset, leave gaps; take the smallest gap that fits (ties: lowest offset), else the lowest offset
//     above them all. Placing big buffers first lets small ones fill the holes between them, which the
//     in-order free list cannot undo once a small buffer has split a big hole (TVM's and TFLite's
//     "greedy by size").
//   BestFitInOrder: a classic coalescing best-fit allocator replayed over the steps. Sweep the requests
//     in first_use order (ties: larger first, then id, then request order). Before placing the buffers
//     that start at step s, free every buffer whose last_use < s (not <= s: rule 1). The arena
//     [0, arena end) is tiled by blocks, each a placed buffer or a free gap, doubly linked in offset
//     order (the by-offset index, boundary tags): freeing merges the range with a free neighbour on
//     either side in O(1), so the gaps are always the maximal free ranges and do not depend on the order
//     of the frees within a step. The best-fit index orders the gaps by (size, offset): a map from each
//     gap size present to a min-heap of that size's gaps by offset (sizes repeat in real plans, so this
//     beats one tree node per gap). Each buffer goes to the low end of the smallest gap that fits (ties:
//     lowest offset); the rest of the gap stays free. When no gap fits, the arena grows: if the topmost
//     gap touches the arena end the buffer starts there and the end moves up, else it starts at the end.
//     O(log) per buffer, whatever k: the sweep never looks at the other live buffers.
//   Auto (plan_arena's default): run BestFitInOrder. If its arena is within 1/256 of the live peak
//     (kAutoCloseEnough; no placement can go below the live peak, rule 5), keep it: on the planner's
//     plans it nearly always is, and BestFitLargestFirst would cost up to 20x as much to gain at most
//     that margin (a budget search builds hundreds of plans). Otherwise estimate the overlap as P = the
//     sum over buffers of the number of OTHER buffers live at the buffer's first_use step, i.e. n times
//     the mean number of buffers live at a buffer's first step (a difference array over the steps; sorts
//     when they are sparse). P counts each pair of overlapping lifetimes once (twice when both start at
//     the same step), so it tracks the n k of BestFitLargestFirst's cost. If P < 2e7
//     (kAutoRunBothBelow), run BestFitLargestFirst too and keep the smaller arena_bytes (ties:
//     BestFitLargestFirst). Largest first usually packs tighter (on random workloads like the tests' it
//     wins 80 to 99 times in 100) but not always, hence the comparison. ArenaPlan::strategy names the
//     plan kept. Below the threshold a BestFitLargestFirst run's O(n log n) part alone is about a second
//     at 500k buffers.
//     Last, when the kept arena is still more than 1/256 above the live peak and there are at most
//     kSearchMaxBuffers buffers, OrderSearch runs (with kSearchEffort, or kSmallSearchEffort on at most
//     kSmallSearchBuffers buffers) and its placement replaces the kept one when it is smaller
//     (ArenaPlan::strategy then says order-search). Small plans of concat-heavy or skip-heavy nets are
//     where the greedy orders fragment most (10 to 20% above the live peak on a dense block) and where a
//     search costs a few milliseconds.
//   AutoGreedy: Auto without the order search (the budget solver's candidate builds; it re-places the
//     plans it keeps with Auto).
//   OrderSearch: placement_search.cpp states its rules. Asked for directly, it starts from largest first
//     with the same effort; it is meant for a few hundred buffers (its overlap lists are quadratic in n,
//     and its first placement is not bounded by the effort).
#include "planner/arena_allocator.h"
#include "planner/placement_search.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <queue>
#include <set>
#include <sstream>
#include <utility>

#include "ir/check.h"

namespace sublinear::planner {

namespace {

constexpr int64_t kMaxBytes = std::numeric_limits<int64_t>::max();

struct Item {
  int64_t size;   // aligned bytes
  int64_t first;  // first_use
  int64_t last;   // last_use
};

std::vector<Item> make_items(const std::vector<BufferRequest>& reqs, int64_t alignment) {
  SL_CHECK(alignment > 0) << "arena alignment must be positive, got " << alignment;
  std::vector<Item> items;
  items.reserve(reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) {
    const BufferRequest& r = reqs[i];
    SL_CHECK(r.bytes > 0) << "buffer request #" << i << " (id " << r.id << ") has " << r.bytes << " bytes";
    SL_CHECK(r.last_use >= r.first_use) << "buffer request #" << i << " (id " << r.id << ") has lifetime ["
                                        << r.first_use << ", " << r.last_use << "]";
    items.push_back({align_up(r.bytes, alignment), r.first_use, r.last_use});
  }
  return items;
}

// A byte range [begin, end) of an already placed buffer.
struct Range {
  int64_t begin, end;
};

// Scans ranges sorted by begin (they may overlap one another: they need not conflict among themselves)
// and returns where a buffer of `size` bytes goes: best fit = the smallest gap that fits (ties: lowest),
// first fit = the lowest gap that fits; either way the top of the ranges when no gap fits.
template <typename It>
int64_t choose_offset(It first, It last, int64_t size, bool best_fit) {
  int64_t cursor = 0;  // everything below cursor is covered by some range or was examined as a gap
  int64_t best_offset = -1;
  int64_t best_gap = kMaxBytes;
  for (It it = first; it != last; ++it) {
    const Range& r = *it;
    if (r.begin > cursor) {
      const int64_t gap = r.begin - cursor;
      if (gap >= size) {
        if (!best_fit) return cursor;
        if (gap < best_gap) {
          best_gap = gap;
          best_offset = cursor;
          if (gap == size) return best_offset;  // exact fit: nothing smaller can fit
        }
      }
    }
    cursor = std::max(cursor, r.end);
  }
  if (best_offset >= 0) return best_offset;
  return cursor;
}

int64_t checked_end(int64_t offset, int64_t size) {
  SL_CHECK(offset <= kMaxBytes - size) << "arena offset overflows int64: " << offset << " + " << size;
  return offset + size;
}

// ---- FirstFitInOrder: sweep over first_use with an active set ordered by offset ---------------------
std::vector<int64_t> place_first_fit(const std::vector<Item>& items) {
  const size_t n = items.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return items[a].first < items[b].first; });

  std::vector<int64_t> offset(n, -1);
  // Active set ordered by (begin, end, index): a range per placed buffer that is still live.
  struct ActiveRange {
    int64_t begin, end;
    size_t index;
    bool operator<(const ActiveRange& o) const {
      if (begin != o.begin) return begin < o.begin;
      if (end != o.end) return end < o.end;
      return index < o.index;
    }
  };
  std::set<ActiveRange> active;
  using Expiry = std::pair<int64_t, size_t>;  // (last_use, index), min-heap
  std::priority_queue<Expiry, std::vector<Expiry>, std::greater<>> expiry;

  struct AsRange {  // adapts the set's iterator to yield Range
    std::set<ActiveRange>::const_iterator it;
    Range operator*() const { return {it->begin, it->end}; }
    AsRange& operator++() {
      ++it;
      return *this;
    }
    bool operator!=(const AsRange& o) const { return it != o.it; }
  };
  for (size_t idx : order) {
    const Item& b = items[idx];
    while (!expiry.empty() && expiry.top().first < b.first) {
      const size_t gone = expiry.top().second;
      expiry.pop();
      const size_t erased = active.erase({offset[gone], offset[gone] + items[gone].size, gone});
      SL_CHECK(erased == 1) << "first-fit active set lost buffer #" << gone;
    }
    const int64_t off = choose_offset(AsRange{active.cbegin()}, AsRange{active.cend()}, b.size, false);
    offset[idx] = off;
    active.insert({off, checked_end(off, b.size), idx});
    expiry.push({b.last, idx});
  }
  return offset;
}

// ---- static centred interval tree over lifetimes -----------------------------------------------------
// Each node holds the intervals containing its centre (sorted by first ascending and by last descending);
// the left subtree holds those entirely before the centre, the right those entirely after. The centre is
// the first_use of the median interval by first_use, so every node is non-empty and each side holds at
// most half of its parent's intervals: depth O(log n), overlap queries O(log n + hits). The tree is flat
// (nodes and their entries in three arrays, keys stored next to the indices) and at most kLeafSize
// intervals end in a leaf scanned linearly, because the best-fit loop queries it once per buffer and
// cache misses down a deep tree would dominate on long chains. A leaf adds at most kLeafSize checks per
// query path, so the bound stays O(log n + hits).
class IntervalTree {
 public:
  explicit IntervalTree(const std::vector<Item>& items) {
    const size_t n = items.size();
    SL_CHECK(n < std::numeric_limits<uint32_t>::max()) << "too many buffers for one arena: " << n;
    by_first_.reserve(n);
    by_last_.reserve(n);
    std::vector<uint32_t> work(n);
    std::iota(work.begin(), work.end(), uint32_t{0});
    std::stable_sort(work.begin(), work.end(),
                     [&](uint32_t a, uint32_t b) { return items[a].first < items[b].first; });
    std::vector<uint32_t> right;  // scratch for the partition
    // Pending subtrees: a range of `work` (sorted by first) and the node that will point to it.
    struct Pending {
      size_t begin, end;
      int32_t parent;  // -1 for the root
      bool is_left;
    };
    std::vector<Pending> todo = {{0, n, -1, false}};
    while (!todo.empty()) {
      const Pending job = todo.back();
      todo.pop_back();
      if (job.begin == job.end) continue;
      const auto id = static_cast<int32_t>(nodes_.size());
      if (job.parent >= 0) {
        Node& parent = nodes_[static_cast<size_t>(job.parent)];
        (job.is_left ? parent.left : parent.right) = id;
      }
      if (job.end - job.begin <= kLeafSize) {
        // A leaf: entry k of by_first_ and by_last_ is the same interval, in first_use order.
        Node leaf{0, static_cast<uint32_t>(by_first_.size()), 0, kLeaf, kLeaf};
        for (size_t k = job.begin; k < job.end; ++k) {
          const uint32_t i = work[k];
          by_first_.push_back({items[i].first, i});
          by_last_.push_back({items[i].last, i});
        }
        leaf.end = static_cast<uint32_t>(by_first_.size());
        nodes_.push_back(leaf);
        continue;
      }
      const int64_t center = items[work[job.begin + (job.end - job.begin) / 2]].first;
      Node node{center, static_cast<uint32_t>(by_first_.size()), 0, -1, -1};
      // Stable three-way partition: left stays in place at the front, right goes to scratch, the rest
      // (those containing the centre) goes to the node, already ordered by first.
      size_t left_end = job.begin;
      right.clear();
      for (size_t k = job.begin; k < job.end; ++k) {
        const uint32_t i = work[k];
        if (items[i].last < center) {
          work[left_end++] = i;
        } else if (items[i].first > center) {
          right.push_back(i);
        } else {
          by_first_.push_back({items[i].first, i});
          by_last_.push_back({items[i].last, i});
        }
      }
      std::copy(right.begin(), right.end(), work.begin() + static_cast<std::ptrdiff_t>(left_end));
      node.end = static_cast<uint32_t>(by_first_.size());
      std::stable_sort(by_last_.begin() + node.begin, by_last_.end(),
                       [](const Entry& x, const Entry& y) { return x.key > y.key; });
      nodes_.push_back(node);
      const size_t right_end = left_end + right.size();
      todo.push_back({left_end, right_end, id, false});
      todo.push_back({job.begin, left_end, id, true});
    }
  }

  // Calls f(index) for every interval sharing a step with [lo, hi].
  template <typename F>
  void for_each_overlapping(int64_t lo, int64_t hi, F&& f) const {
    if (nodes_.empty()) return;
    stack_.clear();
    stack_.push_back(0);
    while (!stack_.empty()) {
      const Node& node = nodes_[static_cast<size_t>(stack_.back())];
      stack_.pop_back();
      if (node.left == kLeaf) {
        for (uint32_t k = node.begin; k < node.end; ++k) {
          if (by_first_[k].key <= hi && by_last_[k].key >= lo) f(by_first_[k].index);
        }
      } else if (hi < node.center) {
        for (uint32_t k = node.begin; k < node.end && by_first_[k].key <= hi; ++k) f(by_first_[k].index);
        if (node.left >= 0) stack_.push_back(node.left);
      } else if (lo > node.center) {
        for (uint32_t k = node.begin; k < node.end && by_last_[k].key >= lo; ++k) f(by_last_[k].index);
        if (node.right >= 0) stack_.push_back(node.right);
      } else {
        for (uint32_t k = node.begin; k < node.end; ++k) f(by_first_[k].index);
        if (node.left >= 0) stack_.push_back(node.left);
        if (node.right >= 0) stack_.push_back(node.right);
      }
    }
  }

 private:
  struct Entry {
    int64_t key;  // first (in by_first_) or last (in by_last_)
    uint32_t index;
  };
  static constexpr size_t kLeafSize = 16;
  static constexpr int32_t kLeaf = -2;  // left and right of a leaf
  struct Node {
    int64_t center;
    uint32_t begin, end;  // this node's entries in by_first_ and by_last_
    int32_t left, right;  // children, -1 for none
  };

  std::vector<Node> nodes_;
  std::vector<Entry> by_first_, by_last_;
  mutable std::vector<int32_t> stack_;
};

// Placed buffers ordered by (begin, end), kept in chunks of at most 2 * kChunk entries: inserting moves at
// most a chunk, walking reads memory in order.
class PlacedByOffset {
 public:
  struct Entry {
    int64_t begin, end;   // byte range
    int64_t first, last;  // lifetime
  };

  void insert(const Entry& e) {
    if (chunks_.empty()) {
      chunks_.push_back({e});
      return;
    }
    // The first chunk whose last entry is not before e (else the last chunk).
    size_t lo = 0, hi = chunks_.size() - 1;
    while (lo < hi) {
      const size_t mid = (lo + hi) / 2;
      if (before(chunks_[mid].back(), e)) lo = mid + 1;
      else hi = mid;
    }
    std::vector<Entry>& c = chunks_[lo];
    c.insert(std::upper_bound(c.begin(), c.end(), e, before), e);
    if (c.size() > 2 * kChunk) {
      std::vector<Entry> tail(c.begin() + kChunk, c.end());
      c.resize(kChunk);
      chunks_.insert(chunks_.begin() + static_cast<std::ptrdiff_t>(lo) + 1, std::move(tail));
    }
  }

  // Calls f(entry) in order until it returns false.
  template <typename F>
  void walk(F&& f) const {
    for (const auto& c : chunks_)
      for (const Entry& e : c)
        if (!f(e)) return;
  }

 private:
  static constexpr size_t kChunk = 256;
  static bool before(const Entry& x, const Entry& y) { return x.begin != y.begin ? x.begin < y.begin : x.end < y.end; }
  std::vector<std::vector<Entry>> chunks_;
};

// ---- BestFitLargestFirst ------------------------------------------------------------------------------
std::vector<int64_t> place_best_fit(const std::vector<Item>& items, const std::vector<BufferRequest>& reqs) {
  const size_t n = items.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (items[a].size != items[b].size) return items[a].size > items[b].size;
    if (items[a].first != items[b].first) return items[a].first < items[b].first;
    if (reqs[a].id != reqs[b].id) return reqs[a].id < reqs[b].id;
    return a < b;
  });
  // Work in placement order: rank r is the r-th buffer placed, so "already placed" is "rank < r" and the
  // loop reads its own item sequentially.
  std::vector<Item> ranked(n);
  for (size_t r = 0; r < n; ++r) ranked[r] = items[order[r]];

  const IntervalTree tree(ranked);
  std::vector<Range> placed(n);
  std::vector<Range> conflicts;
  // Every placed buffer in offset order. When a buffer conflicts with a large share of those already
  // placed (keep-everything plans, where k ~ n / 2), walking this index and skipping the buffers whose
  // lifetimes miss it is cheaper than sorting its conflicts; the gaps found are the same, since
  // choose_offset depends only on the set of ranges in begin order. Which way a buffer goes changes only
  // the time taken: after a walk, the next kRecheck buffers walk too without asking the tree.
  PlacedByOffset by_offset;
  constexpr int kRecheck = 16;
  int walks_left = 0;
  for (size_t r = 0; r < n; ++r) {
    const Item& b = ranked[r];
    bool walk = walks_left > 0;
    if (walk) {
      --walks_left;
    } else {
      conflicts.clear();
      tree.for_each_overlapping(b.first, b.last, [&](size_t j) {
        if (j < r) conflicts.push_back(placed[j]);
      });
      const double k = static_cast<double>(conflicts.size());
      walk = k > 64 && 2.0 * static_cast<double>(r) < k * std::log2(k);
      if (walk) walks_left = kRecheck;
    }
    int64_t off = 0;
    if (walk) {
      int64_t cursor = 0, best_offset = -1, best_gap = kMaxBytes;
      by_offset.walk([&](const PlacedByOffset::Entry& e) {
        if (e.last < b.first || e.first > b.last) return true;
        if (e.begin > cursor) {
          const int64_t gap = e.begin - cursor;
          if (gap >= b.size && gap < best_gap) {
            best_gap = gap, best_offset = cursor;
            if (gap == b.size) return false;  // exact fit: nothing smaller can fit
          }
        }
        cursor = std::max(cursor, e.end);
        return true;
      });
      off = best_offset >= 0 ? best_offset : cursor;
    } else {
      std::sort(conflicts.begin(), conflicts.end(), [](const Range& x, const Range& y) {
        return x.begin != y.begin ? x.begin < y.begin : x.end < y.end;
      });
      off = choose_offset(conflicts.cbegin(), conflicts.cend(), b.size, true);
    }
    placed[r] = {off, checked_end(off, b.size)};
    by_offset.insert({placed[r].begin, placed[r].end, b.first, b.last});
  }
  std::vector<int64_t> offset(n, -1);
  for (size_t r = 0; r < n; ++r) offset[order[r]] = placed[r].begin;
  return offset;
}

// ---- step sorts ----------------------------------------------------------------------------------------
// The steps the lifetimes cover, [lo, hi]. `dense` when there are few enough of them (relative to n) for
// arrays indexed by step: then the sorts by step are counting sorts and the live counts difference arrays.
struct StepSpan {
  int64_t lo = 0;
  int64_t count = 0;  // hi - lo + 1, 0 when there are no buffers
  bool dense = true;
};

StepSpan step_span(const std::vector<Item>& items) {
  StepSpan span;
  if (items.empty()) return span;
  int64_t lo = items[0].first, hi = items[0].last;
  for (const Item& it : items) {
    lo = std::min(lo, it.first);
    hi = std::max(hi, it.last);
  }
  span.lo = lo;
  span.count = hi - lo + 1;  // steps are int32, so this cannot overflow
  span.dense = span.count <= 4 * static_cast<int64_t>(items.size()) + 1024;
  return span;
}

// Stable counting sort of `in` by key(element), a step of the dense span.
template <typename T, typename Key>
std::vector<T> counting_sort(const std::vector<T>& in, const StepSpan& span, Key key) {
  std::vector<size_t> start(static_cast<size_t>(span.count) + 1, 0);
  for (const T& x : in) ++start[static_cast<size_t>(key(x) - span.lo) + 1];
  for (size_t k = 1; k < start.size(); ++k) start[k] += start[k - 1];
  std::vector<T> out(in.size());
  for (const T& x : in) out[start[static_cast<size_t>(key(x) - span.lo)]++] = x;
  return out;
}

// A buffer in BestFitInOrder's sweep, with the keys of its placement order.
struct Timed {
  int64_t first, last, size, id;
  uint32_t index;  // request index
};

// BestFitInOrder's placement order: first_use ascending, then size descending, then id, then index. The
// sort moves the keys instead of indices so that no comparison reads a random request.
std::vector<Timed> order_in_time(const std::vector<Item>& items, const std::vector<BufferRequest>& reqs,
                                 const StepSpan& span) {
  const size_t n = items.size();
  std::vector<Timed> timed(n);
  for (size_t i = 0; i < n; ++i) {
    timed[i] = {items[i].first, items[i].last, items[i].size, reqs[i].id, static_cast<uint32_t>(i)};
  }
  auto tie = [](const Timed& a, const Timed& b) {
    if (a.size != b.size) return a.size > b.size;
    if (a.id != b.id) return a.id < b.id;
    return a.index < b.index;
  };
  if (!span.dense) {
    std::sort(timed.begin(), timed.end(), [&](const Timed& a, const Timed& b) {
      return a.first != b.first ? a.first < b.first : tie(a, b);
    });
    return timed;
  }
  timed = counting_sort(timed, span, [](const Timed& t) { return t.first; });
  for (size_t b = 0; b < n;) {  // sort each run of equal first_use (usually a few buffers) by the ties
    size_t e = b + 1;
    while (e < n && timed[e].first == timed[b].first) ++e;
    if (e - b > 1) {
      std::sort(timed.begin() + static_cast<std::ptrdiff_t>(b), timed.begin() + static_cast<std::ptrdiff_t>(e),
                tie);
    }
    b = e;
  }
  return timed;
}

// Rule 5's lower bound over already aligned items.
int64_t live_peak(const std::vector<Item>& items, const StepSpan& span) {
  if (items.empty()) return 0;
  if (span.dense) {
    // Difference array: +size at first, -size after last; the running sum is the live total at a step.
    std::vector<int64_t> delta(static_cast<size_t>(span.count) + 1, 0);
    for (const Item& it : items) {
      delta[static_cast<size_t>(it.first - span.lo)] += it.size;
      delta[static_cast<size_t>(it.last - span.lo) + 1] -= it.size;
    }
    int64_t live = 0, peak = 0;
    for (size_t k = 0; k + 1 < delta.size(); ++k) {
      live += delta[k];
      peak = std::max(peak, live);
    }
    SL_CHECK(live + delta.back() == 0) << "live bytes do not return to zero: " << live + delta.back();
    return peak;
  }
  // +size at first_use, -size at last_use + 1; the live total at a step is the prefix sum over all events
  // at or before it. Take the maximum after applying every event of a step.
  std::vector<std::pair<int64_t, int64_t>> events;
  events.reserve(2 * items.size());
  for (const Item& it : items) {
    events.emplace_back(it.first, it.size);
    events.emplace_back(it.last + 1, -it.size);
  }
  std::sort(events.begin(), events.end());
  int64_t live = 0;
  int64_t peak = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    live += events[i].second;
    if (i + 1 == events.size() || events[i + 1].first != events[i].first) peak = std::max(peak, live);
  }
  SL_CHECK(live == 0) << "live bytes do not return to zero: " << live;
  return peak;
}

// Auto's overlap estimate: the sum over buffers of the number of other buffers live at its first_use.
double overlap_pairs(const std::vector<Item>& items, const StepSpan& span) {
  const size_t n = items.size();
  double pairs = 0;
  if (span.dense) {
    std::vector<int64_t> live(static_cast<size_t>(span.count) + 1, 0);
    for (const Item& it : items) {
      ++live[static_cast<size_t>(it.first - span.lo)];
      --live[static_cast<size_t>(it.last - span.lo) + 1];
    }
    for (size_t k = 1; k < live.size(); ++k) live[k] += live[k - 1];
    for (const Item& it : items) {
      pairs += static_cast<double>(live[static_cast<size_t>(it.first - span.lo)] - 1);
    }
    return pairs;
  }
  // Live at step t = #(first <= t) - #(last < t).
  std::vector<int64_t> firsts(n), lasts(n);
  for (size_t i = 0; i < n; ++i) {
    firsts[i] = items[i].first;
    lasts[i] = items[i].last;
  }
  std::sort(firsts.begin(), firsts.end());
  std::sort(lasts.begin(), lasts.end());
  for (const Item& it : items) {
    const auto started = std::upper_bound(firsts.begin(), firsts.end(), it.first) - firsts.begin();
    const auto ended = std::lower_bound(lasts.begin(), lasts.end(), it.first) - lasts.begin();
    pairs += static_cast<double>(started - ended - 1);
  }
  return pairs;
}

// ---- BestFitInOrder: a coalescing best-fit free list swept over the steps ----------------------------
// An ordered map from gap size to bucket id. Few sizes have gaps at a time in most plans, so it starts as a
// sorted vector (no allocation per insert, one cache line or two per search) and moves to a std::map for
// good once it holds kFlatMax sizes, so that an insert or erase stays O(log) however many sizes there are.
class SizeIndex {
 public:
  static constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();

  // The bucket of the smallest size >= `size`, or kNone.
  uint32_t lower_bound(int64_t size) const {
    if (!tree_mode_) {
      const auto it = std::lower_bound(flat_.begin(), flat_.end(), size,
                                       [](const Entry& e, int64_t s) { return e.first < s; });
      return it == flat_.end() ? kNone : it->second;
    }
    const auto it = tree_.lower_bound(size);
    return it == tree_.end() ? kNone : it->second;
  }

  // The bucket of `size`; `make()` supplies one when the size is new.
  template <typename Make>
  uint32_t find_or_insert(int64_t size, Make make) {
    if (!tree_mode_) {
      auto it = std::lower_bound(flat_.begin(), flat_.end(), size,
                                 [](const Entry& e, int64_t s) { return e.first < s; });
      if (it != flat_.end() && it->first == size) return it->second;
      if (flat_.size() < kFlatMax) return flat_.insert(it, {size, make()})->second;
      tree_.insert(flat_.begin(), flat_.end());
      flat_.clear();
      flat_.shrink_to_fit();
      tree_mode_ = true;
    }
    auto [it, created] = tree_.try_emplace(size, 0);
    if (created) it->second = make();
    return it->second;
  }

  void erase(int64_t size) {
    if (!tree_mode_) {
      const auto it = std::lower_bound(flat_.begin(), flat_.end(), size,
                                       [](const Entry& e, int64_t s) { return e.first < s; });
      SL_CHECK(it != flat_.end() && it->first == size) << "no gap of " << size << " bytes to forget";
      flat_.erase(it);
      return;
    }
    const size_t erased = tree_.erase(size);
    SL_CHECK(erased == 1) << "no gap of " << size << " bytes to forget";
  }

 private:
  static constexpr size_t kFlatMax = 64;
  using Entry = std::pair<int64_t, uint32_t>;
  std::vector<Entry> flat_;  // sorted by size
  std::map<int64_t, uint32_t> tree_;
  bool tree_mode_ = false;
};

// The arena [0, end) is tiled by blocks (placed buffers and maximal free gaps) doubly linked in offset
// order: the by-offset index, which finds a freed range's neighbours in O(1). The best-fit index orders
// the gaps by (size, offset) in two levels: a SizeIndex from each gap size present to a bucket, and per
// bucket a binary min-heap of its gaps by offset, each gap knowing its heap slot so it can leave in
// O(log). Tensor sizes repeat, so the sizes are few and the heaps contiguous: much cheaper than one tree
// node per gap (an unrolled LSTM leaves tens of thousands of equal leftover gaps).
class FreeList {
 public:
  explicit FreeList(size_t n) { blocks_.reserve(std::min<size_t>(2 * n + 1, size_t{1} << 20)); }

  // Places `size` bytes (see the header comment) and returns the block now holding them.
  uint32_t allocate(int64_t size) {
    const uint32_t fit = by_size_.lower_bound(size);  // the smallest gap size >= size
    if (fit != SizeIndex::kNone) {
      const uint32_t g = buckets_[fit].heap.front().block;  // its lowest gap
      remove_gap(g);
      if (blocks_[g].end - blocks_[g].begin == size) {  // exact fit: the gap becomes the buffer
        blocks_[g].free = false;
        return g;
      }
      // Split: the buffer takes the low end of the gap, a new block linked just below it.
      const int64_t begin = blocks_[g].begin;
      const uint32_t u = new_block(begin, begin + size, blocks_[g].prev, g);
      if (blocks_[u].prev != kNone) blocks_[blocks_[u].prev].next = u;
      blocks_[g].prev = u;
      blocks_[g].begin = begin + size;
      add_gap(g);
      return u;
    }
    // Grow the arena.
    if (tail_ != kNone && blocks_[tail_].free) {  // the topmost gap touches the end: extend it
      remove_gap(tail_);
      Block& t = blocks_[tail_];
      t.end = checked_end(t.begin, size);
      t.free = false;
      end_ = t.end;
      return tail_;
    }
    const uint32_t u = new_block(end_, checked_end(end_, size), tail_, kNone);
    if (tail_ != kNone) blocks_[tail_].next = u;
    tail_ = u;
    end_ = blocks_[u].end;
    return u;
  }

  // Frees a block returned by allocate, merging it with free neighbours.
  void release(uint32_t b) {
    SL_CHECK(!blocks_[b].free) << "best-fit-in-order freed block #" << b << " twice";
    blocks_[b].free = true;
    const uint32_t p = blocks_[b].prev;
    if (p != kNone && blocks_[p].free) {
      remove_gap(p);
      blocks_[b].begin = blocks_[p].begin;
      blocks_[b].prev = blocks_[p].prev;
      if (blocks_[b].prev != kNone) blocks_[blocks_[b].prev].next = b;
      recycled_.push_back(p);
    }
    const uint32_t q = blocks_[b].next;
    if (q != kNone && blocks_[q].free) {
      remove_gap(q);
      blocks_[b].end = blocks_[q].end;
      blocks_[b].next = blocks_[q].next;
      if (blocks_[b].next != kNone) {
        blocks_[blocks_[b].next].prev = b;
      } else {
        tail_ = b;
      }
      recycled_.push_back(q);
    }
    add_gap(b);
  }

  int64_t offset(uint32_t b) const { return blocks_[b].begin; }

 private:
  static constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();
  struct Block {
    int64_t begin, end;
    uint32_t prev, next;    // neighbours in offset order, kNone at the ends
    uint32_t bucket, slot;  // when free: its bucket and its slot in the bucket's heap
    bool free;
  };
  struct HeapEntry {
    int64_t begin;
    uint32_t block;
  };
  struct Bucket {
    std::vector<HeapEntry> heap;  // min-heap by begin (unique: gaps are disjoint)
  };

  uint32_t new_block(int64_t begin, int64_t end, uint32_t prev, uint32_t next) {
    const Block b{begin, end, prev, next, kNone, 0, false};
    if (!recycled_.empty()) {
      const uint32_t id = recycled_.back();
      recycled_.pop_back();
      blocks_[id] = b;
      return id;
    }
    SL_CHECK(blocks_.size() < kNone) << "too many blocks in one arena";
    blocks_.push_back(b);
    return static_cast<uint32_t>(blocks_.size() - 1);
  }

  // Heap slot k of bucket `bk` now holds e.
  void put(Bucket& bk, size_t k, const HeapEntry& e) {
    bk.heap[k] = e;
    blocks_[e.block].slot = static_cast<uint32_t>(k);
  }
  void sift_up(Bucket& bk, size_t k) {
    const HeapEntry e = bk.heap[k];
    while (k > 0 && bk.heap[(k - 1) / 2].begin > e.begin) {
      put(bk, k, bk.heap[(k - 1) / 2]);
      k = (k - 1) / 2;
    }
    put(bk, k, e);
  }
  void sift_down(Bucket& bk, size_t k) {
    const HeapEntry e = bk.heap[k];
    const size_t n = bk.heap.size();
    for (;;) {
      size_t c = 2 * k + 1;
      if (c >= n) break;
      if (c + 1 < n && bk.heap[c + 1].begin < bk.heap[c].begin) ++c;
      if (bk.heap[c].begin >= e.begin) break;
      put(bk, k, bk.heap[c]);
      k = c;
    }
    put(bk, k, e);
  }

  // Enters free block g into the best-fit index.
  void add_gap(uint32_t g) {
    const int64_t size = blocks_[g].end - blocks_[g].begin;
    const uint32_t id = by_size_.find_or_insert(size, [&] {
      if (spare_buckets_.empty()) {
        buckets_.emplace_back();
        return static_cast<uint32_t>(buckets_.size() - 1);
      }
      const uint32_t spare = spare_buckets_.back();
      spare_buckets_.pop_back();
      return spare;
    });
    Bucket& bk = buckets_[id];
    blocks_[g].bucket = id;
    bk.heap.push_back({blocks_[g].begin, g});
    sift_up(bk, bk.heap.size() - 1);
  }

  // Takes free block g out of the best-fit index (before its range changes).
  void remove_gap(uint32_t g) {
    const uint32_t id = blocks_[g].bucket;
    Bucket& bk = buckets_[id];
    const size_t k = blocks_[g].slot;
    const HeapEntry last = bk.heap.back();
    bk.heap.pop_back();
    blocks_[g].bucket = kNone;
    if (k < bk.heap.size()) {  // refill the hole with the last entry and restore the heap order
      put(bk, k, last);
      if (k > 0 && bk.heap[(k - 1) / 2].begin > last.begin) {
        sift_up(bk, k);
      } else {
        sift_down(bk, k);
      }
    }
    if (bk.heap.empty()) {
      by_size_.erase(blocks_[g].end - blocks_[g].begin);
      spare_buckets_.push_back(id);
    }
  }

  std::vector<Block> blocks_;
  std::vector<uint32_t> recycled_;  // ids of merged-away blocks
  std::vector<Bucket> buckets_;
  std::vector<uint32_t> spare_buckets_;
  SizeIndex by_size_;  // gap size -> its bucket, for the sizes that have a gap
  uint32_t tail_ = kNone;  // the topmost block
  int64_t end_ = 0;        // the arena end (the top of tail_)
};

std::vector<int64_t> place_best_fit_in_order(const std::vector<Item>& items,
                                             const std::vector<BufferRequest>& reqs, const StepSpan& span) {
  const size_t n = items.size();
  SL_CHECK(n < std::numeric_limits<uint32_t>::max() / 2) << "too many buffers for one arena: " << n;
  // Work in placement order (rank r = the r-th buffer placed) so the sweep reads its arrays sequentially;
  // the frees are (last_use, rank) pairs in last_use order (ties: rank).
  const std::vector<Timed> timed = order_in_time(items, reqs, span);
  std::vector<std::pair<int64_t, uint32_t>> frees(n);
  for (size_t r = 0; r < n; ++r) frees[r] = {timed[r].last, static_cast<uint32_t>(r)};
  if (span.dense) {
    frees = counting_sort(frees, span, [](const std::pair<int64_t, uint32_t>& f) { return f.first; });
  } else {
    std::sort(frees.begin(), frees.end());
  }
  FreeList arena(n);
  std::vector<uint32_t> block(n);  // by rank
  std::vector<int64_t> offset(n, -1);
  size_t freed = 0;  // frees[0, freed) are done
  for (size_t r = 0; r < n; ++r) {
    // Every buffer with last_use < first_use started earlier, so it is placed already.
    for (const int64_t step = timed[r].first; freed < n && frees[freed].first < step; ++freed) {
      arena.release(block[frees[freed].second]);
    }
    block[r] = arena.allocate(timed[r].size);
    offset[timed[r].index] = arena.offset(block[r]);
  }
  return offset;
}

int64_t arena_end(const std::vector<Item>& items, const std::vector<int64_t>& offset) {
  int64_t end = 0;
  for (size_t i = 0; i < items.size(); ++i) end = std::max(end, offset[i] + items[i].size);
  return end;
}

// Auto runs both best-fit strategies while the overlap estimate is below this (see the header comment).
constexpr double kAutoRunBothBelow = 2e7;
constexpr int64_t kAutoCloseEnough = 256;
// Auto's order search: plans of at most this many buffers, and this many placed-neighbour visits (a few
// milliseconds; the budget solver places thousands of plans).
constexpr size_t kSearchMaxBuffers = 256;
constexpr int64_t kSearchEffort = 500'000;
// Plans of at most kSmallSearchBuffers buffers get kSmallSearchEffort: each try is cheap there, and the
// tightest plans of small nets (a dense block's) need many to reach their live peak.
constexpr size_t kSmallSearchBuffers = 64;
constexpr int64_t kSmallSearchEffort = 4'000'000;

std::vector<int64_t> search_order(const std::vector<Item>& items, const std::vector<int64_t>& start,
                                  int64_t good_enough) {
  std::vector<SearchBuffer> buffers;
  buffers.reserve(items.size());
  for (const Item& it : items) buffers.push_back({it.size, it.first, it.last});
  const int64_t effort = items.size() <= kSmallSearchBuffers ? kSmallSearchEffort : kSearchEffort;
  return search_placement_order(buffers, start, good_enough, effort);
}

std::string describe(const BufferPlacement& p, int64_t size) {
  std::ostringstream os;
  os << "buffer " << p.id << " bytes [" << p.offset << ", " << p.offset + size << ") steps [" << p.first_use
     << ", " << p.last_use << "]";
  return os.str();
}

}  // namespace

const char* to_string(PlacementStrategy s) {
  switch (s) {
    case PlacementStrategy::FirstFitInOrder:
      return "first-fit-in-order";
    case PlacementStrategy::BestFitLargestFirst:
      return "best-fit-largest-first";
    case PlacementStrategy::BestFitInOrder:
      return "best-fit-in-order";
    case PlacementStrategy::OrderSearch:
      return "order-search";
    case PlacementStrategy::Auto:
      return "auto";
    case PlacementStrategy::AutoGreedy:
      return "auto-greedy";
  }
  return "?";
}

int64_t align_up(int64_t bytes, int64_t alignment) {
  SL_CHECK(alignment > 0) << "alignment must be positive, got " << alignment;
  SL_CHECK(bytes >= 0 && bytes <= kMaxBytes - (alignment - 1))
      << "cannot align " << bytes << " bytes to " << alignment;
  return (bytes + alignment - 1) / alignment * alignment;
}

int64_t live_peak_bytes(const std::vector<BufferRequest>& reqs, int64_t alignment) {
  const std::vector<Item> items = make_items(reqs, alignment);
  return live_peak(items, step_span(items));
}

ArenaPlan plan_arena(const std::vector<BufferRequest>& reqs, PlacementStrategy s, int64_t alignment) {
  const std::vector<Item> items = make_items(reqs, alignment);
  const StepSpan span = step_span(items);
  std::vector<int64_t> offsets;
  PlacementStrategy used = s;
  switch (s) {
    case PlacementStrategy::FirstFitInOrder:
      offsets = place_first_fit(items);
      break;
    case PlacementStrategy::BestFitLargestFirst:
      offsets = place_best_fit(items, reqs);
      break;
    case PlacementStrategy::BestFitInOrder:
      offsets = place_best_fit_in_order(items, reqs, span);
      break;
    case PlacementStrategy::OrderSearch:
      offsets = search_order(items, {}, live_peak(items, span));
      if (offsets.empty()) offsets.assign(items.size(), 0);  // one buffer (or none): at 0
      break;
    case PlacementStrategy::Auto:
    case PlacementStrategy::AutoGreedy:
      offsets = place_best_fit_in_order(items, reqs, span);
      used = PlacementStrategy::BestFitInOrder;
      // In order at the live peak cannot be beaten (rule 5): largest first would only tie.
      // Within 1/256 of the live peak in order is as good as any placement can be (rule 5) but for that
      // margin: largest first, the costly one, runs only when in order leaves more.
      if (arena_end(items, offsets) - live_peak(items, span) > live_peak(items, span) / kAutoCloseEnough &&
          overlap_pairs(items, span) < kAutoRunBothBelow) {
        std::vector<int64_t> largest_first = place_best_fit(items, reqs);
        if (arena_end(items, largest_first) <= arena_end(items, offsets)) {
          offsets = std::move(largest_first);
          used = PlacementStrategy::BestFitLargestFirst;
        }
        const int64_t live = live_peak(items, span);
        if (s == PlacementStrategy::Auto && items.size() <= kSearchMaxBuffers &&
            arena_end(items, offsets) - live > live / kAutoCloseEnough) {
          std::vector<int64_t> searched = search_order(items, offsets, live + live / kAutoCloseEnough);
          if (!searched.empty()) {
            offsets = std::move(searched);
            used = PlacementStrategy::OrderSearch;
          }
        }
      }
      break;
  }
  SL_CHECK(offsets.size() == reqs.size()) << "unknown placement strategy " << static_cast<int>(s);

  ArenaPlan plan;
  plan.strategy = used;
  plan.placements.reserve(reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) {
    const int64_t off = offsets[i];
    SL_CHECK(off >= 0 && off % alignment == 0) << "buffer id " << reqs[i].id << " got offset " << off;
    plan.placements.push_back({reqs[i].id, off, reqs[i].bytes, reqs[i].first_use, reqs[i].last_use});
    plan.arena_bytes = std::max(plan.arena_bytes, off + items[i].size);
  }
  plan.live_peak_bytes = live_peak(items, span);
  SL_CHECK(plan.arena_bytes >= plan.live_peak_bytes)
      << "arena " << plan.arena_bytes << " below the live peak " << plan.live_peak_bytes
      << ": some live buffers share bytes";
  return plan;
}

std::vector<std::string> validate_arena(const ArenaPlan& plan, int64_t alignment, size_t max_problems) {
  std::vector<std::string> problems;
  size_t found = 0;
  auto report = [&](const std::string& msg) {
    if (found++ < max_problems) problems.push_back(msg);
  };
  if (alignment <= 0) {
    report("alignment " + std::to_string(alignment) + " is not positive");
    return problems;
  }
  if (plan.arena_bytes < 0) report("arena_bytes " + std::to_string(plan.arena_bytes) + " is negative");

  // Per-placement checks; only well-formed placements take part in the pairwise check.
  const auto& ps = plan.placements;
  std::vector<int64_t> size(ps.size(), 0);
  std::vector<size_t> ok;
  ok.reserve(ps.size());
  for (size_t i = 0; i < ps.size(); ++i) {
    const BufferPlacement& p = ps[i];
    auto who = [&] {  // built only for a problem: formatting every placement would dominate on valid plans
      std::ostringstream os;
      os << "buffer " << p.id << " (placement #" << i << ", offset " << p.offset << ", " << p.bytes
         << " bytes, steps [" << p.first_use << ", " << p.last_use << "])";
      return os.str();
    };
    bool good = true;
    if (p.bytes <= 0) {
      report(who() + ": size is not positive");
      good = false;
    } else if (p.bytes > kMaxBytes - (alignment - 1)) {
      report(who() + ": size overflows when aligned");
      good = false;
    }
    if (p.last_use < p.first_use) {
      report(who() + ": last_use is before first_use");
      good = false;
    }
    if (p.offset < 0) {
      report(who() + ": offset is negative");
      good = false;
    } else if (p.offset % alignment != 0) {
      report(who() + ": offset is not a multiple of the alignment " + std::to_string(alignment));
    }
    if (!good) continue;
    size[i] = (p.bytes + alignment - 1) / alignment * alignment;
    if (p.offset > kMaxBytes - size[i] || p.offset + size[i] > plan.arena_bytes) {
      report(describe(p, size[i]) + " lies past the arena end (arena_bytes " +
             std::to_string(plan.arena_bytes) + ")");
    }
    ok.push_back(i);
  }

  // Pairwise. Placements sorted by first_use; `end[i]` saturates so broken offsets cannot overflow.
  std::stable_sort(ok.begin(), ok.end(),
                   [&](size_t a, size_t b) { return ps[a].first_use < ps[b].first_use; });
  std::vector<int64_t> end(ps.size(), 0);
  for (size_t i : ok) end[i] = ps[i].offset > kMaxBytes - size[i] ? kMaxBytes : ps[i].offset + size[i];
  // Fast path, O(n log n): sweep keeping the live placements by offset. While they are pairwise disjoint, a
  // new one overlaps some live placement iff it overlaps its neighbour below or above. A valid plan (the
  // usual case, even with k ~ n live at once) is done here; the first overlap falls through to the
  // exhaustive sweep, which lists every pair.
  bool disjoint_so_far = true;
  {
    std::map<int64_t, size_t> live;  // offset -> index, pairwise disjoint
    using Expiry = std::pair<int32_t, size_t>;  // (last_use, index), min-heap
    std::priority_queue<Expiry, std::vector<Expiry>, std::greater<>> expiry;
    for (size_t i : ok) {
      const BufferPlacement& p = ps[i];
      for (; !expiry.empty() && expiry.top().first < p.first_use; expiry.pop()) {
        live.erase(ps[expiry.top().second].offset);
      }
      const auto above = live.lower_bound(p.offset);
      if ((above != live.end() && above->first < end[i]) ||
          (above != live.begin() && end[std::prev(above)->second] > p.offset)) {
        disjoint_so_far = false;
        break;
      }
      live.emplace(p.offset, i);
      expiry.push({p.last_use, i});
    }
  }
  // Exhaustive: sweep in first_use order with the set of earlier placements still live. Every pair whose
  // lifetimes overlap is examined exactly once, when the later-starting one arrives: O(n log n + n k).
  if (!disjoint_so_far) {
    std::set<std::pair<int32_t, size_t>> active;  // (last_use, index)
    for (size_t i : ok) {
      const BufferPlacement& p = ps[i];
      while (!active.empty() && active.begin()->first < p.first_use) active.erase(active.begin());
      for (const auto& [last, j] : active) {
        const BufferPlacement& q = ps[j];
        const bool disjoint = p.offset >= end[j] || q.offset >= end[i];
        if (!disjoint) {
          report(describe(q, size[j]) + " and " + describe(p, size[i]) +
                 " overlap in bytes while both are live");
        }
      }
      active.insert({p.last_use, i});
    }
  }
  if (found > max_problems) {
    problems.push_back("... and " + std::to_string(found - max_problems) + " more problems");
  }
  return problems;
}

}  // namespace sublinear::planner
