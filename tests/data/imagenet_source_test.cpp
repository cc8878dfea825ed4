// The ImageNet source on a small folder of real JPEG files written here (3 classes x 4 images of
// different sizes, with grayscale, progressive, CMYK and nested files): batch shapes, labels, value
// ranges, epoch order, bitwise determinism across worker counts, restore, and the user errors.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "data_test_util.h"
#include "train/trainer.h"

namespace sublinear {
namespace {

using testing::Batch;
using testing::JpegKind;
using testing::load_graph;
using testing::ScratchDir;
using testing::write_jpeg;

const float kMean[3] = {0.485f, 0.456f, 0.406f};
const float kStd[3] = {0.229f, 0.224f, 0.225f};

// Image i (0-3) of class c is a near-flat grey of level 30 + 80c + 10i, so a sample's mean names it.
int level(int c, int i) { return 30 + 80 * c + 10 * i; }

std::string model_text(int channels, int size, int classes) {
  return fmt::format(R"(snet 1;
model m(x: f32[N, {0}, {1}, {1}], labels: i32[N]) -> (loss) {{
  logits = linear(global_avg_pool(x), units={2});
  loss = softmax_cross_entropy(logits, labels);
}}
)",
                     channels, size, classes);
}

class ImagenetSourceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new ScratchDir("imagenet");
    const char* classes[] = {"cat", "dog", "eel"};
    struct File {
      const char* name;
      int w, h;
      JpegKind kind;
      bool progressive;
    };
    const File files[4] = {{"a.JPEG", 64, 48, JpegKind::Rgb, false},
                           {"b.jpg", 40, 70, JpegKind::Rgb, true},
                           {"c.JPG", 100, 100, JpegKind::Rgb, false},
                           {"sub/d.jpeg", 33, 57, JpegKind::Gray, false}};
    for (int c = 0; c < 3; ++c)
      for (int i = 0; i < 4; ++i) {
        File f = files[i];
        if (c == 1 && i == 2) f.kind = JpegKind::AdobeCmyk;
        int v = level(c, i);
        write_jpeg(dir_->path() / classes[c] / f.name, f.w, f.h, f.kind,
                   [v](int x, int y, int) { return v + ((x / 8 + y / 8) % 2 ? 2 : -2); }, 95, f.progressive);
      }
    std::ofstream(dir_->path() / "notes.txt") << "not a class\n";
    std::ofstream(dir_->path() / "cat" / "readme.txt") << "not an image\n";
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  static data::DataConfig config(int workers, int prefetch = 2, bool shuffle = true) {
    data::DataConfig cfg;
    cfg.kind = "imagenet";
    cfg.root = dir_->str();
    cfg.workers = workers;
    cfg.prefetch = prefetch;
    cfg.shuffle = shuffle;
    cfg.locs.file = "exp.yaml";
    cfg.locs.keys["data.root"] = runtime::ConfigLoc{"exp.yaml", 5, 9, "data.root"};
    cfg.locs.keys["data.kind"] = runtime::ConfigLoc{"exp.yaml", 4, 9, "data.kind"};
    return cfg;
  }

  static std::vector<data::InputSpec> specs(int channels = 3, int size = 16, int classes = 3, int batch = 5) {
    return data::input_specs(load_graph(model_text(channels, size, classes), batch));
  }

  // The image a sample shows: (class, index) from its mean grey level.
  static std::pair<int, int> identify(const Batch& b, int sample) {
    int64_t plane = 16 * 16;
    double sum = 0;
    for (int c = 0; c < 3; ++c)
      for (int64_t i = 0; i < plane; ++i) sum += b.f32(0)[(sample * 3 + c) * plane + i] * kStd[c] + kMean[c];
    double v = sum / (3 * plane) * 255.0;
    int cls = static_cast<int>(std::lround((v - 45) / 80));
    int idx = static_cast<int>(std::lround((v - 30 - 80 * cls) / 10));
    EXPECT_NEAR(v, level(cls, idx), 4.0) << "sample " << sample;
    return {cls, idx};
  }

  static std::vector<std::string> run(data::DataSource& src, const std::vector<data::InputSpec>& sp, int steps) {
    std::vector<std::string> out;
    for (int s = 0; s < steps; ++s) {
      Batch b(sp);
      src.next(b.tensors);
      out.push_back(b.all_bytes());
    }
    return out;
  }

  static ScratchDir* dir_;
};

ScratchDir* ImagenetSourceTest::dir_ = nullptr;

TEST_F(ImagenetSourceTest, BatchesHaveLabelsMatchingTheImages) {
  auto sp = specs();
  auto src = data::open_data_source(config(2), sp, 42);
  EXPECT_EQ(src->epoch_size(), 12);
  EXPECT_NE(src->describe().find("12 images in 3 classes"), std::string::npos) << src->describe();
  std::set<std::pair<int, int>> seen;
  for (int step = 0; step < 3; ++step) {  // 15 samples: the whole first epoch and 3 of the second
    Batch b(sp);
    src->next(b.tensors);
    for (int s = 0; s < 5; ++s) {
      auto [cls, idx] = identify(b, s);
      EXPECT_EQ(b.i32(1)[s], cls) << "step " << step << " sample " << s;
      if (step * 5 + s < 12) seen.insert({cls, idx});
    }
    for (int c = 0; c < 3; ++c)
      for (int i = 0; i < 5 * 256; ++i) {
        float v = b.f32(0)[(i / 256 * 3 + c) * 256 + i % 256];
        ASSERT_GE(v, (0 - kMean[c]) / kStd[c] - 1e-4);
        ASSERT_LE(v, (1 - kMean[c]) / kStd[c] + 1e-4);
      }
  }
  EXPECT_EQ(seen.size(), 12u);  // an epoch shows every image once
}

TEST_F(ImagenetSourceTest, EpochOrderIsFolderOrderOrAFreshShuffle) {
  auto sp = specs(3, 16, 3, 6);
  auto ordered = data::open_data_source(config(1, 2, false), sp, 1);
  std::vector<std::pair<int, int>> order;
  for (int step = 0; step < 2; ++step) {
    Batch b(sp);
    ordered->next(b.tensors);
    for (int s = 0; s < 6; ++s) order.push_back(identify(b, s));
  }
  std::vector<std::pair<int, int>> folder;
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 4; ++i) folder.push_back({c, i});
  EXPECT_EQ(order, folder);

  auto shuffled = data::open_data_source(config(2, 2, true), sp, 1);
  std::vector<std::vector<std::pair<int, int>>> epochs(2);
  for (int step = 0; step < 4; ++step) {
    Batch b(sp);
    shuffled->next(b.tensors);
    for (int s = 0; s < 6; ++s) epochs[step / 2].push_back(identify(b, s));
  }
  using Seen = std::set<std::pair<int, int>>;
  for (auto& e : epochs) EXPECT_EQ(Seen(e.begin(), e.end()).size(), 12u);
  EXPECT_NE(epochs[0], epochs[1]);
  EXPECT_NE(epochs[0], folder);
}

TEST_F(ImagenetSourceTest, BitwiseIdenticalForAnyWorkerCount) {
  auto sp = specs();
  auto reference = data::open_data_source(config(0), sp, 9);
  auto want = run(*reference, sp, 6);
  for (auto [workers, prefetch] : {std::pair{1, 1}, std::pair{4, 3}, std::pair{3, 8}}) {
    auto src = data::open_data_source(config(workers, prefetch), sp, 9);
    EXPECT_EQ(run(*src, sp, 6), want) << workers << " workers, prefetch " << prefetch;
  }
  auto other_seed = data::open_data_source(config(2), sp, 10);
  EXPECT_NE(run(*other_seed, sp, 1)[0], want[0]);
}

// Data-parallel workers decode only their share: worker r's batch is samples [r b, (r + 1) b) of the batch
// one process draws, across epoch ends, with or without decoding threads, and the saved position is the
// global one on every worker.
TEST_F(ImagenetSourceTest, WorkerShardsStackToTheGlobalBatch) {
  const auto global = specs(3, 16, 3, 6);
  auto whole = data::open_data_source(config(2), global, 4);
  for (int k : {2, 3}) {
    const int b = 6 / k;
    const auto local = specs(3, 16, 3, b);
    ASSERT_TRUE(data::reads_only_its_shard(config(0)));
    std::vector<std::unique_ptr<data::DataSource>> shards;
    for (int r = 0; r < k; ++r)
      shards.push_back(data::open_data_shard(config(r % 2 == 0 ? 0 : 3), local, 4, data::DataShard{r, k, {}}));
    whole = data::open_data_source(config(2), global, 4);
    for (int step = 0; step < 5; ++step) {  // 30 samples: more than the folder's images
      Batch g(global);
      whole->next(g.tensors);
      for (int r = 0; r < k; ++r) {
        Batch l(local);
        shards[static_cast<size_t>(r)]->next(l.tensors);
        for (size_t t = 0; t < g.tensors.size(); ++t) {
          const std::string all = g.bytes(t), mine = l.bytes(t);
          EXPECT_EQ(all.substr(mine.size() * static_cast<size_t>(r), mine.size()), mine)
              << k << " workers, worker " << r << ", step " << step << ", input " << t;
        }
        EXPECT_EQ(shards[static_cast<size_t>(r)]->save_state(), whole->save_state());
      }
    }
  }
  auto skipping = config(0);
  skipping.bad_images = "skip";
  EXPECT_FALSE(data::reads_only_its_shard(skipping));  // its count must cover the whole batch
}

TEST_F(ImagenetSourceTest, RestoreContinuesExactly) {
  auto sp = specs();
  auto a = data::open_data_source(config(3, 2), sp, 5);
  run(*a, sp, 3);  // into the second epoch
  std::string state = a->save_state();
  auto want = run(*a, sp, 4);
  auto b = data::open_data_source(config(1, 4), sp, 5);
  run(*b, sp, 1);
  b->restore_state(state);
  EXPECT_EQ(run(*b, sp, 4), want);
  a->restore_state(state);  // the same source, workers running ahead: they restart at the state
  EXPECT_EQ(run(*a, sp, 4), want);
  EXPECT_THROW(a->restore_state("imagenet epoch=0 position=0 images=13"), std::runtime_error);
  EXPECT_THROW(a->restore_state("synthetic step=1"), std::runtime_error);
}

TEST_F(ImagenetSourceTest, DestroyingWithWorkersBusyOrIdleDoesNotHang) {
  auto sp = specs();
  for (int prefetch : {1, 4}) {
    auto src = data::open_data_source(config(4, prefetch), sp, 3);
    Batch b(sp);
    src->next(b.tensors);
  }
  auto never_started = data::open_data_source(config(4), sp, 3);
  never_started.reset();
}

TEST_F(ImagenetSourceTest, CorruptJpegIsAnErrorNamingTheFile) {
  ScratchDir bad("imagenet-bad");
  write_jpeg(bad.path() / "a" / "1.jpg", 20, 20, JpegKind::Rgb, [](int, int, int) { return 100; });
  write_jpeg(bad.path() / "b" / "1.jpg", 20, 20, JpegKind::Rgb, [](int, int, int) { return 100; });
  std::ofstream(bad.path() / "b" / "2.jpg") << "this is no JPEG";
  auto sp = specs(3, 16, 3, 3);
  for (int workers : {0, 2}) {
    data::DataConfig cfg = config(workers, 2, false);
    cfg.root = bad.str();
    auto src = data::open_data_source(cfg, sp, 1);
    Batch b(sp);
    for (int attempt = 0; attempt < 2; ++attempt) {  // the error stays: the source does not skip data
      try {
        src->next(b.tensors);
        ADD_FAILURE() << "expected an error";
      } catch (const std::runtime_error& e) {
        std::string w = e.what();
        EXPECT_NE(w.find(fmt::format("cannot decode {}", (bad.path() / "b" / "2.jpg").string())), std::string::npos) << w;
        EXPECT_NE(w.find("Not a JPEG file"), std::string::npos) << w;
      }
    }
  }
}

// data.bad_images: skip: a bad file's sample is replaced by the next image of the stream that decodes
// (with its own crop draws), the replacements are reported in batch order and counted, the batches do
// not depend on the worker count, the count survives save/restore, and a folder of nothing but bad
// files is still an error.
TEST_F(ImagenetSourceTest, SkipModeReplacesBadFilesDeterministicallyAndCountsThem) {
  ScratchDir bad("imagenet-skip");
  for (int i = 0; i < 6; ++i)
    write_jpeg(bad.path() / "a" / fmt::format("{}.jpg", i), 48, 48, JpegKind::Rgb,
               [i](int x, int y, int) { return 40 + 30 * i + (x * 5 + y * 3) % 17; });
  std::ofstream(bad.path() / "a" / "2b.jpg") << "this is no JPEG";
  auto good = testing::slurp(bad.path() / "a" / "4.jpg");
  std::ofstream(bad.path() / "a" / "4b.jpg", std::ios::binary)
      .write(reinterpret_cast<const char*>(good.data()), static_cast<std::streamsize>(good.size() / 2));
  auto sp = specs(3, 16, 3, 4);
  std::vector<std::string> first;
  for (int workers : {0, 3}) {
    data::DataConfig cfg = config(workers, 2, false);
    cfg.root = bad.str();
    cfg.bad_images = "skip";
    auto src = data::open_data_source(cfg, sp, 9);
    // Folder order: 0 1 2 2b 3 4 4b 5; batches of 4 run on across the epoch end.
    auto batches = run(*src, sp, 4);
    if (first.empty()) first = batches;
    else EXPECT_EQ(batches, first) << "workers " << workers;
    auto skipped = src->take_skipped();
    ASSERT_EQ(skipped.size(), 4u) << "workers " << workers;  // 2b and 4b, in each of two epochs
    EXPECT_NE(skipped[0].find((bad.path() / "a" / "2b.jpg").string()), std::string::npos) << skipped[0];
    EXPECT_NE(skipped[0].find("Not a JPEG file"), std::string::npos) << skipped[0];
    EXPECT_NE(skipped[1].find((bad.path() / "a" / "4b.jpg").string()), std::string::npos) << skipped[1];
    EXPECT_NE(skipped[1].find("truncated"), std::string::npos) << skipped[1];
    EXPECT_EQ(src->skipped_total(), 4);
    EXPECT_TRUE(src->take_skipped().empty());
    // The stand-in for 2b (batch 0, sample 3) is image 3, with a crop of its own: not a copy of image
    // 3's own sample (batch 1, sample 0).
    auto fresh = data::open_data_source(cfg, sp, 9);
    Batch b0(sp), b1(sp);
    fresh->next(b0.tensors);
    fresh->next(b1.tensors);
    const int64_t sample = 3 * 16 * 16;
    auto mean_level = [&](const Batch& b, int k) {
      double sum = 0;
      for (int64_t i = 0; i < sample; ++i) sum += b.f32(0)[k * sample + i] * kStd[i / 256] + kMean[i / 256];
      return sum / sample * 255.0;
    };
    EXPECT_NEAR(mean_level(b0, 3), 40 + 30 * 3 + 8, 3.0);
    EXPECT_NEAR(mean_level(b1, 0), 40 + 30 * 3 + 8, 3.0);
    EXPECT_NE(std::memcmp(b0.f32(0) + 3 * sample, b1.f32(0), sample * sizeof(float)), 0);
    std::string state = src->save_state();
    EXPECT_NE(state.find("skipped=4"), std::string::npos) << state;
    auto resumed = data::open_data_source(cfg, sp, 9);
    resumed->restore_state(state);
    EXPECT_EQ(resumed->skipped_total(), 4);
  }
  // Under "error" (the default) the same folder stops at 2b.
  data::DataConfig strict = config(0, 2, false);
  strict.root = bad.str();
  auto src = data::open_data_source(strict, sp, 9);
  Batch b(sp);
  EXPECT_THROW(src->next(b.tensors), std::runtime_error);

  ScratchDir hopeless("imagenet-hopeless");
  std::filesystem::create_directories(hopeless.path() / "a");
  for (int i = 0; i < 3; ++i) std::ofstream(hopeless.path() / "a" / fmt::format("{}.jpg", i)) << "no";
  data::DataConfig cfg = config(2, 2, false);
  cfg.root = hopeless.str();
  cfg.bad_images = "skip";
  auto none = data::open_data_source(cfg, sp, 9);
  try {
    none->next(b.tensors);
    ADD_FAILURE() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("gives up"), std::string::npos) << e.what();
  }
}

// The trainer under data.bad_images: skip: the run ends, the replaced samples are printed with the file
// and counted in the metrics; under the default it stops naming the file, and that run resumes under
// skip (the setting is not part of the experiment's identity).
TEST_F(ImagenetSourceTest, TrainerSkipsCountsAndResumesAfterAnErrorStop) {
  ScratchDir run_root("imagenet-train");
  auto data_dir = run_root.path() / "data";
  for (int c = 0; c < 2; ++c)
    for (int i = 0; i < 4; ++i)
      write_jpeg(data_dir / fmt::format("c{}", c) / fmt::format("{}.jpg", i), 20, 20, JpegKind::Rgb,
                 [c, i](int x, int, int) { return 50 + 60 * c + 10 * i + x % 3; });
  std::ofstream(data_dir / "c1" / "1b.jpg") << "broken";
  std::ofstream(run_root.path() / "m.snet") << model_text(3, 16, 2);
  std::ofstream(run_root.path() / "exp.yaml")
      << "model: {file: m.snet}\nbatch: 3\nseed: 5\nsteps: 6\n"
      << "data: {kind: imagenet, root: " << data_dir.string() << ", workers: 2, shuffle: false}\n"
      << "optimizer: {kind: sgd, lr: 0.1}\nlog: {every: 1}\ncheckpoint: {every: 1}\n";
  runtime::train::TrainRequest req;
  req.experiment = (run_root.path() / "exp.yaml").string();
  req.run_dir = (run_root.path() / "run").string();
  std::ostringstream out, err;
  try {
    runtime::train::train(req, out, err);
    ADD_FAILURE() << "the default stops at a bad file";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("1b.jpg"), std::string::npos) << e.what();
  }
  req.resume = true;
  req.overrides = {"data.bad_images=skip"};
  std::ostringstream out2, err2;
  auto r = runtime::train::train(req, out2, err2);
  EXPECT_EQ(r.steps_done, 6);
  EXPECT_NE(out2.str().find("resumed from"), std::string::npos) << out2.str();
  EXPECT_NE(err2.str().find("warning: replaced a sample"), std::string::npos) << err2.str();
  EXPECT_NE(err2.str().find("1b.jpg"), std::string::npos) << err2.str();
  EXPECT_NE(out2.str().find("bad images: 2 samples replaced"), std::string::npos) << out2.str();
  std::ifstream metrics(run_root.path() / "run" / "metrics.jsonl");
  std::string line, last;
  while (std::getline(metrics, line)) last = line;
  EXPECT_NE(last.find("\"bad_images_skipped\":2.0"), std::string::npos) << last;
}

// Degenerate shapes (a single pixel, one-pixel-wide strips) and crops small enough for 1/8-scale
// decoding at the far edges of large images all come out finite and in range.
TEST_F(ImagenetSourceTest, OddSizesAndScaledDecodesStayInRange) {
  ScratchDir odd("imagenet-odd");
  const std::pair<int, int> sizes[] = {{1, 1}, {1, 37}, {300, 2}, {17, 17}, {640, 480}, {333, 900}};
  for (int k = 0; k < 6; ++k)
    write_jpeg(odd.path() / (k % 2 ? "a" : "b") / fmt::format("{}.jpg", k), sizes[k].first, sizes[k].second,
               JpegKind::Rgb, [](int x, int y, int c) { return (x * 31 + y * 17 + c * 85) % 256; }, 85);
  for (int size : {4, 24}) {
    auto sp = specs(3, size, 2, 4);
    data::DataConfig cfg = config(2, 2);
    cfg.root = odd.str();
    cfg.min_scale = 0.01;
    auto src = data::open_data_source(cfg, sp, 17);
    Batch b(sp);
    for (int step = 0; step < 6; ++step) {
      src->next(b.tensors);
      for (int64_t i = 0; i < b.tensors[0].numel(); ++i) {
        int c = static_cast<int>(i / (size * size) % 3);
        float v = b.f32(0)[i];
        ASSERT_TRUE(std::isfinite(v));
        ASSERT_GE(v, (0 - kMean[c]) / kStd[c] - 1e-4);
        ASSERT_LE(v, (1 - kMean[c]) / kStd[c] + 1e-4);
      }
    }
  }
}

void expect_config_error(const std::function<void()>& open, const std::vector<std::string>& parts) {
  try {
    open();
    ADD_FAILURE() << "expected a ConfigError";
  } catch (const runtime::ConfigError& e) {
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

TEST_F(ImagenetSourceTest, MissingOrEmptyRootIsAConfigError) {
  auto sp = specs();
  data::DataConfig cfg = config(2);
  cfg.root = (dir_->path() / "no_such_folder").string();
  expect_config_error([&] { data::open_data_source(cfg, sp, 1); },
                      {"exp.yaml:5:9: error: data.root: no such directory", "no_such_folder",
                       "--set data.kind=synthetic"});
  ScratchDir empty("imagenet-empty");
  std::filesystem::create_directories(empty.path() / "cls");
  std::ofstream(empty.path() / "cls" / "x.png") << "png";
  cfg.root = empty.str();
  expect_config_error([&] { data::open_data_source(cfg, sp, 1); },
                      {"data.root", "contains no class folders with JPEG files", "--set data.kind=synthetic"});
}

TEST_F(ImagenetSourceTest, ModelThatDoesNotFitIsAConfigError) {
  expect_config_error([&] { data::open_data_source(config(2), specs(1), 1); },
                      {"exp.yaml:4:9: error: data.kind:", "f32[N, 3, H, W]", "f32[5, 1, 16, 16]"});
  expect_config_error([&] { data::open_data_source(config(2), specs(3, 16, 2), 1); },
                      {"data.root", "3 class folders", "2 classes"});
  auto sp = data::input_specs(load_graph(R"(snet 1;
model m(x: f32[N, 4]) -> (loss) { loss = mean(x); }
)",
                                         2));
  expect_config_error([&] { data::open_data_source(config(2), sp, 1); }, {"data.kind", "x: f32[2, 4] (features)"});
}

// Decoding speed on ImageNet-sized images (run with --gtest_also_run_disabled_tests).
TEST(ImagenetThroughput, DISABLED_DecodeImagenetSizedJpegs) {
  ScratchDir dir("imagenet-speed");
  for (int c = 0; c < 4; ++c)
    for (int i = 0; i < 32; ++i)
      write_jpeg(dir.path() / fmt::format("c{}", c) / fmt::format("i{}.JPEG", i), 500, 375, JpegKind::Rgb,
                 [c, i](int x, int y, int ch) { return (x * (c + 1) + y * (i + 1) + ch * 50 + (x ^ y) % 17) % 256; }, 90);
  auto sp = data::input_specs(load_graph(model_text(3, 224, 4), 32));
  int workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  data::DataConfig cfg;
  cfg.kind = "imagenet";
  cfg.root = dir.str();
  cfg.workers = workers;
  auto src = data::open_data_source(cfg, sp, 1);
  Batch b(sp);
  src->next(b.tensors);  // warm up: the workers start
  auto t0 = std::chrono::steady_clock::now();
  int batches = 16;
  for (int i = 0; i < batches; ++i) src->next(b.tensors);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("imagenet source: %d workers, %.0f images/s (500x375 JPEGs -> 224x224)\n", workers, batches * 32 / s);
}

}  // namespace
}  // namespace sublinear
