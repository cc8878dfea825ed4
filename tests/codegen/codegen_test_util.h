#pragma once
// Shared pieces of the codegen tests: running the CLI and generated trainers, temporary folders,
// experiment files for small versions of the example models, and reading what a run wrote.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace sublinear::testing {

namespace fs = std::filesystem;

struct CommandResult {
  int code = -1;
  std::string output;  // stdout and stderr
};

// Runs `command` through the shell, stdout and stderr together.
inline CommandResult run_command(const std::string& command) {
  CommandResult r;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int st = pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

inline CommandResult run_cli(const std::string& args) { return run_command(std::string(SUBLINEAR_CLI) + " " + args); }

inline fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("sublinear_codegen_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

inline fs::path write_file(const fs::path& p, const std::string& text) {
  std::ofstream(p) << text;
  return p;
}

inline std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// An experiment on synthetic data, 5 steps, a metrics line per step and a checkpoint at the end.
inline std::string experiment_yaml(const std::string& model_file, const std::string& params, int batch,
                                   const std::string& policy) {
  std::ostringstream y;
  y << "model:\n"
    << "  file: " << SUBLINEAR_SOURCE_DIR << "/" << model_file << "\n"
    << "  params: " << params << "\n"
    << "batch: " << batch << "\n"
    << "device: cpu\n"
    << "seed: 7\n"
    << "data:\n  kind: synthetic\n"
    << "memory:\n  policy: " << policy << "\n"
    << "optimizer:\n  kind: sgd\n  lr: 0.05\n  momentum: 0.9\n"
    << "steps: 5\n"
    << "log:\n  every: 1\n"
    << "checkpoint:\n  every: 5\n  keep: 2\n";
  return y.str();
}

// The loss of every metrics line exactly as written (round-trip text).
inline std::vector<std::string> logged(const fs::path& metrics, const std::string& key) {
  std::vector<std::string> out;
  std::ifstream in(metrics);
  std::string line;
  const std::string k = "\"" + key + "\":";
  while (std::getline(in, line)) {
    auto at = line.find(k);
    if (at == std::string::npos) continue;
    auto end = line.find_first_of(",}", at);
    out.push_back(line.substr(at + k.size(), end - at - k.size()));
  }
  return out;
}

}  // namespace sublinear::testing
