// zeros, ones and full on the GPU, for every dtype the IR allows. No gradients.
// Rules: the element's bit pattern is what the CPU kernel stores (it runs on one host element, so the
// conversions, bf16/f16 rounding and the i32 range error with its std::runtime_error are the CPU's,
// thrown before anything is enqueued); the device then repeats the pattern.
#include <cstring>

#include "runtime/cpu/cpu_kernels.h"
#include "runtime/cuda/cuda_kernels.h"
#include "runtime/cuda/cuda_util.h"

namespace sublinear::runtime::cuda {

namespace {

void fill_forward(CudaContext& ctx, const OpCall& c) {
  const Tensor& y = c.out[0];
  const int elem = static_cast<int>(ir::dtype_size(y.type.dtype));
  uint32_t bits = 0;
  OpCall one;
  one.node = c.node;
  one.out.push_back(Tensor{&bits, ir::TensorType{y.type.dtype, {}}});
  one.mode = c.mode;
  cpu::cpu_kernels().get(c.node->op).forward(one);
  fill_pattern(ctx, y.data, y.numel(), bits, elem);
}

}  // namespace

void register_fill_kernels(KernelTable& t, CudaContext* ctx) {
  add_kernels(t, ctx, "zeros", fill_forward, nullptr);
  add_kernels(t, ctx, "ones", fill_forward, nullptr);
  add_kernels(t, ctx, "full", fill_forward, nullptr);
}

}  // namespace sublinear::runtime::cuda
