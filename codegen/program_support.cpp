#include "codegen/program_support.h"

#include <algorithm>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "codegen/cpp_text.h"
#include "codegen/plan_digest.h"
#include "ir/check.h"
#include "ir/op_registry.h"
#include "planner/arena_allocator.h"
#include "runtime/cpu/cpu_kernels.h"

namespace sublinear::codegen::support {

namespace {

// The rebuilt graph must be the planned one node for node: check_plan compares the handed plan with
// the compiled one, this compares the tables with the handed plan, so a table the emitter got wrong
// cannot run silently.
void check_rebuilt(const ir::Graph& rebuilt, const ir::Graph& planned) {
  auto fail = [](const std::string& what) {
    return std::logic_error(cat("the trainer's tables do not rebuild the planned graph (", what,
                                "): a sublinear compile bug"));
  };
  if (rebuilt.size() != planned.size()) throw fail("node count");
  for (size_t i = 0; i < planned.size(); ++i) {
    const ir::Node& a = rebuilt.nodes()[i];
    const ir::Node& b = planned.nodes()[i];
    const bool same_inputs = std::equal(a.inputs.begin(), a.inputs.end(), b.inputs.begin(), b.inputs.end());
    if (a.op != b.op || a.name != b.name || a.path != b.path || !same_inputs || a.outputs != b.outputs ||
        !(a.attrs == b.attrs) || a.def != b.def)
      throw fail(cat("node ", std::to_string(i), " ", b.name));
  }
  if (rebuilt.outputs().size() != planned.outputs().size() || rebuilt.output_names() != planned.output_names() ||
      !std::equal(rebuilt.outputs().begin(), rebuilt.outputs().end(), planned.outputs().begin()))
    throw fail("graph outputs");
}

}  // namespace

ir::Graph rebuild_graph(const ProgramTables& t, const std::vector<ir::TensorType>& types) {
  ir::Graph g;
  g.model_name = t.model_name;
  g.batch = t.batch;
  g.source_file = t.source_file;
  size_t in = 0, out = 0, attr = 0, ints = 0;
  auto inconsistent = [] { return std::runtime_error("the trainer's node tables are inconsistent (edited by hand?)"); };
  for (const NodeRow& row : t.nodes) {
    ir::Node n;
    n.op = row.op;
    n.name = row.name;
    n.path = row.path;
    n.span.loc = SourceLoc{row.file, row.line, row.column, row.length};
    n.rng_key = row.rng_key;
    if (in + static_cast<size_t>(row.inputs) > t.inputs.size() ||
        out + static_cast<size_t>(row.outputs) > t.output_types.size() ||
        attr + static_cast<size_t>(row.attrs) > t.attrs.size())
      throw inconsistent();
    for (int32_t k = 0; k < row.inputs; ++k, ++in) n.inputs.push_back({t.inputs[in].node, t.inputs[in].index});
    for (int32_t k = 0; k < row.outputs; ++k, ++out)
      n.outputs.push_back(types.at(static_cast<size_t>(t.output_types[out])));
    for (int32_t k = 0; k < row.attrs; ++k, ++attr) {
      const AttrRow& a = t.attrs[attr];
      switch (a.tag) {
        case AttrTag::Int: n.attrs.set(a.name, a.i); break;
        case AttrTag::Float: n.attrs.set(a.name, a.f); break;
        case AttrTag::Bool: n.attrs.set(a.name, a.b); break;
        case AttrTag::String: n.attrs.set(a.name, std::string(a.s)); break;
        case AttrTag::Ints: {
          const auto count = static_cast<size_t>(a.i);
          if (ints + count > t.ints.size()) throw inconsistent();
          n.attrs.set(a.name, std::vector<int64_t>(t.ints.begin() + static_cast<std::ptrdiff_t>(ints),
                                                   t.ints.begin() + static_cast<std::ptrdiff_t>(ints + count)));
          ints += count;
          break;
        }
      }
    }
    if (ir::OpRegistry::global().find(n.op) == nullptr)
      throw std::runtime_error(cat("this trainer was compiled with op '", n.op, "', which its runtime does not know"));
    g.add_node(std::move(n));
  }
  if (in != t.inputs.size() || out != t.output_types.size() || attr != t.attrs.size() || ints != t.ints.size())
    throw inconsistent();
  for (const GraphOutputRow& o : t.graph_outputs) g.add_output({o.node, o.index}, o.name);
  return g;
}

void check_plan(const planner::Plan& plan, const CompiledFor& c) {
  if (executor_fingerprint(plan) == c.fingerprint && plan_digest(plan) == c.digest) return;
  const std::string asked = describe_plan(plan);
  std::string m = cat("this trainer was compiled for ", c.description, "; the experiment asks for ");
  if (asked == c.description)
    m += "the same model, batch and policy but a different graph or memory plan (model params or memory options "
         "changed)";
  else
    m += asked;
  m += ". Compile a trainer for this experiment: sublinear compile <experiment.yaml> -o <trainer> (with "
       "--workers K for a run under mpirun -np K, where each worker plans batch / K)";
  throw std::runtime_error(m);
}

ScheduleBase::ScheduleBase(const planner::Plan& plan, const runtime::KernelTable& kernels,
                           const ProgramTables& tables, std::vector<ir::TensorType> types, uint64_t seed)
    : kernels_(kernels), tables_(tables), types_(std::move(types)), graph_(rebuild_graph(tables, types_)),
      seed_(seed) {
  check_rebuilt(graph_, *plan.graph);
  auto fail = [](const std::string& what) {
    return std::logic_error(cat("the trainer's tables do not match the plan (", what, "): a sublinear compile bug"));
  };
  if (tables.arena_bytes != plan.feature_map_peak_bytes) throw fail("arena size");
  const std::vector<runtime::ParamBuffer> params = runtime::describe_params(plan);
  if (params.size() != tables.params.size()) throw fail("parameter count");
  for (size_t i = 0; i < params.size(); ++i)
    if (tables.params[i].node != params[i].node || tables.params[i].has_grad != params[i].has_grad)
      throw fail(cat("parameter ", std::to_string(i)));
  for (ir::NodeId id : graph_.inputs()) input_types_.push_back(graph_.node(id).outputs[0]);
}

void ScheduleBase::run(const runtime::ProgramBuffers& buffers, int64_t iteration) {
  SL_CHECK(buffers.arena_bytes == tables_.arena_bytes && buffers.workspace_bytes >= tables_.workspace_bytes &&
           buffers.inputs.size() == input_types_.size() && buffers.params.size() == tables_.params.size())
      << "a compiled schedule handed buffers of another plan";
  buffers_ = &buffers;
  step_ = 0;
  run_steps(iteration);
  if (step_seconds_ && step_ > 0) {
    SL_CHECK(step_ == step_seconds_->size()) << "a compiled schedule made " << step_ << " calls for "
                                             << step_seconds_->size() << " plan steps";
    (*step_seconds_)[step_ - 1] = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  }
  buffers_ = nullptr;
}

void Kernel::forward(const runtime::OpCall& call) const { k_->forward(call); }

void Kernel::backward(const runtime::OpCall& call) const { k_->backward(call); }

Kernel ScheduleBase::kernel(const char* op, bool backward) const {
  const runtime::OpKernels& k = kernels_.get(op);
  if (backward && !k.backward) throw std::runtime_error(cat("op '", op, "' has no backward kernel"));
  return Kernel(k);
}

const runtime::OpCall& ScheduleBase::compute(ir::NodeId node, runtime::Mode mode, int64_t iteration,
                                             std::span<const Ref> in, std::span<const Ref> out) {
  begin(node, mode, iteration);
  fill(call_.in, in);
  fill(call_.out, out);
  return call_;
}

const runtime::OpCall& ScheduleBase::gradient(ir::NodeId node, int64_t iteration, std::span<const Ref> in,
                                              std::span<const Ref> out, std::span<const Ref> dy,
                                              std::span<const Ref> dx, std::span<const bool> dx_accumulate) {
  begin(node, runtime::Mode::Train, iteration);
  fill(call_.in, in);
  fill(call_.out, out);
  fill(call_.dy, dy);
  fill(call_.dx, dx);
  call_.dx_accumulate.assign(dx_accumulate.begin(), dx_accumulate.end());
  return call_;
}

void ScheduleBase::begin(ir::NodeId node, runtime::Mode mode, int64_t iteration) {
  if (step_seconds_) {
    const auto now = std::chrono::steady_clock::now();
    SL_CHECK(step_ < step_seconds_->size()) << "a compiled schedule made more calls than its plan has steps";
    if (step_ > 0) (*step_seconds_)[step_ - 1] = std::chrono::duration<double>(now - started_).count();
    started_ = now;
  }
  ++step_;
  call_.node = &graph_.node(node);
  call_.dy.clear();
  call_.dx.clear();
  call_.dx_accumulate.clear();
  call_.mode = mode;
  call_.seed = seed_;
  call_.iteration = iteration;
  call_.workspace = buffers_->workspace;
  call_.workspace_bytes = buffers_->workspace_bytes;
}

void ScheduleBase::fill(std::vector<runtime::Tensor>& dst, std::span<const Ref> refs) {
  // Element-wise copies, so the call's shape vectors keep their capacity from step to step.
  const runtime::ProgramBuffers& b = *buffers_;
  dst.resize(refs.size());
  size_t i = 0;
  for (const Ref& r : refs) {
    runtime::Tensor& t = dst[i++];
    const auto at = static_cast<size_t>(r.at);
    switch (r.kind) {
      case RefKind::Arena: {
        const ir::TensorType& type = types_[static_cast<size_t>(r.type)];
        t.data = b.arena + r.at;
        t.type = type;
        arena_peak_ = std::max(arena_peak_, planner::align_up(r.at + type.bytes(), tables_.alignment));
        break;
      }
      case RefKind::Input:
        t.data = b.inputs[at];
        t.type = input_types_[at];
        break;
      case RefKind::Param:
        t.data = b.params[at].data;
        t.type = b.params[at].type;
        break;
      case RefKind::Grad:
        t.data = b.params[at].grad;
        t.type = b.params[at].type;
        break;
      case RefKind::Absent:
        t.data = nullptr;
        t.type = types_[static_cast<size_t>(r.type)];
        break;
      case RefKind::LossSeed:
        t.data = b.loss_seed;
        t.type = types_[static_cast<size_t>(r.type)];
        break;
    }
  }
}

std::unique_ptr<runtime::train::TrainingProgram> cpu_program(std::shared_ptr<const planner::Plan> plan, uint64_t seed,
                                                             const runtime::ScheduleMaker& schedule) {
  runtime::ExecutorOptions o;
  o.seed = seed;
  o.schedule = schedule;
  return std::make_unique<runtime::train::ExecutorProgram>(std::move(plan), runtime::cpu::cpu_kernels(), o);
}

}  // namespace sublinear::codegen::support
