// The CUDA training program (see cuda_program.h for the rules): allocation and the memory check, the
// step schedule built once from the plan like Executor builds it per step, uploads overlapped with the
// previous optimizer update, and device-side optimizer state with host staging for checkpoints.
#include "runtime/cuda/cuda_program.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>
#include <stdexcept>

#include "ir/check.h"
#include "ir/format_util.h"
#include "ir/op_registry.h"
#include "planner/arena_allocator.h"
#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/cuda_context.h"
#include "runtime/cuda/cuda_kernels.h"
#include "runtime/cuda/cuda_optimizer.h"
#include "runtime/param_init.h"
#include "runtime/step_calls.h"

namespace sublinear::runtime::cuda {

using planner::PlanStep;
using planner::PlanValue;
using planner::StepKind;
using planner::ValueId;
using planner::ValueKind;

namespace {

// Persistent buffers start at this alignment, the arena's own, so that every pointer a kernel sees is
// aligned alike and library kernel choices cannot depend on where a buffer sits.
constexpr int64_t kAlign = 256;
// Left free for what cuDNN and cuBLAS allocate on their own (modules, engine state) on first use.
constexpr int64_t kLibraryReserve = int64_t{256} << 20;

int64_t aligned(int64_t bytes) { return planner::align_up(bytes, kAlign); }

int planned_slots(planner::Optimizer o) {
  switch (o) {
    case planner::Optimizer::Sgd: return 0;
    case planner::Optimizer::Momentum: return 1;
    case planner::Optimizer::Adam: return 2;
  }
  return 0;
}

std::string suggestion(const planner::Plan& p, int64_t usable) {
  std::ostringstream s;
  if (p.policy == "none" || p.policy == "drop-cheap") s << "try memory.policy=sqrt, or ";
  else if (p.policy == "sqrt") s << "try memory.policy=log, or ";
  else s << "try ";
  s << "memory.budget=" << std::max<int64_t>(usable, 0) << " (the bytes free now), a smaller batch or a smaller model";
  return s.str();
}

}  // namespace

struct CudaProgram::Impl {
  KernelTable kernels;
  cudaStream_t copy_stream = nullptr;
  cudaEvent_t uploaded = nullptr, inputs_free = nullptr, outputs_ready = nullptr;

  char* arena = nullptr;
  int64_t arena_bytes = 0;
  char* persistent = nullptr;
  int64_t persistent_bytes = 0;
  float* extra_state = nullptr;  // optimizer slots beyond the plan's, allocated on first need
  int64_t extra_state_bytes = 0;
  float* loss_seed = nullptr;

  std::vector<char*> input_dev;
  std::vector<void*> input_host;  // pinned
  std::vector<float*> state0, state1;  // per param; null without state
  int planned_state_slots = 0;
  int slots = -1;                      // the optimizer's, once known

  DeviceParamSlot* opt_slots = nullptr;
  int64_t* opt_chunks = nullptr;
  double* opt_norm = nullptr;  // clipping: one partial sum of squares per chunk, then the f32 coefficient
  int opt_count = 0;
  int64_t opt_total_chunks = 0;

  std::vector<void*> value_ptr;
  std::vector<ValueId> output_values;
  std::vector<int> scalar_slot;  // per graph output: index into host_scalars, -1 when not a 4-byte scalar
  float* host_scalars = nullptr;  // pinned
  int scalar_count = 0;

  ProgramBuffers buffers;   // device pointers, as the calls and a compiled schedule see them
  StepCalls calls;
  std::unique_ptr<CompiledSchedule> schedule;
  std::vector<std::vector<float>> staging;  // save_state copies, valid until the next step
};

bool cuda_device_usable(std::string* why, int device) { return probe_cuda_device(device, why); }

CudaProgram::CudaProgram(std::shared_ptr<const planner::Plan> plan, uint64_t seed, int device, bool deterministic,
                         const ScheduleMaker& schedule)
    : plan_(std::move(plan)), seed_(seed) {
  SL_CHECK(plan_ && plan_->graph) << "CUDA program given no plan";
  std::string why;
  if (!probe_cuda_device(device, &why))
    throw std::runtime_error("CUDA device cuda:" + std::to_string(device) + " is not usable: " + why);
  const ir::Graph& g = *plan_->graph;
  const planner::Plan& p = *plan_;
  ctx_ = std::make_unique<CudaContext>(device, deterministic);
  impl_ = std::make_unique<Impl>();
  Impl& m = *impl_;
  m.kernels = make_cuda_kernels(*ctx_);

  // The persistent block's layout.
  m.planned_state_slots = planned_slots(p.options.optimizer);
  int64_t off = 0;
  std::vector<int64_t> input_off, param_off, grad_off, s0_off, s1_off;
  for (ir::NodeId id : g.inputs()) {
    input_off.push_back(off);
    off += aligned(g.node(id).outputs[0].bytes());
  }
  params_ = describe_params(p);
  for (const ParamBuffer& b : params_) {
    param_off.push_back(off);
    off += aligned(b.type.bytes());
  }
  for (const auto& b : params_) {
    grad_off.push_back(b.trainable ? off : -1);
    if (b.trainable) off += aligned(b.type.bytes());
  }
  for (const auto& b : params_) {
    const bool state = b.trainable && b.has_grad;
    s0_off.push_back(state && m.planned_state_slots >= 1 ? off : -1);
    if (state && m.planned_state_slots >= 1) off += aligned(b.type.bytes());
    s1_off.push_back(state && m.planned_state_slots >= 2 ? off : -1);
    if (state && m.planned_state_slots >= 2) off += aligned(b.type.bytes());
  }
  const int64_t seed_off = off;
  off += kAlign;
  m.persistent_bytes = off;
  m.arena_bytes = p.feature_map_peak_bytes;

  need_.arena = aligned(m.arena_bytes);
  need_.persistent = m.persistent_bytes;
  need_.library = ctx_->owned_device_bytes();
  int64_t free_b = 0, total_b = 0;
  cuda::device_memory(device, &free_b, &total_b);
  // Refused before anything else: a plan that cannot fit never reaches cuDNN's queries, which a huge
  // batch could otherwise trip first.
  auto refuse_if_too_big = [&] {
    const int64_t want = need_.arena + need_.scratch + need_.persistent;
    if (want + kLibraryReserve <= free_b) return;
    using ir::human_bytes;
    throw std::runtime_error(
        "the plan needs " + human_bytes(want + kLibraryReserve) + " of device memory on cuda:" + std::to_string(device) +
        " (feature maps " + human_bytes(need_.arena) + ", workspace " + human_bytes(need_.scratch) +
        ", inputs, parameters, gradients and optimizer state " + human_bytes(need_.persistent) + ", " +
        human_bytes(kLibraryReserve) + " kept for the CUDA libraries) but only " + human_bytes(free_b) + " of " +
        human_bytes(total_b) + " is free; " + suggestion(p, free_b - kLibraryReserve - need_.scratch));
  };
  refuse_if_too_big();

  // Every op the plan runs must have kernels here, and what they need in scratch: before allocating.
  int64_t scratch = p.workspace_bytes;
  for (const auto& s : p.steps) {
    const ir::Node& n = g.node(s.node);
    const OpKernels& k = m.kernels.get(n.op);
    SL_CHECK(s.kind != StepKind::Backward || k.backward) << "op '" << n.op << "' has no backward kernel";
    std::vector<ir::TensorType> in;
    for (const auto& v : n.inputs) in.push_back(g.type(v));
    scratch = std::max(scratch, cuda_scratch_bytes(*ctx_, n, in));
  }
  need_.scratch = scratch > ctx_->scratch_bytes() ? aligned(scratch) : 0;
  refuse_if_too_big();

  // Another process may take memory between the check and the allocation: that is still the user's
  // problem (an exception), not a bug (an abort).
  auto allocate = [&](void** ptr, int64_t bytes, const char* what) {
    const cudaError_t e = cudaMalloc(ptr, static_cast<size_t>(bytes));
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      cudaFree(m.arena);
      m.arena = nullptr;
      throw std::runtime_error(std::string("cannot allocate the ") + ir::human_bytes(bytes) + " " + what +
                               " on cuda:" + std::to_string(device) + ": out of device memory; " +
                               suggestion(p, free_b - kLibraryReserve - need_.scratch));
    }
    SL_CUDA_CHECK(e);
  };
  ctx_->reserve_scratch(scratch);
  if (m.arena_bytes > 0) allocate(reinterpret_cast<void**>(&m.arena), need_.arena, "feature-map arena");
  allocate(reinterpret_cast<void**>(&m.persistent), m.persistent_bytes, "block of parameters, gradients and state");
  cudaStream_t st = ctx_->stream();
  // Zeros: gradients nobody writes and optimizer state start at zero, like the CPU's.
  SL_CUDA_CHECK(cudaMemsetAsync(m.persistent, 0, static_cast<size_t>(m.persistent_bytes), st));
  m.loss_seed = reinterpret_cast<float*>(m.persistent + seed_off);
  const float one = 1.0f;
  SL_CUDA_CHECK(cudaMemcpyAsync(m.loss_seed, &one, sizeof(float), cudaMemcpyHostToDevice, st));

  for (size_t i = 0; i < input_off.size(); ++i) {
    const ir::TensorType& t = g.node(g.inputs()[i]).outputs[0];
    m.input_dev.push_back(m.persistent + input_off[i]);
    void* host = nullptr;
    const size_t bytes = static_cast<size_t>(std::max<int64_t>((t.bytes() + 3) / 4 * 4, 4));
    SL_CUDA_CHECK(cudaMallocHost(&host, bytes));
    std::memset(host, 0, bytes);
    m.input_host.push_back(host);
    inputs_.push_back(Tensor{host, t});
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    params_[i].data = reinterpret_cast<float*>(m.persistent + param_off[i]);
    params_[i].grad = grad_off[i] >= 0 ? reinterpret_cast<float*>(m.persistent + grad_off[i]) : nullptr;
    m.state0.push_back(s0_off[i] >= 0 ? reinterpret_cast<float*>(m.persistent + s0_off[i]) : nullptr);
    m.state1.push_back(s1_off[i] >= 0 ? reinterpret_cast<float*>(m.persistent + s1_off[i]) : nullptr);
  }

  SL_CUDA_CHECK(cudaStreamCreateWithFlags(&m.copy_stream, cudaStreamNonBlocking));
  SL_CUDA_CHECK(cudaEventCreateWithFlags(&m.uploaded, cudaEventDisableTiming));
  SL_CUDA_CHECK(cudaEventCreateWithFlags(&m.inputs_free, cudaEventDisableTiming));
  SL_CUDA_CHECK(cudaEventCreateWithFlags(&m.outputs_ready, cudaEventDisableTiming));

  // Graph outputs, and pinned slots for the scalar ones.
  m.output_values = graph_output_values(p);
  for (ValueId v : m.output_values) {
    const ir::TensorType& t = p.values[v].type;
    const bool scalar = ir::num_elements(t.shape) == 1 && ir::dtype_size(t.dtype) == 4;
    m.scalar_slot.push_back(scalar ? m.scalar_count++ : -1);
  }
  SL_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&m.host_scalars),
                               sizeof(float) * static_cast<size_t>(std::max(m.scalar_count, 1))));
  std::fill(m.host_scalars, m.host_scalars + std::max(m.scalar_count, 1), 0.0f);

  m.buffers.arena = m.arena;
  m.buffers.arena_bytes = m.arena_bytes;
  m.buffers.inputs.assign(m.input_dev.begin(), m.input_dev.end());
  m.buffers.params = params_;
  m.buffers.loss_seed = m.loss_seed;
  m.buffers.workspace = ctx_->scratch_data();
  m.buffers.workspace_bytes = ctx_->scratch_bytes();
  m.value_ptr = resolve_value_pointers(p, m.buffers);
  m.calls = build_step_calls(p, m.kernels, m.buffers, m.value_ptr, seed_);
  if (schedule) m.schedule = schedule(p, m.kernels, seed_);
  SL_CUDA_CHECK(cudaStreamSynchronize(st));
  ctx_->lock_scratch();
}

CudaProgram::~CudaProgram() {
  if (!impl_ || !ctx_) return;
  Impl& m = *impl_;
  // Errors are ignored: a destructor cannot report them.
  cudaSetDevice(ctx_->device());
  cudaStreamSynchronize(ctx_->stream());
  if (m.copy_stream) cudaStreamSynchronize(m.copy_stream);
  cudaFree(m.arena);
  cudaFree(m.persistent);
  cudaFree(m.extra_state);
  cudaFree(m.opt_slots);
  cudaFree(m.opt_chunks);
  cudaFree(m.opt_norm);
  for (void* h : m.input_host) cudaFreeHost(h);
  cudaFreeHost(m.host_scalars);
  if (m.uploaded) cudaEventDestroy(m.uploaded);
  if (m.inputs_free) cudaEventDestroy(m.inputs_free);
  if (m.outputs_ready) cudaEventDestroy(m.outputs_ready);
  if (m.copy_stream) cudaStreamDestroy(m.copy_stream);
}

std::vector<Tensor>& CudaProgram::inputs() {
  // The caller is about to overwrite the pinned buffers: an upload still reading them must finish.
  ctx_->activate();
  SL_CUDA_CHECK(cudaEventSynchronize(impl_->uploaded));
  return inputs_;
}

void CudaProgram::init_params() {
  ctx_->activate();
  std::vector<std::vector<float>> host(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    const int64_t bytes = params_[i].type.bytes();
    host[i].assign(static_cast<size_t>((bytes + 3) / 4), 0.0f);
    init_param(plan_->graph->node(params_[i].node), seed_, static_cast<int64_t>(i), host[i].data());
    if (bytes > 0)
      SL_CUDA_CHECK(cudaMemcpyAsync(params_[i].data, host[i].data(), static_cast<size_t>(bytes), cudaMemcpyHostToDevice,
                                    ctx_->stream()));
  }
  sync();  // `host` must outlive the copies
}

void CudaProgram::run_step(int64_t iteration) {
  ctx_->activate();
  Impl& m = *impl_;
  upload_inputs();

  // The scratch is locked since setup (CudaContext::lock_scratch): the calls' workspace never moves.
  if (m.schedule) {
    m.schedule->run(m.buffers, iteration);
  } else {
    for (StepCall& s : m.calls.steps) {
      s.call.iteration = iteration;
      s.call.workspace = m.buffers.workspace;
      s.call.workspace_bytes = m.buffers.workspace_bytes;
      (*s.fn)(s.call);
    }
  }
  if (nccl_) nccl_->average(params_, ctx_->stream());
  copy_outputs();
  arena_peak_ = m.schedule ? m.schedule->arena_peak_bytes() : m.calls.arena_peak;
  m.staging.clear();
}

bool CudaProgram::set_worker(int rank) {
  if (impl_->schedule) return rank == 0;
  for (StepCall& s : impl_->calls.steps) s.call.shard = rank;
  return true;
}

std::string CudaProgram::make_device_reduce_id() {
  ctx_->activate();
  return NcclReducer::make_id();
}

std::string CudaProgram::join_device_reduce(const std::string& id, int rank, int workers) {
  ctx_->activate();
  nccl_ = std::make_unique<NcclReducer>(id, rank, workers);
  return nccl_->describe();
}

void CudaProgram::run_forward_eval() {
  ctx_->activate();
  Impl& m = *impl_;
  upload_inputs();
  for (StepCall& s : m.calls.steps) {
    if (s.kind != StepKind::Forward) continue;
    s.call.mode = Mode::Eval;
    s.call.iteration = 0;
    s.call.workspace = ctx_->scratch_data();
    s.call.workspace_bytes = ctx_->scratch_bytes();
    (*s.fn)(s.call);
    s.call.mode = Mode::Train;
  }
  copy_outputs();
}

void CudaProgram::upload_inputs() {
  Impl& m = *impl_;
  // After the previous step's last reader of the device inputs, overlapping what follows it (the
  // optimizer update); compute waits for it.
  SL_CUDA_CHECK(cudaStreamWaitEvent(m.copy_stream, m.inputs_free, 0));
  for (size_t i = 0; i < inputs_.size(); ++i) {
    const int64_t bytes = inputs_[i].bytes();
    if (bytes > 0)
      SL_CUDA_CHECK(cudaMemcpyAsync(m.input_dev[i], m.input_host[i], static_cast<size_t>(bytes),
                                    cudaMemcpyHostToDevice, m.copy_stream));
  }
  SL_CUDA_CHECK(cudaEventRecord(m.uploaded, m.copy_stream));
  SL_CUDA_CHECK(cudaStreamWaitEvent(ctx_->stream(), m.uploaded, 0));
}

void CudaProgram::copy_outputs() {
  Impl& m = *impl_;
  cudaStream_t st = ctx_->stream();
  SL_CUDA_CHECK(cudaEventRecord(m.inputs_free, st));
  for (size_t k = 0; k < m.output_values.size(); ++k) {
    if (m.scalar_slot[k] < 0) continue;
    SL_CUDA_CHECK(cudaMemcpyAsync(m.host_scalars + m.scalar_slot[k], m.value_ptr[m.output_values[k]], sizeof(float),
                                  cudaMemcpyDeviceToHost, st));
  }
  ctx_->enqueue_error_copy();
  SL_CUDA_CHECK(cudaEventRecord(m.outputs_ready, st));
}

void CudaProgram::sync() const { SL_CUDA_CHECK(cudaStreamSynchronize(ctx_->stream())); }

float CudaProgram::loss() const { return output_scalar(0); }

float CudaProgram::output_scalar(size_t index) const {
  const Impl& m = *impl_;
  SL_CHECK(index < m.output_values.size()) << "output " << index << " of " << m.output_values.size();
  const ir::TensorType& t = plan_->values[m.output_values[index]].type;
  SL_CHECK(t.dtype == ir::DType::F32 && ir::num_elements(t.shape) == 1)
      << "output " << index << " is " << t.str() << ", not an f32 scalar";
  ctx_->activate();
  SL_CUDA_CHECK(cudaEventSynchronize(m.outputs_ready));
  ctx_->check_error_copy();
  return m.host_scalars[m.scalar_slot[index]];
}

std::vector<float> CudaProgram::download_output(size_t index) const {
  const Impl& m = *impl_;
  SL_CHECK(index < m.output_values.size()) << "output " << index << " of " << m.output_values.size();
  const ir::TensorType& t = plan_->values[m.output_values[index]].type;
  std::vector<float> out(static_cast<size_t>((t.bytes() + 3) / 4));
  ctx_->activate();
  if (t.bytes() > 0)
    SL_CUDA_CHECK(cudaMemcpyAsync(out.data(), m.value_ptr[m.output_values[index]], static_cast<size_t>(t.bytes()),
                                  cudaMemcpyDeviceToHost, ctx_->stream()));
  sync();
  return out;
}

std::vector<float> CudaProgram::download_param(size_t i) const {
  const int64_t bytes = params_.at(i).type.bytes();
  std::vector<float> out(static_cast<size_t>((bytes + 3) / 4));
  ctx_->activate();
  if (bytes > 0)
    SL_CUDA_CHECK(cudaMemcpyAsync(out.data(), params_[i].data, static_cast<size_t>(bytes), cudaMemcpyDeviceToHost,
                                  ctx_->stream()));
  sync();
  return out;
}

std::vector<float> CudaProgram::download_grad(size_t i) const {
  if (params_.at(i).grad == nullptr) return {};
  const int64_t bytes = params_[i].type.bytes();
  std::vector<float> out(static_cast<size_t>((bytes + 3) / 4));
  ctx_->activate();
  if (bytes > 0)
    SL_CUDA_CHECK(cudaMemcpyAsync(out.data(), params_[i].grad, static_cast<size_t>(bytes), cudaMemcpyDeviceToHost,
                                  ctx_->stream()));
  sync();
  return out;
}


void CudaProgram::ensure_state(int slots) {
  Impl& m = *impl_;
  if (m.slots == slots && m.opt_slots != nullptr) return;
  SL_CHECK(m.slots < 0 || m.slots == slots) << "the optimizer changed from " << m.slots << " to " << slots
                                            << " state slots mid-run";
  ctx_->activate();
  m.slots = slots;
  // Slots the plan did not foresee (its optimizer differs from the one applied) get their own block now,
  // once, outside any step.
  if (slots > m.planned_state_slots) {
    int64_t bytes = 0;
    for (const auto& b : params_)
      if (b.trainable && b.has_grad) bytes += aligned(b.type.bytes()) * (slots - m.planned_state_slots);
    if (bytes > 0) {
      SL_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&m.extra_state), static_cast<size_t>(bytes)));
      m.extra_state_bytes = bytes;
      SL_CUDA_CHECK(cudaMemsetAsync(m.extra_state, 0, static_cast<size_t>(bytes), ctx_->stream()));
    }
    char* at = reinterpret_cast<char*>(m.extra_state);
    for (size_t i = 0; i < params_.size(); ++i) {
      const auto& b = params_[i];
      if (!b.trainable || !b.has_grad) continue;
      for (int k = 0; k < slots && k < 2; ++k) {
        float*& state = k == 0 ? m.state0[i] : m.state1[i];
        if (state != nullptr) continue;
        state = reinterpret_cast<float*>(at);
        at += aligned(b.type.bytes());
      }
    }
  }
  // The slot table of the one-launch update.
  std::vector<DeviceParamSlot> table;
  std::vector<int64_t> chunks{0};
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& b = params_[i];
    const int64_t n = ir::num_elements(b.type.shape);
    if (!b.trainable || !b.has_grad || n == 0) continue;
    DeviceParamSlot s;
    s.w = b.data;
    s.g = b.grad;
    s.state0 = slots >= 1 ? m.state0[i] : nullptr;
    s.state1 = slots >= 2 ? m.state1[i] : nullptr;
    s.n = n;
    table.push_back(s);
    chunks.push_back(chunks.back() + (n + kOptimizerChunk - 1) / kOptimizerChunk);
  }
  m.opt_count = static_cast<int>(table.size());
  m.opt_total_chunks = chunks.back();
  cudaFree(m.opt_slots);
  cudaFree(m.opt_chunks);
  cudaFree(m.opt_norm);
  m.opt_slots = nullptr;
  m.opt_chunks = nullptr;
  m.opt_norm = nullptr;
  SL_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&m.opt_norm), sizeof(double) * static_cast<size_t>(chunks.back() + 1)));
  SL_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&m.opt_slots),
                           sizeof(DeviceParamSlot) * std::max<size_t>(table.size(), 1)));
  SL_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&m.opt_chunks), sizeof(int64_t) * chunks.size()));
  if (!table.empty())
    SL_CUDA_CHECK(cudaMemcpyAsync(m.opt_slots, table.data(), sizeof(DeviceParamSlot) * table.size(),
                                  cudaMemcpyHostToDevice, ctx_->stream()));
  SL_CUDA_CHECK(cudaMemcpyAsync(m.opt_chunks, chunks.data(), sizeof(int64_t) * chunks.size(), cudaMemcpyHostToDevice,
                                ctx_->stream()));
  sync();  // the host tables must outlive the copies
}

OptimizerScalars optimizer_scalars(const train::OptimizerConfig& c, double lr, int64_t step) {
  OptimizerScalars s;
  s.weight_decay = static_cast<float>(c.weight_decay);
  if (c.kind == train::OptimizerKind::Adam || c.kind == train::OptimizerKind::AdamW) {
    s.kind = c.kind == train::OptimizerKind::AdamW ? DeviceOptimizerKind::AdamW : DeviceOptimizerKind::Adam;
    if (c.kind == train::OptimizerKind::AdamW) {
      s.weight_decay = 0.0f;  // no L2 term: the decay is the factor below
      s.keep = static_cast<float>(1.0 - lr * c.weight_decay);
      s.shrink = c.weight_decay != 0.0;
    }
    s.one_minus_b1 = static_cast<float>(1.0 - c.beta1);
    s.b2 = static_cast<float>(c.beta2);
    s.one_minus_b2 = static_cast<float>(1.0 - c.beta2);
    const double t = static_cast<double>(step + 1);
    const double c1 = 1.0 - std::pow(c.beta1, t);
    const double c2 = 1.0 - std::pow(c.beta2, t);
    s.neg_step_size = static_cast<float>(-(lr / c1));
    s.c2_sqrt = static_cast<float>(std::sqrt(c2));
    s.eps = static_cast<float>(c.eps);
  } else {
    s.kind = c.momentum == 0.0 ? DeviceOptimizerKind::Sgd
             : c.nesterov      ? DeviceOptimizerKind::Nesterov
                               : DeviceOptimizerKind::Momentum;
    s.lr = static_cast<float>(lr);
    s.momentum = static_cast<float>(c.momentum);
  }
  return s;
}

void CudaProgram::apply_optimizer(const train::OptimizerConfig& c, double lr, int64_t step) {
  ensure_state(train::optimizer_state_slots(c));
  ctx_->activate();
  const Impl& m = *impl_;
  OptimizerScalars s = optimizer_scalars(c, lr, step);
  if (c.clip_grad_norm > 0) {
    s.coef = launch_clip_coefficient(*ctx_, m.opt_slots, m.opt_chunks, m.opt_count, m.opt_total_chunks,
                                     c.clip_grad_norm, m.opt_norm);
  }
  launch_optimizer(*ctx_, m.opt_slots, m.opt_chunks, m.opt_count, m.opt_total_chunks, s);
}

std::optional<train::DeviceMemory> CudaProgram::device_memory() const {
  const Impl& m = *impl_;
  ctx_->activate();
  train::DeviceMemory d;
  d.device = "cuda:" + std::to_string(ctx_->device());
  d.arena = m.arena_bytes > 0 ? need_.arena : 0;
  d.workspace = ctx_->scratch_bytes();
  d.persistent = m.persistent_bytes + m.extra_state_bytes;
  if (m.opt_slots != nullptr)
    d.persistent += static_cast<int64_t>(sizeof(DeviceParamSlot)) * std::max(m.opt_count, 1) +
                    static_cast<int64_t>(sizeof(int64_t)) * (m.opt_count + 1);
  d.library = ctx_->owned_device_bytes() - ctx_->scratch_bytes();
  int64_t free_b = 0, total_b = 0;
  cuda::device_memory(ctx_->device(), &free_b, &total_b);
  d.in_use = total_b - free_b;
  return d;
}

std::string CudaProgram::plan_fingerprint() const { return runtime::plan_fingerprint(*plan_); }

void CudaProgram::save_state(train::CheckpointContents& c) {
  ctx_->activate();
  Impl& m = *impl_;
  m.staging.clear();
  auto stage = [&](const void* dev, int64_t bytes) {
    m.staging.emplace_back(static_cast<size_t>((bytes + 3) / 4));
    if (bytes > 0)
      SL_CUDA_CHECK(cudaMemcpyAsync(m.staging.back().data(), dev, static_cast<size_t>(bytes), cudaMemcpyDeviceToHost,
                                    ctx_->stream()));
    return m.staging.back().data();
  };
  // Reserved up front: stage() hands out pointers into the vector's elements.
  m.staging.reserve(params_.size() * 3);
  struct Blob {
    std::string name;
    const void* data;
    size_t bytes;
  };
  std::vector<Blob> blobs;
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& p = params_[i];
    const int64_t bytes = p.type.bytes();
    blobs.push_back({"param/" + p.name, stage(p.data, bytes), static_cast<size_t>(bytes)});
    if (m.slots >= 1 && m.state0[i])
      blobs.push_back({"opt0/" + p.name, stage(m.state0[i], bytes), static_cast<size_t>(bytes)});
    if (m.slots >= 2 && m.state1[i])
      blobs.push_back({"opt1/" + p.name, stage(m.state1[i], bytes), static_cast<size_t>(bytes)});
  }
  sync();
  for (const auto& b : blobs) c.add(b.name, b.data, b.bytes);
}

void CudaProgram::load_state(const train::CheckpointContents& c) {
  // HostOptimizerState::load's rule: the slots the checkpoint holds decide the optimizer's.
  int slots = 0;
  for (const auto& p : params_) {
    if (c.find("opt1/" + p.name)) slots = 2;
    else if (c.find("opt0/" + p.name)) slots = std::max(slots, 1);
  }
  ensure_state(slots);
  ctx_->activate();
  Impl& m = *impl_;
  std::vector<std::vector<float>> host;
  host.reserve(params_.size() * 3);
  auto upload = [&](const std::string& name, void* dev, int64_t bytes) {
    host.emplace_back(static_cast<size_t>((bytes + 3) / 4));
    c.copy_to(name, host.back().data(), static_cast<size_t>(bytes));
    if (bytes > 0)
      SL_CUDA_CHECK(cudaMemcpyAsync(dev, host.back().data(), static_cast<size_t>(bytes), cudaMemcpyHostToDevice,
                                    ctx_->stream()));
  };
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& p = params_[i];
    const int64_t bytes = p.type.bytes();
    upload("param/" + p.name, p.data, bytes);
    const bool state = p.trainable && p.has_grad;
    if (state && slots >= 1) upload("opt0/" + p.name, m.state0[i], bytes);
    if (state && slots >= 2) upload("opt1/" + p.name, m.state1[i], bytes);
  }
  sync();
}

std::unique_ptr<train::TrainingProgram> make_cuda_program(std::shared_ptr<const planner::Plan> plan, uint64_t seed,
                                                          int device, bool deterministic,
                                                          const ScheduleMaker& schedule) {
  return std::make_unique<CudaProgram>(std::move(plan), seed, device, deterministic, schedule);
}

train::ProgramFactory cuda_program_factory(int device, bool deterministic) {
  return [device, deterministic](std::shared_ptr<const planner::Plan> plan, uint64_t seed) {
    return make_cuda_program(std::move(plan), seed, device, deterministic);
  };
}

}  // namespace sublinear::runtime::cuda
