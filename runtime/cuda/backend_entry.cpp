// The one symbol libsublinear_cuda_backend.so exports (runtime/cuda_backend.h): the CUDA program
// factory and device queries of this build, tagged with its build id.
#include "runtime/cuda/cuda_program.h"
#include "runtime/cuda/device_info.h"
#include "runtime/cuda_backend.h"

namespace {

sublinear::runtime::train::ProgramFactory program_factory(int device, bool deterministic) {
  return sublinear::runtime::cuda::cuda_program_factory(device, deterministic);
}

const sublinear::runtime::CudaBackendApi kApi{SUBLINEAR_BUILD_ID, program_factory,
                                              sublinear::runtime::cuda_free_bytes,
                                              sublinear::runtime::query_cuda_devices,
                                              sublinear::runtime::cuda_device_count};

}  // namespace

extern "C" __attribute__((visibility("default"))) const sublinear::runtime::CudaBackendApi* sublinear_cuda_backend_api() {
  return &kApi;
}
