// Recompute policies: mirror counts for build_plan. Rules:
// - Annotations are hard constraints for every policy: @checkpoint forces m = 0, @recompute forces
//   m >= 1. @recompute on a graph output or on an op the registry marks as not recomputable is a user
//   error naming the annotation.
// - none keeps everything; drop-cheap recomputes the ops the registry marks cheap (paper 4.2).
// - sqrt is the paper's Algorithm 3 over the split candidates (split_points.h): walk the compute nodes,
//   accumulate output bytes, and at a candidate whose accumulated bytes exceed the budget B keep its
//   crossing set (m = 0) and start a new segment; everything else is recomputed once (m = 1). B is then
//   searched as in Appendix A: B = 0 gives x (kept bytes) and y (largest segment); B = sqrt(x*y), then 6
//   points over [B/sqrt(2), sqrt(2)*B]; each candidate is costed by the real allocator and the smallest
//   arena wins.
// - log bisects the candidates recursively: the middle one keeps its crossing set at level 0, the
//   middles of the halves at level 1, and so on; every other node gets the deepest level + 1. With the
//   scheduler's depth rule that is the paper's section 4.4 with k = 1: O(log n) memory.
// - a memory budget picks, among none, drop-cheap, Algorithm 3 over a grid of B and log, the plan with
//   the least recomputation whose total peak fits; otherwise it says the smallest peak it found.
#include "planner/policies.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>

#include "ir/check.h"
#include "ir/diagnostic.h"
#include "ir/format_util.h"
#include "ir/op_registry.h"
#include "planner/plan_validator.h"
#include "planner/scheduler.h"
#include "planner/split_points.h"

namespace sublinear::planner {

const char* policy_name(Policy p) {
  switch (p) {
    case Policy::None: return "none";
    case Policy::DropCheap: return "drop-cheap";
    case Policy::Sqrt: return "sqrt";
    case Policy::Log: return "log";
  }
  return "?";
}

bool parse_policy(const std::string& s, Policy* out) {
  for (Policy p : {Policy::None, Policy::DropCheap, Policy::Sqrt, Policy::Log})
    if (s == policy_name(p)) {
      *out = p;
      return true;
    }
  return false;
}

int64_t parse_size(const std::string& text, const std::string& flag) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  std::string unit = text.substr(used);
  double mult = -1;
  const std::pair<const char*, double> units[] = {
      {"", 1},        {"B", 1},         {"KiB", 1024.0},   {"MiB", 1048576.0}, {"GiB", 1073741824.0},
      {"TiB", 1099511627776.0}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}};
  for (const auto& [name, m] : units)
    if (unit == name) mult = m;
  // At least one byte and within int64 (this also refuses nan and inf, which stod accepts).
  const double bytes = v * mult;
  if (used == 0 || mult < 0 || !(bytes >= 1 && bytes < 9.2e18))
    throw UserError(SourceSpan{SourceLoc{"<command line>", 0, 0, 1}, nullptr},
                    flag + " " + text + ": expected a positive size such as 6GiB, 512MiB, 1.5GB or 1000000");
  return static_cast<int64_t>(bytes);
}

std::vector<ir::NodeId> split_candidates(const ir::Graph& g) {
  CutAnalysis c = analyse_cuts(g);
  std::vector<ir::NodeId> out;
  for (size_t p = 0; p < c.order.size(); ++p)
    if (c.candidate[p]) out.push_back(c.order[p]);
  return out;
}

namespace {

SourceSpan command_line() { return SourceSpan{SourceLoc{"<command line>", 0, 0, 1}, nullptr}; }

// Applies the annotations on top of a policy's choice; the result is what build_plan gets.
std::vector<int32_t> constrain(const ir::Graph& g, std::vector<int32_t> m) {
  for (const auto& n : g.nodes()) {
    if (n.def->is_source) {
      m[n.id] = 0;
      continue;
    }
    if (n.annotation == ir::Annotation::Checkpoint) m[n.id] = 0;
    if (n.annotation == ir::Annotation::Recompute) m[n.id] = std::max(m[n.id], 1);
    if (!n.def->recomputable) m[n.id] = 0;
  }
  for (const auto& out : g.outputs()) m[out.node] = 0;
  return m;
}

void check_annotations(const ir::Graph& g) {
  std::vector<Diagnostic> errors;
  for (const auto& n : g.nodes()) {
    if (n.annotation != ir::Annotation::Recompute) continue;
    std::string why;
    if (!n.def->recomputable) why = "op '" + n.op + "' cannot be recomputed faithfully";
    for (size_t i = 0; i < g.outputs().size(); ++i)
      if (g.outputs()[i].node == n.id) why = "it produces the model output '" + g.output_names()[i] + "', which is always kept";
    if (why.empty()) continue;
    errors.push_back(Diagnostic{Severity::Error, SourceSpan{n.annotation_loc, n.span.frames},
                                "@recompute cannot apply to " + n.path + ": " + why, {}});
  }
  if (!errors.empty()) throw UserErrors(std::move(errors));
}

std::vector<int32_t> drop_cheap(const ir::Graph& g) {
  std::vector<int32_t> m(g.size(), 0);
  for (const auto& n : g.nodes()) m[n.id] = n.def->cheap && n.def->recomputable ? 1 : 0;
  return m;
}

struct Alg3 {
  std::vector<int32_t> mirror;
  int64_t kept_bytes = 0;     // x
  int64_t max_segment = 0;    // y
};

// The paper's Algorithm 3 with budget B over crossing-set candidates.
Alg3 algorithm3(const ir::Graph& g, const CutAnalysis& c, int64_t budget) {
  Alg3 r;
  r.mirror.assign(g.size(), 1);
  std::vector<char> kept(g.size(), 0);
  CrossingSweep sweep(c);
  int64_t acc = 0;
  for (size_t p = 0; p < c.order.size(); ++p) {
    sweep.advance(p);
    acc += c.node_bytes[p];
    if (!c.candidate[p] || acc <= budget) continue;
    for (const auto& v : sweep.crossing()) {
      if (kept[v.node]) continue;
      kept[v.node] = 1;
      r.mirror[v.node] = 0;
      for (const auto& t : g.node(v.node).outputs) r.kept_bytes += t.bytes();
    }
    r.max_segment = std::max(r.max_segment, acc);
    acc = 0;
  }
  r.max_segment = std::max(r.max_segment, acc);
  return r;
}

std::vector<int32_t> log_mirror(const ir::Graph& g, const CutAnalysis& c) {
  std::vector<size_t> cands;
  for (size_t p = 0; p < c.order.size(); ++p)
    if (c.candidate[p]) cands.push_back(p);
  std::vector<int32_t> level(c.order.size(), -1);
  int32_t deepest = 0;
  std::function<void(size_t, size_t, int32_t)> bisect = [&](size_t lo, size_t hi, int32_t l) {
    if (lo >= hi) return;
    size_t mid = lo + (hi - lo) / 2;
    level[cands[mid]] = l;
    deepest = std::max(deepest, l);
    bisect(lo, mid, l + 1);
    bisect(mid + 1, hi, l + 1);
  };
  bisect(0, cands.size(), 0);
  std::vector<int32_t> m(g.size(), deepest + 1);
  CrossingSweep sweep(c);
  for (size_t p = 0; p < c.order.size(); ++p) {
    sweep.advance(p);
    if (level[p] < 0) continue;
    for (const auto& v : sweep.crossing()) m[v.node] = std::min(m[v.node], level[p]);
  }
  return m;
}

Plan make(const std::shared_ptr<const ir::Graph>& g, const std::vector<int32_t>& m, const PlanOptions& o,
          const std::string& name) {
  return build_plan(g, constrain(*g, m), o, name);
}

Plan best_sqrt(const std::shared_ptr<const ir::Graph>& g, const CutAnalysis& c, const PlanOptions& o) {
  Alg3 first = algorithm3(*g, c, 0);
  Plan best = make(g, first.mirror, o, "sqrt");
  const double b = std::sqrt(static_cast<double>(first.kept_bytes) * static_cast<double>(first.max_segment));
  std::vector<double> budgets = {b};
  for (int i = 0; i < 6; ++i) budgets.push_back(b / std::sqrt(2.0) * std::pow(2.0, i / 5.0));
  for (double bb : budgets) {
    Plan p = make(g, algorithm3(*g, c, static_cast<int64_t>(bb)).mirror, o, "sqrt");
    if (p.feature_map_peak_bytes < best.feature_map_peak_bytes ||
        (p.feature_map_peak_bytes == best.feature_map_peak_bytes && p.recompute_flops < best.recompute_flops))
      best = std::move(p);
  }
  return best;
}

Plan within_budget(const std::shared_ptr<const ir::Graph>& g, const CutAnalysis& c, const PlanOptions& o,
                   int64_t budget) {
  std::vector<Plan> plans;
  plans.push_back(make(g, std::vector<int32_t>(g->size(), 0), o, "none"));
  plans.push_back(make(g, drop_cheap(*g), o, "drop-cheap"));
  int64_t total = 0;
  for (int64_t b : c.node_bytes) total += b;
  plans.push_back(make(g, algorithm3(*g, c, 0).mirror, o, "sqrt"));
  for (int k = 0; k <= 20; k += 2)
    plans.push_back(make(g, algorithm3(*g, c, total >> k).mirror, o, "sqrt"));
  plans.push_back(best_sqrt(g, c, o));
  plans.push_back(make(g, log_mirror(*g, c), o, "log"));
  const Plan* best = nullptr;
  const Plan* smallest = nullptr;
  for (const auto& p : plans) {
    if (!smallest || p.total_peak_bytes() < smallest->total_peak_bytes()) smallest = &p;
    if (p.total_peak_bytes() > budget) continue;
    if (!best || p.recompute_flops < best->recompute_flops ||
        (p.recompute_flops == best->recompute_flops && p.total_peak_bytes() < best->total_peak_bytes()))
      best = &p;
  }
  if (best) {
    Plan out = *best;
    out.policy = "budget(" + out.policy + ")";
    return out;
  }
  Diagnostic d;
  d.span = command_line();
  d.message = "--memory-budget " + ir::human_bytes(budget) + " cannot be met: the smallest plan found (" +
              smallest->policy + ") needs " + ir::human_bytes(smallest->total_peak_bytes()) + " in total";
  d.extra.push_back("feature maps " + ir::human_bytes(smallest->feature_map_peak_bytes) + ", parameters " +
                    ir::human_bytes(smallest->parameter_bytes) + ", gradients " +
                    ir::human_bytes(smallest->gradient_bytes) + ", optimizer state " +
                    ir::human_bytes(smallest->optimizer_state_bytes) + ", workspace " +
                    ir::human_bytes(smallest->workspace_bytes));
  d.extra.push_back("try a smaller batch, --optimizer sgd (no optimizer state), or --memory-budget " +
                    ir::human_bytes(smallest->total_peak_bytes()));
  int checkpoints = 0;
  for (const auto& n : g->nodes()) {
    if (n.annotation != ir::Annotation::Checkpoint) continue;
    if (checkpoints++ < 5)
      d.extra.push_back("@checkpoint at " + n.annotation_loc.str() + " keeps " + n.path + " (" +
                        ir::human_bytes(n.outputs[0].bytes()) + ")");
  }
  if (checkpoints > 5) d.extra.push_back("... and " + std::to_string(checkpoints - 5) + " more @checkpoint nodes");
  throw UserError(std::move(d));
}

}  // namespace

Plan plan_model(std::shared_ptr<const ir::Graph> g, const PlanRequest& req) {
  SL_CHECK(g) << "plan_model without a graph";
  auto t0 = std::chrono::steady_clock::now();
  check_annotations(*g);
  CutAnalysis cuts = analyse_cuts(*g);
  Plan plan;
  if (req.memory_budget) {
    plan = within_budget(g, cuts, req.options, *req.memory_budget);
  } else {
    switch (req.policy) {
      case Policy::None: plan = make(g, std::vector<int32_t>(g->size(), 0), req.options, "none"); break;
      case Policy::DropCheap: plan = make(g, drop_cheap(*g), req.options, "drop-cheap"); break;
      case Policy::Sqrt: plan = best_sqrt(g, cuts, req.options); break;
      case Policy::Log: plan = make(g, log_mirror(*g, cuts), req.options, "log"); break;
    }
  }
  plan.plan_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
#ifndef NDEBUG
  // Debug builds prove every plan they hand out (tests do it explicitly in any build).
  auto faults = validate_plan(plan);
  SL_CHECK(faults.empty()) << "planner produced an invalid plan:\n" << format_faults(faults, plan);
#endif
  return plan;
}

}  // namespace sublinear::planner
