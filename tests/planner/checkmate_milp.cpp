#include "checkmate_milp.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "ir/check.h"
#include "planner/scheduler.h"

#ifdef SUBLINEAR_HAVE_CBC
#include <Cbc_C_Interface.h>
#endif

namespace sublinear::planner::ptest {

#ifndef SUBLINEAR_HAVE_CBC

MilpOutcome checkmate_least_recompute(const std::shared_ptr<const ir::Graph>&, const PlanOptions&, int64_t, int,
                                      double, double) {
  return {};
}

#else

namespace {

// One of Checkmate's nodes: an arena value a step writes (or the step itself, with no bytes).
struct Item {
  int32_t stage = 0;
  ir::NodeId node = -1;
  int64_t units = 0;          // aligned bytes / alignment
  bool recomputable = false;  // may be computed again in a later stage
  bool retained_to_end = false;
  int32_t lead = -1;          // the first item of its step: R is tied to it, cost is counted on it
  std::vector<int32_t> deps, users;
};

// A linear term over CBC columns with a constant part, for variables the structure fixes.
struct Lin {
  double constant = 0;
  std::vector<int> cols;
  std::vector<double> coefs;
  void add(const Lin& o, double scale) {
    constant += scale * o.constant;
    for (size_t k = 0; k < o.cols.size(); ++k) cols.push_back(o.cols[k]), coefs.push_back(scale * o.coefs[k]);
  }
  // One coefficient per column (tied R columns of a step's items would otherwise repeat), zeros dropped.
  void merge() {
    std::vector<std::pair<int, double>> terms;
    for (size_t k = 0; k < cols.size(); ++k) terms.emplace_back(cols[k], coefs[k]);
    std::sort(terms.begin(), terms.end());
    cols.clear();
    coefs.clear();
    for (const auto& [c, v] : terms) {
      if (!cols.empty() && cols.back() == c) coefs.back() += v;
      else cols.push_back(c), coefs.push_back(v);
    }
    for (size_t k = cols.size(); k-- > 0;) {
      if (coefs[k] != 0) continue;
      cols.erase(cols.begin() + static_cast<long>(k));
      coefs.erase(coefs.begin() + static_cast<long>(k));
    }
  }
};

Lin constant(double c) { return Lin{c, {}, {}}; }
Lin column(int c) { return Lin{0, {c}, {1.0}}; }

class Model {
 public:
  Model() : m_(Cbc_newModel()) { Cbc_setLogLevel(m_, 0); }
  ~Model() { Cbc_deleteModel(m_); }
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  int binary(double objective = 0) {
    Cbc_addCol(m_, "", 0.0, 1.0, objective, 1, 0, nullptr, nullptr);
    return columns_++;
  }
  int continuous(double lb, double ub) {
    Cbc_addCol(m_, "", lb, ub, 0.0, 0, 0, nullptr, nullptr);
    return columns_++;
  }
  // lin (sense) rhs, with lin's constant moved to the right.
  void row(Lin lin, char sense, double rhs) {
    lin.merge();
    if (lin.cols.empty()) {
      const double v = lin.constant;
      SL_CHECK((sense == 'L' && v <= rhs + 1e-9) || (sense == 'G' && v >= rhs - 1e-9) ||
               (sense == 'E' && std::abs(v - rhs) < 1e-9))
          << "a constant row that cannot hold: " << v << " " << sense << " " << rhs;
      return;
    }
    Cbc_addRow(m_, "", static_cast<int>(lin.cols.size()), lin.cols.data(), lin.coefs.data(), sense, rhs - lin.constant);
    ++rows_;
  }
  Cbc_Model* get() { return m_; }
  int columns() const { return columns_; }
  int rows() const { return rows_; }

 private:
  Cbc_Model* m_;
  int columns_ = 0, rows_ = 0;
};

std::vector<Item> checkmate_items(const ir::Graph& g, const Plan& none, const GraphCosts& costs) {
  std::vector<Item> items;
  std::vector<int32_t> item_of(none.values.size(), -1);
  std::vector<char> output(none.values.size(), 0);
  for (const PlanValue& v : none.values)
    for (const ir::ValueRef& o : g.outputs())
      if (v.kind == ValueKind::Activation && v.source == o) output[static_cast<size_t>(v.id)] = 1;
  const int64_t align = none.options.alignment;
  for (const PlanStep& s : none.steps) {
    SL_CHECK(s.kind != StepKind::Recompute) << "the keep-everything plan recomputes";
    std::vector<int32_t> deps;
    auto depend = [&](ValueId v) {
      if (none.values[static_cast<size_t>(v)].storage < 0) return;
      const int32_t i = item_of[static_cast<size_t>(v)];
      SL_CHECK(i >= 0) << "value " << none.values[static_cast<size_t>(v)].name << " read before it is written";
      if (std::find(deps.begin(), deps.end(), i) == deps.end()) deps.push_back(i);
    };
    for (ValueId v : s.reads) depend(v);
    for (ValueId v : s.accumulates) depend(v);
    const auto lead = static_cast<int32_t>(items.size());
    auto add = [&](int64_t bytes, bool out) {
      Item it;
      it.stage = s.id;
      it.node = s.node;
      it.units = bytes > 0 ? (std::max<int64_t>(bytes, 1) + align - 1) / align : 0;
      it.recomputable = s.kind == StepKind::Forward && costs.recomputable[static_cast<size_t>(s.node)];
      it.retained_to_end = out;
      it.lead = lead;
      it.deps = deps;
      items.push_back(std::move(it));
    };
    for (ValueId v : s.writes) {
      const PlanValue& pv = none.values[static_cast<size_t>(v)];
      if (pv.storage < 0) continue;
      item_of[static_cast<size_t>(v)] = static_cast<int32_t>(items.size());
      add(pv.bytes, output[static_cast<size_t>(v)] != 0);
    }
    if (static_cast<int32_t>(items.size()) == lead) add(0, false);
  }
  for (size_t j = 0; j < items.size(); ++j)
    for (int32_t i : items[j].deps) items[static_cast<size_t>(i)].users.push_back(static_cast<int32_t>(j));
  return items;
}

}  // namespace

MilpOutcome checkmate_least_recompute(const std::shared_ptr<const ir::Graph>& g, const PlanOptions& o,
                                      int64_t live_budget, int max_nodes, double cutoff, double max_seconds) {
  SL_CHECK(!o.inplace) << "Checkmate's memory has no in-place folding: plan with inplace = false";
  const auto start = std::chrono::steady_clock::now();
  const Plan none = build_plan(g, std::vector<int32_t>(g->size(), 0), o, "none");
  const GraphCosts costs = graph_costs(*g, o);
  const std::vector<Item> items = checkmate_items(*g, none, costs);
  const auto n = static_cast<int32_t>(items.size());
  const auto T = static_cast<int32_t>(none.steps.size());
  const double budget_units = std::floor(static_cast<double>(live_budget) / static_cast<double>(o.alignment));
  // Costs in units of one forward pass keep CBC's tolerances meaningful.
  const double scale = none.forward_cost > 0 ? 1.0 / static_cast<double>(none.forward_cost) : 1.0;

  // end[t]: items of stages <= t are [0, end[t]).
  std::vector<int32_t> end(static_cast<size_t>(T), 0);
  for (int32_t i = 0; i < n; ++i) end[static_cast<size_t>(items[static_cast<size_t>(i)].stage)] = i + 1;
  for (size_t t = 1; t < end.size(); ++t) end[t] = std::max(end[t], end[t - 1]);

  Model model;
  // R[t][i] and S[t][i] as Lin (a column or a constant), for items of stages <= t.
  std::vector<std::vector<Lin>> R(static_cast<size_t>(T)), S(static_cast<size_t>(T + 1));
  for (int32_t t = 0; t < T; ++t) {
    auto& r = R[static_cast<size_t>(t)];
    for (int32_t i = 0; i < end[static_cast<size_t>(t)]; ++i) {
      const Item& it = items[static_cast<size_t>(i)];
      if (it.stage == t) r.push_back(constant(1));
      else if (!it.recomputable) r.push_back(constant(0));
      else if (it.lead != i) r.push_back(r[static_cast<size_t>(it.lead)]);
      else r.push_back(column(model.binary(scale * static_cast<double>(costs.cost[static_cast<size_t>(it.node)]))));
    }
  }
  // Retaining an item into stage t helps only if some item of stage >= t, or a recomputable one, reads it.
  auto useful_at = [&](const Item& it, int32_t t) {
    for (int32_t j : it.users) {
      const Item& u = items[static_cast<size_t>(j)];
      if (u.stage >= t || u.recomputable) return true;
    }
    return false;
  };
  for (int32_t t = 0; t <= T; ++t) {
    auto& s = S[static_cast<size_t>(t)];
    const int32_t upto = t < T ? end[static_cast<size_t>(t)] : n;
    for (int32_t i = 0; i < upto; ++i) {
      const Item& it = items[static_cast<size_t>(i)];
      if (it.stage >= t) s.push_back(constant(0));
      else if (it.retained_to_end) s.push_back(constant(1));
      else if (t == T || !useful_at(it, t)) s.push_back(constant(0));
      else s.push_back(column(model.binary()));
    }
  }
  auto r_at = [&](int32_t t, int32_t i) -> const Lin& { return R[static_cast<size_t>(t)][static_cast<size_t>(i)]; };
  auto s_at = [&](int32_t t, int32_t i) -> Lin {
    const auto& s = S[static_cast<size_t>(t)];
    return static_cast<size_t>(i) < s.size() ? s[static_cast<size_t>(i)] : constant(0);
  };

  for (int32_t t = 0; t < T; ++t) {
    const int32_t e = end[static_cast<size_t>(t)];
    for (int32_t i = 0; i < e; ++i) {
      // Kept into t + 1 only if kept into t or computed in t.
      if (t + 1 < T) {
        Lin row = s_at(t + 1, i);
        row.add(s_at(t, i), -1);
        row.add(r_at(t, i), -1);
        if (!row.cols.empty()) model.row(row, 'L', 0);
      }
      // Computing an item needs each of its dependencies computed earlier in the stage or kept into it.
      for (int32_t d : items[static_cast<size_t>(i)].deps) {
        Lin row = r_at(t, i);
        row.add(r_at(t, d), -1);
        row.add(s_at(t, d), -1);
        model.row(row, 'L', 0);
      }
    }
    // Memory: U[k] after computing item k (its inputs still held), before freeing what k was last to use.
    int prev_u = -1;
    Lin freed_before = constant(0);  // what item k - 1 freed
    for (int32_t k = 0; k < e; ++k) {
      const Item& it = items[static_cast<size_t>(k)];
      const int u = model.continuous(0.0, budget_units);
      Lin row = column(u);
      if (prev_u < 0) {
        for (int32_t i = 0; i < e; ++i) row.add(s_at(t, i), -static_cast<double>(items[static_cast<size_t>(i)].units));
      } else {
        row.add(column(prev_u), -1);
        row.add(freed_before, 1);
      }
      row.add(r_at(t, k), -static_cast<double>(it.units));
      model.row(row, 'E', 0);
      prev_u = u;
      // FREE[t][i][k] for i in deps(k) + {k}: k computed, i not kept into t + 1, no later user in t.
      freed_before = constant(0);
      if (r_at(t, k).cols.empty() && r_at(t, k).constant == 0) continue;
      std::vector<int32_t> frees = it.deps;
      frees.push_back(k);
      for (int32_t i : frees) {
        const Item& fi = items[static_cast<size_t>(i)];
        if (fi.units == 0) continue;
        Lin hazards = constant(1);
        hazards.add(r_at(t, k), -1);
        hazards.add(s_at(t + 1, i), 1);
        for (int32_t j : fi.users)
          if (j > k && j < e) hazards.add(r_at(t, j), 1);
        hazards.merge();
        double least = hazards.constant, most = hazards.constant;
        for (double c : hazards.coefs) least += std::min(0.0, c), most += std::max(0.0, c);
        if (least >= 1 - 1e-9) continue;  // never freed here
        if (most <= 1e-9) {               // always freed here
          freed_before.add(constant(static_cast<double>(fi.units)), 1);
          continue;
        }
        const int f = model.binary();
        Lin lo = hazards;  // 1 - FREE <= hazards: freed when nothing holds it
        lo.add(column(f), 1);
        model.row(lo, 'G', 1);
        Lin hi = hazards;  // most * (1 - FREE) >= hazards: kept when anything does
        hi.add(column(f), most);
        model.row(hi, 'L', most);
        freed_before.add(column(f), static_cast<double>(fi.units));
      }
    }
  }

  Cbc_setMaximumSeconds(model.get(), max_seconds);
  Cbc_setMaximumNodes(model.get(), max_nodes);
  Cbc_setAllowableFractionGap(model.get(), 0.0);
  if (cutoff > 0) Cbc_setCutoff(model.get(), cutoff * scale);
  Cbc_solve(model.get());
  MilpOutcome out;
  out.available = true;
  out.columns = model.columns();
  out.rows = model.rows();
  out.optimal = Cbc_isProvenOptimal(model.get()) != 0;
  out.nodes = Cbc_getNodeCount(model.get());
  const bool none_below = Cbc_isProvenInfeasible(model.get()) != 0;
  if (none_below && cutoff > 0) {  // no schedule recomputes less than the cutoff
    out.bound = cutoff;
    out.best = std::numeric_limits<double>::infinity();
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return out;
  }
  out.infeasible = none_below;
  out.feasible = !out.infeasible && Cbc_bestSolution(model.get()) != nullptr;
  const double to_cost = 1.0 / scale;
  out.best = out.feasible ? Cbc_getObjValue(model.get()) * to_cost : std::numeric_limits<double>::infinity();
  out.bound = out.infeasible ? std::numeric_limits<double>::infinity()
                             : std::max(0.0, Cbc_getBestPossibleObjValue(model.get()) * to_cost);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

#endif

}  // namespace sublinear::planner::ptest
