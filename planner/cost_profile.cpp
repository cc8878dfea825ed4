#include "planner/cost_profile.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

#include "ir/diagnostic.h"
#include "ir/op_registry.h"

namespace sublinear::planner {

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& message, std::vector<std::string> extra = {}) {
  Diagnostic d;
  d.span = SourceSpan{SourceLoc{path, 0, 0, 1}, nullptr};
  d.message = message;
  d.extra = std::move(extra);
  throw UserError(std::move(d));
}

const std::string kRemeasure = "measure it again with: sublinear train EXPERIMENT.yaml --profile";

}  // namespace

std::shared_ptr<const CostProfile> load_cost_profile(const std::string& path, const ir::Graph& g) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot read the cost profile");
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {
    fail(path, std::string("not a cost profile: the JSON does not parse (") + e.what() + ")");
  }
  if (!j.is_object() || !j.contains("format") || j["format"] != kProfileFormat)
    fail(path, std::string("not a cost profile: expected \"format\": \"") + kProfileFormat +
                   "\", as `sublinear train --profile` writes in the run directory (profile.json)");
  auto text_of = [&](const char* key) -> std::string {
    if (!j.contains(key) || !j[key].is_string()) fail(path, std::string("key ") + key + ": expected a string");
    return j[key].get<std::string>();
  };
  auto int_of = [&](const char* key) -> int64_t {
    if (!j.contains(key) || !j[key].is_number_integer()) fail(path, std::string("key ") + key + ": expected an integer");
    return j[key].get<int64_t>();
  };
  const std::string model = text_of("model");
  if (model != g.model_name)
    fail(path, "the profile measured model '" + model + "', this is '" + g.model_name + "'", {kRemeasure});
  const int64_t batch = int_of("batch");
  if (batch != g.batch)
    fail(path, "the profile was measured at batch " + std::to_string(batch) + ", this plan is for batch " +
                   std::to_string(g.batch) + " (times scale with the batch)",
         {kRemeasure});
  if (!j.contains("nodes") || !j["nodes"].is_array()) fail(path, "key nodes: expected a list");

  std::unordered_map<std::string, ir::NodeId> by_name;
  for (const auto& n : g.nodes())
    if (!n.def->is_source) by_name.emplace(n.name, n.id);
  auto costs = std::make_shared<CostProfile>();
  costs->source = path;
  costs->forward_ns.assign(g.size(), 0);
  std::vector<char> seen(g.size(), 0);
  for (size_t i = 0; i < j["nodes"].size(); ++i) {
    const auto& e = j["nodes"][i];
    const std::string where = "nodes[" + std::to_string(i) + "]";
    if (!e.is_object() || !e.contains("node") || !e["node"].is_string())
      fail(path, where + ".node: expected the node's name");
    const std::string name = e["node"].get<std::string>();
    auto it = by_name.find(name);
    if (it == by_name.end())
      fail(path, where + ": node '" + name + "' is not a computing node of " + g.model_name +
                     " (the model changed since it was measured)",
           {kRemeasure});
    if (!e.contains("forward_seconds") || !e["forward_seconds"].is_number() ||
        !(e["forward_seconds"].get<double>() >= 0) || !std::isfinite(e["forward_seconds"].get<double>()))
      fail(path, where + ".forward_seconds: expected a non-negative number of seconds for '" + name + "'");
    if (seen[it->second]) fail(path, where + ": node '" + name + "' appears twice");
    seen[it->second] = 1;
    costs->forward_ns[it->second] = std::llround(e["forward_seconds"].get<double>() * 1e9);
  }
  int64_t missing = 0;
  std::string first;
  for (const auto& n : g.nodes()) {
    if (n.def->is_source || seen[n.id]) continue;
    if (missing++ == 0) first = n.name;
  }
  if (missing > 0)
    fail(path, "the profile has no time for node '" + first + "'" +
                   (missing > 1 ? " and " + std::to_string(missing - 1) + " other computing nodes" : std::string()) +
                   " (the model changed since it was measured)",
         {kRemeasure});
  return costs;
}

bool is_cost_model_name(const std::string& spec) { return spec == "traffic" || spec == "flops"; }

void apply_costs(PlanOptions& o, const std::string& spec, const ir::Graph& g) {
  if (spec.empty() || spec == "traffic") {
    o.cost_model = CostModel::Traffic;
  } else if (spec == "flops") {
    o.cost_model = CostModel::Flops;
  } else {
    o.costs = load_cost_profile(spec, g);
  }
}

}  // namespace sublinear::planner
