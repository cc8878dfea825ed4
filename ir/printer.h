#pragma once
// A readable, stable text form of a graph, one line per node, used by `sublinear check --print` and by
// golden tests:
//
//   model mlp (batch 8)
//   %5 h = linear(%0, %3, %4) {bias=true, units=256} : f32[8, 256]  # mlp.snet:5:7 repeat[0]/block/linear#1 @recompute
//   outputs: loss=%9, logits=%7
//
// Only file basenames are printed so output does not depend on where the sources were checked out.
#include <string>

#include "ir/graph.h"

namespace sublinear::ir {

// "%5" for output 0, "%5.1" for output 1.
std::string value_ref_str(ValueRef v);

// One node, without trailing newline.
std::string print_node(const Node& n, bool with_locations = true);

std::string print_graph(const Graph& g, bool with_locations = true);

}  // namespace sublinear::ir
