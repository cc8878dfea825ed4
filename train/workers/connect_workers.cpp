#include <cstdlib>
#include <mutex>
#include <stdexcept>

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

Communicator* connect_workers() {
  static std::once_flag once;
  static Communicator* comm = nullptr;
  static std::string why;
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
  });
  if (comm == nullptr && launched_by_mpi()) throw std::runtime_error("data-parallel workers: " + why);
  return comm;
}

}  // namespace sublinear::runtime::train
