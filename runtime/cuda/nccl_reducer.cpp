#include "runtime/cuda/nccl_reducer.h"

#include <dlfcn.h>
#include <nccl.h>

#include <exception>
#include <mutex>
#include <stdexcept>

#include "ir/check.h"

namespace sublinear::runtime::cuda {

struct NcclReducer::Lib {
  decltype(&ncclGetUniqueId) get_unique_id = nullptr;
  decltype(&ncclCommInitRank) comm_init_rank = nullptr;
  decltype(&ncclCommDestroy) comm_destroy = nullptr;
  decltype(&ncclCommAbort) comm_abort = nullptr;
  decltype(&ncclAllReduce) all_reduce = nullptr;
  decltype(&ncclGroupStart) group_start = nullptr;
  decltype(&ncclGroupEnd) group_end = nullptr;
  decltype(&ncclGetErrorString) error_string = nullptr;
  decltype(&ncclGetVersion) get_version = nullptr;
};

namespace {

constexpr const char* kNcclLibrary = "libnccl.so.2";

void check(const NcclReducer::Lib& lib, ncclResult_t r, const char* call, const char* file, int line) {
  if (r == ncclSuccess) return;
  throw std::runtime_error(std::string("NCCL: ") + call + " failed: " + lib.error_string(r) + " (" + file + ":" +
                           std::to_string(line) + ")");
}

#define SL_NCCL_CHECK(lib, call) check(lib, (lib).call, #call, __FILE__, __LINE__)

const NcclReducer::Lib* open_nccl(std::string* why) {
  static std::once_flag once;
  static NcclReducer::Lib lib;
  static const NcclReducer::Lib* loaded = nullptr;
  static std::string reason;
  std::call_once(once, [] {
    void* h = dlopen(kNcclLibrary, RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) {
      const char* e = dlerror();
      reason = std::string("cannot load NCCL (") + kNcclLibrary + "): " + (e ? e : "dlopen failed") +
               "; data-parallel training on GPUs needs it (it ships with the CUDA toolkit or as libnccl2)";
      return;
    }
    bool ok = true;
    auto sym = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(h, name));
      if (fn == nullptr) {
        ok = false;
        reason = std::string(kNcclLibrary) + " has no " + name;
      }
    };
    sym(lib.get_unique_id, "ncclGetUniqueId");
    sym(lib.comm_init_rank, "ncclCommInitRank");
    sym(lib.comm_destroy, "ncclCommDestroy");
    sym(lib.comm_abort, "ncclCommAbort");
    sym(lib.all_reduce, "ncclAllReduce");
    sym(lib.group_start, "ncclGroupStart");
    sym(lib.group_end, "ncclGroupEnd");
    sym(lib.error_string, "ncclGetErrorString");
    sym(lib.get_version, "ncclGetVersion");
    if (ok) loaded = &lib;
  });
  if (loaded == nullptr && why != nullptr) *why = reason;
  return loaded;
}

const NcclReducer::Lib& require_nccl() {
  std::string why;
  const NcclReducer::Lib* lib = open_nccl(&why);
  if (lib == nullptr) throw std::runtime_error(why);
  return *lib;
}

}  // namespace

std::string NcclReducer::make_id() {
  const Lib& lib = require_nccl();
  ncclUniqueId id;
  SL_NCCL_CHECK(lib, get_unique_id(&id));
  return std::string(id.internal, sizeof(id.internal));
}

NcclReducer::NcclReducer(const std::string& id, int rank, int workers)
    : lib_(require_nccl()), rank_(rank), workers_(workers) {
  ncclUniqueId uid;
  if (id.size() != sizeof(uid.internal))
    throw std::runtime_error("NCCL: the bootstrap id from worker 0 has " + std::to_string(id.size()) + " bytes, not " +
                             std::to_string(sizeof(uid.internal)));
  id.copy(uid.internal, sizeof(uid.internal));
  ncclComm_t comm = nullptr;
  SL_NCCL_CHECK(lib_, comm_init_rank(&comm, workers, uid, rank));
  comm_ = comm;
}

NcclReducer::~NcclReducer() {
  if (comm_ == nullptr) return;
  // Unwinding from an error: ncclCommDestroy would wait for peers that may never arrive (one of them
  // failed), so the error would never reach the launcher's abort. ncclCommAbort returns at once.
  if (std::uncaught_exceptions() > 0)
    lib_.comm_abort(static_cast<ncclComm_t>(comm_));
  else
    lib_.comm_destroy(static_cast<ncclComm_t>(comm_));
}

void NcclReducer::average(const std::vector<ParamBuffer>& params, cudaStream_t stream) {
  auto comm = static_cast<ncclComm_t>(comm_);
  SL_NCCL_CHECK(lib_, group_start());
  for (const ParamBuffer& p : params) {
    if (!p.trainable || !p.has_grad || p.grad == nullptr) continue;
    const auto n = static_cast<size_t>(ir::num_elements(p.type.shape));
    SL_NCCL_CHECK(lib_, all_reduce(p.grad, p.grad, n, ncclFloat32, ncclAvg, comm, stream));
  }
  SL_NCCL_CHECK(lib_, group_end());
}

std::string NcclReducer::describe() const {
  int v = 0;
  lib_.get_version(&v);
  return "NCCL " + std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100) +
         ", rank " + std::to_string(rank_) + " of " + std::to_string(workers_);
}

}  // namespace sublinear::runtime::cuda
