#pragma once
// The optimizer update on the device: runtime/optimizer.h's formulas, operation for operation in
// f32 with __fmul_rn/__fadd_rn/__fsqrt_rn/__fdiv_rn (no FMA contraction), so a step gives the CPU's bits.
// One launch updates every parameter: blocks are assigned fixed chunks of one parameter each through a
// table of slots uploaded once at setup. Plain C++ (the program includes it); the kernel is in
// optimizer_kernels.cu.
#include <cstdint>

#include "runtime/cuda/cuda_context.h"

namespace sublinear::runtime::cuda {

enum class DeviceOptimizerKind : int { Sgd = 0, Momentum = 1, Nesterov = 2, Adam = 3, AdamW = 4 };

// The hyper-parameters already rounded to f32 by the host, exactly as optimizer.cpp rounds them.
struct OptimizerScalars {
  DeviceOptimizerKind kind = DeviceOptimizerKind::Sgd;
  float lr = 0;             // sgd
  float weight_decay = 0;   // 0: no decay term at all (as the CPU's `if (wd != 0)`)
  float momentum = 0;       // sgd
  float one_minus_b1 = 0, b2 = 0, one_minus_b2 = 0, neg_step_size = 0, c2_sqrt = 0, eps = 0;  // adam, adamw
  float keep = 1;           // adamw: w *= keep before the update, when shrink
  bool shrink = false;
  const float* coef = nullptr;  // device: the clipping factor every gradient is multiplied by; null: none
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
// Gradient clipping: the global norm of the slots' gradients (per-chunk double sums in a fixed tree, then the
// chunks in order by one thread) and min(1, clip / (norm + 1e-6)) in f32, written into `work` (total_chunks + 1
// doubles); returns the device address of the coefficient. The CPU sums in other chunks, so the two agree
// to double rounding (the f32 coefficient almost always bitwise).
const float* launch_clip_coefficient(CudaContext& ctx, const DeviceParamSlot* slots, const int64_t* chunk_start,
                                     int count, int64_t total_chunks, double clip, double* work);

void launch_optimizer(CudaContext& ctx, const DeviceParamSlot* slots, const int64_t* chunk_start, int count,
                      int64_t total_chunks, const OptimizerScalars& s);

}  // namespace sublinear::runtime::cuda
