#pragma once
// The budget solver's frontier under construction (budget_solver.cpp states the rules it serves): the
// Pareto set of exact plans, the cache of what was built, and the final re-placement of what it keeps.
// Internal to the planner: budget_solver.cpp and local_search.cpp use it.
#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "planner/budget_solver.h"
#include "planner/fixed_policies.h"
#include "planner/plan.h"
#include "planner/scheduler.h"

namespace sublinear::planner {

// The frontier under construction: every built plan is offered to a Pareto set kept as plans arrive, so
// large graphs never hold more than the set's plans at once. Built vectors are remembered by their
// (total, recompute) so a search may ask again for free.
class ParetoSet {
 public:
  // Graphs (all nodes) whose kept plans are re-placed at the end, with the order search.
  static constexpr size_t kReplaceNodes = 1024;

  struct Score {
    int64_t total = 0;
    int64_t recompute = 0;
  };

  ParetoSet(const std::shared_ptr<const ir::Graph>& g, const PlanOptions& o)
      : g_(g), o_(o), final_(o), costs_(graph_costs(*g, o)),
        track_bounds_(o.placement_search && g->size() <= kReplaceNodes) {
    // Only where the kept plans are re-placed at the end: elsewhere candidates are placed as build_plan
    // places them, so every point is still what a rebuild gives.
    if (track_bounds_) o_.placement_search = false;
  }

  // Builds the exact plan for mirror vector `raw` (annotations applied first) and offers its point to
  // the set; `keep` gets a copy of the point when the caller needs it.
  // A candidate whose lower bound (the live peak in place of the arena) is already dominated is not
  // placed: its exact plan could only be dominated too. Its score is then that bound.
  // `live`, when given, receives the live feature-map bytes at each step (build_plan_figures), and
  // `others` the plan's bytes outside the arena (its total less the arena).
  Score build(const std::vector<int32_t>& raw, const std::string& family, FrontierPoint* keep = nullptr,
              const std::vector<ir::NodeId>& early_at = {}, std::vector<int64_t>* live = nullptr,
              int64_t* others = nullptr) {
    std::vector<int32_t> m = constrain_mirror(*g_, raw);
    ++built_;
    bool placed = true;
    PlaceIf worth;
    if (!keep) worth = [this](int64_t bound, int64_t recompute) { return !dominated(bound, recompute); };
    Plan plan = build_plan_figures(g_, m, o_, costs_, worth, &placed, early_at, live);
    if (others) *others = plan.total_peak_bytes() - plan.feature_map_peak_bytes;
    if (track_bounds_)
      offer_bound({plan.total_peak_bytes() - plan.feature_map_peak_bytes + plan.live_peak_bytes, plan.recompute_cost},
                  plan.mirror, plan.early_at, family);
    if (!placed) {
      ++unplaced_;
      const Score bound{plan.total_peak_bytes(), plan.recompute_cost};
      seen_[key(m, early_at)] = bound;
      return bound;
    }
    FrontierPoint p = FrontierPoint::of(plan, family);
    const Score score{p.total_peak, p.recompute_cost};
    seen_[key(m, early_at)] = score;
    if (keep) *keep = p;
    insert(std::move(p));
    return score;
  }
  // The exact plan's figures for `raw`, built only if that vector was not built before.
  Score evaluate(const std::vector<int32_t>& raw, const std::string& family,
                 const std::vector<ir::NodeId>& early_at = {}) {
    auto it = seen_.find(key(constrain_mirror(*g_, raw), early_at));
    if (it != seen_.end()) return it->second;
    return build(raw, family, nullptr, early_at);
  }
  // How far the plan for `raw` is from fitting `budget`: its bytes above the budget summed over every
  // step (the total's other parts counted in), plus what its total exceeds the budget by (so a plan
  // whose live bytes fit but whose arena does not still counts). Zero when a placed plan fits. A repair
  // that lowers one of two equal peaks lowers it. A plan whose bound was already dominated is not
  // placed (build): its total is then that bound, and the searches may walk on it, but it never joins
  // the set.
  int64_t over_budget(const std::vector<int32_t>& raw, const std::string& family, int64_t budget,
                      Score* score) {
    std::vector<int64_t> live;
    int64_t others = 0;
    *score = build(raw, family, nullptr, {}, &live, &others);
    int64_t over = std::max<int64_t>(0, score->total - budget);
    for (int64_t b : live) over += std::max<int64_t>(0, others + b - budget);
    return over;
  }
  bool dominated(int64_t total, int64_t recompute) const {
    for (const auto& q : points_)
      if (q.total_peak <= total && q.recompute_cost <= recompute) return true;
    return false;
  }
  void insert(FrontierPoint p) {
    for (const auto& q : points_)
      if (q.total_peak <= p.total_peak && q.recompute_cost <= p.recompute_cost) return;
    std::erase_if(points_, [&](const FrontierPoint& q) {
      return p.total_peak <= q.total_peak && p.recompute_cost <= q.recompute_cost;
    });
    points_.push_back(std::move(p));
  }
  // The frontier as the options given place it: the kept points, and the candidates whose bound no kept
  // point dominates, rebuilt with the full allocator (only where bounds were tracked).
  void replace_kept() {
    if (!track_bounds_) return;
    // The kept points first: re-placed, they dominate most bounds, which are then not built again.
    std::vector<FrontierPoint> kept = std::move(points_);
    points_.clear();
    for (const auto& q : kept) insert(replace(q.mirror, q.policy, q.early_at));
    std::sort(bounds_.begin(), bounds_.end(),
              [](const Bound& a, const Bound& b) { return a.score.total < b.score.total; });
    for (const Bound& b : bounds_)
      if (!dominated(b.score.total, b.score.recompute)) insert(replace(b.mirror, b.family, b.early_at));
  }
  // A point as the options given place it (the identity where bounds were not tracked).
  FrontierPoint replace(const std::vector<int32_t>& m, const std::string& family,
                        const std::vector<ir::NodeId>& early_at = {}) const {
    return FrontierPoint::of(build_plan_figures(g_, m, final_, costs_, {}, nullptr, early_at), family);
  }
  bool replaces() const { return track_bounds_; }
  std::vector<FrontierPoint> take_sorted() {
    std::sort(points_.begin(), points_.end(), by_total);
    return std::move(points_);
  }
  // A copy of the points, smallest total first: searches offer new points to the set while they walk it.
  std::vector<FrontierPoint> points_by_total() const {
    std::vector<FrontierPoint> out = points_;
    std::sort(out.begin(), out.end(), by_total);
    return out;
  }
  // The full plan of a point, as candidates are built (for its steps).
  Plan full_plan(const FrontierPoint& p) const { return build_plan(g_, p.mirror, o_, p.policy, p.early_at); }
  std::vector<std::vector<int32_t>> point_mirrors() const {
    std::vector<std::vector<int32_t>> out;
    for (const auto& p : points_) out.push_back(p.mirror);
    return out;
  }
  int32_t built() const { return built_; }
  int32_t unplaced() const { return unplaced_; }
  const GraphCosts& costs() const { return costs_; }

 private:
  static bool by_total(const FrontierPoint& a, const FrontierPoint& b) { return a.total_peak < b.total_peak; }
  struct Bound {
    Score score;
    std::vector<int32_t> mirror;
    std::vector<ir::NodeId> early_at;
    std::string family;
  };
  // The candidates whose (live-peak bound, recompute) no other candidate's bound dominates.
  void offer_bound(Score b, const std::vector<int32_t>& m, const std::vector<ir::NodeId>& early_at,
                   const std::string& family) {
    for (const Bound& q : bounds_)
      if (q.score.total <= b.total && q.score.recompute <= b.recompute) return;
    std::erase_if(bounds_,
                  [&](const Bound& e) { return b.total <= e.score.total && b.recompute <= e.score.recompute; });
    bounds_.push_back({b, m, early_at, family});
  }
  // seen_'s key: the mirror counts, then (when any) -2 and the early triggers.
  static std::vector<int32_t> key(std::vector<int32_t> m, const std::vector<ir::NodeId>& early_at) {
    if (std::any_of(early_at.begin(), early_at.end(), [](ir::NodeId t) { return t >= 0; })) {
      m.push_back(-2);
      m.insert(m.end(), early_at.begin(), early_at.end());
    }
    return m;
  }

  std::shared_ptr<const ir::Graph> g_;
  PlanOptions o_;      // candidates: placed greedily
  PlanOptions final_;  // the options as given: what the points are re-placed with
  GraphCosts costs_;
  bool track_bounds_;
  std::vector<Bound> bounds_;
  std::map<std::vector<int32_t>, Score> seen_;
  std::vector<FrontierPoint> points_;
  int32_t built_ = 0;
  int32_t unplaced_ = 0;
};

}  // namespace sublinear::planner
