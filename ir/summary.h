#pragma once
// What a model costs before any planning: parameter and activation totals, forward FLOPs and the
// largest tensors. The activation total is what a naive executor keeps alive for backward, the baseline
// every memory plan is compared against.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ir/graph.h"

namespace sublinear::ir {

struct GraphSummary {
  struct Entry {
    std::string name;   // node name, "name.k" for output k > 0
    std::string path;
    std::string type;   // "f32[32, 64, 56, 56]"
    int64_t bytes = 0;
    std::string loc;    // "file:line:col"
  };

  std::string model;
  int64_t batch = 0;
  int64_t nodes = 0;
  std::map<std::string, int64_t> nodes_by_op;  // without input and param
  int64_t params = 0;            // trainable scalars
  int64_t param_bytes = 0;       // trainable
  int64_t state_bytes = 0;       // non-trainable params (running statistics)
  int64_t inputs_bytes = 0;
  int64_t forward_flops = 0;
  int64_t activation_bytes = 0;  // every output of every computing node
  int64_t shared_param_uses = 0; // params read by more than one node
  std::vector<Entry> largest_activations;  // top 5, largest first
};

GraphSummary summarize(const Graph& g);
std::string format_summary(const GraphSummary& s);
nlohmann::json summary_to_json(const GraphSummary& s);

}  // namespace sublinear::ir
