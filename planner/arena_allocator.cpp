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
// arena is NP-hard (dynamic storage allocation); both are greedy heuristics, bounded below by rule 5.
//   FirstFitInOrder is O(n log n + n k); BestFitLargestFirst is O(n log n + n k log k) (it sorts each
//   buffer's conflicts by offset; on checkpointed plans k is O(sqrt(n))).
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
#include "planner/arena_allocator.h"

#include <algorithm>
#include <limits>
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
  for (size_t r = 0; r < n; ++r) {
    const Item& b = ranked[r];
    conflicts.clear();
    tree.for_each_overlapping(b.first, b.last, [&](size_t j) {
      if (j < r) conflicts.push_back(placed[j]);
    });
    std::sort(conflicts.begin(), conflicts.end(), [](const Range& x, const Range& y) {
      return x.begin != y.begin ? x.begin < y.begin : x.end < y.end;
    });
    const int64_t off = choose_offset(conflicts.cbegin(), conflicts.cend(), b.size, true);
    placed[r] = {off, checked_end(off, b.size)};
  }
  std::vector<int64_t> offset(n, -1);
  for (size_t r = 0; r < n; ++r) offset[order[r]] = placed[r].begin;
  return offset;
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

ArenaPlan plan_arena(const std::vector<BufferRequest>& reqs, PlacementStrategy s, int64_t alignment) {
  const std::vector<Item> items = make_items(reqs, alignment);
  const std::vector<int64_t> offsets =
      s == PlacementStrategy::FirstFitInOrder ? place_first_fit(items) : place_best_fit(items, reqs);

  ArenaPlan plan;
  plan.placements.reserve(reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) {
    const int64_t off = offsets[i];
    SL_CHECK(off >= 0 && off % alignment == 0) << "buffer id " << reqs[i].id << " got offset " << off;
    plan.placements.push_back({reqs[i].id, off, reqs[i].bytes, reqs[i].first_use, reqs[i].last_use});
    plan.arena_bytes = std::max(plan.arena_bytes, off + items[i].size);
  }
  plan.live_peak_bytes = live_peak_bytes(reqs, alignment);
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
    std::ostringstream os;
    os << "buffer " << p.id << " (placement #" << i << ", offset " << p.offset << ", " << p.bytes
       << " bytes, steps [" << p.first_use << ", " << p.last_use << "])";
    const std::string who = os.str();
    bool good = true;
    if (p.bytes <= 0) {
      report(who + ": size is not positive");
      good = false;
    } else if (p.bytes > kMaxBytes - (alignment - 1)) {
      report(who + ": size overflows when aligned");
      good = false;
    }
    if (p.last_use < p.first_use) {
      report(who + ": last_use is before first_use");
      good = false;
    }
    if (p.offset < 0) {
      report(who + ": offset is negative");
      good = false;
    } else if (p.offset % alignment != 0) {
      report(who + ": offset is not a multiple of the alignment " + std::to_string(alignment));
    }
    if (!good) continue;
    size[i] = (p.bytes + alignment - 1) / alignment * alignment;
    if (p.offset > kMaxBytes - size[i] || p.offset + size[i] > plan.arena_bytes) {
      report(describe(p, size[i]) + " lies past the arena end (arena_bytes " +
             std::to_string(plan.arena_bytes) + ")");
    }
    ok.push_back(i);
  }

  // Pairwise: sweep in first_use order with the set of earlier placements still live. Every pair whose
  // lifetimes overlap is examined exactly once, when the later-starting one arrives: O(n log n + n k).
  std::stable_sort(ok.begin(), ok.end(),
                   [&](size_t a, size_t b) { return ps[a].first_use < ps[b].first_use; });
  std::set<std::pair<int32_t, size_t>> active;  // (last_use, index)
  for (size_t i : ok) {
    const BufferPlacement& p = ps[i];
    while (!active.empty() && active.begin()->first < p.first_use) active.erase(active.begin());
    for (const auto& [last, j] : active) {
      const BufferPlacement& q = ps[j];
      const bool disjoint = p.offset >= q.offset + size[j] || q.offset >= p.offset + size[i];
      if (!disjoint) {
        report(describe(q, size[j]) + " and " + describe(p, size[i]) +
               " overlap in bytes while both are live");
      }
    }
    active.insert({p.last_use, i});
  }
  if (found > max_problems) {
    problems.push_back("... and " + std::to_string(found - max_problems) + " more problems");
  }
  return problems;
}

}  // namespace sublinear::planner
