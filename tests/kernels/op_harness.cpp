#include "tests/kernels/op_harness.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

#include "ir/op_registry.h"
#include "tests/support/split_mix64.h"

namespace sublinear::testing {

namespace {

size_t floats_for(const ir::TensorType& t) { return static_cast<size_t>((t.bytes() + 3) / 4); }

float normal(SplitMix64& r) {
  // Box-Muller over two uniforms in (0, 1].
  double u1 = 1.0 - r.unit(), u2 = r.unit();
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

void fill_random(std::vector<float>& buf, const ir::TensorType& t, SplitMix64& r, int64_t int_range,
                 const std::string& param_name) {
  const int64_t n = ir::num_elements(t.shape);
  if (t.dtype == ir::DType::I32) {
    auto* p = reinterpret_cast<int32_t*>(buf.data());
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<int32_t>(r.uniform(0, int_range - 1));
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    if (param_name == "running_var")
      buf[i] = static_cast<float>(0.5 + r.unit());
    else
      buf[i] = normal(r);
  }
}

std::string describe(const OpCase& c) {
  std::ostringstream s;
  s << c.op << "(";
  for (size_t i = 0; i < c.data_inputs.size(); ++i) s << (i ? ", " : "") << c.data_inputs[i].str();
  for (const auto& [k, v] : c.attrs) s << ", " << k << "=" << ir::attr_value_str(v);
  s << ")";
  return s.str();
}

}  // namespace

OpHarness::OpHarness(const runtime::KernelTable& kernels, const OpCase& c, uint64_t seed) : kernels_(kernels) {
  const ir::OpDef* def = ir::OpRegistry::global().find(c.op);
  if (def == nullptr) throw std::runtime_error("unknown op " + c.op);
  node_.id = 7;
  node_.rng_key = 7;  // as Graph::add_node would set it
  node_.op = c.op;
  node_.def = def;
  node_.name = c.op + "#1";
  node_.path = node_.name;
  node_.attrs = ir::validate_attrs(*def, c.attrs);
  in_types_ = c.data_inputs;
  std::vector<std::string> names(c.data_inputs.size());
  trainable_.assign(c.data_inputs.size(), 1);
  if (def->params) {
    for (const auto& p : def->params(c.data_inputs, node_.attrs)) {
      in_types_.push_back(p.type);
      names.push_back(p.name);
      trainable_.push_back(p.trainable ? 1 : 0);
    }
  }
  node_.outputs = def->infer(in_types_, node_.attrs);
  SplitMix64 r{seed};
  for (size_t i = 0; i < in_types_.size(); ++i) {
    node_.inputs.push_back({static_cast<ir::NodeId>(i), 0});
    in_.emplace_back(floats_for(in_types_[i]) + 1, 0.0f);
    fill_random(in_[i], in_types_[i], r, c.int_range, names[i]);
    if (c.positive && i < c.data_inputs.size() && in_types_[i].dtype == ir::DType::F32)
      for (auto& v : in_[i]) v = std::fabs(v) + 0.5f;
  }
  for (const auto& t : node_.outputs) out_.emplace_back(floats_for(t) + 1, 0.0f);
}

bool OpHarness::input_needs_grad(size_t i) const {
  return node_.def->differentiable && in_types_[i].dtype == ir::DType::F32 && trainable_[i];
}

int OpHarness::visible_outputs() const {
  return node_.def->visible_outputs < 0 ? static_cast<int>(out_.size()) : node_.def->visible_outputs;
}

runtime::Tensor OpHarness::view(std::vector<float>& buf, const ir::TensorType& t) const {
  return runtime::Tensor{buf.data(), t};
}

void OpHarness::forward(runtime::Mode mode, int64_t iteration) {
  runtime::OpCall call;
  call.node = &node_;
  for (size_t i = 0; i < in_.size(); ++i) call.in.push_back(view(in_[i], in_types_[i]));
  for (size_t k = 0; k < out_.size(); ++k) call.out.push_back(view(out_[k], node_.outputs[k]));
  call.mode = mode;
  call.seed = 1234;
  call.iteration = iteration;
  kernels_.get(node_.op).forward(call);
}

std::vector<std::vector<float>> OpHarness::backward(const std::vector<std::vector<float>>& dy,
                                                    const std::vector<std::vector<float>>* dx_init,
                                                    int64_t iteration) {
  const auto& deps = node_.def->backward;
  runtime::OpCall call;
  call.node = &node_;
  for (size_t i = 0; i < in_.size(); ++i) {
    bool present = std::find(deps.inputs.begin(), deps.inputs.end(), static_cast<int>(i)) != deps.inputs.end();
    call.in.push_back(present ? view(in_[i], in_types_[i]) : runtime::Tensor{nullptr, in_types_[i]});
  }
  for (size_t k = 0; k < out_.size(); ++k) {
    bool present = std::find(deps.outputs.begin(), deps.outputs.end(), static_cast<int>(k)) != deps.outputs.end();
    call.out.push_back(present ? view(out_[k], node_.outputs[k]) : runtime::Tensor{nullptr, node_.outputs[k]});
  }
  std::vector<std::vector<float>> dy_copy = dy;
  for (size_t k = 0; k < out_.size(); ++k) {
    bool present = k < dy_copy.size() && !dy_copy[k].empty();
    call.dy.push_back(present ? view(dy_copy[k], node_.outputs[k]) : runtime::Tensor{nullptr, node_.outputs[k]});
  }
  std::vector<std::vector<float>> dx(in_.size());
  for (size_t i = 0; i < in_.size(); ++i) {
    if (!input_needs_grad(i)) {
      call.dx.push_back(runtime::Tensor{nullptr, in_types_[i]});
      call.dx_accumulate.push_back(0);
      continue;
    }
    dx[i] = dx_init ? (*dx_init)[i] : std::vector<float>(floats_for(in_types_[i]) + 1, std::nanf(""));
    call.dx.push_back(view(dx[i], in_types_[i]));
    call.dx_accumulate.push_back(dx_init ? 1 : 0);
  }
  call.mode = runtime::Mode::Train;
  call.seed = 1234;
  call.iteration = iteration;
  const auto& k = kernels_.get(node_.op);
  if (!k.backward) throw std::runtime_error("op " + node_.op + " has no backward kernel");
  k.backward(call);
  for (auto& d : dx)
    if (!d.empty()) d.pop_back();  // the guard element
  return dx;
}

void expect_gradients_match(const runtime::KernelTable& kernels, const OpCase& c, const GradCheckOptions& o) {
  SCOPED_TRACE(describe(c));
  OpHarness h(kernels, c, o.seed);
  h.forward(runtime::Mode::Train);
  SplitMix64 r{o.seed * 7919 + 3};
  std::vector<std::vector<float>> w(h.num_outputs());
  for (int k = 0; k < h.visible_outputs(); ++k) {
    const auto& t = h.node().outputs[k];
    if (t.dtype != ir::DType::F32) continue;
    w[k].resize(floats_for(t) + 1, 0.0f);
    for (int64_t j = 0; j < ir::num_elements(t.shape); ++j) w[k][j] = normal(r);
  }
  auto loss = [&]() {
    double L = 0;
    for (size_t k = 0; k < w.size(); ++k) {
      if (w[k].empty()) continue;
      for (int64_t j = 0; j < ir::num_elements(h.node().outputs[k].shape); ++j)
        L += static_cast<double>(w[k][j]) * static_cast<double>(h.output(k)[j]);
    }
    return L;
  };
  auto dx = h.backward(w);
  int checked = 0;
  for (size_t i = 0; i < h.num_inputs(); ++i) {
    if (!h.input_needs_grad(i)) continue;
    const int64_t n = static_cast<int64_t>(dx[i].size());
    std::vector<int64_t> probes;
    if (n <= o.probes) {
      for (int64_t j = 0; j < n; ++j) probes.push_back(j);
    } else {
      for (int p = 0; p < o.probes; ++p) probes.push_back(r.uniform(0, n - 1));
    }
    for (int64_t j : probes) {
      const float x0 = h.input(i)[j];
      h.input(i)[j] = static_cast<float>(x0 + o.h);
      h.forward(o.fd_mode);
      const double lp = loss();
      h.input(i)[j] = static_cast<float>(x0 - o.h);
      h.forward(o.fd_mode);
      const double lm = loss();
      h.input(i)[j] = x0;
      const double fd = (lp - lm) / (2 * o.h);
      const double an = dx[i][j];
      EXPECT_LE(std::abs(fd - an), o.atol + o.rtol * std::max(std::abs(fd), std::abs(an)))
          << "input " << i << " element " << j << ": finite difference " << fd << ", analytic " << an;
      ++checked;
    }
  }
  EXPECT_GT(checked, 0) << "no input of " << c.op << " needs a gradient";
}

void expect_inplace_equivalent(const runtime::KernelTable& kernels, const OpCase& c) {
  SCOPED_TRACE(describe(c));
  const ir::OpDef* def = ir::OpRegistry::global().find(c.op);
  ASSERT_NE(def, nullptr);
  int tested = 0;
  for (const auto& opt : def->inplace) {
    OpHarness ref(kernels, c, 5);
    if (static_cast<size_t>(opt.input) >= ref.num_inputs()) continue;
    ref.forward(runtime::Mode::Train);
    // Forward with out[o] over in[i].
    OpHarness al(kernels, c, 5);
    const ir::Node& n = al.node();
    // Input types, rebuilt from the OpDef the way the harness built them.
    std::vector<ir::TensorType> types = c.data_inputs;
    if (def->params)
      for (const auto& p : def->params(c.data_inputs, n.attrs)) types.push_back(p.type);
    if (types[opt.input].bytes() != n.outputs[opt.output].bytes()) continue;
    runtime::OpCall call;
    call.node = &n;
    for (size_t i = 0; i < al.num_inputs(); ++i) call.in.push_back(al.view(al.input(i), types[i]));
    for (size_t k = 0; k < al.num_outputs(); ++k) call.out.push_back(al.view(al.output(k), n.outputs[k]));
    call.out[opt.output].data = call.in[opt.input].data;
    call.seed = 1234;
    kernels.get(c.op).forward(call);
    const size_t bytes = static_cast<size_t>(n.outputs[opt.output].bytes());
    EXPECT_EQ(0, std::memcmp(call.out[opt.output].data, ref.output(opt.output).data(), bytes))
        << "forward output " << opt.output << " written over input " << opt.input << " differs";
    ++tested;
  }
  // Backward: each input gradient of dy[0]'s size over dy[0].
  OpHarness ref(kernels, c, 6);
  const auto& kern = kernels.get(c.op);
  if (!def->inplace.empty() && kern.backward && ref.node().def->differentiable) {
    ref.forward(runtime::Mode::Train);
    SplitMix64 r{99};
    std::vector<std::vector<float>> dy(ref.num_outputs());
    const auto& t0 = ref.node().outputs[0];
    dy[0].resize(floats_for(t0) + 1);
    for (auto& v : dy[0]) v = normal(r);
    auto dx_ref = ref.backward(dy);
    std::vector<ir::TensorType> types = c.data_inputs;
    if (def->params)
      for (const auto& p : def->params(c.data_inputs, ref.node().attrs)) types.push_back(p.type);
    for (size_t i = 0; i < ref.num_inputs(); ++i) {
      if (!ref.input_needs_grad(i) || types[i].bytes() != t0.bytes()) continue;
      // Rebuild the backward call by hand with dx[i] aliasing a copy of dy[0].
      const auto& deps = def->backward;
      runtime::OpCall call;
      call.node = &ref.node();
      for (size_t j = 0; j < ref.num_inputs(); ++j) {
        bool present = std::find(deps.inputs.begin(), deps.inputs.end(), static_cast<int>(j)) != deps.inputs.end();
        call.in.push_back(present ? ref.view(ref.input(j), types[j]) : runtime::Tensor{nullptr, types[j]});
      }
      for (size_t k = 0; k < ref.num_outputs(); ++k) {
        bool present = std::find(deps.outputs.begin(), deps.outputs.end(), static_cast<int>(k)) != deps.outputs.end();
        call.out.push_back(present ? ref.view(ref.output(k), ref.node().outputs[k])
                                   : runtime::Tensor{nullptr, ref.node().outputs[k]});
      }
      std::vector<float> dy0 = dy[0];
      call.dy.push_back(runtime::Tensor{dy0.data(), t0});
      for (size_t k = 1; k < ref.num_outputs(); ++k) call.dy.push_back(runtime::Tensor{nullptr, ref.node().outputs[k]});
      std::vector<std::vector<float>> dx(ref.num_inputs());
      for (size_t j = 0; j < ref.num_inputs(); ++j) {
        if (!ref.input_needs_grad(j)) {
          call.dx.push_back(runtime::Tensor{nullptr, types[j]});
        } else if (j == i) {
          call.dx.push_back(runtime::Tensor{dy0.data(), types[j]});
        } else {
          dx[j].assign(floats_for(types[j]) + 1, 0.0f);
          call.dx.push_back(runtime::Tensor{dx[j].data(), types[j]});
        }
        call.dx_accumulate.push_back(0);
      }
      call.seed = 1234;
      kern.backward(call);
      EXPECT_EQ(0, std::memcmp(dy0.data(), dx_ref[i].data(), static_cast<size_t>(types[i].bytes())))
          << "backward dx[" << i << "] written over dy[0] differs";
      for (size_t j = 0; j < ref.num_inputs(); ++j) {
        if (j == i || dx[j].empty()) continue;
        EXPECT_EQ(0, std::memcmp(dx[j].data(), dx_ref[j].data(), static_cast<size_t>(types[j].bytes())))
            << "backward dx[" << j << "] changed when dx[" << i << "] aliases dy[0]";
      }
      ++tested;
    }
  }
  EXPECT_GT(tested, 0) << c.op << " has no in-place option applicable to this case";
}

void expect_accumulates(const runtime::KernelTable& kernels, const OpCase& c) {
  SCOPED_TRACE(describe(c));
  OpHarness h(kernels, c, 11);
  h.forward(runtime::Mode::Train);
  SplitMix64 r{12};
  std::vector<std::vector<float>> dy(h.num_outputs());
  for (int k = 0; k < h.visible_outputs(); ++k) {
    const auto& t = h.node().outputs[k];
    if (t.dtype != ir::DType::F32) continue;
    dy[k].resize(floats_for(t) + 1);
    for (auto& v : dy[k]) v = normal(r);
  }
  auto plain = h.backward(dy);
  std::vector<std::vector<float>> init(h.num_inputs());
  for (size_t i = 0; i < h.num_inputs(); ++i) {
    if (plain[i].empty()) continue;
    init[i].resize(plain[i].size() + 1);
    for (auto& v : init[i]) v = normal(r);
  }
  auto acc = h.backward(dy, &init);
  int checked = 0;
  for (size_t i = 0; i < h.num_inputs(); ++i) {
    for (size_t j = 0; j < plain[i].size(); ++j) {
      const double want = static_cast<double>(init[i][j]) + plain[i][j];
      EXPECT_NEAR(acc[i][j], want, 1e-5 * (std::abs(init[i][j]) + std::abs(plain[i][j])) + 1e-6)
          << "input " << i << " element " << j;
      ++checked;
    }
  }
  EXPECT_GT(checked, 0);
}

}  // namespace sublinear::testing
