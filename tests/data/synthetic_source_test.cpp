// The synthetic source: deterministic in (seed, step), restorable, with the documented
// distributions, and learnable: labels can be predicted from the features (or the tokens).
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "data_test_util.h"
#include "train/workers/sharded_source.h"

namespace sublinear {
namespace {

using testing::Batch;
using testing::load_example;
using testing::load_graph;

data::DataConfig synthetic() {
  data::DataConfig cfg;
  cfg.kind = "synthetic";
  return cfg;
}

std::vector<std::string> run(data::DataSource& src, const std::vector<data::InputSpec>& specs, int steps) {
  std::vector<std::string> out;
  for (int s = 0; s < steps; ++s) {
    Batch b(specs);
    src.next(b.tensors);
    out.push_back(b.all_bytes());
  }
  return out;
}

TEST(SyntheticSource, DeterministicFromSeedAndStep) {
  auto specs = data::input_specs(load_example("mlp.snet", 16));
  auto a = data::open_data_source(synthetic(), specs, 7);
  auto b = data::open_data_source(synthetic(), specs, 7);
  auto c = data::open_data_source(synthetic(), specs, 8);
  auto ra = run(*a, specs, 3), rb = run(*b, specs, 3), rc = run(*c, specs, 3);
  EXPECT_EQ(ra, rb);
  EXPECT_NE(ra[0], rc[0]);
  EXPECT_NE(ra[0], ra[1]);
  EXPECT_EQ(a->epoch_size(), 0);
  EXPECT_NE(a->describe().find("synthetic"), std::string::npos);
}

TEST(SyntheticSource, RestoreContinuesExactly) {
  auto specs = data::input_specs(load_example("cnn.snet", 4, {{"width", "4"}}));
  auto a = data::open_data_source(synthetic(), specs, 1);
  run(*a, specs, 3);
  std::string state = a->save_state();
  auto after = run(*a, specs, 2);
  auto b = data::open_data_source(synthetic(), specs, 1);
  b->restore_state(state);
  EXPECT_EQ(run(*b, specs, 2), after);
  EXPECT_THROW(b->restore_state("text step=3"), std::runtime_error);
  EXPECT_THROW(b->restore_state("synthetic"), std::runtime_error);
}

TEST(SyntheticSource, DistributionsAndRanges) {
  auto specs = data::input_specs(load_example("mlp.snet", 256, {{"features", "64"}, {"classes", "10"}}));
  auto src = data::open_data_source(synthetic(), specs, 3);
  Batch b(specs);
  src->next(b.tensors);
  double sum = 0, sq = 0;
  int64_t n = b.tensors[0].numel();
  for (int64_t i = 0; i < n; ++i) {
    sum += b.f32(0)[i];
    sq += b.f32(0)[i] * b.f32(0)[i];
  }
  double mean = sum / n, var = sq / n - mean * mean;
  EXPECT_NEAR(mean, 0.0, 0.1);
  EXPECT_NEAR(var, 1.0, 0.15);
  std::map<int, int> counts;
  for (int i = 0; i < 256; ++i) {
    ASSERT_GE(b.i32(1)[i], 0);
    ASSERT_LT(b.i32(1)[i], 10);
    counts[b.i32(1)[i]]++;
  }
  EXPECT_EQ(counts.size(), 10u);
}

// Nearest class mean, fitted on `fit` batches and scored on later ones: features[g] is the
// per-label slice (`slice` floats) and `key(j)` maps a slice element to a coarser coordinate.
double nearest_mean_accuracy(data::DataSource& src, const std::vector<data::InputSpec>& specs, int64_t classes,
                             int64_t slice, const std::function<int64_t(int64_t)>& key, int64_t keys) {
  std::vector<double> sums(static_cast<size_t>(classes * keys), 0.0), counts(static_cast<size_t>(classes * keys), 0.0);
  auto summarise = [&](const Batch& b, int64_t g) {
    std::vector<double> v(static_cast<size_t>(keys), 0.0), c(static_cast<size_t>(keys), 0.0);
    for (int64_t j = 0; j < slice; ++j) {
      v[key(j)] += b.f32(0)[g * slice + j];
      c[key(j)] += 1;
    }
    for (int64_t k = 0; k < keys; ++k) v[k] /= c[k];
    return v;
  };
  for (int step = 0; step < 4; ++step) {
    Batch b(specs);
    src.next(b.tensors);
    int64_t groups = b.tensors[1].numel();
    for (int64_t g = 0; g < groups; ++g) {
      auto v = summarise(b, g);
      int64_t cls = b.i32(1)[g];
      for (int64_t k = 0; k < keys; ++k) {
        sums[cls * keys + k] += v[k];
        counts[cls * keys + k] += 1;
      }
    }
  }
  Batch b(specs);
  src.next(b.tensors);
  int64_t groups = b.tensors[1].numel(), right = 0;
  for (int64_t g = 0; g < groups; ++g) {
    auto v = summarise(b, g);
    int64_t best = -1;
    double best_d = 1e300;
    for (int64_t c = 0; c < classes; ++c) {
      double d = 0;
      for (int64_t k = 0; k < keys; ++k) {
        double m = counts[c * keys + k] > 0 ? sums[c * keys + k] / counts[c * keys + k] : 0.0;
        d += (v[k] - m) * (v[k] - m);
      }
      if (d < best_d) {
        best_d = d;
        best = c;
      }
    }
    right += best == b.i32(1)[g];
  }
  return static_cast<double>(right) / static_cast<double>(groups);
}

TEST(SyntheticSource, LabelsArePredictableFromVectorFeatures) {
  auto specs = data::input_specs(load_example("mlp.snet", 128, {{"features", "32"}, {"classes", "10"}}));
  auto src = data::open_data_source(synthetic(), specs, 11);
  double acc = nearest_mean_accuracy(*src, specs, 10, 32, [](int64_t j) { return j; }, 32);
  EXPECT_GT(acc, 0.9);
}

TEST(SyntheticSource, LabelsArePredictableFromImageColoursAndLayout) {
  auto specs = data::input_specs(load_example("cnn.snet", 64, {{"width", "4"}, {"classes", "10"}}));
  auto src = data::open_data_source(synthetic(), specs, 5);
  // Per channel and 4x4 block means, what a convolutional net with pooling can pick up.
  auto key = [](int64_t j) {
    int64_t c = j / 1024, y = (j / 32) % 32, x = j % 32;
    return (c * 4 + y / 8) * 4 + x / 8;
  };
  double acc = nearest_mean_accuracy(*src, specs, 10, 3 * 32 * 32, key, 48);
  EXPECT_GT(acc, 0.9);
}

TEST(SyntheticSource, SequenceLabelsFollowTheirStep) {
  auto specs = data::input_specs(load_example(
      "lstm.snet", 32, {{"layers", "1"}, {"hidden", "8"}, {"input_dim", "32"}, {"classes", "5"}, {"seq_len", "4"}}));
  auto src = data::open_data_source(synthetic(), specs, 9);
  double acc = nearest_mean_accuracy(*src, specs, 5, 32, [](int64_t j) { return j; }, 32);
  EXPECT_GT(acc, 0.9);
}

TEST(SyntheticSource, LanguageModelLabelsAreAFunctionOfTokens) {
  auto g = load_graph(R"(snet 1;
model lm(tokens: i32[N, 16], labels: i32[N, 16]) -> (loss) {
  loss = softmax_cross_entropy(linear(embedding(tokens, vocab=30, dim=8), units=7), labels);
}
)",
                      8);
  auto specs = data::input_specs(g);
  auto src = data::open_data_source(synthetic(), specs, 2);
  std::map<int, int> label_of;
  std::map<int, int> label_counts;
  for (int step = 0; step < 5; ++step) {
    Batch b(specs);
    src->next(b.tensors);
    for (int64_t i = 0; i < b.tensors[0].numel(); ++i) {
      int tok = b.i32(0)[i], lab = b.i32(1)[i];
      ASSERT_GE(tok, 0);
      ASSERT_LT(tok, 30);
      ASSERT_GE(lab, 0);
      ASSERT_LT(lab, 7);
      auto [it, fresh] = label_of.emplace(tok, lab);
      EXPECT_EQ(it->second, lab) << "token " << tok;
      label_counts[lab]++;
    }
  }
  EXPECT_EQ(label_of.size(), 30u);
  EXPECT_GE(label_counts.size(), 5u);
}

// A data-parallel worker computes only its rows, and they are bitwise the rows of the global batch one
// process draws (what slicing it gives), step after step and after a restore; for features, labels and
// tokens, sequences and images, a time-major input, and an input every worker gets whole.
void expect_shards_are_slices(std::vector<data::InputSpec> global, std::vector<data::InputSpec> local, int workers) {
  const std::vector<int> axes = runtime::train::batch_axes(global, local, workers);
  for (int rank = 0; rank < workers; ++rank) {
    auto sliced = runtime::train::shard_source(data::open_data_source(synthetic(), global, 9), global, axes, rank, workers);
    auto own = data::open_data_shard(synthetic(), local, 9, data::DataShard{rank, workers, axes});
    EXPECT_NE(own->describe().find("makes only its rows"), std::string::npos);
    EXPECT_EQ(run(*own, local, 3), run(*sliced, local, 3)) << "worker " << rank << " of " << workers;
    const std::string state = own->save_state();
    EXPECT_EQ(state, sliced->save_state());
    auto again = data::open_data_shard(synthetic(), local, 9, data::DataShard{rank, workers, axes});
    again->restore_state(state);
    EXPECT_EQ(run(*again, local, 2), run(*sliced, local, 2)) << "worker " << rank << " after a restore";
  }
}

TEST(SyntheticSource, AWorkersShareIsTheSliceOfTheGlobalBatch) {
  for (int k : {2, 4}) {
    expect_shards_are_slices(data::input_specs(load_example("mlp.snet", 8)),
                             data::input_specs(load_example("mlp.snet", 8 / k)), k);
    expect_shards_are_slices(data::input_specs(load_example("cnn.snet", 8, {{"width", "4"}})),
                             data::input_specs(load_example("cnn.snet", 8 / k, {{"width", "4"}})), k);
    expect_shards_are_slices(data::input_specs(load_example("lstm.snet", 8, {{"seq_len", "5"}, {"hidden", "8"}})),
                             data::input_specs(load_example("lstm.snet", 8 / k, {{"seq_len", "5"}, {"hidden", "8"}})), k);
    expect_shards_are_slices(data::input_specs(load_example("char_lstm.snet", 8)),
                             data::input_specs(load_example("char_lstm.snet", 8 / k)), k);
  }
  // Time-major features [T, N, D], labels [N], and a table every worker gets whole.
  auto specs = [](int64_t n) {
    std::vector<data::InputSpec> s(3);
    s[0] = {"x", ir::TensorType{ir::DType::F32, {5, n, 3}}, data::InputRole::Features, 0};
    s[1] = {"y", ir::TensorType{ir::DType::I32, {n}}, data::InputRole::Labels, 4};
    s[2] = {"table", ir::TensorType{ir::DType::F32, {7}}, data::InputRole::Features, 0};
    return s;
  };
  expect_shards_are_slices(specs(6), specs(2), 3);
}

// Time-major features [T, N, D] with labels [N]: at the global batch (N = 10) the labels are no prefix of
// the features, so the features are noise; at a worker's (N = 5 = T) they would be, and the worker's rows
// would follow labels the global batch never ties them to. Such a shard is refused (the trainer then
// draws the global batch and slices it), as is one whose tied inputs split along different axes.
TEST(SyntheticSource, AShardWhoseTiesDifferFromTheGlobalBatchIsRefused) {
  auto specs = [](int64_t n) {
    std::vector<data::InputSpec> s(2);
    s[0] = {"x", ir::TensorType{ir::DType::F32, {5, n, 3}}, data::InputRole::Features, 0};
    s[1] = {"y", ir::TensorType{ir::DType::I32, {n}}, data::InputRole::Labels, 4};
    return s;
  };
  const auto global = specs(10), local = specs(5);
  const std::vector<int> axes = runtime::train::batch_axes(global, local, 2);
  EXPECT_FALSE(data::can_open_data_shard(synthetic(), global, local, axes));
  // The same inputs at N = 6 and 3 are tied at neither batch: the shard is the slice.
  const auto g6 = specs(6), l3 = specs(3);
  EXPECT_TRUE(data::can_open_data_shard(synthetic(), g6, l3, runtime::train::batch_axes(g6, l3, 2)));
  expect_shards_are_slices(g6, l3, 2);
  // Labels [N, T] and features [N, T, D] split along the first axis, as every example's: a slice.
  auto seq = [](int64_t n) {
    std::vector<data::InputSpec> s(2);
    s[0] = {"x", ir::TensorType{ir::DType::F32, {n, 4, 3}}, data::InputRole::Features, 0};
    s[1] = {"y", ir::TensorType{ir::DType::I32, {n, 4}}, data::InputRole::Labels, 4};
    return s;
  };
  EXPECT_TRUE(data::can_open_data_shard(synthetic(), seq(8), seq(4), runtime::train::batch_axes(seq(8), seq(4), 2)));
}

TEST(SyntheticSource, NonF32FeaturesAreAConfigError) {
  data::InputSpec x;
  x.name = "x";
  x.type = {ir::DType::BF16, {2, 4}};
  data::DataConfig cfg = synthetic();
  cfg.locs.file = "exp.yaml";
  cfg.locs.keys["data.kind"] = runtime::ConfigLoc{"exp.yaml", 4, 9, "data.kind"};
  try {
    data::open_data_source(cfg, {x}, 1);
    FAIL() << "expected a ConfigError";
  } catch (const runtime::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("exp.yaml:4:9: error: data.kind:"), std::string::npos) << e.what();
  }
}

TEST(OpenDataSource, UnknownKindListsTheKinds) {
  auto specs = data::input_specs(load_example("mlp.snet", 2));
  data::DataConfig cfg;
  cfg.kind = "cifar";
  cfg.locs.keys["data.kind"] = runtime::ConfigLoc{"exp.yaml", 2, 9, "data.kind"};
  try {
    data::open_data_source(cfg, specs, 1);
    FAIL() << "expected a ConfigError";
  } catch (const runtime::ConfigError& e) {
    std::string w = e.what();
    EXPECT_NE(w.find("exp.yaml:2:9: error: data.kind: unknown data kind 'cifar'"), std::string::npos) << w;
    for (const char* k : {"synthetic", "imagenet", "text"}) EXPECT_NE(w.find(k), std::string::npos) << w;
  }
}

}  // namespace
}  // namespace sublinear
