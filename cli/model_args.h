#pragma once
// What every model-reading subcommand shares: the model arguments (file, --set, --batch, --model), how
// they load a checked graph, how user errors are printed, and writing an output file.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "ir/diagnostic.h"
#include "ir/fusion.h"
#include "ir/graph.h"

namespace sublinear::cli {

struct ModelArgs {
  std::string file;
  std::vector<std::string> sets;
  int64_t batch = 1;
  std::string model;
  ir::FusionOptions fusion = ir::FusionOptions::none();  // ir/fusion.h: plan and compile, unless --no-fusion
};

void add_model_args(CLI::App* cmd, ModelArgs& a);

// A validator for counts (--batch, --steps): a whole decimal number from 1 to 2^63 - 1, checked on the
// text, so that 0, -1, "abc" and a number too large for int64 get a plain message (CLI11's range check
// prints a 300-digit bound and clamps an overflow silently).
CLI::Validator positive_count();

// Loads and verifies the model; user mistakes come out as UserError / UserErrors.
ir::Graph load(const ModelArgs& a, SourceManager& sources);

// Prints the diagnostics on stderr (coloured on a terminal); returns the exit code 1.
int print_errors(const std::vector<Diagnostic>& diags, const SourceManager& sources);

// Writes `text` to `path` ("" or "-": stdout); on failure says so on stderr and returns false.
bool write_output(const std::string& path, const std::string& text);

}  // namespace sublinear::cli
