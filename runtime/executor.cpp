#include "runtime/executor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "ir/check.h"
#include "ir/op_registry.h"
#include "planner/arena_allocator.h"
#include "runtime/param_init.h"

namespace sublinear::runtime {

using planner::PlanStep;
using planner::PlanValue;
using planner::StepKind;
using planner::ValueId;
using planner::ValueKind;

namespace {

constexpr unsigned char kCanary = 0xA5;
constexpr int64_t kPage = 4096;

std::vector<float> zeroed_floats(const ir::TensorType& t) {
  // Sized in floats so every buffer is float-aligned whatever its dtype.
  return std::vector<float>(static_cast<size_t>((t.bytes() + 3) / 4), 0.0f);
}

}  // namespace

Executor::Executor(std::shared_ptr<const planner::Plan> plan, const KernelTable& kernels, ExecutorOptions opts)
    : plan_(std::move(plan)), kernels_(kernels), opts_(opts) {
  SL_CHECK(plan_ && plan_->graph) << "executor given no plan";
  const ir::Graph& g = *plan_->graph;
  const planner::Plan& p = *plan_;

  // Every op the plan runs must have kernels here: fail before allocating anything.
  for (const auto& s : p.steps) {
    const ir::Node& n = g.node(s.node);
    const OpKernels& k = kernels_.get(n.op);
    SL_CHECK(s.kind != StepKind::Backward || k.backward) << "op '" << n.op << "' has no backward kernel";
  }

  arena_bytes_ = p.feature_map_peak_bytes;
  if (arena_bytes_ > 0) {
    const size_t alloc = static_cast<size_t>(planner::align_up(arena_bytes_, kPage));
    arena_ = static_cast<char*>(std::aligned_alloc(kPage, alloc));
    SL_CHECK(arena_ != nullptr) << "cannot allocate the " << arena_bytes_ << "-byte feature-map arena";
  }
  int64_t ws = 0;
  for (const auto& s : p.steps) ws = std::max(ws, s.workspace_bytes);
  workspace_.resize(static_cast<size_t>(ws));

  std::vector<int> input_index(g.size(), -1), param_index(g.size(), -1);
  for (ir::NodeId id : g.inputs()) {
    input_index[id] = static_cast<int>(input_storage_.size());
    input_storage_.push_back(zeroed_floats(g.node(id).outputs[0]));
    persistent_bytes_ += g.node(id).outputs[0].bytes();
  }
  for (size_t i = 0; i < input_storage_.size(); ++i) {
    const ir::Node& n = g.node(g.inputs()[i]);
    inputs_.push_back(Tensor{input_storage_[i].data(), n.outputs[0]});
  }
  std::vector<char> param_has_grad(g.size(), 0);
  for (const auto& v : p.values)
    if (v.kind == ValueKind::ParamGrad) param_has_grad[v.source.node] = 1;
  for (ir::NodeId id : g.params()) {
    const ir::Node& n = g.node(id);
    param_index[id] = static_cast<int>(param_storage_.size());
    param_storage_.push_back(zeroed_floats(n.outputs[0]));
    persistent_bytes_ += n.outputs[0].bytes();
    ParamBuffer b;
    b.node = id;
    b.name = n.name;
    b.type = n.outputs[0];
    b.trainable = n.attrs.get_bool("trainable") && n.outputs[0].dtype == ir::DType::F32;
    b.has_grad = param_has_grad[id] != 0;
    params_.push_back(b);
  }
  grad_storage_.resize(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    params_[i].data = param_storage_[i].data();
    if (params_[i].trainable) {
      grad_storage_[i] = zeroed_floats(params_[i].type);
      params_[i].grad = grad_storage_[i].data();
      persistent_bytes_ += params_[i].type.bytes();
    }
  }

  value_ptr_.assign(p.values.size(), nullptr);
  for (const PlanValue& v : p.values) {
    switch (v.kind) {
      case ValueKind::Input:
        value_ptr_[v.id] = input_storage_[input_index[v.source.node]].data();
        break;
      case ValueKind::Param:
        value_ptr_[v.id] = param_storage_[param_index[v.source.node]].data();
        break;
      case ValueKind::ParamGrad: {
        const int pi = param_index[v.source.node];
        SL_CHECK(pi >= 0 && params_[pi].grad) << "gradient of '" << v.name << "' has no buffer";
        value_ptr_[v.id] = params_[pi].grad;
        break;
      }
      case ValueKind::Activation:
      case ValueKind::Gradient: {
        SL_CHECK(v.storage >= 0) << "arena value '" << v.name << "' has no storage";
        const planner::Storage& st = p.storages[v.storage];
        SL_CHECK(st.offset >= 0 && st.offset + v.bytes <= arena_bytes_)
            << "value '" << v.name << "' at " << st.offset << "+" << v.bytes << " lies outside the "
            << arena_bytes_ << "-byte arena";
        value_ptr_[v.id] = arena_ + st.offset;
        break;
      }
    }
  }
  for (const auto& out : g.outputs()) {
    ValueId found = -1;
    for (const PlanValue& v : p.values)
      if (v.source == out && v.version == 0 && (v.kind == ValueKind::Activation || v.kind == ValueKind::Input ||
                                                v.kind == ValueKind::Param)) {
        found = v.id;
        break;
      }
    SL_CHECK(found >= 0) << "graph output " << g.node(out.node).name << " has no plan value";
    output_values_.push_back(found);
  }
  canary_pending_ = opts_.measure_canary && arena_bytes_ > 0;
}

Executor::~Executor() { std::free(arena_); }

void Executor::init_params() {
  for (size_t i = 0; i < params_.size(); ++i)
    init_param(plan_->graph->node(params_[i].node), opts_.seed, static_cast<int64_t>(i), params_[i].data);
}

void* Executor::value_ptr(ValueId v) const { return value_ptr_[v]; }

Tensor Executor::view(ValueId v) const { return Tensor{value_ptr_[v], plan_->values[v].type}; }

void Executor::note_view(ValueId v) {
  const PlanValue& pv = plan_->values[v];
  if (pv.kind != ValueKind::Activation && pv.kind != ValueKind::Gradient) return;
  const int64_t end = static_cast<char*>(value_ptr_[v]) - arena_ + pv.bytes;
  arena_peak_ = std::max(arena_peak_, planner::align_up(end, plan_->options.alignment));
}

void Executor::run_compute(const PlanStep& s, Mode mode, int64_t iteration) {
  const ir::Node& n = plan_->graph->node(s.node);
  SL_CHECK(s.reads.size() == n.inputs.size() && s.writes.size() == n.outputs.size())
      << "step " << s.id << " of '" << n.name << "' does not match the node's arity";
  OpCall call;
  call.node = &n;
  for (ValueId v : s.reads) call.in.push_back(view(v)), note_view(v);
  for (ValueId v : s.writes) call.out.push_back(view(v)), note_view(v);
  call.mode = mode;
  call.seed = opts_.seed;
  call.iteration = iteration;
  call.workspace = workspace_.empty() ? nullptr : workspace_.data();
  call.workspace_bytes = static_cast<int64_t>(workspace_.size());
  kernels_.get(n.op).forward(call);
}

void Executor::run_backward(const PlanStep& s, int64_t iteration) {
  const ir::Node& n = plan_->graph->node(s.node);
  const auto& deps = n.def->backward;
  OpCall call;
  call.node = &n;
  for (size_t i = 0; i < n.inputs.size(); ++i) call.in.push_back(Tensor{nullptr, plan_->graph->type(n.inputs[i])});
  for (const auto& t : n.outputs) call.out.push_back(Tensor{nullptr, t});
  for (const auto& t : n.outputs) call.dy.push_back(Tensor{nullptr, t});
  // reads = the backward's input deps, then its output deps, then the output gradients present.
  size_t r = 0;
  for (int i : deps.inputs) call.in[static_cast<size_t>(i)] = view(s.reads[r]), note_view(s.reads[r]), ++r;
  for (int k : deps.outputs) call.out[static_cast<size_t>(k)] = view(s.reads[r]), note_view(s.reads[r]), ++r;
  for (; r < s.reads.size(); ++r) {
    const PlanValue& dy = plan_->values[s.reads[r]];
    SL_CHECK(dy.source.node == n.id) << "backward step " << s.id << " reads '" << dy.name << "' as a dy";
    call.dy[static_cast<size_t>(dy.source.index)] = view(s.reads[r]);
    note_view(s.reads[r]);
  }
  // The loss is seeded with d loss / d loss = 1, from a constant outside the arena.
  const ir::ValueRef loss = plan_->graph->loss();
  if (n.id == loss.node) {
    SL_CHECK(!call.dy[static_cast<size_t>(loss.index)].present())
        << "the loss '" << n.name << "' also receives a gradient from another op";
    call.dy[static_cast<size_t>(loss.index)] = Tensor{&loss_seed_, n.outputs[static_cast<size_t>(loss.index)]};
  }
  // Input gradients: a value written by this step is overwritten by its first input, and accumulated by
  // any later input reading the same value; accumulated values are accumulated by all.
  std::vector<char> seen(s.writes.size(), 0);
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    call.dx.push_back(Tensor{nullptr, plan_->graph->type(n.inputs[i])});
    call.dx_accumulate.push_back(0);
    for (size_t w = 0; w < s.writes.size(); ++w) {
      if (!(plan_->values[s.writes[w]].source == n.inputs[i])) continue;
      call.dx[i] = view(s.writes[w]);
      call.dx_accumulate[i] = seen[w];
      seen[w] = 1;
      note_view(s.writes[w]);
    }
    for (ValueId a : s.accumulates) {
      if (!(plan_->values[a].source == n.inputs[i])) continue;
      call.dx[i] = view(a);
      call.dx_accumulate[i] = 1;
      note_view(a);
    }
  }
  call.mode = Mode::Train;
  call.seed = opts_.seed;
  call.iteration = iteration;
  call.workspace = workspace_.empty() ? nullptr : workspace_.data();
  call.workspace_bytes = static_cast<int64_t>(workspace_.size());
  kernels_.get(n.op).backward(call);
}

void Executor::run_step(int64_t iteration) {
  const bool canary = canary_pending_;
  if (canary) std::memset(arena_, kCanary, static_cast<size_t>(arena_bytes_));
  for (const PlanStep& s : plan_->steps) {
    switch (s.kind) {
      case StepKind::Forward: run_compute(s, Mode::Train, iteration); break;
      case StepKind::Recompute: run_compute(s, Mode::Recompute, iteration); break;
      case StepKind::Backward: run_backward(s, iteration); break;
    }
  }
  if (canary) {
    int64_t top = arena_bytes_;
    while (top > 0 && static_cast<unsigned char>(arena_[top - 1]) == kCanary) --top;
    canary_peak_ = top == 0 ? 0 : planner::align_up(top, plan_->options.alignment);
    canary_pending_ = false;
  }
}

void Executor::run_forward_eval() {
  for (const PlanStep& s : plan_->steps)
    if (s.kind == StepKind::Forward) run_compute(s, Mode::Eval, 0);
}

Tensor Executor::output(size_t index) const {
  SL_CHECK(index < output_values_.size()) << "output " << index << " of " << output_values_.size();
  return view(output_values_[index]);
}

float Executor::loss() const {
  Tensor t = output(0);
  SL_CHECK(t.type.dtype == ir::DType::F32 && t.numel() == 1) << "the loss is " << t.type.str() << ", not a scalar";
  return *t.f32();
}

std::string plan_fingerprint(const planner::Plan& p) {
  // FNV-1a over the schedule and the placement: equal fingerprints mean the same kernels run on the
  // same offsets.
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&h](int64_t x) {
    for (int i = 0; i < 8; ++i) {
      h ^= static_cast<uint64_t>(x >> (8 * i)) & 0xff;
      h *= 1099511628211ULL;
    }
  };
  mix(static_cast<int64_t>(p.graph->size()));
  for (const auto& s : p.steps) {
    mix(static_cast<int64_t>(s.kind));
    mix(s.node);
    for (ValueId v : s.writes) mix(p.values[v].storage >= 0 ? p.storages[p.values[v].storage].offset : -1);
  }
  std::ostringstream out;
  out << p.policy << ":" << std::hex << h;
  return out.str();
}

}  // namespace sublinear::runtime
