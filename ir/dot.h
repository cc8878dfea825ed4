#pragma once
// Graphviz rendering of a graph. Nodes are nested in `subgraph cluster_K` boxes by the block calls and
// repeat iterations that produced them, so a ResNet reads as stages of bottlenecks rather than a flat
// list of 10,000 ops.
#include <string>

#include "ir/graph.h"

namespace sublinear::ir {

// collapse_depth < 0: every node drawn. collapse_depth = d >= 0: the outer d frame levels stay clusters
// and each frame instance below them becomes one box ("stage2/repeat[3]\n12 ops"), with parallel edges
// merged. show_params = false leaves parameter nodes and their edges out.
std::string graph_to_dot(const Graph& g, int collapse_depth = -1, bool show_params = true);

// Escapes `"` and `\` and turns newlines into `\n`, for a double-quoted DOT string.
std::string dot_escape(const std::string& s);

}  // namespace sublinear::ir
