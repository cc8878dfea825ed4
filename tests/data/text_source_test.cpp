// The text source on a real file (the GPL text every Debian machine ships): char and byte levels,
// labels = the next tokens, windows that are really in the file, one-hot features, restore, and the
// user errors for a missing file and a vocabulary the model has no room for.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <set>

#include "data_test_util.h"
#include "train/workers/sharded_source.h"

namespace sublinear {
namespace {

using testing::Batch;
using testing::load_graph;

const char* kText = "/usr/share/common-licenses/GPL-3";

std::string file_text() {
  auto bytes = testing::slurp(kText);
  return std::string(bytes.begin(), bytes.end());
}

std::vector<data::InputSpec> lm_specs(int vocab, int classes, int steps = 32, int batch = 4) {
  std::string text = fmt::format(R"(snet 1;
model lm(tokens: i32[N, {0}], labels: i32[N, {0}]) -> (loss) {{
  e = embedding(tokens, vocab={1}, dim=8);
  loss = softmax_cross_entropy(linear(e, units={2}), labels);
}}
)",
                                 steps, vocab, classes);
  return data::input_specs(load_graph(text, batch));
}

data::DataConfig text_config(const std::string& level, bool shuffle = true) {
  data::DataConfig cfg;
  cfg.kind = "text";
  cfg.path = kText;
  cfg.level = level;
  cfg.shuffle = shuffle;
  cfg.locs.file = "exp.yaml";
  cfg.locs.keys["data.level"] = runtime::ConfigLoc{"exp.yaml", 7, 10, "data.level"};
  cfg.locs.keys["data.path"] = runtime::ConfigLoc{"exp.yaml", 6, 9, "data.path"};
  return cfg;
}

// The sorted distinct bytes of the file: the char-level vocabulary.
std::vector<unsigned char> symbols(const std::string& text) {
  std::set<unsigned char> s(text.begin(), text.end());
  return std::vector<unsigned char>(s.begin(), s.end());
}

TEST(TextSource, CharLevelWindowsComeFromTheFileWithShiftedLabels) {
  std::string text = file_text();
  auto sym = symbols(text);
  auto sp = lm_specs(128, 128);
  auto src = data::open_data_source(text_config("char"), sp, 3);
  EXPECT_NE(src->describe().find(fmt::format("{} tokens", sym.size())), std::string::npos) << src->describe();
  for (int step = 0; step < 3; ++step) {
    Batch b(sp);
    src->next(b.tensors);
    for (int r = 0; r < 4; ++r) {
      std::string window;
      for (int t = 0; t < 32; ++t) {
        int tok = b.i32(0)[r * 32 + t];
        ASSERT_GE(tok, 0);
        ASSERT_LT(tok, static_cast<int>(sym.size()));
        window += static_cast<char>(sym[tok]);
        if (t + 1 < 32) {
          EXPECT_EQ(b.i32(1)[r * 32 + t], b.i32(0)[r * 32 + t + 1]);
        }
      }
      window += static_cast<char>(sym[b.i32(1)[r * 32 + 31]]);
      EXPECT_NE(text.find(window), std::string::npos) << window;
    }
  }
}

TEST(TextSource, ByteLevelTokensAreTheBytes) {
  std::string text = file_text();
  auto sp = lm_specs(256, 256, 16, 2);
  auto src = data::open_data_source(text_config("byte", false), sp, 3);
  Batch b(sp);
  src->next(b.tensors);
  // Sequential: row r of step 0 is window r, at r * 16.
  for (int r = 0; r < 2; ++r)
    for (int t = 0; t < 16; ++t) {
      EXPECT_EQ(b.i32(0)[r * 16 + t], static_cast<unsigned char>(text[r * 16 + t]));
      EXPECT_EQ(b.i32(1)[r * 16 + t], static_cast<unsigned char>(text[r * 16 + t + 1]));
    }
  EXPECT_EQ(src->epoch_size(), static_cast<int64_t>((text.size() - 1) / 16));
}

TEST(TextSource, OneHotFeaturesWithoutAnEmbedding) {
  std::string text = file_text();
  auto sym = symbols(text);
  auto sp = data::input_specs(load_graph(R"(snet 1;
model m(x: f32[N, 8, 100], labels: i32[N, 8]) -> (loss) {
  loss = softmax_cross_entropy(linear(x, units=100), labels);
}
)",
                                         3));
  auto src = data::open_data_source(text_config("char"), sp, 4);
  Batch b(sp);
  src->next(b.tensors);
  for (int r = 0; r < 3; ++r)
    for (int t = 0; t < 8; ++t) {
      const float* v = b.f32(0) + (r * 8 + t) * 100;
      int hot = -1;
      float sum = 0;
      for (int k = 0; k < 100; ++k) {
        sum += v[k];
        if (v[k] == 1.0f) hot = k;
      }
      EXPECT_EQ(sum, 1.0f);
      ASSERT_GE(hot, 0);
      if (t > 0) {
        EXPECT_EQ(b.i32(1)[r * 8 + t - 1], hot);
      }
    }
}

TEST(TextSource, TokensAloneGetWindowsOfTheirLength) {
  std::string text = file_text();
  auto sp = data::input_specs(load_graph(R"(snet 1;
model lm(seq: i32[N, 9]) -> (loss) {
  e = embedding(seq[:, 0:8], vocab=256, dim=4);
  loss = softmax_cross_entropy(linear(e, units=256), seq[:, 1:9]);
}
)",
                                         2));
  ASSERT_EQ(sp.size(), 1u);
  auto src = data::open_data_source(text_config("byte", false), sp, 4);
  Batch b(sp);
  src->next(b.tensors);
  src->next(b.tensors);  // step 1: windows 2 and 3, at strides of 9
  for (int r = 0; r < 2; ++r)
    for (int t = 0; t < 9; ++t) EXPECT_EQ(b.i32(0)[r * 9 + t], static_cast<unsigned char>(text[(2 + r) * 9 + t]));
}

TEST(TextSource, RestoreContinuesExactly) {
  auto sp = lm_specs(128, 128);
  auto a = data::open_data_source(text_config("char"), sp, 8);
  Batch b(sp);
  a->next(b.tensors);
  a->next(b.tensors);
  std::string state = a->save_state();
  std::vector<std::string> want;
  for (int i = 0; i < 3; ++i) {
    a->next(b.tensors);
    want.push_back(b.all_bytes());
  }
  auto c = data::open_data_source(text_config("char"), sp, 8);
  c->restore_state(state);
  for (int i = 0; i < 3; ++i) {
    c->next(b.tensors);
    EXPECT_EQ(b.all_bytes(), want[i]);
  }
}

// A data-parallel worker cuts only its windows, bitwise the rows of the global batch (what slicing it
// gives), shuffled or in order, over steps that wrap around the file's windows.
TEST(TextSource, AWorkersShareIsTheSliceOfTheGlobalBatch) {
  for (bool shuffle : {true, false}) {
    for (int k : {2, 4}) {
      const auto global = lm_specs(128, 128, 512, 8), local = lm_specs(128, 128, 512, 8 / k);
      const std::vector<int> axes = runtime::train::batch_axes(global, local, k);
      for (int rank = 0; rank < k; ++rank) {
        auto sliced = runtime::train::shard_source(data::open_data_source(text_config("char", shuffle), global, 3),
                                                   global, axes, rank, k);
        auto own = data::open_data_shard(text_config("char", shuffle), local, 3, data::DataShard{rank, k, axes});
        Batch a(local), b(local);
        for (int step = 0; step < 12; ++step) {  // 96 windows of 512: past the file's end (about 35 KB)
          own->next(a.tensors);
          sliced->next(b.tensors);
          ASSERT_EQ(a.all_bytes(), b.all_bytes()) << "worker " << rank << " of " << k << ", step " << step
                                                  << (shuffle ? ", shuffled" : ", in order");
        }
        EXPECT_EQ(own->save_state(), sliced->save_state());
      }
    }
  }
}

void expect_config_error(const data::DataConfig& cfg, const std::vector<data::InputSpec>& sp,
                         const std::vector<std::string>& parts) {
  try {
    data::open_data_source(cfg, sp, 1);
    ADD_FAILURE() << "expected a ConfigError";
  } catch (const runtime::ConfigError& e) {
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

TEST(TextSource, VocabularyTooSmallForTheModel) {
  auto distinct = std::to_string(symbols(file_text()).size());
  expect_config_error(text_config("byte"), lm_specs(128, 256),
                      {"exp.yaml:7:10: error: data.level:", "256", "embedding vocab is 128", fmt::format("level char needs only {}", distinct)});
  expect_config_error(text_config("char"), lm_specs(256, 16),
                      {"data.level", fmt::format("{} tokens", distinct), "number of classes is 16"});
  auto bad_level = text_config("word");
  expect_config_error(bad_level, lm_specs(256, 256), {"data.level", "unknown level 'word'"});
}

TEST(TextSource, MissingFileOrModelWithoutTextInputs) {
  auto cfg = text_config("char");
  cfg.path = "/no/such/file.txt";
  expect_config_error(cfg, lm_specs(256, 256), {"exp.yaml:6:9: error: data.path:", "no such file '/no/such/file.txt'"});
  auto image_model = data::input_specs(load_graph(R"(snet 1;
model m(x: f32[N, 3, 8, 8], labels: i32[N]) -> (loss) {
  loss = softmax_cross_entropy(linear(global_avg_pool(x), units=4), labels);
}
)",
                                                  2));
  expect_config_error(text_config("char"), image_model, {"data.kind", "tokens i32[N, T]"});
}

}  // namespace
}  // namespace sublinear
