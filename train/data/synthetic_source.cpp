// Synthetic data: random but learnable, for runs without a dataset. Every value is a pure function of
// (seed, step, input, element), so the source's whole state is the step counter, and a data-parallel
// worker computes only its rows: element e of its share is drawn at the index that element has in the
// global batch, so its values are exactly the slice of the global batch one process would draw.
//
// Rules:
//   * Tokens: uniform in [0, int_range).
//   * The first Labels input (the "primary" labels): when a Tokens input has the same shape, each label
//     is a fixed random function of the token at the same place (class_of[token], drawn once from the
//     seed), so a model can learn it through its embedding. Otherwise labels are uniform in
//     [0, int_range). Further Labels inputs are uniform.
//   * Features (f32): features = kSignal * prototype[label] + kNoise * normal(0, 1), with
//     kSignal^2 + kNoise^2 = 1 so every element has unit variance. prototype[c] is a fixed normal(0, 1)
//     pattern per class (drawn once from the seed). Which label an element follows: when the primary
//     labels' shape is a prefix of the features' shape ([N] of [N, D], [N, T] of [N, T, D]), each label
//     owns the slice of features below it; otherwise, when only N agrees, a row follows its first label;
//     otherwise features are plain noise. Prototypes of slices with two or more trailing axes (images
//     [C, H, W]) are constant over a 4x4 grid of blocks of the last two axes, so a convolutional net
//     with global pooling sees a class in its colours and coarse layout rather than in per-pixel noise.
#include <algorithm>

#include "train/data/source_util.h"

namespace sublinear::runtime::data {

namespace {

constexpr float kSignal = 0.6f;
constexpr float kNoise = 0.8f;
constexpr int64_t kGrid = 4;  // prototype blocks per spatial axis
// Seeds of the fixed draws (prototypes, token classes), apart from the per-step draws.
constexpr uint64_t kPrototypeStream = 0x70726f746fULL;
constexpr uint64_t kTokenClassStream = 0x746f6b636cULL;
// Loops this long are split over OpenMP threads (the values do not depend on the split).
constexpr int64_t kParallelMin = int64_t{1} << 15;

bool is_prefix(const ir::Shape& p, const ir::Shape& s) {
  return p.size() < s.size() && std::equal(p.begin(), p.end(), s.begin());
}

// How the rules above tie the inputs together, decided from their shapes.
enum class Follow : int8_t { Noise, Prefix, FirstAxis };  // which label a features element follows
struct Links {
  int labels = -1;        // the primary Labels input
  int label_tokens = -1;  // the Tokens input the primary labels are a function of
  std::vector<Follow> follow;  // per input (Features only)
  bool operator==(const Links&) const = default;
};

Links link_inputs(const std::vector<InputSpec>& in) {
  Links l;
  for (size_t k = 0; k < in.size() && l.labels < 0; ++k)
    if (in[k].role == InputRole::Labels) l.labels = static_cast<int>(k);
  if (l.labels >= 0)
    for (size_t k = 0; k < in.size(); ++k)
      if (in[k].role == InputRole::Tokens && in[k].type.shape == in[static_cast<size_t>(l.labels)].type.shape) {
        l.label_tokens = static_cast<int>(k);
        break;
      }
  l.follow.assign(in.size(), Follow::Noise);
  if (l.labels < 0) return l;
  const ir::Shape& ls = in[static_cast<size_t>(l.labels)].type.shape;
  for (size_t k = 0; k < in.size(); ++k) {
    const ir::Shape& s = in[k].type.shape;
    if (in[k].role != InputRole::Features) continue;
    if (is_prefix(ls, s)) l.follow[k] = Follow::Prefix;
    else if (!ls.empty() && !s.empty() && ls[0] == s[0]) l.follow[k] = Follow::FirstAxis;
  }
  return l;
}

class SyntheticSource : public DataSource {
 public:
  SyntheticSource(const DataConfig& cfg, std::vector<InputSpec> inputs, uint64_t seed, DataShard shard = {})
      : inputs_(std::move(inputs)), seed_(seed), shard_(std::move(shard)) {
    for (size_t k = 0; k < inputs_.size(); ++k) {
      const InputSpec& in = inputs_[k];
      if (in.role == InputRole::Features && in.type.dtype != ir::DType::F32) {
        std::string msg = "synthetic data fills f32 features, but model input '";
        msg += in.name;
        msg += "' is ";
        msg += in.type.str();
        throw ConfigError(cfg.locs.at("data.kind"), msg);
      }
    }
    links_ = link_inputs(inputs_);
    labels_ = links_.labels;
    label_tokens_ = links_.label_tokens;
  }

  void next(std::vector<Tensor>& out) override {
    check_batch(inputs_, out);
    // Tokens first, then the labels that may depend on them, then the features that depend on labels.
    for (size_t k = 0; k < inputs_.size(); ++k)
      if (inputs_[k].role == InputRole::Tokens) fill_uniform(k, out[k]);
    for (size_t k = 0; k < inputs_.size(); ++k) {
      if (inputs_[k].role != InputRole::Labels) continue;
      if (static_cast<int>(k) == labels_ && label_tokens_ >= 0) fill_token_classes(out[k], out[label_tokens_]);
      else fill_uniform(k, out[k]);
    }
    for (size_t k = 0; k < inputs_.size(); ++k)
      if (inputs_[k].role == InputRole::Features) fill_features(k, out[k], labels_ >= 0 ? &out[labels_] : nullptr);
    ++step_;
  }

  std::string save_state() const override { return encode_state("synthetic", {{"step", step_}}); }

  void restore_state(const std::string& state) override {
    step_ = decode_state("synthetic", state, {"step"}).at("step");
  }

  std::string describe() const override {
    std::string s = "synthetic: random data from seed ";
    s += std::to_string(seed_);
    if (labels_ >= 0) {
      s += label_tokens_ >= 0 ? ", labels a fixed function of the tokens"
                              : ", features = class prototype + noise, so labels are learnable";
    }
    if (shard_.workers > 1) {
      s += "; worker ";
      s += std::to_string(shard_.rank);
      s += " of ";
      s += std::to_string(shard_.workers);
      s += " makes only its rows";
    }
    return s;
  }

 private:
  // Element e of input k in the global batch: the share's rows sit at rank * rows along the input's
  // batch axis of a global shape `workers` times as long there.
  int64_t global_index(size_t k, int64_t e) const {
    if (shard_.workers <= 1 || shard_.axes[k] < 0) return e;
    const ir::Shape& s = inputs_[k].type.shape;
    const auto a = static_cast<size_t>(shard_.axes[k]);
    int64_t inner = 1;
    for (size_t d = a + 1; d < s.size(); ++d) inner *= s[d];
    const int64_t rows = s[a];
    const int64_t outer = e / (rows * inner), row = (e / inner) % rows, in = e % inner;
    return ((outer * rows * shard_.workers) + shard_.rank * rows + row) * inner + in;
  }
  uint64_t draw(size_t input, int64_t element) const {
    const auto at = static_cast<uint64_t>(global_index(input, element));
    return counter_hash(seed_, static_cast<uint64_t>(step_), input, at);
  }

  void fill_uniform(size_t k, Tensor& t) const {
    int64_t n = t.numel(), range = inputs_[k].int_range;
    int32_t* p = t.i32();
#pragma omp parallel for if (n >= kParallelMin)
    for (int64_t e = 0; e < n; ++e) p[e] = static_cast<int32_t>(hash_below(draw(k, e), range));
  }

  void fill_token_classes(Tensor& labels, const Tensor& tokens) const {
    int64_t n = labels.numel(), classes = inputs_[labels_].int_range;
    int32_t* l = labels.i32();
    const int32_t* tok = tokens.i32();
    uint64_t class_seed = mix64(seed_ ^ kTokenClassStream);
    for (int64_t e = 0; e < n; ++e)
      l[e] = static_cast<int32_t>(hash_below(counter_hash(class_seed, 0, 0, static_cast<uint64_t>(tok[e])), classes));
  }

  void fill_features(size_t k, Tensor& t, const Tensor* labels) const {
    int64_t n = t.numel();
    float* p = t.f32();
    const ir::Shape& shape = inputs_[k].type.shape;
    // Which label each slice of `slice` elements follows (label g * label_stride for slice g), and the
    // rank of a slice, whose last two axes are spatial when it has two or more.
    int64_t slice = 0, label_stride = 1;
    size_t slice_rank = 0;
    const ir::Shape* ls = labels != nullptr ? &inputs_[labels_].type.shape : nullptr;
    if (ls != nullptr && links_.follow[k] == Follow::Prefix) {
      slice = n / ir::num_elements(*ls);
      slice_rank = shape.size() - ls->size();
    } else if (ls != nullptr && links_.follow[k] == Follow::FirstAxis) {
      slice = n / shape[0];
      label_stride = ir::num_elements(*ls) / shape[0];
      slice_rank = shape.size() - 1;
    }
    if (slice == 0) {
#pragma omp parallel for if (n >= kParallelMin)
      for (int64_t e = 0; e < n; ++e) p[e] = hash_normal(draw(k, e));
      return;
    }
    int64_t h = slice_rank >= 2 ? shape[shape.size() - 2] : 1, w = slice_rank >= 2 ? shape.back() : 1;
    uint64_t proto_seed = mix64(seed_ ^ kPrototypeStream);
    const int32_t* lab = labels->i32();
#pragma omp parallel for if (n >= kParallelMin)
    for (int64_t e = 0; e < n; ++e) {
      int64_t g = e / slice, j = e % slice;
      if (slice_rank >= 2) {
        int64_t rest = j / (h * w), y = (j / w) % h, x = j % w;
        int64_t gh = std::min(kGrid, h), gw = std::min(kGrid, w);
        j = (rest * gh + y * gh / h) * gw + x * gw / w;
      }
      auto cls = static_cast<uint64_t>(lab[g * label_stride]);
      float proto = hash_normal(counter_hash(proto_seed, k, cls, static_cast<uint64_t>(j)));
      p[e] = kSignal * proto + kNoise * hash_normal(draw(k, e));
    }
  }

  std::vector<InputSpec> inputs_;
  uint64_t seed_;
  int labels_ = -1;        // links_.labels
  int label_tokens_ = -1;  // links_.label_tokens
  DataShard shard_;
  Links links_;
  int64_t step_ = 0;
};

}  // namespace

std::unique_ptr<DataSource> make_synthetic_source(const DataConfig& cfg, const std::vector<InputSpec>& inputs,
                                                  uint64_t seed) {
  return std::make_unique<SyntheticSource>(cfg, inputs, seed);
}

bool synthetic_shard_is_slice(const std::vector<InputSpec>& global, const std::vector<InputSpec>& local,
                              const std::vector<int>& axes) {
  // The same ties at both batches, and tied inputs split along the same axis (first-axis ties along
  // the first), so every label a worker's features follow is among its own rows.
  const Links g = link_inputs(global);
  if (!(g == link_inputs(local)) || axes.size() != global.size()) return false;
  if (g.labels < 0) return true;
  const int la = axes[static_cast<size_t>(g.labels)];
  if (g.label_tokens >= 0 && axes[static_cast<size_t>(g.label_tokens)] != la) return false;
  for (size_t k = 0; k < global.size(); ++k) {
    if (g.follow[k] == Follow::Prefix && axes[k] != la) return false;
    if (g.follow[k] == Follow::FirstAxis && (axes[k] != 0 || la != 0)) return false;
  }
  return true;
}

std::unique_ptr<DataSource> make_synthetic_shard(const DataConfig& cfg, const std::vector<InputSpec>& inputs,
                                                 uint64_t seed, DataShard shard) {
  return std::make_unique<SyntheticSource>(cfg, inputs, seed, std::move(shard));
}

}  // namespace sublinear::runtime::data
