#include "planner/report.h"

#include <algorithm>
#include <cstdio>

#include "ir/format_util.h"
#include "ir/fusion.h"
#include "ir/op_registry.h"

namespace sublinear::planner {

namespace {

constexpr size_t kLargestAtPeak = 8;

std::string pad_right(const std::string& s, size_t width) {
  return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}

std::string pad_left(const std::string& s, size_t width) {
  return s.size() >= width ? s : std::string(width - s.size(), ' ') + s;
}

std::string bytes_str(int64_t b) {
  std::string s = ir::human_bytes(b);
  s += " (";
  s += ir::with_commas(b);
  s += " bytes)";
  return s;
}

std::string seconds_str(double s) {
  if (s < 1.0) {
    std::string out = fixed(s * 1000.0, 1);
    out += " ms";
    return out;
  }
  std::string out = fixed(s, 2);
  out += " s";
  return out;
}

const ir::Node* node_of(const Plan& plan, ir::NodeId id) {
  if (!plan.graph || id < 0 || static_cast<size_t>(id) >= plan.graph->size()) return nullptr;
  return &plan.graph->node(id);
}

std::string value_loc(const Plan& plan, const PlanValue& v) {
  const ir::Node* n = node_of(plan, v.source.node);
  return n ? n->span.loc.str() : std::string("<unknown>");
}

std::string value_path(const Plan& plan, const PlanValue& v) {
  const ir::Node* n = node_of(plan, v.source.node);
  return n ? n->path : std::string();
}

// "backward of stage1/relu#2" for a step.
std::string step_str(const Plan& plan, StepId id) {
  if (id < 0 || static_cast<size_t>(id) >= plan.steps.size()) return "step " + std::to_string(id);
  const PlanStep& s = plan.steps[id];
  std::string out = "step ";
  out += ir::with_commas(id);
  out += " (";
  out += step_kind_name(s.kind);
  const ir::Node* n = node_of(plan, s.node);
  if (n) {
    out += " of ";
    out += n->path.empty() ? n->name : n->path;
  }
  out += ')';
  return out;
}

int64_t compute_nodes(const Plan& plan) {
  if (!plan.graph) return 0;
  int64_t n = 0;
  for (const auto& node : plan.graph->nodes())
    if (!(node.def && node.def->is_source) && !node.is_input() && !node.is_param()) ++n;
  return n;
}

}  // namespace

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string percent(double ratio) {
  std::string s = fixed(100.0 * ratio, 1);
  s += '%';
  return s;
}


std::vector<LiveTensor> live_at_step(const Plan& plan, StepId step, size_t limit) {
  std::vector<LiveTensor> out;
  std::vector<const Storage*> live;
  for (const auto& st : plan.storages)
    if (st.first_step <= step && step <= st.last_step && !st.values.empty()) live.push_back(&st);
  std::stable_sort(live.begin(), live.end(), [](const Storage* a, const Storage* b) {
    if (a->bytes != b->bytes) return a->bytes > b->bytes;
    return a->id < b->id;
  });
  if (live.size() > limit) live.resize(limit);
  if (live.empty()) return out;
  // The value occupying a storage at `step` is the last one written into it at or before the step.
  std::vector<StepId> written(plan.values.size(), -1);
  for (const auto& s : plan.steps)
    for (ValueId v : s.writes)
      if (v >= 0 && static_cast<size_t>(v) < written.size() && written[v] < 0) written[v] = s.id;
  for (const Storage* st : live) {
    ValueId pick = st->values.front();
    StepId best = -1;
    for (ValueId v : st->values) {
      const StepId w = v >= 0 && static_cast<size_t>(v) < written.size() ? written[v] : -1;
      if (w <= step && w >= best) best = w, pick = v;
    }
    out.push_back({pick, st->id, st->bytes});
  }
  return out;
}

nlohmann::json plan_to_json(const Plan& plan) {
  nlohmann::json j;
  j["policy"] = plan.policy;
  j["strategy"] = strategy_label(plan);
  j["model"] = plan.graph ? plan.graph->model_name : std::string();
  j["batch"] = plan.graph ? plan.graph->batch : 0;
  j["input_bytes"] = plan.input_bytes;
  j["parameter_bytes"] = plan.parameter_bytes;
  j["gradient_bytes"] = plan.gradient_bytes;
  j["optimizer_state_bytes"] = plan.optimizer_state_bytes;
  j["feature_map_peak_bytes"] = plan.feature_map_peak_bytes;
  j["live_peak_bytes"] = plan.live_peak_bytes;
  j["fragmentation_bytes"] = plan.fragmentation_bytes();
  j["workspace_bytes"] = plan.workspace_bytes;
  j["total_peak_bytes"] = plan.total_peak_bytes();
  j["recomputed_nodes"] = plan.recomputed_nodes;
  j["extra_forward_ratio"] = plan.extra_forward_ratio();
  j["plan_seconds"] = plan.plan_seconds;
  j["inplace"] = plan.options.inplace;
  j["sharing"] = plan.options.sharing;
  j["optimizer"] = optimizer_name(plan.options.optimizer);
  j["steps"] = plan.steps.size();
  j["peak_step"] = plan.peak_step;
  j["forward_flops"] = plan.forward_flops;
  j["recompute_flops"] = plan.recompute_flops;
  j["forward_cost"] = plan.forward_cost;
  j["recompute_cost"] = plan.recompute_cost;
  j["cost_unit"] = plan.cost_unit();
  if (plan.options.costs) j["costs"] = plan.options.costs->source;
  j["backward_flops"] = plan.backward_flops;
  j["largest_at_peak"] = nlohmann::json::array();
  for (const auto& t : live_at_step(plan, plan.peak_step, kLargestAtPeak)) {
    const PlanValue& v = plan.values[t.value];
    j["largest_at_peak"].push_back({{"name", v.name},
                                    {"kind", value_kind_name(v.kind)},
                                    {"bytes", t.bytes},
                                    {"type", v.type.str()},
                                    {"loc", value_loc(plan, v)},
                                    {"path", value_path(plan, v)}});
  }
  return j;
}

std::string format_plan(const Plan& plan) {
  std::string out = "plan for ";
  out += plan.graph ? plan.graph->model_name : std::string("?");
  out += " (batch ";
  out += ir::with_commas(plan.graph ? plan.graph->batch : 0);
  out += "): policy ";
  out += plan.policy;
  out += ", in-place ";
  out += plan.options.inplace ? "on" : "off";
  out += ", sharing ";
  out += plan.options.sharing ? "on" : "off";
  out += ", optimizer ";
  out += optimizer_name(plan.options.optimizer);
  out += '\n';
  if (plan.graph) {
    if (const std::string fused = ir::describe_fusion(ir::fused_in(*plan.graph)); !fused.empty())
      out += "  " + fused + " (--no-fusion plans the ops as written)\n";
  }

  int64_t by_kind[3] = {0, 0, 0};
  for (const auto& s : plan.steps) ++by_kind[static_cast<int>(s.kind)];
  out += "  ";
  out += ir::with_commas(static_cast<int64_t>(plan.steps.size()));
  out += " steps (";
  out += ir::with_commas(by_kind[0]);
  out += " forward, ";
  out += ir::with_commas(by_kind[1]);
  out += " recompute, ";
  out += ir::with_commas(by_kind[2]);
  out += " backward), ";
  out += ir::with_commas(static_cast<int64_t>(plan.storages.size()));
  out += " arena buffers\n";

  std::string opt_label = "optimizer state (";
  opt_label += optimizer_name(plan.options.optimizer);
  opt_label += ')';
  const std::vector<std::pair<std::string, int64_t>> cats = {
      {"inputs", plan.input_bytes},
      {"parameters", plan.parameter_bytes},
      {"parameter gradients", plan.gradient_bytes},
      {opt_label, plan.optimizer_state_bytes},
      {"feature maps (arena)", plan.feature_map_peak_bytes},
      {"workspace", plan.workspace_bytes},
      {"total", plan.total_peak_bytes()},
  };
  size_t key_w = 0, human_w = 0, exact_w = 0;
  for (const auto& [k, b] : cats) {
    key_w = std::max(key_w, k.size());
    human_w = std::max(human_w, ir::human_bytes(b).size());
    exact_w = std::max(exact_w, ir::with_commas(b).size());
  }
  auto row = [&](const std::string& k, int64_t b) {
    out += "  ";
    out += pad_right(k, key_w);
    out += "  ";
    out += pad_left(ir::human_bytes(b), human_w);
    out += "  ";
    out += pad_left(ir::with_commas(b), exact_w);
    out += " bytes\n";
  };
  out += "\npeak memory by category\n";
  for (size_t i = 0; i + 1 < cats.size(); ++i) row(cats[i].first, cats[i].second);
  out += "  ";
  out += std::string(key_w + human_w + exact_w + 10, '-');
  out += '\n';
  row(cats.back().first, cats.back().second);

  out += "\nfeature maps\n";
  out += "  arena size       ";
  out += bytes_str(plan.feature_map_peak_bytes);
  out += "\n  live peak        ";
  out += bytes_str(plan.live_peak_bytes);
  out += " at ";
  out += step_str(plan, plan.peak_step);
  out += "\n  fragmentation    ";
  out += bytes_str(plan.fragmentation_bytes());
  if (plan.feature_map_peak_bytes > 0) {
    out += ", ";
    out += percent(static_cast<double>(plan.fragmentation_bytes()) / static_cast<double>(plan.feature_map_peak_bytes));
    out += " of the arena";
  }
  out += '\n';

  out += "\nrecomputation\n";
  out += "  recomputed nodes ";
  out += ir::with_commas(plan.recomputed_nodes);
  out += " of ";
  out += ir::with_commas(compute_nodes(plan));
  out += " computing nodes";
  const auto early = std::count_if(plan.early_at.begin(), plan.early_at.end(), [](ir::NodeId t) { return t >= 0; });
  if (early > 0) {
    out += " (";
    out += ir::with_commas(early);
    out += " at chosen steps)";
  }
  out += "\n  extra forward    ";
  out += percent(plan.extra_forward_ratio());
  out += " of one forward pass (";
  out += ir::with_commas(plan.recompute_flops);
  out += " of ";
  out += ir::with_commas(plan.forward_flops);
  out += " flops";
  if (plan.options.costs || plan.options.cost_model != CostModel::Flops) {
    out += plan.options.costs ? "; costed by measured time: " : "; costed with memory traffic: ";
    out += ir::with_commas(plan.recompute_cost);
    out += " of ";
    out += ir::with_commas(plan.forward_cost);
    out += " ";
    out += plan.cost_unit();
    if (plan.options.costs) {
      out += ", from ";
      out += plan.options.costs->source;
    }
  }
  out += ")\n  plan time        ";
  out += seconds_str(plan.plan_seconds);
  out += '\n';

  const auto live = live_at_step(plan, plan.peak_step, kLargestAtPeak);
  if (!live.empty()) {
    out += "\nlargest live tensors at the peak, ";
    out += step_str(plan, plan.peak_step);
    out += '\n';
    size_t name_w = 0, kind_w = 0, type_w = 0, size_w = 0;
    for (const auto& t : live) {
      const PlanValue& v = plan.values[t.value];
      name_w = std::max(name_w, v.name.size());
      kind_w = std::max(kind_w, std::string(value_kind_name(v.kind)).size());
      type_w = std::max(type_w, v.type.str().size());
      size_w = std::max(size_w, ir::human_bytes(t.bytes).size());
    }
    for (const auto& t : live) {
      const PlanValue& v = plan.values[t.value];
      out += "  ";
      out += pad_right(v.name, name_w);
      out += "  ";
      out += pad_right(value_kind_name(v.kind), kind_w);
      out += "  ";
      out += pad_right(v.type.str(), type_w);
      out += "  ";
      out += pad_left(ir::human_bytes(t.bytes), size_w);
      out += "  ";
      out += value_loc(plan, v);
      const std::string path = value_path(plan, v);
      if (!path.empty() && v.name.find(path) == std::string::npos) {  // names are often the path
        out += ' ';
        out += path;
      }
      out += '\n';
    }
  }
  return out;
}

std::string strategy_label(const Plan& plan) {
  if (plan.policy == "none") {
    if (!plan.options.inplace && !plan.options.sharing) return "no optimisation";
    if (plan.options.inplace && !plan.options.sharing) return "inplace";
    if (plan.options.inplace && plan.options.sharing) return "inplace+sharing";
    return "sharing";
  }
  std::string s = plan.policy;
  if (!plan.options.inplace) s += ", no inplace";
  if (!plan.options.sharing) s += ", no sharing";
  return s;
}

std::string format_table(const std::vector<std::vector<std::string>>& rows) {
  if (rows.empty()) return "";
  std::vector<size_t> w(rows.front().size(), 0);
  for (const auto& r : rows)
    for (size_t c = 0; c < r.size() && c < w.size(); ++c) w[c] = std::max(w[c], r[c].size());
  std::string out;
  for (size_t i = 0; i < rows.size(); ++i) {
    std::string line = "  ";
    for (size_t c = 0; c < rows[i].size() && c < w.size(); ++c) {
      if (c > 0) line += "  ";
      line += c == 0 ? pad_right(rows[i][c], w[c]) : pad_left(rows[i][c], w[c]);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
    if (i == 0) {
      size_t total = 0;
      for (size_t c = 0; c < w.size(); ++c) total += w[c] + (c > 0 ? 2 : 0);
      out += "  " + std::string(total, '-') + '\n';
    }
  }
  return out;
}

std::string format_compare(const std::vector<Plan>& plans) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"strategy", "feature maps", "live peak", "total", "recomputed", "extra fwd", "vs first"});
  const double first = plans.empty() ? 0.0 : static_cast<double>(plans.front().feature_map_peak_bytes);
  for (const auto& p : plans) {
    std::string ratio = "-";
    if (first > 0) {
      const double r = static_cast<double>(p.feature_map_peak_bytes) / first;
      // Deep recomputation reaches a few thousandths of the unoptimised plan: keep them readable.
      ratio = fixed(r, r < 0.1 ? 3 : 2);
      ratio += 'x';
    }
    rows.push_back({strategy_label(p), ir::human_bytes(p.feature_map_peak_bytes), ir::human_bytes(p.live_peak_bytes),
                    ir::human_bytes(p.total_peak_bytes()), ir::with_commas(p.recomputed_nodes),
                    percent(p.extra_forward_ratio()), ratio});
  }
  std::string out;
  if (!plans.empty() && plans.front().graph) {
    out += "strategies for ";
    out += plans.front().graph->model_name;
    out += " (batch ";
    out += ir::with_commas(plans.front().graph->batch);
    out += ", optimizer ";
    out += optimizer_name(plans.front().options.optimizer);
    out += ")\n";
  }
  out += format_table(rows);
  out += "feature maps: the arena (activations, recomputed copies, activation gradients); total adds inputs,\n"
         "parameters, their gradients, optimizer state and workspace;\nextra fwd: " +
         (plans.empty() ? std::string("recomputation as a share of one forward pass") : cost_meaning(plans.front().options)) +
         "\n";
  return out;
}

std::vector<PlanRequest> compare_requests(const PlanRequest& base) {
  struct Row {
    Policy policy;
    bool inplace, sharing;
  };
  const Row rows[] = {{Policy::None, false, false}, {Policy::None, true, false}, {Policy::None, true, true},
                      {Policy::DropCheap, true, true}, {Policy::Sqrt, true, true}, {Policy::Log, true, true}};
  std::vector<PlanRequest> out;
  for (const auto& r : rows) {
    PlanRequest q;
    q.policy = r.policy;
    q.memory_budget.reset();
    q.options = base.options;
    q.options.inplace = r.inplace;
    q.options.sharing = r.sharing;
    out.push_back(q);
  }
  return out;
}

}  // namespace sublinear::planner
