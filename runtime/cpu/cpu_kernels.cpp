#include "runtime/cpu/cpu_kernels.h"

#include <oneapi/dnnl/dnnl.h>

namespace sublinear::runtime::cpu {

std::string onednn_version() {
  const dnnl_version_t* v = dnnl_version();
  return std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
}

const KernelTable& cpu_kernels() {
  static const KernelTable table = [] {
    KernelTable t;
    register_conv_kernels(t);
    register_conv_transpose_kernels(t);
    register_norm_kernels(t);
    register_row_norm_kernels(t);
    register_pool_kernels(t);
    register_activation_kernels(t);
    register_linear_kernels(t);
    register_elementwise_kernels(t);
    register_math_kernels(t);
    register_attention_kernels(t);
    register_resize_kernels(t);
    register_index_kernels(t);
    register_shape_kernels(t);
    register_loss_kernels(t);
    register_fill_kernels(t);
    return t;
  }();
  return table;
}

}  // namespace sublinear::runtime::cpu
