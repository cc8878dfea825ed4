// Learning-rate schedules at known steps, and the optimizers against torch.optim semantics worked out by
// hand (in double precision; the f32 implementation agrees to a few ulps) over three steps.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <numbers>
#include <vector>

#include "train/lr_schedule.h"
#include "runtime/optimizer.h"

namespace sublinear::runtime::train {
namespace {

TEST(LrSchedule, ConstantWithWarmup) {
  ScheduleConfig s;
  s.warmup_steps = 4;
  EXPECT_DOUBLE_EQ(learning_rate(s, 0.1, 0, 100), 0.025);
  EXPECT_DOUBLE_EQ(learning_rate(s, 0.1, 1, 100), 0.05);
  EXPECT_DOUBLE_EQ(learning_rate(s, 0.1, 2, 100), 0.075);
  EXPECT_DOUBLE_EQ(learning_rate(s, 0.1, 3, 100), 0.1);
  EXPECT_DOUBLE_EQ(learning_rate(s, 0.1, 4, 100), 0.1);
  EXPECT_DOUBLE_EQ(learning_rate(s, 0.1, 99, 100), 0.1);
  s.warmup_steps = 0;
  EXPECT_DOUBLE_EQ(learning_rate(s, 0.1, 0, 100), 0.1);
}

TEST(LrSchedule, StepDecayCountsFromStepZero) {
  ScheduleConfig s;
  s.kind = ScheduleKind::Step;
  s.step_size = 10;
  s.gamma = 0.1;
  EXPECT_DOUBLE_EQ(learning_rate(s, 1.0, 0, 100), 1.0);
  EXPECT_DOUBLE_EQ(learning_rate(s, 1.0, 9, 100), 1.0);
  EXPECT_DOUBLE_EQ(learning_rate(s, 1.0, 10, 100), 0.1);
  EXPECT_DOUBLE_EQ(learning_rate(s, 1.0, 25, 100), std::pow(0.1, 2));
  s.warmup_steps = 5;  // warm-up scales the step-decay value; decay boundaries do not move
  EXPECT_DOUBLE_EQ(learning_rate(s, 1.0, 0, 100), 0.2);
  EXPECT_DOUBLE_EQ(learning_rate(s, 1.0, 4, 100), 1.0);
  EXPECT_DOUBLE_EQ(learning_rate(s, 1.0, 10, 100), 0.1);
}

TEST(LrSchedule, CosineToMinLr) {
  ScheduleConfig s;
  s.kind = ScheduleKind::Cosine;
  EXPECT_DOUBLE_EQ(learning_rate(s, 1.0, 0, 100), 1.0);
  EXPECT_NEAR(learning_rate(s, 1.0, 25, 100), 0.5 * (1 + std::cos(std::numbers::pi / 4)), 1e-15);
  EXPECT_NEAR(learning_rate(s, 1.0, 50, 100), 0.5, 1e-15);
  EXPECT_NEAR(learning_rate(s, 1.0, 100, 100), 0.0, 1e-15);
  s.min_lr = 0.1;
  EXPECT_NEAR(learning_rate(s, 1.0, 50, 100), 0.55, 1e-15);
  EXPECT_NEAR(learning_rate(s, 1.0, 100, 100), 0.1, 1e-15);
  EXPECT_NEAR(learning_rate(s, 1.0, 500, 100), 0.1, 1e-15);  // past the end: stays at min_lr
  s.min_lr = 0;
  s.warmup_steps = 10;  // the cosine spans the steps after warm-up
  EXPECT_DOUBLE_EQ(learning_rate(s, 1.0, 4, 110), 0.5);
  EXPECT_DOUBLE_EQ(learning_rate(s, 1.0, 10, 110), 1.0);
  EXPECT_NEAR(learning_rate(s, 1.0, 60, 110), 0.5, 1e-15);
  // A run shorter than its warm-up (--steps 2 on a long experiment) warms up and never decays.
  EXPECT_DOUBLE_EQ(learning_rate(s, 1.0, 0, 2), 0.1);
  EXPECT_DOUBLE_EQ(learning_rate(s, 1.0, 1, 2), 0.2);
}

const float kW0[2] = {1.0f, -2.0f};
const float kGrads[3][2] = {{0.5f, -1.0f}, {0.25f, 0.5f}, {-1.0f, 2.0f}};

// Runs three steps on the two-element parameter and returns the weights after each.
std::vector<std::vector<float>> run3(const OptimizerConfig& c, double lr, bool decay = true) {
  float w[2] = {kW0[0], kW0[1]};
  float s0[2] = {0, 0}, s1[2] = {0, 0};
  std::vector<std::vector<float>> out;
  for (int t = 0; t < 3; ++t) {
    ParamSlot p{w, kGrads[t], s0, s1, 2, decay};
    optimizer_step(c, lr, t, std::span<const ParamSlot>(&p, 1));
    out.push_back({w[0], w[1]});
  }
  return out;
}

void expect_weights(const std::vector<std::vector<float>>& got, const std::vector<std::vector<double>>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t t = 0; t < want.size(); ++t)
    for (size_t i = 0; i < 2; ++i) EXPECT_NEAR(got[t][i], want[t][i], 2e-6) << "step " << t << " element " << i;
}

TEST(Optimizer, StateSlots) {
  OptimizerConfig c;
  EXPECT_EQ(optimizer_state_slots(c), 1);
  EXPECT_EQ(planner_optimizer(c), planner::Optimizer::Momentum);
  c.momentum = 0;
  EXPECT_EQ(optimizer_state_slots(c), 0);
  EXPECT_EQ(planner_optimizer(c), planner::Optimizer::Sgd);
  c.kind = OptimizerKind::Adam;
  EXPECT_EQ(optimizer_state_slots(c), 2);
  EXPECT_EQ(planner_optimizer(c), planner::Optimizer::Adam);
}

TEST(Optimizer, PlainSgdWithWeightDecay) {
  OptimizerConfig c;
  c.momentum = 0;
  c.weight_decay = 0.1;
  // d = g + 0.1 w; w -= 0.1 d
  expect_weights(run3(c, 0.1), {{0.94, -1.88}, {0.9056, -1.9112}, {0.996544, -2.092088}});
  // decay = false: the slot ignores weight_decay.
  expect_weights(run3(c, 0.1, false), {{0.95, -1.9}, {0.925, -1.95}, {1.025, -2.15}});
  // Plain SGD has no state: null state pointers are fine.
  float w[2] = {1, 2};
  const float g[2] = {1, 1};
  ParamSlot p{w, g, nullptr, nullptr, 2, true};
  optimizer_step(c, 0.5, 0, std::span<const ParamSlot>(&p, 1));
  EXPECT_FLOAT_EQ(w[0], 1 - 0.5f * (1 + 0.1f * 1));
}

TEST(Optimizer, SgdMomentum) {
  OptimizerConfig c;  // momentum 0.9, dampening 0: v = 0.9 v + g (v = g at the first step)
  expect_weights(run3(c, 0.1), {{0.95, -1.9}, {0.88, -1.86}, {0.917, -2.024}});
}

TEST(Optimizer, SgdNesterovWithWeightDecay) {
  OptimizerConfig c;
  c.nesterov = true;
  c.weight_decay = 0.01;
  expect_weights(run3(c, 0.1), {{0.9031, -1.8062}, {0.81257411, -1.81514822}, {0.942869708191, -2.156378416382}});
}

TEST(Optimizer, AdamWithBiasCorrection) {
  OptimizerConfig c;
  c.kind = OptimizerKind::Adam;
  expect_weights(run3(c, 0.01), {{0.9900000002, -1.9900000001},
                                 {0.9806782040477462, -1.9873366297370902},
                                 {0.9827417742885411, -1.9919099476026023}});
  c.weight_decay = 0.1;  // classic L2 (torch.optim.Adam), not AdamW
  expect_weights(run3(c, 0.01), {{0.9900000001666667, -1.9900000000833333},
                                 {0.980465827519045, -1.985312258721214},
                                 {0.981037703897073, -1.9885297713312537}});
}

// The OpenMP split must not change a single bit: each element of a large tensor ends up exactly as the
// same element updated alone.
TEST(Optimizer, ParallelUpdateMatchesElementwise) {
  for (OptimizerKind kind : {OptimizerKind::Sgd, OptimizerKind::Adam}) {
    OptimizerConfig c;
    c.kind = kind;
    c.weight_decay = 1e-4;
    const int64_t n = 200003;
    std::vector<float> w(n), g(n), s0(n, 0), s1(n, 0);
    for (int64_t i = 0; i < n; ++i) {
      w[i] = std::sin(static_cast<float>(i));
      g[i] = std::cos(static_cast<float>(i) * 0.37f);
    }
    std::vector<float> w1 = w, a0 = s0, a1 = s1;
    for (int t = 0; t < 3; ++t) {
      ParamSlot big{w.data(), g.data(), s0.data(), s1.data(), n, true};
      optimizer_step(c, 0.05, t, std::span<const ParamSlot>(&big, 1));
    }
    for (int64_t i = 0; i < n; i += 9973) {
      float wi = w1[i], m = 0, v = 0;
      for (int t = 0; t < 3; ++t) {
        ParamSlot one{&wi, &g[i], &m, &v, 1, true};
        optimizer_step(c, 0.05, t, std::span<const ParamSlot>(&one, 1));
      }
      EXPECT_EQ(std::memcmp(&wi, &w[i], sizeof wi), 0) << optimizer_kind_name(kind) << " element " << i;
    }
  }
}

TEST(Optimizer, MissingStateIsAnError) {
  OptimizerConfig c;
  float w = 1;
  const float g = 1;
  ParamSlot p{&w, &g, nullptr, nullptr, 1, true};
  EXPECT_THROW(optimizer_step(c, 0.1, 0, std::span<const ParamSlot>(&p, 1)), std::invalid_argument);
}

// Three steps of AdamW, Adam with L2 decay and SGD with momentum, with and without
// clip_grad_norm_(max_norm=0.5), on two tensors with fixed gradients, against PyTorch 2.x (the
// numbers below are torch.optim's results printed to 9 significant digits; the script is in the
// comment). The clipping norm is a double sum here and a float one in torch: equal to f32 rounding.
//   w1 = [0.5, -1.25, 2.0]; w2 = [[0.1, 0.2], [-0.3, 0.4]]
//   g1(t) = [0.3 (t + 1), -0.7, 1.1 - 0.2 t]; g2(t) = [[2.0, -1.5 + t], [0.25 t, -3.0]]
//   AdamW(lr=0.01, weight_decay=0.1), Adam(lr=0.01, weight_decay=0.1), SGD(lr=0.05, momentum=0.9,
//   weight_decay=0.1); each step: p.grad = g(t); [clip_grad_norm_([w1, w2], 0.5)]; opt.step()
TEST(Optimizer, MatchesPyTorchAdamWAdamSgdAndClipping) {
  struct Case {
    OptimizerKind kind;
    double clip;
    std::vector<float> want;
  };
  const Case cases[] = {
      {OptimizerKind::AdamW, 0.0, {0.469299346f, -1.2162838f, 1.96445f, 0.0697302967f, 0.222574234f, -0.314820588f, 0.428771168f}},
      {OptimizerKind::Adam, 0.0, {0.470610946f, -1.22000122f, 1.97031379f, 0.0700004771f, 0.222984761f, -0.304388493f, 0.42999965f}},
      {OptimizerKind::Sgd, 0.0, {0.343819559f, -1.01957643f, 1.67585826f, -0.461395532f, 0.418615848f, -0.340308458f, 1.22673178f}},
      {OptimizerKind::AdamW, 0.5, {0.469404459f, -1.21625793f, 1.96435213f, 0.0697045177f, 0.222628519f, -0.314830154f, 0.428796977f}},
      {OptimizerKind::Adam, 0.5, {0.470169544f, -1.21999109f, 1.97008741f, 0.0699772835f, 0.221276924f, -0.286100924f, 0.430025905f}},
      {OptimizerKind::Sgd, 0.5, {0.468045533f, -1.19063318f, 1.91071796f, 0.0273381248f, 0.221785307f, -0.297878534f, 0.493631244f}},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(std::string(optimizer_kind_name(k.kind)) + " clip " + std::to_string(k.clip));
    OptimizerConfig c;
    c.kind = k.kind;
    c.weight_decay = 0.1;
    c.momentum = k.kind == OptimizerKind::Sgd ? 0.9 : 0.0;
    c.clip_grad_norm = k.clip;
    const double lr = k.kind == OptimizerKind::Sgd ? 0.05 : 0.01;
    std::vector<float> w1 = {0.5f, -1.25f, 2.0f}, w2 = {0.1f, 0.2f, -0.3f, 0.4f};
    std::vector<float> m1(3, 0.0f), v1(3, 0.0f), m2(4, 0.0f), v2(4, 0.0f);
    for (int t = 0; t < 3; ++t) {
      const float tf = static_cast<float>(t);
      const std::vector<float> g1 = {0.3f * (tf + 1), -0.7f, 1.1f - 0.2f * tf};
      const std::vector<float> g2 = {2.0f, -1.5f + tf, 0.25f * tf, -3.0f};
      const ParamSlot slots[2] = {{w1.data(), g1.data(), m1.data(), v1.data(), 3, true},
                                  {w2.data(), g2.data(), m2.data(), v2.data(), 4, true}};
      optimizer_step(c, lr, t, slots);
    }
    std::vector<float> got = w1;
    got.insert(got.end(), w2.begin(), w2.end());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], k.want[i], 2e-6 * std::max(1.0f, std::abs(k.want[i]))) << i;
  }
}

TEST(Optimizer, ClipCoefficientIsOneBelowTheLimit) {
  OptimizerConfig c;
  const std::vector<float> g = {3.0f, 4.0f};
  std::vector<float> w(2, 0.0f);
  const ParamSlot p{w.data(), g.data(), nullptr, nullptr, 2, true};
  double norm = 0;
  EXPECT_EQ(clip_coefficient(c, std::span<const ParamSlot>(&p, 1), &norm), 1.0f);  // off
  c.clip_grad_norm = 10;
  EXPECT_EQ(clip_coefficient(c, std::span<const ParamSlot>(&p, 1), &norm), 1.0f);
  EXPECT_DOUBLE_EQ(norm, 5.0);
  c.clip_grad_norm = 1;
  EXPECT_NEAR(clip_coefficient(c, std::span<const ParamSlot>(&p, 1), &norm), 0.2f, 1e-7);
}

}  // namespace
}  // namespace sublinear::runtime::train
