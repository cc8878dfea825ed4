#pragma once
// The command line of a generated trainer: exactly `sublinear train`'s arguments (experiment.yaml,
// --set, --resume, --steps, --run-dir, --quiet), parsed here once rather than in every generated file
// (CLI11 alone would add seconds to each trainer's compile). A generated trainer runs the CPU backend:
// an experiment for a CUDA device is refused here, since run_train_cli runs whatever program its factory
// makes, whatever the experiment's device.
#include <optional>
#include <string>

#include "runtime/train/trainer.h"

namespace sublinear::codegen::support {

// Fills `req` from the arguments. Returns an exit code when the trainer should stop now (--help: 0; a
// usage mistake or an experiment on another device: its message on stderr and non-zero), nullopt to go
// on and train.
std::optional<int> parse_trainer_args(int argc, char** argv, const std::string& description,
                                      runtime::train::TrainRequest& req);

}  // namespace sublinear::codegen::support
