#include "train/workers/gradient_reducer.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>
#include <utility>

#include "ir/check.h"

namespace sublinear::runtime::train {

GradientReducer::GradientReducer(Communicator& comm, std::vector<ParamBuffer>& params, std::vector<size_t> order,
                                 int64_t bucket_bytes, bool overlap)
    : comm_(comm), params_(params), bucket_of_(params.size(), -1), scale_(1.0 / comm.size()) {
  if (order.empty())
    for (size_t i = params.size(); i-- > 0;) order.push_back(i);
  const int64_t limit = std::max<int64_t>(1, bucket_bytes / static_cast<int64_t>(sizeof(float)));
  int64_t largest = 0;
  for (size_t i : order) {
    SL_CHECK(i < params.size()) << "gradient order names parameter " << i << " of " << params.size();
    const ParamBuffer& p = params[i];
    if (!p.trainable || !p.has_grad || p.grad == nullptr || bucket_of_[i] >= 0) continue;
    const int64_t n = ir::num_elements(p.type.shape);
    if (buckets_.empty() || (buckets_.back().floats > 0 && buckets_.back().floats + n > limit)) buckets_.emplace_back();
    buckets_.back().params.push_back(i);
    buckets_.back().floats += n;
    bucket_of_[i] = static_cast<int>(buckets_.size() - 1);
    largest = std::max(largest, buckets_.back().floats);
  }
  staging_.resize(static_cast<size_t>(largest));
  for (Bucket& b : buckets_) b.pending = b.params.size();
  if (overlap && comm.any_thread() && comm.size() > 1 && buckets_.size() > 1)
    thread_ = std::thread([this] { worker(); });
}

GradientReducer::~GradientReducer() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

int64_t GradientReducer::extra_bytes() const {
  const auto n = static_cast<int64_t>(staging_.size()), k = static_cast<int64_t>(comm_.size());
  return k > 1 ? (n + k * ((n + k - 1) / k)) * static_cast<int64_t>(sizeof(float)) : 0;
}

void GradientReducer::reduce(Bucket& b) {
  float* s = staging_.data();
  int64_t at = 0;
  for (size_t i : b.params) {
    const int64_t n = ir::num_elements(params_[i].type.shape);
    std::memcpy(s + at, params_[i].grad, static_cast<size_t>(n) * sizeof(float));
    at += n;
  }
  comm_.sum(s, b.floats);
  const auto scale = static_cast<float>(scale_);
  at = 0;
  for (size_t i : b.params) {
    const int64_t n = ir::num_elements(params_[i].type.shape);
    float* g = params_[i].grad;
    for (int64_t e = 0; e < n; ++e) g[e] = s[at + e] * scale;
    at += n;
  }
}

void GradientReducer::enqueue(size_t bucket) {
  buckets_[bucket].queued = true;
  if (!thread_.joinable()) return;  // finish() reduces it
  {
    std::lock_guard lock(mu_);
    queue_.push_back(bucket);
  }
  cv_.notify_one();
}

void GradientReducer::ready(size_t param) {
  if (param >= bucket_of_.size() || bucket_of_[param] < 0) return;
  Bucket& b = buckets_[static_cast<size_t>(bucket_of_[param])];
  SL_CHECK(b.pending > 0) << "parameter " << params_[param].name << " reported final twice in one step";
  if (--b.pending == 0) enqueue(static_cast<size_t>(bucket_of_[param]));
}

void GradientReducer::worker() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    const size_t b = queue_.front();
    queue_.pop_front();
    lock.unlock();
    std::exception_ptr failed;
    try {
      reduce(buckets_[b]);
    } catch (...) {  // raised by finish() on the step's thread, which reports it
      failed = std::current_exception();
    }
    lock.lock();
    if (failed && !error_) error_ = failed;
    ++done_;
    done_cv_.notify_all();
  }
}

void GradientReducer::finish() {
  const auto t0 = std::chrono::steady_clock::now();
  if (thread_.joinable()) {
    // Buckets the step did not report (a program without the hook) go now, in order.
    for (size_t b = 0; b < buckets_.size(); ++b)
      if (!buckets_[b].queued) enqueue(b);
    std::unique_lock lock(mu_);
    done_cv_.wait(lock, [this] { return done_ == buckets_.size(); });
    done_ = 0;
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  } else {
    for (Bucket& b : buckets_) reduce(b);
  }
  for (Bucket& b : buckets_) {
    b.pending = b.params.size();
    b.queued = false;
  }
  wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace sublinear::runtime::train
