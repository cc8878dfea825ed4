// Every CUDA kernel against the CPU kernel of the same op on the same random inputs: forward outputs
// (and state the forward updates, batch-norm running statistics), then backward with dx overwritten
// (prefilled with NaN), accumulated into random values, and with dy absent. Only OpDef::backward's
// values are present in the backward call, as the executor passes them; the backward gets the CPU's
// forward outputs so it is judged alone.
// Tolerances, per family (rtol, and atol times the largest |CPU value|): 0 (bitwise) where the GPU
// kernel performs the CPU's f32 operations in the CPU's order (element-wise arithmetic, data movement,
// fills, dropout, relu, pooling windows, embedding, the cross-entropy gradient); 2e-6 where only the
// libm (expf, tanhf) or a double-precision sum's order differs; 1e-4 for batch norm (double statistics
// summed in another order, then folded to f32 coefficients); 1e-3 for cuDNN and cuBLAS (another
// summation order over K products). Plus the contract's special cases on the GPU: in-place aliasing is
// bitwise out-of-place, two dx that are one buffer, max_pool's first-maximum tie rule, dropout masks
// equal to the CPU's, and out-of-range indices and labels thrown as the CPU throws them.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "ir/op_registry.h"
#include "runtime/cpu/cpu_kernels.h"
#include "runtime/cuda/conv_split.h"
#include "runtime/cuda/cuda_kernels.h"
#include "tests/cuda/cuda_test_util.h"
#include "tests/kernels/op_harness.h"
#include "tests/support/split_mix64.h"

namespace sublinear::testing {
namespace {

using runtime::Mode;
using runtime::OpCall;
using runtime::Tensor;

#define SKIP_WITHOUT_CUDA()                                 \
  std::string why;                                          \
  if (!runtime::cuda::cuda_device_usable(&why)) GTEST_SKIP() << "no usable CUDA device: " << why

const runtime::KernelTable& cpu() { return runtime::cpu::cpu_kernels(); }
const runtime::KernelTable& cuda() { return runtime::cuda::cuda_kernels(); }

ir::TensorType f32(ir::Shape s) { return {ir::DType::F32, std::move(s)}; }
ir::TensorType i32(ir::Shape s) { return {ir::DType::I32, std::move(s)}; }
ir::AttrValue ints(std::vector<int64_t> v) { return v; }
ir::AttrValue num(int64_t v) { return v; }
ir::AttrValue real(double v) { return v; }
ir::AttrValue flag(bool v) { return v; }
ir::AttrValue str(const char* v) { return std::string(v); }

constexpr Tolerance kExact{0, 0};
constexpr Tolerance kLibm{2e-6, 1e-7};
constexpr Tolerance kNorm{1e-4, 1e-5};
constexpr Tolerance kLibrary{1e-3, 1e-4};

float sample(SplitMix64& r) {
  const double u1 = 1.0 - r.unit(), u2 = r.unit();
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

std::vector<ir::TensorType> input_types(const OpCase& c, const ir::Node& node) {
  std::vector<ir::TensorType> types = c.data_inputs;
  if (node.def->params)
    for (const auto& p : node.def->params(c.data_inputs, node.attrs)) types.push_back(p.type);
  return types;
}

bool holds(const std::vector<int>& v, size_t i) { return std::find(v.begin(), v.end(), static_cast<int>(i)) != v.end(); }

std::string describe(const OpCase& c) {
  std::ostringstream s;
  s << c.op << "(";
  for (size_t i = 0; i < c.data_inputs.size(); ++i) s << (i ? ", " : "") << c.data_inputs[i].str();
  for (const auto& [k, v] : c.attrs) s << ", " << k << "=" << ir::attr_value_str(v);
  s << ")";
  return s.str();
}

struct CompareOptions {
  Tolerance forward = kExact, backward = kExact;
  Mode mode = Mode::Train;
  int64_t iteration = 3;
  uint64_t seed = 5;
  std::function<void(OpHarness&)> prepare;  // adjusts the harness's inputs before anything runs
};

using Buffers = std::vector<std::unique_ptr<DeviceBuffer>>;

void compare_op(const OpCase& c, const CompareOptions& o) {
  SCOPED_TRACE(describe(c));
  OpHarness h(cpu(), c, o.seed);
  if (o.prepare) o.prepare(h);
  const ir::Node& node = h.node();
  const auto types = input_types(c, node);
  const runtime::OpKernels& k = cuda().get(c.op);

  Buffers din, dout;
  for (size_t i = 0; i < types.size(); ++i) {
    din.push_back(std::make_unique<DeviceBuffer>(static_cast<size_t>(types[i].bytes())));
    din[i]->upload(h.input(i).data());
  }
  for (const auto& t : node.outputs) dout.push_back(std::make_unique<DeviceBuffer>(static_cast<size_t>(t.bytes())));

  OpCall f;
  f.node = &node;
  for (size_t i = 0; i < types.size(); ++i) f.in.push_back({din[i]->get(), types[i]});
  for (size_t j = 0; j < node.outputs.size(); ++j) f.out.push_back({dout[j]->get(), node.outputs[j]});
  f.mode = o.mode;
  f.seed = 1234;  // the harness's
  f.iteration = o.iteration;
  k.forward(f);
  gpu().throw_if_error();
  h.forward(o.mode, o.iteration);

  for (size_t j = 0; j < node.outputs.size(); ++j) {
    const auto& t = node.outputs[j];
    const std::vector<float> got = dout[j]->download();
    if (t.dtype == ir::DType::F32) {
      expect_close("output " + std::to_string(j), got.data(), h.output(j).data(), ir::num_elements(t.shape), o.forward);
    } else {
      EXPECT_EQ(0, std::memcmp(got.data(), h.output(j).data(), static_cast<size_t>(t.bytes()))) << "output " << j;
    }
  }
  // State the forward updates in place (batch-norm running statistics).
  for (size_t i = 0; i < types.size(); ++i) {
    if (types[i].dtype != ir::DType::F32) continue;
    const std::vector<float> got = din[i]->download();
    expect_close("input " + std::to_string(i) + " after the forward", got.data(), h.input(i).data(),
                 ir::num_elements(types[i].shape), o.forward);
  }

  if (!node.def->differentiable || !k.backward) return;
  // The backward reads the CPU's forward values, so only the backward kernel is compared.
  for (size_t i = 0; i < types.size(); ++i) din[i]->upload(h.input(i).data());
  for (size_t j = 0; j < node.outputs.size(); ++j) dout[j]->upload(h.output(j).data());
  SplitMix64 r{o.seed * 31 + 7};
  std::vector<std::vector<float>> dy(node.outputs.size());
  for (int j = 0; j < h.visible_outputs(); ++j) {
    const auto& t = node.outputs[static_cast<size_t>(j)];
    if (t.dtype != ir::DType::F32) continue;
    dy[static_cast<size_t>(j)].resize(static_cast<size_t>(ir::num_elements(t.shape)) + 1);
    for (auto& v : dy[static_cast<size_t>(j)]) v = sample(r);
  }
  std::vector<std::vector<float>> init(types.size());
  for (size_t i = 0; i < types.size(); ++i) {
    if (!h.input_needs_grad(i)) continue;
    init[i].resize(static_cast<size_t>(ir::num_elements(types[i].shape)) + 1);
    for (auto& v : init[i]) v = sample(r);
  }

  enum Variant { Overwrite, Accumulate, AbsentDy };
  for (Variant v : {Overwrite, Accumulate, AbsentDy}) {
    SCOPED_TRACE(v == Overwrite ? "backward, dx overwritten" : v == Accumulate ? "backward, dx accumulated"
                                                                               : "backward, dy absent");
    const std::vector<std::vector<float>> dy_used =
        v == AbsentDy ? std::vector<std::vector<float>>(node.outputs.size()) : dy;
    const auto want = h.backward(dy_used, v == Accumulate ? &init : nullptr, o.iteration);

    Buffers ddy, ddx;
    OpCall b;
    b.node = &node;
    const auto& deps = node.def->backward;
    for (size_t i = 0; i < types.size(); ++i) b.in.push_back({holds(deps.inputs, i) ? din[i]->get() : nullptr, types[i]});
    for (size_t j = 0; j < node.outputs.size(); ++j) {
      b.out.push_back({holds(deps.outputs, j) ? dout[j]->get() : nullptr, node.outputs[j]});
      ddy.push_back(std::make_unique<DeviceBuffer>(static_cast<size_t>(node.outputs[j].bytes())));
      const bool present = !dy_used[j].empty();
      if (present) ddy[j]->upload(dy_used[j].data());
      b.dy.push_back({present ? ddy[j]->get() : nullptr, node.outputs[j]});
    }
    for (size_t i = 0; i < types.size(); ++i) {
      ddx.push_back(std::make_unique<DeviceBuffer>(static_cast<size_t>(types[i].bytes())));
      const bool needed = h.input_needs_grad(i);
      if (needed && v == Accumulate) ddx[i]->upload(init[i].data());
      else if (needed) ddx[i]->fill_words(kNanBits);
      b.dx.push_back({needed ? ddx[i]->get() : nullptr, types[i]});
      b.dx_accumulate.push_back(needed && v == Accumulate ? 1 : 0);
    }
    b.mode = Mode::Train;
    b.seed = 1234;
    b.iteration = o.iteration;
    k.backward(b);
    gpu().throw_if_error();
    for (size_t i = 0; i < types.size(); ++i) {
      if (!h.input_needs_grad(i)) continue;
      const std::vector<float> got = ddx[i]->download();
      expect_close("dx " + std::to_string(i), got.data(), want[i].data(), ir::num_elements(types[i].shape),
                   o.backward);
    }
  }
}


// GPU forward with out[o] over in[i], and backward with dx[i] over dy[0], give bitwise the results of
// the calls without aliasing, for every in-place option of the op.
void expect_inplace_bitwise(const OpCase& c) {
  SCOPED_TRACE(describe(c));
  OpHarness h(cpu(), c, 9);
  const ir::Node& node = h.node();
  const auto types = input_types(c, node);
  const runtime::OpKernels& k = cuda().get(c.op);
  auto inputs = [&]() {
    Buffers d;
    for (size_t i = 0; i < types.size(); ++i) {
      d.push_back(std::make_unique<DeviceBuffer>(static_cast<size_t>(types[i].bytes())));
      d.back()->upload(h.input(i).data());
    }
    return d;
  };
  auto forward = [&](Buffers& din, Buffers& dout, int alias_out, int alias_in) {
    OpCall f;
    f.node = &node;
    for (size_t i = 0; i < types.size(); ++i) f.in.push_back({din[i]->get(), types[i]});
    for (size_t j = 0; j < node.outputs.size(); ++j) f.out.push_back({dout[j]->get(), node.outputs[j]});
    if (alias_out >= 0) f.out[static_cast<size_t>(alias_out)].data = din[static_cast<size_t>(alias_in)]->get();
    f.seed = 1234;
    f.iteration = 3;
    k.forward(f);
  };
  Buffers ref_in = inputs(), ref_out;
  for (const auto& t : node.outputs) ref_out.push_back(std::make_unique<DeviceBuffer>(static_cast<size_t>(t.bytes())));
  forward(ref_in, ref_out, -1, -1);
  int tested = 0;
  for (const auto& opt : node.def->inplace) {
    if (static_cast<size_t>(opt.input) >= types.size()) continue;
    if (types[static_cast<size_t>(opt.input)].bytes() != node.outputs[static_cast<size_t>(opt.output)].bytes()) continue;
    Buffers din = inputs(), dout;
    for (const auto& t : node.outputs) dout.push_back(std::make_unique<DeviceBuffer>(static_cast<size_t>(t.bytes())));
    forward(din, dout, opt.output, opt.input);
    EXPECT_TRUE(bitwise_equal(din[static_cast<size_t>(opt.input)]->download(),
                              ref_out[static_cast<size_t>(opt.output)]->download()))
        << "output " << opt.output << " written over input " << opt.input;
    ++tested;
  }
  EXPECT_GT(tested, 0);
  if (!node.def->differentiable || !k.backward) return;

  const auto& deps = node.def->backward;
  SplitMix64 r{41};
  std::vector<float> dy0(static_cast<size_t>(ir::num_elements(node.outputs[0].shape)) + 1);
  for (auto& v : dy0) v = sample(r);
  auto backward = [&](int alias_in, Buffers& dx, DeviceBuffer& dy) {
    OpCall b;
    b.node = &node;
    for (size_t i = 0; i < types.size(); ++i)
      b.in.push_back({holds(deps.inputs, i) ? ref_in[i]->get() : nullptr, types[i]});
    for (size_t j = 0; j < node.outputs.size(); ++j) {
      b.out.push_back({holds(deps.outputs, j) ? ref_out[j]->get() : nullptr, node.outputs[j]});
      b.dy.push_back({j == 0 ? dy.get() : nullptr, node.outputs[j]});
    }
    for (size_t i = 0; i < types.size(); ++i) {
      const bool needed = h.input_needs_grad(i);
      void* p = !needed ? nullptr : static_cast<int>(i) == alias_in ? dy.get() : dx[i]->get();
      b.dx.push_back({p, types[i]});
      b.dx_accumulate.push_back(0);
    }
    b.seed = 1234;
    b.iteration = 3;
    k.backward(b);
  };
  auto grads = [&]() {
    Buffers d;
    for (const auto& t : types) {
      d.push_back(std::make_unique<DeviceBuffer>(static_cast<size_t>(t.bytes())));
      d.back()->fill_words(0);
    }
    return d;
  };
  Buffers ref_dx = grads();
  DeviceBuffer ref_dy(static_cast<size_t>(node.outputs[0].bytes()));
  ref_dy.upload(dy0.data());
  backward(-1, ref_dx, ref_dy);
  for (size_t i = 0; i < types.size(); ++i) {
    if (!h.input_needs_grad(i) || types[i].bytes() != node.outputs[0].bytes()) continue;
    Buffers dx = grads();
    DeviceBuffer dy(static_cast<size_t>(node.outputs[0].bytes()));
    dy.upload(dy0.data());
    backward(static_cast<int>(i), dx, dy);
    EXPECT_TRUE(bitwise_equal(dy.download(), ref_dx[i]->download())) << "dx " << i << " written over dy";
    for (size_t j = 0; j < types.size(); ++j) {
      if (j == i || !h.input_needs_grad(j)) continue;
      EXPECT_TRUE(bitwise_equal(dx[j]->download(), ref_dx[j]->download()))
          << "dx " << j << " changed when dx " << i << " aliases dy";
    }
  }
}

CompareOptions tol(Tolerance both) {
  CompareOptions o;
  o.forward = o.backward = both;
  return o;
}

CompareOptions tol(Tolerance forward, Tolerance backward) {
  CompareOptions o;
  o.forward = forward;
  o.backward = backward;
  return o;
}

OpCase conv(ir::Shape x, int64_t out, std::vector<int64_t> kernel, std::vector<int64_t> stride,
            std::vector<int64_t> pad, std::vector<int64_t> dilation, int64_t groups, bool bias) {
  return {"conv2d",
          {{"out", num(out)},
           {"kernel", ints(std::move(kernel))},
           {"stride", ints(std::move(stride))},
           {"pad", ints(std::move(pad))},
           {"dilation", ints(std::move(dilation))},
           {"groups", num(groups)},
           {"bias", flag(bias)}},
          {f32(std::move(x))}};
}

OpCase pool(const char* op, ir::Shape x, std::vector<int64_t> kernel, std::vector<int64_t> stride,
            std::vector<int64_t> pad) {
  return {op, {{"kernel", ints(std::move(kernel))}, {"stride", ints(std::move(stride))}, {"pad", ints(std::move(pad))}},
          {f32(std::move(x))}};
}

OpCase unary(const char* op, ir::Shape x, std::vector<std::pair<std::string, ir::AttrValue>> attrs = {}) {
  return {op, std::move(attrs), {f32(std::move(x))}};
}

OpCase binary(const char* op, ir::Shape a, ir::Shape b) { return {op, {}, {f32(std::move(a)), f32(std::move(b))}}; }

OpCase matmul(ir::Shape a, ir::Shape b, bool ta, bool tb) {
  return {"matmul", {{"transpose_a", flag(ta)}, {"transpose_b", flag(tb)}}, {f32(std::move(a)), f32(std::move(b))}};
}

TEST(CudaKernels, EveryCpuOpHasACudaKernel) {
  // The table is built without touching a device, so this runs everywhere.
  for (const std::string& op : cpu().ops()) {
    const runtime::OpKernels* k = cuda().find(op);
    ASSERT_NE(k, nullptr) << "no CUDA kernel for " << op;
    EXPECT_EQ(static_cast<bool>(k->backward), static_cast<bool>(cpu().get(op).backward)) << op;
  }
  EXPECT_EQ(cuda().ops(), cpu().ops());
}

TEST(CudaKernels, Conv2d) {
  SKIP_WITHOUT_CUDA();
  compare_op(conv({2, 3, 9, 9}, 4, {3}, {1}, {1}, {1}, 1, true), tol(kLibrary));
  compare_op(conv({2, 4, 8, 8}, 6, {3}, {2}, {1}, {1}, 2, false), tol(kLibrary));
  compare_op(conv({1, 3, 11, 10}, 5, {3, 5}, {2, 1}, {2, 1}, {2, 1}, 1, true), tol(kLibrary));
  compare_op(conv({3, 8, 7, 7}, 16, {1}, {1}, {0}, {1}, 1, false), tol(kLibrary));
  compare_op(conv({2, 3, 16, 16}, 8, {7}, {2}, {3}, {1}, 1, false), tol(kLibrary));
}

// Host arithmetic only: runs without a GPU.
TEST(ConvSplit, KeepsEveryTensorBelowCudnnsLimit) {
  using runtime::cuda::split_batch;
  // The case: 2675 x 64 x 112 x 112 floats is past 2^31 elements.
  const auto s = split_batch(2675, 64 * 112 * 112);
  EXPECT_EQ(s.chunk, 2674);
  EXPECT_EQ(s.count, 2);
  EXPECT_EQ(s.size(0, 2675), 2674);
  EXPECT_EQ(s.size(1, 2675), 1);
  for (int64_t n : {1, 7, 100, 4096})
    for (int64_t per : std::vector<int64_t>{1, 3, 1000, 802816, 50000000, INT32_MAX}) {
      const auto b = split_batch(n, per);
      int64_t total = 0;
      for (int64_t i = 0; i < b.count; ++i) {
        EXPECT_GT(b.size(i, n), 0);
        EXPECT_LE(b.size(i, n) * per, runtime::cuda::kCudnnTensorLimit) << n << " x " << per;
        total += b.size(i, n);
      }
      EXPECT_EQ(total, n);
      if (n * per <= runtime::cuda::kCudnnTensorLimit) {
        EXPECT_EQ(b.count, 1);
      }
    }
  EXPECT_THROW(split_batch(2, int64_t{INT32_MAX} + 1), std::runtime_error);
}

// The split path on small tensors: with the limit lowered, every call runs in several batch chunks
// (the filter gradient accumulated across them) and still matches the CPU.
TEST(CudaKernels, ConvolutionsSplitAlongTheBatch) {
  SKIP_WITHOUT_CUDA();
  struct Restore {
    ~Restore() { runtime::cuda::set_conv_tensor_limit(runtime::cuda::kCudnnTensorLimit); }
  } restore;
  runtime::cuda::set_conv_tensor_limit(3 * 9 * 9 * 2);  // two examples of x per chunk
  compare_op(conv({5, 3, 9, 9}, 4, {3}, {1}, {1}, {1}, 1, true), tol(kLibrary));
  compare_op(conv({7, 4, 8, 8}, 6, {3}, {2}, {1}, {1}, 2, false), tol(kLibrary));
  compare_op({"conv_transpose2d", {{"out", num(4)}, {"kernel", ints({2})}, {"stride", ints({2})}}, {f32({5, 3, 5, 6})}},
             tol(kLibrary));
}

TEST(CudaKernels, BatchNorm) {
  SKIP_WITHOUT_CUDA();
  auto bn = [](ir::Shape x) {
    return OpCase{"batch_norm", {{"momentum", real(0.1)}, {"eps", real(1e-5)}}, {f32(std::move(x))}};
  };
  for (Mode mode : {Mode::Train, Mode::Recompute, Mode::Eval}) {
    CompareOptions o = tol(kNorm);
    o.mode = mode;
    compare_op(bn({4, 3, 5, 5}), o);
    compare_op(bn({6, 4}), o);
    compare_op(bn({2, 3, 4}), o);
    OpCase last = bn({3, 7, 5});  // channels last: [N, T, C]
    last.attrs.push_back({"axis", num(-1)});
    compare_op(last, o);
    // batch_norm + relu fused (ir/fusion.h).
    OpCase fused = bn({4, 3, 5, 5});
    fused.op = "batch_norm_relu";
    compare_op(fused, o);
  }
  // Enough rows that the statistics are summed over several chunks per channel.
  compare_op(bn({64, 2, 32, 32}), tol(kNorm));
}

TEST(CudaKernels, Pooling) {
  SKIP_WITHOUT_CUDA();
  compare_op(pool("max_pool", {2, 3, 9, 9}, {3}, {2}, {1}), tol(kExact));
  compare_op(pool("max_pool", {2, 2, 8, 8}, {2}, {2}, {0}), tol(kExact));
  compare_op(pool("max_pool", {1, 2, 7, 9}, {3, 2}, {1, 2}, {1, 0}), tol(kExact));
  for (bool include_pad : {true, false}) {
    OpCase c = pool("avg_pool", {2, 3, 9, 9}, {3}, {2}, {1});
    c.attrs.push_back({"count_include_pad", flag(include_pad)});
    compare_op(c, tol(kExact));
  }
  compare_op(pool("avg_pool", {2, 2, 8, 8}, {2}, {2}, {0}), tol(kExact));
  compare_op(unary("global_avg_pool", {2, 3, 7, 7}), tol(kLibm, kExact));
  compare_op(unary("global_avg_pool", {2, 2, 30, 30}), tol(kLibm, kExact));
}

TEST(CudaKernels, MaxPoolTieRule) {
  SKIP_WITHOUT_CUDA();
  // Small integers: most windows hold several equal maxima; the gradient must go to the first.
  CompareOptions o = tol(kExact);
  o.prepare = [](OpHarness& h) {
    for (auto& v : h.input(0)) v = std::round(v);
  };
  compare_op(pool("max_pool", {2, 3, 9, 9}, {3}, {2}, {1}), o);
  compare_op(pool("max_pool", {1, 2, 8, 8}, {3}, {1}, {1}), o);
}

TEST(CudaKernels, Activations) {
  SKIP_WITHOUT_CUDA();
  compare_op(unary("relu", {4, 33}), tol(kExact));
  compare_op(unary("sigmoid", {4, 33}), tol(kLibm));
  compare_op(unary("tanh", {4, 33}), tol(kLibm));
  // The fused LSTM tail (ir/fusion.h), in PyTorch's gate order and another.
  compare_op({"lstm_cell", {}, {f32({3, 4 * 37}), f32({3, 37})}}, tol(kLibm));
  compare_op({"lstm_cell", {{"order", ints({3, 1, 0, 2})}}, {f32({2, 4 * 5}), f32({2, 5})}}, tol(kLibm));
  for (Mode mode : {Mode::Train, Mode::Recompute, Mode::Eval})
    for (int64_t iteration : {0, 7}) {
      CompareOptions o = tol(kExact);
      o.mode = mode;
      o.iteration = iteration;
      compare_op(unary("dropout", {4, 1000}, {{"rate", real(0.3)}}), o);
    }
}

TEST(CudaKernels, LinearMatmulEmbedding) {
  SKIP_WITHOUT_CUDA();
  compare_op({"linear", {{"units", num(6)}, {"bias", flag(true)}}, {f32({5, 7})}}, tol(kLibrary));
  compare_op({"linear", {{"units", num(4)}, {"bias", flag(false)}}, {f32({2, 3, 7})}}, tol(kLibrary));
  compare_op({"linear", {{"units", num(300)}, {"bias", flag(true)}}, {f32({70, 130})}}, tol(kLibrary));
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      compare_op(matmul(ta ? ir::Shape{5, 4} : ir::Shape{4, 5}, tb ? ir::Shape{3, 5} : ir::Shape{5, 3}, ta, tb),
                 tol(kLibrary));
      // Batched a with a shared b (folded into one GEMM without ta), and one b per batch entry.
      compare_op(matmul(ta ? ir::Shape{2, 3, 5, 4} : ir::Shape{2, 3, 4, 5}, tb ? ir::Shape{3, 5} : ir::Shape{5, 3},
                        ta, tb),
                 tol(kLibrary));
      compare_op(matmul(ta ? ir::Shape{3, 5, 4} : ir::Shape{3, 4, 5}, tb ? ir::Shape{3, 3, 5} : ir::Shape{3, 5, 3},
                        ta, tb),
                 tol(kLibrary));
    }
  OpCase e{"embedding", {{"vocab", num(7)}, {"dim", num(5)}}, {i32({3, 4})}};
  e.int_range = 7;
  compare_op(e, tol(kExact));
  OpCase wide{"embedding", {{"vocab", num(40)}, {"dim", num(300)}}, {i32({9, 70})}};
  wide.int_range = 40;
  compare_op(wide, tol(kExact));
}

TEST(CudaKernels, Elementwise) {
  SKIP_WITHOUT_CUDA();
  for (const char* op : {"add", "sub", "mul"}) {
    compare_op(binary(op, {3, 4}, {3, 4}), tol(kExact));
    // Broadcast gradients are sums in double, in a tree when long.
    compare_op(binary(op, {2, 3, 4}, {3, 1}), tol(kExact, kLibm));
    compare_op(binary(op, {4}, {2, 3, 4}), tol(kExact, kLibm));
    compare_op(binary(op, {2, 1, 4}, {3, 1}), tol(kExact, kLibm));
    compare_op(binary(op, {64, 3, 40}, {3, 1}), tol(kExact, kLibm));
  }
  compare_op(unary("scale", {5, 6}, {{"factor", real(2.5)}}), tol(kExact));
  compare_op({"add_n", {}, std::vector<ir::TensorType>(3, f32({4, 5}))}, tol(kExact));
  // More inputs than one launch takes.
  compare_op({"add_n", {}, std::vector<ir::TensorType>(70, f32({3}))}, tol(kExact));
}

// exp ... silu, causal_mask, div, maximum, minimum, the row norms and fused attention against the CPU. libm-based functions agree to a
// few ulps; the row norms' sums are in double in another order.
TEST(CudaKernels, MathAndRowNorms) {
  SKIP_WITHOUT_CUDA();
  CompareOptions positive = tol(kLibm);
  positive.prepare = [](OpHarness& h) {
    for (size_t i = 0; i < h.node().inputs.size(); ++i)
      for (auto& v : h.input(i)) v = std::fabs(v) + 0.5f;
  };
  for (const char* op : {"log", "sqrt", "rsqrt"}) compare_op(unary(op, {4, 33}), positive);
  for (const char* op : {"exp", "abs", "neg", "sin", "cos", "silu"}) compare_op(unary(op, {4, 33}), tol(kLibm));
  compare_op(unary("gelu", {4, 33}), tol(kLibm));
  compare_op(unary("gelu", {4, 33}, {{"approximate", str("tanh")}}), tol(kLibm));
  compare_op(unary("affine", {4, 33}, {{"factor", real(-1.5)}, {"offset", real(0.25)}}), tol(kExact));
  compare_op(unary("pow", {4, 33}, {{"exponent", real(2.0)}}), tol(kExact));
  compare_op(unary("pow", {4, 33}, {{"exponent", real(-0.5)}}), positive);
  for (const char* op : {"div", "maximum", "minimum"}) {
    const CompareOptions o = std::string(op) == "div" ? positive : tol(kExact);
    compare_op(binary(op, {3, 4}, {3, 4}), o);
    CompareOptions summed = o;
    summed.backward = kLibm;  // broadcast gradients are sums
    compare_op(binary(op, {2, 3, 4}, {3, 1}), summed);
    compare_op(binary(op, {4}, {2, 3, 4}), summed);
  }
  for (bool int_cond : {true, false}) {
    const ir::DType ct = int_cond ? ir::DType::I32 : ir::DType::F32;
    OpCase full{"where", {}, {{ct, {3, 4}}, {ir::DType::F32, {3, 4}}, {ir::DType::F32, {3, 4}}}, 2};
    compare_op(full, tol(kExact));
    CompareOptions summed = tol(kExact);
    summed.backward = kLibm;  // broadcast gradients are sums
    OpCase bcast{"where", {}, {{ct, {2, 1, 4}}, {ir::DType::F32, {3, 1}}, {ir::DType::F32, {}}}, 2};
    compare_op(bcast, summed);
  }
  compare_op(unary("causal_mask", {2, 5, 7}), tol(kExact));
  compare_op({"conv_transpose2d", {{"out", num(4)}, {"kernel", ints({2})}, {"stride", ints({2})}}, {f32({2, 3, 5, 6})}},
             tol(kLibrary));
  compare_op({"conv_transpose2d",
              {{"out", num(6)}, {"kernel", ints({3})}, {"stride", ints({2})}, {"pad", ints({1})},
               {"output_padding", ints({1})}, {"groups", num(2)}, {"bias", flag(false)}},
              {f32({1, 4, 3, 3})}},
             tol(kLibrary));
  compare_op({"arange", {{"n", num(1000)}, {"start", real(-3.25)}, {"step", real(0.1)}}, {}}, tol(kExact));
  compare_op({"arange", {{"n", num(77)}, {"start", real(-5)}, {"step", real(3)}, {"dtype", str("i32")}}, {}}, tol(kExact));
  for (int64_t axis : {0, 1, -1}) {
    OpCase take{"take", {{"axis", num(axis)}}, {f32({3, 40, 5}), i32({2, 7})}, 3};
    compare_op(take, tol(kExact, kLibm));  // repeated indices: the gradient is a sum
  }
  compare_op({"take", {}, {i32({6, 4}), i32({5})}, 6}, tol(kExact));
  compare_op({"argmax", {}, {f32({7, 33})}}, tol(kExact));
  compare_op({"argmax", {{"axis", num(1)}}, {f32({3, 40, 5})}}, tol(kExact));
  for (const char* mode : {"nearest", "bilinear"})
    for (const auto& scale : {std::vector<int64_t>{2}, std::vector<int64_t>{3, 2}})
      compare_op(unary("upsample", {2, 3, 5, 7}, {{"scale", ints(scale)}, {"mode", str(mode)}}), tol(kExact));
  for (bool causal : {false, true}) {
    const OpCase a{"attention", {{"causal", flag(causal)}}, {f32({2, 3, 17, 16}), f32({2, 3, 17, 16}), f32({2, 3, 17, 8})}};
    compare_op(a, tol(kNorm));
    const OpCase cross{"attention", {{"causal", flag(causal)}, {"scale", real(0.3)}},
                       {f32({2, 40, 64}), f32({2, 70, 64}), f32({2, 70, 100})}};
    compare_op(cross, tol(kNorm));
  }
  for (const char* op : {"layer_norm", "rms_norm"})
    for (bool affine : {true, false}) {
      compare_op({op, {{"affine", flag(affine)}}, {f32({6, 37})}}, tol(kNorm));
      compare_op({op, {{"axis", num(1)}, {"affine", flag(affine)}}, {f32({3, 5, 300})}}, tol(kNorm));
    }
}

TEST(CudaKernels, ShapeOps) {
  SKIP_WITHOUT_CUDA();
  compare_op({"reshape", {{"shape", ints({4, -1, 2})}}, {f32({2, 3, 4})}}, tol(kExact));
  compare_op({"flatten", {{"axis", num(2)}}, {f32({2, 3, 4})}}, tol(kExact));
  compare_op({"transpose", {{"perm", ints({2, 0, 1})}}, {f32({3, 4, 5})}}, tol(kExact));
  compare_op({"transpose", {{"perm", ints({0, 2, 1, 3})}}, {f32({2, 3, 4, 5})}}, tol(kExact));
  compare_op({"transpose", {{"perm", ints({1, 0})}}, {i32({3, 4})}}, tol(kExact));
  compare_op({"concat", {{"axis", num(1)}}, {f32({2, 3, 4}), f32({2, 5, 4})}}, tol(kExact));
  compare_op({"concat", {{"axis", num(0)}}, {f32({3, 4}), f32({2, 4}), f32({1, 4})}}, tol(kExact));
  compare_op({"stack", {{"axis", num(0)}}, {f32({3, 4}), f32({3, 4})}}, tol(kExact));
  compare_op({"stack", {{"axis", num(-1)}}, {f32({3, 4}), f32({3, 4}), f32({3, 4})}}, tol(kExact));
  compare_op({"split", {{"parts", num(3)}, {"axis", num(1)}}, {f32({2, 6, 4})}}, tol(kExact));
  compare_op({"slice", {{"axis", num(1)}, {"start", num(1)}, {"end", num(-1)}}, {f32({2, 5, 3})}}, tol(kExact));
  compare_op({"select", {{"axis", num(1)}, {"index", num(2)}}, {f32({2, 5, 3})}}, tol(kExact));
  compare_op({"slice", {{"axis", num(1)}, {"start", num(1)}, {"end", num(5)}, {"step", num(2)}}, {f32({2, 5, 3})}},
             tol(kExact));
  compare_op({"slice", {{"axis", num(-1)}, {"start", num(0)}, {"end", num(300)}, {"step", num(7)}}, {f32({3, 300})}},
             tol(kExact));
  compare_op({"slice", {{"axis", num(0)}, {"start", num(1)}, {"end", num(6)}, {"step", num(3)}}, {i32({6, 4})}},
             tol(kExact));
  compare_op({"select", {{"axis", num(1)}, {"index", num(-1)}}, {i32({4, 6})}}, tol(kExact));
}

TEST(CudaKernels, SoftmaxLossesReductions) {
  SKIP_WITHOUT_CUDA();
  compare_op(unary("softmax", {4, 7}, {{"axis", num(-1)}}), tol(kLibm));
  compare_op(unary("softmax", {3, 1000}, {{"axis", num(-1)}}), tol(kLibm));
  compare_op(unary("softmax", {2, 5, 3}, {{"axis", num(1)}}), tol(kLibm));
  for (const char* reduction : {"mean", "sum", "none"}) {
    OpCase c{"softmax_cross_entropy", {{"reduction", str(reduction)}}, {f32({6, 5}), i32({6})}, 5};
    compare_op(c, tol(kLibm, kExact));
    OpCase big{"softmax_cross_entropy", {{"reduction", str(reduction)}}, {f32({300, 1000}), i32({300})}, 1000};
    compare_op(big, tol(kLibm, kExact));
  }
  for (const char* op : {"mean", "sum"}) {
    compare_op({op, {}, {f32({3, 4, 5})}}, tol(kLibm, kExact));
    compare_op({op, {{"axes", ints({1})}, {"keepdims", flag(true)}}, {f32({3, 4, 5})}}, tol(kLibm, kExact));
    compare_op({op, {{"axes", ints({0, 2})}}, {f32({64, 30, 200})}}, tol(kLibm, kExact));
    compare_op({op, {{"axes", ints({-1})}}, {f32({16, 700})}}, tol(kLibm, kExact));
  }
  compare_op({"accuracy", {}, {f32({6, 5}), i32({6})}, 5}, tol(kExact));
  compare_op({"accuracy", {}, {f32({500, 10}), i32({500})}, 10}, tol(kExact));
}

TEST(CudaKernels, Fills) {
  SKIP_WITHOUT_CUDA();
  for (const char* dtype : {"f32", "i32", "bf16", "f16"}) {
    compare_op({"zeros", {{"shape", ints({3, 4})}, {"dtype", str(dtype)}}, {}}, tol(kExact));
    compare_op({"ones", {{"shape", ints({5})}, {"dtype", str(dtype)}}, {}}, tol(kExact));
    compare_op({"full", {{"shape", ints({2, 3})}, {"dtype", str(dtype)}, {"value", real(-3.7)}}, {}}, tol(kExact));
  }
}

TEST(CudaKernels, InPlaceIsBitwiseOutOfPlace) {
  SKIP_WITHOUT_CUDA();
  for (const char* op : {"relu", "sigmoid", "tanh"}) expect_inplace_bitwise(unary(op, {3, 50}));
  expect_inplace_bitwise(unary("dropout", {3, 50}, {{"rate", real(0.5)}}));
  expect_inplace_bitwise(unary("scale", {3, 50}, {{"factor", real(-1.5)}}));
  for (const char* op : {"add", "sub", "mul"}) {
    expect_inplace_bitwise(binary(op, {3, 50}, {3, 50}));
    expect_inplace_bitwise(binary(op, {3, 50}, {50}));
  }
  expect_inplace_bitwise({"add_n", {}, std::vector<ir::TensorType>(3, f32({3, 50}))});
  expect_inplace_bitwise({"add_n", {}, std::vector<ir::TensorType>(40, f32({7}))});
  expect_inplace_bitwise({"reshape", {{"shape", ints({50, 3})}}, {f32({3, 50})}});
  expect_inplace_bitwise({"flatten", {}, {f32({3, 5, 10})}});
}

TEST(CudaKernels, TwoGradientsInOneBuffer) {
  SKIP_WITHOUT_CUDA();
  // add(x, x) and concat(x, x): the executor hands one buffer as dx[0] (written) and dx[1] (added).
  for (const char* op : {"add", "concat"}) {
    SCOPED_TRACE(op);
    OpHarness h(cpu(), {op, op == std::string("concat") ? std::vector<std::pair<std::string, ir::AttrValue>>{{"axis", num(0)}}
                                                        : std::vector<std::pair<std::string, ir::AttrValue>>{},
                        {f32({4, 6}), f32({4, 6})}});
    const ir::Node& node = h.node();
    const ir::TensorType x = f32({4, 6});
    const ir::TensorType& y = node.outputs[0];
    SplitMix64 r{3};
    std::vector<float> g(static_cast<size_t>(ir::num_elements(y.shape)));
    for (auto& v : g) v = sample(r);
    DeviceBuffer dy(static_cast<size_t>(y.bytes())), dx(static_cast<size_t>(x.bytes()));
    dy.upload(g.data());
    dx.fill_words(kNanBits);
    OpCall b;
    b.node = &node;
    b.in = {{nullptr, x}, {nullptr, x}};
    b.out = {{nullptr, y}};
    b.dy = {{dy.get(), y}};
    b.dx = {{dx.get(), x}, {dx.get(), x}};
    b.dx_accumulate = {0, 1};
    cuda().get(op).backward(b);
    const std::vector<float> got = dx.download();
    const size_t n = static_cast<size_t>(ir::num_elements(x.shape));
    for (size_t j = 0; j < n; ++j) {
      const float want = op == std::string("add") ? g[j] + g[j] : g[j] + g[n + j];
      EXPECT_EQ(got[j], want) << "element " << j;
    }
  }
}

// The message of the exception `f` throws, or "" when it throws none.
template <typename E, typename F>
std::string message_of(F f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "";
}

// With several bad entries the GPU reports the first position, as the CPU does, in the CPU's words and
// exception type, whatever order its threads ran in.
TEST(CudaKernels, DataErrorsThrowLikeTheCpu) {
  SKIP_WITHOUT_CUDA();
  struct Case {
    OpCase c;
    size_t index_input;
    std::vector<std::pair<int64_t, int32_t>> bad;  // position, value
    bool out_of_range;                            // std::out_of_range, else std::runtime_error
  };
  const std::vector<Case> cases = {
      {{"embedding", {{"vocab", num(5)}, {"dim", num(3)}}, {i32({4})}}, 0, {{2, 5}}, true},
      {{"embedding", {{"vocab", num(7)}, {"dim", num(40)}}, {i32({3000})}}, 0, {{2900, 9}, {1234, -3}, {2000, 7}}, true},
      {{"take", {{"axis", num(-1)}}, {f32({3, 6}), i32({2, 500})}, 6}, 1, {{777, 6}, {300, -1}, {999, 60}}, true},
      {{"softmax_cross_entropy", {}, {f32({3, 4}), i32({3})}, 4}, 1, {{1, -1}}, false},
      {{"softmax_cross_entropy", {}, {f32({4000, 5}), i32({4000})}, 5}, 1, {{3999, 5}, {1500, -2}, {2500, 9}}, false},
      {{"accuracy", {}, {f32({2000, 3}), i32({2000})}, 3}, 1, {{1800, 3}, {640, 4}}, false},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.c.op + " with " + std::to_string(k.bad.size()) + " bad entries");
    OpHarness h(cpu(), k.c, 1);
    auto* idx = reinterpret_cast<int32_t*>(h.input(k.index_input).data());
    for (const auto& [pos, value] : k.bad) idx[pos] = value;
    const std::string want = k.out_of_range ? message_of<std::out_of_range>([&] { h.forward(); })
                                            : message_of<std::runtime_error>([&] { h.forward(); });
    ASSERT_FALSE(want.empty()) << "the CPU kernel accepted the bad entries";
    const auto types = input_types(k.c, h.node());
    Buffers ins, outs;
    OpCall f;
    f.node = &h.node();
    for (size_t i = 0; i < types.size(); ++i) {
      ins.push_back(std::make_unique<DeviceBuffer>(static_cast<size_t>(types[i].bytes())));
      ins.back()->upload(h.input(i).data());
      f.in.push_back({ins.back()->get(), types[i]});
    }
    for (const auto& t : h.node().outputs) {
      outs.push_back(std::make_unique<DeviceBuffer>(static_cast<size_t>(t.bytes())));
      f.out.push_back({outs.back()->get(), t});
    }
    cuda().get(k.c.op).forward(f);
    const std::string got = k.out_of_range ? message_of<std::out_of_range>([] { gpu().throw_if_error(); })
                                           : message_of<std::runtime_error>([] { gpu().throw_if_error(); });
    EXPECT_EQ(got, want);
    EXPECT_NO_THROW(gpu().throw_if_error());  // reported once, then cleared
  }
}

}  // namespace
}  // namespace sublinear::testing
