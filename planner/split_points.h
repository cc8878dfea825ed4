#pragma once
// Where a forward pass can be cut. Positions are the graph's compute nodes (nodes with inputs) in
// topological order; the crossing set of a position is every value produced at or before it and read
// by a forward node after it. Keeping a position's crossing set lets everything after it be recomputed
// without going back further: the paper's split points, generalised from single tensors (a residual
// unit's output) to small sets (an LSTM step's h and c).
#include <cstdint>
#include <unordered_set>
#include <vector>

#include "ir/graph.h"

namespace sublinear::planner {

struct CutAnalysis {
  std::vector<ir::NodeId> order;          // compute nodes in topological order
  std::vector<int64_t> node_bytes;        // bytes of each position's outputs
  std::vector<int32_t> crossing_count;    // per position
  std::vector<int64_t> crossing_bytes;    // per position
  std::vector<char> candidate;            // per position: a split candidate
  std::vector<std::vector<ir::ValueRef>> born;     // values entering the crossing set at each position
  std::vector<std::vector<ir::ValueRef>> expires;  // values leaving it after each position
};

// Candidates are positions whose own output crosses and whose crossing count is the smallest within
// `window` positions either side: each residual unit's output, each recurrent step's boundary, every
// node of a plain chain.
CutAnalysis analyse_cuts(const ir::Graph& g, int window = 16);

struct ValueRefHash {
  size_t operator()(const ir::ValueRef& v) const {
    return std::hash<int64_t>()((static_cast<int64_t>(v.node) << 8) ^ v.index);
  }
};

// Walks the positions in order keeping the crossing set up to date in O(1) per value.
class CrossingSweep {
 public:
  explicit CrossingSweep(const CutAnalysis& c) : c_(c) {}
  void advance(size_t position);  // call for 0, 1, 2, ... in order
  const std::unordered_set<ir::ValueRef, ValueRefHash>& crossing() const { return live_; }

 private:
  const CutAnalysis& c_;
  std::unordered_set<ir::ValueRef, ValueRefHash> live_;
};

}  // namespace sublinear::planner
