#include "train/workers/sharded_source.h"

#include <cstring>
#include <stdexcept>

namespace sublinear::runtime::train {

std::vector<int> batch_axes(const std::vector<data::InputSpec>& global, const std::vector<data::InputSpec>& local,
                            int workers) {
  if (global.size() != local.size())
    throw std::runtime_error("the model has " + std::to_string(global.size()) + " inputs at the global batch and " +
                             std::to_string(local.size()) + " at a worker's: its inputs must not depend on batch");
  std::vector<int> axes;
  for (size_t k = 0; k < global.size(); ++k) {
    const ir::Shape &g = global[k].type.shape, &l = local[k].type.shape;
    int axis = -1;
    bool ok = g.size() == l.size();
    for (size_t a = 0; ok && a < g.size(); ++a) {
      if (g[a] == l[a]) continue;
      if (axis >= 0 || g[a] != l[a] * workers) ok = false;
      axis = static_cast<int>(a);
    }
    if (!ok)
      throw std::runtime_error("model input '" + global[k].name + "' is " + global[k].type.str() +
                               " at the global batch but " + local[k].type.str() + " at a worker's batch (1/" +
                               std::to_string(workers) + "): data-parallel training needs one batch axis per input");
    axes.push_back(axis);
  }
  return axes;
}

namespace {

class ShardedSource final : public data::DataSource {
 public:
  ShardedSource(std::unique_ptr<DataSource> src, std::vector<data::InputSpec> global, std::vector<int> axes, int rank,
                int workers)
      : src_(std::move(src)), axes_(std::move(axes)), rank_(rank), workers_(workers) {
    for (const data::InputSpec& in : global) {
      storage_.emplace_back(static_cast<size_t>(in.type.bytes()));
      global_.push_back(Tensor{storage_.back().data(), in.type});
    }
  }

  void next(std::vector<Tensor>& out) override {
    src_->next(global_);
    for (size_t k = 0; k < global_.size(); ++k) {
      const Tensor& g = global_[k];
      Tensor& l = out[k];
      if (axes_[k] < 0) {
        std::memcpy(l.data, g.data, static_cast<size_t>(g.bytes()));
        continue;
      }
      const auto axis = static_cast<size_t>(axes_[k]);
      int64_t outer = 1, inner = ir::dtype_size(g.type.dtype);
      for (size_t a = 0; a < axis; ++a) outer *= g.type.shape[a];
      for (size_t a = axis + 1; a < g.type.shape.size(); ++a) inner *= g.type.shape[a];
      const int64_t whole = g.type.shape[axis], part = whole / workers_;
      const auto* src = static_cast<const char*>(g.data);
      auto* dst = static_cast<char*>(l.data);
      for (int64_t o = 0; o < outer; ++o)
        std::memcpy(dst + o * part * inner, src + (o * whole + rank_ * part) * inner, static_cast<size_t>(part * inner));
    }
  }
  std::string save_state() const override { return src_->save_state(); }
  void restore_state(const std::string& state) override { src_->restore_state(state); }
  std::string describe() const override {
    return src_->describe() + "; worker " + std::to_string(rank_) + " of " + std::to_string(workers_) +
           " trains on its 1/" + std::to_string(workers_) + " of each batch";
  }
  int64_t epoch_size() const override { return src_->epoch_size(); }
  std::vector<std::string> take_skipped() override { return src_->take_skipped(); }
  int64_t skipped_total() const override { return src_->skipped_total(); }

 private:
  std::unique_ptr<DataSource> src_;
  std::vector<int> axes_;
  int rank_, workers_;
  std::vector<std::vector<std::byte>> storage_;
  std::vector<Tensor> global_;
};

}  // namespace

std::unique_ptr<data::DataSource> shard_source(std::unique_ptr<data::DataSource> global_source,
                                               std::vector<data::InputSpec> global, std::vector<int> axes, int rank,
                                               int workers) {
  return std::make_unique<ShardedSource>(std::move(global_source), std::move(global), std::move(axes), rank, workers);
}

}  // namespace sublinear::runtime::train
