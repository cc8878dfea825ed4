#pragma once
// The optimizer update on the device: runtime/train/optimizer.h's formulas, operation for operation in
// f32 with __fmul_rn/__fadd_rn/__fsqrt_rn/__fdiv_rn (no FMA contraction), so a step gives the CPU's bits.
// One launch updates every parameter: blocks are assigned fixed chunks of one parameter each through a
// table of slots uploaded once at setup. Plain C++ (the program includes it); the kernel is in
// optimizer_kernels.cu.
#include <cstdint>

#include "runtime/cuda/cuda_context.h"

namespace sublinear::runtime::cuda {

enum class DeviceOptimizerKind : int { Sgd = 0, Momentum = 1, Nesterov = 2, Adam = 3 };

// The hyper-parameters already rounded to f32 by the host, exactly as optimizer.cpp rounds them.
struct OptimizerScalars {
  DeviceOptimizerKind kind = DeviceOptimizerKind::Sgd;
  float lr = 0;             // sgd
  float weight_decay = 0;   // 0: no decay term at all (as the CPU's `if (wd != 0)`)
  float momentum = 0;       // sgd
  float one_minus_b1 = 0, b2 = 0, one_minus_b2 = 0, neg_step_size = 0, c2_sqrt = 0, eps = 0;  // adam
};

struct DeviceParamSlot {
  float* w = nullptr;
  const float* g = nullptr;
  float* state0 = nullptr;
  float* state1 = nullptr;
  int64_t n = 0;
};

// Elements one block updates.
constexpr int64_t kOptimizerChunk = 4096;

// `slots` (device array of `count`) and `chunk_start` (device array of count + 1 prefix sums of each slot's
// chunk count) describe the parameters; `total_chunks` = chunk_start[count].
void launch_optimizer(CudaContext& ctx, const DeviceParamSlot* slots, const int64_t* chunk_start, int count,
                      int64_t total_chunks, const OptimizerScalars& s);

}  // namespace sublinear::runtime::cuda
