#pragma once
// Shared plumbing of the CPU kernels: the oneDNN engine and stream, a thread-safe cache of primitives
// keyed by shape and attributes, row-major sgemm, and the small helpers every backward repeats (which
// gradients are wanted and accumulated, zeroing a gradient whose dy is absent).
// Rules: everything here is deterministic for a fixed OpenMP thread count and independent of buffer
// addresses; nothing keeps memory between calls except cached primitives.
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "runtime/cpu/cpu_util.h"
#include "runtime/kernel.h"

namespace sublinear::runtime::cpu {

dnnl::engine& cpu_engine();
// One stream per thread: a dnnl::stream is not meant to be shared between threads that submit at once.
dnnl::stream& cpu_stream();

// Primitives (and their descriptors) by a key the caller builds from everything that defines them.
// Creation runs outside the lock so one slow creation does not serialize unrelated kernels; a race
// between two creators of the same key keeps the first.
template <typename Entry>
class PrimitiveCache {
 public:
  std::shared_ptr<const Entry> get(const std::string& key, const std::function<Entry()>& make) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = entries_.find(key);
      if (it != entries_.end()) return it->second;
    }
    auto created = std::make_shared<const Entry>(make());
    std::lock_guard<std::mutex> lock(mutex_);
    return entries_.emplace(key, std::move(created)).first->second;
  }

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<const Entry>> entries_;
};

// kParallelWork (below that much work a loop stays on the calling thread) is cpu_util.h's.

// "1,2,3;4,5" style keys from groups of integers.
std::string make_key(std::initializer_list<std::vector<int64_t>> groups);

// A caller's plain buffer as a primitive wants to read it: the buffer itself when the layouts agree, else
// a reordered copy (queued on the stream, so it is ready when the primitive runs).
dnnl::memory input(const dnnl::memory::desc& want, const dnnl::memory::desc& plain, void* p);

// Where a primitive writes a result that belongs in a caller's plain buffer: the buffer itself when the
// layouts agree and nothing is added to it, else a temporary that finish() reorders into the buffer,
// adding with a sum post-op when accumulating. Without a buffer (a gradient nobody wants) the result
// just lands in the temporary.
class Output {
 public:
  Output(const dnnl::memory::desc& want, const dnnl::memory::desc& plain, void* user, bool accumulate);
  const dnnl::memory& target() const { return target_; }
  void finish();

 private:
  dnnl::memory user_, target_;
  bool accumulate_, direct_ = false;
};

// C = alpha * op(A) op(B) + beta * C, row-major, through dnnl_sgemm (OpenMP-threaded). beta = 0 never
// reads C, so C may hold garbage (the test harness prefills gradients with NaN).
void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
           int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// The gradient of an input whose every dy is absent: zeros, or unchanged when accumulating.
void store_zero(const Tensor& dx, bool accumulate);
void fill(float* dst, float value, int64_t n);

}  // namespace sublinear::runtime::cpu
