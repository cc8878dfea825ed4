#pragma once
// The CUDA backend as a plug-in: the `sublinear` CLI does not link CUDA, cuDNN or cuBLAS. They are linked
// into libsublinear_cuda_backend.so (runtime/cuda/backend_entry.cpp), which is opened with dlopen the
// first time something asks for a CUDA device (`device: cuda:N`, an auto budget on one, `--version`), so
// a CPU run never maps the CUDA libraries (about 190 MB of resident memory in every figure it reports).
// Rules:
// - The plug-in is found at $SUBLINEAR_CUDA_BACKEND if set, else next to the executable (the build tree,
//   a device bundle), else in ../lib/sublinear beside it (an installed tree).
// - It must come from the same build as the executable (the C++ types cross the boundary): both carry
//   the build id CMake chose at configure time, and a mismatch is refused with both paths named.
// - Loaded once per process and never closed; a failure is remembered and reported the same way each time.
#include <optional>
#include <string>

#include "runtime/cuda/device_info.h"
#include "runtime/training_program.h"

namespace sublinear::runtime {

// What the plug-in exports, through one extern "C" function (kCudaBackendSymbol).
struct CudaBackendApi {
  const char* build_id;
  train::ProgramFactory (*program_factory)(int device, bool deterministic);
  std::optional<size_t> (*free_bytes)(int device);
  CudaStatus (*query_devices)();
  int (*device_count)();
};
inline constexpr const char* kCudaBackendSymbol = "sublinear_cuda_backend_api";
inline constexpr const char* kCudaBackendFile = "libsublinear_cuda_backend.so";

// Whether this build made the plug-in at all (configured with a CUDA toolkit).
bool cuda_backend_built();

// The plug-in, loaded on first use; nullptr with `why` set when it is not built, not found or not
// loadable (e.g. a CUDA library missing on this machine).
const CudaBackendApi* load_cuda_backend(std::string* why);

}  // namespace sublinear::runtime
