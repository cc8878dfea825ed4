// `sublinear train` end to end, through the real binary: the plan summary, metrics.jsonl, --set
// overrides (a memory policy changes the arena, never the losses), user errors with locations, and a
// run killed with SIGKILL and resumed with --resume that ends bitwise where an uninterrupted run ends.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "runtime/cuda_backend.h"
#include "runtime/checkpoint.h"

extern char** environ;

namespace sublinear::testing {
namespace {

namespace fs = std::filesystem;

struct CommandResult {
  int code = -1;
  std::string output;  // stdout and stderr
};

// `env` is prefixed to the command: variable assignments such as "LD_DEBUG=files".
CommandResult run(const std::string& args, const std::string& env = "") {
  CommandResult r;
  std::string cmd = env + (env.empty() ? "" : " ") + std::string(SUBLINEAR_CLI) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int st = pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("sublinear_train_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string mlp_yaml(int steps, int ckpt_every) {
  std::ostringstream y;
  y << "model:\n"
    << "  file: " << SUBLINEAR_SOURCE_DIR << "/examples/mlp.snet\n"
    << "  params: {features: 16, hidden: 32, classes: 4, dropout_rate: 0.3}\n"
    << "batch: 16\n"
    << "device: cpu\n"
    << "seed: 11\n"
    << "data:\n  kind: synthetic\n"
    << "memory:\n  policy: none\n"
    << "optimizer:\n  kind: sgd\n  lr: 0.05\n  momentum: 0.9\n"
    << "steps: " << steps << "\n"
    << "log:\n  every: 1\n"
    << "checkpoint:\n  every: " << ckpt_every << "\n  keep: 2\n";
  return y.str();
}

fs::path write(const fs::path& p, const std::string& text) {
  std::ofstream(p) << text;
  return p;
}

std::vector<nlohmann::json> read_metrics(const fs::path& p) {
  std::vector<nlohmann::json> out;
  std::ifstream in(p);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

// The loss exactly as written (round-trip text), per step.
std::vector<std::string> losses(const fs::path& metrics) {
  std::vector<std::string> out;
  std::ifstream in(metrics);
  std::string line;
  while (std::getline(in, line)) {
    auto k = line.find("\"loss\":");
    if (k == std::string::npos) continue;
    auto e = line.find_first_of(",}", k);
    out.push_back(line.substr(k + 7, e - k - 7));
  }
  return out;
}

TEST(TrainCli, TrainsAndWritesMetrics) {
  auto d = temp_dir("metrics");
  auto y = write(d / "exp.yaml", mlp_yaml(12, 0));
  auto r = run("train " + y.string() + " --run-dir " + (d / "run").string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("memory plan"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("feature maps"), std::string::npos) << r.output;
  auto m = read_metrics(d / "run" / "metrics.jsonl");
  ASSERT_EQ(m.size(), 12u);
  for (const char* key : {"step", "loss", "samples_per_s", "arena_peak_bytes", "planned_arena_bytes"})
    EXPECT_TRUE(m[0].contains(key)) << key;
  EXPECT_EQ(m.back()["step"], 12);
  EXPECT_EQ(m.back()["arena_peak_bytes"], m.back()["planned_arena_bytes"]);
  EXPECT_GT(m.back()["planned_arena_bytes"].get<int64_t>(), 0);
  EXPECT_TRUE(fs::exists(d / "run" / "config.yaml"));
}

// The dynamic loader's record (LD_DEBUG=files) of every shared object a run opened: a CPU run must
// open no CUDA library, since the CUDA backend is a plug-in opened only when a CUDA device is asked for.
bool opened_cuda_library(const std::string& ld_debug_output) {
  for (const char* lib : {"libcudart", "libcublas", "libcudnn", "libsublinear_cuda_backend"})
    if (ld_debug_output.find(std::string("file=") + lib) != std::string::npos ||
        ld_debug_output.find(std::string("/") + lib) != std::string::npos)
      return true;
  return false;
}

TEST(TrainCli, CpuRunsNeverLoadTheCudaLibraries) {
  auto d = temp_dir("no_cuda");
  auto y = write(d / "exp.yaml", mlp_yaml(2, 0));
  auto train = run("train " + y.string() + " --run-dir " + (d / "run").string(), "LD_DEBUG=files");
  ASSERT_EQ(train.code, 0) << train.output;
  ASSERT_NE(train.output.find("file="), std::string::npos) << "LD_DEBUG printed nothing: " << train.output;
  EXPECT_FALSE(opened_cuda_library(train.output)) << train.output;
  auto check = run(std::string("check ") + SUBLINEAR_SOURCE_DIR + "/examples/gpt.snet", "LD_DEBUG=files");
  ASSERT_EQ(check.code, 0) << check.output;
  EXPECT_FALSE(opened_cuda_library(check.output)) << check.output;
  // --version asks for the devices: with the backend built, the plug-in loads (every symbol resolves)
  // and brings the CUDA libraries, GPU or not.
  auto version = run("--version", "LD_DEBUG=files");
  ASSERT_EQ(version.code, 0) << version.output;
  if (runtime::cuda_backend_built()) {
    EXPECT_TRUE(opened_cuda_library(version.output)) << version.output;
    EXPECT_NE(version.output.find("cuda (runtime "), std::string::npos) << version.output;
  } else {
    EXPECT_NE(version.output.find("cuda: not compiled in"), std::string::npos) << version.output;
  }
}

TEST(TrainCli, AMissingOrForeignCudaPluginIsAnErrorNamingIt) {
  if (!runtime::cuda_backend_built()) GTEST_SKIP() << "this build has no CUDA backend";
  auto d = temp_dir("plugin");
  std::string yaml = mlp_yaml(2, 0);
  yaml.replace(yaml.find("device: cpu"), 11, "device: cuda:0");
  auto y = write(d / "exp.yaml", yaml);
  auto missing = run("train " + y.string() + " --run-dir " + (d / "run").string(),
                     "SUBLINEAR_CUDA_BACKEND=" + (d / "nowhere.so").string());
  EXPECT_EQ(missing.code, 1) << missing.output;
  EXPECT_NE(missing.output.find("device cuda:0: the CUDA backend (libsublinear_cuda_backend.so) is not where"),
            std::string::npos)
      << missing.output;
  EXPECT_NE(missing.output.find((d / "nowhere.so").string()), std::string::npos) << missing.output;
  EXPECT_NE(missing.output.find("exp.yaml:"), std::string::npos) << "no location: " << missing.output;
  // A shared object that is not the plug-in (the C maths library).
  auto foreign = run("--version", "SUBLINEAR_CUDA_BACKEND=/lib/x86_64-linux-gnu/libm.so.6");
  EXPECT_EQ(foreign.code, 0) << foreign.output;
  EXPECT_NE(foreign.output.find("has no sublinear_cuda_backend_api: not a sublinear plug-in"), std::string::npos)
      << foreign.output;
}

TEST(TrainCli, PoliciesChangeMemoryNotLosses) {
  auto d = temp_dir("policies");
  auto y = write(d / "exp.yaml", mlp_yaml(6, 0));
  std::vector<std::vector<std::string>> runs;
  std::vector<int64_t> arenas;
  for (const char* policy : {"none", "sqrt", "log"}) {
    const fs::path rd = d / policy;
    auto r = run("train " + y.string() + " --quiet --set memory.policy=" + policy + " --run-dir " + rd.string());
    ASSERT_EQ(r.code, 0) << r.output;
    runs.push_back(losses(rd / "metrics.jsonl"));
    arenas.push_back(read_metrics(rd / "metrics.jsonl").back()["planned_arena_bytes"].get<int64_t>());
  }
  ASSERT_EQ(runs[0].size(), 6u);
  EXPECT_EQ(runs[1], runs[0]);
  EXPECT_EQ(runs[2], runs[0]);
  EXPECT_LT(arenas[2], arenas[0]);
}

// Fusion is on by default and says so; --no-fusion, memory.fusion: false and plan --no-fusion turn it
// off; the losses are the same bits either way (the cnn example has batch_norm + relu and dropout).
TEST(TrainCli, FusionIsOnByDefaultAndChangesNoLoss) {
  auto d = temp_dir("fusion");
  std::ostringstream y;
  y << "model:\n  file: " << SUBLINEAR_SOURCE_DIR << "/examples/cnn.snet\n"
    << "  params: {width: 4, image_size: 8, classes: 5}\n"
    << "batch: 4\ndevice: cpu\nseed: 3\ndata:\n  kind: synthetic\nmemory:\n  policy: drop-cheap\n"
    << "optimizer:\n  kind: sgd\n  lr: 0.05\nsteps: 4\nlog:\n  every: 1\n";
  auto exp = write(d / "exp.yaml", y.str());
  auto fused = run("train " + exp.string() + " --run-dir " + (d / "fused").string());
  ASSERT_EQ(fused.code, 0) << fused.output;
  EXPECT_NE(fused.output.find("fusion: 5 batch_norm + relu pairs fused"), std::string::npos) << fused.output;
  auto flag = run("train " + exp.string() + " --no-fusion --run-dir " + (d / "flag").string());
  ASSERT_EQ(flag.code, 0) << flag.output;
  EXPECT_EQ(flag.output.find("fusion:"), std::string::npos) << flag.output;
  auto key = run("train " + exp.string() + " --quiet --set memory.fusion=false --run-dir " + (d / "key").string());
  ASSERT_EQ(key.code, 0) << key.output;
  const auto want = losses(d / "fused" / "metrics.jsonl");
  ASSERT_EQ(want.size(), 4u);
  EXPECT_EQ(losses(d / "flag" / "metrics.jsonl"), want);
  EXPECT_EQ(losses(d / "key" / "metrics.jsonl"), want);
  const std::string model = std::string(SUBLINEAR_SOURCE_DIR) + "/examples/cnn.snet --batch 4 --set width=4 --set image_size=8";
  auto plan = run("plan " + model), plain = run("plan " + model + " --no-fusion");
  ASSERT_EQ(plan.code, 0) << plan.output;
  ASSERT_EQ(plain.code, 0) << plain.output;
  EXPECT_NE(plan.output.find("5 batch_norm + relu pairs fused"), std::string::npos) << plan.output;
  EXPECT_EQ(plain.output.find("pairs fused"), std::string::npos) << plain.output;
  auto bad = run("train " + exp.string() + " --quiet --set memory.fusion=maybe --run-dir " + (d / "bad").string());
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.output.find("memory.fusion"), std::string::npos) << bad.output;
}

// --profile writes every computing node's measured times; plan --costs and memory.costs read them back,
// cost recomputation in time, and the losses stay those of keeping everything.
TEST(TrainCli, ProfileFeedsThePlannerItsCosts) {
  auto d = temp_dir("profile");
  auto y = write(d / "exp.yaml", mlp_yaml(4, 0));
  auto r = run("train " + y.string() + " --profile --run-dir " + (d / "run").string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("profile: "), std::string::npos) << r.output;
  std::ifstream in(d / "run" / "profile.json");
  ASSERT_TRUE(in);
  const nlohmann::json prof = nlohmann::json::parse(in);
  EXPECT_EQ(prof["format"], "sublinear profile 1");
  EXPECT_EQ(prof["model"], "mlp");
  EXPECT_EQ(prof["batch"], 16);
  EXPECT_EQ(prof["steps_measured"], 3);  // the first step is a warm-up
  ASSERT_GT(prof["nodes"].size(), 5u);
  double total = 0;
  for (const auto& n : prof["nodes"]) {
    ASSERT_TRUE(n["forward_seconds"].is_number()) << n.dump();
    EXPECT_GE(n["forward_seconds"].get<double>(), 0.0);
    EXPECT_TRUE(n["recompute_seconds"].is_null()) << n.dump();  // policy none recomputes nothing
    total += n["forward_seconds"].get<double>();
  }
  EXPECT_GT(total, 0.0);

  const std::string model = std::string(SUBLINEAR_SOURCE_DIR) + "/examples/mlp.snet --batch 16 --set features=16 "
                            "--set hidden=32 --set classes=4 --set dropout_rate=0.3";
  auto p = run("plan " + model + " --policy sqrt --json --costs " + (d / "run" / "profile.json").string());
  ASSERT_EQ(p.code, 0) << p.output;
  const nlohmann::json plan = nlohmann::json::parse(p.output);
  EXPECT_EQ(plan["cost_unit"], "ns");
  EXPECT_GT(plan["forward_cost"].get<int64_t>(), 0);
  auto f = run("plan " + model + " --frontier --costs " + (d / "run" / "profile.json").string());
  ASSERT_EQ(f.code, 0) << f.output;
  EXPECT_NE(f.output.find("recompute ns"), std::string::npos) << f.output;
  EXPECT_NE(f.output.find("recomputed forward time (measured"), std::string::npos) << f.output;

  // Another batch is not this profile's: an error at the file that says how to measure again.
  auto bad = run("plan " + std::string(SUBLINEAR_SOURCE_DIR) + "/examples/mlp.snet --batch 8 --set features=16 "
                 "--set hidden=32 --set classes=4 --costs " + (d / "run" / "profile.json").string());
  EXPECT_EQ(bad.code, 1) << bad.output;
  EXPECT_NE(bad.output.find("measured at batch 16, this plan is for batch 8"), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("--profile"), std::string::npos) << bad.output;

  // memory.costs in an experiment: a budget planned in time, losses bitwise those of keeping everything.
  auto keep = run("train " + y.string() + " --quiet --run-dir " + (d / "keep").string());
  ASSERT_EQ(keep.code, 0) << keep.output;
  auto costed = run("train " + y.string() + " --set memory.policy=sqrt --set memory.costs=" +
                    (d / "run" / "profile.json").string() + " --run-dir " + (d / "costed").string());
  ASSERT_EQ(costed.code, 0) << costed.output;
  EXPECT_NE(costed.output.find("costed by measured time"), std::string::npos) << costed.output;
  EXPECT_EQ(losses(d / "costed" / "metrics.jsonl"), losses(d / "keep" / "metrics.jsonl"));
}

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in, nullptr, false);
}

// run_dir/plan.json records the plan a start of the run trains with and the budget it was asked for; an
// auto budget with what it resolved to on this machine. A resumed start replaces it.
TEST(TrainCli, PlanRecordNamesTheResolvedBudget) {
  auto d = temp_dir("plan_record");
  auto y = write(d / "exp.yaml", mlp_yaml(4, 2));
  auto fixed = run("train " + y.string() + " --quiet --set memory.policy=sqrt --run-dir " + (d / "sqrt").string());
  ASSERT_EQ(fixed.code, 0) << fixed.output;
  const auto j = read_json(d / "sqrt" / "plan.json");
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["policy"], "sqrt");
  EXPECT_EQ(j["start_step"], 0);
  EXPECT_FALSE(j.contains("memory_budget"));
  EXPECT_EQ(j["feature_map_peak_bytes"], read_metrics(d / "sqrt" / "metrics.jsonl").back()["planned_arena_bytes"]);
  EXPECT_FALSE(j["plan_fingerprint"].get<std::string>().empty());
  EXPECT_FALSE(fs::exists(d / "sqrt" / "plan.json.tmp"));

  auto budget = run("train " + y.string() + " --quiet --set memory.policy=budget --set memory.budget=100MiB --run-dir " + (d / "budget").string());
  ASSERT_EQ(budget.code, 0) << budget.output;
  const auto b = read_json(d / "budget" / "plan.json");
  EXPECT_EQ(b["memory_budget"]["requested"], 100 << 20);
  EXPECT_EQ(b["memory_budget"]["bytes"], 100 << 20);
  EXPECT_LE(b["total_peak_bytes"].get<int64_t>(), 100 << 20);

  auto aut = run("train " + y.string() + " --set memory.policy=budget --set memory.budget=auto --run-dir " + (d / "auto").string());
  ASSERT_EQ(aut.code, 0) << aut.output;
  const auto a = read_json(d / "auto" / "plan.json");
  EXPECT_EQ(a["memory_budget"]["requested"], "auto");
  const int64_t bytes = a["memory_budget"]["bytes"].get<int64_t>(), free = a["memory_budget"]["free_bytes"].get<int64_t>();
  EXPECT_GT(bytes, 0);
  EXPECT_EQ(bytes, static_cast<int64_t>(static_cast<double>(free) * a["memory_budget"]["share_of_free"].get<double>()));
  EXPECT_LE(a["total_peak_bytes"].get<int64_t>(), bytes);
  EXPECT_FALSE(a["memory_budget"]["free_from"].get<std::string>().empty());
  // The summary printed the same resolution.
  EXPECT_NE(aut.output.find("memory.budget auto:"), std::string::npos) << aut.output;

  auto resumed = run("train " + y.string() + " --quiet --resume --steps 6 --set memory.policy=sqrt --run-dir " +
                     (d / "sqrt").string());
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_EQ(read_json(d / "sqrt" / "plan.json")["start_step"], 4);
}

// A batch no machine holds was an internal error ("this is a bug in sublinear") from the arena
// allocation; it is the user's to change, said before anything is allocated, at the batch key.
TEST(TrainCli, APlanLargerThanTheMachineIsAUserErrorAtTheBatch) {
  auto d = temp_dir("huge_batch");
  auto y = write(d / "exp.yaml", mlp_yaml(2, 0));
  auto r = run("train " + y.string() + " --quiet --set batch=2000000000 --run-dir " + (d / "run").string());
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_EQ(r.output.find("internal error"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("error: batch: the memory plan needs"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("lower batch, or set memory.budget"), std::string::npos) << r.output;
}

// Counts on the command line: 0, negative, not a number and beyond int64 exit 1 with a plain message
// (CLI11 exited 105 with a 300-digit bound, and clamped an overflow to 2^63 - 1 silently).
TEST(TrainCli, CountFlagsSayWhatIsWrong) {
  const std::string model = std::string(SUBLINEAR_SOURCE_DIR) + "/examples/mlp.snet";
  for (const std::string bad : {"0", "-1", "abc", "99999999999999999999"}) {
    auto r = run("check " + model + " --batch " + bad);
    EXPECT_EQ(r.code, 1) << bad << ": " << r.output;
    EXPECT_NE(r.output.find("--batch: must be a positive integer"), std::string::npos) << r.output;
    EXPECT_LT(r.output.size(), 200u) << r.output;
  }
  auto steps = run("train " + std::string(SUBLINEAR_SOURCE_DIR) + "/examples/quickstart.yaml --steps 0");
  EXPECT_EQ(steps.code, 1) << steps.output;
  EXPECT_NE(steps.output.find("--steps: must be a positive integer, got '0'"), std::string::npos) << steps.output;
  EXPECT_EQ(run("check " + model + " --batch 4").code, 0);
  EXPECT_EQ(run("--help").code, 0);
}

// Errors about what an experiment file says point at the file, line and key, not at the command line;
// paths that are not files say what they are; an unusable run directory is found before planning.
TEST(TrainCli, ExperimentMistakesPointAtTheFileAndKey) {
  auto d = temp_dir("file_errors");
  std::string base = mlp_yaml(2, 0);
  auto bad_param = write(d / "param.yaml", base + "");
  {
    std::string y = base;
    y.replace(y.find("classes: 4"), 10, "classes: three");
    write(d / "param.yaml", y);
  }
  auto r = run("train " + bad_param.string() + " --quiet --run-dir " + (d / "r1").string());
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("param.yaml:3:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("model.params.classes = three: 'classes' is an int param"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("<command line>"), std::string::npos) << r.output;

  auto budget = write(d / "budget.yaml", std::string(base).replace(base.find("memory:\n  policy: none"), 22,
                                                                    "memory:\n  budget: 1B"));
  r = run("train " + budget.string() + " --quiet --run-dir " + (d / "r2").string());
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("budget.yaml:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("memory.budget 1 B cannot be met"), std::string::npos) << r.output;

  for (const std::string& path : std::vector<std::string>{"/dev/zero", d.string()}) {
    std::string y = base;
    const size_t at = y.find("file: ") + 6;
    y.replace(at, y.find('\n', at) - at, path);
    auto f = write(d / "file.yaml", y);
    r = run("train " + f.string() + " --quiet --run-dir " + (d / "r3").string());
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_NE(r.output.find(path == "/dev/zero" ? "is not a regular file" : "is a directory"), std::string::npos)
        << r.output;
  }
  auto dir = run("check " + d.string());
  EXPECT_EQ(dir.code, 1) << dir.output;
  EXPECT_NE(dir.output.find("is a directory, not a .snet file"), std::string::npos) << dir.output;

  auto ok = write(d / "ok.yaml", base);
  r = run("train " + ok.string() + " --run-dir /dev/null/run");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("run_dir: cannot use '/dev/null/run' as the run directory"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("memory plan"), std::string::npos) << "planned before finding out:\n" << r.output;
}

TEST(TrainCli, StepsOverrideAndModelParamOverride) {
  auto d = temp_dir("overrides");
  auto y = write(d / "exp.yaml", mlp_yaml(50, 0));
  auto r = run("train " + y.string() + " --quiet --steps 3 --set model.params.hidden=8 --set optimizer.lr=0.01"
               " --run-dir " + (d / "run").string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(read_metrics(d / "run" / "metrics.jsonl").size(), 3u);
}

TEST(TrainCli, UnknownKeyNamesFileLineAndKey) {
  auto d = temp_dir("badkey");
  std::string text = mlp_yaml(3, 0);
  text.replace(text.find("  lr: 0.05"), 10, "  lrr: 0.05");
  auto y = write(d / "exp.yaml", text);
  auto r = run("train " + y.string() + " --run-dir " + (d / "run").string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("exp.yaml:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("lrr"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("lr"), std::string::npos) << r.output;
}

TEST(TrainCli, ModelErrorsPointIntoTheDsl) {
  auto d = temp_dir("badmodel");
  auto model = write(d / "bad.snet", "snet 1;\nmodel m(x: f32[N, 4], labels: i32[N]) -> (loss) {\n"
                                     "  loss = softmax_cross_entropy(linear(x, units=3), labelz);\n}\n");
  std::string text = mlp_yaml(3, 0);
  text.replace(text.find("  file: "), text.find("\n", text.find("  file: ")) - text.find("  file: "),
               "  file: bad.snet");
  text.replace(text.find("  params:"), text.find("\n", text.find("  params:")) - text.find("  params:"),
               "  params: {}");
  auto y = write(d / "exp.yaml", text);
  auto r = run("train " + y.string() + " --run-dir " + (d / "run").string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("bad.snet:3:"), std::string::npos) << r.output;
}

TEST(TrainCli, MissingImagenetRootSaysHowToRunWithout) {
  auto d = temp_dir("noroot");
  std::ostringstream y;
  y << "model:\n  file: " << SUBLINEAR_SOURCE_DIR << "/examples/resnet.snet\n"
    << "  params: {depth: 20, image_size: 32, classes: 5}\n"
    << "batch: 2\ndata:\n  kind: imagenet\n  root: /nonexistent/imagenet/train\n"
    << "optimizer: {kind: sgd, lr: 0.1}\nsteps: 1\n";
  auto p = write(d / "exp.yaml", y.str());
  auto r = run("train " + p.string() + " --quiet --run-dir " + (d / "run").string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("data.root"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("data.kind=synthetic"), std::string::npos) << r.output;
  // The documented way out works.
  auto ok = run("train " + p.string() + " --quiet --set data.kind=synthetic --run-dir " + (d / "run").string());
  EXPECT_EQ(ok.code, 0) << ok.output;
}

TEST(TrainCli, KilledRunResumesBitwise) {
  auto d = temp_dir("resume");
  // Long enough that the kill lands mid-run: checkpoints every 20 steps, about a second in all.
  const int kSteps = 2000;
  auto y = write(d / "exp.yaml", mlp_yaml(kSteps, 20));
  // The uninterrupted run.
  auto full = run("train " + y.string() + " --quiet --run-dir " + (d / "full").string());
  ASSERT_EQ(full.code, 0) << full.output;

  // The same run, killed with SIGKILL once a checkpoint exists.
  const fs::path part = d / "part";
  std::vector<std::string> args = {SUBLINEAR_CLI, "train", y.string(), "--quiet", "--run-dir", part.string()};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, SUBLINEAR_CLI, nullptr, nullptr, argv.data(), environ), 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool killed = false;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!runtime::train::list_checkpoints((part / "checkpoints").string()).empty()) {
      kill(pid, SIGKILL);
      killed = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(killed) << "no checkpoint appeared";
  if (WIFEXITED(status)) GTEST_SKIP() << "the run finished before it could be killed";
  auto latest = runtime::train::latest_checkpoint((part / "checkpoints").string());
  ASSERT_TRUE(latest.has_value());
  auto resumed = run("train " + y.string() + " --quiet --resume --run-dir " + part.string());
  ASSERT_EQ(resumed.code, 0) << resumed.output;

  EXPECT_EQ(losses(part / "metrics.jsonl"), losses(d / "full" / "metrics.jsonl"));
  auto a = runtime::train::read_checkpoint(*runtime::train::latest_checkpoint((d / "full" / "checkpoints").string()));
  auto b = runtime::train::read_checkpoint(*runtime::train::latest_checkpoint((part / "checkpoints").string()));
  EXPECT_EQ(a.step, kSteps);
  EXPECT_EQ(b.step, kSteps);
  ASSERT_EQ(a.contents.blobs.size(), b.contents.blobs.size());
  for (size_t i = 0; i < a.contents.blobs.size(); ++i) {
    const auto& x = a.contents.blobs[i];
    const auto* y2 = b.contents.find(x.name);
    ASSERT_NE(y2, nullptr) << x.name;
    ASSERT_EQ(x.size, y2->size) << x.name;
    EXPECT_EQ(0, std::memcmp(x.data, y2->data, x.size)) << x.name << " differs after resume";
  }
  EXPECT_EQ(a.contents.data_state, b.contents.data_state);
}

}  // namespace
}  // namespace sublinear::testing
