// How long planning takes at paper scale, and what each policy saves. For each model and policy: graph
// nodes, plan steps, plan time (plan_model, best of `repeats`; sqrt includes the Appendix A search over
// its budget) and the feature-map peak with its ratio to the 'none' plan (in-place and sharing, no
// recomputation). Then the budget solver at sqrt's total (plan_model with --memory-budget; it builds the
// whole frontier, so this is the time of any budget; in a fresh process) and its extra forward work beside
// sqrt's.
// Usage: bench_plan [repeats]   (default 3; run from anywhere, models are read from the source tree)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "frontend/frontend.h"
#include "ir/format_util.h"
#include "planner/policies.h"

namespace {

using namespace sublinear;

struct Case {
  const char* name;
  const char* file;
  std::vector<std::pair<std::string, std::string>> sets;
  int64_t batch;
};

}  // namespace

std::shared_ptr<const ir::Graph> load_case(const Case& c) {
  SourceManager sources;
  frontend::LoadOptions opts;
  opts.batch = c.batch;
  opts.sets = c.sets;
  return std::make_shared<const ir::Graph>(
      frontend::load_model(std::string(SUBLINEAR_SOURCE_DIR) + "/" + c.file, opts, sources));
}

// bench_plan --budget CASE BYTES SQRT_EXTRA: the solver's row for one case, in a process of its own.
int budget_row(const Case& c, int64_t budget, double sqrt_extra) {
  auto g = load_case(c);
  planner::PlanRequest req;
  req.memory_budget = budget;
  const planner::Plan plan = planner::plan_model(g, req);
  char vs[64];
  std::snprintf(vs, sizeof vs, "extra %.3f vs sqrt's %.3f", plan.extra_forward_ratio(), sqrt_extra);
  std::printf("%-32s %-10s %7zu %8zu %9.3f %12s %18s %7.3f\n", c.name, "budget", g->size(), plan.steps.size(),
              plan.plan_seconds, ir::human_bytes(plan.feature_map_peak_bytes).c_str(), vs, plan.extra_forward_ratio());
  return 0;
}

int main(int argc, char** argv) {
  const std::vector<Case> cases = {
      {"resnet imagenet depth=1001 N=32", "examples/resnet.snet", {{"depth", "1001"}}, 32},
      {"resnet cifar depth=1001 N=64", "examples/resnet_cifar.snet", {{"depth", "1001"}}, 64},
      {"lstm seq_len=64 N=64", "examples/lstm.snet", {{"seq_len", "64"}}, 64},
      {"lstm seq_len=256 N=64", "examples/lstm.snet", {{"seq_len", "256"}}, 64},
      {"lstm seq_len=1024 N=64", "examples/lstm.snet", {{"seq_len", "1024"}}, 64},
      {"mlp layers=20000 N=32", "examples/mlp.snet", {{"layers", "20000"}}, 32},
  };
  if (argc == 5 && std::string(argv[1]) == "--budget") {
    const size_t i = static_cast<size_t>(std::atoi(argv[2]));
    if (i >= cases.size()) return 2;
    return budget_row(cases[i], std::atoll(argv[3]), std::atof(argv[4]));
  }
  const int repeats = std::max(1, argc > 1 ? std::atoi(argv[1]) : 3);
  const planner::Policy policies[] = {planner::Policy::None, planner::Policy::DropCheap, planner::Policy::Sqrt,
                                      planner::Policy::Log};
  std::printf("%-32s %-10s %7s %8s %9s %12s %14s %7s\n", "model", "policy", "nodes", "steps", "plan s",
              "feature maps", "vs none", "extra");
  const auto start = std::chrono::steady_clock::now();
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    const Case& c = cases[ci];
    std::shared_ptr<const ir::Graph> g;
    try {
      g = load_case(c);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: %s\n", c.name, e.what());
      return 1;
    }
    int64_t none_peak = 0;
    planner::Plan sqrt_plan;
    for (planner::Policy p : policies) {
      planner::PlanRequest req;
      req.policy = p;
      double best = 1e30;
      planner::Plan plan;
      for (int r = 0; r < repeats; ++r) {
        plan = planner::plan_model(g, req);
        best = std::min(best, plan.plan_seconds);
      }
      if (p == planner::Policy::None) none_peak = plan.feature_map_peak_bytes;
      if (p == planner::Policy::Sqrt) sqrt_plan = plan;
      std::string vs = planner::policy_name(p);
      vs += "/none = ";
      char ratio[32];
      std::snprintf(ratio, sizeof ratio, "%.3f",
                    static_cast<double>(plan.feature_map_peak_bytes) / static_cast<double>(none_peak));
      vs += ratio;
      std::printf("%-32s %-10s %7zu %8zu %9.3f %12s %18s %7.3f\n", c.name, planner::policy_name(p), g->size(),
                  plan.steps.size(), best, ir::human_bytes(plan.feature_map_peak_bytes).c_str(), vs.c_str(),
                  plan.extra_forward_ratio());
      std::fflush(stdout);
    }
    // In a process of its own, as `sublinear plan --memory-budget` runs: after the plans above, this
    // process's heap makes the solver's many builds up to twice as slow.
    std::fflush(stdout);
    const std::string index = std::to_string(ci), bytes = std::to_string(sqrt_plan.total_peak_bytes()),
                      extra = std::to_string(sqrt_plan.extra_forward_ratio());
    const pid_t child = fork();
    if (child == 0) {
      execl("/proc/self/exe", argv[0], "--budget", index.c_str(), bytes.c_str(), extra.c_str(),
            static_cast<char*>(nullptr));
      std::_Exit(127);
    }
    int status = 0;
    if (child < 0 || waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::fprintf(stderr, "%s: the budget run failed\n", c.name);
      return 1;
    }
  }
  std::printf("total %.1f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return 0;
}
