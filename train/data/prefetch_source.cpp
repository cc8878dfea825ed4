#include "train/data/prefetch_source.h"

#include <condition_variable>
#include <cstring>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "ir/check.h"

namespace sublinear::runtime::data {

namespace {

class PrefetchSource final : public DataSource {
 public:
  explicit PrefetchSource(std::unique_ptr<DataSource> inner) : inner_(std::move(inner)) {}
  ~PrefetchSource() override { wait_for_worker(); }

  void next(std::vector<Tensor>& out) override {
    wait_for_worker();
    if (!ahead_.ready) {  // the first batch, or the first after a restore
      start_worker(out);
      wait_for_worker();
    }
    SL_CHECK(ahead_.ready) << "prefetch: no batch prepared";
    ahead_.ready = false;
    if (ahead_.error) std::rethrow_exception(std::exchange(ahead_.error, nullptr));
    SL_CHECK(out.size() == ahead_.tensors.size()) << "prefetch: " << out.size() << " inputs, prepared "
                                                  << ahead_.tensors.size();
    for (size_t i = 0; i < out.size(); ++i) {
      SL_CHECK(out[i].bytes() == ahead_.tensors[i].bytes()) << "prefetch: input " << i << " changed size";
      std::memcpy(out[i].data, ahead_.tensors[i].data, static_cast<size_t>(out[i].bytes()));
    }
    consumed_state_ = ahead_.state;
    start_worker(out);
  }

  // Before the first batch no worker has run: the inner source is where it started.
  std::string save_state() const override { return consumed_state_ ? *consumed_state_ : inner_->save_state(); }

  void restore_state(const std::string& state) override {
    wait_for_worker();
    ahead_.ready = false;
    ahead_.error = nullptr;
    inner_->restore_state(state);
    consumed_state_ = state;
  }

  std::string describe() const override { return inner_->describe() + "; one batch prepared ahead on its own thread"; }
  int64_t epoch_size() const override { return inner_->epoch_size(); }

 private:
  struct Ahead {
    std::vector<std::vector<char>> storage;
    std::vector<Tensor> tensors;  // views of storage, typed like the caller's inputs
    std::string state;            // the inner source's state right after this batch
    std::exception_ptr error;
    bool ready = false, running = false;
  };

  // Prepares the batch after the last one handed out; `shape` gives the inputs' types.
  void start_worker(const std::vector<Tensor>& shape) {
    if (ahead_.tensors.size() != shape.size()) {
      ahead_.storage.assign(shape.size(), {});
      ahead_.tensors.assign(shape.size(), Tensor{});
      for (size_t i = 0; i < shape.size(); ++i) {
        ahead_.storage[i].assign(static_cast<size_t>(shape[i].bytes()), 0);
        ahead_.tensors[i] = Tensor{ahead_.storage[i].data(), shape[i].type};
      }
    }
    ahead_.running = true;
    worker_ = std::thread([this] {
      Ahead& a = ahead_;
      try {
        inner_->next(a.tensors);
        a.state = inner_->save_state();
      } catch (...) {
        a.error = std::current_exception();
      }
      std::lock_guard<std::mutex> lock(mu_);
      a.ready = true;
      a.running = false;
      cv_.notify_all();
    });
  }

  void wait_for_worker() {
    if (!worker_.joinable()) return;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return !ahead_.running; });
    }
    worker_.join();
  }

  std::unique_ptr<DataSource> inner_;
  Ahead ahead_;
  std::optional<std::string> consumed_state_;
  std::thread worker_;
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace

std::unique_ptr<DataSource> prefetch_one_batch(std::unique_ptr<DataSource> inner) {
  return std::make_unique<PrefetchSource>(std::move(inner));
}

}  // namespace sublinear::runtime::data
