#pragma once
// Shared pieces of the runtime tests: small versions of the example models, planned under every
// strategy, and deterministic input batches.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "frontend/frontend.h"
#include "ir/diagnostic.h"
#include "planner/policies.h"
#include "train/data/dataset.h"
#include "runtime/executor.h"
#include "tests/support/source_dir.h"
#include "tests/support/split_mix64.h"

namespace sublinear::testing {

struct ModelCase {
  std::string name;
  std::string file;  // relative to the source tree
  std::vector<std::pair<std::string, std::string>> sets;
  int64_t batch = 2;
};

inline std::vector<ModelCase> small_example_models() {
  return {
      {"mlp", "examples/mlp.snet", {{"features", "12"}, {"hidden", "16"}, {"classes", "5"}}, 4},
      {"cnn", "examples/cnn.snet", {{"width", "4"}, {"image_size", "8"}, {"classes", "5"}}, 2},
      {"resnet_cifar", "examples/resnet_cifar.snet", {{"depth", "11"}, {"image_size", "8"}, {"classes", "5"}}, 2},
      {"resnet", "examples/resnet.snet", {{"depth", "20"}, {"image_size", "32"}, {"classes", "5"}}, 2},
      {"lstm", "examples/lstm.snet",
       {{"layers", "2"}, {"hidden", "8"}, {"seq_len", "6"}, {"classes", "7"}, {"input_dim", "3"}}, 2},
      {"annotated", "examples/annotated.snet", {{"width", "4"}, {"units", "2"}, {"classes", "5"}}, 2},
      {"densenet", "examples/densenet.snet", {{"depth", "16"}, {"growth", "4"}, {"image_size", "8"}, {"classes", "5"}}, 2},
      {"gpt", "examples/gpt.snet",
       {{"vocab", "11"}, {"n_layer", "2"}, {"n_head", "2"}, {"d_model", "8"}, {"seq_len", "6"}}, 2},
      {"unet", "examples/unet.snet", {{"levels", "2"}, {"width", "4"}, {"classes", "3"}, {"image_size", "8"}}, 2},
      {"unet_bilinear", "examples/unet.snet",
       {{"levels", "2"}, {"width", "4"}, {"classes", "3"}, {"image_size", "8"}, {"transposed", "false"},
        {"bilinear", "true"}},
       2},
      {"gpt_unfused", "examples/gpt.snet",
       {{"vocab", "11"}, {"n_layer", "2"}, {"n_head", "2"}, {"d_model", "8"}, {"seq_len", "6"}, {"fused", "false"}},
       2},
      {"ops_mix", "tests/runtime/models/ops_mix.snet", {{"vocab", "11"}, {"d", "8"}, {"seq_len", "8"}}, 2},
  };
}

inline std::shared_ptr<const ir::Graph> load_case(const ModelCase& c) {
  SourceManager sources;
  frontend::LoadOptions o;
  o.batch = c.batch;
  o.sets = c.sets;
  return std::make_shared<const ir::Graph>(
      frontend::load_model(source_dir() + "/" + c.file, o, sources));
}

// Inputs for a step: normal features, labels/tokens uniform in their range; a function of the step.
inline void fill_inputs(const std::vector<runtime::data::InputSpec>& specs, std::vector<runtime::Tensor>& in,
                        int64_t step) {
  SplitMix64 r{static_cast<uint64_t>(1000 + step)};
  for (size_t i = 0; i < specs.size(); ++i) {
    const int64_t n = in[i].numel();
    if (specs[i].type.dtype == ir::DType::I32) {
      for (int64_t j = 0; j < n; ++j) in[i].i32()[j] = static_cast<int32_t>(r.uniform(0, specs[i].int_range - 1));
    } else {
      for (int64_t j = 0; j < n; ++j) in[i].f32()[j] = static_cast<float>(2.0 * r.unit() - 1.0);
    }
  }
}

struct Strategy {
  std::string label;
  planner::PlanRequest request;
};

inline std::vector<Strategy> all_strategies() {
  std::vector<Strategy> s;
  auto add = [&s](std::string label, planner::Policy p, bool inplace, bool sharing) {
    planner::PlanRequest r;
    r.policy = p;
    r.options.inplace = inplace;
    r.options.sharing = sharing;
    s.push_back({std::move(label), r});
  };
  add("none", planner::Policy::None, false, false);
  add("inplace", planner::Policy::None, true, false);
  add("inplace+sharing", planner::Policy::None, true, true);
  add("drop-cheap", planner::Policy::DropCheap, true, true);
  add("sqrt", planner::Policy::Sqrt, true, true);
  add("log", planner::Policy::Log, true, true);
  return s;
}

}  // namespace sublinear::testing
