#include "runtime/param_init.h"

#include <cmath>
#include <cstring>

#include "ir/check.h"
#include "runtime/counter_rng.h"

namespace sublinear::runtime {

namespace {

// Uniform in (0, 1] from the counter RNG, 53 bits.
double unit(uint64_t seed, int64_t param, int64_t i, uint64_t stream) {
  return (static_cast<double>(counter_hash(seed, 0x5eed0000ULL + stream, static_cast<uint64_t>(param),
                                           static_cast<uint64_t>(i)) >> 11) + 1.0) * 0x1.0p-53;
}

double normal(uint64_t seed, int64_t param, int64_t i) {
  // Box-Muller over two independent counters per element: position-independent, so any subset of
  // elements can be regenerated.
  const double u1 = unit(seed, param, i, 0), u2 = unit(seed, param, i, 1);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

}  // namespace

void init_param(const ir::Node& n, uint64_t seed, int64_t param_index, void* out) {
  SL_CHECK(n.is_param()) << "init_param on '" << n.name << "', a " << n.op;
  const ir::TensorType& t = n.outputs[0];
  const int64_t count = ir::num_elements(t.shape);
  if (t.dtype != ir::DType::F32) {
    std::memset(out, 0, static_cast<size_t>(t.bytes()));
    return;
  }
  float* w = static_cast<float*>(out);
  const std::string& init = n.attrs.get_string("init");
  const double fan_in = std::max<double>(1.0, static_cast<double>(n.attrs.get_int("fan_in")));
  double receptive = 1;
  for (size_t d = 2; d < t.shape.size(); ++d) receptive *= static_cast<double>(t.shape[d]);
  const double fan_out = t.shape.empty() ? 1.0 : static_cast<double>(t.shape[0]) * receptive;
  if (init == "zeros" || init == "ones") {
    const float v = init == "ones" ? 1.0f : 0.0f;
    for (int64_t i = 0; i < count; ++i) w[i] = v;
  } else if (init == "normal" || init == "kaiming") {
    const double std = init == "normal" ? n.attrs.get_float("std") : std::sqrt(2.0 / fan_in);
    for (int64_t i = 0; i < count; ++i) w[i] = static_cast<float>(std * normal(seed, param_index, i));
  } else if (init == "uniform" || init == "xavier") {
    const double a = init == "uniform" ? 1.0 / std::sqrt(fan_in) : std::sqrt(6.0 / (fan_in + fan_out));
    for (int64_t i = 0; i < count; ++i)
      w[i] = static_cast<float>(a * (2.0 * unit(seed, param_index, i, 2) - 1.0));
  } else {
    SL_CHECK(false) << "unknown initialiser '" << init << "' on '" << n.name << "'";
  }
}

}  // namespace sublinear::runtime
