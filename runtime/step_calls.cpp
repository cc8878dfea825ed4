#include "runtime/step_calls.h"

#include <algorithm>

#include "ir/check.h"
#include "ir/op_registry.h"
#include "planner/arena_allocator.h"

namespace sublinear::runtime {

using planner::PlanStep;
using planner::PlanValue;
using planner::StepKind;
using planner::ValueId;
using planner::ValueKind;

std::vector<void*> resolve_value_pointers(const planner::Plan& p, const ProgramBuffers& b) {
  const ir::Graph& g = *p.graph;
  std::vector<int> input_index(g.size(), -1), param_index(g.size(), -1);
  for (size_t i = 0; i < g.inputs().size(); ++i) input_index[g.inputs()[i]] = static_cast<int>(i);
  for (size_t i = 0; i < b.params.size(); ++i) param_index[b.params[i].node] = static_cast<int>(i);
  SL_CHECK(b.inputs.size() == g.inputs().size() && b.params.size() == g.params().size())
      << "buffers for " << b.inputs.size() << " inputs and " << b.params.size() << " parameters, the graph has "
      << g.inputs().size() << " and " << g.params().size();

  std::vector<void*> ptr(p.values.size(), nullptr);
  for (const PlanValue& v : p.values) {
    switch (v.kind) {
      case ValueKind::Input: ptr[v.id] = b.inputs[input_index[v.source.node]]; break;
      case ValueKind::Param: ptr[v.id] = b.params[param_index[v.source.node]].data; break;
      case ValueKind::ParamGrad: {
        const int pi = param_index[v.source.node];
        SL_CHECK(pi >= 0 && b.params[pi].grad) << "gradient of '" << v.name << "' has no buffer";
        ptr[v.id] = b.params[pi].grad;
        break;
      }
      case ValueKind::Activation:
      case ValueKind::Gradient: {
        SL_CHECK(v.storage >= 0) << "arena value '" << v.name << "' has no storage";
        const planner::Storage& st = p.storages[v.storage];
        SL_CHECK(st.offset >= 0 && st.offset + v.bytes <= b.arena_bytes)
            << "value '" << v.name << "' at " << st.offset << "+" << v.bytes << " lies outside the " << b.arena_bytes
            << "-byte arena";
        ptr[v.id] = b.arena + st.offset;
        break;
      }
    }
  }
  return ptr;
}

std::vector<ValueId> graph_output_values(const planner::Plan& p) {
  const ir::Graph& g = *p.graph;
  std::vector<ValueId> out;
  for (const auto& o : g.outputs()) {
    ValueId found = -1;
    for (const PlanValue& v : p.values)
      if (v.source == o && v.version == 0 &&
          (v.kind == ValueKind::Activation || v.kind == ValueKind::Input || v.kind == ValueKind::Param)) {
        found = v.id;
        break;
      }
    SL_CHECK(found >= 0) << "graph output " << g.node(o.node).name << " has no plan value";
    out.push_back(found);
  }
  return out;
}

StepCalls build_step_calls(const planner::Plan& p, const KernelTable& kernels, const ProgramBuffers& b,
                           const std::vector<void*>& value_ptr, uint64_t seed) {
  const ir::Graph& g = *p.graph;
  StepCalls out;
  auto view = [&](ValueId v) { return Tensor{value_ptr[v], p.values[v].type}; };
  auto note = [&](ValueId v) {
    const PlanValue& pv = p.values[v];
    if (pv.kind != ValueKind::Activation && pv.kind != ValueKind::Gradient) return;
    const int64_t end = static_cast<char*>(value_ptr[v]) - b.arena + pv.bytes;
    out.arena_peak = std::max(out.arena_peak, planner::align_up(end, p.options.alignment));
  };

  const ir::ValueRef loss = g.loss();
  out.steps.reserve(p.steps.size());
  for (const PlanStep& s : p.steps) {
    const ir::Node& n = g.node(s.node);
    const OpKernels& k = kernels.get(n.op);
    SL_CHECK(s.kind != StepKind::Backward || k.backward) << "op '" << n.op << "' has no backward kernel";
    StepCall step;
    step.fn = s.kind == StepKind::Backward ? &k.backward : &k.forward;
    step.kind = s.kind;
    OpCall& call = step.call;
    call.node = &n;
    call.seed = seed;
    call.workspace = b.workspace;
    call.workspace_bytes = b.workspace_bytes;
    if (s.kind != StepKind::Backward) {
      SL_CHECK(s.reads.size() == n.inputs.size() && s.writes.size() == n.outputs.size())
          << "step " << s.id << " of '" << n.name << "' does not match the node's arity";
      for (ValueId v : s.reads) call.in.push_back(view(v)), note(v);
      for (ValueId v : s.writes) call.out.push_back(view(v)), note(v);
      call.mode = s.kind == StepKind::Forward ? Mode::Train : Mode::Recompute;
      out.steps.push_back(std::move(step));
      continue;
    }
    const auto& deps = n.def->backward;
    for (size_t i = 0; i < n.inputs.size(); ++i) call.in.push_back(Tensor{nullptr, g.type(n.inputs[i])});
    for (const auto& t : n.outputs) call.out.push_back(Tensor{nullptr, t});
    for (const auto& t : n.outputs) call.dy.push_back(Tensor{nullptr, t});
    size_t r = 0;
    for (int i : deps.inputs) {
      if (static_cast<size_t>(i) >= n.inputs.size()) continue;  // a parameter the attributes left out
      SL_CHECK(r < s.reads.size()) << "backward step " << s.id << " reads too few values";
      call.in[static_cast<size_t>(i)] = view(s.reads[r]), note(s.reads[r]), ++r;
    }
    for (int o : deps.outputs) {
      SL_CHECK(r < s.reads.size()) << "backward step " << s.id << " reads too few values";
      call.out[static_cast<size_t>(o)] = view(s.reads[r]), note(s.reads[r]), ++r;
    }
    for (; r < s.reads.size(); ++r) {
      const PlanValue& dy = p.values[s.reads[r]];
      SL_CHECK(dy.source.node == n.id) << "backward step " << s.id << " reads '" << dy.name << "' as a dy";
      call.dy[static_cast<size_t>(dy.source.index)] = view(s.reads[r]);
      note(s.reads[r]);
    }
    if (n.id == loss.node) {
      SL_CHECK(!call.dy[static_cast<size_t>(loss.index)].present())
          << "the loss '" << n.name << "' also receives a gradient from another op";
      call.dy[static_cast<size_t>(loss.index)] = Tensor{b.loss_seed, n.outputs[static_cast<size_t>(loss.index)]};
    }
    std::vector<char> seen(s.writes.size(), 0);
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      call.dx.push_back(Tensor{nullptr, g.type(n.inputs[i])});
      call.dx_accumulate.push_back(0);
      for (size_t w = 0; w < s.writes.size(); ++w) {
        if (!(p.values[s.writes[w]].source == n.inputs[i])) continue;
        call.dx[i] = view(s.writes[w]);
        call.dx_accumulate[i] = seen[w];
        seen[w] = 1;
        note(s.writes[w]);
      }
      for (ValueId a : s.accumulates) {
        if (!(p.values[a].source == n.inputs[i])) continue;
        call.dx[i] = view(a);
        call.dx_accumulate[i] = 1;
        note(a);
      }
    }
    call.mode = Mode::Train;
    out.steps.push_back(std::move(step));
  }
  return out;
}

}  // namespace sublinear::runtime
