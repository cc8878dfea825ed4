#pragma once
// Data-parallel gradient sums between GPUs over NCCL, for the CUDA program (train/workers bootstraps it:
// worker 0 makes the id, MPI hands it to every worker). Rules:
// - NCCL is opened with dlopen on first use, not linked: libnccl.so.2 is over 200 MB, absent from some
//   machines and too large for the device bundle, and the CUDA plug-in must load without it. A machine
//   without it gets a std::runtime_error naming the library, when a data-parallel run asks for it.
// - average() replaces every gradient by its mean over the workers (ncclAvg, in place, one group), on the
//   program's stream after the backward pass. NCCL picks its own reduction order; for a fixed K and
//   machine it repeats, but it is not the CPU workers' rank order.
// - Destroyed while an exception unwinds, the communicator is aborted (ncclCommAbort), not destroyed:
//   destroying waits for the other ranks, and a failed one never comes.
// - A failing NCCL call is a std::runtime_error naming the call, file and line: a network or peer failure
//   is the run's, not a bug here.
#include <cuda_runtime.h>

#include <memory>
#include <string>
#include <vector>

#include "runtime/program_buffers.h"

namespace sublinear::runtime::cuda {

class NcclReducer {
 public:
  struct Lib;  // the entry points, from dlopen

  // A fresh NCCL unique id (ncclGetUniqueId), as bytes; worker 0 makes it.
  static std::string make_id();
  // Joins the communicator of `workers` ranks as `rank` on the current device.
  NcclReducer(const std::string& id, int rank, int workers);
  ~NcclReducer();
  NcclReducer(const NcclReducer&) = delete;
  NcclReducer& operator=(const NcclReducer&) = delete;

  // Every gradient of `params` (device pointers) becomes its mean over the workers.
  void average(const std::vector<ParamBuffer>& params, cudaStream_t stream);
  std::string describe() const;  // "NCCL 2.28.9, rank 0 of 2"

 private:
  const Lib& lib_;
  void* comm_ = nullptr;
  int rank_ = 0, workers_ = 1;
};

}  // namespace sublinear::runtime::cuda
