// The prefetching wrapper: the inner source's batches in its order, checkpoint states of the batch
// handed out (not the one prepared ahead), errors at the batch that raised them, and no batch prepared
// before the first is asked for.
#include "train/data/prefetch_source.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>

#include "data_test_util.h"
#include "train/data/source_util.h"

namespace sublinear {
namespace {

using testing::Batch;
using testing::load_example;

// Counts its batches; each batch is filled with its index; throws at batch `fail_at`.
class CountingSource : public data::DataSource {
 public:
  explicit CountingSource(int fail_at = -1, std::atomic<int>* made = nullptr) : fail_at_(fail_at), made_(made) {}
  void next(std::vector<runtime::Tensor>& out) override {
    if (step_ == fail_at_) throw std::runtime_error("bad batch " + std::to_string(step_));
    for (auto& t : out)
      for (int64_t i = 0; i < t.bytes(); ++i) static_cast<unsigned char*>(t.data)[i] = static_cast<unsigned char>(step_);
    ++step_;
    if (made_) ++*made_;
  }
  std::string save_state() const override { return "counting step=" + std::to_string(step_); }
  void restore_state(const std::string& s) override { step_ = std::stoi(s.substr(s.find('=') + 1)); }
  std::string describe() const override { return "counting"; }

 private:
  int step_ = 0;
  int fail_at_;
  std::atomic<int>* made_;
};

std::vector<data::InputSpec> specs() { return data::input_specs(load_example("mlp.snet", 4)); }

int first_byte(const Batch& b) { return static_cast<unsigned char*>(b.tensors[0].data)[0]; }

TEST(PrefetchSource, SameBatchesAsTheInnerSourceAndStatesOfTheBatchHandedOut) {
  const auto sp = specs();
  data::DataConfig cfg;
  cfg.kind = "synthetic";
  auto bare = data::make_synthetic_source(cfg, sp, 5);
  auto ahead = data::prefetch_one_batch(data::make_synthetic_source(cfg, sp, 5));
  std::string state_at_3;
  for (int s = 0; s < 6; ++s) {
    Batch a(sp), b(sp);
    bare->next(a.tensors);
    ahead->next(b.tensors);
    EXPECT_EQ(a.all_bytes(), b.all_bytes()) << "batch " << s;
    // The wrapper has prepared batch s + 1 by now; its state is still that after batch s.
    EXPECT_EQ(ahead->save_state(), bare->save_state()) << "batch " << s;
    if (s == 2) state_at_3 = ahead->save_state();
  }
  // Restoring drops the batch prepared ahead and continues from the state.
  ahead->restore_state(state_at_3);
  bare->restore_state(state_at_3);
  for (int s = 0; s < 3; ++s) {
    Batch a(sp), b(sp);
    bare->next(a.tensors);
    ahead->next(b.tensors);
    EXPECT_EQ(a.all_bytes(), b.all_bytes()) << "after restore, batch " << s;
  }
  EXPECT_NE(ahead->describe().find("ahead"), std::string::npos);
}

TEST(PrefetchSource, NothingPreparedBeforeTheFirstBatchAndOneAheadAfter) {
  const auto sp = specs();
  std::atomic<int> made{0};
  auto src = data::prefetch_one_batch(std::make_unique<CountingSource>(-1, &made));
  EXPECT_EQ(made.load(), 0);
  EXPECT_EQ(src->save_state(), "counting step=0");
  Batch b(sp);
  src->next(b.tensors);
  EXPECT_EQ(first_byte(b), 0);
  src->next(b.tensors);
  EXPECT_EQ(first_byte(b), 1);
  EXPECT_EQ(src->save_state(), "counting step=2");
  src.reset();  // waits for the batch in preparation
  EXPECT_EQ(made.load(), 3);
}

TEST(PrefetchSource, AnErrorSurfacesAtTheBatchThatRaisedIt) {
  const auto sp = specs();
  auto src = data::prefetch_one_batch(std::make_unique<CountingSource>(2));
  Batch b(sp);
  src->next(b.tensors);  // batch 0; batch 1 prepared
  src->next(b.tensors);  // batch 1; batch 2 fails while being prepared
  EXPECT_EQ(first_byte(b), 1);
  EXPECT_EQ(src->save_state(), "counting step=2");
  try {
    src->next(b.tensors);
    ADD_FAILURE() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "bad batch 2");
  }
  // A restore clears the error and continues.
  src->restore_state("counting step=5");
  src->next(b.tensors);
  EXPECT_EQ(first_byte(b), 5);
}

}  // namespace
}  // namespace sublinear
