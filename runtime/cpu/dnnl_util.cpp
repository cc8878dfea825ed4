// Shared plumbing of the CPU kernels (see dnnl_util.h). Loops are OpenMP static schedules over
// independent elements, so their results do not depend on the thread count at all.
#include "runtime/cpu/dnnl_util.h"

#include <oneapi/dnnl/dnnl.h>

#include "ir/check.h"

namespace sublinear::runtime::cpu {

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& cpu_stream() {
  thread_local dnnl::stream stream(cpu_engine());
  return stream;
}

std::string make_key(std::initializer_list<std::vector<int64_t>> groups) {
  std::string key;
  for (const auto& g : groups) {
    for (int64_t v : g) {
      key += std::to_string(v);
      key += ',';
    }
    key += ';';
  }
  return key;
}

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
           int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    // An empty product: C = beta * C, where beta = 0 must not read C.
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
    return;
  }
  dnnl_status_t st =
      dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  SL_CHECK(st == dnnl_success) << "dnnl_sgemm failed with status " << static_cast<int>(st) << " (m=" << m
                               << " n=" << n << " k=" << k << ")";
}

dnnl::memory input(const dnnl::memory::desc& want, const dnnl::memory::desc& plain, void* p) {
  dnnl::memory user(plain, cpu_engine(), p);
  if (want == plain) return user;
  dnnl::memory copy(want, cpu_engine());
  dnnl::reorder(user, copy).execute(cpu_stream(), user, copy);
  return copy;
}

Output::Output(const dnnl::memory::desc& want, const dnnl::memory::desc& plain, void* user, bool accumulate)
    : accumulate_(accumulate) {
  if (user != nullptr) user_ = dnnl::memory(plain, cpu_engine(), user);
  direct_ = user != nullptr && want == plain && !accumulate;
  target_ = direct_ ? user_ : dnnl::memory(want, cpu_engine());
}

void Output::finish() {
  if (direct_ || !user_) return;
  dnnl::primitive_attr attr;
  if (accumulate_) {
    dnnl::post_ops ops;
    ops.append_sum(1.0f);
    attr.set_post_ops(ops);
  }
  dnnl::reorder::primitive_desc pd(target_, user_, attr);
  dnnl::reorder(pd).execute(cpu_stream(), target_, user_);
}

void fill(float* dst, float value, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= kParallelWork)
  for (int64_t i = 0; i < n; ++i) dst[i] = value;
}

void store_zero(const Tensor& dx, bool accumulate) {
  if (!dx.present() || accumulate) return;
  fill(dx.f32(), 0.0f, dx.numel());
}

}  // namespace sublinear::runtime::cpu
