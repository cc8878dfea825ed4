// conv2d on cuDNN (legacy API, cuDNN 9): forward, backward data and backward filter; the bias add and
// its gradient are cudnnAddTensor and our own deterministic reduction. conv_transpose2d is the adjoint
// of a conv2d from its output's shape to its input's (PyTorch's [C_in, out/g, kh, kw] weight is that
// conv's filter): its forward is that conv's backward data, its input gradient the conv's forward, its
// weight gradient the conv's backward filter with the roles of x and dy swapped.
// Rules:
// - Descriptors and algorithms are made once per geometry and cached in the context; the algorithms come
//   from cuDNN's heuristics (cudnnGet*Algorithm_v7, which run nothing on the device), so the choice is a
//   function of the geometry, the device and the library version alone. A deterministic context takes
//   only algorithms cuDNN marks CUDNN_DETERMINISTIC (falling back to IMPLICIT_GEMM / ALGO_1, which are).
// - CUDNN_FMA_MATH on every descriptor and only algorithms that run in it: f32 stays f32 (no TF32).
// - Workspace: OpCall::workspace when it is large enough, else the context's scratch, which the program
//   reserves at setup from conv_scratch_bytes (the largest of the three chosen algorithms' needs).
// - Accumulation uses cuDNN's beta = 1; beta = 0 never reads the output. dx is finished before dW is
//   started (one stream), so two dx sharing a buffer stay correct.
// - A call whose x or y has 2^31 elements or more runs in batch chunks (conv_split.h): one descriptor
//   set per chunk size, x/y/dx/dy offset per chunk, and the filter gradient accumulated over the chunks
//   (beta = 1 after the first), in chunk order.
#include <atomic>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/graph.h"
#include "runtime/cuda/cuda_device.cuh"
#include "runtime/cuda/cuda_kernels.h"
#include "runtime/cuda/conv_split.h"
#include "runtime/cuda/cuda_util.h"

namespace sublinear::runtime::cuda {

namespace {

// An algorithm asking for more workspace than this is passed over for the next one.
constexpr size_t kMaxConvWorkspace = size_t{1} << 30;

struct ConvGeometry {
  int n, c, h, w, out, groups, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo;
  bool bias;

  std::string key() const {
    std::string k;
    for (int v : {n, c, h, w, out, groups, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, bias ? 1 : 0})
      k += std::to_string(v) + ",";
    return k;
  }
};

int checked_int(int64_t v, const char* what) {
  SL_CHECK(v >= 0 && v <= INT32_MAX) << "conv2d: " << what << " " << v << " does not fit cuDNN's int";
  return static_cast<int>(v);
}

ConvGeometry geometry(const ir::Node& node, const ir::TensorType& x) {
  const auto& a = node.attrs;
  ConvGeometry g{};
  g.n = checked_int(x.shape[0], "batch"), g.c = checked_int(x.shape[1], "channels");
  g.h = checked_int(x.shape[2], "height"), g.w = checked_int(x.shape[3], "width");
  g.out = checked_int(a.get_int("out"), "out");
  g.groups = checked_int(a.get_int("groups"), "groups");
  const auto kernel = a.get_ints("kernel", 2), stride = a.get_ints("stride", 2), pad = a.get_ints("pad", 2),
             dil = a.get_ints("dilation", 2);
  g.kh = checked_int(kernel[0], "kernel"), g.kw = checked_int(kernel[1], "kernel");
  g.sh = checked_int(stride[0], "stride"), g.sw = checked_int(stride[1], "stride");
  g.ph = checked_int(pad[0], "pad"), g.pw = checked_int(pad[1], "pad");
  // The IR's dilation is the step between taps, as cuDNN's.
  g.dh = checked_int(dil[0], "dilation"), g.dw = checked_int(dil[1], "dilation");
  const auto& y = node.outputs[0].shape;
  g.ho = checked_int(y[2], "output height"), g.wo = checked_int(y[3], "output width");
  g.bias = a.get_bool("bias");
  return g;
}

// The conv2d whose backward data a conv_transpose2d of input x is: from y's shape to x's.
ConvGeometry adjoint_geometry(const ir::Node& node, const ir::TensorType& x) {
  const auto& a = node.attrs;
  ConvGeometry g{};
  const auto& y = node.outputs[0].shape;
  g.n = checked_int(x.shape[0], "batch"), g.c = checked_int(y[1], "out");
  g.h = checked_int(y[2], "output height"), g.w = checked_int(y[3], "output width");
  g.out = checked_int(x.shape[1], "channels");
  g.groups = checked_int(a.get_int("groups"), "groups");
  const auto kernel = a.get_ints("kernel", 2), stride = a.get_ints("stride", 2), pad = a.get_ints("pad", 2),
             dil = a.get_ints("dilation", 2);
  g.kh = checked_int(kernel[0], "kernel"), g.kw = checked_int(kernel[1], "kernel");
  g.sh = checked_int(stride[0], "stride"), g.sw = checked_int(stride[1], "stride");
  g.ph = checked_int(pad[0], "pad"), g.pw = checked_int(pad[1], "pad");
  g.dh = checked_int(dil[0], "dilation"), g.dw = checked_int(dil[1], "dilation");
  g.ho = checked_int(x.shape[2], "height"), g.wo = checked_int(x.shape[3], "width");
  g.bias = false;  // added to the transposed output by hand
  return g;
}

struct ConvEntry {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnConvolutionFwdAlgo_t fwd{};
  cudnnConvolutionBwdDataAlgo_t bwd_data{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter{};
  size_t fwd_ws = 0, bwd_data_ws = 0, bwd_filter_ws = 0;
  size_t max_ws() const { return std::max(fwd_ws, std::max(bwd_data_ws, bwd_filter_ws)); }
};

bool math_ok(cudnnMathType_t m) { return m == CUDNN_FMA_MATH || m == CUDNN_DEFAULT_MATH; }

// The first of cuDNN's ranked candidates that succeeded, runs without tensor-op math, is deterministic
// when required, and whose workspace (queried again with our descriptors) fits; else `fallback`.
template <typename Perf, typename Algo, typename SizeFn>
Algo pick(const std::vector<Perf>& perf, int returned, bool deterministic, Algo fallback, const SizeFn& size_of,
          size_t* ws) {
  for (int i = 0; i < returned; ++i) {
    const Perf& p = perf[static_cast<size_t>(i)];
    if (p.status != CUDNN_STATUS_SUCCESS || !math_ok(p.mathType)) continue;
    if (deterministic && p.determinism != CUDNN_DETERMINISTIC) continue;
    size_t bytes = 0;
    if (size_of(p.algo, &bytes) != CUDNN_STATUS_SUCCESS || bytes > kMaxConvWorkspace) continue;
    *ws = bytes;
    return p.algo;
  }
  SL_CUDNN_CHECK(size_of(fallback, ws));
  return fallback;
}

}  // namespace

struct ConvCache {
  std::mutex mutex;
  std::unordered_map<std::string, ConvEntry> entries;
};

ConvCache* create_conv_cache() { return new ConvCache(); }

void destroy_conv_cache(ConvCache* c) {
  for (auto& [key, e] : c->entries) {
    cudnnDestroyTensorDescriptor(e.x);
    cudnnDestroyTensorDescriptor(e.y);
    if (e.bias) cudnnDestroyTensorDescriptor(e.bias);
    cudnnDestroyFilterDescriptor(e.w);
    cudnnDestroyConvolutionDescriptor(e.conv);
  }
  delete c;
}

namespace {

const ConvEntry& conv_entry(CudaContext& ctx, const ConvGeometry& g) {
  ConvCache& cache = ctx.conv_cache();
  std::lock_guard<std::mutex> lock(cache.mutex);
  const std::string key = g.key();
  auto it = cache.entries.find(key);
  if (it != cache.entries.end()) return it->second;

  ConvEntry e;
  SL_CUDNN_CHECK(cudnnCreateTensorDescriptor(&e.x));
  SL_CUDNN_CHECK(cudnnSetTensor4dDescriptor(e.x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, g.n, g.c, g.h, g.w));
  SL_CUDNN_CHECK(cudnnCreateTensorDescriptor(&e.y));
  SL_CUDNN_CHECK(cudnnSetTensor4dDescriptor(e.y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, g.n, g.out, g.ho, g.wo));
  if (g.bias) {
    SL_CUDNN_CHECK(cudnnCreateTensorDescriptor(&e.bias));
    SL_CUDNN_CHECK(cudnnSetTensor4dDescriptor(e.bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, g.out, 1, 1));
  }
  SL_CUDNN_CHECK(cudnnCreateFilterDescriptor(&e.w));
  SL_CUDNN_CHECK(
      cudnnSetFilter4dDescriptor(e.w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, g.out, g.c / g.groups, g.kh, g.kw));
  SL_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&e.conv));
  SL_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(e.conv, g.ph, g.pw, g.sh, g.sw, g.dh, g.dw, CUDNN_CROSS_CORRELATION,
                                                 CUDNN_DATA_FLOAT));
  SL_CUDNN_CHECK(cudnnSetConvolutionGroupCount(e.conv, g.groups));
  SL_CUDNN_CHECK(cudnnSetConvolutionMathType(e.conv, CUDNN_FMA_MATH));
  int on = 0, oc = 0, oh = 0, ow = 0;
  SL_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(e.conv, e.x, e.w, &on, &oc, &oh, &ow));
  SL_CHECK(on == g.n && oc == g.out && oh == g.ho && ow == g.wo)
      << "conv2d: cuDNN computes output " << on << "x" << oc << "x" << oh << "x" << ow << ", the IR " << g.n << "x"
      << g.out << "x" << g.ho << "x" << g.wo;

  cudnnHandle_t h = ctx.cudnn();
  const bool det = ctx.deterministic();
  {
    int count = 0, returned = 0;
    SL_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &count));
    std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(static_cast<size_t>(std::max(count, 1)));
    SL_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, e.x, e.w, e.conv, e.y, count, &returned, perf.data()));
    e.fwd = pick(perf, returned, det, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM,
                 [&](cudnnConvolutionFwdAlgo_t a, size_t* b) {
                   return cudnnGetConvolutionForwardWorkspaceSize(h, e.x, e.w, e.conv, e.y, a, b);
                 },
                 &e.fwd_ws);
  }
  {
    int count = 0, returned = 0;
    SL_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &count));
    std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(static_cast<size_t>(std::max(count, 1)));
    SL_CUDNN_CHECK(
        cudnnGetConvolutionBackwardDataAlgorithm_v7(h, e.w, e.y, e.conv, e.x, count, &returned, perf.data()));
    e.bwd_data = pick(perf, returned, det, CUDNN_CONVOLUTION_BWD_DATA_ALGO_1,
                      [&](cudnnConvolutionBwdDataAlgo_t a, size_t* b) {
                        return cudnnGetConvolutionBackwardDataWorkspaceSize(h, e.w, e.y, e.conv, e.x, a, b);
                      },
                      &e.bwd_data_ws);
  }
  {
    int count = 0, returned = 0;
    SL_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &count));
    std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(static_cast<size_t>(std::max(count, 1)));
    SL_CUDNN_CHECK(
        cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, e.x, e.y, e.conv, e.w, count, &returned, perf.data()));
    e.bwd_filter = pick(perf, returned, det, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1,
                        [&](cudnnConvolutionBwdFilterAlgo_t a, size_t* b) {
                          return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, e.x, e.y, e.conv, e.w, a, b);
                        },
                        &e.bwd_filter_ws);
  }
  return cache.entries.emplace(key, e).first->second;
}

std::atomic<int64_t> g_tensor_limit{kCudnnTensorLimit};

// The batch chunks of a geometry (conv_split.h); in conv2d's terms x is [n, c, h, w], y [n, out, ho, wo].
BatchSplit batch_split(const ConvGeometry& g) {
  const int64_t x = int64_t{g.c} * g.h * g.w, y = int64_t{g.out} * g.ho * g.wo;
  return split_batch(g.n, std::max(x, y), g_tensor_limit.load());
}

// f(entry, first example, examples) for each chunk, in order.
template <typename F>
void for_each_chunk(CudaContext& ctx, const ConvGeometry& g, const F& f) {
  const BatchSplit split = batch_split(g);
  for (int64_t i = 0; i < split.count; ++i) {
    ConvGeometry part = g;
    part.n = static_cast<int>(split.size(i, g.n));
    f(conv_entry(ctx, part), i * split.chunk, i);
  }
}

// Element offsets of example `n0` in x and y.
int64_t x_at(const ConvGeometry& g, int64_t n0) { return n0 * g.c * g.h * g.w; }
int64_t y_at(const ConvGeometry& g, int64_t n0) { return n0 * g.out * g.ho * g.wo; }
const float* at(const void* p, int64_t off) { return static_cast<const float*>(p) + off; }
float* at(void* p, int64_t off) { return static_cast<float*>(p) + off; }

void* workspace(CudaContext& ctx, const OpCall& c, size_t bytes) {
  if (bytes == 0) return nullptr;
  if (c.workspace != nullptr && c.workspace_bytes >= static_cast<int64_t>(bytes)) return c.workspace;
  return ctx.scratch(static_cast<int64_t>(bytes));
}

void conv2d_forward(CudaContext& ctx, const OpCall& c) {
  const ConvGeometry g = geometry(*c.node, c.in[0].type);
  if (c.out[0].numel() == 0) return;
  const float one = 1.0f, zero = 0.0f;
  for_each_chunk(ctx, g, [&](const ConvEntry& e, int64_t n0, int64_t) {
    void* ws = workspace(ctx, c, e.fwd_ws);
    SL_CUDNN_CHECK(cudnnConvolutionForward(ctx.cudnn(), &one, e.x, at(c.in[0].data, x_at(g, n0)), e.w, c.in[1].data,
                                           e.conv, e.fwd, ws, e.fwd_ws, &zero, e.y, at(c.out[0].data, y_at(g, n0))));
    if (g.bias)
      SL_CUDNN_CHECK(cudnnAddTensor(ctx.cudnn(), &one, e.bias, c.in[2].data, &one, e.y, at(c.out[0].data, y_at(g, n0))));
  });
}

void conv2d_backward(CudaContext& ctx, const OpCall& c) {
  const ConvGeometry g = geometry(*c.node, c.in[0].type);
  const bool want_x = grad_wanted(c, 0), want_w = grad_wanted(c, 1), want_b = g.bias && grad_wanted(c, 2);
  if (!c.dy[0].present()) {
    for (size_t i = 0; i < c.dx.size(); ++i) zero_gradient(ctx, c.dx[i], grad_accumulates(c, i));
    return;
  }
  if ((!want_x && !want_w && !want_b) || c.dy[0].numel() == 0) return;
  const float one = 1.0f, zero = 0.0f;
  if (want_x)
    for_each_chunk(ctx, g, [&](const ConvEntry& e, int64_t n0, int64_t) {
      void* ws = workspace(ctx, c, e.bwd_data_ws);
      SL_CUDNN_CHECK(cudnnConvolutionBackwardData(ctx.cudnn(), &one, e.w, c.in[1].data, e.y, at(c.dy[0].data, y_at(g, n0)),
                                                  e.conv, e.bwd_data, ws, e.bwd_data_ws,
                                                  grad_accumulates(c, 0) ? &one : &zero, e.x, at(c.dx[0].data, x_at(g, n0))));
    });
  if (want_w)
    for_each_chunk(ctx, g, [&](const ConvEntry& e, int64_t n0, int64_t i) {
      void* ws = workspace(ctx, c, e.bwd_filter_ws);
      SL_CUDNN_CHECK(cudnnConvolutionBackwardFilter(ctx.cudnn(), &one, e.x, at(c.in[0].data, x_at(g, n0)), e.y,
                                                    at(c.dy[0].data, y_at(g, n0)), e.conv, e.bwd_filter, ws,
                                                    e.bwd_filter_ws, i > 0 || grad_accumulates(c, 1) ? &one : &zero, e.w,
                                                    c.dx[1].data));
    });
  if (want_b) {
    // Summed over N, H and W in a fixed order, like every other reduction here.
    reduce_sum(ctx, c.dy[0].f32(), c.dy[0].type.shape, {1, 0, 1, 1}, c.dx[2].f32(), 1.0, grad_accumulates(c, 2));
  }
}

// In the adjoint conv's terms (adjoint_geometry): its "x" descriptor is our y, its "y" descriptor our x.
void conv_transpose2d_forward(CudaContext& ctx, const OpCall& c) {
  const ConvGeometry g = adjoint_geometry(*c.node, c.in[0].type);
  if (c.out[0].numel() == 0) return;
  const float one = 1.0f, zero = 0.0f;
  cudnnTensorDescriptor_t bias = nullptr;
  if (c.node->attrs.get_bool("bias")) {
    SL_CUDNN_CHECK(cudnnCreateTensorDescriptor(&bias));
    SL_CUDNN_CHECK(cudnnSetTensor4dDescriptor(bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, g.c, 1, 1));
  }
  cudnnStatus_t st = CUDNN_STATUS_SUCCESS;
  for_each_chunk(ctx, g, [&](const ConvEntry& e, int64_t n0, int64_t) {
    void* ws = workspace(ctx, c, e.bwd_data_ws);
    SL_CUDNN_CHECK(cudnnConvolutionBackwardData(ctx.cudnn(), &one, e.w, c.in[1].data, e.y, at(c.in[0].data, y_at(g, n0)),
                                                e.conv, e.bwd_data, ws, e.bwd_data_ws, &zero, e.x,
                                                at(c.out[0].data, x_at(g, n0))));
    if (bias && st == CUDNN_STATUS_SUCCESS)
      st = cudnnAddTensor(ctx.cudnn(), &one, bias, c.in[2].data, &one, e.x, at(c.out[0].data, x_at(g, n0)));
  });
  if (bias) cudnnDestroyTensorDescriptor(bias);
  SL_CUDNN_CHECK(st);
}

void conv_transpose2d_backward(CudaContext& ctx, const OpCall& c) {
  const ConvGeometry g = adjoint_geometry(*c.node, c.in[0].type);
  const bool bias = c.node->attrs.get_bool("bias");
  const bool want_x = grad_wanted(c, 0), want_w = grad_wanted(c, 1), want_b = bias && grad_wanted(c, 2);
  if (!c.dy[0].present()) {
    for (size_t i = 0; i < c.dx.size(); ++i) zero_gradient(ctx, c.dx[i], grad_accumulates(c, i));
    return;
  }
  if ((!want_x && !want_w && !want_b) || c.dy[0].numel() == 0) return;
  const float one = 1.0f, zero = 0.0f;
  if (want_x)
    for_each_chunk(ctx, g, [&](const ConvEntry& e, int64_t n0, int64_t) {
      void* ws = workspace(ctx, c, e.fwd_ws);
      SL_CUDNN_CHECK(cudnnConvolutionForward(ctx.cudnn(), &one, e.x, at(c.dy[0].data, x_at(g, n0)), e.w, c.in[1].data,
                                             e.conv, e.fwd, ws, e.fwd_ws, grad_accumulates(c, 0) ? &one : &zero, e.y,
                                             at(c.dx[0].data, y_at(g, n0))));
    });
  if (want_w)
    for_each_chunk(ctx, g, [&](const ConvEntry& e, int64_t n0, int64_t i) {
      void* ws = workspace(ctx, c, e.bwd_filter_ws);
      SL_CUDNN_CHECK(cudnnConvolutionBackwardFilter(ctx.cudnn(), &one, e.x, at(c.dy[0].data, x_at(g, n0)), e.y,
                                                    at(c.in[0].data, y_at(g, n0)), e.conv, e.bwd_filter, ws,
                                                    e.bwd_filter_ws, i > 0 || grad_accumulates(c, 1) ? &one : &zero, e.w,
                                                    c.dx[1].data));
    });
  if (want_b)
    reduce_sum(ctx, c.dy[0].f32(), c.dy[0].type.shape, {1, 0, 1, 1}, c.dx[2].f32(), 1.0, grad_accumulates(c, 2));
}

}  // namespace

int64_t conv_scratch_bytes(CudaContext& ctx, const ir::Node& n, const std::vector<ir::TensorType>& in) {
  if (n.op != "conv2d" && n.op != "conv_transpose2d") return 0;
  const ConvGeometry g = n.op == "conv2d" ? geometry(n, in[0]) : adjoint_geometry(n, in[0]);
  size_t ws = 0;
  for_each_chunk(ctx, g, [&](const ConvEntry& e, int64_t, int64_t) { ws = std::max(ws, e.max_ws()); });
  return static_cast<int64_t>(ws);
}

void set_conv_tensor_limit(int64_t elements) { g_tensor_limit.store(elements); }

void register_conv_kernels(KernelTable& t, CudaContext* ctx) {
  add_kernels(t, ctx, "conv2d", conv2d_forward, conv2d_backward);
  add_kernels(t, ctx, "conv_transpose2d", conv_transpose2d_forward, conv_transpose2d_backward);
}

}  // namespace sublinear::runtime::cuda
