#include "codegen/program_support.h"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "codegen/cpp_text.h"
#include "codegen/plan_digest.h"
#include "ir/op_registry.h"
#include "planner/arena_allocator.h"
#include "runtime/cpu/cpu_kernels.h"
#include "runtime/param_init.h"

namespace sublinear::codegen::support {

namespace {

std::vector<float> zeroed_floats(const ir::TensorType& t) {
  // Sized in floats so every buffer is float-aligned whatever its dtype (as the executor's).
  return std::vector<float>(static_cast<size_t>((t.bytes() + 3) / 4), 0.0f);
}

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
  m += ". Compile a trainer for this experiment: sublinear compile <experiment.yaml> -o <trainer>";
  throw std::runtime_error(m);
}

ProgramBase::ProgramBase(std::shared_ptr<const planner::Plan> plan, const ProgramTables& tables,
                         std::vector<ir::TensorType> types, uint64_t seed)
    : plan_(std::move(plan)), tables_(tables), types_(std::move(types)), graph_(rebuild_graph(tables, types_)),
      seed_(seed) {
  check_rebuilt(graph_, *plan_->graph);
  if (tables.arena_bytes > 0) {
    constexpr int64_t kPage = 4096;
    const size_t alloc = static_cast<size_t>(planner::align_up(tables.arena_bytes, kPage));
    arena_ = static_cast<char*>(std::aligned_alloc(kPage, alloc));
    if (arena_ == nullptr)
      throw std::runtime_error(
          cat("cannot allocate the ", std::to_string(tables.arena_bytes), "-byte feature-map arena"));
  }
  workspace_.resize(static_cast<size_t>(tables.workspace_bytes));
  for (ir::NodeId id : graph_.inputs()) input_storage_.push_back(zeroed_floats(graph_.node(id).outputs[0]));
  for (size_t i = 0; i < input_storage_.size(); ++i)
    inputs_.push_back(runtime::Tensor{input_storage_[i].data(), graph_.node(graph_.inputs()[i]).outputs[0]});
  const std::vector<ir::NodeId> ids = graph_.params();
  if (ids.size() != tables.params.size()) throw std::runtime_error("the trainer's parameter table is inconsistent");
  param_storage_.resize(ids.size());
  grad_storage_.resize(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    const ir::Node& n = graph_.node(ids[i]);
    param_storage_[i] = zeroed_floats(n.outputs[0]);
    runtime::ParamBuffer b;
    b.node = n.id;
    b.name = n.name;
    b.type = n.outputs[0];
    b.trainable = n.attrs.get_bool("trainable") && n.outputs[0].dtype == ir::DType::F32;
    b.has_grad = tables.params[i].has_grad;
    b.data = param_storage_[i].data();
    if (b.trainable) {
      grad_storage_[i] = zeroed_floats(n.outputs[0]);
      b.grad = grad_storage_[i].data();
    }
    params_.push_back(std::move(b));
  }
}

ProgramBase::~ProgramBase() { std::free(arena_); }

void ProgramBase::init_params() {
  for (size_t i = 0; i < params_.size(); ++i)
    runtime::init_param(graph_.node(params_[i].node), seed_, static_cast<int64_t>(i), params_[i].data);
}

void ProgramBase::apply_optimizer(const runtime::train::OptimizerConfig& c, double lr, int64_t step) {
  opt_.apply(params_, c, lr, step);
}

void ProgramBase::save_state(runtime::train::CheckpointContents& c) { opt_.save(params_, c); }

void ProgramBase::load_state(const runtime::train::CheckpointContents& c) { opt_.load(params_, c); }

void Kernel::forward(const runtime::OpCall& call) const { k_->forward(call); }

void Kernel::backward(const runtime::OpCall& call) const { k_->backward(call); }

Kernel ProgramBase::kernel(const char* op, bool backward) {
  const runtime::OpKernels& k = runtime::cpu::cpu_kernels().get(op);
  if (backward && !k.backward) throw std::runtime_error(cat("op '", op, "' has no backward kernel"));
  return Kernel(k);
}

const runtime::OpCall& ProgramBase::compute(ir::NodeId node, runtime::Mode mode, int64_t iteration,
                                            std::span<const Ref> in, std::span<const Ref> out) {
  begin(node, mode, iteration);
  fill(call_.in, in);
  fill(call_.out, out);
  return call_;
}

const runtime::OpCall& ProgramBase::gradient(ir::NodeId node, int64_t iteration, std::span<const Ref> in,
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

void ProgramBase::begin(ir::NodeId node, runtime::Mode mode, int64_t iteration) {
  call_.node = &graph_.node(node);
  call_.dy.clear();
  call_.dx.clear();
  call_.dx_accumulate.clear();
  call_.mode = mode;
  call_.seed = seed_;
  call_.iteration = iteration;
  call_.workspace = workspace_.empty() ? nullptr : workspace_.data();
  call_.workspace_bytes = static_cast<int64_t>(workspace_.size());
}

void ProgramBase::fill(std::vector<runtime::Tensor>& dst, std::span<const Ref> refs) {
  // Element-wise copies, so the call's shape vectors keep their capacity from step to step.
  dst.resize(refs.size());
  size_t i = 0;
  for (const Ref& r : refs) {
    runtime::Tensor& t = dst[i++];
    const auto at = static_cast<size_t>(r.at);
    switch (r.kind) {
      case RefKind::Arena: {
        const ir::TensorType& type = types_[static_cast<size_t>(r.type)];
        t.data = arena_ + r.at;
        t.type = type;
        arena_peak_ = std::max(arena_peak_, planner::align_up(r.at + type.bytes(), tables_.alignment));
        break;
      }
      case RefKind::Input:
        t.data = input_storage_[at].data();
        t.type = inputs_[at].type;
        break;
      case RefKind::Param:
        t.data = params_[at].data;
        t.type = params_[at].type;
        break;
      case RefKind::Grad:
        t.data = params_[at].grad;
        t.type = params_[at].type;
        break;
      case RefKind::Absent:
        t.data = nullptr;
        t.type = types_[static_cast<size_t>(r.type)];
        break;
      case RefKind::LossSeed:
        t.data = &loss_seed_;
        t.type = types_[static_cast<size_t>(r.type)];
        break;
    }
  }
}

runtime::Tensor ProgramBase::output(size_t index) const {
  if (index >= tables_.outputs.size())
    throw std::out_of_range(cat("output ", std::to_string(index), " of ", std::to_string(tables_.outputs.size())));
  const OutputRow& o = tables_.outputs[index];
  const ir::TensorType& type = types_[static_cast<size_t>(o.type)];
  const auto at = static_cast<size_t>(o.at);
  switch (o.place) {
    case Place::Arena: return runtime::Tensor{arena_ + o.at, type};
    case Place::Input: return runtime::Tensor{const_cast<float*>(input_storage_[at].data()), type};
    case Place::Param: return runtime::Tensor{params_[at].data, type};
  }
  return {};
}

float ProgramBase::scalar(size_t index) const {
  const runtime::Tensor t = output(index);
  if (t.type.dtype != ir::DType::F32 || t.numel() != 1)
    throw std::runtime_error(cat("output ", std::to_string(index), " is ", t.type.str(), ", not an f32 scalar"));
  return *t.f32();
}

}  // namespace sublinear::codegen::support
