// batch_norm over x [N, C, ...] on the GPU, hand-written so that it follows the CPU kernel
// (runtime/cpu/norm_kernels.cpp) formula for formula: the two-pass batch statistics in double, the saved
// mean and inverse standard deviation 1/sqrt(var + eps) of the biased variance, the running statistics
// updated with the unbiased variance in Train only (Recompute computes the same and updates nothing; Eval
// normalises with the running statistics), and the same per-channel affine folding in backward.
// Rules:
// - Deterministic without atomics: each channel's (n, spatial) index space is cut into K chunks of whole
//   rows, K a function of the shape alone; a block sums a chunk in a fixed tree (in double) into scratch,
//   and a per-channel pass adds the K partial sums in order.
// - The per-channel double arithmetic uses explicit _rn intrinsics (no FMA contraction) in the CPU's
//   evaluation order, and the per-element f32 affine does too, so results match the CPU's to the
//   rounding of the partial sums.
// - Scratch (partials and per-channel coefficients) comes from the context, reserved at setup through
//   norm_scratch_bytes().
// - batch_norm_relu (ir/fusion.h) applies relu's expressions where y is written and where dy is read
//   (y > 0 ? dy : 0), as the CPU kernel does.
#include <algorithm>

#include "runtime/cuda/cuda_device.cuh"
#include "runtime/cuda/cuda_kernels.h"
#include "runtime/cuda/cuda_util.h"

namespace sublinear::runtime::cuda {

namespace {

// Blocks the statistics passes aim for: enough to fill the GPU when there are few channels.
constexpr int64_t kTargetBlocks = 2048;
// A chunk smaller than this is not worth its own block.
constexpr int64_t kMinChunkElements = 4096;

// x viewed as [n, c, s]; per channel, rows i in [0, n) cut into k chunks of `rows` rows.
struct Layout {
  int64_t n, c, s;
  int64_t k, rows;
  __host__ __device__ int64_t count() const { return n * s; }
};

// The axes before the channel axis (attribute `axis`) are n, those after it s.
Layout layout(const ir::TensorType& x, const ir::Node& node) {
  int64_t axis = node.attrs.get_int("axis");
  if (axis < 0) axis += static_cast<int64_t>(x.shape.size());
  Layout l{1, x.shape[static_cast<size_t>(axis)], 1, 1, 1};
  for (size_t d = 0; d < static_cast<size_t>(axis); ++d) l.n *= x.shape[d];
  for (size_t d = static_cast<size_t>(axis) + 1; d < x.shape.size(); ++d) l.s *= x.shape[d];
  int64_t k = std::max<int64_t>(1, (kTargetBlocks + l.c - 1) / std::max<int64_t>(l.c, 1));
  k = std::min(k, std::max<int64_t>(1, l.count() / kMinChunkElements));
  k = std::clamp<int64_t>(k, 1, std::max<int64_t>(l.n, 1));
  l.rows = (l.n + k - 1) / k;
  l.k = l.n > 0 ? (l.n + l.rows - 1) / l.rows : 1;
  return l;
}

// Scratch: 2 * c * k partial sums and c means (double), then 3 * c coefficients (float).
int64_t scratch_for(const Layout& l) {
  return (2 * l.c * l.k + l.c) * static_cast<int64_t>(sizeof(double)) + 3 * l.c * static_cast<int64_t>(sizeof(float));
}

struct Scratch {
  double* part0;
  double* part1;
  double* mean;
  float* coef;  // [3, c]
};

Scratch carve(CudaContext& ctx, const Layout& l) {
  auto* base = static_cast<double*>(ctx.scratch(scratch_for(l)));
  Scratch s;
  s.part0 = base;
  s.part1 = base + l.c * l.k;
  s.mean = s.part1 + l.c * l.k;
  s.coef = reinterpret_cast<float*>(s.mean + l.c);
  return s;
}

enum class Pass { Sum, SquaredDeviation, Backward };

// Block b = (channel b / k, chunk b % k) sums its chunk. Sum: x. SquaredDeviation: (x - mean)^2.
// Backward: dy into part0 and dy * (x - mean) * invstd into part1, mean and invstd the saved floats; dy
// masked by y > 0 where y is given (batch_norm_relu).
template <Pass P>
__global__ void partial_kernel(const float* x, const float* dy, const double* mean_d, const float* save_mean,
                               const float* save_invstd, Layout l, double* part0, double* part1,
                               const float* y = nullptr) {
  const int64_t ch = blockIdx.x / l.k, chunk = blockIdx.x % l.k;
  const int64_t i0 = chunk * l.rows, i1 = i0 + l.rows < l.n ? i0 + l.rows : l.n;
  const uint32_t span = static_cast<uint32_t>((i1 - i0) * l.s), s32 = static_cast<uint32_t>(l.s);
  double mean = 0.0, invstd = 0.0;
  if (P == Pass::SquaredDeviation) mean = mean_d[ch];
  if (P == Pass::Backward) mean = save_mean[ch], invstd = save_invstd[ch];
  double a = 0.0, b = 0.0;
  for (uint32_t u = threadIdx.x; u < span; u += kThreads) {
    const int64_t i = i0 + u / s32, j = u % s32;
    const int64_t off = (i * l.c + ch) * l.s + j;
    const double xv = x[off];
    if (P == Pass::Sum) {
      a += xv;
    } else if (P == Pass::SquaredDeviation) {
      const double d = xv - mean;
      a += d * d;
    } else {
      const double g = y != nullptr && !(y[off] > 0.0f) ? 0.0 : static_cast<double>(dy[off]);
      a += g;
      b += g * ((xv - mean) * invstd);
    }
  }
  a = block_sum(a);
  if (P == Pass::Backward) b = block_sum(b);
  if (threadIdx.x == 0) {
    part0[blockIdx.x] = a;
    if (P == Pass::Backward) part1[blockIdx.x] = b;
  }
}

__global__ void mean_kernel(const double* part, double* mean_d, Layout l) {
  for (int64_t ch = global_thread(); ch < l.c; ch += global_stride()) {
    double s = 0.0;
    for (int64_t k = 0; k < l.k; ++k) s += part[ch * l.k + k];
    mean_d[ch] = l.count() > 0 ? s / static_cast<double>(l.count()) : 0.0;
  }
}

// Statistics to per-channel scale and shift (coef[0], coef[1]), the saved outputs and, in Train, the
// running statistics. batch: mean from mean_d and the variance from part; else the running statistics.
__global__ void finish_stats_kernel(const double* part, const double* mean_d, const float* gamma, const float* beta,
                                    float* running_mean, float* running_var, float* save_mean, float* save_invstd,
                                    float* coef, Layout l, double eps, double momentum, bool batch, bool update) {
  const double count = static_cast<double>(l.count());
  for (int64_t ch = global_thread(); ch < l.c; ch += global_stride()) {
    double mean, var;
    if (batch) {
      double sq = 0.0;
      for (int64_t k = 0; k < l.k; ++k) sq += part[ch * l.k + k];
      mean = mean_d[ch];
      var = count > 0 ? __ddiv_rn(sq, count) : 0.0;
    } else {
      mean = running_mean[ch];
      var = running_var[ch];
    }
    const double invstd = __ddiv_rn(1.0, __dsqrt_rn(__dadd_rn(var, eps)));
    if (save_mean) save_mean[ch] = static_cast<float>(mean);
    if (save_invstd) save_invstd[ch] = static_cast<float>(invstd);
    const double g = gamma[ch];
    coef[ch] = static_cast<float>(__dmul_rn(g, invstd));
    coef[l.c + ch] = static_cast<float>(__dsub_rn(static_cast<double>(beta[ch]), __dmul_rn(__dmul_rn(mean, g), invstd)));
    if (update) {
      // A single value per channel has no unbiased variance; the biased one (0) stands in, as on the CPU.
      const double unbiased = l.count() > 1 ? __ddiv_rn(__dmul_rn(var, count), count - 1.0) : var;
      running_mean[ch] = static_cast<float>(
          __dadd_rn(__dmul_rn(1.0 - momentum, static_cast<double>(running_mean[ch])), __dmul_rn(momentum, mean)));
      running_var[ch] = static_cast<float>(
          __dadd_rn(__dmul_rn(1.0 - momentum, static_cast<double>(running_var[ch])), __dmul_rn(momentum, unbiased)));
    }
  }
}

// y = x * scale + shift, per channel; then x < 0 ? 0 : x with relu.
__global__ void affine_kernel(const float* x, float* y, const float* coef, Layout l, bool relu) {
  const int64_t n = l.n * l.c * l.s;
  for (int64_t i = global_thread(); i < n; i += global_stride()) {
    const int64_t ch = (i / l.s) % l.c;
    const float v = __fadd_rn(__fmul_rn(x[i], coef[ch]), coef[l.c + ch]);
    y[i] = relu && v < 0.0f ? 0.0f : v;
  }
}

// dgamma, dbeta and the coefficients of dx = a * dy + b * x + c (coef[0..2]).
__global__ void finish_grad_kernel(const double* part0, const double* part1, const float* gamma,
                                   const float* save_mean, const float* save_invstd, float* dgamma, bool acc_g,
                                   float* dbeta, bool acc_b, float* coef, Layout l) {
  const double count = static_cast<double>(l.count());
  for (int64_t ch = global_thread(); ch < l.c; ch += global_stride()) {
    double sum_dy = 0.0, sum_dy_xhat = 0.0;
    for (int64_t k = 0; k < l.k; ++k) {
      sum_dy += part0[ch * l.k + k];
      sum_dy_xhat += part1[ch * l.k + k];
    }
    if (dgamma) dgamma[ch] = static_cast<float>(sum_dy_xhat + (acc_g ? static_cast<double>(dgamma[ch]) : 0.0));
    if (dbeta) dbeta[ch] = static_cast<float>(sum_dy + (acc_b ? static_cast<double>(dbeta[ch]) : 0.0));
    const double mean = save_mean[ch], invstd = save_invstd[ch];
    const double k = __dmul_rn(static_cast<double>(gamma[ch]), invstd);
    const double mean_dy = count > 0 ? __ddiv_rn(sum_dy, count) : 0.0;
    const double mean_dy_xhat = count > 0 ? __ddiv_rn(sum_dy_xhat, count) : 0.0;
    coef[ch] = static_cast<float>(k);
    coef[l.c + ch] = static_cast<float>(__dmul_rn(__dmul_rn(-k, mean_dy_xhat), invstd));
    coef[2 * l.c + ch] =
        static_cast<float>(__dmul_rn(k, __dsub_rn(__dmul_rn(__dmul_rn(mean_dy_xhat, invstd), mean), mean_dy)));
  }
}

__global__ void dx_kernel(const float* x, const float* dy, float* dx, const float* coef, Layout l, bool acc,
                          const float* y) {
  const int64_t n = l.n * l.c * l.s;
  for (int64_t i = global_thread(); i < n; i += global_stride()) {
    const int64_t ch = (i / l.s) % l.c;
    const float g = y != nullptr && !(y[i] > 0.0f) ? 0.0f : dy[i];
    const float v = __fadd_rn(__fadd_rn(__fmul_rn(coef[ch], g), __fmul_rn(coef[l.c + ch], x[i])),
                              coef[2 * l.c + ch]);
    dx[i] = acc ? __fadd_rn(dx[i], v) : v;
  }
}

unsigned partial_blocks(const Layout& l) {
  const int64_t b = l.c * l.k;
  SL_CHECK(b < (int64_t{1} << 31) && l.rows * l.s < (int64_t{1} << 31))
      << "batch_norm: " << l.n << "x" << l.c << "x" << l.s << " is too large for the statistics kernels";
  return static_cast<unsigned>(b);
}

template <bool Relu>
void batch_norm_forward(CudaContext& ctx, const OpCall& call) {
  const Layout l = layout(call.in[0].type, *call.node);
  if (l.c == 0) return;
  const bool batch = call.mode != Mode::Eval;
  const bool update = call.mode == Mode::Train;
  const Scratch s = carve(ctx, l);
  const float* x = call.in[0].f32();
  float* save_mean = call.out.size() > 1 ? call.out[1].f32() : nullptr;
  float* save_invstd = call.out.size() > 2 ? call.out[2].f32() : nullptr;
  cudaStream_t st = ctx.stream();
  if (batch && l.count() > 0) {
    const unsigned blocks = partial_blocks(l);
    partial_kernel<Pass::Sum><<<blocks, kThreads, 0, st>>>(x, nullptr, nullptr, nullptr, nullptr, l, s.part0, nullptr);
    SL_CUDA_LAUNCH_CHECK();
    mean_kernel<<<blocks_for(l.c), kThreads, 0, st>>>(s.part0, s.mean, l);
    SL_CUDA_LAUNCH_CHECK();
    partial_kernel<Pass::SquaredDeviation>
        <<<blocks, kThreads, 0, st>>>(x, nullptr, s.mean, nullptr, nullptr, l, s.part0, nullptr);
    SL_CUDA_LAUNCH_CHECK();
  } else if (batch) {
    SL_CUDA_CHECK(cudaMemsetAsync(s.part0, 0, static_cast<size_t>(2 * l.c * l.k + l.c) * sizeof(double), st));
  }
  finish_stats_kernel<<<blocks_for(l.c), kThreads, 0, st>>>(
      s.part0, s.mean, call.in[1].f32(), call.in[2].f32(), call.in[3].f32(), call.in[4].f32(), save_mean, save_invstd,
      s.coef, l, call.node->attrs.get_float("eps"), call.node->attrs.get_float("momentum"), batch, update);
  SL_CUDA_LAUNCH_CHECK();
  const int64_t n = call.in[0].numel();
  if (n == 0) return;
  affine_kernel<<<blocks_for(n), kThreads, 0, st>>>(x, call.out[0].f32(), s.coef, l, Relu);
  SL_CUDA_LAUNCH_CHECK();
}

template <bool Relu>
void batch_norm_backward(CudaContext& ctx, const OpCall& call) {
  const Layout l = layout(call.in[0].type, *call.node);
  const bool want_x = grad_wanted(call, 0), want_g = grad_wanted(call, 1), want_b = grad_wanted(call, 2);
  if (!call.dy[0].present()) {
    for (size_t i = 0; i < call.dx.size(); ++i) zero_gradient(ctx, call.dx[i], grad_accumulates(call, i));
    return;
  }
  if ((!want_x && !want_g && !want_b) || l.c == 0) return;
  const Scratch s = carve(ctx, l);
  const float* x = call.in[0].f32();
  const float* dy = call.dy[0].f32();
  const float* save_mean = call.out[1].f32();
  const float* save_invstd = call.out[2].f32();
  const float* y = Relu ? call.out[0].f32() : nullptr;
  cudaStream_t st = ctx.stream();
  if (l.count() > 0) {
    partial_kernel<Pass::Backward>
        <<<partial_blocks(l), kThreads, 0, st>>>(x, dy, nullptr, save_mean, save_invstd, l, s.part0, s.part1, y);
    SL_CUDA_LAUNCH_CHECK();
  } else {
    SL_CUDA_CHECK(cudaMemsetAsync(s.part0, 0, static_cast<size_t>(2 * l.c * l.k) * sizeof(double), st));
  }
  finish_grad_kernel<<<blocks_for(l.c), kThreads, 0, st>>>(
      s.part0, s.part1, call.in[1].f32(), save_mean, save_invstd, want_g ? call.dx[1].f32() : nullptr,
      grad_accumulates(call, 1), want_b ? call.dx[2].f32() : nullptr, grad_accumulates(call, 2), s.coef, l);
  SL_CUDA_LAUNCH_CHECK();
  const int64_t n = call.in[0].numel();
  if (!want_x || n == 0) return;
  dx_kernel<<<blocks_for(n), kThreads, 0, st>>>(x, dy, call.dx[0].f32(), s.coef, l, grad_accumulates(call, 0), y);
  SL_CUDA_LAUNCH_CHECK();
}

}  // namespace

int64_t norm_scratch_bytes(const ir::Node& n, const std::vector<ir::TensorType>& in) {
  if (n.op != "batch_norm" && n.op != "batch_norm_relu") return 0;
  return scratch_for(layout(in[0], n));
}

void register_norm_kernels(KernelTable& t, CudaContext* ctx) {
  add_kernels(t, ctx, "batch_norm", batch_norm_forward<false>, batch_norm_backward<false>);
  add_kernels(t, ctx, "batch_norm_relu", batch_norm_forward<true>, batch_norm_backward<true>);
}

}  // namespace sublinear::runtime::cuda
