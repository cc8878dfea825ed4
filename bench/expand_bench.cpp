// How long the frontend takes to parse, expand and infer the bundled models at paper scale.
// Usage: bench_expand [repeats]   (run from anywhere; models are read from the source tree)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "frontend/frontend.h"

namespace {

struct Case {
  const char* name;
  const char* file;
  std::vector<std::pair<std::string, std::string>> sets;
  int64_t batch;
};

}  // namespace

int main(int argc, char** argv) {
  const int repeats = argc > 1 ? std::atoi(argv[1]) : 3;
  const std::string root = SUBLINEAR_SOURCE_DIR;
  const std::vector<Case> cases = {
      {"resnet imagenet depth=1001", "examples/resnet.snet", {{"depth", "1001"}}, 32},
      {"resnet cifar depth=1001", "examples/resnet_cifar.snet", {{"depth", "1001"}}, 64},
      {"lstm 4x1024 seq_len=2048", "examples/lstm.snet", {{"seq_len", "2048"}}, 64},
  };
  std::printf("%-30s %10s %12s %12s\n", "model", "nodes", "best ms", "us/node");
  for (const auto& c : cases) {
    double best = 1e30;
    size_t nodes = 0;
    for (int r = 0; r < repeats; ++r) {
      sublinear::SourceManager sources;
      sublinear::frontend::LoadOptions opts;
      opts.batch = c.batch;
      opts.sets = c.sets;
      auto t0 = std::chrono::steady_clock::now();
      try {
        auto g = sublinear::frontend::load_model(root + "/" + c.file, opts, sources);
        nodes = g.size();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: %s\n", c.name, e.what());
        return 1;
      }
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      best = std::min(best, ms);
    }
    std::printf("%-30s %10zu %12.1f %12.2f\n", c.name, nodes, best, 1000.0 * best / static_cast<double>(nodes));
  }
  return 0;
}
