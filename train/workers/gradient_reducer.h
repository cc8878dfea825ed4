#pragma once
// Sums the parameter gradients of a data-parallel step over the workers and divides by their count, so
// every worker applies the same mean gradient (PyTorch DDP's semantics). Rules:
// - Gradients are grouped into buckets of at most `bucket_bytes` in the order the backward pass finishes
//   them (the program's gradient_ready_order()), the last-finished first-reduced order of DDP reversed
//   into ours: a bucket is reduced as soon as its last gradient is final, while the backward pass goes on.
// - A bucket's gradients are packed into one staging buffer, summed in rank order (Communicator::sum),
//   scaled by 1/K and unpacked: the same bits on every worker and in every run with the same K. K = 1
//   changes nothing (the scale is 1).
// - One thread at a time calls the communicator: with overlap, a reducer thread owns it from the first
//   bucket of a step until finish() returns; without (or when MPI allows only the main thread), finish()
//   reduces every bucket itself.
// - The extra memory is the staging buffer plus the communicator's receive buffer (extra_bytes()),
//   reported beside the plan.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/program_buffers.h"
#include "train/workers/communicator.h"

namespace sublinear::runtime::train {

class GradientReducer {
 public:
  // `order`: indices into params in the order their gradients become final (params without a gradient
  // are skipped); empty means declaration order reversed.
  GradientReducer(Communicator& comm, std::vector<ParamBuffer>& params, std::vector<size_t> order,
                  int64_t bucket_bytes, bool overlap);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Parameter i's gradient is final for this step (called from the thread running the step).
  void ready(size_t param);
  // Reduces what is not yet reduced and waits for every bucket; gradients then hold the mean. A sum that
  // failed on the reducer thread is rethrown here.
  void finish();

  size_t buckets() const { return buckets_.size(); }
  bool overlaps() const { return thread_.joinable(); }
  // Staging plus the communicator's receive buffer at the largest bucket, in bytes.
  int64_t extra_bytes() const;
  // Seconds finish() waited for reductions (the communication not hidden behind the backward pass),
  // summed over steps.
  double wait_seconds() const { return wait_seconds_; }

 private:
  struct Bucket {
    std::vector<size_t> params;
    int64_t floats = 0;
    size_t pending = 0;  // gradients of this step not yet final
    bool queued = false;
  };
  void reduce(Bucket& b);
  void enqueue(size_t bucket);
  void worker();

  Communicator& comm_;
  std::vector<ParamBuffer>& params_;
  std::vector<Bucket> buckets_;
  std::vector<int> bucket_of_;  // per param, -1 without a gradient
  std::vector<float> staging_;
  double scale_;

  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  std::deque<size_t> queue_;
  size_t done_ = 0;
  std::exception_ptr error_;  // the reducer thread's first failure this step, raised by finish()
  bool stop_ = false;
  std::thread thread_;
  double wait_seconds_ = 0;
};

}  // namespace sublinear::runtime::train
