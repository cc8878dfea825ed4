#include "ir/summary.h"

#include <algorithm>

#include "ir/format_util.h"
#include "ir/op_registry.h"

namespace sublinear::ir {

namespace {

constexpr size_t kLargest = 5;

bool is_source(const Node& n) { return n.is_input() || n.is_param() || (n.def && n.def->is_source); }

bool is_trainable(const Node& param) {
  return !param.attrs.has("trainable") || param.attrs.get_bool("trainable");
}

std::string pad_right(const std::string& s, size_t width) {
  return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}

std::string pad_left(const std::string& s, size_t width) {
  return s.size() >= width ? s : std::string(width - s.size(), ' ') + s;
}

std::string bytes_str(int64_t b) { return human_bytes(b) + " (" + with_commas(b) + " bytes)"; }

}  // namespace

GraphSummary summarize(const Graph& g) {
  GraphSummary s;
  s.model = g.model_name;
  s.batch = g.batch;
  s.nodes = static_cast<int64_t>(g.size());

  // Distinct readers per param: an op reading a weight twice is still one use.
  std::vector<NodeId> last_reader(g.size(), -1);
  std::vector<int> readers(g.size(), 0);
  for (const auto& n : g.nodes()) {
    for (const auto& in : n.inputs) {
      if (last_reader[in.node] == n.id) continue;
      last_reader[in.node] = n.id;
      ++readers[in.node];
    }
  }

  struct Candidate {
    int64_t bytes;
    NodeId node;
    int index;
  };
  std::vector<Candidate> candidates;
  std::vector<TensorType> in_types;
  for (const auto& n : g.nodes()) {
    if (n.is_param()) {
      int64_t bytes = n.outputs.empty() ? 0 : n.outputs[0].bytes();
      if (is_trainable(n)) {
        s.params += n.outputs.empty() ? 0 : num_elements(n.outputs[0].shape);
        s.param_bytes += bytes;
      } else {
        s.state_bytes += bytes;
      }
      if (readers[n.id] > 1) ++s.shared_param_uses;
      continue;
    }
    if (n.is_input()) {
      for (const auto& t : n.outputs) s.inputs_bytes += t.bytes();
      continue;
    }
    if (is_source(n)) continue;
    ++s.nodes_by_op[n.op];
    if (n.def && n.def->cost) {
      in_types.clear();
      for (const auto& in : n.inputs) in_types.push_back(g.type(in));
      s.forward_flops += n.def->cost(in_types, n.outputs, n.attrs).flops;
    }
    for (size_t k = 0; k < n.outputs.size(); ++k) {
      int64_t b = n.outputs[k].bytes();
      s.activation_bytes += b;
      candidates.push_back({b, n.id, static_cast<int>(k)});
    }
  }

  // Ties go to the earlier value so the report is stable.
  size_t top = std::min(kLargest, candidates.size());
  std::partial_sort(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(top),
                    candidates.end(), [](const Candidate& a, const Candidate& b) {
                      if (a.bytes != b.bytes) return a.bytes > b.bytes;
                      if (a.node != b.node) return a.node < b.node;
                      return a.index < b.index;
                    });
  for (size_t i = 0; i < top; ++i) {
    const Node& n = g.node(candidates[i].node);
    int k = candidates[i].index;
    GraphSummary::Entry e;
    e.name = k > 0 ? n.name + "." + std::to_string(k) : n.name;
    e.path = n.path;
    e.type = n.outputs[k].str();
    e.bytes = candidates[i].bytes;
    e.loc = n.span.loc.str();
    s.largest_activations.push_back(std::move(e));
  }
  return s;
}

std::string format_summary(const GraphSummary& s) {
  std::string out = "model " + s.model + " (batch " + with_commas(s.batch) + ")\n";
  const std::vector<std::pair<std::string, std::string>> rows = {
      {"nodes", with_commas(s.nodes)},
      {"parameters", with_commas(s.params)},
      {"parameter memory", bytes_str(s.param_bytes)},
      {"state memory", bytes_str(s.state_bytes)},
      {"input memory", bytes_str(s.inputs_bytes)},
      {"activation memory", bytes_str(s.activation_bytes)},
      {"forward flops", with_commas(s.forward_flops)},
      {"shared parameters", with_commas(s.shared_param_uses)},
  };
  size_t key_w = 0;
  for (const auto& r : rows) key_w = std::max(key_w, r.first.size());
  for (const auto& [k, v] : rows) out += "  " + pad_right(k, key_w) + "  " + v + "\n";

  if (!s.nodes_by_op.empty()) {
    out += "\nnodes by op\n";
    size_t op_w = 0, n_w = 0;
    for (const auto& [op, n] : s.nodes_by_op) {
      op_w = std::max(op_w, op.size());
      n_w = std::max(n_w, with_commas(n).size());
    }
    for (const auto& [op, n] : s.nodes_by_op)
      out += "  " + pad_right(op, op_w) + "  " + pad_left(with_commas(n), n_w) + "\n";
  }

  if (!s.largest_activations.empty()) {
    out += "\nlargest activations\n";
    size_t name_w = 0, type_w = 0, size_w = 0;
    for (const auto& e : s.largest_activations) {
      name_w = std::max(name_w, e.name.size());
      type_w = std::max(type_w, e.type.size());
      size_w = std::max(size_w, human_bytes(e.bytes).size());
    }
    for (const auto& e : s.largest_activations) {
      out += "  " + pad_right(e.name, name_w) + "  " + pad_right(e.type, type_w) + "  " +
             pad_left(human_bytes(e.bytes), size_w) + "  " + e.loc;
      if (!e.path.empty()) out += " " + e.path;
      out += "\n";
    }
  }
  return out;
}

nlohmann::json summary_to_json(const GraphSummary& s) {
  nlohmann::json j;
  j["model"] = s.model;
  j["batch"] = s.batch;
  j["nodes"] = s.nodes;
  j["nodes_by_op"] = nlohmann::json::object();
  for (const auto& [op, n] : s.nodes_by_op) j["nodes_by_op"][op] = n;
  j["params"] = s.params;
  j["param_bytes"] = s.param_bytes;
  j["state_bytes"] = s.state_bytes;
  j["inputs_bytes"] = s.inputs_bytes;
  j["forward_flops"] = s.forward_flops;
  j["activation_bytes"] = s.activation_bytes;
  j["shared_params"] = s.shared_param_uses;
  j["largest_activations"] = nlohmann::json::array();
  for (const auto& e : s.largest_activations)
    j["largest_activations"].push_back(
        {{"name", e.name}, {"path", e.path}, {"type", e.type}, {"bytes", e.bytes}, {"loc", e.loc}});
  return j;
}

}  // namespace sublinear::ir
