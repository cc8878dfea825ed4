// Fuzz target: a .snet model through everything `sublinear plan` does at a small batch: parse, expand,
// check, verify and plan (sqrt, the most paths). A user error is the expected outcome for most inputs;
// anything else (a crash, a sanitizer report, an internal error, a hang past the fuzzer's timeout, memory
// past its limit) is a finding.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "frontend/frontend.h"
#include "ir/diagnostic.h"
#include "ir/verify.h"
#include "planner/policies.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sublinear;
  const std::string text(reinterpret_cast<const char*>(data), size);
  SourceManager sources;
  frontend::LoadOptions opts;
  opts.batch = 2;
  try {
    auto g = std::make_shared<const ir::Graph>(frontend::load_model_text("fuzz.snet", text, opts, sources));
    ir::verify_graph(*g);
    // Planning a large graph is slow but not a fault (and 10x slower under the sanitizers): plan the
    // sizes a test runs, which covers every planner path.
    if (g->size() > 3000) return 0;
    planner::PlanRequest req;
    req.policy = planner::Policy::Sqrt;
    planner::plan_model(g, req);
  } catch (const UserErrors&) {
  } catch (const UserError&) {
  }
  return 0;
}
