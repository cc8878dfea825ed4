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
// - Recomputing earlier (Plan::early_at): a dropped node v with early_at[v] = t that has no retained
//   copy when the backward step of node t comes is materialised as above just before that step (before
//   t's own recomputations). Before v's first need, that is ahead of need: a pass run where fewer
//   gradients are live can hold a chain's transient copies more cheaply, and the retained copies then
//   wait for their readers. After passes that made v only transiently (m > their depth), it holds v
//   from t on for every later pass and reader: v is recomputed transiently while memory is tight and
//   kept once it is not. (Checkmate's optimal schedules do both.) Nothing else changes: a copy that is
//   already available is not made again, and the plan's early_at then lists only the triggers that
//   made something (empty when none did).
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
//   long, where largest first is quadratic; then an order search on small plans still fragmented, unless
//   PlanOptions::placement_search is off), 256-byte aligned; without sharing every storage gets bytes
//   of its own.
//
// Representation: the builder writes the schedule flat (every step's reads, writes, accumulates and
// in-place candidates in shared arrays, per-output state indexed like GraphCosts::bytes) into the
// graph's BuildScratch, which every build reuses; build_plan then copies it into Plan's steps, values and
// storages, build_plan_figures keeps only the figures. A search of thousands of builds on a graph of
// 100,000 nodes would otherwise spend most of its time allocating and freeing per-step vectors.
#include "planner/scheduler.h"

#include <algorithm>
#include <chrono>
#include <functional>

#include "ir/check.h"
#include "ir/op_registry.h"
#include "planner/arena_allocator.h"

namespace sublinear::planner {

// The flat schedule of one build and the working arrays of the builder and of storage assignment.
struct BuildScratch {
  // Values, by ValueId.
  std::vector<ValueKind> value_kind;
  std::vector<ir::ValueRef> value_source;
  std::vector<int32_t> value_version;
  std::vector<int64_t> value_bytes;
  // Steps, by StepId; step i's reads are reads[reads_at[i] .. reads_at[i + 1]), and so on.
  std::vector<StepKind> step_kind;
  std::vector<ir::NodeId> step_node;
  std::vector<int64_t> step_flops, step_workspace;
  std::vector<uint32_t> reads_at, writes_at, accumulates_at, candidates_at;
  std::vector<ValueId> reads, writes, accumulates;
  std::vector<std::pair<ValueId, ValueId>> candidates;  // (written, read) pairs in-place may fold
  // The builder's state: per output (GraphCosts::output_index) and per node.
  std::vector<ValueId> fwd, avail, transient, grad;
  std::vector<char> has_avail;
  std::vector<int32_t> depth, copies;
  std::vector<uint64_t> stamp;
  std::vector<ir::NodeId> pass, stack;
  std::vector<ValueId> ins;
  // Storage assignment: per value, per storage, and the folds made, by step.
  std::vector<StepId> first_use, last_use;
  std::vector<char> is_output, placed;
  std::vector<int32_t> storage_of;
  std::vector<int64_t> storage_bytes, offsets, delta;
  std::vector<StepId> storage_first, storage_last, folded_at;
  std::vector<std::pair<ValueId, ValueId>> inplace;
  std::vector<uint32_t> inplace_at;
  std::vector<BufferRequest> requests;

  size_t steps() const { return step_kind.size(); }
  size_t values() const { return value_kind.size(); }
  size_t storages() const { return storage_bytes.size(); }
};

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

ir::Cost forward_cost(const ir::Graph& g, const ir::Node& n) {
  if (!n.def->cost) return {};
  std::vector<ir::TensorType> ins;
  for (const auto& in : n.inputs) ins.push_back(g.type(in));
  return n.def->cost(ins, n.outputs, n.attrs);
}

template <typename T>
void append(std::vector<T>& to, const std::vector<T>& from, uint32_t begin, uint32_t end) {
  to.insert(to.end(), from.begin() + begin, from.begin() + end);
}

class Builder {
 public:
  Builder(const ir::Graph& g, const std::vector<int32_t>& mirror, const std::vector<ir::NodeId>& early_at,
          Plan& plan, const GraphCosts& costs, BuildScratch& s)
      : g_(g), m_(mirror), early_at_(early_at), plan_(plan), c_(costs), s_(s) {}

  void run() {
    reset();
    forward();
    backward();
    push_offsets();  // the end of the last step's ranges
  }

 private:
  size_t out(ir::ValueRef r) const { return c_.output_index(r); }

  void reset() {
    const size_t outputs = c_.bytes.size(), nodes = g_.size();
    s_.value_kind.clear(), s_.value_source.clear(), s_.value_version.clear(), s_.value_bytes.clear();
    s_.step_kind.clear(), s_.step_node.clear(), s_.step_flops.clear(), s_.step_workspace.clear();
    for (auto* v : {&s_.reads_at, &s_.writes_at, &s_.accumulates_at, &s_.candidates_at}) v->clear();
    s_.reads.clear(), s_.writes.clear(), s_.accumulates.clear(), s_.candidates.clear();
    for (auto* v : {&s_.fwd, &s_.avail, &s_.transient, &s_.grad}) v->assign(outputs, -1);
    s_.has_avail.assign(nodes, 0);
    s_.depth.assign(nodes, 0);
    s_.copies.assign(nodes, 0);
    s_.stamp.assign(nodes, 0);
  }

  bool available(ir::NodeId n) const { return c_.is_source[n] || m_[n] == 0 || s_.has_avail[n]; }

  ValueId add_value(ValueKind kind, ir::ValueRef src, int32_t version) {
    const auto id = static_cast<ValueId>(s_.values());
    s_.value_kind.push_back(kind);
    s_.value_source.push_back(src);
    s_.value_version.push_back(version);
    s_.value_bytes.push_back(c_.output_bytes(src));
    return id;
  }

  void begin_step(StepKind kind, ir::NodeId node, int64_t flops, int64_t workspace) {
    s_.step_kind.push_back(kind);
    s_.step_node.push_back(node);
    s_.step_flops.push_back(flops);
    s_.step_workspace.push_back(workspace);
    push_offsets();
  }

  // Where the next step's reads, writes, accumulates and in-place candidates begin.
  void push_offsets() {
    s_.reads_at.push_back(static_cast<uint32_t>(s_.reads.size()));
    s_.writes_at.push_back(static_cast<uint32_t>(s_.writes.size()));
    s_.accumulates_at.push_back(static_cast<uint32_t>(s_.accumulates.size()));
    s_.candidates_at.push_back(static_cast<uint32_t>(s_.candidates.size()));
  }

  // Emits a forward or recompute step of `n` reading `ins`; its outputs are the values from the one
  // returned on, in output order.
  ValueId emit_compute(StepKind kind, const ir::Node& n, const std::vector<ValueId>& ins, int32_t version) {
    const auto first = static_cast<ValueId>(s_.values());
    const auto outs = static_cast<int>(n.outputs.size());
    for (int k = 0; k < outs; ++k) add_value(ValueKind::Activation, {n.id, k}, version);
    begin_step(kind, n.id, c_.flops[n.id], c_.workspace[n.id]);
    s_.reads.insert(s_.reads.end(), ins.begin(), ins.end());
    for (int k = 0; k < outs; ++k) s_.writes.push_back(first + k);
    for (const auto& opt : n.def->inplace) {
      if (opt.input >= static_cast<int>(ins.size()) || opt.output >= outs) continue;
      const ValueId in = ins[opt.input], o = first + opt.output;
      if (s_.value_kind[in] != ValueKind::Activation || s_.value_bytes[in] != s_.value_bytes[o] ||
          c_.dtype[out(s_.value_source[in])] != c_.dtype[out(s_.value_source[o])])
        continue;
      s_.candidates.emplace_back(o, in);
    }
    return first;
  }

  void forward() {
    for (const auto& n : g_.nodes()) {
      if (n.def->is_source) {
        s_.fwd[out({n.id, 0})] = add_value(n.is_input() ? ValueKind::Input : ValueKind::Param, {n.id, 0}, 0);
        continue;
      }
      s_.ins.clear();
      for (const auto& in : c_.inputs(n.id)) s_.ins.push_back(s_.fwd[out(in)]);
      const ValueId first = emit_compute(StepKind::Forward, n, s_.ins, 0);
      for (size_t k = 0; k < n.outputs.size(); ++k) s_.fwd[out({n.id, static_cast<int>(k)})] = first + static_cast<ValueId>(k);
      plan_.forward_flops += c_.flops[n.id];
      plan_.forward_cost += c_.cost[n.id];
    }
  }

  ValueId current(ir::ValueRef r) const {
    if (c_.is_source[r.node] || m_[r.node] == 0) return s_.fwd[out(r)];
    SL_CHECK(s_.has_avail[r.node]) << "no live copy of " << g_.node(r.node).name;
    return s_.avail[out(r)];
  }

  // Marks of the current pass in stamp: seen when >= pass_seen_, needed when == pass_seen_ + 1,
  // transient (BuildScratch::transient holds its copy) when == pass_seen_ + 2. Fresh marks per pass, no
  // clearing.
  void materialize(ir::NodeId target) {
    if (available(target)) return;
    int32_t prev_depth = 0;
    auto& stamp = s_.stamp;
    while (true) {
      pass_seen_ += 3;
      const uint64_t seen = pass_seen_, needed = seen + 1, transient = seen + 2;
      std::vector<ir::NodeId>& pass = s_.pass;
      pass.clear();
      std::vector<ir::NodeId>& stack = s_.stack;
      stack.assign(1, target);
      stamp[target] = seen;
      int32_t base_depth = 0;
      while (!stack.empty()) {
        ir::NodeId u = stack.back();
        stack.pop_back();
        pass.push_back(u);
        for (const auto& in : c_.inputs(u)) {
          if (available(in.node)) {
            if (!c_.is_source[in.node] && m_[in.node] > 0)
              base_depth = std::max(base_depth, s_.depth[in.node]);
            continue;
          }
          if (stamp[in.node] < seen) stamp[in.node] = seen, stack.push_back(in.node);
        }
      }
      std::sort(pass.begin(), pass.end());
      const int32_t d = std::max(base_depth + 1, prev_depth + 1);
      // Only the copies this pass retains, and the transient ones feeding them, are computed: any other
      // transient copy would be thrown away unread (the next, deeper pass starts from what this one
      // retains). Inputs outside the pass are available: marking them needed changes nothing.
      for (auto it = pass.rbegin(); it != pass.rend(); ++it) {
        if (m_[*it] > d && stamp[*it] != needed) continue;
        for (const auto& in : c_.inputs(*it))
          if (stamp[in.node] == seen) stamp[in.node] = needed;
        stamp[*it] = needed;
      }
      for (ir::NodeId u : pass) {
        if (stamp[u] != needed) continue;
        const ir::Node& n = g_.node(u);
        SL_CHECK(c_.recomputable[u]) << "node '" << n.name << "' is dropped but its op cannot be recomputed";
        s_.ins.clear();
        for (const auto& in : c_.inputs(u))
          s_.ins.push_back(stamp[in.node] == transient ? s_.transient[out(in)] : current(in));
        if (s_.copies[u] == 0) ++plan_.recomputed_nodes;
        const ValueId first = emit_compute(StepKind::Recompute, n, s_.ins, ++s_.copies[u]);
        plan_.recompute_flops += c_.flops[u];
        plan_.recompute_cost += c_.cost[u];
        const bool retained = m_[u] <= d;
        for (size_t k = 0; k < n.outputs.size(); ++k)
          (retained ? s_.avail : s_.transient)[out({u, static_cast<int>(k)})] = first + static_cast<ValueId>(k);
        if (retained) {
          s_.has_avail[u] = 1;
          s_.depth[u] = d;
        } else {
          stamp[u] = transient;
        }
      }
      if (s_.has_avail[target]) return;
      prev_depth = d;
    }
  }

  void backward() {
    // (trigger, node) for every early recomputation, in the order the backward pass meets the triggers.
    std::vector<std::pair<ir::NodeId, ir::NodeId>> early;
    for (size_t v = 0; v < early_at_.size(); ++v)
      if (early_at_[v] >= 0) early.emplace_back(early_at_[v], static_cast<ir::NodeId>(v));
    // Later triggers first (the backward pass meets them so); at one trigger, producers before their
    // consumers, so a held ancestor is made before a descendant's pass could make it transiently.
    std::sort(early.begin(), early.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    size_t next_early = 0;
    for (auto it = g_.nodes().rbegin(); it != g_.nodes().rend(); ++it) {
      const ir::Node& n = *it;
      for (; next_early < early.size() && early[next_early].first >= n.id; ++next_early) {
        const ir::NodeId v = early[next_early].second;
        // A trigger that finds a copy (or a kept value) does nothing: the plan does not list it.
        if (available(v)) plan_.early_at[static_cast<size_t>(v)] = -1;
        else materialize(v);
      }
      if (!c_.has_backward[n.id]) continue;
      // Recompute first: the copies must precede the backward step that reads them.
      for (int i : n.def->backward.inputs)
        if (static_cast<size_t>(i) < n.inputs.size()) materialize(n.inputs[i].node);
      if (!n.def->backward.outputs.empty()) materialize(n.id);
      begin_step(StepKind::Backward, n.id, c_.backward_flops[n.id], c_.workspace[n.id]);
      plan_.backward_flops += c_.backward_flops[n.id];
      for (int i : n.def->backward.inputs)
        if (static_cast<size_t>(i) < n.inputs.size()) s_.reads.push_back(current(n.inputs[i]));
      for (int k : n.def->backward.outputs) s_.reads.push_back(current({n.id, k}));
      ValueId dy = -1;  // the first output gradient: in-place backward writes over it
      for (size_t k = 0; k < n.outputs.size(); ++k) {
        const ValueId gk = s_.grad[out({n.id, static_cast<int>(k)})];
        if (gk < 0) continue;
        s_.reads.push_back(gk);
        if (dy < 0) dy = gk;
      }
      const size_t writes = s_.writes.size(), accumulates = s_.accumulates.size();
      for (const auto& in : n.inputs) {
        if (!c_.needs_grad[out(in)]) continue;
        ValueId& slot = s_.grad[out(in)];
        if (slot < 0) {
          slot = add_value(g_.node(in.node).is_param() ? ValueKind::ParamGrad : ValueKind::Gradient, in, 0);
          s_.writes.push_back(slot);
        } else if (std::find(s_.writes.begin() + static_cast<std::ptrdiff_t>(writes), s_.writes.end(), slot) ==
                       s_.writes.end() &&
                   std::find(s_.accumulates.begin() + static_cast<std::ptrdiff_t>(accumulates),
                             s_.accumulates.end(), slot) == s_.accumulates.end()) {
          s_.accumulates.push_back(slot);
        }
      }
      if (!n.def->inplace.empty() && dy >= 0)
        for (size_t w = writes; w < s_.writes.size(); ++w) {
          const ValueId dx = s_.writes[w];
          if (s_.value_kind[dx] == ValueKind::Gradient && s_.value_bytes[dx] == s_.value_bytes[dy])
            s_.candidates.emplace_back(dx, dy);
        }
    }
  }

  const ir::Graph& g_;
  const std::vector<int32_t>& m_;
  const std::vector<ir::NodeId>& early_at_;
  Plan& plan_;
  const GraphCosts& c_;
  BuildScratch& s_;
  uint64_t pass_seen_ = 0;  // materialize's per-pass marks
};

bool in_arena(ValueKind k) { return k == ValueKind::Activation || k == ValueKind::Gradient; }

// Liveness, in-place folding, the live peak and (unless `place` declines for that peak) the arena
// offsets, into the scratch's storage arrays and the plan's figures. Returns whether offsets were placed.
bool assign_storage(const GraphCosts& c, BuildScratch& s, Plan& plan, const std::function<bool(int64_t)>& place) {
  const size_t nv = s.values(), ns = s.steps();
  const auto end = static_cast<StepId>(ns) - 1;
  s.first_use.assign(nv, -1);
  s.last_use.assign(nv, -1);
  auto& last = s.last_use;
  for (size_t i = 0; i < ns; ++i) {
    const auto id = static_cast<StepId>(i);
    for (uint32_t k = s.writes_at[i]; k < s.writes_at[i + 1]; ++k)
      s.first_use[s.writes[k]] = id, last[s.writes[k]] = std::max(last[s.writes[k]], id);
    for (uint32_t k = s.reads_at[i]; k < s.reads_at[i + 1]; ++k) last[s.reads[k]] = std::max(last[s.reads[k]], id);
    for (uint32_t k = s.accumulates_at[i]; k < s.accumulates_at[i + 1]; ++k)
      last[s.accumulates[k]] = std::max(last[s.accumulates[k]], id);
  }
  s.is_output.assign(nv, 0);
  for (size_t i = 0; i < ns; ++i) {
    if (s.step_kind[i] != StepKind::Forward) continue;
    for (uint32_t k = s.writes_at[i]; k < s.writes_at[i + 1]; ++k) {
      const ValueId v = s.writes[k];
      if (c.graph_output[c.output_index(s.value_source[v])]) s.is_output[v] = 1, last[v] = end;
    }
  }
  s.storage_of.assign(nv, -1);
  s.storage_bytes.clear(), s.storage_first.clear(), s.storage_last.clear(), s.folded_at.clear();
  s.inplace.clear(), s.inplace_at.clear();
  for (size_t i = 0; i < ns; ++i) {
    const auto id = static_cast<StepId>(i);
    const uint32_t w0 = s.writes_at[i], w1 = s.writes_at[i + 1];
    s.placed.assign(w1 - w0, 0);
    s.inplace_at.push_back(static_cast<uint32_t>(s.inplace.size()));
    if (plan.options.inplace) {
      for (uint32_t k = s.candidates_at[i]; k < s.candidates_at[i + 1]; ++k) {
        const auto [w, r] = s.candidates[k];
        const int32_t st = s.storage_of[r];
        if (!in_arena(s.value_kind[r]) || st < 0 || s.is_output[r] || s.storage_of[w] >= 0) continue;
        // The input's buffer must die at this step, and take only one output here.
        if (s.storage_last[st] != id || s.storage_bytes[st] != s.value_bytes[w]) continue;
        if (s.folded_at[st] == id) continue;
        s.folded_at[st] = id;
        s.storage_of[w] = st;
        s.storage_last[st] = std::max(s.storage_last[st], last[w]);
        s.inplace.emplace_back(w, r);
        s.placed[std::find(s.writes.begin() + w0, s.writes.begin() + w1, w) - (s.writes.begin() + w0)] = 1;
      }
    }
    for (uint32_t k = w0; k < w1; ++k) {
      const ValueId v = s.writes[k];
      if (s.placed[k - w0] || !in_arena(s.value_kind[v])) continue;
      s.storage_of[v] = static_cast<int32_t>(s.storages());
      s.storage_bytes.push_back(s.value_bytes[v]);
      s.storage_first.push_back(id);
      s.storage_last.push_back(last[v]);
      s.folded_at.push_back(-1);
    }
  }
  s.inplace_at.push_back(static_cast<uint32_t>(s.inplace.size()));
  const int64_t align = plan.options.alignment;
  const size_t nst = s.storages();
  // The live peak first: it bounds the arena from below whatever the placement.
  s.delta.assign(ns + 1, 0);
  for (size_t k = 0; k < nst; ++k) {
    const int64_t b = align_up(std::max<int64_t>(s.storage_bytes[k], 1), align);
    s.delta[s.storage_first[k]] += b;
    s.delta[s.storage_last[k] + 1] -= b;
  }
  int64_t live = 0;
  for (size_t i = 0; i < ns; ++i) {
    live += s.delta[i];
    if (live > plan.live_peak_bytes) plan.live_peak_bytes = live, plan.peak_step = static_cast<StepId>(i);
  }
  s.offsets.assign(nst, -1);
  if (plan.options.sharing) {
    if (place && !place(plan.live_peak_bytes)) {
      plan.feature_map_peak_bytes = plan.live_peak_bytes;
      return false;
    }
    s.requests.clear();
    for (size_t k = 0; k < nst; ++k)
      s.requests.push_back({static_cast<int64_t>(k), std::max<int64_t>(s.storage_bytes[k], 1), s.storage_first[k], s.storage_last[k]});
    const auto strategy =
        plan.options.placement_search ? PlacementStrategy::Auto : PlacementStrategy::AutoGreedy;
    ArenaPlan ap = plan_arena(s.requests, strategy, align);
    for (size_t k = 0; k < ap.placements.size(); ++k) s.offsets[k] = ap.placements[k].offset;
    plan.feature_map_peak_bytes = ap.arena_bytes;
  } else {
    int64_t off = 0;
    for (size_t k = 0; k < nst; ++k) {
      s.offsets[k] = off;
      off += align_up(std::max<int64_t>(s.storage_bytes[k], 1), align);
    }
    plan.feature_map_peak_bytes = off;
  }
  return true;
}

std::string value_name(const ir::Graph& g, ir::ValueRef r) {
  std::string s = g.node(r.node).name;
  if (r.index > 0) {
    s += ':';
    s += std::to_string(r.index);
  }
  return s;
}

// The flat schedule and its storages as Plan's values, steps and storages, with names and types.
void fill_plan(const ir::Graph& g, const BuildScratch& s, Plan& plan) {
  plan.values.resize(s.values());
  for (size_t i = 0; i < s.values(); ++i) {
    PlanValue& v = plan.values[i];
    v.id = static_cast<ValueId>(i);
    v.kind = s.value_kind[i];
    v.source = s.value_source[i];
    v.version = s.value_version[i];
    v.type = g.type(v.source);
    v.bytes = s.value_bytes[i];
    v.storage = s.storage_of[i];
    switch (v.kind) {
      case ValueKind::Input:
      case ValueKind::Param: v.name = g.node(v.source.node).name; break;
      case ValueKind::Activation:
        v.name = value_name(g, v.source);
        if (v.version > 0) v.name += "@r" + std::to_string(v.version);
        break;
      case ValueKind::ParamGrad:
      case ValueKind::Gradient: v.name = "grad(" + value_name(g, v.source) + ")"; break;
    }
  }
  plan.storages.resize(s.storages());
  for (size_t k = 0; k < s.storages(); ++k) {
    Storage& st = plan.storages[k];
    st.id = static_cast<int32_t>(k);
    st.bytes = s.storage_bytes[k];
    st.first_step = s.storage_first[k];
    st.last_step = s.storage_last[k];
    st.offset = s.offsets[k];
  }
  plan.steps.resize(s.steps());
  for (size_t i = 0; i < s.steps(); ++i) {
    PlanStep& st = plan.steps[i];
    st.id = static_cast<StepId>(i);
    st.kind = s.step_kind[i];
    st.node = s.step_node[i];
    st.flops = s.step_flops[i];
    st.workspace_bytes = s.step_workspace[i];
    append(st.reads, s.reads, s.reads_at[i], s.reads_at[i + 1]);
    append(st.writes, s.writes, s.writes_at[i], s.writes_at[i + 1]);
    append(st.accumulates, s.accumulates, s.accumulates_at[i], s.accumulates_at[i + 1]);
    append(st.inplace, s.inplace, s.inplace_at[i], s.inplace_at[i + 1]);
    // A storage lists its values in the order they joined it: folds into it at this step, then the
    // value that opened it.
    for (const auto& [w, r] : st.inplace) plan.storages[s.storage_of[w]].values.push_back(w);
    for (ValueId w : st.writes) {
      if (s.storage_of[w] < 0) continue;
      const bool folded = std::any_of(st.inplace.begin(), st.inplace.end(), [&](const auto& p) { return p.first == w; });
      if (!folded) plan.storages[s.storage_of[w]].values.push_back(w);
    }
  }
}

}  // namespace

GraphCosts graph_costs(const ir::Graph& g, const PlanOptions& o) {
  GraphCosts c;
  c.flops.assign(g.size(), 0);
  c.workspace.assign(g.size(), 0);
  c.backward_flops.assign(g.size(), 0);
  std::vector<int64_t> traffic(g.size(), 0);
  SL_CHECK(!o.costs || o.costs->forward_ns.size() == g.size())
      << "cost profile for " << o.costs->forward_ns.size() << " nodes, graph has " << g.size();
  for (const auto& n : g.nodes()) {
    c.first_output.push_back(c.bytes.size());
    for (const auto& t : n.outputs) c.bytes.push_back(t.bytes()), c.dtype.push_back(t.dtype);
    c.is_source.push_back(n.def->is_source ? 1 : 0);
    c.recomputable.push_back(n.def->recomputable ? 1 : 0);
    c.inputs_at.push_back(static_cast<uint32_t>(c.input_refs.size()));
    c.input_refs.insert(c.input_refs.end(), n.inputs.begin(), n.inputs.end());
    if (n.is_input()) c.input_bytes += c.bytes[c.first_output[n.id]];
    if (n.is_param()) {
      c.parameter_bytes += c.bytes[c.first_output[n.id]];
      if (n.attrs.get_bool("trainable")) c.trainable_bytes += c.bytes[c.first_output[n.id]];
    }
    if (n.def->is_source) continue;
    const ir::Cost cost = forward_cost(g, n);
    c.flops[n.id] = cost.flops;
    traffic[n.id] = cost.flops + kTrafficFlopsPerByte * cost.bytes;
    c.workspace[n.id] = node_workspace_bytes(g, n);
    // Two GEMMs (data and weight gradients) for layers, about one forward's work for the rest.
    c.backward_flops[n.id] = c.flops[n.id] * (n.def->params || n.op == "matmul" ? 2 : 1);
  }
  c.inputs_at.push_back(static_cast<uint32_t>(c.input_refs.size()));
  c.cost = o.costs ? o.costs->forward_ns : o.cost_model == CostModel::Flops ? c.flops : std::move(traffic);
  c.graph_output.assign(c.bytes.size(), 0);
  for (const auto& out : g.outputs()) c.graph_output[c.output_index(out)] = 1;
  // needs_grad: the value depends on a trainable parameter through differentiable f32 ops.
  // A node gets a backward step when one of its outputs has a gradient from the loss and one of its
  // inputs needs one.
  c.needs_grad.assign(c.bytes.size(), 0);
  for (const auto& n : g.nodes()) {
    const size_t o0 = c.first_output[n.id];
    if (n.is_param()) {
      c.needs_grad[o0] = n.attrs.get_bool("trainable") && n.outputs[0].dtype == ir::DType::F32;
      continue;
    }
    if (n.def->is_source || !n.def->differentiable) continue;
    bool any = false;
    for (const auto& in : n.inputs) any = any || c.needs_grad[c.output_index(in)];
    for (size_t k = 0; k < n.outputs.size(); ++k) c.needs_grad[o0 + k] = any && n.outputs[k].dtype == ir::DType::F32;
  }
  c.has_backward.assign(g.size(), 0);
  std::vector<char> has_grad(c.bytes.size(), 0);
  const ir::ValueRef loss = g.loss();
  has_grad[c.output_index(loss)] = c.needs_grad[c.output_index(loss)];
  for (auto it = g.nodes().rbegin(); it != g.nodes().rend(); ++it) {
    const ir::Node& n = *it;
    if (n.def->is_source || !n.def->differentiable) continue;
    const size_t o0 = c.first_output[n.id];
    if (!std::any_of(has_grad.begin() + static_cast<std::ptrdiff_t>(o0),
                     has_grad.begin() + static_cast<std::ptrdiff_t>(o0 + n.outputs.size()), [](char h) { return h; }))
      continue;
    bool in_needs = false;
    for (const auto& in : n.inputs) in_needs = in_needs || c.needs_grad[c.output_index(in)];
    if (!in_needs) continue;
    c.has_backward[n.id] = 1;
    for (const auto& in : n.inputs)
      if (c.needs_grad[c.output_index(in)]) has_grad[c.output_index(in)] = 1;
  }
  c.scratch = std::make_shared<BuildScratch>();
  return c;
}

namespace {

Plan build(std::shared_ptr<const ir::Graph> g, std::vector<int32_t> mirror, std::vector<ir::NodeId> early_at,
           const PlanOptions& opts, std::string policy, const GraphCosts* costs, bool lean, const PlaceIf* place_if,
           bool* placed, std::vector<int64_t>* live_by_step) {
  auto t0 = std::chrono::steady_clock::now();
  SL_CHECK(g && mirror.size() == g->size()) << "mirror counts for " << mirror.size() << " nodes, graph has "
                                            << (g ? g->size() : 0);
  GraphCosts own;
  if (!costs) own = graph_costs(*g, opts), costs = &own;
  SL_CHECK(costs->flops.size() == g->size() && costs->workspace.size() == g->size() &&
           costs->cost.size() == g->size() && costs->first_output.size() == g->size() && costs->scratch)
      << "graph costs for " << costs->flops.size() << " nodes, graph has " << g->size();
  for (size_t n = 0; n < mirror.size(); ++n) {
    SL_CHECK(mirror[n] >= 0) << "negative mirror count for '" << g->node(static_cast<ir::NodeId>(n)).name << "'";
    if (costs->is_source[n]) mirror[n] = 0;
    SL_CHECK(mirror[n] == 0 || costs->recomputable[n])
        << "'" << g->node(static_cast<ir::NodeId>(n)).name << "' cannot be recomputed";
  }
  // Graph outputs are read after the step; they are never dropped.
  for (const auto& out : g->outputs()) mirror[out.node] = 0;
  SL_CHECK(early_at.empty() || early_at.size() == g->size())
      << "early recomputation for " << early_at.size() << " nodes, graph has " << g->size();
  for (ir::NodeId t : early_at)
    SL_CHECK(t >= -1 && t < static_cast<ir::NodeId>(g->size())) << "early recomputation before node " << t;
  for (size_t v = 0; v < early_at.size(); ++v)
    if (mirror[v] == 0) early_at[v] = -1;  // kept: nothing to recompute
  BuildScratch& s = *costs->scratch;
  Plan plan;
  plan.policy = std::move(policy);
  plan.options = opts;
  plan.graph = g;
  plan.mirror = std::move(mirror);
  plan.early_at = std::move(early_at);
  Builder(*g, plan.mirror, plan.early_at, plan, *costs, s).run();
  if (std::all_of(plan.early_at.begin(), plan.early_at.end(), [](ir::NodeId t) { return t < 0; }))
    plan.early_at.clear();
  plan.input_bytes = costs->input_bytes;
  plan.parameter_bytes = costs->parameter_bytes;
  plan.gradient_bytes = costs->trainable_bytes;
  const int64_t state_factor = opts.optimizer == Optimizer::Sgd ? 0 : opts.optimizer == Optimizer::Momentum ? 1 : 2;
  plan.optimizer_state_bytes = state_factor * plan.gradient_bytes;
  for (int64_t w : s.step_workspace) plan.workspace_bytes = std::max(plan.workspace_bytes, w);
  std::function<bool(int64_t)> place;
  if (place_if && *place_if) {
    const int64_t others = plan.total_peak_bytes() - plan.feature_map_peak_bytes;
    // `others` by value: it goes out of scope before assign_storage calls this.
    place = [others, place_if, &plan](int64_t live_peak) { return (*place_if)(others + live_peak, plan.recompute_cost); };
  }
  const bool was_placed = assign_storage(*costs, s, plan, place);
  if (placed) *placed = was_placed;
  if (live_by_step) {  // assign_storage's per-step deltas
    live_by_step->assign(s.step_kind.size(), 0);
    int64_t live = 0;
    for (size_t i = 0; i < live_by_step->size(); ++i) (*live_by_step)[i] = live += s.delta[i];
  }
  if (!lean) fill_plan(*g, s, plan);
  plan.plan_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return plan;
}

}  // namespace

Plan build_plan(std::shared_ptr<const ir::Graph> g, std::vector<int32_t> mirror, const PlanOptions& opts,
                std::string policy, std::vector<ir::NodeId> early_at) {
  return build(std::move(g), std::move(mirror), std::move(early_at), opts, std::move(policy), nullptr, false,
               nullptr, nullptr, nullptr);
}

Plan build_plan_figures(std::shared_ptr<const ir::Graph> g, std::vector<int32_t> mirror, const PlanOptions& opts,
                        const GraphCosts& costs, const PlaceIf& place_if, bool* placed,
                        std::vector<ir::NodeId> early_at, std::vector<int64_t>* live_by_step) {
  return build(std::move(g), std::move(mirror), std::move(early_at), opts, "figures", &costs, true, &place_if,
               placed, live_by_step);
}

}  // namespace sublinear::planner
