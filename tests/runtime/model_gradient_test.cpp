// Whole-model gradients against finite differences of the loss: the executor's wiring of backward steps
// (which saved values a step reads, which output gradient is which, write versus accumulate for shared
// weights and reused values) is checked end to end, beyond the per-op kernel checks.
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/cpu/cpu_kernels.h"
#include "tests/runtime/runtime_test_util.h"

namespace sublinear::testing {
namespace {

void check_model_gradients(const ModelCase& c, planner::Policy policy, double rtol, double atol) {
  SCOPED_TRACE(c.name);
  auto g = load_case(c);
  planner::PlanRequest req;
  req.policy = policy;
  auto plan = std::make_shared<const planner::Plan>(planner::plan_model(g, req));
  runtime::ExecutorOptions eo;
  eo.seed = 9;
  runtime::Executor ex(plan, runtime::cpu::cpu_kernels(), eo);
  ex.init_params();
  auto specs = runtime::data::input_specs(*g);
  fill_inputs(specs, ex.inputs(), 0);
  ex.run_step(0);
  std::vector<std::vector<float>> grads;
  for (const auto& p : ex.params())
    grads.emplace_back(p.grad ? std::vector<float>(p.grad, p.grad + ir::num_elements(p.type.shape))
                              : std::vector<float>{});
  SplitMix64 r{77};
  int checked = 0, skipped = 0;
  for (size_t i = 0; i < ex.params().size(); ++i) {
    auto& p = ex.params()[i];
    if (!p.trainable || !p.has_grad) continue;
    const int64_t n = ir::num_elements(p.type.shape);
    for (int probe = 0; probe < 3; ++probe) {
      const int64_t j = r.uniform(0, n - 1);
      const float w0 = p.data[j];
      auto loss_at = [&](double w) {
        p.data[j] = static_cast<float>(w);
        ex.run_step(0);
        return static_cast<double>(ex.loss());
      };
      const double h = 1e-3 * std::max(1.0, std::abs(static_cast<double>(w0)));
      const double lp = loss_at(w0 + h), l0 = loss_at(w0), lm = loss_at(w0 - h);
      p.data[j] = w0;
      const double forward = (lp - l0) / h, backward = (l0 - lm) / h, fd = (lp - lm) / (2 * h);
      const double an = grads[i][j];
      // A ReLU or max-pool kink within h of this point makes the one-sided slopes disagree: the loss is
      // not differentiable there at this resolution, so the probe says nothing and is skipped.
      if (std::abs(forward - backward) > atol + rtol * std::max(std::abs(forward), std::abs(backward))) {
        ++skipped;
        continue;
      }
      EXPECT_LE(std::abs(fd - an), atol + rtol * std::max(std::abs(fd), std::abs(an)))
          << p.name << "[" << j << "]: finite difference " << fd << ", analytic " << an;
      ++checked;
    }
  }
  EXPECT_GT(checked, 3 * skipped) << skipped << " of " << checked + skipped << " probes hit a kink";
}

TEST(ModelGradients, MlpWithoutDropout) {
  check_model_gradients({"mlp", "examples/mlp.snet",
                         {{"features", "6"}, {"hidden", "8"}, {"classes", "3"}, {"dropout_rate", "0.0"}}, 4},
                        planner::Policy::None, 3e-2, 1e-3);
}

TEST(ModelGradients, LstmSharedWeightsOverTime) {
  check_model_gradients({"lstm", "examples/lstm.snet",
                         {{"layers", "2"}, {"hidden", "5"}, {"seq_len", "4"}, {"classes", "3"}, {"input_dim", "3"}},
                         2},
                        planner::Policy::Sqrt, 3e-2, 1e-3);
}

TEST(ModelGradients, CharLstmEmbedding) {
  check_model_gradients({"char_lstm", "examples/char_lstm.snet",
                         {{"vocab", "7"}, {"embed", "3"}, {"layers", "1"}, {"hidden", "5"}, {"seq_len", "4"}}, 2},
                        planner::Policy::None, 3e-2, 1e-3);
}

TEST(ModelGradients, GptWithFusedAttentionAndLayerNorm) {
  for (const char* fused : {"true", "false"})
    check_model_gradients({std::string("gpt fused=") + fused, "examples/gpt.snet",
                           {{"vocab", "7"}, {"n_layer", "2"}, {"n_head", "2"}, {"d_model", "8"}, {"seq_len", "5"},
                            {"fused", fused}},
                           2},
                          planner::Policy::Sqrt, 3e-2, 1e-3);
}

TEST(ModelGradients, UnetWithSkipsAndUpsampling) {
  for (const char* up : {"transposed", "nearest", "bilinear"})
    check_model_gradients({std::string("unet ") + up, "examples/unet.snet",
                           {{"levels", "2"},
                            {"width", "3"},
                            {"classes", "3"},
                            {"image_size", "4"},
                            {"transposed", std::string(up) == "transposed" ? "true" : "false"},
                            {"bilinear", std::string(up) == "bilinear" ? "true" : "false"}},
                           4},
                          planner::Policy::Sqrt, 5e-2, 2e-3);
}

// take as an embedding (a scatter-add gradient), where and maximum with numbers, a stepped slice.
TEST(ModelGradients, TakeWhereAndSteppedSlices) {
  check_model_gradients({"ops_mix", "tests/runtime/models/ops_mix.snet", {{"vocab", "7"}, {"d", "6"}, {"seq_len", "6"}}, 2},
                        planner::Policy::Sqrt, 3e-2, 1e-3);
}

TEST(ModelGradients, ResidualCnnWithBatchNorm) {
  check_model_gradients({"resnet_cifar", "examples/resnet_cifar.snet",
                         {{"depth", "11"}, {"image_size", "4"}, {"classes", "3"}}, 4},
                        planner::Policy::Sqrt, 5e-2, 2e-3);
}

}  // namespace
}  // namespace sublinear::testing
