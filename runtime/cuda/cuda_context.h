#pragma once
// What every CUDA kernel of a program runs against: one device, one stream, the cuDNN and cuBLAS
// handles bound to that stream, a scratch buffer, a slot for data errors found on the device, and the
// convolution descriptors and algorithms chosen per geometry.
// Rules:
// - Everything is enqueued on stream(): kernels, library calls and copies, so work is ordered without
//   events and a kernel may reuse the scratch buffer the previous one used.
// - No math mode that rounds below f32: cuBLAS runs in CUBLAS_DEFAULT_MATH (no TF32) with a fixed
//   workspace set once (which also keeps its kernel choice, hence its bits, fixed), cuDNN convolutions in
//   CUDNN_FMA_MATH.
// - Device memory is allocated when the context or a program is set up, never per step: scratch()
//   grows only when a caller asks for more than reserve_scratch() set up, and after lock_scratch() (a
//   program locks it before its first step) it never grows: a larger request is a missed reservation,
//   and growing would free a buffer the step's calls still point at, so it fails an SL_CHECK.
// - Data errors (an embedding index or a label out of range) cannot be thrown from a kernel: the kernel
//   records the first one in device memory and the host turns it into the CPU backend's exception at
//   the next synchronisation (throw_if_error).
// The header is plain C++ so host-only code (the program) can use it.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace sublinear::ir {
struct Node;
}

namespace sublinear::runtime::cuda {

enum DeviceErrorCode : int { kNoDeviceError = 0, kIndexOutOfRange = 1, kLabelOutOfRange = 2 };

// The first data error of a step, as the CPU reports it: the first node (in stream order) that found one,
// and in it the smallest offending position, whatever order its threads ran in. Zeroed = none.
// tag = code << 32 | node, set once (compare-and-swap from 0), so a kernel's threads learn atomically
// whether the slot is theirs; first = ~(position << 32 | uint32 value), maximised, so the smallest
// position wins (positions from 2^32 on are recorded as 2^32 - 1).
struct DeviceError {
  unsigned long long tag;
  unsigned long long first;
  long long limit;  // the valid range is [0, limit)
  int code() const { return static_cast<int>(tag >> 32); }
  int node() const { return static_cast<int>(tag & 0xffffffffu); }
  long long position() const { return static_cast<long long>((~first) >> 32); }
  long long value() const { return static_cast<int32_t>(static_cast<uint32_t>((~first) & 0xffffffffu)); }
};

struct ConvCache;  // per-geometry cuDNN state, defined in conv_kernels.cu
ConvCache* create_conv_cache();
void destroy_conv_cache(ConvCache* c);

class CudaContext {
 public:
  // Selects `device`, creates the stream and handles. `deterministic` restricts cuDNN to algorithms
  // that give the same bits on every run.
  CudaContext(int device, bool deterministic);
  ~CudaContext();
  CudaContext(const CudaContext&) = delete;
  CudaContext& operator=(const CudaContext&) = delete;

  int device() const { return device_; }
  bool deterministic() const { return deterministic_; }
  cudaStream_t stream() const { return stream_; }
  cudnnHandle_t cudnn() const { return cudnn_; }
  cublasHandle_t cublas() const { return cublas_; }
  // Makes this context's device current for the calling thread (cheap when it already is).
  void activate() const;

  // A device buffer of at least `bytes`, valid until the next scratch() call that grows it.
  void* scratch(int64_t bytes);
  void* scratch_data() const { return scratch_; }
  int64_t scratch_bytes() const { return scratch_bytes_; }
  void reserve_scratch(int64_t bytes);
  void lock_scratch() { scratch_locked_ = true; }
  int64_t owned_device_bytes() const;  // cuBLAS workspace, scratch and the error slot

  DeviceError* device_error() const { return error_dev_; }
  // Remembers node `n` (op, name; take's resolved axis), so that a data error can be worded as the CPU
  // kernel words it.
  void note_node(const ir::Node& n, int64_t axis = 0);
  // Queues a copy of the error slot into host memory; check_error_copy() reads it once the stream has
  // passed that point (after a synchronisation).
  void enqueue_error_copy();
  void check_error_copy();
  // Synchronises the stream and throws the data error a kernel recorded, if any.
  void throw_if_error();

  ConvCache& conv_cache();

 private:
  void throw_error(const DeviceError& e);

  int device_ = 0;
  bool deterministic_ = false;
  cudaStream_t stream_ = nullptr;
  cudnnHandle_t cudnn_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  void* cublas_workspace_ = nullptr;
  int64_t cublas_workspace_bytes_ = 0;
  void* scratch_ = nullptr;
  int64_t scratch_bytes_ = 0;
  bool scratch_locked_ = false;
  DeviceError* error_dev_ = nullptr;
  DeviceError* error_host_ = nullptr;  // pinned
  std::mutex labels_mutex_;
  struct NodeLabel {
    std::string op, name;
    int64_t axis = 0;  // take: the axis its indices address
  };
  std::unordered_map<int, NodeLabel> labels_;
  ConvCache* conv_cache_ = nullptr;
};

// A process-wide context on the current device, deterministic, created on first use and never
// destroyed (tearing down handles after the CUDA runtime has shut down at exit fails). The kernel table
// of cuda_kernels() runs on it.
CudaContext& default_cuda_context();

// Launches a trivial kernel on `device` and waits for it: false (with the reason) when there is no
// driver, no such device, or the device cannot run this build's code.
bool probe_cuda_device(int device, std::string* why);

// Free and total bytes of `device`.
void device_memory(int device, int64_t* free_bytes, int64_t* total_bytes);

}  // namespace sublinear::runtime::cuda
