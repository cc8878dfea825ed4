// Small real learning runs: a CNN on generated images whose class is a spatial pattern (so it must be
// learned by convolution, not read off one pixel), and a character-level LSTM on a real English text
// shipped with the machine. Both must end clearly better than chance; both run in seconds.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "runtime/cpu/cpu_kernels.h"
#include "train/data/dataset.h"
#include "runtime/optimizer.h"
#include "tests/runtime/runtime_test_util.h"

namespace sublinear::testing {
namespace {

// Four classes of 1-channel-replicated images: horizontal stripes, vertical stripes, diagonal stripes
// and a checkerboard, each with a random period (3..5 pixels), a random phase and noise of half the
// signal's amplitude.
void stripes_batch(runtime::Tensor& x, runtime::Tensor& labels, SplitMix64& r) {
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
  for (int64_t b = 0; b < n; ++b) {
    const int cls = static_cast<int>(r.uniform(0, 3));
    labels.i32()[b] = cls;
    const double period = static_cast<double>(r.uniform(3, 5));
    const double phase = r.unit() * period;
    for (int64_t i = 0; i < h; ++i) {
      for (int64_t j = 0; j < w; ++j) {
        double t = 0;
        const double yi = static_cast<double>(i) + phase, xj = static_cast<double>(j) + phase;
        switch (cls) {
          case 0: t = std::sin(6.2832 * yi / period); break;
          case 1: t = std::sin(6.2832 * xj / period); break;
          case 2: t = std::sin(6.2832 * (yi + xj) / period); break;
          default: t = std::sin(6.2832 * yi / period) * std::sin(6.2832 * xj / period) * 2; break;
        }
        for (int64_t ch = 0; ch < c; ++ch)
          x.f32()[((b * c + ch) * h + i) * w + j] = static_cast<float>(t + 0.5 * (2 * r.unit() - 1));
      }
    }
  }
}

runtime::train::OptimizerConfig adam(double lr) {
  runtime::train::OptimizerConfig o;
  o.kind = runtime::train::OptimizerKind::Adam;
  o.lr = lr;
  return o;
}

void adam_step(runtime::Executor& ex, std::vector<std::vector<float>>& m, std::vector<std::vector<float>>& v,
               const runtime::train::OptimizerConfig& oc, int64_t step) {
  std::vector<runtime::train::ParamSlot> slots;
  for (size_t i = 0; i < ex.params().size(); ++i) {
    auto& p = ex.params()[i];
    if (!p.trainable || !p.has_grad) continue;
    const int64_t n = ir::num_elements(p.type.shape);
    if (m[i].empty()) m[i].assign(static_cast<size_t>(n), 0.0f), v[i].assign(static_cast<size_t>(n), 0.0f);
    slots.push_back({p.data, p.grad, m[i].data(), v[i].data(), n, true});
  }
  runtime::train::optimizer_step(oc, oc.lr, step, slots);
}

TEST(Learning, CnnLearnsStripeOrientation) {
  ModelCase c{"cnn", "examples/cnn.snet", {{"width", "8"}, {"image_size", "16"}, {"classes", "4"}}, 32};
  auto g = load_case(c);
  planner::PlanRequest req;
  req.policy = planner::Policy::Sqrt;  // learning under recomputation
  auto plan = std::make_shared<const planner::Plan>(planner::plan_model(g, req));
  runtime::ExecutorOptions eo;
  eo.seed = 3;
  runtime::Executor ex(plan, runtime::cpu::cpu_kernels(), eo);
  ex.init_params();
  int acc_out = -1;
  for (size_t i = 0; i < g->output_names().size(); ++i)
    if (g->output_names()[i] == "acc") acc_out = static_cast<int>(i);
  ASSERT_GE(acc_out, 0);
  auto oc = adam(3e-3);
  std::vector<std::vector<float>> m(ex.params().size()), v(ex.params().size());
  SplitMix64 r{42};
  double first_loss = 0, acc_sum = 0, loss_sum = 0;
  const int kSteps = 150, kTail = 20;
  for (int step = 0; step < kSteps; ++step) {
    stripes_batch(ex.inputs()[0], ex.inputs()[1], r);
    ex.run_step(step);
    if (step == 0) first_loss = ex.loss();
    if (step >= kSteps - kTail) {
      acc_sum += *ex.output(static_cast<size_t>(acc_out)).f32();
      loss_sum += ex.loss();
    }
    adam_step(ex, m, v, oc, step);
  }
  const double acc = acc_sum / kTail, loss = loss_sum / kTail;
  EXPECT_GT(first_loss, 1.2);  // about ln 4 = 1.39 at the start
  EXPECT_LT(loss, 0.6) << "mean loss over the last " << kTail << " steps";
  EXPECT_GT(acc, 0.8) << "chance is 0.25";
}

TEST(Learning, CharLstmLearnsEnglish) {
  const std::string text = "/usr/share/common-licenses/GPL-3";
  if (!std::filesystem::exists(text)) GTEST_SKIP() << text << " is not on this machine";
  ModelCase c{"char_lstm", "examples/char_lstm.snet",
              {{"vocab", "128"}, {"embed", "16"}, {"layers", "1"}, {"hidden", "64"}, {"seq_len", "24"}}, 16};
  auto g = load_case(c);
  planner::PlanRequest req;
  req.policy = planner::Policy::Sqrt;
  auto plan = std::make_shared<const planner::Plan>(planner::plan_model(g, req));
  runtime::ExecutorOptions eo;
  eo.seed = 5;
  runtime::Executor ex(plan, runtime::cpu::cpu_kernels(), eo);
  ex.init_params();
  runtime::data::DataConfig dc;
  dc.kind = "text";
  dc.path = text;
  dc.level = "char";
  auto specs = runtime::data::input_specs(*g);
  auto source = runtime::data::open_data_source(dc, specs, 5);
  auto oc = adam(1e-2);
  std::vector<std::vector<float>> m(ex.params().size()), v(ex.params().size());
  double first_loss = 0, tail = 0;
  const int kSteps = 300, kTail = 30;
  for (int step = 0; step < kSteps; ++step) {
    source->next(ex.inputs());
    ex.run_step(step);
    if (step == 0) first_loss = ex.loss();
    if (step >= kSteps - kTail) tail += ex.loss();
    adam_step(ex, m, v, oc, step);
  }
  tail /= kTail;
  // Uniform guessing over the file's ~80 distinct characters costs ln 80 = 4.4 nats; English letter
  // frequencies alone (a unigram model) about 3.0. Below 2.6 the model uses context.
  EXPECT_GT(first_loss, 4.0);
  EXPECT_LT(tail, 2.6) << "mean loss over the last " << kTail << " steps";
}

// The GPT example (fused causal attention, layer norm, GELU, learned positions) on the same text under
// a memory budget between sqrt and keeping everything: it must learn beyond letter frequencies.
TEST(Learning, GptLearnsEnglishUnderABudget) {
  const std::string text = "/usr/share/common-licenses/GPL-3";
  if (!std::filesystem::exists(text)) GTEST_SKIP() << text << " is not on this machine";
  ModelCase c{"gpt", "examples/gpt.snet",
              {{"vocab", "128"}, {"n_layer", "2"}, {"n_head", "2"}, {"d_model", "32"}, {"seq_len", "32"}}, 16};
  auto g = load_case(c);
  planner::PlanRequest keep, sqrt_req;
  sqrt_req.policy = planner::Policy::Sqrt;
  const int64_t hi = planner::plan_model(g, keep).total_peak_bytes();
  const int64_t lo = planner::plan_model(g, sqrt_req).total_peak_bytes();
  planner::PlanRequest req;
  req.memory_budget = lo + (hi - lo) / 3;
  auto plan = std::make_shared<const planner::Plan>(planner::plan_model(g, req));
  EXPECT_GT(plan->recomputed_nodes, 0);
  EXPECT_LE(plan->total_peak_bytes(), *req.memory_budget);
  runtime::ExecutorOptions eo;
  eo.seed = 5;
  runtime::Executor ex(plan, runtime::cpu::cpu_kernels(), eo);
  ex.init_params();
  runtime::data::DataConfig dc;
  dc.kind = "text";
  dc.path = text;
  dc.level = "char";
  auto specs = runtime::data::input_specs(*g);
  auto source = runtime::data::open_data_source(dc, specs, 5);
  auto oc = adam(3e-3);
  std::vector<std::vector<float>> m(ex.params().size()), v(ex.params().size());
  double first_loss = 0, tail = 0;
  const int kSteps = 300, kTail = 30;
  for (int step = 0; step < kSteps; ++step) {
    source->next(ex.inputs());
    ex.run_step(step);
    if (step == 0) first_loss = ex.loss();
    if (step >= kSteps - kTail) tail += ex.loss();
    adam_step(ex, m, v, oc, step);
  }
  tail /= kTail;
  EXPECT_EQ(ex.arena_peak_bytes(), plan->feature_map_peak_bytes);
  EXPECT_GT(first_loss, 4.0);
  EXPECT_LT(tail, 2.6) << "mean loss over the last " << kTail << " steps";
}

}  // namespace
}  // namespace sublinear::testing
