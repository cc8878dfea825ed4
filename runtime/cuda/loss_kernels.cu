// softmax, softmax_cross_entropy, mean, sum and accuracy on the GPU, with the formulas of
// runtime/cpu/loss_kernels.cpp.
// Rules: softmax and the cross-entropy subtract the row maximum before exponentiating and sum in double
// (one block per row in a fixed tree, or one thread per column when the axis is not the last), storing
// exp(x - max) as f32 and dividing in double like the CPU; the loss of a batch adds per-row losses in a
// fixed tree. Labels outside [0, C) are recorded as a device error (thrown by the host at the next
// synchronisation, with the CPU's message) and give a NaN loss meanwhile. Accuracy counts hits with
// integer atomics, which are exact in any order. No floating-point atomics anywhere.
#include <cmath>

#include "runtime/cuda/cuda_device.cuh"
#include "runtime/cuda/cuda_kernels.h"
#include "runtime/cuda/cuda_util.h"
#include "runtime/kernel_geometry.h"

namespace sublinear::runtime::cuda {

namespace {

// --- softmax -------------------------------------------------------------------------------------------

// One row over a block: its max, and the sum of exp(x - max) in double, each thread taking elements
// threadIdx.x, + kThreads, ... and the block reductions fixed, so every caller gets the same bits (the
// cross-entropy's backward depends on it). Each exp is also written to e[k] when e is given.
__device__ void row_max_sum(const float* xr, int64_t C, float* e, float& mx, double& sum) {
  float m = -INFINITY;
  for (int64_t k = threadIdx.x; k < C; k += kThreads) m = xr[k] > m ? xr[k] : m;
  m = block_max(m);
  double s = 0.0;
  for (int64_t k = threadIdx.x; k < C; k += kThreads) {
    const float v = expf(__fsub_rn(xr[k], m));
    if (e != nullptr) e[k] = v;
    s += v;
  }
  mx = m;
  sum = block_sum(s);
}

// The last axis: one block per row.
__global__ void softmax_rows_kernel(const float* x, float* y, int64_t rows, int64_t C) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * C;
    float* yr = y + r * C;
    float mx;
    double sum;
    row_max_sum(xr, C, yr, mx, sum);
    // Each thread divides the elements it wrote.
    for (int64_t k = threadIdx.x; k < C; k += kThreads) yr[k] = static_cast<float>(static_cast<double>(yr[k]) / sum);
  }
}

// Another axis: one thread per (outer, inner) column, walking the classes in order.
__global__ void softmax_columns_kernel(const float* x, float* y, AxisView v) {
  const int64_t n = v.outer * v.inner;
  for (int64_t t = global_thread(); t < n; t += global_stride()) {
    const int64_t o = t / v.inner, i = t % v.inner;
    const int64_t base = o * v.classes * v.inner + i;
    float mx = x[base];
    for (int64_t k = 1; k < v.classes; ++k) {
      const float xv = x[base + k * v.inner];
      mx = xv > mx ? xv : mx;
    }
    double sum = 0.0;
    for (int64_t k = 0; k < v.classes; ++k) {
      const float e = expf(__fsub_rn(x[base + k * v.inner], mx));
      y[base + k * v.inner] = e;
      sum += e;
    }
    for (int64_t k = 0; k < v.classes; ++k) {
      float* out = y + base + k * v.inner;
      *out = static_cast<float>(static_cast<double>(*out) / sum);
    }
  }
}

__device__ __forceinline__ float softmax_grad(float y, float g, double dot) {
  return __fmul_rn(y, static_cast<float>(__dsub_rn(static_cast<double>(g), dot)));
}

// dx = y * (dy - sum_k dy_k y_k), the products in double.
__global__ void softmax_grad_rows_kernel(const float* y, const float* g, float* dx, int64_t rows, int64_t C, bool acc) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* yr = y + r * C;
    const float* gr = g + r * C;
    float* dr = dx + r * C;
    double dot = 0.0;
    for (int64_t k = threadIdx.x; k < C; k += kThreads)
      dot = __dadd_rn(dot, __dmul_rn(static_cast<double>(gr[k]), static_cast<double>(yr[k])));
    dot = block_sum(dot);
    for (int64_t k = threadIdx.x; k < C; k += kThreads) {
      const float d = softmax_grad(yr[k], gr[k], dot);
      dr[k] = acc ? __fadd_rn(dr[k], d) : d;
    }
  }
}

__global__ void softmax_grad_columns_kernel(const float* y, const float* g, float* dx, AxisView v, bool acc) {
  const int64_t n = v.outer * v.inner;
  for (int64_t t = global_thread(); t < n; t += global_stride()) {
    const int64_t o = t / v.inner, i = t % v.inner;
    const int64_t base = o * v.classes * v.inner + i;
    double dot = 0.0;
    for (int64_t k = 0; k < v.classes; ++k) {
      const int64_t off = base + k * v.inner;
      dot = __dadd_rn(dot, __dmul_rn(static_cast<double>(g[off]), static_cast<double>(y[off])));
    }
    for (int64_t k = 0; k < v.classes; ++k) {
      const int64_t off = base + k * v.inner;
      const float d = softmax_grad(y[off], g[off], dot);
      dx[off] = acc ? __fadd_rn(dx[off], d) : d;
    }
  }
}

void softmax_forward(CudaContext& ctx, const OpCall& c) {
  const AxisView v = axis_view(c.in[0].type.shape, c.node->attrs.get_int("axis"));
  if (c.in[0].numel() == 0) return;
  if (v.inner == 1)
    softmax_rows_kernel<<<blocks_for(v.outer, 1), kThreads, 0, ctx.stream()>>>(c.in[0].f32(), c.out[0].f32(), v.outer,
                                                                               v.classes);
  else
    softmax_columns_kernel<<<blocks_for(v.outer * v.inner), kThreads, 0, ctx.stream()>>>(c.in[0].f32(),
                                                                                         c.out[0].f32(), v);
  SL_CUDA_LAUNCH_CHECK();
}

void softmax_backward(CudaContext& ctx, const OpCall& c) {
  if (!grad_wanted(c, 0)) return;
  const bool acc = grad_accumulates(c, 0);
  if (!c.dy[0].present()) return zero_gradient(ctx, c.dx[0], acc);
  const AxisView v = axis_view(c.out[0].type.shape, c.node->attrs.get_int("axis"));
  if (c.out[0].numel() == 0) return;
  if (v.inner == 1)
    softmax_grad_rows_kernel<<<blocks_for(v.outer, 1), kThreads, 0, ctx.stream()>>>(
        c.out[0].f32(), c.dy[0].f32(), c.dx[0].f32(), v.outer, v.classes, acc);
  else
    softmax_grad_columns_kernel<<<blocks_for(v.outer * v.inner), kThreads, 0, ctx.stream()>>>(
        c.out[0].f32(), c.dy[0].f32(), c.dx[0].f32(), v, acc);
  SL_CUDA_LAUNCH_CHECK();
}

// --- softmax_cross_entropy -------------------------------------------------------------------------------

// One block per row: probabilities, and the row's loss log(sum exp(x - max)) + max - x[label] into
// `row_loss` (doubles) or, for reduction "none", straight into `loss`.
__global__ void xent_rows_kernel(const float* x, const int32_t* labels, float* probs, double* row_loss, float* loss,
                                 int64_t rows, int64_t C, DeviceError* err, int node) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * C;
    float* pr = probs + r * C;
    const int32_t label = labels[r];
    const bool valid = label >= 0 && label < C;
    if (!valid && threadIdx.x == 0) report_error(err, kLabelOutOfRange, node, label, r, C);
    float mx;
    double sum;
    row_max_sum(xr, C, pr, mx, sum);
    for (int64_t k = threadIdx.x; k < C; k += kThreads) pr[k] = static_cast<float>(static_cast<double>(pr[k]) / sum);
    if (threadIdx.x == 0) {
      const double l = valid ? log(sum) + (static_cast<double>(mx) - static_cast<double>(xr[label])) : NAN;
      if (row_loss) row_loss[r] = l;
      else loss[r] = static_cast<float>(l);
    }
  }
}

// The batch loss: the per-row losses summed in a fixed tree (one block), then averaged or not.
__global__ void xent_total_kernel(const double* row_loss, float* loss, int64_t rows, bool mean) {
  double s = 0.0;
  for (int64_t r = threadIdx.x; r < rows; r += kThreads) s += row_loss[r];
  s = block_sum(s);
  if (threadIdx.x == 0) loss[0] = static_cast<float>(mean ? s / static_cast<double>(rows) : s);
}

// dlogits = g_row * (probs - onehot(label)), one block per row: the row's probabilities computed again
// from the logits with xent_rows_kernel's row_max_sum and division, since the backward does not read the
// forward's (ir/ops/loss_ops.cpp says why).
__global__ void xent_grad_kernel(const float* x, const int32_t* labels, const float* dy, float* dx, int64_t rows,
                                 int64_t C, int reduction, bool acc) {
  // reduction: 0 mean, 1 sum, 2 none
  const float shared = reduction == 0 ? static_cast<float>(static_cast<double>(dy[0]) / static_cast<double>(rows))
                       : reduction == 1 ? dy[0]
                                        : 0.0f;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * C;
    float* dr = dx + r * C;
    float mx;
    double sum;
    row_max_sum(xr, C, nullptr, mx, sum);
    const float gr = reduction == 2 ? dy[r] : shared;
    for (int64_t k = threadIdx.x; k < C; k += kThreads) {
      const float p = static_cast<float>(static_cast<double>(expf(__fsub_rn(xr[k], mx))) / sum);
      const float v = __fmul_rn(gr, __fsub_rn(p, k == labels[r] ? 1.0f : 0.0f));
      dr[k] = acc ? __fadd_rn(dr[k], v) : v;
    }
  }
}

int reduction_code(const std::string& r) { return r == "mean" ? 0 : r == "sum" ? 1 : 2; }

void xent_forward(CudaContext& ctx, const OpCall& c) {
  const Tensor &logits = c.in[0], &labels = c.in[1];
  const int64_t C = logits.type.shape.back(), rows = labels.numel();
  if (rows == 0) return;
  const int reduction = reduction_code(c.node->attrs.get_string("reduction"));
  ctx.note_node(*c.node);
  double* row_loss =
      reduction == 2 ? nullptr : static_cast<double*>(ctx.scratch(rows * static_cast<int64_t>(sizeof(double))));
  xent_rows_kernel<<<blocks_for(rows, 1), kThreads, 0, ctx.stream()>>>(logits.f32(), labels.i32(), c.out[1].f32(),
                                                                       row_loss, c.out[0].f32(), rows, C,
                                                                       ctx.device_error(), c.node->id);
  SL_CUDA_LAUNCH_CHECK();
  if (row_loss) {
    xent_total_kernel<<<1, kThreads, 0, ctx.stream()>>>(row_loss, c.out[0].f32(), rows, reduction == 0);
    SL_CUDA_LAUNCH_CHECK();
  }
}

void xent_backward(CudaContext& ctx, const OpCall& c) {
  if (!grad_wanted(c, 0)) return;
  const bool acc = grad_accumulates(c, 0);
  const Tensor& dy = c.dy[0];
  if (!dy.present()) return zero_gradient(ctx, c.dx[0], acc);
  const Tensor &logits = c.in[0], &labels = c.in[1];
  const int64_t C = logits.type.shape.back(), rows = labels.numel();
  if (rows * C == 0) return;
  xent_grad_kernel<<<blocks_for(rows, 1), kThreads, 0, ctx.stream()>>>(
      logits.f32(), labels.i32(), dy.f32(), c.dx[0].f32(), rows, C,
      reduction_code(c.node->attrs.get_string("reduction")), acc);
  SL_CUDA_LAUNCH_CHECK();
}

// --- accuracy ----------------------------------------------------------------------------------------

// One thread per row; ties go to the first index, as argmax conventionally does.
__global__ void accuracy_kernel(const float* x, const int32_t* labels, int64_t rows, int64_t C, int* hits,
                                DeviceError* err, int node) {
  int hit = 0;
  for (int64_t r = global_thread(); r < rows; r += global_stride()) {
    const float* xr = x + r * C;
    int64_t best = 0;
    for (int64_t k = 1; k < C; ++k)
      if (xr[k] > xr[best]) best = k;
    const int32_t label = labels[r];
    if (label < 0 || label >= C) report_error(err, kLabelOutOfRange, node, label, r, C);
    hit += best == label ? 1 : 0;
  }
  hit = block_sum(hit);
  if (threadIdx.x == 0 && hit != 0) atomicAdd(hits, hit);
}

__global__ void accuracy_finish_kernel(const int* hits, float* out, int64_t rows) {
  out[0] = static_cast<float>(static_cast<double>(*hits) / static_cast<double>(rows));
}

void accuracy_forward(CudaContext& ctx, const OpCall& c) {
  const Tensor &logits = c.in[0], &labels = c.in[1];
  const int64_t C = logits.type.shape.back(), rows = labels.numel();
  ctx.note_node(*c.node);
  int* hits = static_cast<int*>(ctx.scratch(sizeof(int)));
  SL_CUDA_CHECK(cudaMemsetAsync(hits, 0, sizeof(int), ctx.stream()));
  if (rows > 0) {
    accuracy_kernel<<<blocks_for(rows), kThreads, 0, ctx.stream()>>>(logits.f32(), labels.i32(), rows, C, hits,
                                                                      ctx.device_error(), c.node->id);
    SL_CUDA_LAUNCH_CHECK();
  }
  accuracy_finish_kernel<<<1, 1, 0, ctx.stream()>>>(hits, c.out[0].f32(), rows);
  SL_CUDA_LAUNCH_CHECK();
}

// --- mean, sum ---------------------------------------------------------------------------------------

template <bool Mean>
void reduce_forward(CudaContext& ctx, const OpCall& c) {
  const ir::Shape& x = c.in[0].type.shape;
  int64_t count = 1;
  const std::vector<char> flags = reduced_axes(c, x, &count);
  reduce_sum(ctx, c.in[0].f32(), x, flags, c.out[0].f32(), Mean ? 1.0 / static_cast<double>(count) : 1.0, false);
}

// dx = dy broadcast back over the reduced axes, times s for mean.
template <bool Mean>
__global__ void reduce_grad_kernel(const float* g, float* dx, IndexMap m, float s, int64_t n, bool acc) {
  for (int64_t i = global_thread(); i < n; i += global_stride()) {
    int64_t ig, unused;
    map_offsets(m, i, &ig, &unused);
    const float v = Mean ? __fmul_rn(g[ig], s) : g[ig];
    dx[i] = acc ? __fadd_rn(dx[i], v) : v;
  }
}

template <bool Mean>
void reduce_backward(CudaContext& ctx, const OpCall& c) {
  if (!grad_wanted(c, 0)) return;
  const bool acc = grad_accumulates(c, 0);
  if (!c.dy[0].present()) return zero_gradient(ctx, c.dx[0], acc);
  const ir::Shape& x = c.dx[0].type.shape;
  const int64_t n = c.dx[0].numel();
  if (n == 0) return;
  int64_t count = 1;
  const std::vector<char> flags = reduced_axes(c, x, &count);
  const ir::Shape kept = kept_shape(x, flags);  // laid out as dy
  const float s = Mean ? static_cast<float>(1.0 / static_cast<double>(count)) : 1.0f;
  const IndexMap m = broadcast_map(x, kept, kept);
  reduce_grad_kernel<Mean><<<blocks_for(n), kThreads, 0, ctx.stream()>>>(c.dy[0].f32(), c.dx[0].f32(), m, s, n, acc);
  SL_CUDA_LAUNCH_CHECK();
}

}  // namespace

int64_t loss_scratch_bytes(const ir::Node& n, const std::vector<ir::TensorType>& in) {
  if (n.op == "softmax_cross_entropy" && n.attrs.get_string("reduction") != "none")
    return ir::num_elements(in[1].shape) * static_cast<int64_t>(sizeof(double));
  if (n.op == "accuracy") return static_cast<int64_t>(sizeof(int));
  return 0;
}

void register_loss_kernels(KernelTable& t, CudaContext* ctx) {
  add_kernels(t, ctx, "softmax", softmax_forward, softmax_backward);
  add_kernels(t, ctx, "softmax_cross_entropy", xent_forward, xent_backward);
  add_kernels(t, ctx, "mean", reduce_forward<true>, reduce_backward<true>);
  add_kernels(t, ctx, "sum", reduce_forward<false>, reduce_backward<false>);
  add_kernels(t, ctx, "accuracy", accuracy_forward, nullptr);
}

}  // namespace sublinear::runtime::cuda
