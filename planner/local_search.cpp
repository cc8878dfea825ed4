// The budget solver's searches on small graphs, each over exact plans offered to the ParetoSet (rules
// in budget_solver.cpp): a greedy walk from keep-everything, a descent from the smallest points, local
// improvement, kick and repair at each point's total, and the early triggers (Plan::early_at,
// scheduler.cpp): recomputing ahead of need, and holding a copy made after transient ones.
#include "planner/local_search.h"

#include <algorithm>

namespace sublinear::planner {

// From keep-everything, repeatedly take the change that saves the most total bytes per recomputed FLOP:
// one node dropped (or deepened, up to 2), or, when no single change saves anything (two branches
// that only free their input together), two at once. Every plan on the way is a candidate.
void greedy_walk(ParetoSet& set, const ir::Graph& g, const std::vector<char>& droppable, bool pairs) {
  std::vector<int32_t> cur(g.size(), 0);
  ParetoSet::Score at = set.evaluate(cur, "greedy");
  std::vector<ir::NodeId> free;
  for (const auto& n : g.nodes())
    if (droppable[n.id]) free.push_back(n.id);
  for (size_t round = 0; round < 2 * g.size(); ++round) {
    double best = -1;
    std::vector<ir::NodeId> pick;
    ParetoSet::Score pick_score;
    auto consider = [&](const std::vector<ir::NodeId>& change) {
      for (ir::NodeId v : change) ++cur[v];
      const ParetoSet::Score s = set.evaluate(cur, "greedy");
      for (ir::NodeId v : change) --cur[v];
      const int64_t saved = at.total - s.total;
      if (saved <= 0) return;
      const double score = static_cast<double>(saved) /
                           (static_cast<double>(std::max<int64_t>(0, s.recompute - at.recompute)) + 1.0);
      if (score > best) best = score, pick = change, pick_score = s;
    };
    for (ir::NodeId v : free)
      if (cur[v] < 2) consider({v});
    if (pick.empty() && pairs)
      for (size_t i = 0; i < free.size(); ++i)
        for (size_t j = i + 1; j < free.size(); ++j)
          if (cur[free[i]] < 2 && cur[free[j]] < 2) consider({free[i], free[j]});
    if (pick.empty()) return;
    for (ir::NodeId v : pick) ++cur[v];
    at = pick_score;
  }
}

// From each of the smallest frontier points, take the change of one or two nodes' depth by one (up to
// depth 3) that lowers the total peak most (ties: least recomputation) until none lowers it: the walk
// above trades bytes for FLOPs and stops where only a combination still saves, such as recomputing a
// producer deeper while keeping a concatenation of it.
void descend(ParetoSet& set, const ir::Graph& g, const std::vector<char>& droppable, size_t starts) {
  struct Move { ir::NodeId node; int32_t delta; };
  std::vector<ir::NodeId> free;
  for (const auto& n : g.nodes())
    if (droppable[n.id]) free.push_back(n.id);
  std::vector<FrontierPoint> from = set.points_by_total();
  if (from.size() > starts) from.resize(starts);
  for (const FrontierPoint& start : from) {
    std::vector<int32_t> cur = start.mirror;
    ParetoSet::Score at = set.evaluate(cur, "greedy");
    for (;;) {
      std::vector<Move> pick;
      ParetoSet::Score pick_score = at;
      auto consider = [&](const std::vector<Move>& change) {
        for (const Move& mv : change) {
          const int32_t d = cur[mv.node] + mv.delta;
          if (d < 0 || d > 3) return;
        }
        for (const Move& mv : change) cur[mv.node] += mv.delta;
        const ParetoSet::Score s = set.evaluate(cur, "greedy");
        for (const Move& mv : change) cur[mv.node] -= mv.delta;
        if (s.total < pick_score.total ||
            (s.total == pick_score.total && !pick.empty() && s.recompute < pick_score.recompute))
          pick = change, pick_score = s;
      };
      for (size_t i = 0; i < free.size(); ++i)
        for (int32_t di : {1, -1}) {
          consider({{free[i], di}});
          for (size_t j = i + 1; j < free.size(); ++j)
            for (int32_t dj : {1, -1}) consider({{free[i], di}, {free[j], dj}});
        }
      if (pick.empty()) break;
      for (const Move& mv : pick) cur[mv.node] += mv.delta;
      at = pick_score;
    }
  }
}

// Keeps (or makes shallower) any recomputed node of a frontier point whose change recomputes less
// without raising the total peak, until no such change is left.
void improve_locally(ParetoSet& set, const ir::Graph& g, const std::vector<char>& droppable) {
  for (auto m : set.point_mirrors()) {
    ParetoSet::Score at = set.evaluate(m, "greedy");
    for (bool changed = true; changed;) {
      changed = false;
      for (const auto& n : g.nodes()) {
        if (!droppable[n.id] || m[n.id] == 0) continue;
        --m[n.id];
        const ParetoSet::Score s = set.evaluate(m, "greedy");
        if (s.total <= at.total && s.recompute < at.recompute) {
          at = s, changed = true;
        } else {
          ++m[n.id];
        }
      }
    }
  }
}

// The early moves of a plan, each as the early triggers of the whole plan: for each node it recomputes,
// its first recomputation moved ahead of one to `steps` earlier backward steps, and a trigger at each of
// its recomputations (the copy made there held for every later pass and reader, where the pass made it
// only transiently; a no-op where the copy was retained anyway).
std::vector<std::vector<ir::NodeId>> early_moves(const Plan& plan, const ir::Graph& g, size_t steps) {
  std::vector<ir::NodeId> backward;  // the backward steps' nodes, in plan order
  // Per node, the backward steps (indices into `backward`) its recomputations precede.
  std::vector<std::vector<size_t>> at(g.size());
  std::vector<ir::NodeId> order;     // recomputed nodes, by first recomputation
  std::vector<ir::NodeId> pending;
  for (const PlanStep& st : plan.steps) {
    if (st.kind == StepKind::Recompute) {
      pending.push_back(st.node);
    } else if (st.kind == StepKind::Backward) {
      for (ir::NodeId v : pending) {
        auto& a = at[static_cast<size_t>(v)];
        if (a.empty()) order.push_back(v);
        if (a.empty() || a.back() != backward.size()) a.push_back(backward.size());
      }
      pending.clear();
      backward.push_back(st.node);
    }
  }
  std::vector<std::vector<ir::NodeId>> out;
  auto move = [&](ir::NodeId v, size_t step) {
    std::vector<ir::NodeId> early = plan.early_at;
    if (early.empty()) early.assign(g.size(), -1);
    early[static_cast<size_t>(v)] = backward[step];
    out.push_back(std::move(early));
  };
  for (ir::NodeId v : order) {
    const auto& a = at[static_cast<size_t>(v)];
    for (size_t k = 1; k <= steps && k <= a.front(); ++k) move(v, a.front() - k);
    for (size_t j = 0; j < a.size(); ++j) move(v, a[j]);
  }
  return out;
}

// Recomputing earlier (scheduler.cpp): every point of the frontier with each of its early moves, twice
// over so that moves combine. Checkmate's optimal schedules do this at the tightest budgets: a chain is
// recomputed while fewer gradients are live, and only the copies its backward steps read wait for them.
void recompute_earlier(ParetoSet& set, const ir::Graph& g, size_t steps) {
  for (int round = 0; round < 2; ++round)
    for (const FrontierPoint& p : set.points_by_total())
      if (p.recompute_cost > 0)
        for (const auto& early : early_moves(set.full_plan(p), g, steps)) set.evaluate(p.mirror, "early", early);
}

// From every frontier point, and from it with every depth above 1 made 1 (recomputed once instead of
// twice, the memory won back by recomputing earlier instead), take the early move that lowers the total
// most (ties: least recomputation) until none does.
void early_descent(ParetoSet& set, const ir::Graph& g, size_t steps) {
  std::vector<FrontierPoint> starts;
  for (const FrontierPoint& p : set.points_by_total()) {
    if (p.recompute_cost == 0) continue;
    starts.push_back(p);
    FrontierPoint flat = p;
    for (int32_t& m : flat.mirror) m = std::min(m, 1);
    if (flat.mirror != p.mirror) starts.push_back(std::move(flat));
  }
  for (FrontierPoint cur : starts) {
    ParetoSet::Score at = set.evaluate(cur.mirror, "early", cur.early_at);
    for (;;) {
      std::vector<ir::NodeId> pick;
      ParetoSet::Score pick_score = at;
      for (auto& early : early_moves(set.full_plan(cur), g, steps)) {
        const ParetoSet::Score s = set.evaluate(cur.mirror, "early", early);
        if (s.total < pick_score.total ||
            (s.total == pick_score.total && !pick.empty() && s.recompute < pick_score.recompute))
          pick = std::move(early), pick_score = s;
      }
      if (pick.empty()) break;
      cur.early_at = std::move(pick);
      at = pick_score;
    }
  }
}

// Every point with one recomputed node made shallower by one (kept, at depth 1), the peak that costs won
// back by each early move of the result: Checkmate's schedules keep a value and recompute another one
// ahead of need where the scheduler's lazy order would hold both at once.
void keep_and_recompute_earlier(ParetoSet& set, const ir::Graph& g, size_t steps) {
  for (const FrontierPoint& p : set.points_by_total()) {
    if (p.recompute_cost == 0) continue;
    for (const auto& n : g.nodes()) {
      if (p.mirror[n.id] == 0) continue;
      FrontierPoint kept = p;
      --kept.mirror[n.id];
      for (const auto& early : early_moves(set.full_plan(kept), g, steps)) set.evaluate(kept.mirror, "early", early);
    }
  }
}

// At each frontier point's total B: every single depth change of its mirror counts (a kick, which may
// leave B; its early triggers are left to the early searches that follow), then a greedy
// repair back under B, and a descent in recomputation under B (any node made shallower or deeper while
// the plan still fits and recomputes less). The repair takes the deeper drop that lowers the plan's
// bytes above B, summed over all steps, most per recomputed unit: a plan over B at two steps needs two
// drops before its peak falls, and the peak alone would show neither as progress. The descents from the
// points alone stop where only such a compound change helps: Checkmate's schedule on a U-Net keeps a
// skip the solver recomputed, drops a decoder output it kept and recomputes a sum twice, four changes.
void kick_and_repair(ParetoSet& set, const ir::Graph& g, const std::vector<char>& droppable) {
  constexpr int32_t kDeepest = 3;
  constexpr int kRepairSteps = 4;
  // Changes of one node, or of a node and one of its producers together: dropping a node whose input is
  // kept only moves its bytes to the input until the input is dropped too.
  std::vector<std::vector<ir::NodeId>> moves;
  std::vector<ir::NodeId> free;
  for (const auto& n : g.nodes()) {
    if (!droppable[n.id]) continue;
    free.push_back(n.id);
    moves.push_back({n.id});
    for (const ir::ValueRef& in : n.inputs)
      if (droppable[in.node] && std::none_of(moves.begin(), moves.end(), [&](const auto& mv) {
            return mv.size() == 2 && mv[0] == n.id && mv[1] == in.node;
          }))
        moves.push_back({n.id, in.node});
  }
  auto shift = [&](std::vector<int32_t>& m, const std::vector<ir::NodeId>& mv, int32_t d) {
    for (ir::NodeId u : mv)
      if (m[u] + d < 0 || (d > 0 && m[u] + d > kDeepest)) return false;
    for (ir::NodeId u : mv) m[u] += d;
    return true;
  };
  for (const FrontierPoint& p : set.points_by_total()) {
    const int64_t budget = p.total_peak;
    for (const auto& kick : moves)
      for (int32_t dv : {1, -1}) {
        std::vector<int32_t> cur = p.mirror;
        if (!shift(cur, kick, dv)) continue;
        ParetoSet::Score at;
        int64_t over = set.over_budget(cur, "kick", budget, &at);
        for (int step = 0; step < kRepairSteps && over > 0; ++step) {
          double pick_score = 0;
          const std::vector<ir::NodeId>* pick = nullptr;
          ParetoSet::Score pick_at;
          int64_t pick_over = 0;
          for (const auto& mv : moves) {
            if (mv == kick || !shift(cur, mv, 1)) continue;
            ParetoSet::Score s;
            const int64_t o = set.over_budget(cur, "kick", budget, &s);
            shift(cur, mv, -1);
            if (o >= over) continue;
            const double score = static_cast<double>(over - o) /
                                 (static_cast<double>(std::max<int64_t>(0, s.recompute - at.recompute)) + 1.0);
            if (score > pick_score) pick_score = score, pick = &mv, pick_at = s, pick_over = o;
          }
          if (!pick) break;
          shift(cur, *pick, 1);
          at = pick_at, over = pick_over;
        }
        if (over > 0) continue;
        for (bool changed = true; changed;) {
          changed = false;
          for (ir::NodeId u : free)
            for (int32_t du : {-1, 1}) {
              if (cur[u] + du < 0 || (du > 0 && cur[u] + du > kDeepest)) continue;
              cur[u] += du;
              const ParetoSet::Score s = set.evaluate(cur, "kick");
              if (s.total <= budget && s.recompute < at.recompute) {
                at = s, changed = true;
              } else {
                cur[u] -= du;
              }
            }
        }
      }
  }
}

}  // namespace sublinear::planner
