#include "codegen/emit_schedule.h"

#include <algorithm>
#include <vector>

#include "codegen/plan_digest.h"
#include "ir/check.h"
#include "ir/op_registry.h"

namespace sublinear::codegen {

using planner::PlanStep;
using planner::PlanValue;
using planner::StepKind;
using planner::ValueId;
using planner::ValueKind;

namespace {

class StepEmitter {
 public:
  StepEmitter(const planner::Plan& plan, const TypeTable& types)
      : plan_(plan), g_(*plan.graph), types_(types), index_(index_graph(g_)) {}

  // The view expression of plan value `v`.
  std::string view(ValueId v) {
    const PlanValue& pv = plan_.values[static_cast<size_t>(v)];
    const ir::TensorType& source_type = g_.type(pv.source);
    SL_CHECK(pv.type == source_type) << "value '" << pv.name << "' is " << pv.type.str() << " but its source is "
                                     << source_type.str();
    const auto node = static_cast<size_t>(pv.source.node);
    switch (pv.kind) {
      case ValueKind::Input: return cat("input(", std::to_string(index_.input[node]), ")");
      case ValueKind::Param: return cat("param(", std::to_string(index_.param[node]), ")");
      case ValueKind::ParamGrad: {
        const ir::Node& p = g_.node(pv.source.node);
        SL_CHECK(p.attrs.get_bool("trainable") && p.outputs[0].dtype == ir::DType::F32)
            << "gradient of '" << pv.name << "' has no buffer";
        return cat("grad(", std::to_string(index_.param[node]), ")");
      }
      case ValueKind::Activation:
      case ValueKind::Gradient: break;
    }
    SL_CHECK(pv.storage >= 0) << "arena value '" << pv.name << "' has no storage";
    const int64_t offset = storage_offset(plan_, v);
    SL_CHECK(offset >= 0 && offset + pv.bytes <= plan_.feature_map_peak_bytes)
        << "value '" << pv.name << "' at " << offset << "+" << pv.bytes << " lies outside the "
        << plan_.feature_map_peak_bytes << "-byte arena";
    SL_CHECK(pv.bytes == pv.type.bytes()) << "value '" << pv.name << "' is " << pv.bytes << " bytes, its type "
                                          << pv.type.bytes();
    return cat("fm(arena + ", std::to_string(offset), ", ", types_.name_of(pv.type), ")");
  }

  std::string absent(const ir::TensorType& t) const { return cat("absent(", types_.name_of(t), ")"); }

  // One call: a block declaring the non-empty argument lists as static constant arrays (an empty one is
  // passed as {}), then the kernel call naming them.
  struct ArgList {
    const char* name;
    const char* element;
    std::vector<std::string> items;
  };
  static void call(CodeWriter& w, const std::string& head, const std::vector<ArgList>& lists) {
    w.open("{");
    std::string args;
    for (const auto& l : lists) {
      args += cat(", ", l.items.empty() ? "{}" : l.name);
      if (l.items.empty()) continue;
      std::vector<std::string> items = l.items;
      items.front() = cat("{", items.front());
      w.wrapped(cat("static constexpr ", l.element, " ", l.name, "[] = "), items, "};");
    }
    w.line(cat(head, args, "));"));
    w.close("}");
  }

  void comment(CodeWriter& w, const PlanStep& s) const {
    const ir::Node& n = g_.node(s.node);
    std::string head = cat("step ", std::to_string(s.id), " ", planner::step_kind_name(s.kind), ": node ",
                           std::to_string(n.id), " ", n.op);
    if (n.name != n.path) head += cat(" \"", n.name, "\"");
    w.line(cat("// ", comment_text(cat(head, ", path ", n.path))));
    std::string where = cat("at ", n.span.loc.str());
    if (n.span.frames && !n.span.frames->empty()) {
      where += ", expanded from";
      const char* sep = " ";
      for (const auto& f : *n.span.frames) {
        where += cat(sep, f.label, " at ", f.call_site.str());
        sep = ", ";
      }
    }
    w.line(cat("//   ", comment_text(where)));
  }

  void compute(CodeWriter& w, const PlanStep& s, const char* mode) {
    const ir::Node& n = g_.node(s.node);
    SL_CHECK(s.reads.size() == n.inputs.size() && s.writes.size() == n.outputs.size())
        << "step " << s.id << " of '" << n.name << "' does not match the node's arity";
    std::vector<std::string> in, out;
    for (ValueId v : s.reads) in.push_back(view(v));
    for (ValueId v : s.writes) out.push_back(view(v));
    call(w, cat(kernel_member(n.op), ".forward(compute(", std::to_string(n.id), ", ", mode, ", iteration"),
         {{"in", "Ref", in}, {"out", "Ref", out}});
  }

  void backward(CodeWriter& w, const PlanStep& s) {
    const ir::Node& n = g_.node(s.node);
    const auto& deps = n.def->backward;
    std::vector<std::string> in, out, dy, dx, acc;
    for (const auto& v : n.inputs) in.push_back(absent(g_.type(v)));
    for (const auto& t : n.outputs) out.push_back(absent(t));
    for (const auto& t : n.outputs) dy.push_back(absent(t));
    // reads = the backward's input deps, then its output deps, then the output gradients present.
    size_t r = 0;
    for (int i : deps.inputs) {
      if (static_cast<size_t>(i) >= n.inputs.size()) continue;  // a parameter the attributes left out
      SL_CHECK(r < s.reads.size()) << "backward step " << s.id << " reads too few values";
      in[static_cast<size_t>(i)] = view(s.reads[r++]);
    }
    for (int k : deps.outputs) {
      SL_CHECK(r < s.reads.size()) << "backward step " << s.id << " reads too few values";
      out[static_cast<size_t>(k)] = view(s.reads[r++]);
    }
    for (; r < s.reads.size(); ++r) {
      const PlanValue& d = plan_.values[static_cast<size_t>(s.reads[r])];
      SL_CHECK(d.source.node == n.id) << "backward step " << s.id << " reads '" << d.name << "' as a dy";
      dy[static_cast<size_t>(d.source.index)] = view(s.reads[r]);
    }
    const ir::ValueRef loss = g_.loss();
    if (n.id == loss.node) {
      SL_CHECK(dy[static_cast<size_t>(loss.index)].starts_with("absent("))
          << "the loss '" << n.name << "' also receives a gradient from another op";
      const ir::TensorType& t = n.outputs[static_cast<size_t>(loss.index)];
      dy[static_cast<size_t>(loss.index)] = cat("loss_seed(", types_.name_of(t), ")");
    }
    std::vector<char> seen(s.writes.size(), 0);
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      std::string d = absent(g_.type(n.inputs[i]));
      bool a = false;
      for (size_t k = 0; k < s.writes.size(); ++k) {
        if (!(plan_.values[static_cast<size_t>(s.writes[k])].source == n.inputs[i])) continue;
        d = view(s.writes[k]);
        a = seen[k] != 0;
        seen[k] = 1;
      }
      for (ValueId v : s.accumulates) {
        if (!(plan_.values[static_cast<size_t>(v)].source == n.inputs[i])) continue;
        d = view(v);
        a = true;
      }
      dx.push_back(d);
      acc.push_back(a ? "true" : "false");
    }
    call(w, cat(kernel_member(n.op), ".backward(gradient(", std::to_string(n.id), ", iteration"),
         {{"in", "Ref", in},
          {"out", "Ref", out},
          {"dy", "Ref", dy},
          {"dx", "Ref", dx},
          {"dx_accumulate", "bool", acc}});
  }

  void step(CodeWriter& w, const PlanStep& s) {
    comment(w, s);
    switch (s.kind) {
      case StepKind::Forward: compute(w, s, "Mode::Train"); break;
      case StepKind::Recompute: compute(w, s, "Mode::Recompute"); break;
      case StepKind::Backward: backward(w, s); break;
    }
  }

 private:
  const planner::Plan& plan_;
  const ir::Graph& g_;
  const TypeTable& types_;
  GraphIndex index_;
};

}  // namespace

std::map<std::string, bool> scheduled_ops(const planner::Plan& plan) {
  std::map<std::string, bool> ops;
  for (const auto& s : plan.steps) ops[plan.graph->node(s.node).op] |= s.kind == StepKind::Backward;
  return ops;
}

std::string kernel_member(const std::string& op) { return cat("k_", identifier(op)); }

int chunk_count(const planner::Plan& plan, int chunk_steps) {
  const auto n = static_cast<int64_t>(plan.steps.size());
  return static_cast<int>(std::max<int64_t>(1, (n + chunk_steps - 1) / chunk_steps));
}

void emit_schedule(CodeWriter& w, const planner::Plan& plan, const TypeTable& types, const std::string& class_name,
                   int chunk_steps) {
  StepEmitter e(plan, types);
  const int chunks = chunk_count(plan, chunk_steps);
  for (int c = 0; c < chunks; ++c) {
    const size_t begin = static_cast<size_t>(c) * static_cast<size_t>(chunk_steps);
    const size_t end = std::min(plan.steps.size(), begin + static_cast<size_t>(chunk_steps));
    CodeWriter body(1);
    for (size_t i = begin; i < end; ++i) {
      if (i > begin) body.line();
      e.step(body, plan.steps[i]);
    }
    if (c > 0) w.line();
    w.line(cat("// Steps ", std::to_string(begin), " to ", std::to_string(end == 0 ? 0 : end - 1), "."));
    w.open(cat("void ", class_name, "::run_steps_", std::to_string(c), "(int64_t iteration) {"));
    if (end == begin) w.line("(void)iteration;");
    w.raw(body.str());
    w.close("}");
  }
}

}  // namespace sublinear::codegen
