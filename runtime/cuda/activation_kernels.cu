// relu, sigmoid, tanh and dropout on the GPU: one thread per element.
// Rules (those of runtime/cpu/activation_kernels.cpp): every element is read before it is written and
// depends on nothing else, so y may alias x and dx may alias dy. relu, sigmoid and tanh differentiate
// through y alone, with the CPU's rounding order (explicit _rn intrinsics keep nvcc from contracting
// a*b+c into an FMA the CPU does not do). dropout draws its mask from runtime/counter_rng.h with the
// CPU's key (seed, iteration, node id, element index), so the masks are the CPU's bit for bit and a
// recomputation or the backward replays the forward's; Eval is the identity.
#include "runtime/counter_rng.h"
#include "runtime/cuda/cuda_device.cuh"
#include "runtime/cuda/cuda_kernels.h"
#include "runtime/cuda/cuda_util.h"
#include "runtime/kernel_geometry.h"

namespace sublinear::runtime::cuda {

namespace {

enum class Act { Relu, Sigmoid, Tanh };

template <Act A>
__device__ __forceinline__ float act(float x) {
  if constexpr (A == Act::Relu) return x < 0.0f ? 0.0f : x;  // NaN propagates
  else if constexpr (A == Act::Sigmoid) return __fdiv_rn(1.0f, __fadd_rn(1.0f, expf(-x)));
  else return tanhf(x);
}

template <Act A>
__device__ __forceinline__ float act_grad(float y, float dy) {
  if constexpr (A == Act::Relu) return y > 0.0f ? dy : 0.0f;
  else if constexpr (A == Act::Sigmoid) return __fmul_rn(dy, __fmul_rn(y, __fsub_rn(1.0f, y)));
  else return __fmul_rn(dy, __fsub_rn(1.0f, __fmul_rn(y, y)));
}

template <Act A>
__global__ void act_kernel(const float* x, float* y, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += global_stride()) y[i] = act<A>(x[i]);
}

template <Act A>
__global__ void act_grad_kernel(const float* y, const float* dy, float* dx, int64_t n, bool acc) {
  for (int64_t i = global_thread(); i < n; i += global_stride()) {
    const float g = act_grad<A>(y[i], dy[i]);
    dx[i] = acc ? __fadd_rn(dx[i], g) : g;
  }
}

// lstm_cell (ir/fusion.h): one thread per element of c, with the unfused ops' device expressions (act<>,
// act_grad<>, _rn products and sums), so the fused cell is bitwise this backend's unfused one. The
// backward computes the activations and tanh(c') again from the gates and c', as the CPU kernel does.
struct Quarters {
  int64_t at[4];  // offsets of the i, f, g, o quarters within a row of gates
};

__global__ void lstm_forward_kernel(const float* gates, const float* c, float* h, float* cn, int64_t n, int64_t hidden,
                                    Quarters q) {
  for (int64_t e = global_thread(); e < n; e += global_stride()) {
    const float* row = gates + (e / hidden) * 4 * hidden + e % hidden;
    const float i = act<Act::Sigmoid>(row[q.at[0]]), f = act<Act::Sigmoid>(row[q.at[1]]);
    const float g = act<Act::Tanh>(row[q.at[2]]), o = act<Act::Sigmoid>(row[q.at[3]]);
    const float next = __fadd_rn(__fmul_rn(f, c[e]), __fmul_rn(i, g));
    cn[e] = next;
    h[e] = __fmul_rn(o, act<Act::Tanh>(next));
  }
}

__global__ void lstm_backward_kernel(const float* gates, const float* c, const float* cn, const float* dh,
                                     const float* dcn, float* dgates, bool acc_x, float* dc, bool acc_c, int64_t n,
                                     int64_t hidden, Quarters q) {
  for (int64_t e = global_thread(); e < n; e += global_stride()) {
    const int64_t base = (e / hidden) * 4 * hidden + e % hidden;
    const float* row = gates + base;
    const float i = act<Act::Sigmoid>(row[q.at[0]]), f = act<Act::Sigmoid>(row[q.at[1]]);
    const float g = act<Act::Tanh>(row[q.at[2]]), o = act<Act::Sigmoid>(row[q.at[3]]);
    float dnext, go = 0.0f;
    if (dh != nullptr) {
      const float tc = act<Act::Tanh>(cn[e]);
      go = act_grad<Act::Sigmoid>(o, __fmul_rn(dh[e], tc));
      const float from_h = act_grad<Act::Tanh>(tc, __fmul_rn(dh[e], o));
      dnext = dcn != nullptr ? __fadd_rn(dcn[e], from_h) : from_h;
    } else {
      dnext = dcn[e];
    }
    if (dgates != nullptr) {
      const float v[4] = {act_grad<Act::Sigmoid>(i, __fmul_rn(dnext, g)),
                          act_grad<Act::Sigmoid>(f, __fmul_rn(dnext, c[e])),
                          act_grad<Act::Tanh>(g, __fmul_rn(dnext, i)), go};
      for (int k = 0; k < 4; ++k) {
        float* d = dgates + base + q.at[k];
        *d = acc_x ? __fadd_rn(*d, v[k]) : v[k];
      }
    }
    if (dc != nullptr) {
      const float v = __fmul_rn(dnext, f);
      dc[e] = acc_c ? __fadd_rn(dc[e], v) : v;
    }
  }
}

Quarters quarters(const OpCall& c, int64_t hidden) {
  const std::vector<int64_t>& order = c.node->attrs.get_int_list("order");
  Quarters q{};
  for (int k = 0; k < 4; ++k) q.at[k] = order[static_cast<size_t>(k)] * hidden;
  return q;
}

int64_t lstm_hidden(const OpCall& c) { return c.in[1].rank() == 0 ? 1 : c.in[1].dim(c.in[1].rank() - 1); }

void lstm_cell_forward(CudaContext& ctx, const OpCall& c) {
  const int64_t n = c.in[1].numel(), hidden = lstm_hidden(c);
  if (n == 0) return;
  lstm_forward_kernel<<<blocks_for(n), kThreads, 0, ctx.stream()>>>(c.in[0].f32(), c.in[1].f32(), c.out[0].f32(),
                                                                     c.out[1].f32(), n, hidden, quarters(c, hidden));
  SL_CUDA_LAUNCH_CHECK();
}

void lstm_cell_backward(CudaContext& ctx, const OpCall& c) {
  const bool want_x = grad_wanted(c, 0), want_c = grad_wanted(c, 1);
  const bool has_dh = c.dy[0].present(), has_dcn = c.dy.size() > 1 && c.dy[1].present();
  if (!has_dh && !has_dcn) {
    if (want_x) zero_gradient(ctx, c.dx[0], grad_accumulates(c, 0));
    if (want_c) zero_gradient(ctx, c.dx[1], grad_accumulates(c, 1));
    return;
  }
  const int64_t n = c.in[1].numel(), hidden = lstm_hidden(c);
  if ((!want_x && !want_c) || n == 0) return;
  lstm_backward_kernel<<<blocks_for(n), kThreads, 0, ctx.stream()>>>(
      c.in[0].f32(), c.in[1].f32(), c.out[1].f32(), has_dh ? c.dy[0].f32() : nullptr,
      has_dcn ? c.dy[1].f32() : nullptr, want_x ? c.dx[0].f32() : nullptr, grad_accumulates(c, 0),
      want_c ? c.dx[1].f32() : nullptr, grad_accumulates(c, 1), n, hidden, quarters(c, hidden));
  SL_CUDA_LAUNCH_CHECK();
}

// y = keep ? x * scale : 0, the CPU's product; the same kernel scales dy in the backward.
__global__ void dropout_kernel(const float* x, float* y, int64_t n, uint64_t seed, uint64_t iteration, uint64_t node,
                               float rate, float scale, uint64_t offset, bool acc) {
  for (int64_t i = global_thread(); i < n; i += global_stride()) {
    const float v =
        dropout_keep(seed, iteration, node, offset + static_cast<uint64_t>(i), rate) ? __fmul_rn(x[i], scale) : 0.0f;
    y[i] = acc ? __fadd_rn(y[i], v) : v;
  }
}

template <Act A>
void act_forward(CudaContext& ctx, const OpCall& c) {
  const int64_t n = c.out[0].numel();
  if (n == 0) return;
  act_kernel<A><<<blocks_for(n), kThreads, 0, ctx.stream()>>>(c.in[0].f32(), c.out[0].f32(), n);
  SL_CUDA_LAUNCH_CHECK();
}

template <Act A>
void act_backward(CudaContext& ctx, const OpCall& c) {
  if (!grad_wanted(c, 0)) return;
  const bool acc = grad_accumulates(c, 0);
  if (!c.dy[0].present()) return zero_gradient(ctx, c.dx[0], acc);
  const int64_t n = c.dx[0].numel();
  if (n == 0) return;
  act_grad_kernel<A><<<blocks_for(n), kThreads, 0, ctx.stream()>>>(c.out[0].f32(), c.dy[0].f32(), c.dx[0].f32(), n,
                                                                    acc);
  SL_CUDA_LAUNCH_CHECK();
}

void dropout_forward(CudaContext& ctx, const OpCall& c) {
  const int64_t n = c.out[0].numel();
  if (n == 0) return;
  if (c.mode == Mode::Eval) {
    if (c.out[0].data != c.in[0].data)
      SL_CUDA_CHECK(cudaMemcpyAsync(c.out[0].data, c.in[0].data, static_cast<size_t>(c.out[0].bytes()),
                                    cudaMemcpyDeviceToDevice, ctx.stream()));
    return;
  }
  const DropoutKey k = dropout_key(c);
  dropout_kernel<<<blocks_for(n), kThreads, 0, ctx.stream()>>>(c.in[0].f32(), c.out[0].f32(), n, k.seed, k.iteration,
                                                                k.node, k.rate, k.scale, k.offset, false);
  SL_CUDA_LAUNCH_CHECK();
}

void dropout_backward(CudaContext& ctx, const OpCall& c) {
  if (!grad_wanted(c, 0)) return;
  const bool acc = grad_accumulates(c, 0);
  if (!c.dy[0].present()) return zero_gradient(ctx, c.dx[0], acc);
  const int64_t n = c.dx[0].numel();
  if (n == 0) return;
  const DropoutKey k = dropout_key(c);
  dropout_kernel<<<blocks_for(n), kThreads, 0, ctx.stream()>>>(c.dy[0].f32(), c.dx[0].f32(), n, k.seed, k.iteration,
                                                                k.node, k.rate, k.scale, k.offset, acc);
  SL_CUDA_LAUNCH_CHECK();
}

}  // namespace

void register_activation_kernels(KernelTable& t, CudaContext* ctx) {
  add_kernels(t, ctx, "relu", act_forward<Act::Relu>, act_backward<Act::Relu>);
  add_kernels(t, ctx, "sigmoid", act_forward<Act::Sigmoid>, act_backward<Act::Sigmoid>);
  add_kernels(t, ctx, "tanh", act_forward<Act::Tanh>, act_backward<Act::Tanh>);
  add_kernels(t, ctx, "dropout", dropout_forward, dropout_backward);
  add_kernels(t, ctx, "lstm_cell", lstm_cell_forward, lstm_cell_backward);
}

}  // namespace sublinear::runtime::cuda
