// The CUDA context (see cuda_context.h for the rules): stream, handles, scratch, the device error slot
// and the device probe.
#include "runtime/cuda/cuda_context.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "ir/graph.h"
#include "runtime/cuda/cuda_check.h"

namespace sublinear::runtime::cuda {

namespace {

// cuBLAS's recommended workspace for Hopper; set once so it never allocates on its own.
constexpr int64_t kCublasWorkspace = int64_t{32} << 20;
// Scratch grows in whole MiB so that a series of slightly larger requests does not reallocate each time.
constexpr int64_t kScratchGranule = int64_t{1} << 20;

__global__ void probe_kernel(int* out) { *out = 42; }

}  // namespace

CudaContext::CudaContext(int device, bool deterministic) : device_(device), deterministic_(deterministic) {
  SL_CUDA_CHECK(cudaSetDevice(device_));
  // Non-blocking: no implicit ordering with the legacy default stream, which nothing here uses.
  SL_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  SL_CUDNN_CHECK(cudnnCreate(&cudnn_));
  SL_CUDNN_CHECK(cudnnSetStream(cudnn_, stream_));
  SL_CUBLAS_CHECK(cublasCreate(&cublas_));
  SL_CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
  SL_CUBLAS_CHECK(cublasSetPointerMode(cublas_, CUBLAS_POINTER_MODE_HOST));
  SL_CUBLAS_CHECK(cublasSetMathMode(cublas_, CUBLAS_DEFAULT_MATH));
  SL_CUDA_CHECK(cudaMalloc(&cublas_workspace_, static_cast<size_t>(kCublasWorkspace)));
  cublas_workspace_bytes_ = kCublasWorkspace;
  SL_CUBLAS_CHECK(cublasSetWorkspace(cublas_, cublas_workspace_, static_cast<size_t>(kCublasWorkspace)));
  SL_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&error_dev_), sizeof(DeviceError)));
  SL_CUDA_CHECK(cudaMemsetAsync(error_dev_, 0, sizeof(DeviceError), stream_));
  SL_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&error_host_), sizeof(DeviceError)));
  *error_host_ = DeviceError{};
  SL_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

CudaContext::~CudaContext() {
  // Return codes are ignored: a destructor cannot report them, and a failure here means the device is
  // already gone.
  cudaSetDevice(device_);
  if (stream_) cudaStreamSynchronize(stream_);
  if (conv_cache_) destroy_conv_cache(conv_cache_);
  if (cublas_) cublasDestroy(cublas_);
  if (cudnn_) cudnnDestroy(cudnn_);
  cudaFree(cublas_workspace_);
  cudaFree(scratch_);
  cudaFree(error_dev_);
  cudaFreeHost(error_host_);
  if (stream_) cudaStreamDestroy(stream_);
}

void CudaContext::activate() const { SL_CUDA_CHECK(cudaSetDevice(device_)); }

void CudaContext::reserve_scratch(int64_t bytes) {
  if (bytes <= scratch_bytes_) return;
  const int64_t want = (bytes + kScratchGranule - 1) / kScratchGranule * kScratchGranule;
  // Kernels queued earlier may still read the old buffer.
  SL_CUDA_CHECK(cudaStreamSynchronize(stream_));
  SL_CUDA_CHECK(cudaFree(scratch_));
  scratch_ = nullptr;
  scratch_bytes_ = 0;
  SL_CUDA_CHECK(cudaMalloc(&scratch_, static_cast<size_t>(want)));
  scratch_bytes_ = want;
}

void* CudaContext::scratch(int64_t bytes) {
  if (bytes <= scratch_bytes_) return scratch_;
  // Growing frees the old buffer, which calls already built for this step may still point at (their
  // workspace): after lock_scratch() that would be a use after free, so it is a bug in a kernel's
  // *_scratch_bytes, stopped here.
  SL_CHECK(!scratch_locked_) << "CUDA scratch request of " << bytes << " bytes during a step, above the " << scratch_bytes_
                             << " reserved at setup: a kernel's scratch estimate (cuda_scratch_bytes) misses it";
  reserve_scratch(bytes);
  return scratch_;
}

int64_t CudaContext::owned_device_bytes() const {
  return cublas_workspace_bytes_ + scratch_bytes_ + static_cast<int64_t>(sizeof(DeviceError));
}

void CudaContext::note_node(const ir::Node& n, int64_t axis) {
  std::lock_guard<std::mutex> lock(labels_mutex_);
  if (labels_.count(n.id) == 0) labels_.emplace(n.id, NodeLabel{n.op, n.name, axis});
}

void CudaContext::enqueue_error_copy() {
  SL_CUDA_CHECK(cudaMemcpyAsync(error_host_, error_dev_, sizeof(DeviceError), cudaMemcpyDeviceToHost, stream_));
}

void CudaContext::check_error_copy() {
  if (error_host_->code() == kNoDeviceError) return;
  const DeviceError e = *error_host_;
  // Cleared so the next step starts clean (a caller may catch, fix its data and continue).
  *error_host_ = DeviceError{};
  SL_CUDA_CHECK(cudaMemsetAsync(error_dev_, 0, sizeof(DeviceError), stream_));
  throw_error(e);
}

void CudaContext::throw_if_error() {
  enqueue_error_copy();
  SL_CUDA_CHECK(cudaStreamSynchronize(stream_));
  check_error_copy();
}

void CudaContext::throw_error(const DeviceError& e) {
  NodeLabel l;
  {
    std::lock_guard<std::mutex> lock(labels_mutex_);
    auto it = labels_.find(e.node());
    l = it != labels_.end() ? it->second : NodeLabel{"node", "#" + std::to_string(e.node()), 0};
  }
  const std::string value = std::to_string(e.value()), position = std::to_string(e.position()),
                    limit = std::to_string(e.limit);
  // The CPU kernels' messages and exception types, word for word, so callers handle both backends alike.
  if (e.code() == kIndexOutOfRange && l.op == "take")
    throw std::out_of_range("take '" + l.name + "': index " + value + " at position " + position + " is outside axis " +
                            std::to_string(l.axis) + " of " + limit + " entries");
  if (e.code() == kIndexOutOfRange)
    throw std::out_of_range(l.op + " '" + l.name + "': index " + value + " at position " + position +
                            " is outside the table of " + limit + " rows");
  throw std::runtime_error(l.op + " (" + l.name + "): label " + value + " at position " + position +
                           " is out of range [0, " + limit + ")");
}

ConvCache& CudaContext::conv_cache() {
  if (conv_cache_ == nullptr) conv_cache_ = create_conv_cache();
  return *conv_cache_;
}

CudaContext& default_cuda_context() {
  static CudaContext* ctx = [] {
    int device = 0;
    SL_CUDA_CHECK(cudaGetDevice(&device));
    return new CudaContext(device, true);
  }();
  return *ctx;
}

bool probe_cuda_device(int device, std::string* why) {
  auto fail = [why](const std::string& m) {
    if (why) *why = m;
    cudaGetLastError();  // clear a sticky "no device" or "no kernel image" error for later callers
    return false;
  };
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) return fail(std::string("cudaGetDeviceCount: ") + cudaGetErrorString(e));
  if (device < 0 || device >= count)
    return fail("device cuda:" + std::to_string(device) + " does not exist (" + std::to_string(count) +
                " device" + (count == 1 ? "" : "s") + " visible)");
  if ((e = cudaSetDevice(device)) != cudaSuccess) return fail(std::string("cudaSetDevice: ") + cudaGetErrorString(e));
  int* flag = nullptr;
  if ((e = cudaMalloc(reinterpret_cast<void**>(&flag), sizeof(int))) != cudaSuccess)
    return fail(std::string("cudaMalloc: ") + cudaGetErrorString(e));
  probe_kernel<<<1, 1>>>(flag);
  e = cudaGetLastError();
  if (e == cudaSuccess) e = cudaDeviceSynchronize();
  int value = 0;
  if (e == cudaSuccess) e = cudaMemcpy(&value, flag, sizeof(int), cudaMemcpyDeviceToHost);
  cudaFree(flag);
  if (e != cudaSuccess) return fail(std::string("a test kernel failed: ") + cudaGetErrorString(e));
  if (value != 42) return fail("a test kernel ran but wrote the wrong value");
  size_t v = cudnnGetVersion();
  if (v < 90000) return fail("cuDNN " + std::to_string(v) + " is older than 9.0");
  return true;
}

void device_memory(int device, int64_t* free_bytes, int64_t* total_bytes) {
  SL_CUDA_CHECK(cudaSetDevice(device));
  size_t f = 0, t = 0;
  SL_CUDA_CHECK(cudaMemGetInfo(&f, &t));
  *free_bytes = static_cast<int64_t>(f);
  *total_bytes = static_cast<int64_t>(t);
}

}  // namespace sublinear::runtime::cuda
