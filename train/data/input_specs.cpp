// Roles of the model inputs, read off the graph. Rules: an f32 input is Features. An i32 input is
// Labels when it reaches input 1 of softmax_cross_entropy or accuracy (int_range = the logits' last
// dimension) and Tokens when it reaches input 0 of an embedding (int_range = the embedding's vocab) or
// the indices of take (int_range = the extent of the axis they address).
// "Reaches" follows i32 values through the data-movement ops (reshape, flatten, select, slice,
// transpose, split, stack, concat), which keep the element values. Several readers: the smallest range
// wins, so every value drawn is valid for all of them; an input that feeds an embedding is Tokens even
// when (shifted by a slice) it also feeds the loss, since it then carries token ids.
#include <algorithm>
#include <set>
#include <stdexcept>
#include <string>

#include "train/data/dataset.h"

namespace sublinear::runtime::data {

namespace {

bool is_data_movement(const std::string& op) {
  static const std::set<std::string> ops = {"reshape", "flatten", "select", "slice",
                                            "transpose", "split",   "stack",  "concat"};
  return ops.count(op) != 0;
}

// What the values of one i32 input end up as.
struct Reach {
  int64_t label_range = 0;  // 0: reaches no loss or metric
  int64_t token_range = 0;  // 0: reaches no embedding
};

void merge_range(int64_t* have, int64_t r) { *have = *have == 0 ? r : std::min(*have, r); }

Reach trace(const ir::Graph& g, const std::vector<std::vector<std::vector<ir::NodeId>>>& consumers,
            ir::NodeId input) {
  Reach reach;
  std::vector<ir::ValueRef> work{{input, 0}};
  std::set<ir::ValueRef> seen{{input, 0}};
  std::set<ir::NodeId> visited_nodes;
  while (!work.empty()) {
    ir::ValueRef v = work.back();
    work.pop_back();
    for (ir::NodeId cid : consumers[v.node][v.index]) {
      const ir::Node& c = g.node(cid);
      for (size_t pos = 0; pos < c.inputs.size(); ++pos) {
        if (!(c.inputs[pos] == v)) continue;
        if ((c.op == "softmax_cross_entropy" || c.op == "accuracy") && pos == 1) {
          const ir::TensorType& logits = g.type(c.inputs[0]);
          if (!logits.shape.empty()) merge_range(&reach.label_range, logits.shape.back());
        } else if (c.op == "embedding" && pos == 0 && c.attrs.has("vocab")) {
          merge_range(&reach.token_range, c.attrs.get_int("vocab"));
        } else if (c.op == "take" && pos == 1) {
          const ir::TensorType& x = g.type(c.inputs[0]);
          int64_t axis = c.attrs.get_int("axis");
          if (axis < 0) axis += static_cast<int64_t>(x.shape.size());
          merge_range(&reach.token_range, x.shape.at(static_cast<size_t>(axis)));
        }
      }
      if (is_data_movement(c.op) && visited_nodes.insert(cid).second) {
        for (size_t o = 0; o < c.outputs.size(); ++o) {
          ir::ValueRef out{cid, static_cast<int>(o)};
          if (c.outputs[o].dtype == ir::DType::I32 && seen.insert(out).second) work.push_back(out);
        }
      }
    }
  }
  return reach;
}

}  // namespace

std::vector<InputSpec> input_specs(const ir::Graph& g) {
  auto consumers = g.consumers();
  std::vector<InputSpec> specs;
  for (ir::NodeId id : g.inputs()) {
    const ir::Node& n = g.node(id);
    InputSpec s;
    s.name = n.name;
    s.type = n.outputs.at(0);
    if (s.type.dtype == ir::DType::I32) {
      Reach r = trace(g, consumers, id);
      if (r.token_range > 0) {
        s.role = InputRole::Tokens;
        s.int_range = r.label_range > 0 ? std::min(r.token_range, r.label_range) : r.token_range;
      } else if (r.label_range > 0) {
        s.role = InputRole::Labels;
        s.int_range = r.label_range;
      } else {
        std::string msg = "model input '";
        msg += s.name;
        msg += "' (";
        msg += s.type.str();
        msg +=
            ") reaches neither the labels of softmax_cross_entropy/accuracy nor an embedding or take, so the "
            "range of its values is unknown and no data source can fill it";
        throw std::runtime_error(msg);
      }
    } else {
      s.role = InputRole::Features;
    }
    specs.push_back(std::move(s));
  }
  return specs;
}

}  // namespace sublinear::runtime::data
