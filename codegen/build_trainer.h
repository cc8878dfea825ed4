#pragma once
// Building a generated trainer: the compiler, flags, include folders and link line `sublinear` itself
// was built with (recorded by CMake in toolchain_config.h), so the trainer links the very runtime
// libraries the CLI runs. Rules:
// - The compiler is run directly (no shell), its stdout and stderr captured together.
// - An installed CLI (P/bin/sublinear, from `cmake --install`) links P/lib/sublinear and includes
//   P/include/sublinear; a CLI in its build tree links that tree's libraries and includes its sources.
// - The static sublinear libraries are linked as one group (their order cannot matter), then the
//   shared libraries they need; folders of shared libraries outside the system's get an rpath, so the
//   trainer runs without LD_LIBRARY_PATH.
// - Include folders the compiler searches anyway are left out (an -I/usr/include breaks #include_next).
// - A CUDA trainer adds the CUDA backend's static libraries to the group and the CUDA runtime, cuBLAS and
//   cuDNN after them; it needs no CUDA headers (the generated source has no device code).
#include <string>
#include <vector>

#include "codegen/backend.h"

namespace sublinear::codegen {

// Whether this build has the CUDA backend to link a CUDA trainer against.
bool backend_available(Backend backend);

// Where the sublinear static libraries a trainer links are (for messages).
std::string trainer_library_dir();

// The full command line: compiler, flags, includes, -o output, source, libraries.
std::vector<std::string> trainer_build_command(const std::string& source, const std::string& output,
                                               Backend backend);

// For messages: the command as a shell would take it (arguments quoted where needed).
std::string shell_command(const std::vector<std::string>& argv);

struct BuildResult {
  bool ok = false;
  int exit_code = -1;      // the compiler's; -1 when it could not be started or was killed
  std::string command;     // shell_command()
  std::string output;      // the compiler's stdout and stderr
  double seconds = 0;
};

BuildResult build_trainer(const std::string& source, const std::string& output, Backend backend);

}  // namespace sublinear::codegen
