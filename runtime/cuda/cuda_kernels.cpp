// The CUDA kernel table: the families registered on a context (see cuda_kernels.h for the rules).
#include "runtime/cuda/cuda_kernels.h"

#include <algorithm>

#include "ir/graph.h"

namespace sublinear::runtime::cuda {

namespace {

void register_all(KernelTable& t, CudaContext* ctx) {
  register_conv_kernels(t, ctx);
  register_norm_kernels(t, ctx);
  register_pool_kernels(t, ctx);
  register_activation_kernels(t, ctx);
  register_linear_kernels(t, ctx);
  register_elementwise_kernels(t, ctx);
  register_math_kernels(t, ctx);
  register_row_norm_kernels(t, ctx);
  register_attention_kernels(t, ctx);
  register_resize_kernels(t, ctx);
  register_index_kernels(t, ctx);
  register_shape_kernels(t, ctx);
  register_loss_kernels(t, ctx);
  register_fill_kernels(t, ctx);
}

}  // namespace

void add_kernels(KernelTable& t, CudaContext* ctx, const std::string& op, CudaKernelFn fwd, CudaKernelFn bwd) {
  // The context is looked up per call for the default table, so building it touches no device.
  auto bind = [ctx](CudaKernelFn f) -> KernelFn {
    if (f == nullptr) return nullptr;
    return [ctx, f](const OpCall& c) { f(ctx != nullptr ? *ctx : default_cuda_context(), c); };
  };
  t.add(op, {bind(fwd), bind(bwd)});
}

const KernelTable& cuda_kernels() {
  static const KernelTable table = [] {
    KernelTable t;
    register_all(t, nullptr);
    return t;
  }();
  return table;
}

KernelTable make_cuda_kernels(CudaContext& ctx) {
  KernelTable t;
  register_all(t, &ctx);
  return t;
}

int64_t cuda_scratch_bytes(CudaContext& ctx, const ir::Node& n, const std::vector<ir::TensorType>& in) {
  return std::max({conv_scratch_bytes(ctx, n, in), norm_scratch_bytes(n, in), loss_scratch_bytes(n, in),
                   elementwise_scratch_bytes(n, in), math_scratch_bytes(n, in),
                   attention_scratch_bytes(n, in)});
}

}  // namespace sublinear::runtime::cuda
