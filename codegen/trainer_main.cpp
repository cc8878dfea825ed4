#include "codegen/trainer_main.h"

#include <CLI/CLI.hpp>
#include <iostream>

#include "codegen/cpp_text.h"
#include "train/config_error.h"
#include "train/experiment_config.h"

namespace sublinear::codegen::support {

std::optional<int> parse_trainer_args(int argc, char** argv, const std::string& description, Backend backend,
                                      runtime::train::TrainRequest& req) {
  // The options and their help text are `sublinear train`'s (cli/train_command.cpp).
  CLI::App app{description};
  int64_t steps = -1;
  app.add_option("experiment", req.experiment, "experiment file (YAML)")->required();
  app.add_option("--set", req.overrides, "override a YAML key by its dotted path: key=value (repeatable)")->take_all();
  app.add_flag("--resume", req.resume, "continue from the newest checkpoint of the run");
  app.add_option("--steps", steps, "total steps of the run (replaces steps/epochs)")->check(CLI::PositiveNumber);
  app.add_option("--run-dir", req.run_dir, "run directory (replaces run_dir; checkpoints and metrics go here)");
  app.add_flag("--quiet", req.quiet, "no plan summary or progress");
  app.add_flag("--profile", req.profile,
               "time every plan step (CPU trainers) and write profile.json to the run directory, for plan --costs");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (steps > 0) req.steps = steps;

  runtime::train::ExperimentConfig cfg;
  try {
    cfg = runtime::train::load_experiment(req.experiment, req.overrides);
  } catch (const std::exception&) {
    return std::nullopt;  // run_train_cli reads it again and reports the mistake with its location
  }
  const bool cuda = cfg.device.kind == runtime::train::DeviceKind::Cuda;
  if (cuda != (backend == Backend::Cuda)) {
    const char* fix = backend == Backend::Cuda ? "use device: cuda:N (--set device=cuda:0)"
                                               : "use device: cpu (--set device=cpu)";
    const runtime::ConfigError e(cfg.loc("device"),
                                 cat("the experiment runs on ", cfg.device.str(),
                                     ", and this trainer was compiled for the ",
                                     backend == Backend::Cuda ? "CUDA" : "CPU", " backend; ", fix,
                                     ", or compile a trainer for this device, or use `sublinear train`"));
    std::cerr << e.what() << "\n";
    return 1;
  }
  return std::nullopt;
}

}  // namespace sublinear::codegen::support
