#pragma once
// `sublinear train`: run an experiment file.
//   sublinear train experiment.yaml [--set key=value]... [--resume] [--steps N] [--run-dir DIR] [--quiet]
// --set overrides any YAML key by its dotted path (memory.policy=sqrt, optimizer.lr=0.05,
// model.params.depth=50).
#include <CLI/CLI.hpp>

#include "train/trainer.h"

namespace sublinear::cli {

struct TrainArgs {
  runtime::train::TrainRequest request;
  int64_t steps = -1;
  bool no_fusion = false;
};

CLI::App* add_train_command(CLI::App& app, TrainArgs& args);
int run_train_command(TrainArgs& args);

}  // namespace sublinear::cli
