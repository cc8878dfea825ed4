#pragma once
// `sublinear compile`: a model's training plan as a standalone trainer (C++ source, then an executable).
//   sublinear compile model.snet --batch N [--set k=v]... [--model NAME] [--policy none|drop-cheap|sqrt|log]
//       [--memory-budget SIZE] [--no-inplace] [--no-sharing] [--optimizer sgd|momentum|adam]
//       [--backend cpu|cuda] -o trainer [--emit-source-only]
//   sublinear compile experiment.yaml [--set key=value]... [--backend cpu|cuda] -o trainer [--emit-source-only]
// With a .snet file, --set sets model params and the flags choose the plan (as `sublinear plan`); with an
// experiment (.yaml, .yml), the experiment does (as `sublinear train`) and --set overrides its keys.
// Writes <trainer>.cpp, then builds <trainer> with the compiler and libraries this CLI was built with.
// The trainer takes `sublinear train`'s arguments and runs only experiments that plan to the same plan.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "ir/diagnostic.h"

namespace sublinear::cli {

struct CompileArgs {
  std::string input;                // .snet model or .yaml experiment
  std::vector<std::string> sets;
  int64_t batch = 0;                // 0: not given
  std::string model;
  std::string policy;               // empty: not given (none)
  std::string memory_budget;
  bool no_inplace = false;
  bool no_sharing = false;
  bool no_fusion = false;
  std::string optimizer;            // empty: not given (momentum)
  std::string backend;              // empty: cpu, or the experiment's device
  std::string output;
  bool emit_source_only = false;
  int chunk_steps = 100;
  int workers = 1;                  // data-parallel workers the trainer runs as (mpirun -np K): plans batch / K
};

CLI::App* add_compile_command(CLI::App& app, CompileArgs& args);

// Runs it: progress on stdout, errors on stderr. Returns the exit code.
int run_compile_command(const CompileArgs& args, SourceManager& sources);

}  // namespace sublinear::cli
