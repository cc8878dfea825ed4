#pragma once
// Data sources feed the model's inputs, one batch per training step, into host buffers the trainer
// owns. Which input gets what is decided from the graph (input_specs): images go to the 4-D f32 input,
// class labels to the i32 input read by softmax_cross_entropy, token ids to the i32 input an embedding
// reads. A source is deterministic given its seed and position, and its position can be saved in a
// checkpoint and restored, so a resumed run sees exactly the batches an uninterrupted one would.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "train/data/data_config.h"
#include "runtime/tensor.h"

namespace sublinear::runtime::data {

enum class InputRole {
  Features,  // f32 input: images [N, C, H, W], vectors [N, D] or sequences [N, T, D]
  Labels,    // i32 class ids in [0, int_range): read by softmax_cross_entropy (or accuracy) as labels
  Tokens,    // i32 token ids in [0, int_range): read by an embedding
};

struct InputSpec {
  std::string name;
  ir::TensorType type;
  InputRole role = InputRole::Features;
  int64_t int_range = 0;  // Labels: classes (the logits' last dimension); Tokens: the embedding's vocab
};

// The model inputs in declaration order with their roles; throws std::runtime_error naming the input
// when an i32 input's range cannot be inferred.
std::vector<InputSpec> input_specs(const ir::Graph& g);

class DataSource {
 public:
  virtual ~DataSource() = default;
  // Fills `out` (already sized to the inputs' bytes) with the next batch.
  virtual void next(std::vector<Tensor>& out) = 0;
  // Position and RNG state, opaque, for checkpoints; restore() continues exactly where save() was.
  virtual std::string save_state() const = 0;
  virtual void restore_state(const std::string& state) = 0;
  virtual std::string describe() const = 0;  // "imagenet: 1,281,167 images in 1,000 classes, 8 workers"
  virtual int64_t epoch_size() const { return 0; }  // samples per epoch; 0 = unbounded (synthetic)
  // Samples replaced under data.bad_images: skip in the batches next() has returned since the last
  // call, one reason each ("cannot decode <file>: ..."), in batch order; and the count over the whole
  // run (it is part of the saved state, so a resumed run counts on).
  virtual std::vector<std::string> take_skipped() { return {}; }
  virtual int64_t skipped_total() const { return 0; }
};

// Opens the source the config names for these inputs; ConfigError (naming data.* keys) when the
// config does not fit the model or the data is missing.
std::unique_ptr<DataSource> open_data_source(const DataConfig& cfg, const std::vector<InputSpec>& inputs,
                                             uint64_t seed);

// A data-parallel worker's share of each global batch: samples [rank b, (rank + 1) b) of every batch of
// workers * b samples, b the batch of the inputs a sharded source is opened for. Its position and saved
// state are the global batch's, the same on every worker.
struct DataShard {
  int rank = 0, workers = 1;
  // Per input, the axis its global batch splits along (-1: every worker gets all of it), as
  // train::batch_axes finds it. Synthetic data needs it (shard_needs_batch_axes); ImageNet's inputs are
  // all [N, ...].
  std::vector<int> axes;
};

// Whether the source this config names makes only a worker's share: ImageNet decodes only its share's
// images (except under bad_images: skip, whose replaced-sample count must cover the whole batch; it is
// then drawn whole and sliced by the caller, train/workers/sharded_source.h); synthetic data computes
// only its share's elements (each a pure function of its global position, so the same values a slice
// of the global batch holds); text cuts only its share's windows (its inputs are all [N, ...]).
bool reads_only_its_shard(const DataConfig& cfg);
// Whether open_data_shard needs DataShard::axes for this config (synthetic data), and then whether it can
// make a worker's rows of these inputs (`global` at the global batch, `local` at the worker's, split
// along `axes`): synthetic features follow labels, and labels tokens, only where both split alike; when
// not, the caller draws the global batch and slices it.
bool shard_needs_batch_axes(const DataConfig& cfg);
bool can_open_data_shard(const DataConfig& cfg, const std::vector<InputSpec>& global,
                         const std::vector<InputSpec>& local, const std::vector<int>& axes);

// The source for worker shard.rank's share, `inputs` at that share's batch; reads_only_its_shard(cfg).
std::unique_ptr<DataSource> open_data_shard(const DataConfig& cfg, const std::vector<InputSpec>& inputs,
                                            uint64_t seed, DataShard shard);

}  // namespace sublinear::runtime::data
