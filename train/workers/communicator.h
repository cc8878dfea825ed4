#pragma once
// The workers of a data-parallel run and what they exchange (train/workers/README in README.md's
// "Data-parallel training"). One process per worker, launched by mpirun; a run without it has no
// communicator at all and trains exactly as a single process always did. Rules:
// - Every call is collective: every worker makes the same calls in the same order with the same sizes.
// - sum() adds each element over the workers in rank order (((x0 + x1) + x2) + ...), whatever the
//   transport's own reduction order, so every worker gets the same bits and a run with a given K repeats
//   bitwise; K = 1 leaves x unchanged.
// - A worker that fails calls abort(): the launcher ends every worker (no one waits in a collective
//   forever), and the exit code is non-zero.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sublinear::runtime::train {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual int local_rank() const = 0;     // among the workers on this machine (picks the GPU)
  virtual int local_size() const = 0;     // workers on this machine (they share its memory)
  virtual std::string describe() const = 0;  // "MPI (Open MPI v4.1.4), 2 workers"
  // Elementwise sum over workers into x on every worker, in rank order. Thread-safe against nothing:
  // one thread at a time calls into a communicator.
  virtual void sum(float* x, int64_t n) = 0;
  virtual void sum(double* x, int64_t n) = 0;
  // Every worker's string, by rank.
  virtual std::vector<std::string> gather_all(const std::string& mine) = 0;
  // Whether calls may come from any thread, one at a time (MPI_THREAD_SERIALIZED); else only from the
  // thread that connected.
  virtual bool any_thread() const = 0;
  // Ends every worker with `code` (MPI_Abort); does not return.
  [[noreturn]] virtual void abort(int code) = 0;
};

// The plug-in's API (libsublinear_mpi.so, train/workers/mpi_entry.cpp), loaded with runtime/plugin_loader.h.
struct MpiPluginApi {
  const char* build_id;
  // Initialises MPI (once per process) and returns the world's communicator; nullptr with `why` set.
  Communicator* (*connect)(std::string* why);
};
inline constexpr const char* kMpiPluginSymbol = "sublinear_mpi_plugin_api";
inline constexpr const char* kMpiPluginFile = "libsublinear_mpi.so";

// Whether this process was started by an MPI launcher (mpirun, srun with PMI): the environment it sets.
bool launched_by_mpi();

// The number of processes the launcher started (OMPI_COMM_WORLD_SIZE, PMI_SIZE, SLURM_NTASKS), -1 when
// it does not say.
int launcher_world_size();

// The communicator of this run: nullptr when not launched by MPI (a single-process run). Under an MPI
// launcher, the MPI plug-in's; std::runtime_error naming the reason when it cannot be loaded or MPI cannot
// start, except that a launcher's only process (srun -n 1) then trains alone, with a warning. Made once
// per process.
Communicator* connect_workers();

}  // namespace sublinear::runtime::train
