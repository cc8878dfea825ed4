#include <cstdlib>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <string>

#include "runtime/plugin_loader.h"
#include "train/workers/communicator.h"

namespace sublinear::runtime::train {

bool launched_by_mpi() {
  // Open MPI sets OMPI_COMM_WORLD_SIZE; MPICH, Intel MPI and Slurm's PMI set PMI_SIZE; PMIx launchers
  // PMIX_RANK.
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (const char* s = std::getenv(v); s != nullptr && *s != '\0') return true;
  return false;
}

int launcher_world_size() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS", "SLURM_NPROCS"}) {
    const char* s = std::getenv(v);
    if (s == nullptr || *s == '\0') continue;
    char* end = nullptr;
    const long n = std::strtol(s, &end, 10);
    if (*end == '\0' && n > 0 && n < (1L << 30)) return static_cast<int>(n);
  }
  return -1;
}

Communicator* connect_workers() {
  static std::once_flag once;
  static Communicator* comm = nullptr;
  static std::string why;
  static bool alone = false;  // one process under a launcher that could not join MPI: trains by itself
  std::call_once(once, [] {
    if (!launched_by_mpi()) return;
#ifndef SUBLINEAR_MPI_PLUGIN_BUILT
    why = "this process was started by an MPI launcher, but this sublinear was built without MPI (no MPI at "
          "configure time; scripts/install_deps.sh installs Open MPI)";
#else
    static constexpr PluginSpec kSpec{"the MPI plug-in", kMpiPluginFile, kMpiPluginSymbol, "SUBLINEAR_MPI_PLUGIN"};
    const auto* api = static_cast<const MpiPluginApi*>(load_plugin(kSpec, &why));
    if (api != nullptr) comm = api->connect(&why);
#endif
    // `srun -n 1 sublinear train` (Slurm sets PMI variables for every job step) is a single-process run:
    // nothing to connect to, so it trains alone rather than failing.
    if (comm == nullptr && launcher_world_size() == 1) {
      alone = true;
      std::cerr << "warning: " << why << "; this is the launcher's only process, so it trains alone\n";
    }
  });
  if (comm == nullptr && !alone && launched_by_mpi()) throw std::runtime_error("data-parallel workers: " + why);
  return comm;
}

}  // namespace sublinear::runtime::train
