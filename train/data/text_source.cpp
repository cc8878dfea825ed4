// Text data for character-level language models: a file read whole, tokens are bytes ("byte": ids
// 0-255) or the file's distinct bytes in sorted order ("char"). The model predicts the next token.
//
// Rules:
//   * Inputs: tokens i32[N, T] (read by an embedding) and labels i32[N, T]; or one-hot features
//     f32[N, T, V] and labels i32[N, T]; labels[t] = token[t + 1], so each row is a window of T + 1
//     tokens. A model with only a tokens input i32[N, T] (shifting them itself) gets windows of T.
//   * Batch row r of step s: with data.shuffle, a window starting at a position drawn from
//     (seed, s, r); without, window (s * N + r) mod W of the W windows at strides of T, in order. N and
//     r are the global batch's: a data-parallel worker makes only its rows [rank b, (rank + 1) b).
//   * The model must have room for the vocabulary: the embedding's vocab, the logits' classes and the
//     one-hot width are at least the number of distinct tokens, else a ConfigError at data.level.
//   * State: the step counter.
#include <fmt/format.h>

#include <array>
#include <cstring>
#include <filesystem>

#include "ir/path_check.h"
#include "train/data/source_util.h"

namespace sublinear::runtime::data {

namespace {

class TextSource : public DataSource {
 public:
  TextSource(const DataConfig& cfg, const std::vector<InputSpec>& inputs, uint64_t seed, DataShard shard = {})
      : cfg_(cfg), inputs_(inputs), seed_(seed), shard_(std::move(shard)) {
    find_inputs();
    if (cfg_.level != "char" && cfg_.level != "byte")
      throw ConfigError(cfg_.locs.at("data.level"),
                        fmt::format("unknown level '{}'; the levels are char (the vocabulary is the file's "
                                    "distinct bytes) and byte (all 256 byte values)",
                                    cfg_.level));
    read_text();
    check_vocabulary();
  }

  void next(std::vector<Tensor>& out) override {
    check_batch(inputs_, out);
    int64_t n = batch_, t = steps_;
    if (features_ >= 0) std::memset(out[features_].data, 0, static_cast<size_t>(out[features_].bytes()));
    for (int64_t r = 0; r < n; ++r) {
      const uint8_t* w = text_.data() + window_start(r);
      if (tokens_ >= 0) {
        int32_t* tok = out[tokens_].i32() + r * t;
        for (int64_t i = 0; i < t; ++i) tok[i] = w[i];
      }
      if (features_ >= 0) {
        float* f = out[features_].f32() + r * t * one_hot_;
        for (int64_t i = 0; i < t; ++i) f[i * one_hot_ + w[i]] = 1.0f;
      }
      if (labels_ >= 0) {
        int32_t* lab = out[labels_].i32() + r * t;
        for (int64_t i = 0; i < t; ++i) lab[i] = w[i + 1];
      }
    }
    ++step_;
  }

  std::string save_state() const override { return encode_state("text", {{"step", step_}}); }

  void restore_state(const std::string& state) override { step_ = decode_state("text", state, {"step"}).at("step"); }

  std::string describe() const override {
    return fmt::format("text: {}, {} bytes, {} level: {} tokens; {} windows of {} tokens", cfg_.path,
                       format_count(static_cast<int64_t>(text_.size())), cfg_.level, vocab_,
                       cfg_.shuffle ? "random" : "sequential", window_);
  }

  int64_t epoch_size() const override { return windows_; }

 private:
  void find_inputs() {
    bool others = false;
    for (size_t k = 0; k < inputs_.size(); ++k) {
      const InputSpec& in = inputs_[k];
      int* slot = in.role == InputRole::Tokens ? &tokens_ : in.role == InputRole::Labels ? &labels_ : &features_;
      if (*slot >= 0) others = true;
      *slot = static_cast<int>(k);
    }
    bool ok = !others && (tokens_ >= 0) != (features_ >= 0);
    if (ok && tokens_ >= 0) {
      const ir::TensorType& tok = inputs_[tokens_].type;
      ok = tok.rank() == 2 && (labels_ < 0 || inputs_[labels_].type.shape == tok.shape);
      if (ok) {
        batch_ = tok.shape[0];
        steps_ = tok.shape[1];
      }
    } else if (ok) {
      const ir::TensorType& f = inputs_[features_].type;
      ok = labels_ >= 0 && f.dtype == ir::DType::F32 && f.rank() == 3 &&
           inputs_[labels_].type.shape == ir::Shape{f.shape[0], f.shape[1]};
      if (ok) {
        batch_ = f.shape[0];
        steps_ = f.shape[1];
        one_hot_ = f.shape[2];
      }
    }
    if (!ok)
      throw ConfigError(cfg_.locs.at("data.kind"),
                        fmt::format("text data fills tokens i32[N, T] (read by an embedding) and labels i32[N, T] "
                                    "(the next tokens), or one-hot features f32[N, T, V] and labels i32[N, T], or "
                                    "tokens i32[N, T] alone; the model's inputs are {}",
                                    describe_inputs(inputs_)));
    window_ = labels_ >= 0 ? steps_ + 1 : steps_;
  }

  void read_text() {
    ConfigLoc loc = cfg_.locs.at("data.path");
    if (cfg_.path.empty()) throw ConfigError(loc, "no file given: text data needs data.path, a text file");
    if (const std::string why = ir::regular_file_problem(cfg_.path); why == "no such file")
      throw ConfigError(loc, fmt::format("no such file '{}'; to run without data, use --set data.kind=synthetic",
                                         cfg_.path));
    else if (!why.empty())
      throw ConfigError(loc, fmt::format("'{}' {}; data.path names a text file", cfg_.path, why));
    try {
      text_ = read_file_bytes(cfg_.path);
    } catch (const std::exception& e) {
      throw ConfigError(loc, e.what());
    }
    if (static_cast<int64_t>(text_.size()) < window_)
      throw ConfigError(loc, fmt::format("'{}' has {} bytes, too few for one window of {} tokens (the model's "
                                         "sequence length {}{})",
                                         cfg_.path, text_.size(), window_, steps_, labels_ >= 0 ? " plus 1" : ""));
    std::array<bool, 256> present{};
    for (uint8_t b : text_) present[b] = true;
    distinct_ = 0;
    for (bool p : present) distinct_ += p ? 1 : 0;
    if (cfg_.level == "byte") {
      vocab_ = 256;
      for (int b = 0; b < 256; ++b) symbols_.push_back(static_cast<uint8_t>(b));
    } else {
      std::array<uint8_t, 256> id{};
      for (int b = 0; b < 256; ++b)
        if (present[b]) {
          id[b] = static_cast<uint8_t>(symbols_.size());
          symbols_.push_back(static_cast<uint8_t>(b));
        }
      vocab_ = static_cast<int64_t>(symbols_.size());
      for (auto& b : text_) b = id[b];
    }
    windows_ = (static_cast<int64_t>(text_.size()) - window_) / steps_ + 1;
  }

  void check_vocabulary() const {
    auto check = [&](int input, int64_t room, const char* what) {
      if (input < 0 || room >= vocab_) return;
      std::string hint = cfg_.level == "byte" && distinct_ <= room
                             ? fmt::format("; level char needs only {} (the file's distinct bytes)", distinct_)
                             : "";
      throw ConfigError(cfg_.locs.at("data.level"),
                        fmt::format("{} level gives {} tokens ({}), but the model's {} is {} (input '{}'); make it "
                                    "at least {}{}",
                                    cfg_.level, vocab_,
                                    cfg_.level == "byte" ? "every byte value" : "the distinct bytes of the file",
                                    what, room, inputs_[input].name, vocab_, hint));
    };
    check(tokens_, tokens_ >= 0 ? inputs_[tokens_].int_range : 0, "embedding vocab");
    check(labels_, labels_ >= 0 ? inputs_[labels_].int_range : 0, "number of classes");
    check(features_, one_hot_, "one-hot width (the features' last dimension)");
  }

  int64_t window_start(int64_t local_row) const {
    const int64_t row = shard_.rank * batch_ + local_row, batch = batch_ * shard_.workers;
    if (cfg_.shuffle) {
      int64_t starts = static_cast<int64_t>(text_.size()) - window_ + 1;
      return hash_below(counter_hash(seed_, static_cast<uint64_t>(step_), 0, static_cast<uint64_t>(row)), starts);
    }
    return ((step_ * batch + row) % windows_) * steps_;
  }

  DataConfig cfg_;
  std::vector<InputSpec> inputs_;
  uint64_t seed_;
  int tokens_ = -1, labels_ = -1, features_ = -1;
  DataShard shard_;
  int64_t batch_ = 0, steps_ = 0, one_hot_ = 0;  // batch_: this source's rows (a worker's share)
  int64_t window_ = 0;   // tokens a row reads
  int64_t windows_ = 0;  // windows at strides of steps_: the sequential order's epoch
  std::vector<uint8_t> text_;  // token ids
  std::vector<uint8_t> symbols_;  // token id -> byte
  int64_t vocab_ = 0, distinct_ = 0;
  int64_t step_ = 0;
};

}  // namespace

std::unique_ptr<DataSource> make_text_source(const DataConfig& cfg, const std::vector<InputSpec>& inputs,
                                             uint64_t seed) {
  return std::make_unique<TextSource>(cfg, inputs, seed);
}

std::unique_ptr<DataSource> make_text_shard(const DataConfig& cfg, const std::vector<InputSpec>& inputs, uint64_t seed,
                                            DataShard shard) {
  return std::make_unique<TextSource>(cfg, inputs, seed, std::move(shard));
}

}  // namespace sublinear::runtime::data
