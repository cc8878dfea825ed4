#pragma once
// What CUDA devices this process can use; empty-handed, never fatal, where there is no driver or GPU.
#include <optional>
#include <string>
#include <vector>

namespace sublinear::runtime {

struct CudaDeviceInfo {
  int index = 0;
  std::string name;
  size_t total_bytes = 0;
  size_t free_bytes = 0;
  int major = 0, minor = 0;
};

struct CudaStatus {
  int runtime_version = 0;            // e.g. 13000
  std::vector<CudaDeviceInfo> devices;
  std::string why_none;               // set when devices is empty
};

CudaStatus query_cuda_devices();

// The free memory of one device (cudaMemGetInfo on it alone: no context on the others); nullopt when
// the device does not exist or cannot be queried.
std::optional<size_t> cuda_free_bytes(int device);

// How many devices this process sees (after CUDA_VISIBLE_DEVICES), without making a context on any; 0
// without a driver or GPU.
int cuda_device_count();

}  // namespace sublinear::runtime
