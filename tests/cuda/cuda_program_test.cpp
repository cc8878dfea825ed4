// The CUDA training program against the CPU one and against itself:
// - a few training steps of the MLP and CNN examples give the CPU's losses (to 1e-3 relative: cuDNN and
//   cuBLAS sum in another order) and parameters that started bitwise equal;
// - on the GPU with deterministic kernels, every memory strategy (in-place, sharing, recomputation)
//   gives bitwise the losses, gradients, weights and running statistics of keeping everything, and the
//   arena the kernels see is exactly the planned one, with no device allocation during steps;
// - the device optimizer is the CPU's optimizer_step bit for bit (SGD, momentum, Nesterov, Adam, with
//   weight decay);
// - checkpoints: the same blob names as the CPU program, a CPU checkpoint loads on the GPU, and a GPU
//   run resumed from its own checkpoint continues bitwise;
// - a plan larger than the device's free memory is refused with a message that suggests a strategy.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <set>
#include <stdexcept>

#include "planner/arena_allocator.h"
#include "runtime/cpu/cpu_kernels.h"
#include "runtime/cuda/cuda_optimizer.h"
#include "train/data/dataset.h"
#include "runtime/optimizer.h"
#include "tests/cuda/cuda_test_util.h"
#include "tests/runtime/runtime_test_util.h"

namespace sublinear::testing {
namespace {

using runtime::cuda::CudaProgram;
using runtime::train::OptimizerConfig;
using runtime::train::OptimizerKind;

#define SKIP_WITHOUT_CUDA()                                 \
  std::string why;                                          \
  if (!runtime::cuda::cuda_device_usable(&why)) GTEST_SKIP() << "no usable CUDA device: " << why

constexpr uint64_t kSeed = 7;

std::shared_ptr<const planner::Plan> make_plan(std::shared_ptr<const ir::Graph> g, const planner::PlanRequest& req) {
  return std::make_shared<const planner::Plan>(planner::plan_model(std::move(g), req));
}

OptimizerConfig sgd_nesterov() {
  OptimizerConfig oc;
  oc.kind = OptimizerKind::Sgd;
  oc.lr = 0.05;
  oc.momentum = 0.9;
  oc.nesterov = true;
  oc.weight_decay = 1e-4;
  return oc;
}

OptimizerConfig adam() {
  OptimizerConfig oc;
  oc.kind = OptimizerKind::Adam;
  oc.lr = 1e-3;
  oc.weight_decay = 1e-4;
  return oc;
}

float bits_to_float(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

uint32_t float_bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

// Steps [first, last) with the runtime tests' inputs; the loss bit patterns.
std::vector<uint32_t> train(runtime::train::TrainingProgram& p, const ir::Graph& g, const OptimizerConfig& oc,
                            int64_t first, int64_t last) {
  const auto specs = runtime::data::input_specs(g);
  std::vector<uint32_t> losses;
  for (int64_t step = first; step < last; ++step) {
    fill_inputs(specs, p.inputs(), step);
    p.run_step(step);
    losses.push_back(float_bits(p.loss()));
    p.apply_optimizer(oc, oc.lr, step);
  }
  return losses;
}

struct GpuRun {
  std::vector<uint32_t> losses;
  std::vector<std::vector<float>> grads, weights;
  int64_t planned_arena = 0, measured_arena = 0;
  int32_t recomputed = 0;
};

GpuRun train_gpu(std::shared_ptr<const ir::Graph> g, const planner::PlanRequest& req, int steps) {
  auto plan = make_plan(g, req);
  CudaProgram p(plan, kSeed, 0, /*deterministic=*/true);
  p.init_params();
  GpuRun r;
  r.losses = train(p, *g, sgd_nesterov(), 0, steps);
  for (size_t i = 0; i < p.params().size(); ++i) {
    r.weights.push_back(p.download_param(i));
    r.grads.push_back(p.download_grad(i));
  }
  r.planned_arena = plan->feature_map_peak_bytes;
  r.measured_arena = p.arena_peak_bytes();
  r.recomputed = plan->recomputed_nodes;
  return r;
}

planner::PlanRequest keep_all() {
  planner::PlanRequest r;
  r.policy = planner::Policy::None;
  return r;
}

TEST(CudaProgram, InitialisesParametersLikeTheCpu) {
  SKIP_WITHOUT_CUDA();
  for (const auto& c : small_example_models()) {
    SCOPED_TRACE(c.name);
    auto g = load_case(c);
    auto plan = make_plan(g, keep_all());
    runtime::ExecutorOptions eo;
    eo.seed = kSeed;
    runtime::train::ExecutorProgram cpu(plan, runtime::cpu::cpu_kernels(), eo);
    cpu.init_params();
    CudaProgram gpu_p(plan, kSeed, 0, true);
    gpu_p.init_params();
    auto& params = cpu.executor().params();
    ASSERT_EQ(params.size(), gpu_p.params().size());
    for (size_t i = 0; i < params.size(); ++i) {
      const std::vector<float> want(params[i].data, params[i].data + (params[i].type.bytes() + 3) / 4);
      EXPECT_TRUE(bitwise_equal(gpu_p.download_param(i), want)) << params[i].name;
    }
  }
}

TEST(CudaProgram, TrainingMatchesTheCpu) {
  SKIP_WITHOUT_CUDA();
  for (const auto& c : small_example_models()) {
    if (c.name != "mlp" && c.name != "cnn") continue;
    SCOPED_TRACE(c.name);
    auto g = load_case(c);
    planner::PlanRequest req;
    req.policy = planner::Policy::Sqrt;
    auto plan = make_plan(g, req);
    runtime::ExecutorOptions eo;
    eo.seed = kSeed;
    runtime::train::ExecutorProgram cpu(plan, runtime::cpu::cpu_kernels(), eo);
    cpu.init_params();
    CudaProgram gpu_p(plan, kSeed, 0, false);
    gpu_p.init_params();
    const int kSteps = 5;
    const auto want = train(cpu, *g, sgd_nesterov(), 0, kSteps);
    const auto got = train(gpu_p, *g, sgd_nesterov(), 0, kSteps);
    ASSERT_EQ(got.size(), want.size());
    for (size_t s = 0; s < want.size(); ++s) {
      const float w = bits_to_float(want[s]), v = bits_to_float(got[s]);
      EXPECT_TRUE(std::isfinite(v)) << "step " << s;
      EXPECT_NEAR(v, w, 1e-3 * std::max(1.0f, std::fabs(w))) << "loss at step " << s;
    }
    // The accuracy output (a scalar copied back with the loss).
    // At most one row's argmax may flip between two logits that differ by rounding.
    EXPECT_NEAR(gpu_p.output_scalar(2), cpu.output_scalar(2), 1.0 / static_cast<double>(c.batch) + 1e-6);
    auto& params = cpu.executor().params();
    for (size_t i = 0; i < params.size(); ++i) {
      if (params[i].type.dtype != ir::DType::F32) continue;
      const int64_t n = ir::num_elements(params[i].type.shape);
      const std::vector<float> got_w = gpu_p.download_param(i);
      expect_close("parameter " + params[i].name, got_w.data(), params[i].data, n, Tolerance{1e-3, 1e-4});
    }
  }
}

class CudaStrategies : public ::testing::TestWithParam<ModelCase> {};

TEST_P(CudaStrategies, BitwiseEqualAcrossStrategies) {
  SKIP_WITHOUT_CUDA();
  const ModelCase& c = GetParam();
  auto g = load_case(c);
  const auto strategies = all_strategies();
  const int kSteps = 3;
  const GpuRun ref = train_gpu(g, strategies[0].request, kSteps);
  int32_t max_recomputed = 0;
  for (size_t s = 0; s < strategies.size(); ++s) {
    SCOPED_TRACE(c.name + " under " + strategies[s].label);
    const GpuRun r = s == 0 ? ref : train_gpu(g, strategies[s].request, kSteps);
    max_recomputed = std::max(max_recomputed, r.recomputed);
    EXPECT_EQ(r.losses, ref.losses);
    ASSERT_EQ(r.weights.size(), ref.weights.size());
    for (size_t i = 0; i < r.weights.size(); ++i) {
      EXPECT_TRUE(bitwise_equal(r.weights[i], ref.weights[i])) << "parameter " << g->node(g->params()[i]).name;
      EXPECT_TRUE(bitwise_equal(r.grads[i], ref.grads[i])) << "gradient of " << g->node(g->params()[i]).name;
    }
    EXPECT_EQ(r.measured_arena, r.planned_arena);
  }
  EXPECT_GT(max_recomputed, 0);
  for (uint32_t bits : ref.losses) EXPECT_TRUE(std::isfinite(bits_to_float(bits)));
}

INSTANTIATE_TEST_SUITE_P(Examples, CudaStrategies, ::testing::ValuesIn(small_example_models()),
                         [](const auto& info) { return info.param.name; });

TEST(CudaProgram, OptimizerIsTheCpusBitForBit) {
  SKIP_WITHOUT_CUDA();
  auto& ctx = gpu();
  const int64_t n = 10007;  // more than two chunks, not a multiple of one
  std::vector<OptimizerConfig> configs;
  {
    OptimizerConfig plain;
    plain.momentum = 0.0;
    plain.weight_decay = 5e-4;
    configs.push_back(plain);
    OptimizerConfig momentum;
    momentum.momentum = 0.9;
    configs.push_back(momentum);
    configs.push_back(sgd_nesterov());
    configs.push_back(adam());
    OptimizerConfig adam_plain = adam();
    adam_plain.weight_decay = 0;
    configs.push_back(adam_plain);
  }
  for (const auto& oc : configs) {
    SCOPED_TRACE(std::string(runtime::train::optimizer_kind_name(oc.kind)) + " momentum " +
                 std::to_string(oc.momentum) + (oc.nesterov ? " nesterov" : "") + " wd " +
                 std::to_string(oc.weight_decay));
    SplitMix64 r{11};
    // Two parameters, so the kernel's slot lookup is exercised.
    std::vector<std::vector<float>> w(2), g(2), s0(2), s1(2);
    const int64_t sizes[2] = {n, 37};
    for (int k = 0; k < 2; ++k) {
      const size_t m = static_cast<size_t>(sizes[k]);
      w[k].resize(m), g[k].resize(m), s0[k].assign(m, 0.0f), s1[k].assign(m, 0.0f);
      for (size_t i = 0; i < m; ++i) w[k][i] = static_cast<float>(r.unit() - 0.5), g[k][i] = static_cast<float>(r.unit() - 0.5);
    }
    std::vector<std::unique_ptr<DeviceBuffer>> dev;
    std::vector<runtime::cuda::DeviceParamSlot> slots;
    std::vector<int64_t> chunks{0};
    for (int k = 0; k < 2; ++k) {
      const size_t bytes = static_cast<size_t>(sizes[k]) * sizeof(float);
      for (auto* host : {&w[k], &g[k], &s0[k], &s1[k]}) {
        dev.push_back(std::make_unique<DeviceBuffer>(bytes));
        dev.back()->upload(host->data());
      }
      runtime::cuda::DeviceParamSlot s;
      s.w = dev[dev.size() - 4]->f32();
      s.g = dev[dev.size() - 3]->f32();
      s.state0 = dev[dev.size() - 2]->f32();
      s.state1 = dev[dev.size() - 1]->f32();
      s.n = sizes[k];
      slots.push_back(s);
      chunks.push_back(chunks.back() + (sizes[k] + runtime::cuda::kOptimizerChunk - 1) / runtime::cuda::kOptimizerChunk);
    }
    DeviceBuffer dslots(sizeof(runtime::cuda::DeviceParamSlot) * slots.size()), dchunks(sizeof(int64_t) * chunks.size());
    dslots.upload(slots.data());
    dchunks.upload(chunks.data());
    for (int64_t step = 0; step < 3; ++step) {
      const double lr = oc.lr * (1.0 + 0.1 * static_cast<double>(step));
      std::vector<runtime::train::ParamSlot> host_slots;
      for (int k = 0; k < 2; ++k)
        host_slots.push_back({w[k].data(), g[k].data(), s0[k].data(), s1[k].data(), sizes[k], true});
      runtime::train::optimizer_step(oc, lr, step, host_slots);
      runtime::cuda::launch_optimizer(ctx, static_cast<const runtime::cuda::DeviceParamSlot*>(dslots.get()),
                                      static_cast<const int64_t*>(dchunks.get()), 2, chunks.back(),
                                      runtime::cuda::optimizer_scalars(oc, lr, step));
    }
    for (int k = 0; k < 2; ++k) {
      EXPECT_TRUE(bitwise_equal(dev[static_cast<size_t>(4 * k)]->download(), w[k])) << "weights " << k;
      const int slots = runtime::train::optimizer_state_slots(oc);
      if (slots >= 1) {
        EXPECT_TRUE(bitwise_equal(dev[static_cast<size_t>(4 * k + 2)]->download(), s0[k])) << "state0 " << k;
      }
      if (slots >= 2) {
        EXPECT_TRUE(bitwise_equal(dev[static_cast<size_t>(4 * k + 3)]->download(), s1[k])) << "state1 " << k;
      }
    }
  }
}

TEST(CudaProgram, CheckpointsRoundTripAndMatchTheCpuNames) {
  SKIP_WITHOUT_CUDA();
  ModelCase c;
  for (const auto& m : small_example_models())
    if (m.name == "cnn") c = m;
  auto g = load_case(c);
  auto plan = make_plan(g, keep_all());
  const OptimizerConfig oc = adam();

  CudaProgram a(plan, kSeed, 0, true);
  a.init_params();
  train(a, *g, oc, 0, 2);
  runtime::train::CheckpointContents saved;
  a.save_state(saved);
  // Copies of the blobs: the program's staging is only valid until its next step.
  std::vector<std::pair<std::string, std::vector<std::byte>>> copies;
  for (const auto& b : saved.blobs) copies.push_back({b.name, std::vector<std::byte>(b.data, b.data + b.size)});
  runtime::train::CheckpointContents restored;
  for (const auto& [name, bytes] : copies) restored.add(name, bytes.data(), bytes.size());

  // The CPU program saves the same names after the same optimizer.
  runtime::ExecutorOptions eo;
  eo.seed = kSeed;
  runtime::train::ExecutorProgram cpu(plan, runtime::cpu::cpu_kernels(), eo);
  cpu.init_params();
  train(cpu, *g, oc, 0, 1);
  runtime::train::CheckpointContents cpu_saved;
  cpu.save_state(cpu_saved);
  std::set<std::string> gpu_names, cpu_names;
  for (const auto& b : saved.blobs) gpu_names.insert(b.name);
  for (const auto& b : cpu_saved.blobs) cpu_names.insert(b.name);
  EXPECT_EQ(gpu_names, cpu_names);

  CudaProgram b(plan, kSeed, 0, true);
  b.load_state(restored);
  const auto continued = train(a, *g, oc, 2, 4);
  const auto resumed = train(b, *g, oc, 2, 4);
  EXPECT_EQ(resumed, continued);
  for (size_t i = 0; i < a.params().size(); ++i)
    EXPECT_TRUE(bitwise_equal(a.download_param(i), b.download_param(i))) << a.params()[i].name;

  // A CPU checkpoint loads on the GPU: the parameters arrive bitwise.
  CudaProgram from_cpu(plan, kSeed, 0, true);
  from_cpu.load_state(cpu_saved);
  auto& params = cpu.executor().params();
  for (size_t i = 0; i < params.size(); ++i) {
    const std::vector<float> want(params[i].data, params[i].data + (params[i].type.bytes() + 3) / 4);
    EXPECT_TRUE(bitwise_equal(from_cpu.download_param(i), want)) << params[i].name;
  }
}

TEST(CudaProgram, EvalForwardMatchesTheCpu) {
  SKIP_WITHOUT_CUDA();
  ModelCase c;
  for (const auto& m : small_example_models())
    if (m.name == "cnn") c = m;
  auto g = load_case(c);
  auto plan = make_plan(g, keep_all());
  runtime::ExecutorOptions eo;
  eo.seed = kSeed;
  runtime::train::ExecutorProgram cpu(plan, runtime::cpu::cpu_kernels(), eo);
  cpu.init_params();
  CudaProgram gpu_p(plan, kSeed, 0, true);
  gpu_p.init_params();
  train(cpu, *g, sgd_nesterov(), 0, 2);
  train(gpu_p, *g, sgd_nesterov(), 0, 2);
  const auto specs = runtime::data::input_specs(*g);
  fill_inputs(specs, cpu.inputs(), 99);
  fill_inputs(specs, gpu_p.inputs(), 99);
  cpu.executor().run_forward_eval();
  gpu_p.run_forward_eval();
  EXPECT_NEAR(gpu_p.loss(), cpu.loss(), 1e-3 * std::max(1.0f, std::fabs(cpu.loss())));
}

// Once a program has set up, a larger scratch request would free the buffer its calls point at: it
// stops the process instead.
TEST(CudaContextDeathTest, ScratchNeverGrowsOnceLocked) {
  SKIP_WITHOUT_CUDA();
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        runtime::cuda::CudaContext ctx(0, false);
        ctx.reserve_scratch(int64_t{1} << 20);
        ctx.lock_scratch();
        ctx.scratch(int64_t{1} << 20);  // within the reservation: fine
        ctx.scratch(int64_t{1} << 24);
      },
      "during a step, above the");
}

TEST(CudaProgram, RefusesAPlanLargerThanTheDevice) {
  SKIP_WITHOUT_CUDA();
  ModelCase c{"resnet50", "examples/resnet.snet", {{"depth", "50"}, {"image_size", "224"}, {"classes", "1000"}}, 4096};
  auto g = load_case(c);
  auto plan = make_plan(g, keep_all());
  try {
    CudaProgram p(plan, kSeed, 0, false);
    FAIL() << "a " << plan->total_peak_bytes() << "-byte plan was accepted";
  } catch (const std::runtime_error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("free"), std::string::npos) << m;
    EXPECT_NE(m.find("memory.policy=sqrt"), std::string::npos) << m;
    EXPECT_NE(m.find("memory.budget="), std::string::npos) << m;
  }
}

TEST(CudaProgram, ReportsTheDeviceMemoryItAllocated) {
  SKIP_WITHOUT_CUDA();
  ModelCase c;
  for (const auto& m : small_example_models())
    if (m.name == "cnn") c = m;
  auto g = load_case(c);
  auto plan = make_plan(g, keep_all());
  CudaProgram p(plan, kSeed, 0, false);
  auto before = p.device_memory();
  ASSERT_TRUE(before.has_value());
  EXPECT_EQ(before->device, "cuda:0");
  // The arena as allocated (the plan's, rounded to the 256-byte alignment), and at least every parameter,
  // its gradient and the inputs in the persistent block.
  EXPECT_EQ(before->arena, planner::align_up(plan->feature_map_peak_bytes, 256));
  EXPECT_GE(before->persistent, plan->parameter_bytes + plan->gradient_bytes + plan->input_bytes);
  EXPECT_GE(before->workspace, plan->workspace_bytes);
  EXPECT_GE(before->in_use, before->allocated());
  // Adam's state, which the momentum plan did not foresee, is allocated on first use and reported.
  p.init_params();
  train(p, *g, adam(), 0, 1);
  auto after = p.device_memory();
  ASSERT_TRUE(after.has_value());
  EXPECT_GT(after->persistent, before->persistent);
  EXPECT_EQ(after->arena, before->arena);
}

}  // namespace
}  // namespace sublinear::testing

namespace sublinear::testing {
namespace {

// The data-parallel path on one GPU: a single-rank NCCL communicator averages every gradient over one
// worker (itself), so training is bitwise what it is without it. Skips where the machine has no NCCL.
TEST(CudaProgram, NcclSingleRankAveragingChangesNothing) {
  SKIP_WITHOUT_CUDA();
  ModelCase c;
  for (const auto& m : small_example_models())
    if (m.name == "mlp") c = m;
  auto g = load_case(c);
  auto plan = make_plan(g, keep_all());
  const OptimizerConfig oc = adam();

  CudaProgram plain(plan, kSeed, 0, true);
  plain.init_params();
  const auto want = train(plain, *g, oc, 0, 3);

  CudaProgram joined(plan, kSeed, 0, true);
  std::string id;
  try {
    id = joined.make_device_reduce_id();
  } catch (const std::runtime_error& e) {
    GTEST_SKIP() << e.what();
  }
  EXPECT_NE(joined.join_device_reduce(id, 0, 1).find("NCCL"), std::string::npos);
  EXPECT_TRUE(joined.set_worker(0));
  joined.init_params();
  EXPECT_EQ(train(joined, *g, oc, 0, 3), want);
  for (size_t i = 0; i < plain.params().size(); ++i)
    EXPECT_TRUE(bitwise_equal(plain.download_param(i), joined.download_param(i))) << plain.params()[i].name;
}

}  // namespace
}  // namespace sublinear::testing

namespace sublinear::testing {
namespace {

// Host only (no GPU needed): NCCL opens by dlopen with every entry point the reducer uses, and makes the
// 128-byte bootstrap id worker 0 hands out. Skips where the machine has no libnccl.so.2.
TEST(NcclReducer, OpensNcclAndMakesABootstrapId) {
  std::string id;
  try {
    id = runtime::cuda::NcclReducer::make_id();
  } catch (const std::runtime_error& e) {
    if (std::string(e.what()).find("cannot load NCCL") != std::string::npos) GTEST_SKIP() << e.what();
    throw;
  }
  EXPECT_EQ(id.size(), 128u);
  EXPECT_NE(id, std::string(128, '\0'));
}

}  // namespace
}  // namespace sublinear::testing
