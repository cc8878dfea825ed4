#pragma once
// Fusion: a pass over the expanded graph, before planning, that replaces chains the kernels can run in one
// sweep by one node. The planner then sees one node: fewer values to keep, share or recompute, and one
// pass over memory where there were several. Rules:
// - batch_norm followed by relu becomes batch_norm_relu when the relu is the only reader of the batch
//   norm's output, that output is not a model output, and both carry the same annotation (@recompute,
//   @checkpoint or none): a user's annotation is never merged away.
// - An LSTM step's elementwise tail, as the standard library's lstm block writes it (split of the gates
//   into four, three sigmoids, two tanhs, three products and a sum), becomes lstm_cell(gates, c) -> (h', c')
//   when every intermediate has one reader, c' at most one besides its tanh, and all share an annotation.
//   Its backward reads the gates, c and c' and computes the activations again: one tensor of c's size
//   less per step than the ten nodes keep, and no copies for the split.
// - The fused node keeps the first replaced node's (the batch norm's, the split's) name, path, span and
//   annotation; a fused batch norm also its attributes, inputs (its parameters included) and outputs.
//   `fused_from` lists the paths of the nodes it replaces, so reports and errors still point at the DSL.
//   Readers of the chain's results (the relu's output; h' and c') read the fused node's.
// - Node ids are renumbered (the graph stays in topological order), but every node keeps its rng_key, so
//   dropout masks do not change; parameters keep their order and names, so checkpoints do not either.
// - The fused kernels do the unfused arithmetic, so training is bitwise the same with and without the pass
//   (tests/runtime check it); `--no-fusion` and `memory.fusion: false` leave the graph as written.
#include <string>

#include "ir/graph.h"

namespace sublinear::ir {

// Which chains to fuse. LSTM tails only where the plan keeps whole steps or drops cheap ops (policies
// none and drop-cheap): a policy that keeps a step boundary keeps the nodes that produce it, and the
// fused node produces h' and c' together, so keeping h' for the next layer (every step's h' crosses to
// it) keeps c' too, where the unfused graph keeps only the product that makes h' and recomputes c'.
// Measured on the 4 x 1,024 LSTM (64 steps, batch 64): fused keep-everything needs 466 MiB of feature
// maps against 530 MiB, but sqrt 151 MiB against 117 MiB.
struct FusionOptions {
  bool batch_norm_relu = true;
  bool lstm_cell = true;
  static FusionOptions none() { return {false, false}; }
  // What a plan under `policy` ("none", "drop-cheap", "sqrt", "log", "budget") gets.
  static FusionOptions for_policy(const std::string& policy);
  bool any() const { return batch_norm_relu || lstm_cell; }
};

struct FusionReport {
  int batch_norm_relu = 0;  // batch_norm + relu pairs fused
  int lstm_cell = 0;        // LSTM step tails fused
  int total() const { return batch_norm_relu + lstm_cell; }
};

Graph fuse_ops(const Graph& g, const FusionOptions& options = {}, FusionReport* report = nullptr);

// What fusion made of `g` (its fused nodes, counted), for reports: all zero for a graph as written.
FusionReport fused_in(const Graph& g);
// "12 batch_norm + relu pairs fused into one node each", or "" when there are none.
std::string describe_fusion(const FusionReport& r);

}  // namespace sublinear::ir
