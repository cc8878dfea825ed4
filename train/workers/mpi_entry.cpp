// libsublinear_mpi.so: the Communicator over MPI (train/workers/communicator.h), opened only when a run is
// started by an MPI launcher, so a single-process run never maps the MPI libraries.
//
// The ordered sum is a reduce-scatter and an all-gather written with MPI_Alltoallv and MPI_Allgatherv:
// worker p receives every worker's part p and adds the K copies in rank order itself. That keeps MPI's
// bandwidth-optimal pattern (each worker sends and receives 2 (K - 1) / K of the buffer) while the
// arithmetic, hence the bits, no longer depends on the algorithm MPI picks for the message size.
#include <mpi.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "train/workers/communicator.h"

namespace sublinear::runtime::train {
namespace {

// Elements per exchange, so every MPI count fits an int whatever the buffer.
constexpr int64_t kMaxExchange = int64_t{1} << 28;

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator(int thread_level) : any_thread_(thread_level >= MPI_THREAD_SERIALIZED) {
    MPI_Comm_dup(MPI_COMM_WORLD, &comm_);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    MPI_Comm local;
    MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, &local_rank_);
    MPI_Comm_size(local, &local_size_);
    MPI_Comm_free(&local);
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(version, &len);
    library_ = std::string(version, static_cast<size_t>(len));
    library_ = library_.substr(0, library_.find(','));
    while (!library_.empty() && (library_.back() == '\n' || library_.back() == ' ')) library_.pop_back();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  int local_size() const override { return local_size_; }
  std::string describe() const override {
    return "MPI (" + library_ + "), " + std::to_string(size_) + " workers";
  }
  bool any_thread() const override { return any_thread_; }

  void sum(float* x, int64_t n) override { ordered_sum(x, n, MPI_FLOAT, scratch_f_); }
  void sum(double* x, int64_t n) override { ordered_sum(x, n, MPI_DOUBLE, scratch_d_); }

  std::vector<std::string> gather_all(const std::string& mine) override {
    int len = static_cast<int>(mine.size());
    std::vector<int> lens(static_cast<size_t>(size_)), displs(static_cast<size_t>(size_));
    MPI_Allgather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, comm_);
    int total = 0;
    for (int p = 0; p < size_; ++p) {
      displs[static_cast<size_t>(p)] = total;
      total += lens[static_cast<size_t>(p)];
    }
    std::string all(static_cast<size_t>(total), '\0');
    MPI_Allgatherv(mine.data(), len, MPI_CHAR, all.data(), lens.data(), displs.data(), MPI_CHAR, comm_);
    std::vector<std::string> out;
    for (int p = 0; p < size_; ++p)
      out.push_back(all.substr(static_cast<size_t>(displs[static_cast<size_t>(p)]),
                               static_cast<size_t>(lens[static_cast<size_t>(p)])));
    return out;
  }

  [[noreturn]] void abort(int code) override {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);  // MPI_Abort does not return; should it, end this worker anyway
  }

 private:
  template <class T>
  void ordered_sum(T* x, int64_t n, MPI_Datatype type, std::vector<T>& scratch) {
    if (size_ == 1 || n <= 0) return;
    for (int64_t at = 0; at < n; at += kMaxExchange) exchange(x + at, std::min(kMaxExchange, n - at), type, scratch);
  }

  template <class T>
  void exchange(T* x, int64_t n, MPI_Datatype type, std::vector<T>& scratch) {
    const auto k = static_cast<size_t>(size_);
    const int64_t part = (n + size_ - 1) / size_;
    std::vector<int> counts(k), displs(k), rcounts(k), rdispls(k);
    for (size_t p = 0; p < k; ++p) {
      const int64_t begin = std::min(n, static_cast<int64_t>(p) * part);
      counts[p] = static_cast<int>(std::min(n, begin + part) - begin);
      displs[p] = static_cast<int>(begin);
    }
    const int mine = counts[static_cast<size_t>(rank_)];
    for (size_t p = 0; p < k; ++p) {
      rcounts[p] = mine;
      rdispls[p] = static_cast<int>(p) * mine;
    }
    if (scratch.size() < k * static_cast<size_t>(mine)) scratch.resize(k * static_cast<size_t>(mine));
    MPI_Alltoallv(x, counts.data(), displs.data(), type, scratch.data(), rcounts.data(), rdispls.data(), type, comm_);
    T* out = x + displs[static_cast<size_t>(rank_)];
    const T* in = scratch.data();
    for (int j = 0; j < mine; ++j) {
      T acc = in[j];
      for (size_t p = 1; p < k; ++p) acc += in[p * static_cast<size_t>(mine) + static_cast<size_t>(j)];
      out[j] = acc;
    }
    MPI_Allgatherv(MPI_IN_PLACE, 0, type, x, counts.data(), displs.data(), type, comm_);
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  bool any_thread_ = false;
  std::string library_;
  std::vector<float> scratch_f_;
  std::vector<double> scratch_d_;
};

void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

Communicator* connect(std::string* why) {
  static MpiCommunicator* comm = nullptr;
  if (comm != nullptr) return comm;
  int initialized = 0;
  MPI_Initialized(&initialized);
  int provided = MPI_THREAD_SINGLE;
  if (!initialized && MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS) {
    if (why != nullptr) *why = "MPI_Init_thread failed";
    return nullptr;
  }
  if (initialized) MPI_Query_thread(&provided);
  std::atexit(finalize_at_exit);
  comm = new MpiCommunicator(provided);  // lives until the process ends, like MPI itself
  return comm;
}

const MpiPluginApi kApi{SUBLINEAR_BUILD_ID, connect};

}  // namespace
}  // namespace sublinear::runtime::train

extern "C" __attribute__((visibility("default"))) const sublinear::runtime::train::MpiPluginApi*
sublinear_mpi_plugin_api() {
  return &sublinear::runtime::train::kApi;
}
