#pragma once
// `sublinear plan`: plan the memory of one training step and report it before anything runs.
//   sublinear plan model.snet --batch 32 [--set k=v]... [--model NAME] [--policy none|drop-cheap|sqrt|log]
//       [--memory-budget 6GiB] [--costs profile.json] [--no-inplace] [--no-sharing]
//       [--optimizer sgd|momentum|adam] [--json]
//       [--compare | --frontier] [--frontier-svg out.svg] [--timeline out.svg] [--validate]
#include <CLI/CLI.hpp>
#include <string>

#include "cli/model_args.h"
#include "ir/diagnostic.h"

namespace sublinear::cli {

struct PlanArgs {
  ModelArgs model;
  std::string policy = "none";
  std::string memory_budget;  // empty: none
  std::string costs;          // a profile.json from train --profile; empty: FLOPs
  bool no_inplace = false;
  bool no_sharing = false;
  bool no_fusion = false;
  std::string optimizer = "momentum";
  bool json = false;
  bool compare = false;
  bool frontier = false;
  std::string frontier_svg;   // SVG path; empty: none (implies computing the frontier)
  std::string timeline;       // SVG path; empty: none
  bool validate = false;
};

// Adds the `plan` subcommand to `app`, binding its options to `args` (which must outlive parsing).
CLI::App* add_plan_command(CLI::App& app, PlanArgs& args);

// Runs it: the report on stdout, user errors as diagnostics on stderr. Returns the exit code.
int run_plan_command(const PlanArgs& args, SourceManager& sources);

}  // namespace sublinear::cli
