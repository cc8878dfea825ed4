#include "cli/train_command.h"

#include <iostream>

#include "cli/model_args.h"

namespace sublinear::cli {

CLI::App* add_train_command(CLI::App& app, TrainArgs& a) {
  auto* c = app.add_subcommand("train", "train a model from an experiment file (YAML)");
  c->add_option("experiment", a.request.experiment, "experiment file (YAML)")->required();
  c->add_option("--set", a.request.overrides, "override a YAML key by its dotted path: key=value (repeatable)")
      ->take_all();
  c->add_flag("--resume", a.request.resume, "continue from the newest checkpoint of the run");
  c->add_option("--steps", a.steps, "total steps of the run (replaces steps/epochs)")->check(positive_count());
  c->add_option("--run-dir", a.request.run_dir, "run directory (replaces run_dir; checkpoints and metrics go here)");
  c->add_flag("--quiet", a.request.quiet, "no plan summary or progress");
  c->add_flag("--no-fusion", a.no_fusion, "train the ops as written, without fusion (memory.fusion=false)");
  c->add_flag("--profile", a.request.profile,
              "time every node's forward, recompute and backward steps; writes profile.json to the run directory "
              "(for plan --costs and memory.costs)");
  return c;
}

int run_train_command(TrainArgs& a) {
  if (a.steps > 0) a.request.steps = a.steps;
  if (a.no_fusion) a.request.overrides.push_back("memory.fusion=false");
  return runtime::train::run_train_cli(a.request, std::cout, std::cerr);
}

}  // namespace sublinear::cli
