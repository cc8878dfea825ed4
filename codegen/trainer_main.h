#pragma once
// The command line of a generated trainer: exactly `sublinear train`'s arguments (experiment.yaml,
// --set, --resume, --steps, --run-dir, --quiet), parsed here once rather than in every generated file
// (CLI11 alone would add seconds to each trainer's compile). A generated trainer runs the backend it was
// compiled for: an experiment for another device is refused here, since run_train_cli would otherwise
// run whatever program its factory makes (a CPU trainer), or the interpreter (a CUDA trainer on device:
// cpu).
#include <optional>
#include <string>

#include "codegen/backend.h"
#include "train/trainer.h"

namespace sublinear::codegen::support {

// Fills `req` from the arguments. Returns an exit code when the trainer should stop now (--help: 0; a
// usage mistake or an experiment on another device: its message on stderr and non-zero), nullopt to go
// on and train.
std::optional<int> parse_trainer_args(int argc, char** argv, const std::string& description, Backend backend,
                                      runtime::train::TrainRequest& req);

}  // namespace sublinear::codegen::support
