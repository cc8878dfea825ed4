#pragma once
// Fusion: a pass over the expanded graph, before planning, that replaces chains the kernels can run in one
// sweep by one node. The planner then sees one node: fewer values to keep, share or recompute, and one
// pass over memory where there were several. Rules:
// - batch_norm followed by relu becomes batch_norm_relu when the relu is the only reader of the batch
//   norm's output, that output is not a model output, and both carry the same annotation (@recompute,
//   @checkpoint or none): a user's annotation is never merged away.
// - The fused node keeps the batch norm's name, path, span, attributes, inputs (its parameters included)
//   and outputs; `fused_from` lists the paths of the nodes it replaces, so reports and errors still point
//   at the DSL. Readers of the relu's output read the fused node's.
// - Node ids are renumbered (the graph stays in topological order), but every node keeps its rng_key, so
//   dropout masks do not change; parameters keep their order and names, so checkpoints do not either.
// - The fused kernels do the unfused arithmetic, so training is bitwise the same with and without the pass
//   (tests/runtime check it); `--no-fusion` and `memory.fusion: false` leave the graph as written.
#include <string>

#include "ir/graph.h"

namespace sublinear::ir {

struct FusionReport {
  int batch_norm_relu = 0;  // batch_norm + relu pairs fused
  int total() const { return batch_norm_relu; }
};

Graph fuse_ops(const Graph& g, FusionReport* report = nullptr);

// What fusion made of `g` (its fused nodes, counted), for reports: all zero for a graph as written.
FusionReport fused_in(const Graph& g);
// "12 batch_norm + relu pairs fused into one node each", or "" when there are none.
std::string describe_fusion(const FusionReport& r);

}  // namespace sublinear::ir
