// Fuzz target: an experiment file (YAML) through the config loader, as `sublinear train` reads it before
// anything else. A ConfigError is the expected outcome for most inputs; a crash, a sanitizer report, a
// hang or runaway memory is a finding. The model file the input may name is the fuzz corpus's own.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "train/config_error.h"
#include "train/experiment_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sublinear::runtime;
  static const std::string path =
      (std::filesystem::temp_directory_path() / ("experiment_fuzz_" + std::to_string(getpid()) + ".yaml")).string();
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    train::ExperimentConfig cfg = train::load_experiment(path, {});
    (void)cfg.to_yaml();
    (void)cfg.hash();
  } catch (const ConfigError&) {
  } catch (const std::runtime_error&) {  // I/O: the model file named cannot be read
  }
  return 0;
}
