#pragma once
// The CPU backend's kernels: oneDNN for convolution, inner product, pooling and eltwise; hand-written,
// OpenMP-threaded loops (or oneDNN sgemm) for the rest. Every non-source op of the IR registry has a
// forward here, and every differentiable one a backward.
#include <string>

#include "runtime/kernel.h"

namespace sublinear::runtime::cpu {

// "2.6.3": the oneDNN library the kernels run on.
std::string onednn_version();

// The table, built once.
const KernelTable& cpu_kernels();

// One function per family, each in its own file.
void register_conv_kernels(KernelTable& t);        // conv2d
void register_conv_transpose_kernels(KernelTable& t);  // conv_transpose2d
void register_norm_kernels(KernelTable& t);        // batch_norm
void register_row_norm_kernels(KernelTable& t);    // layer_norm, rms_norm
void register_pool_kernels(KernelTable& t);        // max_pool, avg_pool, global_avg_pool
void register_activation_kernels(KernelTable& t);  // relu, sigmoid, tanh, dropout, lstm_cell
void register_linear_kernels(KernelTable& t);      // linear, matmul, embedding
void register_elementwise_kernels(KernelTable& t); // add, sub, mul, scale, add_n
void register_math_kernels(KernelTable& t);        // exp, log, ..., gelu, silu, div, maximum, minimum
void register_attention_kernels(KernelTable& t);   // attention
void register_resize_kernels(KernelTable& t);      // upsample
void register_index_kernels(KernelTable& t);       // arange, argmax
void register_shape_kernels(KernelTable& t);       // reshape, flatten, transpose, concat, stack, split, slice, select
void register_loss_kernels(KernelTable& t);        // softmax, softmax_cross_entropy, mean, sum, accuracy
void register_fill_kernels(KernelTable& t);        // zeros, ones, full

}  // namespace sublinear::runtime::cpu
