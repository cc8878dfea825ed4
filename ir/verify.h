#pragma once
// Structural invariants of an expanded graph. Every pass may assume them; a violation is a bug in
// sublinear (the frontend or a transformation), not in the user's model.
#include <string>
#include <vector>

#include "ir/graph.h"

namespace sublinear::ir {

// Every violated invariant as one line naming the node and its path; empty for a sound graph.
// Checks: ids are positions, inputs precede their consumer and name an existing output, op defs match,
// shape inference over node.inputs reproduces node.outputs, names are unique, model outputs exist and
// the first (the loss) is a scalar f32.
std::vector<std::string> graph_problems(const Graph& g);

// Aborts (SL_CHECK) listing every problem graph_problems finds.
void verify_graph(const Graph& g);

}  // namespace sublinear::ir
