#pragma once
// Helpers shared by the data sources (internal to train/data): the factories of the three sources,
// counter-based random draws (a draw is a pure function of its coordinates, so batches do not depend
// on thread timing), the key=value encoding of saved states, and describe()'s number formatting.
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/counter_rng.h"
#include "train/data/dataset.h"

namespace sublinear::runtime::data {

std::unique_ptr<DataSource> make_synthetic_source(const DataConfig& cfg, const std::vector<InputSpec>& inputs,
                                                  uint64_t seed);
// Whether a synthetic shard of `local` (at a worker's batch, split along `axes`) is the slice of the global
// batch of `global`: the rules tie the same inputs at both batches, and along the same axis.
bool synthetic_shard_is_slice(const std::vector<InputSpec>& global, const std::vector<InputSpec>& local,
                              const std::vector<int>& axes);
// Worker shard.rank's rows of the synthetic global batch; `inputs` at the share's batch.
std::unique_ptr<DataSource> make_synthetic_shard(const DataConfig& cfg, const std::vector<InputSpec>& inputs,
                                                 uint64_t seed, DataShard shard);
std::unique_ptr<DataSource> make_imagenet_source(const DataConfig& cfg, const std::vector<InputSpec>& inputs,
                                                 uint64_t seed, DataShard shard);
std::unique_ptr<DataSource> make_text_source(const DataConfig& cfg, const std::vector<InputSpec>& inputs,
                                             uint64_t seed);
// Worker shard.rank's rows of the text source's global batch; `inputs` at the share's batch.
std::unique_ptr<DataSource> make_text_shard(const DataConfig& cfg, const std::vector<InputSpec>& inputs, uint64_t seed,
                                            DataShard shard);

// Uniform in [0, 1) with 53 random bits.
inline double hash_uniform(uint64_t h) { return static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0); }

// Uniform integer in [0, n); the modulo bias of a 64-bit hash is below 2^-40 for any n < 2^24.
inline int64_t hash_below(uint64_t h, int64_t n) { return static_cast<int64_t>(h % static_cast<uint64_t>(n)); }

// A standard normal from one 64-bit hash (Box-Muller on its two 32-bit halves; the cosine branch).
inline float hash_normal(uint64_t h) {
  double u1 = (static_cast<double>(h >> 32) + 1.0) * (1.0 / 4294967296.0);  // (0, 1]: log is finite
  double u2 = static_cast<double>(h & 0xffffffffULL) * (1.0 / 4294967296.0);
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

// A whole file's bytes; std::runtime_error naming the file when it cannot be read.
std::vector<uint8_t> read_file_bytes(const std::string& path);

// "1,281,167"
std::string format_count(int64_t n);

// Saved states are "<kind> key=value ..." with integer values, so a state from another kind of source
// or a damaged checkpoint is recognised instead of silently misread.
std::string encode_state(const std::string& kind, const std::map<std::string, int64_t>& values);
// Throws std::runtime_error unless `state` is a `kind` state holding every key in `keys`.
std::map<std::string, int64_t> decode_state(const std::string& kind, const std::string& state,
                                            const std::vector<std::string>& keys);

// The batch buffers must hold the inputs the source was opened for (same element type and size): a
// mismatch is a trainer bug.
void check_batch(const std::vector<InputSpec>& inputs, const std::vector<Tensor>& out);

// "x: f32[32, 3, 224, 224] (features), labels: i32[32] (labels, 1000 classes)", for errors.
std::string describe_inputs(const std::vector<InputSpec>& inputs);

}  // namespace sublinear::runtime::data
