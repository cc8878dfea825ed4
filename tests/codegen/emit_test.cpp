// The emitted source, without building it: what each kernel call says about itself (step kind, IR node,
// DSL span, expansion path), constant arena offsets, the fingerprint the executor would report, chunking
// of long schedules, exact literals, and the `sublinear compile` command line's errors.
#include <gtest/gtest.h>

#include <bit>
#include <cstdlib>
#include <limits>
#include <regex>

#include "codegen/cpp_text.h"
#include "codegen/emit_cpp.h"
#include "codegen/plan_digest.h"
#include "frontend/frontend.h"
#include "planner/policies.h"
#include "runtime/cpu/cpu_kernels.h"
#include "runtime/executor.h"
#include "tests/codegen/codegen_test_util.h"

namespace sublinear::testing {
namespace {

std::shared_ptr<const planner::Plan> plan_of(const std::string& file,
                                             std::vector<std::pair<std::string, std::string>> sets, int64_t batch,
                                             planner::Policy policy) {
  SourceManager sources;
  frontend::LoadOptions o;
  o.batch = batch;
  o.sets = std::move(sets);
  auto g = std::make_shared<const ir::Graph>(
      frontend::load_model(std::string(SUBLINEAR_SOURCE_DIR) + "/" + file, o, sources));
  planner::PlanRequest req;
  req.policy = policy;
  return std::make_shared<const planner::Plan>(planner::plan_model(g, req));
}

std::shared_ptr<const planner::Plan> small_mlp() {
  return plan_of("examples/mlp.snet", {{"features", "8"}, {"hidden", "16"}, {"classes", "3"}}, 4,
                 planner::Policy::None);
}

std::shared_ptr<const planner::Plan> small_cnn_sqrt() {
  return plan_of("examples/cnn.snet", {{"width", "4"}, {"image_size", "8"}, {"classes", "3"}}, 2,
                 planner::Policy::Sqrt);
}

codegen::EmitOptions emit_options(codegen::Backend backend, int chunk_steps = 100, std::string from = "") {
  codegen::EmitOptions o;
  o.backend = backend;
  o.chunk_steps = chunk_steps;
  o.compiled_from = std::move(from);
  return o;
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(EmitCpp, FingerprintIsTheExecutors) {
  for (const auto& plan : {small_mlp(), small_cnn_sqrt()}) {
    runtime::Executor ex(plan, runtime::cpu::cpu_kernels());
    EXPECT_EQ(codegen::executor_fingerprint(*plan), ex.plan_fingerprint());
    const std::string src = codegen::emit_cpp(*plan, {}).text;
    EXPECT_NE(src.find(codegen::cpp_string(ex.plan_fingerprint())), std::string::npos);
  }
}

TEST(EmitCpp, CallsSayWhereTheyComeFrom) {
  const auto plan = small_mlp();
  const std::string src =
      codegen::emit_cpp(*plan, emit_options(codegen::Backend::Cpu, 400, "sublinear compile mlp.snet --batch 4")).text;
  // Every step has its comment and its call.
  EXPECT_EQ(count(src, "  // step "), plan->steps.size());
  EXPECT_EQ(count(src, ".forward(compute(") + count(src, ".backward(gradient("), plan->steps.size());
  // The first hidden layer's linear: step kind, node, path, its DSL span in the standard library and the
  // model lines it was expanded from.
  EXPECT_NE(src.find("// step 0 forward: node 4 linear, path repeat[0]/mlp_layer/linear#1\n"
                     "  //   at <stdlib>/std.snet:66:12, expanded from repeat[0] at "),
            std::string::npos)
      << src;
  EXPECT_TRUE(std::regex_search(src, std::regex("expanded from repeat\\[0\\] at [^ ]*examples/mlp\\.snet:\\d+:\\d+, "
                                                "mlp_layer at [^ ]*examples/mlp\\.snet:\\d+:\\d+")));
  EXPECT_TRUE(std::regex_search(src, std::regex("// step \\d+ backward: node 14 linear, path linear#1\n"
                                                "  //   at [^ ]*examples/mlp\\.snet:\\d+:\\d+\n")));
  // Constant offsets into the arena, named buffers, kernels looked up once.
  EXPECT_NE(src.find("static constexpr Ref in[] = {input(0), param(0), param(1)};"), std::string::npos) << src;
  EXPECT_NE(src.find("fm(arena + 0, f32_4x16)"), std::string::npos);
  EXPECT_NE(src.find("k_linear.forward(compute(4, Mode::Train, iteration, in, out));"), std::string::npos);
  EXPECT_NE(src.find("loss_seed(f32_scalar)"), std::string::npos);
  EXPECT_EQ(count(src, "const Kernel k_linear = kernel(\"linear\", true);"), 1u);
  // The node table, parameters and the header.
  EXPECT_NE(src.find("/* 4 */ {\"linear\", \"repeat[0]/mlp_layer/linear#1\""), std::string::npos);
  EXPECT_NE(src.find("attr_int(\"units\", 16)"), std::string::npos);
  EXPECT_NE(src.find("attr_float(\"std\", 0.01)"), std::string::npos);
  EXPECT_NE(src.find("attr_string(\"init\", \"xavier\")"), std::string::npos);
  EXPECT_NE(src.find("//   sublinear compile mlp.snet --batch 4\n"), std::string::npos);
  EXPECT_NE(src.find("\"mlp batch 4 policy none\""), std::string::npos);
  // Formatting: two-space indentation, no tabs, no trailing spaces.
  EXPECT_EQ(src.find('\t'), std::string::npos);
  EXPECT_EQ(src.find(" \n"), std::string::npos);
}

TEST(EmitCpp, RecomputeStepsRunInRecomputeMode) {
  const auto plan = small_cnn_sqrt();
  ASSERT_GT(plan->recomputed_nodes, 0);
  const std::string src = codegen::emit_cpp(*plan, {}).text;
  size_t recompute = 0;
  for (const auto& s : plan->steps) recompute += s.kind == planner::StepKind::Recompute;
  EXPECT_EQ(count(src, " recompute: node "), recompute);
  EXPECT_EQ(count(src, ", Mode::Recompute, iteration"), recompute);
}

TEST(EmitCpp, LongSchedulesAreSplitIntoFunctions) {
  // The paper's 1,000-layer ResNet: emitted quickly, in functions of at most chunk_steps steps.
  const auto plan = plan_of("examples/resnet.snet", {{"depth", "1001"}}, 1, planner::Policy::Sqrt);
  const int chunk = 100;
  const auto out = codegen::emit_cpp(*plan, emit_options(codegen::Backend::Cpu, chunk));
  const size_t functions = (plan->steps.size() + chunk - 1) / chunk;
  EXPECT_EQ(static_cast<size_t>(out.chunks), functions);
  EXPECT_EQ(count(out.text, "void GeneratedSchedule::run_steps_"), functions);
  EXPECT_EQ(count(out.text, "\n    run_steps_"), functions);  // called in order from run_steps
  EXPECT_EQ(count(out.text, "  // step "), plan->steps.size());
  size_t at = out.text.find("void GeneratedSchedule::run_steps_");
  while (at != std::string::npos) {
    const size_t next = out.text.find("void GeneratedSchedule::run_steps_", at + 1);
    EXPECT_LE(count(out.text.substr(at, next == std::string::npos ? std::string::npos : next - at), "  // step "),
              static_cast<size_t>(chunk));
    at = next;
  }
}

TEST(EmitCpp, BackendsShareTheScheduleAndDifferInTheProgram) {
  // The steps are the same calls on either backend (the kernels come from the program's table); only the
  // includes, the comments on the kernels and main differ.
  const auto plan = small_cnn_sqrt();
  const std::string cpu = codegen::emit_cpp(*plan, emit_options(codegen::Backend::Cpu)).text;
  const std::string cuda = codegen::emit_cpp(*plan, emit_options(codegen::Backend::Cuda)).text;
  const std::string steps = "void GeneratedSchedule::run_steps_0";
  ASSERT_NE(cpu.find(steps), std::string::npos);
  auto schedule = [&](const std::string& src) {
    const size_t at = src.find(steps);
    return src.substr(at, src.find("int main(") - at);
  };
  EXPECT_EQ(schedule(cpu), schedule(cuda));
  EXPECT_EQ(cpu.find("cuda"), std::string::npos);
  EXPECT_NE(cpu.find("sl::codegen::support::cpu_program(std::move(plan), seed, make_schedule)"), std::string::npos);
  EXPECT_NE(cpu.find("parse_trainer_args(argc, argv, about, sl::codegen::Backend::Cpu, req)"), std::string::npos);
  EXPECT_NE(cuda.find("#include \"runtime/cuda/cuda_program.h\""), std::string::npos);
  EXPECT_NE(
      cuda.find("sl::runtime::cuda::make_cuda_program(std::move(plan), seed, device, deterministic, make_schedule)"),
      std::string::npos)
      << cuda;
  EXPECT_NE(cuda.find("parse_trainer_args(argc, argv, about, sl::codegen::Backend::Cuda, req)"), std::string::npos);
  EXPECT_NE(cuda.find("// Kernels of the CUDA backend"), std::string::npos);
}

TEST(CppText, LiteralsReadBackExactly) {
  for (double d : {0.1, 1.0, -2.5e-300, 1e300, 0.30000000000000004, 5e-324, -0.0}) {
    const std::string s = codegen::cpp_double(d);
    EXPECT_NE(s.find_first_of(".e"), std::string::npos) << s;
    EXPECT_EQ(std::bit_cast<uint64_t>(std::strtod(s.c_str(), nullptr)), std::bit_cast<uint64_t>(d)) << s;
  }
  EXPECT_EQ(codegen::cpp_double(1.0), "1.0");
  EXPECT_EQ(codegen::cpp_double(std::numeric_limits<double>::infinity()),
            "std::bit_cast<double>(0x7ff0000000000000ULL)");
  EXPECT_EQ(codegen::cpp_string("a\"b\\c\n\x01" "7"), "\"a\\\"b\\\\c\\012\\0017\"");
  EXPECT_EQ(codegen::cpp_int(std::numeric_limits<int64_t>::min()), "(-9223372036854775807 - 1)");
  EXPECT_EQ(codegen::comment_text("a\nb\\"), "a b\\.");
  EXPECT_EQ(codegen::identifier("conv2d#1"), "conv2d_1");
}

// --- the command line ------------------------------------------------------------------------------------

TEST(CompileCli, EmitSourceOnlyWritesOnlyTheSource) {
  auto d = temp_dir("source_only");
  auto r = run_cli("compile " + std::string(SUBLINEAR_SOURCE_DIR) +
                   "/examples/mlp.snet --batch 4 --set features=8 --set hidden=16 --set classes=3 -o " +
                   (d / "t").string() + " --emit-source-only");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(fs::exists(d / "t.cpp"));
  EXPECT_FALSE(fs::exists(d / "t"));
  EXPECT_EQ(std::distance(fs::directory_iterator(d), fs::directory_iterator()), 1);
  EXPECT_NE(r.output.find("wrote "), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("built "), std::string::npos) << r.output;
  const std::string src = read_file(d / "t.cpp");
  EXPECT_NE(src.find("  // step 0 forward: node 4 linear"), std::string::npos);
  EXPECT_NE(src.find("examples/mlp.snet:"), std::string::npos);
  EXPECT_NE(src.find("fm(arena + "), std::string::npos);
  fs::remove_all(d);
}

TEST(CompileCli, CudaSourceIsWrittenWithOrWithoutTheBackend) {
  auto d = temp_dir("cuda");
  auto r = run_cli("compile " + std::string(SUBLINEAR_SOURCE_DIR) +
                   "/examples/mlp.snet --batch 4 --backend cuda --emit-source-only -o " + (d / "t").string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("policy none, cuda backend, "), std::string::npos) << r.output;
  EXPECT_NE(read_file(d / "t.cpp").find("make_cuda_program("), std::string::npos);
  auto bad = run_cli("compile " + std::string(SUBLINEAR_SOURCE_DIR) + "/examples/mlp.snet --batch 4 --backend tpu -o " +
                     (d / "t").string());
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.output.find("--backend tpu: expected cpu or cuda"), std::string::npos) << bad.output;
  fs::remove_all(d);
}

TEST(CompileCli, MistakesAreExplained) {
  auto d = temp_dir("mistakes");
  const std::string mlp = std::string(SUBLINEAR_SOURCE_DIR) + "/examples/mlp.snet";
  auto no_batch = run_cli("compile " + mlp + " -o " + (d / "t").string());
  EXPECT_EQ(no_batch.code, 1);
  EXPECT_NE(no_batch.output.find("--batch N is required"), std::string::npos) << no_batch.output;

  auto y = write_file(d / "exp.yaml", experiment_yaml("examples/mlp.snet", "{hidden: 8}", 4, "none"));
  auto flag = run_cli("compile " + y.string() + " --batch 4 -o " + (d / "t").string());
  EXPECT_EQ(flag.code, 1);
  EXPECT_NE(flag.output.find("--batch: the experiment sets this; override it with --set batch=..."), std::string::npos)
      << flag.output;

  auto key = run_cli("compile " + y.string() + " --set memory.polcy=sqrt -o " + (d / "t").string());
  EXPECT_EQ(key.code, 1);
  EXPECT_NE(key.output.find("memory.polcy"), std::string::npos) << key.output;

  auto policy = run_cli("compile " + mlp + " --batch 4 --policy fast -o " + (d / "t").string());
  EXPECT_EQ(policy.code, 1);
  EXPECT_NE(policy.output.find("--policy fast: expected none, drop-cheap, sqrt or log"), std::string::npos)
      << policy.output;
  EXPECT_FALSE(fs::exists(d / "t.cpp"));
  fs::remove_all(d);
}

TEST(CompileCli, CompilerFailureShowsCommandAndOutput) {
  // The output path is a folder: the source is written, the link fails.
  auto d = temp_dir("build_fails");
  fs::create_directories(d / "t");
  auto r = run_cli("compile " + std::string(SUBLINEAR_SOURCE_DIR) +
                   "/examples/mlp.snet --batch 2 --set features=4 --set hidden=4 --set classes=2 -o " +
                   (d / "t").string());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("sublinear: error: building the trainer failed (the compiler exited with 1); the source is "
                          "kept in " + (d / "t.cpp").string()),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("-Wl,--start-group"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Is a directory"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(d / "t.cpp"));
  fs::remove_all(d);
}

}  // namespace
}  // namespace sublinear::testing
