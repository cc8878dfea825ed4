// Generated trainers end to end: `sublinear compile` on an experiment, then the trainer against
// `sublinear train` on the same experiment: the losses (as logged) and the final checkpoint (every blob,
// byte for byte, and the plan fingerprint) must be equal. The MLP runs with dropout (masks keyed by
// node id and step), the CNN with policy sqrt (recompute steps in the generated code) and batch norm,
// the LSTM with policy log (weights shared over time: accumulated parameter gradients, split/concat).
// Each trainer is compiled once per test process, when a test first needs it (several at once), so the
// whole binary compiles three and ctest's one-test processes compile only what their test runs.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include <cstring>
#include <map>
#include <thread>
#include <vector>

#include "runtime/checkpoint.h"
#include "tests/codegen/codegen_test_util.h"

namespace sublinear::testing {
namespace {

class CompiledTrainers : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(temp_dir("trainers"));
    write_file(*dir_ / "mlp.yaml",
               experiment_yaml("examples/mlp.snet", "{features: 12, hidden: 16, classes: 5, dropout_rate: 0.3}", 8,
                               "none"));
    write_file(*dir_ / "cnn.yaml",
               experiment_yaml("examples/cnn.snet", "{width: 4, image_size: 8, classes: 5}", 4, "sqrt"));
    write_file(*dir_ / "lstm.yaml",
               experiment_yaml("examples/lstm.snet", "{layers: 2, hidden: 8, seq_len: 6, classes: 7, input_dim: 3}", 2,
                               "log"));
    // The CNN again, on a GPU: `sublinear compile` takes the backend from the experiment's device.
    std::string cnn_cuda = experiment_yaml("examples/cnn.snet", "{width: 4, image_size: 8, classes: 5}", 4, "sqrt");
    const std::string cpu = "device: cpu\n";
    cnn_cuda.replace(cnn_cuda.find(cpu), cpu.size(), "device: cuda:0\ndeterministic: true\n");
    write_file(*dir_ / "cnn_cuda.yaml", cnn_cuda);
    built_ = new std::map<std::string, CommandResult>;
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
    delete built_;
  }

  // The `sublinear compile` results of these trainers, compiling (in parallel) those not built yet.
  static std::vector<const CommandResult*> build(const std::vector<std::string>& names) {
    std::vector<std::string> missing;
    for (const auto& n : names)
      if (!built_->count(n)) missing.push_back(n);
    std::vector<CommandResult> results(missing.size());
    std::vector<std::thread> threads;
    for (size_t i = 0; i < missing.size(); ++i)
      threads.emplace_back([&results, &missing, i] { results[i] = run_cli(compile_args(missing[i])); });
    for (auto& t : threads) t.join();
    for (size_t i = 0; i < missing.size(); ++i) (*built_)[missing[i]] = results[i];
    std::vector<const CommandResult*> out;
    for (const auto& n : names) out.push_back(&built_->at(n));
    return out;
  }
  static const CommandResult& build(const std::string& name) { return *build(std::vector<std::string>{name})[0]; }

  static std::string compile_args(const std::string& name) {
    return "compile " + (*dir_ / (name + ".yaml")).string() + " -o " + (*dir_ / name).string();
  }
  static fs::path yaml(const std::string& name) { return *dir_ / (name + ".yaml"); }
  static fs::path trainer(const std::string& name) { return *dir_ / name; }

  // Runs the trainer and `sublinear train` on the experiment into fresh run folders and checks they agree.
  static void expect_bitwise_equal(const std::string& name) {
    const fs::path a = *dir_ / (name + "-generated"), b = *dir_ / (name + "-interpreted");
    auto gen = run_command(trainer(name).string() + " " + yaml(name).string() + " --quiet --steps 5 --run-dir " +
                           a.string());
    ASSERT_EQ(gen.code, 0) << gen.output;
    auto ref = run_cli("train " + yaml(name).string() + " --quiet --steps 5 --run-dir " + b.string());
    ASSERT_EQ(ref.code, 0) << ref.output;

    const auto losses = logged(a / "metrics.jsonl", "loss");
    ASSERT_EQ(losses.size(), 5u);
    EXPECT_EQ(losses, logged(b / "metrics.jsonl", "loss"));
    EXPECT_EQ(logged(a / "metrics.jsonl", "accuracy"), logged(b / "metrics.jsonl", "accuracy"));
    // The measured arena peak is the executor's (and the plan's).
    EXPECT_EQ(logged(a / "metrics.jsonl", "arena_peak_bytes"), logged(b / "metrics.jsonl", "arena_peak_bytes"));
    EXPECT_EQ(logged(a / "metrics.jsonl", "arena_peak_bytes"), logged(a / "metrics.jsonl", "planned_arena_bytes"));

    const auto x = runtime::train::read_checkpoint((a / "checkpoints" / "ckpt-00000005.bin").string());
    const auto y = runtime::train::read_checkpoint((b / "checkpoints" / "ckpt-00000005.bin").string());
    EXPECT_EQ(x.contents.plan_fingerprint, y.contents.plan_fingerprint);
    EXPECT_EQ(x.contents.config_hash, y.contents.config_hash);
    EXPECT_EQ(x.contents.data_state, y.contents.data_state);
    ASSERT_EQ(x.contents.blobs.size(), y.contents.blobs.size());
    for (const auto& blob : x.contents.blobs) {
      const auto* other = y.contents.find(blob.name);
      ASSERT_NE(other, nullptr) << blob.name;
      ASSERT_EQ(blob.size, other->size) << blob.name;
      EXPECT_EQ(0, std::memcmp(blob.data, other->data, blob.size)) << blob.name << " differs";
    }
  }

  static fs::path* dir_;
  static std::map<std::string, CommandResult>* built_;
};

fs::path* CompiledTrainers::dir_ = nullptr;
std::map<std::string, CommandResult>* CompiledTrainers::built_ = nullptr;

TEST_F(CompiledTrainers, BuildWithoutWarnings) {
  for (const auto* r : build({"mlp", "cnn", "lstm"})) {
    ASSERT_EQ(r->code, 0) << r->output;
    EXPECT_EQ(r->output.find("warning"), std::string::npos) << r->output;
    EXPECT_NE(r->output.find("built "), std::string::npos) << r->output;
  }
  EXPECT_TRUE(fs::exists(trainer("mlp")));
  EXPECT_TRUE(fs::exists(*dir_ / "mlp.cpp"));
}

TEST_F(CompiledTrainers, MlpWithDropoutIsBitwiseTheInterpreter) {
  ASSERT_EQ(build("mlp").code, 0) << build("mlp").output;
  expect_bitwise_equal("mlp");
}

TEST_F(CompiledTrainers, CnnUnderSqrtIsBitwiseTheInterpreter) {
  ASSERT_EQ(build("cnn").code, 0) << build("cnn").output;
  const std::string source = read_file(*dir_ / "cnn.cpp");
  EXPECT_NE(source.find(" recompute: node "), std::string::npos) << "no recompute step in the sqrt plan";
  EXPECT_NE(source.find("Mode::Recompute"), std::string::npos);
  EXPECT_NE(source.find("k_batch_norm_relu.backward(gradient("), std::string::npos);  // fused (ir/fusion.h)
  expect_bitwise_equal("cnn");
}

TEST_F(CompiledTrainers, LstmUnderLogIsBitwiseTheInterpreter) {
  ASSERT_EQ(build("lstm").code, 0) << build("lstm").output;
  expect_bitwise_equal("lstm");
}

TEST_F(CompiledTrainers, ResumesFromItsOwnCheckpoint) {
  ASSERT_EQ(build("mlp").code, 0) << build("mlp").output;
  const fs::path run = *dir_ / "mlp-resumed", full = *dir_ / "mlp-full";
  const std::string t = trainer("mlp").string() + " " + yaml("mlp").string() + " --quiet --set checkpoint.every=3";
  auto first = run_command(t + " --steps 3 --run-dir " + run.string());
  ASSERT_EQ(first.code, 0) << first.output;
  auto rest = run_command(t + " --steps 5 --resume --run-dir " + run.string());
  ASSERT_EQ(rest.code, 0) << rest.output;
  auto whole = run_command(t + " --steps 5 --run-dir " + full.string());
  ASSERT_EQ(whole.code, 0) << whole.output;
  EXPECT_EQ(logged(run / "metrics.jsonl", "loss"), logged(full / "metrics.jsonl", "loss"));
  const auto x = runtime::train::read_checkpoint((run / "checkpoints" / "ckpt-00000005.bin").string());
  const auto y = runtime::train::read_checkpoint((full / "checkpoints" / "ckpt-00000005.bin").string());
  ASSERT_EQ(x.contents.blobs.size(), y.contents.blobs.size());
  for (const auto& blob : x.contents.blobs) {
    const auto* other = y.contents.find(blob.name);
    ASSERT_NE(other, nullptr) << blob.name;
    ASSERT_EQ(blob.size, other->size);
    EXPECT_EQ(0, std::memcmp(blob.data, other->data, blob.size)) << blob.name;
  }
}

// A compiled CPU trainer profiles like `sublinear train --profile`: the same nodes, each computing node's
// forward, recompute (sqrt recomputes) and backward seconds measured, and the file feeds plan --costs.
TEST_F(CompiledTrainers, ProfilesItsStepsLikeTheInterpreter) {
  ASSERT_EQ(build("cnn").code, 0) << build("cnn").output;
  const fs::path a = *dir_ / "cnn-profiled", b = *dir_ / "cnn-profiled-interpreted";
  auto gen = run_command(trainer("cnn").string() + " " + yaml("cnn").string() + " --steps 4 --profile --run-dir " +
                         a.string());
  ASSERT_EQ(gen.code, 0) << gen.output;
  EXPECT_NE(gen.output.find("profile: "), std::string::npos) << gen.output;
  auto ref = run_cli("train " + yaml("cnn").string() + " --quiet --steps 4 --profile --run-dir " + b.string());
  ASSERT_EQ(ref.code, 0) << ref.output;
  auto read = [](const fs::path& p) {
    std::ifstream in(p);
    EXPECT_TRUE(in) << p;
    return nlohmann::json::parse(in);
  };
  const nlohmann::json x = read(a / "profile.json"), y = read(b / "profile.json");
  EXPECT_EQ(x["format"], y["format"]);
  EXPECT_EQ(x["steps_measured"], 3);  // the first step is a warm-up
  ASSERT_EQ(x["nodes"].size(), y["nodes"].size());
  double forward = 0, recompute = 0, backward = 0;
  for (size_t i = 0; i < x["nodes"].size(); ++i) {
    const auto& n = x["nodes"][i];
    const auto& m = y["nodes"][i];
    EXPECT_EQ(n["node"], m["node"]);
    for (const char* k : {"forward_seconds", "recompute_seconds", "backward_seconds"}) {
      EXPECT_EQ(n[k].is_null(), m[k].is_null()) << n.dump() << " vs " << m.dump();
      if (n[k].is_number()) {
        EXPECT_GE(n[k].get<double>(), 0.0) << n.dump();
      }
    }
    if (n["forward_seconds"].is_number()) forward += n["forward_seconds"].get<double>();
    if (n["recompute_seconds"].is_number()) recompute += n["recompute_seconds"].get<double>();
    if (n["backward_seconds"].is_number()) backward += n["backward_seconds"].get<double>();
  }
  EXPECT_GT(forward, 0.0);
  EXPECT_GT(recompute, 0.0);
  EXPECT_GT(backward, 0.0);
  auto plan = run_cli("plan " + std::string(SUBLINEAR_SOURCE_DIR) + "/examples/cnn.snet --batch 4 --set width=4 " +
                      "--set image_size=8 --set classes=5 --policy sqrt --json --costs " + (a / "profile.json").string());
  ASSERT_EQ(plan.code, 0) << plan.output;
  EXPECT_EQ(nlohmann::json::parse(plan.output)["cost_unit"], "ns");
}

TEST_F(CompiledTrainers, RefusesAnExperimentThatPlansDifferently) {
  ASSERT_EQ(build("mlp").code, 0) << build("mlp").output;
  const std::string t = trainer("mlp").string() + " " + yaml("mlp").string() + " --quiet --run-dir " +
                        (*dir_ / "mlp-refused").string();
  auto batch = run_command(t + " --set batch=4");
  EXPECT_EQ(batch.code, 1);
  EXPECT_NE(batch.output.find("this trainer was compiled for mlp batch 8 policy none; the experiment asks for mlp "
                              "batch 4 policy none"),
            std::string::npos)
      << batch.output;
  auto policy = run_command(t + " --set memory.policy=sqrt");
  EXPECT_EQ(policy.code, 1);
  EXPECT_NE(policy.output.find("the experiment asks for mlp batch 8 policy sqrt"), std::string::npos)
      << policy.output;
  // Same model, batch and policy, another graph: still refused, and said so.
  auto params = run_command(t + " --set model.params.hidden=17");
  EXPECT_EQ(params.code, 1);
  EXPECT_NE(params.output.find("the same model, batch and policy but a different graph"), std::string::npos)
      << params.output;
  // A CPU trainer does not run an experiment meant for a GPU.
  auto device = run_command(t + " --set device=cuda");
  EXPECT_EQ(device.code, 1);
  EXPECT_NE(device.output.find("device: the experiment runs on cuda:0, and this trainer was compiled for the CPU backend"),
            std::string::npos)
      << device.output;
  EXPECT_FALSE(fs::exists(*dir_ / "mlp-refused" / "metrics.jsonl"));
}

// What `sublinear --version` says of this build and machine.
struct CudaSupport {
  bool built = false;   // the CUDA backend is compiled in
  bool usable = false;  // and a device runs it
};

CudaSupport cuda_support() {
  const CommandResult v = run_cli("--version");
  CudaSupport s;
  s.built = v.output.find(", cuda (") != std::string::npos;
  s.usable = s.built && v.output.find("cuda devices: none usable") == std::string::npos;
  return s;
}

// A CUDA trainer is plain C++ over the CUDA backend's kernels (compiled once into sublinear_cuda): it
// builds wherever the backend is compiled in (CI), refuses an experiment for another device, stops with
// the device's reason where no GPU is usable, and where one is, runs bitwise `sublinear train` on it
// (deterministic kernels, the same program, the same calls).
TEST_F(CompiledTrainers, CudaTrainerBuildsAndRunsWhereTheBackendIs) {
  const CudaSupport cuda = cuda_support();
  const CommandResult& r = build("cnn_cuda");
  if (!cuda.built) {
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.output.find("this sublinear was built without the CUDA backend"), std::string::npos) << r.output;
    GTEST_SKIP() << "this build has no CUDA backend";
  }
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output.find("warning"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("cuda backend"), std::string::npos) << r.output;
  const std::string source = read_file(*dir_ / "cnn_cuda.cpp");
  EXPECT_NE(source.find("sl::runtime::cuda::make_cuda_program("), std::string::npos);
  EXPECT_EQ(source.find("cuda_runtime"), std::string::npos) << "a CUDA trainer needs no CUDA headers";

  const std::string t = trainer("cnn_cuda").string() + " " + yaml("cnn_cuda").string() + " --quiet --steps 5";
  auto on_cpu = run_command(t + " --set device=cpu --run-dir " + (*dir_ / "cnn_cuda-cpu").string());
  EXPECT_EQ(on_cpu.code, 1);
  EXPECT_NE(on_cpu.output.find("device: the experiment runs on cpu, and this trainer was compiled for the CUDA backend"),
            std::string::npos)
      << on_cpu.output;
  if (!cuda.usable) {
    auto no_gpu = run_command(t + " --run-dir " + (*dir_ / "cnn_cuda-nogpu").string());
    EXPECT_EQ(no_gpu.code, 1);
    EXPECT_NE(no_gpu.output.find("CUDA device cuda:0 is not usable"), std::string::npos) << no_gpu.output;
    EXPECT_FALSE(fs::exists(*dir_ / "cnn_cuda-nogpu" / "metrics.jsonl"));
    GTEST_SKIP() << "built and refused cleanly; no usable CUDA device to run it on";
  }
  expect_bitwise_equal("cnn_cuda");
}

}  // namespace
}  // namespace sublinear::testing
