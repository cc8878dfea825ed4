// The budget solver: the frontier of exact plans between the smallest peak and keeping everything.
// Rules:
// - Every candidate is a mirror vector built into an exact plan (build_plan_figures: the real schedule
//   and arena, after the annotations are applied); its total peak and recompute cost are what the
//   frontier compares. No model figure is ever reported. A candidate whose lower bound (its live peak in
//   place of the arena) is already dominated is not placed: it could not join the frontier; searches
//   then see the bound.
// - The candidates never depend on a budget, so pick_for_budget is monotone, and they include every
//   fixed policy (none, drop-cheap, Algorithm 3 at sqrt's search points, log) and Algorithm 3 at every
//   B where its plan changes: all of them (at most 512) when there are at most max(24, 100,000 /
//   compute nodes), else that many sampled geometrically in B. The frontier dominates each of them.
// - The main family is a dynamic programme over the chain of segments between split candidates (Rotor's
//   idea on our scheduler's terms): consecutive segments form groups, each group kept whole ("keep"),
//   kept but for its cheap ops ("keep-noncheap"), or recomputed from the previous group's end
//   ("recompute"); a group's end crossing set is kept. The model: while group g runs backward, the groups
//   before it hold what they keep and g holds all its bytes; the least recompute cost under a model
//   budget M is solved exactly over M discretised into levels, for a geometric grid of M (from the
//   least M the model fits to keeping everything plus the largest node). The model ignores gradients
//   and end sets: only the exact plans built from its solutions are judged.
// - Nested groups (the paper's recursion, one level down, as Rotor's optimal chains nest it): below
//   the least budget the one-level model fits and up to twice it, the DP may also recompute a group
//   twice, keeping only the end sets of its sub-groups (about equal in bytes, their count chosen to
//   hold least) through the group's backward pass: mirror 1 on those ends, 2 on the rest.
// - From sqrt's plan, the DP's smallest and the nested DP's smallest, the longest suffix of segments
//   that can be kept whole (then but for cheap ops) without raising the total is found by bisection:
//   the last segments run backward first, while the earlier ones hold only what they keep. From sqrt's
//   plan also the longest suffix kept but for cheap ops alone.
// - Graphs of more than 20,000 compute nodes (each exact plan takes about a second) get coarser grids
//   and at most 8 galloping and bisection steps per kept-tail search.
// - On graphs of at most 1,024 nodes candidates are placed greedily (PlanOptions::placement_search off:
//   the order search costs milliseconds a plan there and the solver builds thousands); the solver also
//   keeps the candidates whose live-peak bound is Pareto-optimal, and at the end re-places them, the
//   frontier points, the fixed policies' plans and every Algorithm 3 candidate with the options as
//   given: a plan the greedy orders fragmented can then join the frontier, the frontier still dominates
//   every fixed policy and Algorithm 3 point, and every point is what build_plan gives for its mirror
//   vector and early triggers.
// - On small graphs (up to 64 compute nodes) a greedy walk from keep-everything adds the single-node
//   changes with the best bytes saved per FLOP, and every frontier point is then improved by keeping any
//   recomputed node whose keeping costs no peak. Up to 24 compute nodes the walk also tries pairs when
//   no single change saves, a descent from the smallest points takes the single or paired depth
//   changes that lower the peak most, and kick and repair tries, at each point's total, every change of
//   one node (or a node and its producer) repaired back under that total by the bytes above it over all
//   steps. Last come the early moves (local_search.cpp, Plan::early_at: a first recomputation moved one
//   to three backward steps ahead, any number up to 24 compute nodes, or a copy made at a later
//   recomputation held from there): a descent over them from every point and from it with depths above
//   1 made 1; up to 24 compute nodes, each point with one recomputed node made shallower and then each
//   early move; and every point with each single early move, twice over.
#include "planner/budget_solver.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>

#include "ir/check.h"
#include "ir/format_util.h"
#include "ir/op_registry.h"
#include "planner/fixed_policies.h"
#include "planner/local_search.h"
#include "planner/pareto_set.h"
#include "planner/scheduler.h"

namespace sublinear::planner {

namespace {

constexpr int64_t kInf = std::numeric_limits<int64_t>::max() / 4;
constexpr size_t kGreedyPositions = 24;  // greedy walk with pairs, descent and local improvement up to ...
constexpr size_t kGreedySingles = 64;    // ... this many compute nodes; single changes only up to this many
constexpr int kDpLevels = 96;            // persistent-memory levels of the segment DP
constexpr int kDpBudgets = 32;           // model budgets on the geometric grid
constexpr size_t kDpSegments = 400;      // the DP's segments, at most about
constexpr int kRefineSteps = 8;          // bisection steps towards each fixed policy's total
constexpr size_t kEarlySteps = 3;        // backward steps a recomputation may move ahead (up to kGreedySingles)
constexpr size_t kAllSteps = SIZE_MAX;   // ... and on graphs of up to kGreedyPositions compute nodes
constexpr size_t kLargeGraph = 20000;    // compute nodes from which the grids are coarser
constexpr int kLargeTailSteps = 8;       // galloping and bisection steps per kept-tail search on those
constexpr size_t kAlg3Breakpoints = 512; // Algorithm 3 plans enumerated at most
constexpr size_t kAlg3Work = 100000;     // Algorithm 3 plans built x compute nodes, at most ...
constexpr size_t kAlg3Sampled = 24;      // ... unless that leaves fewer plans than this

// sqrt's own choice among its search points (policies.cpp): the smallest arena, then the least recompute.
FrontierPoint smallest_arena(const std::vector<FrontierPoint>& points) {
  const FrontierPoint* best = nullptr;
  for (const auto& p : points)
    if (!best || p.feature_map_peak_bytes < best->feature_map_peak_bytes ||
        (p.feature_map_peak_bytes == best->feature_map_peak_bytes && p.recompute_cost < best->recompute_cost))
      best = &p;
  return *best;
}

// The frontier and the fixed policies' plans (sqrt's chosen again among its re-placed search points) as
// the options given place them. The fixed policies' plans and every Algorithm 3 candidate join the
// re-placed set: re-placed, one of them may shrink below the point that dominated it, and the frontier
// must still dominate each of them.
void finish(Frontier& f, ParetoSet& set, std::vector<FrontierPoint>& sqrt_points,
            const std::vector<std::vector<int32_t>>& algorithm3_mirrors) {
  if (!set.replaces()) return;
  set.replace_kept();
  for (FrontierPoint& p : f.fixed) set.insert(p = set.replace(p.mirror, p.policy, p.early_at));
  for (FrontierPoint& p : sqrt_points) set.insert(p = set.replace(p.mirror, p.policy, p.early_at));
  for (const auto& m : algorithm3_mirrors) set.insert(set.replace(m, "sqrt"));
  if (f.fixed.size() > 2 && !sqrt_points.empty()) f.fixed[2] = smallest_arena(sqrt_points);
}

// A node the solver may drop: what constrain_mirror would not force back to 0.
std::vector<char> droppable_nodes(const ir::Graph& g) {
  std::vector<char> d(g.size(), 0);
  for (const auto& n : g.nodes())
    d[n.id] = !n.def->is_source && n.def->recomputable && n.annotation != ir::Annotation::Checkpoint;
  for (const auto& out : g.outputs()) d[out.node] = 0;
  return d;
}

// ---- the segment DP -----------------------------------------------------------------------------------

enum class GroupMode : int8_t { Keep, KeepNonCheap, Recompute, Nested };

struct Segments {
  std::vector<size_t> last;        // last position of each segment; candidates end all but the tail
  std::vector<int64_t> fixed;      // bytes of nodes that are never dropped
  std::vector<int64_t> noncheap;   // bytes of droppable non-cheap nodes
  std::vector<int64_t> cheap;      // bytes of droppable cheap nodes
  std::vector<int64_t> cost;       // recomputation cost of droppable nodes (GraphCosts::cost)
  std::vector<int64_t> cheap_cost;
  std::vector<int64_t> end_set;    // bytes of the crossing set at the segment's last position (0: tail)
  std::vector<int64_t> largest;    // the largest node's bytes
  size_t size() const { return last.size(); }
};

// Segments between split candidates; with `at_most` > 0, a candidate ends a segment only once the segment
// holds a 1/at_most share of all bytes, so there are at most about that many (the DP's cost grows with
// the count, and a segment that small is never worth a decision of its own).
Segments make_segments(const ir::Graph& g, const CutAnalysis& c, const std::vector<char>& droppable,
                       const std::vector<int64_t>& cost, size_t at_most) {
  int64_t all = 0;
  for (int64_t b : c.node_bytes) all += b;
  const int64_t least = at_most > 0 ? all / static_cast<int64_t>(at_most) : 0;
  int64_t held = 0;
  Segments s;
  auto open = [&] {
    for (auto* v : {&s.fixed, &s.noncheap, &s.cheap, &s.cost, &s.cheap_cost, &s.end_set, &s.largest})
      v->push_back(0);
  };
  open();
  for (size_t p = 0; p < c.order.size(); ++p) {
    const ir::Node& n = g.node(c.order[p]);
    const int64_t b = c.node_bytes[p];
    const size_t k = s.fixed.size() - 1;
    if (!droppable[n.id]) s.fixed[k] += b;
    else if (n.def->cheap) s.cheap[k] += b, s.cheap_cost[k] += cost[n.id], s.cost[k] += cost[n.id];
    else s.noncheap[k] += b, s.cost[k] += cost[n.id];
    s.largest[k] = std::max(s.largest[k], b);
    held += b;
    if ((c.candidate[p] && held >= least) || p + 1 == c.order.size()) {
      held = 0;
      s.last.push_back(p);
      s.end_set[k] = c.candidate[p] ? c.crossing_bytes[p] : 0;
      if (p + 1 < c.order.size()) open();
    }
  }
  return s;
}

struct GroupChoice {
  size_t first = 0, last = 0;  // segments
  GroupMode mode = GroupMode::Keep;
  std::vector<size_t> inner_ends;  // Nested: the segments that end its sub-groups (but the last)
};

// A recomputed group split into sub-groups (the recursion of the paper's section 4.4, one level down):
// its sub-groups' end sets are kept through the group's backward pass (mirror 1) and everything else is
// recomputed a second time, one sub-group at a time (mirror 2). While the group runs backward it holds
// its never-dropped bytes, the sub-groups' end sets and the largest sub-group. For every group of
// segments [i, j] the sub-groups of about equal droppable bytes, for the count that holds least, are
// found once.
struct NestedGroups {
  size_t n = 0, max_len = 0;
  std::vector<int64_t> hold;                 // [i * max_len + (j - i)]; kInf: not worth nesting
  std::vector<std::vector<size_t>> ends;     // same index: the sub-groups' last segments, but the group's

  const std::vector<size_t>& inner_ends(size_t i, size_t j) const { return ends[i * max_len + (j - i)]; }
  int64_t held(size_t i, size_t j) const { return j - i < max_len ? hold[i * max_len + (j - i)] : kInf; }
};

NestedGroups nest_groups(const Segments& s, size_t max_len) {
  NestedGroups out;
  out.n = s.size();
  out.max_len = max_len;
  out.hold.assign(out.n * max_len, kInf);
  out.ends.resize(out.n * max_len);
  std::vector<int64_t> all(s.size());
  for (size_t k = 0; k < s.size(); ++k) all[k] = s.fixed[k] + s.noncheap[k] + s.cheap[k];
  for (size_t i = 0; i < out.n; ++i) {
    int64_t group = 0, fixed = 0;
    for (size_t j = i; j < out.n && j - i < max_len; ++j) {
      group += all[j], fixed += s.fixed[j];
      const size_t len = j - i + 1;
      if (len < 3) continue;
      int64_t best = kInf;
      std::vector<size_t> best_ends;
      for (size_t parts = 2; parts * parts <= 4 * len && parts <= len; ++parts) {
        // Greedy equal shares of the droppable bytes: a sub-group ends once it holds 1/parts of them. (The
        // group's own end set, kept for the groups after it, is left to the last sub-group's bytes: counting
        // it again made the model pessimistic enough to lose the smallest nested plans of a chain.)
        const int64_t share = (group - fixed + static_cast<int64_t>(parts) - 1) / static_cast<int64_t>(parts);
        std::vector<size_t> ends;
        int64_t held = fixed, run = 0, largest = 0;
        for (size_t k = i; k <= j; ++k) {
          run += all[k] - s.fixed[k];
          if (k < j && run >= share && s.end_set[k] > 0) {
            ends.push_back(k);
            held += s.end_set[k];
            largest = std::max(largest, run);
            run = 0;
          }
        }
        largest = std::max(largest, run);
        held += largest;
        if (!ends.empty() && held < best) best = held, best_ends = std::move(ends);
      }
      out.hold[i * max_len + (j - i)] = best;
      out.ends[i * max_len + (j - i)] = std::move(best_ends);
    }
  }
  return out;
}

// Least model recompute under model budget `budget`; empty when nothing fits the model. `nested`, when
// given, adds the Nested mode.
std::vector<GroupChoice> solve_segments(const Segments& s, int64_t budget, const NestedGroups* nested = nullptr) {
  const size_t n = s.size();
  SL_CHECK(!nested || nested->n == n) << "nested groups of other segments";
  const int64_t q = std::max<int64_t>(1, (budget + kDpLevels - 1) / kDpLevels);
  const size_t width = kDpLevels + 1;
  std::vector<int64_t> dp((n + 1) * width, kInf);
  struct Back { int32_t from_level = -1; int32_t first = -1; GroupMode mode = GroupMode::Keep; };
  std::vector<Back> back((n + 1) * width);
  dp[0] = 0;
  // Recomputed groups far longer than sqrt(n) segments are never worth their peak.
  const size_t max_group = static_cast<size_t>(4 * std::sqrt(static_cast<double>(n))) + 32;
  auto relax = [&](size_t i, int l, size_t j, int64_t persist, int64_t cost, GroupMode mode) {
    const int64_t nl = l + (persist + q - 1) / q;
    if (nl > kDpLevels) return;
    const size_t at = (j + 1) * width + static_cast<size_t>(nl);
    const int64_t v = dp[i * width + static_cast<size_t>(l)] + cost;
    if (v < dp[at]) dp[at] = v, back[at] = {l, static_cast<int32_t>(i), mode};
  };
  for (size_t i = 0; i < n; ++i) {
    // A state that holds more levels for no less recomputation than a lower one is dominated: whatever
    // follows it fits from the lower one too, at no more cost.
    int64_t least = kInf;
    for (int l = 0; l <= kDpLevels; ++l) {
      const int64_t here = dp[i * width + static_cast<size_t>(l)];
      if (here >= least) continue;
      least = here;
      const int64_t base = l * q;
      int64_t all = 0, fixed = 0, noncheap = 0, cost = 0, cheap_cost = 0, largest = 0;
      const size_t reach = nested ? std::max(max_group, nested->max_len) : max_group;
      for (size_t j = i; j < n && j < i + reach; ++j) {
        fixed += s.fixed[j], noncheap += s.noncheap[j], cost += s.cost[j], cheap_cost += s.cheap_cost[j];
        all += s.fixed[j] + s.noncheap[j] + s.cheap[j];
        largest = std::max(largest, s.largest[j]);
        // While the group runs backward it holds everything it has, whatever it keeps afterwards. Where
        // that does not fit, a nested group may: it holds its sub-groups' ends and the largest sub-group,
        // and recomputes twice (so where the whole group fits, recomputing it once is better).
        if (base + all > budget || j >= i + max_group) {
          if (!nested || base + fixed > budget) break;  // a nested group holds its fixed bytes too
          if (base + nested->held(i, j) <= budget) relax(i, l, j, fixed + s.end_set[j], 2 * cost, GroupMode::Nested);
          continue;
        }
        if (j == i) relax(i, l, j, all, 0, GroupMode::Keep);  // longer kept groups split for free
        relax(i, l, j, fixed + noncheap + s.end_set[j], cheap_cost, GroupMode::KeepNonCheap);
        relax(i, l, j, fixed + s.end_set[j], cost, GroupMode::Recompute);
      }
    }
  }
  int best = -1;
  for (int l = 0; l <= kDpLevels; ++l)
    if (dp[n * width + static_cast<size_t>(l)] < kInf &&
        (best < 0 || dp[n * width + static_cast<size_t>(l)] < dp[n * width + static_cast<size_t>(best)]))
      best = l;
  std::vector<GroupChoice> groups;
  if (best < 0) return groups;
  for (size_t j = n, l = static_cast<size_t>(best); j > 0;) {
    const Back& b = back[j * width + l];
    groups.push_back({static_cast<size_t>(b.first), j - 1, b.mode, {}});
    if (b.mode == GroupMode::Nested) groups.back().inner_ends = nested->inner_ends(static_cast<size_t>(b.first), j - 1);
    j = static_cast<size_t>(b.first), l = static_cast<size_t>(b.from_level);
  }
  std::reverse(groups.begin(), groups.end());
  return groups;
}

std::vector<int32_t> groups_to_mirror(const ir::Graph& g, const CutAnalysis& c, const Segments& s,
                                      const std::vector<GroupChoice>& groups) {
  std::vector<int32_t> m(g.size(), 0);
  std::vector<char> keep_end(c.order.size(), 0), inner_end(c.order.size(), 0);
  size_t p = 0;
  for (const auto& gr : groups) {
    for (; p <= s.last[gr.last]; ++p) {
      const ir::Node& n = g.node(c.order[p]);
      m[n.id] = gr.mode == GroupMode::Recompute ? 1
                : gr.mode == GroupMode::Nested ? 2
                : gr.mode == GroupMode::KeepNonCheap && n.def->cheap ? 1 : 0;
    }
    if (c.candidate[s.last[gr.last]]) keep_end[s.last[gr.last]] = 1;
    for (size_t k : gr.inner_ends) inner_end[s.last[k]] = 1;
  }
  CrossingSweep sweep(c);
  for (size_t q = 0; q < c.order.size(); ++q) {
    sweep.advance(q);
    if (keep_end[q])
      for (const auto& v : sweep.crossing()) m[v.node] = 0;
    if (inner_end[q])
      for (const auto& v : sweep.crossing()) m[v.node] = std::min(m[v.node], 1);
  }
  return m;
}

// Rotor's observation on the exact plan: the last segments run backward first, while the earlier ones
// still hold only what they keep, so keeping them whole (or but for their cheap ops) often costs no
// peak. From `base`, find (galloping from the end, then bisecting) the longest suffix of segments that can
// be kept whole without raising the total, then the longest run before it that can keep its non-cheap ops.
void keep_tail(ParetoSet& set, const ir::Graph& g, const CutAnalysis& c, const Segments& s,
               std::vector<int32_t> base, int max_steps, std::initializer_list<GroupMode> modes) {
  const int64_t limit = set.evaluate(base, "tail").total;
  size_t done = s.size();  // segments [done, size) are settled
  for (GroupMode mode : modes) {
    auto with = [&](size_t from) {
      std::vector<int32_t> m = base;
      for (size_t p = from == 0 ? 0 : s.last[from - 1] + 1; p <= s.last[done - 1]; ++p) {
        const ir::Node& n = g.node(c.order[p]);
        if (mode == GroupMode::Keep || !n.def->cheap) m[n.id] = 0;
      }
      return m;
    };
    size_t lo = done, hi = 0;  // keeping [lo, done) fits; [hi, done) is the most to try
    int step = 0;
    // Galloping from the end first (1, 2, 4, ... segments), then bisection: on a long chain (an LSTM over
    // 1,024 steps has thousands of segments) the tail that fits is often a handful of segments, which
    // plain bisection from the middle cannot reach in a few steps.
    for (size_t k = 1; step < max_steps && k <= done - hi; k *= 2, ++step) {
      const size_t mid = done - k;
      if (set.evaluate(with(mid), "tail").total <= limit) {
        lo = mid;
      } else {
        hi = mid + 1;
        break;
      }
    }
    for (; lo > hi && step < max_steps; ++step) {
      const size_t mid = hi + (lo - hi) / 2;  // mid < lo
      if (set.evaluate(with(mid), "tail").total <= limit) lo = mid;
      else hi = mid + 1;
    }
    if (lo < done) base = with(lo), done = lo;
    if (done == 0) return;
  }
}

}  // namespace

Frontier solve_frontier(const std::shared_ptr<const ir::Graph>& g, const CutAnalysis& cuts, const PlanOptions& o) {
  SL_CHECK(g) << "solve_frontier without a graph";
  const ir::Graph& graph = *g;
  Frontier f;
  f.graph = g;
  f.options = o;
  ParetoSet set(g, o);
  std::vector<FrontierPoint> sqrt_points;  // sqrt's search points: its fixed plan is the smallest of them
  std::vector<std::vector<int32_t>> algorithm3_mirrors;  // the other Algorithm 3 candidates, where re-placed
  auto fixed = [&](const std::vector<int32_t>& m, const std::string& name) {
    set.build(m, name, &f.fixed.emplace_back());
  };
  fixed(std::vector<int32_t>(graph.size(), 0), "none");
  fixed(drop_cheap_mirror(graph), "drop-cheap");
  {
    // sqrt as its own search picks it (the smallest arena of its B points) is the fixed policy; every
    // one of its points is a candidate too, as is Algorithm 3 over a grid of B.
    std::vector<int64_t> budgets = sqrt_search_budgets(graph, cuts);
    const size_t searched = budgets.size();
    // Every B where Algorithm 3 changes on graphs whose plans are quick to build, else a geometric
    // subsample of them.
    std::vector<int64_t> breaks = algorithm3_breakpoints(cuts, kAlg3Breakpoints);
    const size_t wanted = std::max(kAlg3Sampled, kAlg3Work / std::max<size_t>(cuts.order.size(), 1));
    if (breaks.size() <= wanted && breaks.size() < kAlg3Breakpoints) {
      budgets.insert(budgets.end(), breaks.begin(), breaks.end());
    } else {
      // Over the whole range of B (the enumeration may have stopped short of it): from the first B that
      // changes anything to all bytes in one segment.
      int64_t all = 0;
      for (int64_t b : cuts.node_bytes) all += b;
      const double lo = static_cast<double>(std::max<int64_t>(1, breaks.size() > 1 ? breaks[1] : 1));
      const double hi = std::max(lo, static_cast<double>(all));
      for (size_t i = 0; i < wanted; ++i)
        budgets.push_back(static_cast<int64_t>(lo * std::pow(hi / lo, static_cast<double>(i) / static_cast<double>(wanted - 1))));
    }
    std::vector<FrontierPoint> sqrt_plans;
    for (size_t i = 0; i < budgets.size(); ++i) {
      std::vector<int32_t> m = algorithm3(graph, cuts, budgets[i]).mirror;
      if (i < searched) {
        set.build(m, "sqrt", &sqrt_plans.emplace_back());
        continue;
      }
      set.evaluate(m, "sqrt");
      if (set.replaces()) algorithm3_mirrors.push_back(constrain_mirror(graph, m));
    }
    std::sort(algorithm3_mirrors.begin(), algorithm3_mirrors.end());
    algorithm3_mirrors.erase(std::unique(algorithm3_mirrors.begin(), algorithm3_mirrors.end()),
                             algorithm3_mirrors.end());
    f.fixed.push_back(smallest_arena(sqrt_plans));
    sqrt_points = std::move(sqrt_plans);
  }
  fixed(log_mirror(graph, cuts), "log");

  const std::vector<char> droppable = droppable_nodes(graph);
  const std::vector<int64_t>& cost = set.costs().cost;
  const Segments segs = make_segments(graph, cuts, droppable, cost, kDpSegments);
  const Segments fine = make_segments(graph, cuts, droppable, cost, 0);
  int64_t keep_all = 0, largest = 0;
  for (size_t k = 0; k < segs.size(); ++k) {
    keep_all += segs.fixed[k] + segs.noncheap[k] + segs.cheap[k];
    largest = std::max(largest, segs.largest[k]);
  }
  // The segment DP's model budgets: from the least the model can fit (found by bisection on the DP
  // alone) to keeping everything, on a geometric grid.
  auto segments_plan = [&](double model_budget) -> std::optional<ParetoSet::Score> {
    std::vector<GroupChoice> groups = solve_segments(segs, static_cast<int64_t>(model_budget));
    if (groups.empty()) return std::nullopt;
    return set.evaluate(groups_to_mirror(graph, cuts, segs, groups), "segments");
  };
  const double hi = static_cast<double>(keep_all + largest);
  if (hi <= 0) {  // nothing to recompute: no computing node holds a byte
    finish(f, set, sqrt_points, algorithm3_mirrors);
    f.plans_built = set.built();
    f.plans_unplaced = set.unplaced();
    f.points = set.take_sorted();
    return f;
  }
  double lo = 0, feasible = hi;
  for (int i = 0; i < 16 && feasible - lo > hi * 1e-3; ++i) {
    const double mid = (lo + feasible) / 2;
    (solve_segments(segs, static_cast<int64_t>(mid)).empty() ? lo : feasible) = mid;
  }
  // Large graphs (an unrolled LSTM: each exact plan takes seconds) get a coarser grid.
  const bool large = cuts.order.size() > kLargeGraph;
  const int grid = large ? kDpBudgets / 3 : kDpBudgets, refine = large ? kRefineSteps / 2 : kRefineSteps;
  for (int i = 0; i < grid; ++i)
    segments_plan(feasible * std::pow(hi / feasible, static_cast<double>(i) / (grid - 1)));
  // The model is not the arena: refine the model budget towards the fixed policies' own totals so the
  // frontier has a point at each of them (the largest model budget whose exact plan still fits).
  for (const FrontierPoint* target : {&f.fixed[1], &f.fixed[2]}) {
    double below = feasible, above = hi;
    for (int i = 0; i < refine; ++i) {
      const double mid = std::sqrt(below * above);
      auto sc = segments_plan(mid);
      (sc && sc->total <= target->total_peak_bytes() ? below : above) = mid;
    }
  }
  // Below the least the one-level model fits, and a little above it, nested groups: the DP with a group
  // that recomputes twice and holds only its sub-groups' ends and the largest sub-group.
  const size_t nest_len = static_cast<size_t>(4 * std::sqrt(static_cast<double>(segs.size()))) + 32;
  const NestedGroups nest = nest_groups(segs, nest_len);
  std::vector<int32_t> nested_smallest;
  {
    double nlo = 0, nfeasible = feasible;
    for (int i = 0; i < 16 && nfeasible - nlo > hi * 1e-3; ++i) {
      const double mid = (nlo + nfeasible) / 2;
      (solve_segments(segs, static_cast<int64_t>(mid), &nest).empty() ? nlo : nfeasible) = mid;
    }
    const double ntop = std::min(hi, 2 * feasible);
    const int ngrid = large ? kDpBudgets / 8 : kDpBudgets / 2;
    for (int i = 0; i < ngrid; ++i) {
      const double b = nfeasible * std::pow(ntop / nfeasible, static_cast<double>(i) / (ngrid - 1));
      std::vector<GroupChoice> groups = solve_segments(segs, static_cast<int64_t>(b), &nest);
      if (groups.empty()) continue;
      std::vector<int32_t> m = groups_to_mirror(graph, cuts, segs, groups);
      set.evaluate(m, "nested");
      if (nested_smallest.empty()) nested_smallest = std::move(m);
    }
  }
  // The smallest plans of each family gain most from a kept tail.
  const int tail_steps = large ? kLargeTailSteps : 64;
  // From sqrt's plan both ways: whole segments first, or only their non-cheap ops over a longer tail
  // (on ResNets the second keeps the convolutions of many more units for the same peak).
  keep_tail(set, graph, cuts, fine, f.fixed[2].mirror, tail_steps, {GroupMode::Keep, GroupMode::KeepNonCheap});
  keep_tail(set, graph, cuts, fine, f.fixed[2].mirror, tail_steps, {GroupMode::KeepNonCheap});
  if (auto groups = solve_segments(segs, static_cast<int64_t>(feasible)); !groups.empty())
    keep_tail(set, graph, cuts, fine, groups_to_mirror(graph, cuts, segs, groups), tail_steps,
              {GroupMode::Keep, GroupMode::KeepNonCheap});
  if (!nested_smallest.empty())
    keep_tail(set, graph, cuts, fine, nested_smallest, tail_steps, {GroupMode::Keep, GroupMode::KeepNonCheap});
  if (cuts.order.size() <= kGreedyPositions) {
    greedy_walk(set, graph, droppable, true);
    descend(set, graph, droppable, 3);
    improve_locally(set, graph, droppable);
    kick_and_repair(set, graph, droppable);
    early_descent(set, graph, kAllSteps);
    keep_and_recompute_earlier(set, graph, kAllSteps);
    recompute_earlier(set, graph, kAllSteps);
  } else if (cuts.order.size() <= kGreedySingles) {
    greedy_walk(set, graph, droppable, false);
    improve_locally(set, graph, droppable);
    early_descent(set, graph, kEarlySteps);
    recompute_earlier(set, graph, kEarlySteps);
  }
  finish(f, set, sqrt_points, algorithm3_mirrors);
  f.plans_built = set.built();
  f.plans_unplaced = set.unplaced();
  f.points = set.take_sorted();
  return f;
}

FrontierPoint FrontierPoint::of(const Plan& p, std::string policy) {
  FrontierPoint out;
  out.policy = std::move(policy);
  out.mirror = p.mirror;
  out.early_at = p.early_at;
  out.total_peak = p.total_peak_bytes();
  out.feature_map_peak_bytes = p.feature_map_peak_bytes;
  out.recompute_flops = p.recompute_flops;
  out.forward_flops = p.forward_flops;
  out.recompute_cost = p.recompute_cost;
  out.forward_cost = p.forward_cost;
  out.cost_unit = p.cost_unit();
  out.recomputed_nodes = p.recomputed_nodes;
  return out;
}

const FrontierPoint* pick_for_budget(const Frontier& f, int64_t budget) {
  const FrontierPoint* best = nullptr;
  for (const auto& p : f.points)
    if (p.total_peak <= budget) best = &p;  // ascending total, descending recompute
  return best;
}

Plan build_point(const Frontier& f, const FrontierPoint& p) {
  Plan plan = build_plan(f.graph, p.mirror, f.options, p.policy, p.early_at);
  SL_CHECK(plan.total_peak_bytes() == p.total_peak && plan.recompute_cost == p.recompute_cost)
      << "frontier point " << p.policy << " rebuilt to " << plan.total_peak_bytes() << " B and "
      << plan.recompute_cost << " " << plan.cost_unit() << ", searched as " << p.total_peak << " B and "
      << p.recompute_cost;
  return plan;
}

std::vector<Plan> plans_at_fixed_totals(const Frontier& f) {
  std::vector<Plan> out;
  if (f.fixed.size() < 3) return out;
  const int64_t cheap = f.fixed[1].total_peak, sqrt = f.fixed[2].total_peak;
  const auto mid = static_cast<int64_t>(std::sqrt(static_cast<double>(cheap) * static_cast<double>(sqrt)));
  for (int64_t budget : {sqrt, mid, cheap}) {
    const FrontierPoint* p = pick_for_budget(f, budget);
    if (!p) continue;
    out.push_back(build_point(f, *p));
    out.back().policy = "budget " + ir::human_bytes(budget);
  }
  return out;
}

}  // namespace sublinear::planner
