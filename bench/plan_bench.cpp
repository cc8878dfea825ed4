// How long planning takes at paper scale, and what each policy saves. For each model and policy: graph
// nodes, plan steps, plan time (plan_model, best of `repeats`; sqrt includes the Appendix A search over
// its budget) and the feature-map peak with its ratio to the 'none' plan (in-place and sharing, no
// recomputation). Then the budget solver at sqrt's total (plan_model with --memory-budget; it builds the
// whole frontier, so this is the time of any budget) and its extra forward work beside sqrt's.
// Usage: bench_plan [repeats]   (default 3; run from anywhere, models are read from the source tree)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

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

int main(int argc, char** argv) {
  const int repeats = std::max(1, argc > 1 ? std::atoi(argv[1]) : 3);
  const std::string root = SUBLINEAR_SOURCE_DIR;
  const std::vector<Case> cases = {
      {"resnet imagenet depth=1001 N=32", "examples/resnet.snet", {{"depth", "1001"}}, 32},
      {"resnet cifar depth=1001 N=64", "examples/resnet_cifar.snet", {{"depth", "1001"}}, 64},
      {"lstm seq_len=64 N=64", "examples/lstm.snet", {{"seq_len", "64"}}, 64},
      {"lstm seq_len=256 N=64", "examples/lstm.snet", {{"seq_len", "256"}}, 64},
      {"lstm seq_len=1024 N=64", "examples/lstm.snet", {{"seq_len", "1024"}}, 64},
      {"mlp layers=20000 N=32", "examples/mlp.snet", {{"layers", "20000"}}, 32},
  };
  const planner::Policy policies[] = {planner::Policy::None, planner::Policy::DropCheap, planner::Policy::Sqrt,
                                      planner::Policy::Log};
  std::printf("%-32s %-10s %7s %8s %9s %12s %14s %7s\n", "model", "policy", "nodes", "steps", "plan s",
              "feature maps", "vs none", "extra");
  const auto start = std::chrono::steady_clock::now();
  for (const auto& c : cases) {
    std::shared_ptr<const ir::Graph> g;
    try {
      SourceManager sources;
      frontend::LoadOptions opts;
      opts.batch = c.batch;
      opts.sets = c.sets;
      g = std::make_shared<const ir::Graph>(frontend::load_model(root + "/" + c.file, opts, sources));
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
    planner::PlanRequest req;
    req.memory_budget = sqrt_plan.total_peak_bytes();
    const planner::Plan plan = planner::plan_model(g, req);
    char vs[64];
    std::snprintf(vs, sizeof vs, "extra %.3f vs sqrt's %.3f", plan.extra_forward_ratio(), sqrt_plan.extra_forward_ratio());
    std::printf("%-32s %-10s %7zu %8zu %9.3f %12s %18s %7.3f\n", c.name, "budget", g->size(), plan.steps.size(),
                plan.plan_seconds, ir::human_bytes(plan.feature_map_peak_bytes).c_str(), vs, plan.extra_forward_ratio());
    std::fflush(stdout);
  }
  std::printf("total %.1f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return 0;
}
