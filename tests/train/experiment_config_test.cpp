// Experiment configuration: a full file, the defaults, every class of error naming the right key, line
// and column, overrides (nested, lists, model params, new keys, errors naming --set), relative paths,
// epochs, the resolved YAML reading back to the same configuration, and the experiment hash.
#include "train/experiment_config.h"

#include <gtest/gtest.h>

#include <chrono>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "train/memory_budget.h"
#include "tests/train/train_test_util.h"

namespace sublinear::runtime::train {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_.write("models/m.snet", "model m { }\n"); }

  ExperimentConfig load(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
    return load_experiment(dir_.write("exp.yaml", yaml), overrides);
  }

  // The ConfigError loading `yaml` raises (a test failure when none).
  ConfigError error(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
    try {
      load(yaml, overrides);
    } catch (const ConfigError& e) {
      return e;
    }
    ADD_FAILURE() << "no ConfigError for:\n" << yaml;
    return ConfigError(ConfigLoc{}, "none");
  }

  static constexpr const char* kMinimal = "model:\n  file: models/m.snet\nbatch: 8\nsteps: 100\n";
  TempDir dir_;
};

#define EXPECT_ERROR_AT(err, line_, column_, key_, text_)                          \
  do {                                                                            \
    const ConfigError& e_ = (err);                                                \
    EXPECT_EQ(e_.loc().line, line_) << e_.what();                                 \
    EXPECT_EQ(e_.loc().column, column_) << e_.what();                             \
    EXPECT_EQ(e_.loc().key, key_) << e_.what();                                   \
    EXPECT_NE(std::string(e_.what()).find(text_), std::string::npos) << e_.what(); \
  } while (0)

// YAML aliases: a self-reference was unbounded recursion (a segfault), and nine levels of nine aliases
// (9^9 values once copied out) filled 9 GB in 20 s. Both are errors at the node, at once.
TEST_F(ConfigTest, AliasCyclesAndAliasBombsAreErrors) {
  EXPECT_ERROR_AT(error(std::string(kMinimal) + "a: &a [*a]\n"), 5, 4, "", "nested deeper than 64 levels");
  std::string bomb = kMinimal;
  bomb += "l0: &l0 [x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 10; ++i) {
    bomb += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [";
    for (int k = 0; k < 9; ++k) bomb += (k ? ", *l" : "*l") + std::to_string(i - 1);
    bomb += "]\n";
  }
  const auto t0 = std::chrono::steady_clock::now();
  const ConfigError e = error(bomb);
  EXPECT_NE(std::string(e.what()).find("expands to more than 100000 values"), std::string::npos) << e.what();
  EXPECT_GE(e.loc().line, 5) << e.what();  // inside the aliased values: their marks are the anchors'
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0);
  // An alias used as designed still works.
  EXPECT_EQ(load("model:\n  file: models/m.snet\nbatch: &b 8\nsteps: *b\n").total_steps(0), 8);
}

TEST_F(ConfigTest, FullFile) {
  const std::string yaml = R"(# every key
model:
  file: models/m.snet
  name: m
  params: {depth: 56, width: 2.5, pre: true}
batch: 128
device: cuda:1
seed: 42
epochs: 2.5
data:
  kind: imagenet
  root: data/train
  workers: 8
  prefetch: 2
  shuffle: false
  min_scale: 0.25
  max_scale: 0.9
  flip: false
  mean: [0.5, 0.5, 0.5]
  std: [0.25, 0.25, 0.25]
memory:
  policy: budget
  budget: 2GiB
  inplace: false
  sharing: false
optimizer:
  kind: sgd
  lr: 0.4
  momentum: 0.8
  nesterov: true
  weight_decay: 5e-5
schedule:
  kind: cosine
  warmup_steps: 500
  min_lr: 0.001
log: {every: 25, file: logs/m.jsonl}
run_dir: out/run1
checkpoint: {every: 1000, keep: 5, dir: ckpts}
deterministic: true
)";
  ExperimentConfig c = load(yaml);
  const fs::path d = dir_.path();
  EXPECT_EQ(c.model.file, (d / "models/m.snet").string());
  EXPECT_EQ(c.model.name, "m");
  EXPECT_EQ(c.model.set_args(), (std::vector<std::string>{"depth=56", "width=2.5", "pre=true"}));
  EXPECT_EQ(c.batch, 128);
  EXPECT_EQ(c.device.kind, DeviceKind::Cuda);
  EXPECT_EQ(c.device.index, 1);
  EXPECT_EQ(c.device.str(), "cuda:1");
  EXPECT_EQ(c.seed, 42u);
  EXPECT_EQ(c.steps, 0);
  EXPECT_DOUBLE_EQ(c.epochs, 2.5);
  EXPECT_EQ(c.data.kind, "imagenet");
  EXPECT_EQ(c.data.root, (d / "data/train").string());
  EXPECT_EQ(c.data.workers, 8);
  EXPECT_EQ(c.data.prefetch, 2);
  EXPECT_FALSE(c.data.shuffle);
  EXPECT_FALSE(c.data.flip);
  EXPECT_DOUBLE_EQ(c.data.min_scale, 0.25);
  EXPECT_DOUBLE_EQ(c.data.max_scale, 0.9);
  EXPECT_EQ(c.data.mean, (std::vector<double>{0.5, 0.5, 0.5}));
  EXPECT_EQ(c.data.std, (std::vector<double>{0.25, 0.25, 0.25}));
  EXPECT_EQ(c.memory.policy, "budget");
  EXPECT_EQ(c.memory.budget_bytes, int64_t{2} << 30);
  EXPECT_FALSE(c.memory.inplace);
  EXPECT_FALSE(c.memory.sharing);
  EXPECT_EQ(c.optimizer.kind, OptimizerKind::Sgd);
  EXPECT_DOUBLE_EQ(c.optimizer.lr, 0.4);
  EXPECT_DOUBLE_EQ(c.optimizer.momentum, 0.8);
  EXPECT_TRUE(c.optimizer.nesterov);
  EXPECT_DOUBLE_EQ(c.optimizer.weight_decay, 5e-5);
  EXPECT_EQ(c.schedule.kind, ScheduleKind::Cosine);
  EXPECT_EQ(c.schedule.warmup_steps, 500);
  EXPECT_DOUBLE_EQ(c.schedule.min_lr, 0.001);
  EXPECT_EQ(c.log.every, 25);
  EXPECT_EQ(c.log.file, (d / "logs/m.jsonl").string());
  EXPECT_EQ(c.run_dir, (d / "out/run1").string());
  EXPECT_EQ(c.checkpoint.every, 1000);
  EXPECT_EQ(c.checkpoint.keep, 5);
  EXPECT_EQ(c.checkpoint.dir, (d / "ckpts").string());
  EXPECT_TRUE(c.deterministic);

  // Locations of keys, for errors raised later; data.* also lands in DataConfig::locs.
  EXPECT_EQ(c.loc("batch").line, 6);
  EXPECT_EQ(c.loc("batch").column, 8);
  EXPECT_EQ(c.loc("model.params.depth").line, 5);
  EXPECT_EQ(c.data.locs.at("data.root").line, 12);
  EXPECT_EQ(c.data.locs.at("data.root").file, c.file);
  EXPECT_EQ(c.loc("optimizer.lr").line, 28);
  EXPECT_EQ(c.loc("checkpoint.keep").line, 38);

  // The run length once the data's epoch size is known: ceil(2.5 * 1000 / 128) = 20.
  EXPECT_EQ(c.total_steps(1000), 20);

  planner::PlanRequest req = c.plan_request();
  EXPECT_EQ(req.memory_budget, int64_t{2} << 30);
  EXPECT_FALSE(req.options.inplace);
  EXPECT_FALSE(req.options.sharing);
  EXPECT_EQ(req.options.optimizer, planner::Optimizer::Momentum);
}

TEST_F(ConfigTest, Defaults) {
  ExperimentConfig c = load(kMinimal);
  EXPECT_TRUE(c.model.name.empty());
  EXPECT_TRUE(c.model.params.empty());
  EXPECT_EQ(c.device.kind, DeviceKind::Cpu);
  EXPECT_EQ(c.device.str(), "cpu");
  EXPECT_EQ(c.seed, 0u);
  EXPECT_EQ(c.steps, 100);
  EXPECT_EQ(c.total_steps(0), 100);
  const data::DataConfig d;
  EXPECT_EQ(c.data.kind, d.kind);
  EXPECT_EQ(c.data.level, d.level);
  EXPECT_EQ(c.data.workers, d.workers);
  EXPECT_EQ(c.data.prefetch, d.prefetch);
  EXPECT_EQ(c.data.mean, d.mean);
  EXPECT_EQ(c.data.std, d.std);
  EXPECT_EQ(c.memory.policy, "none");
  EXPECT_FALSE(c.memory.budget_bytes.has_value());
  EXPECT_TRUE(c.memory.inplace);
  EXPECT_TRUE(c.memory.sharing);
  EXPECT_EQ(c.optimizer.kind, OptimizerKind::Sgd);
  EXPECT_DOUBLE_EQ(c.optimizer.lr, 0.1);
  EXPECT_DOUBLE_EQ(c.optimizer.momentum, 0.9);
  EXPECT_FALSE(c.optimizer.nesterov);
  EXPECT_DOUBLE_EQ(c.optimizer.weight_decay, 0.0);
  EXPECT_EQ(c.schedule.kind, ScheduleKind::Constant);
  EXPECT_EQ(c.schedule.warmup_steps, 0);
  EXPECT_EQ(c.log.every, 10);
  const fs::path run = fs::current_path() / "runs" / "exp";
  EXPECT_EQ(c.run_dir, run.string());
  EXPECT_EQ(c.log.file, (run / "metrics.jsonl").string());
  EXPECT_EQ(c.checkpoint.every, 0);
  EXPECT_EQ(c.checkpoint.keep, 3);
  EXPECT_EQ(c.checkpoint.dir, (run / "checkpoints").string());
  EXPECT_FALSE(c.deterministic);
  EXPECT_EQ(c.plan_request().policy, planner::Policy::None);
  EXPECT_EQ(c.loc("seed").line, 0);  // left at its default

  ExperimentConfig adam = load(std::string(kMinimal) + "optimizer: {kind: adam}\n");
  EXPECT_DOUBLE_EQ(adam.optimizer.lr, 1e-3);
  EXPECT_DOUBLE_EQ(adam.optimizer.beta1, 0.9);
  EXPECT_DOUBLE_EQ(adam.optimizer.beta2, 0.999);
  EXPECT_DOUBLE_EQ(adam.optimizer.eps, 1e-8);
  EXPECT_EQ(adam.plan_request().options.optimizer, planner::Optimizer::Adam);

  ExperimentConfig plain = load(std::string(kMinimal) + "optimizer: {momentum: 0}\nmemory: {budget: 512MiB}\n");
  EXPECT_EQ(plain.plan_request().options.optimizer, planner::Optimizer::Sgd);
  EXPECT_EQ(plain.memory.policy, "budget");  // a budget alone implies the policy
  EXPECT_EQ(plain.memory.budget_bytes, int64_t{512} << 20);
}

// AdamW's defaults are torch's (lr 1e-3, weight_decay 0.01); clip_grad_norm is read and enters the
// experiment's identity only when set. Switching the optimizer with --set leaves the file's settings for
// the old one behind instead of failing on them; written next to each other they are still a mistake.
TEST_F(ConfigTest, AdamWClippingAndSwitchingOptimizers) {
  ExperimentConfig w = load(std::string(kMinimal) + "optimizer: {kind: adamw, clip_grad_norm: 1.0}\n");
  EXPECT_EQ(w.optimizer.kind, OptimizerKind::AdamW);
  EXPECT_DOUBLE_EQ(w.optimizer.lr, 1e-3);
  EXPECT_DOUBLE_EQ(w.optimizer.weight_decay, 0.01);
  EXPECT_DOUBLE_EQ(w.optimizer.clip_grad_norm, 1.0);
  EXPECT_EQ(w.plan_request().options.optimizer, planner::Optimizer::Adam);
  EXPECT_NE(w.hash(), load(std::string(kMinimal) + "optimizer: {kind: adamw}\n").hash());
  EXPECT_NE(w.to_yaml().find("clip_grad_norm"), std::string::npos);
  EXPECT_EQ(load(kMinimal).to_yaml().find("clip_grad_norm"), std::string::npos);
  EXPECT_ERROR_AT(error(std::string(kMinimal) + "optimizer: {clip_grad_norm: -1}\n"), 5, 29, "optimizer.clip_grad_norm",
                  "");

  const std::string sgd_file = std::string(kMinimal) + "optimizer: {kind: sgd, momentum: 0.9, nesterov: true}\n";
  ExperimentConfig switched = load(sgd_file, {"optimizer.kind=adamw"});
  EXPECT_EQ(switched.optimizer.kind, OptimizerKind::AdamW);
  EXPECT_EQ(switched.optimizer.momentum, 0.0);
  ExperimentConfig back = load(std::string(kMinimal) + "optimizer: {kind: adam, beta2: 0.95}\n", {"optimizer.kind=sgd"});
  EXPECT_EQ(back.optimizer.kind, OptimizerKind::Sgd);
  EXPECT_ERROR_AT(error(sgd_file, {"optimizer.kind=adam", "optimizer.momentum=0.5"}), 0, 0, "optimizer.momentum",
                  "applies to optimizer.kind sgd only");
}

TEST_F(ConfigTest, AutoBudgetIsResolvedByTheRunNotTheFile) {
  ExperimentConfig c = load(std::string(kMinimal) + "memory:\n  budget: auto\n");
  EXPECT_EQ(c.memory.policy, "budget");
  EXPECT_TRUE(c.memory.budget_auto);
  EXPECT_FALSE(c.memory.budget_bytes.has_value());
  EXPECT_EQ(c.plan_request(int64_t{3} << 30).memory_budget, int64_t{3} << 30);
  // A plan made ahead of any run (compile) cannot know the free memory: an error at the key.
  try {
    c.plan_request();
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.loc().line, 6) << e.what();
    EXPECT_NE(std::string(e.what()).find("give a size"), std::string::npos) << e.what();
  }
  EXPECT_NE(c.to_yaml().find("budget: auto"), std::string::npos) << c.to_yaml();
  EXPECT_ERROR_AT(error(std::string(kMinimal) + "memory:\n  budget: automatic\n"), 6, 11, "memory.budget",
                  "expected auto or a positive size");
}

TEST_F(ConfigTest, AutoBudgetTakesTheStatedShareOfTheFreeMemory) {
  const std::string meminfo = dir_.write("meminfo", "MemTotal:       24000000 kB\nMemFree:  100 kB\n"
                                                     "MemAvailable:   16000000 kB\nBuffers: 5 kB\n");
  EXPECT_EQ(cpu_available_bytes(meminfo), int64_t{16000000} * 1024);
  EXPECT_FALSE(cpu_available_bytes(dir_.write("bad", "MemTotal: 5 kB\n")).has_value());
  EXPECT_FALSE(cpu_available_bytes(dir_.write("garbled", "MemAvailable: lots\n")).has_value());
  EXPECT_FALSE(cpu_available_bytes((dir_.path() / "missing").string()).has_value());
  EXPECT_FALSE(cpu_available_bytes(dir_.write("huge", "MemAvailable: 99999999999999999 kB\n")).has_value());
  // A container's limit: cgroup v2 files, v1's "no limit" and v2's "max".
  EXPECT_EQ(cgroup_memory_room(dir_.write("max", "8589934592\n"), dir_.write("cur", "1073741824\n")),
            int64_t{7} << 30);
  EXPECT_EQ(cgroup_memory_room(dir_.write("max2", "1000\n"), dir_.write("cur2", "5000\n")), 0);
  EXPECT_FALSE(cgroup_memory_room(dir_.write("nolimit", "max\n"), dir_.write("cur3", "5\n")).has_value());
  EXPECT_FALSE(cgroup_memory_room(dir_.write("v1", "9223372036854771712\n"), dir_.write("cur4", "5\n")).has_value());
  EXPECT_FALSE(cgroup_memory_room((dir_.path() / "none").string(), (dir_.path() / "none2").string()).has_value());

  ExperimentConfig cpu = load(std::string(kMinimal) + "memory: {budget: auto}\n");
  if (auto avail = cpu_available_bytes()) {
    const AutoBudget b = auto_memory_budget(cpu);
    EXPECT_GT(b.free_bytes, 0);
    EXPECT_EQ(b.bytes, static_cast<int64_t>(static_cast<double>(b.free_bytes) * kAutoBudgetShare));
    EXPECT_NE(b.source.find("MemAvailable"), std::string::npos);
  }
  // A CUDA device this binary cannot query is an error at the key, not a guess.
  register_cuda_free_memory(nullptr);
  ExperimentConfig gpu = load(std::string(kMinimal) + "device: cuda:3\nmemory: {budget: auto}\n");
  try {
    auto_memory_budget(gpu);
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.loc().key, "memory.budget");
    EXPECT_NE(std::string(e.what()).find("cuda:3"), std::string::npos) << e.what();
  }
  register_cuda_free_memory([](int device) -> std::optional<int64_t> {
    return device == 3 ? std::optional<int64_t>(int64_t{100} << 30) : std::nullopt;
  });
  const AutoBudget b = auto_memory_budget(gpu);
  EXPECT_EQ(b.free_bytes, int64_t{100} << 30);
  EXPECT_EQ(b.bytes, static_cast<int64_t>(static_cast<double>(int64_t{100} << 30) * kAutoBudgetShare));
  register_cuda_free_memory(nullptr);
}

TEST_F(ConfigTest, UnknownKeysSuggestTheClosest) {
  EXPECT_ERROR_AT(error(std::string(kMinimal) + "optimzer:\n  lr: 0.1\n"), 5, 1, "optimzer",
                  "unknown key 'optimzer' (did you mean 'optimizer'?)");
  EXPECT_ERROR_AT(error(std::string(kMinimal) + "optimizer:\n  momentun: 0.5\n"), 6, 3, "optimizer.momentun",
                  "did you mean 'optimizer.momentum'?");
  // A key of another section: the hint names where it belongs.
  EXPECT_ERROR_AT(error(std::string(kMinimal) + "lr: 0.1\n"), 5, 1, "lr", "did you mean 'optimizer.lr'?");
  // A typo is reported before the errors it may cause in other sections.
  EXPECT_ERROR_AT(error(std::string(kMinimal) + "data: {kind: text}\noptimizer: {momentun: 0.5}\n"), 6, 13,
                  "optimizer.momentun", "unknown key");
  // Nothing close: the known keys are listed.
  EXPECT_ERROR_AT(error(std::string(kMinimal) + "memory: {frobnicate: 1}\n"), 5, 10, "memory.frobnicate",
                  "known keys of memory: policy budget inplace sharing");
}

TEST_F(ConfigTest, WrongTypes) {
  EXPECT_ERROR_AT(error("model: {file: models/m.snet}\nbatch: abc\nsteps: 1\n"), 2, 8, "batch",
                  "expected an integer, got 'abc'");
  EXPECT_ERROR_AT(error(std::string(kMinimal) + "optimizer:\n  lr: [1]\n"), 6, 7, "optimizer.lr",
                  "expected a number, got a list");
  EXPECT_ERROR_AT(error(std::string(kMinimal) + "deterministic: maybe\n"), 5, 16, "deterministic",
                  "expected true or false");
  EXPECT_ERROR_AT(error(std::string(kMinimal) + "optimizer: sgd\n"), 5, 12, "optimizer",
                  "expected a section of keys, got 'sgd'");
  EXPECT_ERROR_AT(error(std::string(kMinimal) + "data: {mean: [0.5, x]}\n"), 5, 20, "data.mean",
                  "expected a number in the list, got 'x'");
  EXPECT_ERROR_AT(error(std::string(kMinimal) + "optimizer:\n  lr:\n"), 6, 3, "optimizer.lr", "missing value");
  EXPECT_ERROR_AT(error(std::string(kMinimal) + "model2: 1\n"), 5, 1, "model2", "did you mean 'model'?");
}

TEST_F(ConfigTest, OutOfRange) {
  EXPECT_ERROR_AT(error("model: {file: models/m.snet}\nbatch: 0\nsteps: 1\n"), 2, 8, "batch",
                  "must be at least 1, got 0");
  EXPECT_ERROR_AT(error(std::string(kMinimal) + "optimizer: {momentum: 1.0}\n"), 5, 23, "optimizer.momentum",
                  "must be in [0, 1), got 1.0");
  EXPECT_ERROR_AT(error(std::string(kMinimal) + "data: {std: [0.2, 0]}\n"), 5, 19, "data.std",
                  "greater than 0");
  EXPECT_ERROR_AT(error(std::string(kMinimal) + "data: {min_scale: 0.5, max_scale: 0.4}\n"), 5, 35,
                  "data.max_scale", "must not exceed");
  EXPECT_ERROR_AT(error(std::string(kMinimal) + "data: {mean: [0.5]}\n"), 5, 14, "data.mean",
                  "data.mean has 1 values and data.std 3");
  EXPECT_ERROR_AT(error(std::string(kMinimal) + "checkpoint: {keep: 0}\n"), 5, 20, "checkpoint.keep",
                  "must be between 1 and 1000000, got 0");
}

TEST_F(ConfigTest, MissingRequiredKeys) {
  EXPECT_ERROR_AT(error("batch: 8\nsteps: 1\n"), 1, 1, "model.file", "missing required key");
  EXPECT_ERROR_AT(error("model: {name: m}\nbatch: 8\nsteps: 1\n"), 1, 8, "model.file", "missing required key");
  {
    ConfigError e = error("model: {file: models/m.snet}\nsteps: 1\n");
    EXPECT_EQ(e.loc().key, "batch");
    EXPECT_NE(std::string(e.what()).find("missing required key"), std::string::npos);
  }
  EXPECT_ERROR_AT(error("model: {file: models/m.snet}\nbatch: 8\n"), 1, 1, "steps", "missing required key");
  EXPECT_ERROR_AT(error(std::string(kMinimal) + "schedule: {kind: step}\n"), 5, 11, "schedule.step_size",
                  "missing required key");
  EXPECT_ERROR_AT(error(std::string(kMinimal) + "data: {kind: imagenet}\n"), 5, 7, "data.root",
                  "required for kind imagenet");
  EXPECT_ERROR_AT(error(std::string(kMinimal) + "memory: {policy: budget}\n"), 5, 9, "memory.budget",
                  "missing required key");
  EXPECT_ERROR_AT(error("model: {file: models/nope.snet}\nbatch: 8\nsteps: 1\n"), 1, 15, "model.file",
                  "no such file");
  // An empty file is a file with no keys.
  EXPECT_EQ(error("").loc().key, "model.file");
}

TEST_F(ConfigTest, StepsAndEpochsAreExclusive) {
  ConfigError e = error(std::string(kMinimal) + "epochs: 3\n");
  EXPECT_ERROR_AT(e, 5, 9, "epochs", "steps and epochs are exclusive");
  EXPECT_NE(std::string(e.what()).find("exp.yaml:4:8"), std::string::npos) << e.what();
}

TEST_F(ConfigTest, BadEnumsSizesAndDevices) {
  EXPECT_ERROR_AT(error(std::string(kMinimal) + "memory:\n  policy: sqr\n"), 6, 11, "memory.policy",
                  "expected one of none, drop-cheap, sqrt, log or budget, got 'sqr' (did you mean 'sqrt'?)");
  EXPECT_ERROR_AT(error(std::string(kMinimal) + "memory:\n  budget: 2 gigs\n"), 6, 11, "memory.budget",
                  "expected auto or a positive size such as 6GiB");
  EXPECT_ERROR_AT(error(std::string(kMinimal) + "memory: {policy: sqrt, budget: 1GiB}\n"), 5, 32, "memory.budget",
                  "only applies to policy budget");
  for (const char* bad : {"gpu", "'cuda:'", "cuda:x", "cuda:-1", "cuda:+1", "CPU"})
    EXPECT_ERROR_AT(error(std::string(kMinimal) + "device: " + bad + "\n"), 5, 9, "device",
                    "expected cpu, cuda or cuda:N");
  EXPECT_EQ(load(std::string(kMinimal) + "device: cuda\n").device.str(), "cuda:0");
  EXPECT_ERROR_AT(error(std::string(kMinimal) + "optimizer: {kind: adam, momentum: 0.9}\n"), 5, 35,
                  "optimizer.momentum", "applies to optimizer.kind sgd only");
  EXPECT_ERROR_AT(error(std::string(kMinimal) + "optimizer: {beta1: 0.9}\n"), 5, 20, "optimizer.beta1",
                  "applies to optimizer.kind adam and adamw only");
  EXPECT_ERROR_AT(error(std::string(kMinimal) + "optimizer: {momentum: 0, nesterov: true}\n"), 5, 36,
                  "optimizer.nesterov", "needs optimizer.momentum > 0");
  EXPECT_ERROR_AT(error(std::string(kMinimal) + "schedule: {min_lr: 0.01}\n"), 5, 20, "schedule.min_lr",
                  "applies to schedule.kind cosine only");
  EXPECT_ERROR_AT(error(std::string(kMinimal) + "data: {kind: imagnet}\n"), 5, 14, "data.kind",
                  "got 'imagnet' (did you mean 'imagenet'?)");
}

TEST_F(ConfigTest, YamlSyntaxAndDuplicates) {
  ConfigError e = error("model: {file: models/m.snet\nbatch: 8\n");
  EXPECT_GT(e.loc().line, 0);
  EXPECT_NE(std::string(e.what()).find("YAML syntax"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("exp.yaml:"), std::string::npos) << e.what();
  EXPECT_ERROR_AT(error(std::string(kMinimal) + "batch: 16\n"), 5, 1, "batch", "duplicate key (first set at line 3)");
  EXPECT_ERROR_AT(error("- 1\n- 2\n"), 1, 1, "", "expected a map of keys at the top level");
  try {
    load_experiment(dir_.file("absent.yaml"));
    ADD_FAILURE();
  } catch (const ConfigError& m) {
    EXPECT_NE(std::string(m.what()).find("absent.yaml: error: cannot read the file"), std::string::npos) << m.what();
  }
}

TEST_F(ConfigTest, Overrides) {
  const std::string base =
      "model:\n  file: models/m.snet\n  params:\n    depth: 20\n    width: 1\nbatch: 8\nsteps: 10\n"
      "optimizer:\n  lr: 0.1\n";
  ExperimentConfig c = load(base, {"optimizer.lr=0.5", "data.mean=[0.5,0.5,0.5]", "data.std=[1, 1, 1]",
                                   "model.params.depth=50", "model.params.act=relu", "checkpoint.every=100",
                                   "batch = 32", "memory.policy=sqrt", "device=cuda:2"});
  EXPECT_DOUBLE_EQ(c.optimizer.lr, 0.5);
  EXPECT_EQ(c.data.mean, (std::vector<double>{0.5, 0.5, 0.5}));
  EXPECT_EQ(c.data.std, (std::vector<double>{1, 1, 1}));
  EXPECT_EQ(c.model.set_args(), (std::vector<std::string>{"depth=50", "width=1", "act=relu"}));
  EXPECT_EQ(c.checkpoint.every, 100);
  EXPECT_EQ(c.batch, 32);
  EXPECT_EQ(c.memory.policy, "sqrt");
  EXPECT_EQ(c.device.str(), "cuda:2");
  EXPECT_EQ(c.loc("optimizer.lr").file, "--set");
  EXPECT_EQ(c.loc("model.params.width").line, 5);  // untouched keys keep their YAML lines
  EXPECT_EQ(c.overrides.size(), 9u);

  // Errors in overridden values name --set and quote the override.
  ConfigError typo = error(base, {"optimzer.lr=0.1"});
  EXPECT_EQ(typo.loc().file, "--set");
  EXPECT_EQ(typo.loc().key, "optimzer");
  EXPECT_NE(std::string(typo.what()).find("did you mean 'optimizer'?"), std::string::npos) << typo.what();
  EXPECT_NE(std::string(typo.what()).find("--set optimzer.lr=0.1"), std::string::npos) << typo.what();
  ConfigError nested = error(base, {"optimizer.lr_decay=0.1"});
  EXPECT_EQ(nested.loc().file, "--set");
  EXPECT_EQ(nested.loc().key, "optimizer.lr_decay");
  ConfigError type = error(base, {"batch=abc"});
  EXPECT_EQ(type.loc().file, "--set");
  EXPECT_EQ(type.loc().key, "batch");
  EXPECT_NE(std::string(type.what()).find("expected an integer, got 'abc' (from --set batch=abc)"),
            std::string::npos)
      << type.what();
  EXPECT_EQ(error(base, {"data.mean=[0.5,"}).loc().file, "--set");
  EXPECT_NE(std::string(error(base, {"batch"}).what()).find("expected key=value"), std::string::npos);
  EXPECT_NE(std::string(error(base, {"a..b=1"}).what()).find("empty key segment"), std::string::npos);
  // Through a scalar: the error points at the YAML line of the scalar.
  ConfigError through = error(base, {"batch.size=3"});
  EXPECT_EQ(through.loc().line, 6);
  EXPECT_NE(std::string(through.what()).find("not a section"), std::string::npos) << through.what();
  // Both steps and epochs, one of them from --set.
  ConfigError both = error(base, {"epochs=2"});
  EXPECT_EQ(both.loc().file, "--set");
  EXPECT_EQ(both.loc().key, "epochs");
  // An override can also fill a section written empty in the file.
  EXPECT_EQ(load(std::string(kMinimal) + "memory:\n", {"memory.inplace=false"}).memory.inplace, false);
}

TEST_F(ConfigTest, RelativePaths) {
  dir_.write("sub/models/n.snet", "model n { }\n");
  const std::string yaml = "model: {file: models/n.snet}\nbatch: 1\nsteps: 1\n"
                           "data: {kind: text, path: ../corpus.txt}\nrun_dir: /abs/run\n";
  ExperimentConfig c = load_experiment(dir_.write("sub/e.yaml", yaml));
  EXPECT_EQ(c.dir, (dir_.path() / "sub").string());
  EXPECT_EQ(c.model.file, (dir_.path() / "sub/models/n.snet").string());
  EXPECT_EQ(c.data.path, (dir_.path() / "corpus.txt").string());
  EXPECT_EQ(c.run_dir, "/abs/run");
  EXPECT_EQ(c.checkpoint.dir, "/abs/run/checkpoints");
  // From --set, relative to the working directory.
  ExperimentConfig o = load_experiment(dir_.file("sub/e.yaml"), {"data.path=x/y.txt"});
  EXPECT_EQ(o.data.path, (fs::current_path() / "x/y.txt").string());
  ExperimentConfig m = load_experiment(dir_.file("sub/e.yaml"), {"model.file=" + dir_.file("models/m.snet")});
  EXPECT_EQ(m.model.file, dir_.file("models/m.snet"));
}

TEST_F(ConfigTest, EpochsNeedAnEpochSize) {
  ExperimentConfig c = load("model: {file: models/m.snet}\nbatch: 32\nepochs: 1\n");
  EXPECT_EQ(c.total_steps(100), 4);  // ceil(100 / 32)
  EXPECT_EQ(c.total_steps(96), 3);
  try {
    c.total_steps(0);
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.loc().key, "epochs");
    EXPECT_EQ(e.loc().line, 3);
    EXPECT_NE(std::string(e.what()).find("give steps instead"), std::string::npos) << e.what();
  }
}

TEST_F(ConfigTest, ResolvedYamlReadsBackTheSame) {
  const std::string yaml =
      "model: {file: models/m.snet, params: {depth: 56, tag: 'a b'}}\nbatch: 64\nsteps: 300\nseed: 7\n"
      "data: {mean: [0.1, 0.2], std: [0.3, 0.7]}\nmemory: {budget: 1.5GB}\n"
      "optimizer: {kind: adam, lr: 3e-4, beta2: 0.98, weight_decay: 0.01}\n"
      "schedule: {kind: step, step_size: 100, gamma: 0.5, warmup_steps: 10}\n";
  ExperimentConfig a = load(yaml);
  const std::string resolved = a.to_yaml();
  ExperimentConfig b = load_experiment(dir_.write("copy/config.yaml", resolved));
  EXPECT_EQ(a.to_json().dump(), b.to_json().dump()) << resolved;
  EXPECT_EQ(a.hash(), b.hash());
  EXPECT_EQ(a.to_json()["optimizer"]["lr"].get<double>(), 3e-4);
  EXPECT_EQ(a.to_json()["memory"]["budget"].get<int64_t>(), 1500000000);

  // The hash follows the math, not where the run's files go.
  EXPECT_EQ(load(yaml, {"run_dir=/elsewhere", "checkpoint.every=5", "memory.policy=sqrt", "memory.budget=null"})
                .hash(),
            a.hash());
  EXPECT_NE(load(yaml, {"optimizer.lr=1e-3"}).hash(), a.hash());
  EXPECT_NE(load(yaml, {"seed=8"}).hash(), a.hash());
}

}  // namespace
}  // namespace sublinear::runtime::train
