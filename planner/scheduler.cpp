// The schedule of one training step and its memory plan. Rules:
//
// Schedule (the paper's Algorithm 2, generalised to mirror counts > 1 as in its section 4.4)
// - Forward: every non-source node in id (topological) order writes version 0 of its outputs.
// - Gradients flow from the loss (output 0 of the graph, seeded with 1) backwards through
//   differentiable ops into every f32 input that depends on a trainable parameter. One backward step per
//   node, in reverse topological order; it reads the gradients of the node's outputs and exactly the
//   forward values its OpDef::backward lists (never more: a needless read keeps a value alive), and
//   writes its inputs' gradients. The first contribution to a gradient writes it, later ones accumulate
//   into the same buffer in place (a weight shared over 2,048 time steps has one gradient buffer).
// - A node with mirror m > 0 is dropped after its last forward reader. When a backward step needs it,
//   it is recomputed lazily, just before that step, from the nearest available values (sources, m = 0
//   nodes, retained copies): one "pass" over the missing ancestors in topological order. A pass
//   starting from values of recomputation depth D runs at depth d = D + 1; a copy made in it is retained
//   for later steps when m <= d, otherwise it only feeds the rest of the pass. If the target is still
//   not retained, another pass runs one level deeper. With m in {0, 1} every node is recomputed at most
//   once (at most one extra forward pass); m > 1 trades more recomputation for less memory.
//
// Memory
// - Feature maps (activations, copies, activation gradients) live in one arena; a value is live from
//   the step writing it to its last reader (graph outputs: to the end). Inputs, parameters, their
//   gradients and optimizer state are persistent and outside the arena.
// - In-place: a step may write an output over an input when the registry allows it (forward: OpDef::
//   inplace; backward of those ops: an input gradient over the output gradient), this step is the last
//   reader of the input's buffer, the sizes are equal, and the input is not a graph output. The two
//   values then share one storage.
// - Sharing: storages are placed by the static allocator (arena_allocator.h), PlacementStrategy::Auto
//   (best fit, largest first or in order, whichever is smaller; in order alone when most storages live
//   long, where largest first is quadratic), 256-byte aligned; without sharing every storage gets bytes
//   of its own.
#include "planner/scheduler.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <unordered_map>

#include "ir/check.h"
#include "ir/op_registry.h"
#include "planner/arena_allocator.h"

namespace sublinear::planner {

namespace {

int64_t node_workspace_bytes(const ir::Graph& g, const ir::Node& n) {
  // Convolutions lower to GEMMs over an im2col buffer, one image at a time; 1x1 stride-1 unpadded
  // convolutions need none. This is an estimate for CPU kernels; the CUDA backend reports cuDNN's.
  if (n.op != "conv2d") return 0;
  const auto& x = g.type(n.inputs[0]);
  const auto& y = n.outputs[0];
  auto k = n.attrs.get_ints("kernel", 2);
  auto s = n.attrs.get_ints("stride", 2);
  auto p = n.attrs.get_ints("pad", 2);
  if (k[0] == 1 && k[1] == 1 && s[0] == 1 && s[1] == 1 && p[0] == 0 && p[1] == 0) return 0;
  const int64_t groups = n.attrs.get_int("groups");
  return (x.shape[1] / groups) * k[0] * k[1] * y.shape[2] * y.shape[3] * ir::dtype_size(x.dtype);
}

int64_t forward_flops(const ir::Graph& g, const ir::Node& n) {
  if (!n.def->cost) return 0;
  std::vector<ir::TensorType> ins;
  for (const auto& in : n.inputs) ins.push_back(g.type(in));
  return n.def->cost(ins, n.outputs, n.attrs).flops;
}

class Builder {
 public:
  // `lean`: leave value names and types empty (the figures do not read them).
  Builder(const ir::Graph& g, const std::vector<int32_t>& mirror, Plan& plan, const GraphCosts& costs, bool lean)
      : g_(g), m_(mirror), plan_(plan), costs_(costs), lean_(lean), fwd_(g.size()), avail_(g.size()),
        depth_(g.size(), 0), copies_(g.size(), 0), grad_(g.size()), needs_grad_(g.size()),
        stamp_(g.size(), 0), transient_(g.size()) {}

  void run() {
    analyse_gradients();
    forward();
    backward();
  }

  std::vector<std::vector<std::pair<ValueId, ValueId>>> inplace_candidates;  // per step

 private:
  bool available(ir::NodeId n) const {
    const ir::Node& node = g_.node(n);
    return node.def->is_source || m_[n] == 0 || !avail_[n].empty();
  }

  ValueId add_value(ValueKind kind, ir::ValueRef src, int32_t version, std::string name) {
    PlanValue v;
    v.id = static_cast<ValueId>(plan_.values.size());
    v.kind = kind;
    v.source = src;
    v.version = version;
    v.bytes = costs_.output_bytes(src);
    if (!lean_) {
      v.type = g_.type(src);
      v.name = std::move(name);
    }
    plan_.values.push_back(std::move(v));
    return plan_.values.back().id;
  }

  std::string value_name(ir::ValueRef r) const {
    if (lean_) return {};
    std::string s = g_.node(r.node).name;
    if (r.index > 0) {
      s += ':';
      s += std::to_string(r.index);
    }
    return s;
  }

  PlanStep& add_step(StepKind kind, ir::NodeId node) {
    PlanStep s;
    s.id = static_cast<StepId>(plan_.steps.size());
    s.kind = kind;
    s.node = node;
    plan_.steps.push_back(std::move(s));
    inplace_candidates.emplace_back();
    return plan_.steps.back();
  }

  // needs_grad: the value depends on a trainable parameter through differentiable f32 ops.
  // has_grad: a gradient reaches the value from the loss. A node gets a backward step when one of its
  // outputs has a gradient and one of its inputs needs one.
  void analyse_gradients() {
    for (const auto& n : g_.nodes()) {
      needs_grad_[n.id].assign(n.outputs.size(), 0);
      if (n.is_param()) {
        needs_grad_[n.id][0] = n.attrs.get_bool("trainable") && n.outputs[0].dtype == ir::DType::F32;
        continue;
      }
      if (n.def->is_source || !n.def->differentiable) continue;
      bool any = false;
      for (const auto& in : n.inputs) any = any || needs_grad_[in.node][in.index];
      for (size_t k = 0; k < n.outputs.size(); ++k)
        needs_grad_[n.id][k] = any && n.outputs[k].dtype == ir::DType::F32;
    }
    has_backward_.assign(g_.size(), 0);
    std::vector<std::vector<char>> has_grad(g_.size());
    for (const auto& n : g_.nodes()) has_grad[n.id].assign(n.outputs.size(), 0);
    const ir::ValueRef loss = g_.loss();
    has_grad[loss.node][loss.index] = needs_grad_[loss.node][loss.index];
    for (auto it = g_.nodes().rbegin(); it != g_.nodes().rend(); ++it) {
      const ir::Node& n = *it;
      if (n.def->is_source || !n.def->differentiable) continue;
      bool out_grad = std::any_of(has_grad[n.id].begin(), has_grad[n.id].end(), [](char c) { return c; });
      if (!out_grad) continue;
      bool in_needs = false;
      for (const auto& in : n.inputs) in_needs = in_needs || needs_grad_[in.node][in.index];
      if (!in_needs) continue;
      has_backward_[n.id] = 1;
      for (const auto& in : n.inputs)
        if (needs_grad_[in.node][in.index]) has_grad[in.node][in.index] = 1;
    }
  }

  void add_inplace_candidates(const ir::Node& n, const std::vector<ValueId>& ins, const std::vector<ValueId>& outs) {
    for (const auto& opt : n.def->inplace) {
      if (opt.input >= static_cast<int>(ins.size()) || opt.output >= static_cast<int>(outs.size())) continue;
      const PlanValue& in = plan_.values[ins[opt.input]];
      const PlanValue& out = plan_.values[outs[opt.output]];
      if (in.kind != ValueKind::Activation || in.bytes != out.bytes ||
          g_.type(in.source).dtype != g_.type(out.source).dtype)
        continue;
      inplace_candidates.back().emplace_back(outs[opt.output], ins[opt.input]);
    }
  }

  // Emits a forward or recompute step of `n` reading `ins`; returns the values it writes.
  std::vector<ValueId> emit_compute(StepKind kind, const ir::Node& n, const std::vector<ValueId>& ins,
                                    int32_t version) {
    std::vector<ValueId> outs;
    for (size_t k = 0; k < n.outputs.size(); ++k) {
      ir::ValueRef r{n.id, static_cast<int>(k)};
      std::string name = value_name(r);
      if (version > 0 && !lean_) {
        name += "@r";
        name += std::to_string(version);
      }
      outs.push_back(add_value(ValueKind::Activation, r, version, std::move(name)));
    }
    PlanStep& s = add_step(kind, n.id);
    s.reads = ins;
    s.writes = outs;
    s.flops = costs_.flops[n.id];
    s.workspace_bytes = costs_.workspace[n.id];
    add_inplace_candidates(n, ins, outs);
    return outs;
  }

  void forward() {
    for (const auto& n : g_.nodes()) {
      if (n.def->is_source) {
        ValueKind kind = n.is_input() ? ValueKind::Input : ValueKind::Param;
        fwd_[n.id] = {add_value(kind, {n.id, 0}, 0, lean_ ? std::string() : n.name)};
        continue;
      }
      std::vector<ValueId> ins;
      for (const auto& in : n.inputs) ins.push_back(fwd_[in.node][in.index]);
      fwd_[n.id] = emit_compute(StepKind::Forward, n, ins, 0);
      plan_.forward_flops += costs_.flops[n.id];
      plan_.forward_cost += costs_.cost[n.id];
    }
  }

  ValueId current(ir::ValueRef r) const {
    if (g_.node(r.node).def->is_source || m_[r.node] == 0) return fwd_[r.node][r.index];
    SL_CHECK(!avail_[r.node].empty()) << "no live copy of " << g_.node(r.node).name;
    return avail_[r.node][r.index];
  }

  // Marks of the current pass in stamp_: seen when >= pass_seen_, needed when == pass_seen_ + 1,
  // transient (transient_ holds its copy) when == pass_seen_ + 2. Fresh marks per pass, no clearing.
  void materialize(ir::NodeId target) {
    if (available(target)) return;
    int32_t prev_depth = 0;
    while (true) {
      pass_seen_ += 3;
      const uint64_t seen = pass_seen_, needed = seen + 1, transient = seen + 2;
      std::vector<ir::NodeId>& pass = pass_;
      pass.clear();
      std::vector<ir::NodeId>& stack = stack_;
      stack.assign(1, target);
      stamp_[target] = seen;
      int32_t base_depth = 0;
      while (!stack.empty()) {
        ir::NodeId u = stack.back();
        stack.pop_back();
        pass.push_back(u);
        for (const auto& in : g_.node(u).inputs) {
          if (available(in.node)) {
            if (!g_.node(in.node).def->is_source && m_[in.node] > 0)
              base_depth = std::max(base_depth, depth_[in.node]);
            continue;
          }
          if (stamp_[in.node] < seen) stamp_[in.node] = seen, stack.push_back(in.node);
        }
      }
      std::sort(pass.begin(), pass.end());
      const int32_t d = std::max(base_depth + 1, prev_depth + 1);
      // Only the copies this pass retains, and the transient ones feeding them, are computed: any other
      // transient copy would be thrown away unread (the next, deeper pass starts from what this one
      // retains). Inputs outside the pass are available: marking them needed changes nothing.
      for (auto it = pass.rbegin(); it != pass.rend(); ++it) {
        if (m_[*it] > d && stamp_[*it] != needed) continue;
        for (const auto& in : g_.node(*it).inputs)
          if (stamp_[in.node] == seen) stamp_[in.node] = needed;
        stamp_[*it] = needed;
      }
      for (ir::NodeId u : pass) {
        if (stamp_[u] != needed) continue;
        const ir::Node& n = g_.node(u);
        SL_CHECK(n.def->recomputable) << "node '" << n.name << "' is dropped but its op cannot be recomputed";
        std::vector<ValueId> ins;
        for (const auto& in : n.inputs)
          ins.push_back(stamp_[in.node] == transient ? transient_[in.node][in.index] : current(in));
        if (copies_[u] == 0) ++plan_.recomputed_nodes;
        auto outs = emit_compute(StepKind::Recompute, n, ins, ++copies_[u]);
        plan_.recompute_flops += costs_.flops[u];
        plan_.recompute_cost += costs_.cost[u];
        if (m_[u] <= d) {
          avail_[u] = outs;
          depth_[u] = d;
        } else {
          transient_[u] = std::move(outs);
          stamp_[u] = transient;
        }
      }
      if (!avail_[target].empty()) return;
      prev_depth = d;
    }
  }

  void backward() {
    for (auto it = g_.nodes().rbegin(); it != g_.nodes().rend(); ++it) {
      const ir::Node& n = *it;
      if (!has_backward_[n.id]) continue;
      // Recompute first: the copies must precede the backward step that reads them.
      for (int i : n.def->backward.inputs) materialize(n.inputs[i].node);
      if (!n.def->backward.outputs.empty()) materialize(n.id);
      std::vector<ValueId> reads;
      for (int i : n.def->backward.inputs) reads.push_back(current(n.inputs[i]));
      for (int k : n.def->backward.outputs) reads.push_back(current({n.id, k}));
      std::vector<ValueId> dys;
      for (size_t k = 0; k < n.outputs.size(); ++k)
        if (!grad_[n.id].empty() && grad_[n.id][k] >= 0) dys.push_back(grad_[n.id][k]);
      reads.insert(reads.end(), dys.begin(), dys.end());
      std::vector<ValueId> writes, accumulates;
      for (const auto& in : n.inputs) {
        if (!needs_grad_[in.node][in.index]) continue;
        auto& slot = grad_[in.node];
        if (slot.empty()) slot.assign(g_.node(in.node).outputs.size(), -1);
        if (slot[in.index] < 0) {
          const bool param = g_.node(in.node).is_param();
          slot[in.index] = add_value(param ? ValueKind::ParamGrad : ValueKind::Gradient, in, 0,
                                     "grad(" + value_name(in) + ")");
          writes.push_back(slot[in.index]);
        } else if (std::find(writes.begin(), writes.end(), slot[in.index]) == writes.end() &&
                   std::find(accumulates.begin(), accumulates.end(), slot[in.index]) == accumulates.end()) {
          accumulates.push_back(slot[in.index]);
        }
      }
      PlanStep& s = add_step(StepKind::Backward, n.id);
      s.reads = std::move(reads);
      s.writes = writes;
      s.accumulates = std::move(accumulates);
      // Two GEMMs (data and weight gradients) for layers, about one forward's work for the rest.
      const bool gemm = n.def->params || n.op == "matmul";
      s.flops = costs_.flops[n.id] * (gemm ? 2 : 1);
      s.workspace_bytes = costs_.workspace[n.id];
      plan_.backward_flops += s.flops;
      if (!n.def->inplace.empty() && !dys.empty()) {
        const PlanValue& dy = plan_.values[dys[0]];
        for (ValueId w : writes) {
          const PlanValue& dx = plan_.values[w];
          if (dx.kind == ValueKind::Gradient && dx.bytes == dy.bytes) inplace_candidates.back().emplace_back(w, dys[0]);
        }
      }
    }
  }

  const ir::Graph& g_;
  const std::vector<int32_t>& m_;
  Plan& plan_;
  const GraphCosts& costs_;
  const bool lean_;
  std::vector<std::vector<ValueId>> fwd_, avail_;
  std::vector<int32_t> depth_, copies_;
  std::vector<std::vector<ValueId>> grad_;
  std::vector<std::vector<char>> needs_grad_;
  std::vector<char> has_backward_;
  std::vector<uint64_t> stamp_;  // materialize's per-pass marks
  uint64_t pass_seen_ = 0;
  std::vector<std::vector<ValueId>> transient_;
  std::vector<ir::NodeId> pass_, stack_;
};

bool in_arena(ValueKind k) { return k == ValueKind::Activation || k == ValueKind::Gradient; }

// Returns false, with feature_map_peak_bytes = the live peak and no offsets, when `place` says the arena is
// not worth placing for that live peak.
bool assign_storage(Plan& plan, const std::vector<std::vector<std::pair<ValueId, ValueId>>>& candidates,
                    const std::function<bool(int64_t live_peak)>& place) {
  const auto& g = *plan.graph;
  const StepId end = static_cast<StepId>(plan.steps.size()) - 1;
  std::vector<StepId> first(plan.values.size(), -1), last(plan.values.size(), -1);
  for (const auto& s : plan.steps) {
    for (ValueId v : s.writes) first[v] = s.id, last[v] = std::max(last[v], s.id);
    for (ValueId v : s.reads) last[v] = std::max(last[v], s.id);
    for (ValueId v : s.accumulates) last[v] = std::max(last[v], s.id);
  }
  std::vector<char> is_output(plan.values.size(), 0);
  for (const auto& s : plan.steps) {
    if (s.kind != StepKind::Forward) continue;
    for (ValueId v : s.writes)
      for (const auto& out : g.outputs())
        if (plan.values[v].source == out) is_output[v] = 1, last[v] = end;
  }
  std::vector<StepId> folded_at(0);
  for (auto& s : plan.steps) {
    std::vector<char> placed(s.writes.size(), 0);
    if (plan.options.inplace) {
      for (const auto& [w, r] : candidates[s.id]) {
        const PlanValue& rv = plan.values[r];
        if (!in_arena(rv.kind) || rv.storage < 0 || is_output[r] || plan.values[w].storage >= 0) continue;
        Storage& st = plan.storages[rv.storage];
        // The input's buffer must die at this step, and take only one output here.
        if (st.last_step != s.id || st.bytes != plan.values[w].bytes) continue;
        if (folded_at.size() <= static_cast<size_t>(st.id)) folded_at.resize(st.id + 1, -1);
        if (folded_at[st.id] == s.id) continue;
        folded_at[st.id] = s.id;
        plan.values[w].storage = st.id;
        st.values.push_back(w);
        st.last_step = std::max(st.last_step, last[w]);
        s.inplace.emplace_back(w, r);
        auto pos = std::find(s.writes.begin(), s.writes.end(), w) - s.writes.begin();
        placed[pos] = 1;
      }
    }
    for (size_t i = 0; i < s.writes.size(); ++i) {
      PlanValue& v = plan.values[s.writes[i]];
      if (placed[i] || !in_arena(v.kind)) continue;
      Storage st;
      st.id = static_cast<int32_t>(plan.storages.size());
      st.bytes = v.bytes;
      st.first_step = s.id;
      st.last_step = last[v.id];
      st.values.push_back(v.id);
      v.storage = st.id;
      plan.storages.push_back(std::move(st));
    }
  }
  const int64_t align = plan.options.alignment;
  // The live peak first: it bounds the arena from below whatever the placement.
  std::vector<int64_t> delta(plan.steps.size() + 1, 0);
  for (const auto& st : plan.storages) {
    const int64_t b = align_up(std::max<int64_t>(st.bytes, 1), align);
    delta[st.first_step] += b;
    delta[st.last_step + 1] -= b;
  }
  int64_t live = 0;
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    live += delta[i];
    if (live > plan.live_peak_bytes) plan.live_peak_bytes = live, plan.peak_step = static_cast<StepId>(i);
  }
  if (plan.options.sharing) {
    if (place && !place(plan.live_peak_bytes)) {
      plan.feature_map_peak_bytes = plan.live_peak_bytes;
      return false;
    }
    std::vector<BufferRequest> reqs;
    reqs.reserve(plan.storages.size());
    for (const auto& st : plan.storages) reqs.push_back({st.id, std::max<int64_t>(st.bytes, 1), st.first_step, st.last_step});
    ArenaPlan ap = plan_arena(reqs, PlacementStrategy::Auto, align);
    for (size_t i = 0; i < ap.placements.size(); ++i) plan.storages[i].offset = ap.placements[i].offset;
    plan.feature_map_peak_bytes = ap.arena_bytes;
  } else {
    int64_t off = 0;
    for (auto& st : plan.storages) {
      st.offset = off;
      off += align_up(std::max<int64_t>(st.bytes, 1), align);
    }
    plan.feature_map_peak_bytes = off;
  }
  return true;
}

}  // namespace

GraphCosts graph_costs(const ir::Graph& g, const PlanOptions& o) {
  GraphCosts c;
  c.flops.assign(g.size(), 0);
  c.workspace.assign(g.size(), 0);
  SL_CHECK(!o.costs || o.costs->forward_ns.size() == g.size())
      << "cost profile for " << o.costs->forward_ns.size() << " nodes, graph has " << g.size();
  for (const auto& n : g.nodes()) {
    c.first_output.push_back(c.bytes.size());
    for (const auto& t : n.outputs) c.bytes.push_back(t.bytes());
    if (n.def->is_source) continue;
    c.flops[n.id] = forward_flops(g, n);
    c.workspace[n.id] = node_workspace_bytes(g, n);
  }
  c.cost = o.costs ? o.costs->forward_ns : c.flops;
  return c;
}

namespace {

Plan build(std::shared_ptr<const ir::Graph> g, std::vector<int32_t> mirror, const PlanOptions& opts,
           std::string policy, const GraphCosts* costs, bool lean, const PlaceIf* place_if, bool* placed) {
  auto t0 = std::chrono::steady_clock::now();
  SL_CHECK(g && mirror.size() == g->size()) << "mirror counts for " << mirror.size() << " nodes, graph has "
                                            << (g ? g->size() : 0);
  for (const auto& n : g->nodes()) {
    SL_CHECK(mirror[n.id] >= 0) << "negative mirror count for '" << n.name << "'";
    if (n.def->is_source) mirror[n.id] = 0;
    SL_CHECK(mirror[n.id] == 0 || n.def->recomputable) << "'" << n.name << "' cannot be recomputed";
  }
  // Graph outputs are read after the step; they are never dropped.
  for (const auto& out : g->outputs()) mirror[out.node] = 0;
  GraphCosts own;
  if (!costs) own = graph_costs(*g, opts), costs = &own;
  SL_CHECK(costs->flops.size() == g->size() && costs->workspace.size() == g->size() &&
           costs->cost.size() == g->size() && costs->first_output.size() == g->size())
      << "graph costs for " << costs->flops.size() << " nodes, graph has " << g->size();
  Plan plan;
  plan.policy = std::move(policy);
  plan.options = opts;
  plan.graph = g;
  plan.mirror = mirror;
  Builder b(*g, plan.mirror, plan, *costs, lean);
  b.run();
  for (const auto& n : g->nodes()) {
    const int64_t bytes = costs->output_bytes({n.id, 0});
    if (n.is_input()) plan.input_bytes += bytes;
    if (!n.is_param()) continue;
    plan.parameter_bytes += bytes;
    if (n.attrs.get_bool("trainable")) plan.gradient_bytes += bytes;
  }
  const int64_t state_factor = opts.optimizer == Optimizer::Sgd ? 0 : opts.optimizer == Optimizer::Momentum ? 1 : 2;
  plan.optimizer_state_bytes = state_factor * plan.gradient_bytes;
  for (const auto& s : plan.steps) plan.workspace_bytes = std::max(plan.workspace_bytes, s.workspace_bytes);
  std::function<bool(int64_t)> place;
  if (place_if && *place_if) {
    const int64_t others = plan.total_peak_bytes() - plan.feature_map_peak_bytes;
    place = [&](int64_t live_peak) { return (*place_if)(others + live_peak, plan.recompute_cost); };
  }
  const bool was_placed = assign_storage(plan, b.inplace_candidates, place);
  if (placed) *placed = was_placed;
  plan.plan_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return plan;
}

}  // namespace

Plan build_plan(std::shared_ptr<const ir::Graph> g, std::vector<int32_t> mirror, const PlanOptions& opts,
                std::string policy) {
  return build(std::move(g), std::move(mirror), opts, std::move(policy), nullptr, false, nullptr, nullptr);
}

Plan build_plan_figures(std::shared_ptr<const ir::Graph> g, std::vector<int32_t> mirror, const PlanOptions& opts,
                        const GraphCosts& costs, const PlaceIf& place_if, bool* placed) {
  return build(std::move(g), std::move(mirror), opts, "figures", &costs, true, &place_if, placed);
}

}  // namespace sublinear::planner
