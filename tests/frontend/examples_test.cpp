// Every examples/*.snet loads, and the `sublinear` CLI reports errors and summaries as documented.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <sstream>

#include "frontend/frontend.h"

namespace sublinear {
namespace {

namespace fs = std::filesystem;

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The directory is globbed, not listed, so examples added later are checked too.
TEST(Examples, EveryExampleLoadsAtBatch2) {
  const fs::path dir = fs::path(SUBLINEAR_SOURCE_DIR) / "examples";
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  std::vector<fs::path> models;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".snet") models.push_back(e.path());
  std::sort(models.begin(), models.end());
  ASSERT_FALSE(models.empty()) << "no .snet files in " << dir;
  for (const auto& m : models) {
    SCOPED_TRACE(m.filename().string());
    SourceManager sources;
    frontend::LoadOptions opts;
    opts.batch = 2;
    try {
      ir::Graph g = frontend::load_model(m.string(), opts, sources);
      EXPECT_GT(g.size(), 0u);
      EXPECT_FALSE(g.outputs().empty());
    } catch (const UserErrors& e) {
      std::string out;
      for (const auto& d : e.diagnostics()) out += format_diagnostic(d, sources);
      ADD_FAILURE() << m << " does not load:\n" << out;
    } catch (const UserError& e) {
      ADD_FAILURE() << m << " does not load:\n" << format_diagnostic(e.diagnostic(), sources);
    }
  }
}

// --- the CLI ----------------------------------------------------------------------------------------

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = fs::temp_directory_path() / ("snet-cli-test-" + std::to_string(rd()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  fs::path write(const std::string& name, const std::string& text) {
    fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }

  // Runs the CLI with `args`; stdout goes to out_, stderr to err_. Returns the exit code.
  int run(const std::string& args) {
    const fs::path out = dir_ / "stdout.txt", err = dir_ / "stderr.txt";
    std::string cmd = std::string("'") + SUBLINEAR_CLI + "' " + args + " > '" + out.string() + "' 2> '" +
                      err.string() + "'";
    int status = std::system(cmd.c_str());
    out_ = read_all(out);
    err_ = read_all(err);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  fs::path dir_;
  std::string out_, err_;
};

TEST_F(CliTest, CheckOfABrokenModelPrintsLocatedErrorsAndExits1) {
  fs::path model = write("broken.snet", R"(snet 1;
model m(x: f32[N, 4]) -> (loss) {
  h = linear(x, unit=16);
  loss = mean(h);
}
)");
  EXPECT_EQ(run("check '" + model.string() + "'"), 1) << err_;
  EXPECT_NE(err_.find(model.string() + ":3:17: error: unknown attribute 'unit'"), std::string::npos) << err_;
  // The source line, then a caret with tildes under `unit`.
  EXPECT_NE(err_.find("    h = linear(x, unit=16);\n"), std::string::npos) << err_;
  EXPECT_NE(err_.find("\n                  ^~~~\n"), std::string::npos) << err_;
  EXPECT_TRUE(std::regex_search(err_, std::regex(R"(broken\.snet:\d+:\d+: error: )"))) << err_;
  EXPECT_EQ(out_, "");
}

TEST_F(CliTest, CheckCountsSeveralErrors) {
  fs::path model = write("two.snet", R"(snet 1;
model m(x: f32[N, 4]) -> (loss) {
  a = relu(xx);
  b = linear(x, unit=4);
  loss = mean(x);
}
)");
  EXPECT_EQ(run("check '" + model.string() + "'"), 1);
  EXPECT_NE(err_.find("two.snet:3:12: error:"), std::string::npos) << err_;
  EXPECT_NE(err_.find("two.snet:4:17: error:"), std::string::npos) << err_;
  EXPECT_NE(err_.find("2 errors"), std::string::npos) << err_;
}

TEST_F(CliTest, CheckJsonOfAGoodModel) {
  fs::path model = write("good.snet", R"(snet 1;
param hidden: int = 16;
model m(x: f32[N, 8], y: i32[N]) -> (loss) {
  h = relu(linear(x, units=hidden));
  loss = softmax_cross_entropy(linear(h, units=3), y);
}
)");
  ASSERT_EQ(run("check '" + model.string() + "' --json --batch 4 --set hidden=32"), 0) << err_;
  nlohmann::json j;
  ASSERT_NO_THROW(j = nlohmann::json::parse(out_)) << out_;
  for (const char* key : {"nodes", "params", "forward_flops", "activation_bytes"})
    EXPECT_TRUE(j.contains(key)) << key << " missing from " << out_;
  // 8*32 + 32 + 32*3 + 3 trainable scalars, with hidden overridden to 32.
  EXPECT_EQ(j.value("params", int64_t{-1}), 8 * 32 + 32 + 32 * 3 + 3);
  EXPECT_GT(j.value("forward_flops", int64_t{0}), 0);
  EXPECT_GT(j.value("activation_bytes", int64_t{0}), 0);
  EXPECT_EQ(j.value("batch", int64_t{0}), 4);
}

TEST_F(CliTest, SetOfAnUnknownParamExits1) {
  fs::path model = write("good.snet", R"(snet 1;
param hidden: int = 16;
model m(x: f32[N, 8]) -> (loss) {
  loss = mean(linear(x, units=hidden));
}
)");
  EXPECT_EQ(run("check '" + model.string() + "' --set hiden=3"), 1);
  EXPECT_NE(err_.find("--set hiden: the model has no param 'hiden' (did you mean 'hidden'?)"), std::string::npos)
      << err_;
}

}  // namespace
}  // namespace sublinear
