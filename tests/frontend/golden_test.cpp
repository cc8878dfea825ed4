// Golden IR: each tests/golden/NAME.snet, expanded at batch 2, must print (ir::print_graph with
// locations) exactly as tests/golden/NAME.ir.
//
// To regenerate the .ir files after an intended change to expansion or to the printer:
//   SUBLINEAR_UPDATE_GOLDEN=1 ./frontend_tests --gtest_filter='Golden.*'
// then review the diff by eye (shapes, parameters, sharing, paths) before committing it: a golden file
// records what is right, not whatever the code prints today.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "frontend/frontend.h"
#include "ir/printer.h"

namespace sublinear {
namespace {

namespace fs = std::filesystem;

const fs::path kGoldenDir = fs::path(SUBLINEAR_SOURCE_DIR) / "tests" / "golden";
constexpr int64_t kGoldenBatch = 2;

bool updating() {
  const char* v = std::getenv("SUBLINEAR_UPDATE_GOLDEN");
  return v && std::string(v) == "1";
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<fs::path> golden_models() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(kGoldenDir))
    if (e.is_regular_file() && e.path().extension() == ".snet") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::string expand(const fs::path& model) {
  SourceManager sources;
  frontend::LoadOptions opts;
  opts.batch = kGoldenBatch;
  try {
    return ir::print_graph(frontend::load_model(model.string(), opts, sources), /*with_locations=*/true);
  } catch (const UserErrors& e) {
    std::string out;
    for (const auto& d : e.diagnostics()) out += format_diagnostic(d, sources);
    ADD_FAILURE() << model << " does not load:\n" << out;
  } catch (const UserError& e) {
    ADD_FAILURE() << model << " does not load:\n" << format_diagnostic(e.diagnostic(), sources);
  }
  return {};
}

TEST(Golden, ModelsPrintAsRecorded) {
  const auto models = golden_models();
  // mlp, residual and lstm at least; more may be added.
  ASSERT_GE(models.size(), 3u) << "golden models missing from " << kGoldenDir;
  for (const auto& model : models) {
    SCOPED_TRACE(model.filename().string());
    const std::string got = expand(model);
    if (got.empty()) continue;
    fs::path expected_file = model;
    expected_file.replace_extension(".ir");
    if (updating()) {
      std::ofstream(expected_file, std::ios::binary) << got;
      continue;
    }
    ASSERT_TRUE(fs::exists(expected_file))
        << expected_file << " is missing; create it with SUBLINEAR_UPDATE_GOLDEN=1 and review it";
    EXPECT_EQ(got, read_all(expected_file)) << "to accept the new output, rerun with SUBLINEAR_UPDATE_GOLDEN=1";
  }
}

}  // namespace
}  // namespace sublinear
