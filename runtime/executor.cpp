#include "runtime/executor.h"

#include <stdexcept>
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "ir/check.h"
#include "planner/arena_allocator.h"
#include "runtime/param_init.h"

namespace sublinear::runtime {

using planner::StepKind;
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
    : plan_(std::move(plan)), opts_(std::move(opts)) {
  SL_CHECK(plan_ && plan_->graph) << "executor given no plan";
  const ir::Graph& g = *plan_->graph;
  const planner::Plan& p = *plan_;

  // Every op the plan runs must have kernels here: fail before allocating anything.
  for (const auto& s : p.steps) {
    const OpKernels& k = kernels.get(g.node(s.node).op);
    SL_CHECK(s.kind != StepKind::Backward || k.backward) << "op '" << g.node(s.node).op << "' has no backward kernel";
  }

  arena_bytes_ = p.feature_map_peak_bytes;
  if (arena_bytes_ > 0) {
    const size_t alloc = static_cast<size_t>(planner::align_up(arena_bytes_, kPage));
    arena_ = static_cast<char*>(std::aligned_alloc(kPage, alloc));
    // The machine's memory, not a bug: the trainer checks the plan against the free memory first, but
    // other processes may take it in between.
    if (arena_ == nullptr)
      throw std::runtime_error("cannot allocate the " + std::to_string(arena_bytes_) +
                               "-byte feature-map arena: not enough memory; use a smaller batch or a memory budget");
  }
  int64_t ws = 0;
  for (const auto& s : p.steps) ws = std::max(ws, s.workspace_bytes);
  workspace_.resize(static_cast<size_t>(ws));

  for (ir::NodeId id : g.inputs()) {
    input_storage_.push_back(zeroed_floats(g.node(id).outputs[0]));
    persistent_bytes_ += g.node(id).outputs[0].bytes();
  }
  for (size_t i = 0; i < input_storage_.size(); ++i)
    inputs_.push_back(Tensor{input_storage_[i].data(), g.node(g.inputs()[i]).outputs[0]});
  std::vector<ParamBuffer>& params = buffers_.params;
  params = describe_params(p);
  for (const ParamBuffer& b : params) {
    param_storage_.push_back(zeroed_floats(b.type));
    persistent_bytes_ += b.type.bytes();
  }
  grad_storage_.resize(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    params[i].data = param_storage_[i].data();
    if (params[i].trainable) {
      grad_storage_[i] = zeroed_floats(params[i].type);
      params[i].grad = grad_storage_[i].data();
      persistent_bytes_ += params[i].type.bytes();
    }
  }

  buffers_.arena = arena_;
  buffers_.arena_bytes = arena_bytes_;
  for (auto& in : input_storage_) buffers_.inputs.push_back(in.data());
  buffers_.loss_seed = &loss_seed_;
  buffers_.workspace = workspace_.empty() ? nullptr : workspace_.data();
  buffers_.workspace_bytes = static_cast<int64_t>(workspace_.size());
  value_ptr_ = resolve_value_pointers(p, buffers_);
  output_values_ = graph_output_values(p);
  calls_ = build_step_calls(p, kernels, buffers_, value_ptr_, opts_.seed);
  if (opts_.schedule) schedule_ = opts_.schedule(p, kernels, opts_.seed);
  canary_pending_ = opts_.measure_canary && arena_bytes_ > 0;
}

Executor::~Executor() { std::free(arena_); }

void Executor::init_params() {
  for (size_t i = 0; i < params().size(); ++i)
    init_param(plan_->graph->node(params()[i].node), opts_.seed, static_cast<int64_t>(i), params()[i].data);
}

void Executor::run_step(int64_t iteration) {
  const bool canary = canary_pending_;
  if (canary) std::memset(arena_, kCanary, static_cast<size_t>(arena_bytes_));
  if (schedule_) {
    schedule_->run(buffers_, iteration);
    arena_peak_ = schedule_->arena_peak_bytes();
  } else {
    if (profiling_) {
      using clock = std::chrono::steady_clock;
      for (size_t i = 0; i < calls_.steps.size(); ++i) {
        StepCall& s = calls_.steps[i];
        s.call.iteration = iteration;
        const auto t0 = clock::now();
        (*s.fn)(s.call);
        step_seconds_[i] = std::chrono::duration<double>(clock::now() - t0).count();
        if (step_hook_) step_hook_(i);
      }
    } else if (step_hook_) {
      for (size_t i = 0; i < calls_.steps.size(); ++i) {
        StepCall& s = calls_.steps[i];
        s.call.iteration = iteration;
        (*s.fn)(s.call);
        step_hook_(i);
      }
    } else {
      for (StepCall& s : calls_.steps) {
        s.call.iteration = iteration;
        (*s.fn)(s.call);
      }
    }
    arena_peak_ = calls_.arena_peak;
  }
  if (canary) {
    int64_t top = arena_bytes_;
    while (top > 0 && static_cast<unsigned char>(arena_[top - 1]) == kCanary) --top;
    canary_peak_ = top == 0 ? 0 : planner::align_up(top, plan_->options.alignment);
    canary_pending_ = false;
  }
}

bool Executor::set_step_hook(std::function<void(size_t step)> hook) {
  if (schedule_) return false;
  step_hook_ = std::move(hook);
  return true;
}

bool Executor::set_shard(int64_t shard) {
  if (schedule_) return shard == 0;
  for (StepCall& s : calls_.steps) s.call.shard = shard;
  return true;
}

bool Executor::start_profiling() {
  if (schedule_) {  // a compiled CPU schedule times its own calls
    step_seconds_.assign(plan_->steps.size(), 0.0);
    profiling_ = schedule_->time_steps(&step_seconds_);
    return profiling_;
  }
  SL_CHECK(calls_.steps.size() == plan_->steps.size()) << calls_.steps.size() << " calls for " << plan_->steps.size()
                                                       << " plan steps";
  profiling_ = true;
  step_seconds_.assign(calls_.steps.size(), 0.0);
  return true;
}

void Executor::run_forward_eval() {
  for (StepCall& s : calls_.steps) {
    if (s.kind != StepKind::Forward) continue;
    s.call.mode = Mode::Eval;
    s.call.iteration = 0;
    (*s.fn)(s.call);
    s.call.mode = Mode::Train;
  }
}

Tensor Executor::output(size_t index) const {
  SL_CHECK(index < output_values_.size()) << "output " << index << " of " << output_values_.size();
  const planner::ValueId v = output_values_[index];
  return Tensor{value_ptr_[v], plan_->values[v].type};
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
    for (planner::ValueId v : s.writes) mix(p.values[v].storage >= 0 ? p.storages[p.values[v].storage].offset : -1);
  }
  std::ostringstream out;
  out << p.policy << ":" << std::hex << h;
  return out.str();
}

}  // namespace sublinear::runtime
