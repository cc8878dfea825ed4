#pragma once
// Error checks for CUDA runtime, cuDNN and cuBLAS calls. Rules: a failing call is reported with the call
// text, the library's error name and description, file and line, through sublinear::internal_check_failed
// (prints, then aborts): a failed launch or library call means a bug or a broken device, not a user
// mistake, and continuing would only corrupt state. User-level conditions (not enough memory for a plan,
// no device) are checked before the calls and thrown as std::runtime_error by the callers instead.
// Usable from host C++ and from .cu files; the macros evaluate `call` exactly once.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <string>

#include "ir/check.h"

namespace sublinear::runtime::cuda::detail {

[[noreturn]] inline void cuda_call_failed(const char* call, const char* lib, const char* name, const char* text,
                                          const char* file, int line) {
  std::string m = std::string(lib) + " error " + name + " (" + text + ")";
  internal_check_failed(call, file, line, m);
}

inline void check_cuda(cudaError_t e, const char* call, const char* file, int line) {
  if (e != cudaSuccess) cuda_call_failed(call, "CUDA", cudaGetErrorName(e), cudaGetErrorString(e), file, line);
}

inline void check_cudnn(cudnnStatus_t s, const char* call, const char* file, int line) {
  if (s != CUDNN_STATUS_SUCCESS) {
    // cudnnGetErrorString gives the status name; the last-error string says what was wrong with the call.
    char detail[512] = {0};
    cudnnGetLastErrorString(detail, sizeof(detail));
    cuda_call_failed(call, "cuDNN", cudnnGetErrorString(s), detail[0] != 0 ? detail : "no detail", file, line);
  }
}

inline void check_cublas(cublasStatus_t s, const char* call, const char* file, int line) {
  if (s != CUBLAS_STATUS_SUCCESS)
    cuda_call_failed(call, "cuBLAS", cublasGetStatusName(s), cublasGetStatusString(s), file, line);
}

}  // namespace sublinear::runtime::cuda::detail

#define SL_CUDA_CHECK(call) ::sublinear::runtime::cuda::detail::check_cuda((call), #call, __FILE__, __LINE__)
#define SL_CUDNN_CHECK(call) ::sublinear::runtime::cuda::detail::check_cudnn((call), #call, __FILE__, __LINE__)
#define SL_CUBLAS_CHECK(call) ::sublinear::runtime::cuda::detail::check_cublas((call), #call, __FILE__, __LINE__)
// After a kernel launch: a bad configuration is reported here, at the launch, not at a later call.
#define SL_CUDA_LAUNCH_CHECK() SL_CUDA_CHECK(cudaGetLastError())
