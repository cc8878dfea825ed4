// Data-parallel training through the real binary under mpirun (train/workers): K = 2 workers train what
// one process trains on the same global batch (equal within float rounding; bitwise across repeats and
// with or without overlapping the sums); a CNN with batch norm learns; and every way a worker can fail
// (a different plan, a user error on one worker, a worker killed) ends every worker with an error within
// seconds, after which --resume continues. Also the pieces on their own: the batch split and the
// bucketed reducer against a stand-in communicator.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "train/data/dataset.h"
#include "train/workers/gradient_reducer.h"
#include "train/workers/sharded_source.h"
#include "train/workers/worker_run.h"
#include "train/trainer.h"
#include "train_test_util.h"

namespace sublinear::runtime::train {
namespace {

using testing::TempDir;
using clock_type = std::chrono::steady_clock;

struct Result {
  int code = -1;
  std::string output;
  double seconds = 0;
};

Result shell(const std::string& cmd) {
  Result r;
  const auto t0 = clock_type::now();
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) r.output.append(buf, n);
  const int st = pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  r.seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
  return r;
}

// One thread per worker (the machine has two cores); timeout so a hang fails instead of blocking ctest.
const std::string kMpirun = "OMP_NUM_THREADS=1 timeout 120 mpirun --allow-run-as-root --oversubscribe ";
const std::string kCli = SUBLINEAR_CLI;

bool have_mpi() {
#ifndef SUBLINEAR_MPI_BUILT
  return false;
#else
  return shell("command -v mpirun").code == 0;
#endif
}

#define REQUIRE_MPI() \
  if (!have_mpi()) GTEST_SKIP() << "this build has no MPI plug-in, or mpirun is not installed"

std::string mlp_yaml(double dropout, int steps, int ckpt_every = 0) {
  std::ostringstream y;
  y << "model:\n  file: " << SUBLINEAR_SOURCE_DIR << "/examples/mlp.snet\n"
    << "  params: {features: 32, hidden: 64, layers: 2, classes: 6, dropout_rate: " << dropout << "}\n"
    << "batch: 24\ndevice: cpu\nseed: 5\ndata:\n  kind: synthetic\nmemory:\n  policy: sqrt\n"
    << "optimizer:\n  kind: adam\n  lr: 0.002\n"
    << "steps: " << steps << "\nlog:\n  every: 1\n";
  if (ckpt_every > 0) y << "checkpoint:\n  every: " << ckpt_every << "\n  keep: 3\n";
  return y.str();
}

std::vector<double> losses(const std::string& metrics) {
  std::vector<double> out;
  std::ifstream in(metrics);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line).at("loss").get<double>());
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void expect_close(const std::vector<double>& a, const std::vector<double>& b, double rel) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], rel * std::abs(a[i])) << "step " << i + 1;
}

TEST(DataParallel, TwoWorkersTrainWhatOneProcessTrains) {
  REQUIRE_MPI();
  TempDir d;
  const std::string yaml = d.write("mlp.yaml", mlp_yaml(0.0, 8, 8));
  auto one = shell(kCli + " train " + yaml + " --run-dir " + d.file("k1"));
  ASSERT_EQ(one.code, 0) << one.output;
  auto two = shell(kMpirun + "-np 2 " + kCli + " train " + yaml + " --run-dir " + d.file("k2"));
  ASSERT_EQ(two.code, 0) << two.output;
  EXPECT_NE(two.output.find("batch 24 split into 2 x 12"), std::string::npos) << two.output;
  // The reduction's buffers are on record beside the plan, which does not count them.
  const auto record = nlohmann::json::parse(slurp(d.file("k2/plan.json")));
  EXPECT_EQ(record.at("workers").at("count").get<int>(), 2);
  EXPECT_GT(record.at("workers").at("reduction_buffer_bytes").get<int64_t>(), 0);
  expect_close(losses(d.file("k1/metrics.jsonl")), losses(d.file("k2/metrics.jsonl")), 2e-6);

  // The same K repeats bitwise, with the sums overlapped in small buckets or made after the backward pass.
  auto again = shell(kMpirun + "-np 2 " + kCli + " train " + yaml + " --run-dir " + d.file("k2b") +
                     " --set workers.bucket=8KiB --set workers.overlap=true");
  ASSERT_EQ(again.code, 0) << again.output;
  EXPECT_NE(again.output.find("as the backward pass finishes them"), std::string::npos) << again.output;
  auto after = shell(kMpirun + "-np 2 " + kCli + " train " + yaml + " --run-dir " + d.file("k2c") +
                     " --set workers.bucket=8KiB --set workers.overlap=false");
  ASSERT_EQ(after.code, 0) << after.output;
  const std::string ck = "/checkpoints/ckpt-00000008.bin";
  EXPECT_EQ(slurp(d.file("k2" + ck)), slurp(d.file("k2b" + ck)));
  EXPECT_EQ(slurp(d.file("k2" + ck)), slurp(d.file("k2c" + ck)));

  // One worker under mpirun is a single process, bit for bit.
  auto solo = shell(kMpirun + "-np 1 " + kCli + " train " + yaml + " --run-dir " + d.file("k1m"));
  ASSERT_EQ(solo.code, 0) << solo.output;
  EXPECT_EQ(slurp(d.file("k1" + ck)), slurp(d.file("k1m" + ck)));
}

TEST(DataParallel, ACompiledTrainerRunsUnderMpirunToo) {
  REQUIRE_MPI();
  TempDir d;
  const std::string yaml = d.write("mlp.yaml", mlp_yaml(0.0, 4, 4));
  auto built = shell(kCli + " compile " + yaml + " --workers 2 -o " + d.file("trainer"));
  ASSERT_EQ(built.code, 0) << built.output;
  auto compiled = shell(kMpirun + "-np 2 " + d.file("trainer") + " " + yaml + " --run-dir " + d.file("c"));
  ASSERT_EQ(compiled.code, 0) << compiled.output;
  auto interpreted = shell(kMpirun + "-np 2 " + kCli + " train " + yaml + " --run-dir " + d.file("i"));
  ASSERT_EQ(interpreted.code, 0) << interpreted.output;
  const std::string ck = "/checkpoints/ckpt-00000004.bin";
  EXPECT_EQ(slurp(d.file("c" + ck)), slurp(d.file("i" + ck)));
  // Compiled for one process, it refuses to run as a worker and says how to compile for workers.
  auto single = shell(kCli + " compile " + yaml + " -o " + d.file("single"));
  ASSERT_EQ(single.code, 0) << single.output;
  auto refused = shell(kMpirun + "-np 2 " + d.file("single") + " " + yaml + " --run-dir " + d.file("s"));
  EXPECT_NE(refused.code, 0);
  EXPECT_NE(refused.output.find("--workers K"), std::string::npos) << refused.output;
}

TEST(DataParallel, DropoutMasksFollowTheGlobalExample) {
  REQUIRE_MPI();
  TempDir d;
  const std::string yaml = d.write("mlp.yaml", mlp_yaml(0.4, 6));
  auto one = shell(kCli + " train " + yaml + " --run-dir " + d.file("k1"));
  ASSERT_EQ(one.code, 0) << one.output;
  auto two = shell(kMpirun + "-np 2 " + kCli + " train " + yaml + " --run-dir " + d.file("k2"));
  ASSERT_EQ(two.code, 0) << two.output;
  // Masks keyed by the worker's own row index would drop other units and move the loss by far more.
  expect_close(losses(d.file("k1/metrics.jsonl")), losses(d.file("k2/metrics.jsonl")), 2e-6);
}

// Trains `yaml` alone and with K = 2 into d's k1 and k2, and compares the losses.
void expect_two_train_like_one(const TempDir& d, const std::string& yaml) {
  auto one = shell(kCli + " train " + yaml + " --run-dir " + d.file("k1"));
  ASSERT_EQ(one.code, 0) << one.output;
  auto two = shell(kMpirun + "-np 2 " + kCli + " train " + yaml + " --run-dir " + d.file("k2"));
  ASSERT_EQ(two.code, 0) << two.output;
  expect_close(losses(d.file("k1/metrics.jsonl")), losses(d.file("k2/metrics.jsonl")), 2e-6);
}

TEST(DataParallel, AnLstmTrainsAlikeToo) {
  REQUIRE_MPI();
  TempDir d;
  std::ostringstream y;
  y << "model:\n  file: " << SUBLINEAR_SOURCE_DIR << "/examples/lstm.snet\n"
    << "  params: {layers: 2, hidden: 32, input_dim: 8, classes: 16, seq_len: 12}\n"
    << "batch: 8\ndevice: cpu\nseed: 2\ndata:\n  kind: synthetic\nmemory:\n  policy: sqrt\n"
    << "optimizer:\n  kind: sgd\n  lr: 0.1\n  momentum: 0.9\nsteps: 5\nlog:\n  every: 1\n";
  expect_two_train_like_one(d, d.write("lstm.yaml", y.str()));
}

// Text workers cut only their own windows of the file, the global batch's rows, so K = 2 trains what one
// process trains.
TEST(DataParallel, TextWorkersTrainWhatOneProcessTrains) {
  REQUIRE_MPI();
  TempDir d;
  std::ostringstream y;
  y << "model:\n  file: " << SUBLINEAR_SOURCE_DIR << "/examples/char_lstm.snet\n"
    << "  params: {layers: 1, hidden: 32, embed: 16, vocab: 256, seq_len: 16}\n"
    << "batch: 8\ndevice: cpu\nseed: 4\ndata:\n  kind: text\n  path: /usr/share/common-licenses/GPL-3\n"
    << "  level: byte\nmemory:\n  policy: sqrt\noptimizer:\n  kind: sgd\n  lr: 0.1\nsteps: 5\nlog:\n  every: 1\n";
  expect_two_train_like_one(d, d.write("text.yaml", y.str()));
}

TEST(DataParallel, ACnnWithBatchNormLearns) {
  REQUIRE_MPI();
  TempDir d;
  auto r = shell(kMpirun + "-np 2 " + kCli + " train " + SUBLINEAR_SOURCE_DIR + "/examples/quickstart.yaml --steps 120 " +
                 "--run-dir " + d.file("run"));
  ASSERT_EQ(r.code, 0) << r.output;
  std::ifstream in(d.file("run/metrics.jsonl"));
  std::vector<nlohmann::json> rows;
  for (std::string line; std::getline(in, line);) rows.push_back(nlohmann::json::parse(line));
  ASSERT_GE(rows.size(), 3u);
  EXPECT_LT(rows.back().at("loss").get<double>(), 0.5 * rows.front().at("loss").get<double>());
  EXPECT_GT(rows.back().at("accuracy").get<double>(), 0.8);
  EXPECT_TRUE(rows.back().contains("reduce_wait_s"));
}

TEST(DataParallel, ABatchThatDoesNotSplitIsAnErrorAtBatch) {
  REQUIRE_MPI();
  TempDir d;
  std::string text = mlp_yaml(0.0, 2);
  text.replace(text.find("batch: 24"), 9, "batch: 25");
  const std::string yaml = d.write("mlp.yaml", text);
  auto r = shell(kMpirun + "-np 2 " + kCli + " train " + yaml + " --run-dir " + d.file("run"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("batch 25 is the global batch and must split evenly over the 2 workers"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("mlp.yaml:4:"), std::string::npos) << r.output;  // the key's line
}

TEST(DataParallel, DifferentPlansEndEveryWorker) {
  REQUIRE_MPI();
  TempDir d;
  const std::string yaml = d.write("mlp.yaml", mlp_yaml(0.0, 4));
  const std::string run = " train " + yaml + " --run-dir " + d.file("run");
  auto r = shell(kMpirun + "-np 1 " + kCli + run + " --set memory.policy=none : -np 1 " + kCli + run);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("the workers disagree on the memory plan: worker 1 differs from worker 0"), std::string::npos)
      << r.output;
  EXPECT_LT(r.seconds, 60);
}

TEST(DataParallel, DifferentStepCountsEndEveryWorkerBeforeTheFirstStep) {
  REQUIRE_MPI();
  TempDir d;
  const std::string yaml = d.write("mlp.yaml", mlp_yaml(0.0, 4));
  const std::string run = " train " + yaml + " --run-dir " + d.file("run");
  auto r = shell(kMpirun + "-np 1 " + kCli + run + " --steps 3 : -np 1 " + kCli + run);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("the workers disagree on the run"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("3 steps"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(d.file("run/metrics.jsonl")));  // no step ran
  EXPECT_LT(r.seconds, 60);
}

// `srun -n 1` and the like: a launcher's only process trains alone when it cannot join MPI; with more
// processes that is an error, never K independent runs.
TEST(DataParallel, ALaunchersOnlyProcessTrainsAloneWithoutMpi) {
  TempDir d;
  const std::string yaml = d.write("mlp.yaml", mlp_yaml(0.0, 2));
  std::string env = "env -u OMPI_COMM_WORLD_SIZE -u PMIX_RANK SUBLINEAR_MPI_PLUGIN=";
  env += d.file("none.so");
  env += ' ';
  auto alone = shell(env + "PMI_SIZE=1 " + kCli + " train " + yaml + " --run-dir " + d.file("run"));
  ASSERT_EQ(alone.code, 0) << alone.output;
  EXPECT_NE(alone.output.find("the launcher's only process, so it trains alone"), std::string::npos) << alone.output;
  EXPECT_NE(alone.output.find("trained 2 steps"), std::string::npos) << alone.output;
  auto many = shell(env + "PMI_SIZE=2 " + kCli + " train " + yaml + " --run-dir " + d.file("run2"));
  EXPECT_NE(many.code, 0) << many.output;
  EXPECT_NE(many.output.find("data-parallel workers:"), std::string::npos) << many.output;
}

TEST(DataParallel, AUserErrorOnOneWorkerEndsThemAll) {
  REQUIRE_MPI();
  TempDir d;
  const std::string yaml = d.write("mlp.yaml", mlp_yaml(0.0, 4));
  const std::string bad = d.write("bad.yaml", mlp_yaml(0.0, 4) + "schedule:\n  kind: sometimes\n");
  auto r = shell(kMpirun + "-np 1 " + kCli + " train " + yaml + " --run-dir " + d.file("run") + " : -np 1 " + kCli +
                 " train " + bad + " --run-dir " + d.file("run"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("[worker 1 of 2] "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("sometimes"), std::string::npos) << r.output;
  EXPECT_LT(r.seconds, 60);
}

TEST(DataParallel, AKilledWorkerEndsTheRunAndResumeContinues) {
  REQUIRE_MPI();
  TempDir d;
  std::string yaml_text = mlp_yaml(0.0, 100000, 10);
  yaml_text.replace(yaml_text.find("hidden: 64"), 10, "hidden: 512");
  const std::string yaml = d.write("mlp.yaml", yaml_text);
  // Each worker records its pid, so the test can kill worker 1 alone.
  const std::string wrap = d.write("wrap.sh", "#!/bin/sh\necho $$ > \"" + d.str() +
                                                  "/rank-$OMPI_COMM_WORLD_RANK.pid\"\nexec \"$@\"\n");
  ASSERT_EQ(::chmod(wrap.c_str(), 0755), 0);
  const std::string cmd = kMpirun + "-np 2 sh " + wrap + " " + kCli + " train " + yaml + " --run-dir " + d.file("run");
  Result r;
  std::thread runner([&] { r = shell(cmd); });
  const auto deadline = clock_type::now() + std::chrono::seconds(60);
  while (clock_type::now() < deadline && !std::filesystem::exists(d.file("run/checkpoints/ckpt-00000020.bin")))
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  pid_t victim = 0;
  std::ifstream(d.file("rank-1.pid")) >> victim;
  ASSERT_GT(victim, 0);
  const auto killed_at = clock_type::now();
  ::kill(victim, SIGKILL);
  runner.join();
  const double after_kill = std::chrono::duration<double>(clock_type::now() - killed_at).count();
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_LT(after_kill, 20) << "the surviving worker did not end";

  auto resumed = shell(kMpirun + "-np 2 " + kCli + " train " + yaml + " --run-dir " + d.file("run") +
                       " --resume --steps 60");
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resumed from"), std::string::npos) << resumed.output;
  EXPECT_NE(resumed.output.find("trained 60 steps"), std::string::npos) << resumed.output;

  // Another K resumes too, with a warning.
  auto other = shell(kCli + " train " + yaml + " --run-dir " + d.file("run") + " --resume --steps 70");
  ASSERT_EQ(other.code, 0) << other.output;
  EXPECT_NE(other.output.find("was written by 2 workers and this run has 1"), std::string::npos) << other.output;
}

// --- the pieces, in one process ------------------------------------------------------------------------

TEST(BatchAxes, FindTheOneAxisThatScales) {
  auto spec = [](ir::Shape s) { return data::InputSpec{"x", ir::TensorType{ir::DType::F32, std::move(s)}}; };
  EXPECT_EQ(batch_axes({spec({8, 3}), spec({5, 8}), spec({7})}, {spec({4, 3}), spec({5, 4}), spec({7})}, 2),
            (std::vector<int>{0, 1, -1}));
  EXPECT_THROW(batch_axes({spec({8, 8})}, {spec({4, 4})}, 2), std::runtime_error);
  EXPECT_THROW(batch_axes({spec({8})}, {spec({3})}, 2), std::runtime_error);
}

// A source whose every element is its global position: the workers' shards, stacked, give it back.
class CountingSource : public data::DataSource {
 public:
  void next(std::vector<Tensor>& out) override {
    for (Tensor& t : out)
      for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = static_cast<float>(step_ * 1000 + i);
    ++step_;
  }
  std::string save_state() const override { return std::to_string(step_); }
  void restore_state(const std::string& s) override { step_ = std::stoi(s); }
  std::string describe() const override { return "counting"; }

 private:
  int step_ = 0;
};

TEST(ShardedSource, WorkersTogetherSeeTheGlobalBatch) {
  const data::InputSpec g{"x", ir::TensorType{ir::DType::F32, {2, 6, 3}}};  // batch on axis 1, as time-major
  std::vector<float> seen(36, -1);
  for (int rank = 0; rank < 3; ++rank) {
    auto src = shard_source(std::make_unique<CountingSource>(), {g}, {1}, rank, 3);
    std::vector<float> mine(12);
    std::vector<Tensor> out{Tensor{mine.data(), ir::TensorType{ir::DType::F32, {2, 2, 3}}}};
    src->next(out);
    for (int t = 0; t < 2; ++t)
      for (int n = 0; n < 2; ++n)
        for (int c = 0; c < 3; ++c) seen[static_cast<size_t>((t * 6 + rank * 2 + n) * 3 + c)] = mine[static_cast<size_t>((t * 2 + n) * 3 + c)];
    EXPECT_EQ(src->save_state(), "1");  // the global position, the same on every worker
  }
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], static_cast<float>(i));
}

// Stands in for K workers that all hold these gradients (sum() multiplies by K); gather_all() returns
// this worker's string followed by `others`; `local` workers share this machine.
class ScalingComm : public Communicator {
 public:
  explicit ScalingComm(int size, int local = 1) : size_(size), local_(local) {}
  int rank() const override { return 0; }
  int size() const override { return size_; }
  int local_rank() const override { return 0; }
  int local_size() const override { return local_; }
  std::string describe() const override { return "test"; }
  bool any_thread() const override { return true; }
  void sum(float* x, int64_t n) override {
    if (++calls == fail_at_call) throw std::runtime_error("the network went away");
    for (int64_t i = 0; i < n; ++i) x[i] *= static_cast<float>(size_);
  }
  void sum(double* x, int64_t n) override {
    for (int64_t i = 0; i < n; ++i) x[i] *= size_;
  }
  std::vector<std::string> gather_all(const std::string& mine) override {
    std::vector<std::string> all{mine};
    all.insert(all.end(), others.begin(), others.end());
    return all;
  }
  [[noreturn]] void abort(int code) override { std::exit(code); }
  int calls = 0;
  int fail_at_call = -1;
  std::vector<std::string> others;

 private:
  int size_, local_;
};

TEST(GradientReducer, BucketsInReadyOrderAndLeavesTheMean) {
  std::vector<std::vector<float>> grads = {std::vector<float>(300, 1.5f), std::vector<float>(100, -2.0f),
                                           std::vector<float>(600, 0.25f), std::vector<float>(50, 3.0f)};
  std::vector<ParamBuffer> params(4);
  for (size_t i = 0; i < 4; ++i) {
    params[i].name = "p";
    params[i].name += std::to_string(i);
    params[i].type = ir::TensorType{ir::DType::F32, {static_cast<int64_t>(grads[i].size())}};
    params[i].trainable = params[i].has_grad = true;
    params[i].grad = grads[i].data();
  }
  params[3].has_grad = false;  // an unused weight: never summed
  for (bool overlap : {false, true}) {
    ScalingComm comm(4);
    GradientReducer r(comm, params, {2, 0, 1, 3}, 1600, overlap);  // buckets {2}, {0, 1}
    EXPECT_EQ(r.buckets(), 2u);
    EXPECT_EQ(r.overlaps(), overlap);
    for (int step = 0; step < 2; ++step) {
      for (size_t p : {2, 0, 1}) r.ready(p);
      r.finish();
    }
    EXPECT_EQ(comm.calls, 4);
    // Summed over 4 identical workers and divided by 4: unchanged, bit for bit.
    EXPECT_EQ(grads[0][299], 1.5f);
    EXPECT_EQ(grads[1][0], -2.0f);
    EXPECT_EQ(grads[2][599], 0.25f);
    EXPECT_EQ(grads[3][0], 3.0f);
    EXPECT_EQ(r.extra_bytes(), (600 + 4 * 150) * 4);
  }
}

// A sum that fails on the reducer's thread surfaces from finish(), on the thread running the step.
TEST(GradientReducer, AFailedSumOnItsThreadIsRaisedByFinish) {
  std::vector<float> a(100, 1.0f), b(100, 2.0f);
  std::vector<ParamBuffer> params(2);
  for (size_t i = 0; i < 2; ++i) {
    params[i].name = "p";
    params[i].name += std::to_string(i);
    params[i].type = ir::TensorType{ir::DType::F32, {100}};
    params[i].trainable = params[i].has_grad = true;
  }
  params[0].grad = a.data();
  params[1].grad = b.data();
  ScalingComm comm(2);
  comm.fail_at_call = 2;
  GradientReducer r(comm, params, {1, 0}, 400, true);
  ASSERT_TRUE(r.overlaps());
  r.ready(1);
  r.ready(0);
  EXPECT_THROW(
      try { r.finish(); } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "the network went away");
        throw;
      },
      std::runtime_error);
}

// On the CPU a machine's workers share its memory; on GPUs each has its own device. Either way every
// worker takes the smallest budget, so all plan alike.
TEST(SharedAutoBudget, SplitsHostMemoryNotDeviceMemoryAndTakesTheLeast) {
  AutoBudget mine{800, 1000, "MemAvailable"};
  ScalingComm comm(4, 2);
  comm.others = {"400", "400", "400"};
  const AutoBudget cpu = shared_auto_budget(comm, mine, true);
  EXPECT_EQ(cpu.bytes, 400);
  EXPECT_EQ(cpu.free_bytes, 500);
  EXPECT_NE(cpu.source.find("shared by the 2 workers on this machine"), std::string::npos) << cpu.source;
  const AutoBudget gpu = shared_auto_budget(comm, mine, false);
  EXPECT_EQ(gpu.bytes, 400);  // the least over the workers
  EXPECT_EQ(gpu.free_bytes, 1000);
  EXPECT_EQ(gpu.source.find("shared by"), std::string::npos) << gpu.source;
  EXPECT_NE(gpu.source.find("the smallest over the workers"), std::string::npos) << gpu.source;
  comm.others = {"900", "800", "2000"};
  EXPECT_EQ(shared_auto_budget(comm, mine, false).bytes, 800);
}

TEST(WorkerCudaDevice, LocalRankOffsetsUnlessEachWorkerSeesItsOwnGpu) {
  EXPECT_EQ(worker_cuda_device(0, 3, 8), 3);   // one process sees the node's 8 GPUs
  EXPECT_EQ(worker_cuda_device(2, 1, 8), 3);
  EXPECT_EQ(worker_cuda_device(0, 3, 1), 0);   // CUDA_VISIBLE_DEVICES per rank
  EXPECT_EQ(worker_cuda_device(0, 2, 2), -1);  // three workers, two GPUs
  EXPECT_EQ(worker_cuda_device(0, 5, -1), 5);  // unknown count
}

TEST(CheckSameEverywhere, NamesTheWorkersThatDiffer) {
  ScalingComm comm(3);
  comm.others = {"a", "a"};
  EXPECT_NO_THROW(check_same_everywhere(comm, "thing", "a"));
  comm.others = {"b", "b"};
  try {
    check_same_everywhere(comm, "thing", "a");
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("workers 1, 2 differ from worker 0 (a there)"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sublinear::runtime::train
