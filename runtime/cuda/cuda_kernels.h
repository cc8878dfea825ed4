#pragma once
// The CUDA backend's kernels: cuDNN for convolution, cuBLAS for linear and matmul, hand-written kernels
// for everything else. Every op of the CPU table (runtime/cpu/cpu_kernels.h) has a forward here, and
// every differentiable one a backward, with the contract of runtime/kernel.h: Tensor::data is a device
// pointer, and each kernel only enqueues work on its context's stream (it returns before the work is
// done; nothing synchronises except where a result must reach the host).
// Rules beyond the contract:
// - Deterministic: no floating-point atomics; reductions run in an order fixed by the shapes; cuDNN
//   algorithms are chosen by heuristics from the geometry alone (only deterministic ones when the
//   context says so), so a plan with recomputation gives bitwise the gradients of one without.
// - No device allocation in a kernel once the program reserved scratch at setup (cuda_scratch_bytes).
// - Results follow the CPU kernels' formulas and rounding order where that is cheap (element-wise ops,
//   pooling, dropout, the optimizer are bitwise equal); reductions and GEMMs agree to float rounding.
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/cuda/cuda_context.h"
#include "runtime/kernel.h"

namespace sublinear::runtime::cuda {

// The table on the process-wide default context (deterministic, current device), built once.
const KernelTable& cuda_kernels();
// A table whose kernels run on `ctx` (which must outlive it).
KernelTable make_cuda_kernels(CudaContext& ctx);

// Device scratch one call of node `n` (with inputs of types `in`) needs beyond nothing, in bytes: the
// program reserves the maximum over its plan at setup. May query cuDNN (choosing the convolution
// algorithms once, for the geometry).
int64_t cuda_scratch_bytes(CudaContext& ctx, const ir::Node& n, const std::vector<ir::TensorType>& in);

// --- per family (one .cu file each) --------------------------------------------------------------------
using CudaKernelFn = void (*)(CudaContext&, const OpCall&);
// Registers fwd/bwd (bwd may be null) bound to `ctx`; a null ctx means default_cuda_context() at call time.
void add_kernels(KernelTable& t, CudaContext* ctx, const std::string& op, CudaKernelFn fwd, CudaKernelFn bwd);

void register_conv_kernels(KernelTable& t, CudaContext* ctx);        // conv2d, conv_transpose2d
void register_norm_kernels(KernelTable& t, CudaContext* ctx);        // batch_norm
void register_pool_kernels(KernelTable& t, CudaContext* ctx);        // max_pool, avg_pool, global_avg_pool
void register_activation_kernels(KernelTable& t, CudaContext* ctx);  // relu, sigmoid, tanh, dropout
void register_linear_kernels(KernelTable& t, CudaContext* ctx);      // linear, matmul, embedding
void register_elementwise_kernels(KernelTable& t, CudaContext* ctx); // add, sub, mul, scale, add_n
void register_math_kernels(KernelTable& t, CudaContext* ctx);        // exp ... silu, div, maximum, minimum
void register_row_norm_kernels(KernelTable& t, CudaContext* ctx);    // layer_norm, rms_norm
void register_attention_kernels(KernelTable& t, CudaContext* ctx);   // attention
void register_resize_kernels(KernelTable& t, CudaContext* ctx);      // upsample
void register_index_kernels(KernelTable& t, CudaContext* ctx);       // arange, argmax
void register_shape_kernels(KernelTable& t, CudaContext* ctx);       // reshape ... select
void register_loss_kernels(KernelTable& t, CudaContext* ctx);        // softmax ... accuracy
void register_fill_kernels(KernelTable& t, CudaContext* ctx);        // zeros, ones, full

// Scratch needs of the families that have any (0 for other ops).
int64_t conv_scratch_bytes(CudaContext& ctx, const ir::Node& n, const std::vector<ir::TensorType>& in);
// The most elements a convolution hands cuDNN in one tensor before it splits the batch (conv_split.h):
// cuDNN's limit unless a test lowers it, so that the split path runs on small tensors.
void set_conv_tensor_limit(int64_t elements);
int64_t norm_scratch_bytes(const ir::Node& n, const std::vector<ir::TensorType>& in);
int64_t loss_scratch_bytes(const ir::Node& n, const std::vector<ir::TensorType>& in);
int64_t elementwise_scratch_bytes(const ir::Node& n, const std::vector<ir::TensorType>& in);
int64_t math_scratch_bytes(const ir::Node& n, const std::vector<ir::TensorType>& in);
int64_t attention_scratch_bytes(const ir::Node& n, const std::vector<ir::TensorType>& in);

}  // namespace sublinear::runtime::cuda
