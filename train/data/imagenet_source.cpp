// ImageNet-style training data: root/<class>/**/*.JPEG (also .jpg/.jpeg, any case), classes sorted by
// folder name give the label indices, as torchvision's ImageFolder does.
//
// Rules:
//   * Position: (epoch, position) of the next batch's first sample. Batches run on across epoch ends
//     (no sample dropped, no short batch); each epoch's order is a permutation drawn from (seed, epoch)
//     when data.shuffle, else folder order.
//   * A sample's augmentation (crop, flip) draws from (seed, epoch, image index) only, so batches are
//     the same whichever worker decodes them and however many there are.
//   * Workers claim samples in order and decode them into a ring of data.prefetch batch slots; the
//     trainer takes slots in order. A decode error is kept with its batch and thrown by next() when the
//     trainer reaches that batch (and again on every later call: the source does not skip data).
//   * Under data.bad_images: skip, a sample whose file cannot be read or decoded is replaced by the
//     next sample of the stream that decodes, with crop and flip drawn afresh (so the stand-in is not a
//     copy of that sample's own appearance); the replacement is a function of (seed, epoch, position),
//     like everything else, and gives up with an error after kMaxStandIns bad files in a row.
//   * restore_state stops the workers; they restart at the restored position on the next batch.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "train/data/image_transform.h"
#include "train/data/jpeg_decode.h"
#include "train/data/source_util.h"

namespace sublinear::runtime::data {

namespace {

namespace fs = std::filesystem;

constexpr uint64_t kShuffleStream = 0x73687566666c65ULL;
constexpr int kFlipDraw = 64;  // draw number of the flip, past the crop's draws
constexpr int kStandInDraws = 128;  // the k-th stand-in draws from k * kStandInDraws on
constexpr int kMaxStandIns = 64;

const char* kLayoutHint =
    "imagenet data is a folder of class folders, root/<class>/<image>.JPEG; to run without data, use "
    "--set data.kind=synthetic";

bool is_jpeg_name(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpeg" || ext == ".jpg";
}

// The images of one class folder, paths relative to it, sorted.
std::vector<std::string> list_jpegs(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  auto opts = fs::directory_options::follow_directory_symlink | fs::directory_options::skip_permission_denied;
  for (fs::recursive_directory_iterator it(dir, opts, ec), end; !ec && it != end; it.increment(ec)) {
    if (is_jpeg_name(it->path()) && it->is_regular_file(ec))
      out.push_back(it->path().lexically_relative(dir).string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The file list: every path is root/<class>/<relative>, stored as one blob (1.28M std::strings would
// take ten times the memory).
struct Dataset {
  std::string root;
  std::vector<std::string> classes;
  std::string names;              // relative paths, back to back
  std::vector<uint64_t> offsets;  // name i is names[offsets[i], offsets[i + 1])
  std::vector<int32_t> labels;
  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  std::string path(int64_t i) const {
    std::string p = root;
    p += '/';
    p += classes[labels[i]];
    p += '/';
    p.append(names, offsets[i], offsets[i + 1] - offsets[i]);
    return p;
  }
};

Dataset scan(const DataConfig& cfg, int threads) {
  ConfigLoc loc = cfg.locs.at("data.root");
  auto fail = [&](const std::string& msg) { return ConfigError(loc, fmt::format("{}; {}", msg, kLayoutHint)); };
  if (cfg.root.empty()) throw fail("no folder given");
  std::error_code ec;
  if (!fs::is_directory(cfg.root, ec))
    throw fail(fmt::format("{} '{}'", fs::exists(cfg.root, ec) ? "not a directory:" : "no such directory", cfg.root));
  Dataset d;
  d.root = cfg.root;
  while (d.root.size() > 1 && d.root.back() == '/') d.root.pop_back();
  for (fs::directory_iterator it(cfg.root, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_directory(ec)) d.classes.push_back(it->path().filename().string());
  std::sort(d.classes.begin(), d.classes.end());

  // Class folders are listed in parallel: on network storage listing dominates opening a dataset.
  std::vector<std::vector<std::string>> files(d.classes.size());
  std::atomic<size_t> next_class{0};
  std::vector<std::thread> pool;
  int n_threads = std::clamp(threads, 1, static_cast<int>(std::max<size_t>(d.classes.size(), 1)));
  for (int t = 0; t < n_threads; ++t)
    pool.emplace_back([&] {
      for (size_t c; (c = next_class.fetch_add(1)) < d.classes.size();)
        files[c] = list_jpegs(fs::path(cfg.root) / d.classes[c]);
    });
  for (auto& t : pool) t.join();

  size_t with_images = 0;
  for (const auto& f : files) with_images += f.empty() ? 0 : 1;
  if (with_images == 0)
    throw fail(fmt::format("'{}' contains no class folders with JPEG files (.JPEG, .jpg or .jpeg)", cfg.root));
  for (size_t c = 0; c < files.size(); ++c)
    if (files[c].empty())
      // Labels are positions in the sorted class list: skipping a class would shift every later label.
      throw ConfigError(loc, fmt::format("class folder '{}' has no JPEG files; every folder under the root is a "
                                         "class (labels are positions in the sorted folder list), so remove it or "
                                         "add its images",
                                         (fs::path(cfg.root) / d.classes[c]).string()));
  d.offsets.push_back(0);
  for (size_t c = 0; c < files.size(); ++c)
    for (auto& f : files[c]) {
      d.names += f;
      d.offsets.push_back(d.names.size());
      d.labels.push_back(static_cast<int32_t>(c));
    }
  if (d.labels.size() > std::numeric_limits<uint32_t>::max()) throw fail("more than 2^32 images");
  return d;
}

class ImagenetSource : public DataSource {
 public:
  ImagenetSource(const DataConfig& cfg, const std::vector<InputSpec>& inputs, uint64_t seed, DataShard shard)
      : cfg_(cfg), inputs_(inputs), seed_(seed), shard_(shard) {
    find_inputs();
    global_batch_ = batch_ * shard_.workers;
    shard_offset_ = batch_ * shard_.rank;
    validate_config();
    data_ = scan(cfg_, std::max(cfg_.workers, 4));
    int64_t classes = inputs_[label_input_].int_range;
    if (static_cast<int64_t>(data_.classes.size()) > classes)
      throw ConfigError(cfg_.locs.at("data.root"),
                        fmt::format("'{}' has {} class folders but the model's logits have {} classes; give the "
                                    "model at least as many (e.g. --set classes={})",
                                    cfg_.root, format_count(static_cast<int64_t>(data_.classes.size())),
                                    format_count(classes), data_.classes.size()));
    for (int c = 0; c < 3; ++c) {
      mean_[c] = static_cast<float>(cfg_.mean[c]);
      std_[c] = static_cast<float>(cfg_.std[c]);
    }
  }

  ~ImagenetSource() override { stop_workers(); }

  void next(std::vector<Tensor>& out) override {
    check_batch(inputs_, out);
    float* images = out[image_input_].f32();
    int32_t* labels = out[label_input_].i32();
    if (cfg_.workers <= 0) {
      for (int64_t i = 0; i < batch_; ++i) {
        std::string why = load_sample(epoch_, position_ + shard_offset_ + i, images + i * sample_floats(), labels + i);
        if (!why.empty()) {
          pending_skipped_.push_back(std::move(why));
          ++skipped_total_;
        }
      }
    } else {
      take_batch(images, labels);
    }
    position_ += global_batch_;
    epoch_ += position_ / data_.size();
    position_ %= data_.size();
  }

  std::string save_state() const override {
    std::map<std::string, int64_t> v = {{"epoch", epoch_}, {"position", position_}, {"images", data_.size()}};
    if (skip_bad()) v["skipped"] = skipped_total_;
    return encode_state("imagenet", v);
  }

  std::vector<std::string> take_skipped() override { return std::exchange(pending_skipped_, {}); }
  int64_t skipped_total() const override { return skipped_total_; }

  void restore_state(const std::string& state) override {
    auto v = decode_state("imagenet", state, {"epoch", "position", "images"});
    if (v["images"] != data_.size())
      throw std::runtime_error(fmt::format("cannot restore the imagenet data source: the state '{}' was saved for a "
                                           "dataset of {} images, but '{}' holds {}",
                                           state, format_count(v["images"]), cfg_.root, format_count(data_.size())));
    if (v["position"] < 0 || v["position"] >= data_.size() || v["epoch"] < 0)
      throw std::runtime_error(fmt::format("cannot restore the imagenet data source from state '{}': the position "
                                           "is outside the dataset",
                                           state));
    stop_workers();
    epoch_ = v["epoch"];
    position_ = v["position"];
    auto skipped = v.find("skipped");
    skipped_total_ = skipped != v.end() ? std::max<int64_t>(skipped->second, 0) : 0;
    pending_skipped_.clear();
  }

  std::string describe() const override {
    std::string workers = cfg_.workers <= 0 ? std::string("decoded on the training thread")
                                            : fmt::format("{} workers, {} batches ahead", cfg_.workers, cfg_.prefetch);
    return fmt::format("imagenet: {} images in {} classes from {}, {}; random-resized crops (area {:g}-{:g}) to "
                       "{}x{}{}{}{}",
                       format_count(data_.size()), format_count(static_cast<int64_t>(data_.classes.size())),
                       cfg_.root, workers, cfg_.min_scale, cfg_.max_scale, width_, height_,
                       cfg_.flip ? ", flipped at random" : "", cfg_.shuffle ? ", shuffled each epoch" : ", in folder order",
                       skip_bad() ? "; images that cannot be decoded are skipped and counted" : "") +
           (shard_.workers > 1 ? fmt::format("; worker {} of {} decodes only its {} of each batch's {} images",
                                             shard_.rank, shard_.workers, batch_, global_batch_)
                               : std::string());
  }

  int64_t epoch_size() const override { return data_.size(); }

 private:
  struct Slot {
    std::vector<float> images;
    std::vector<int32_t> labels;
    int64_t batch = -1;
    int64_t remaining = 0;
    bool ready = false;
    int64_t error_sample = -1;  // the first failed sample in batch order, so the message is deterministic
    std::string error;
    std::vector<std::pair<int64_t, std::string>> skipped;  // (sample in the batch, why), any order
  };

  bool skip_bad() const { return cfg_.bad_images == "skip"; }

  void find_inputs() {
    bool others = false;  // inputs this source has nothing for
    for (size_t k = 0; k < inputs_.size(); ++k) {
      const InputSpec& in = inputs_[k];
      if (in.role == InputRole::Features && image_input_ < 0) image_input_ = static_cast<int>(k);
      else if (in.role == InputRole::Labels && label_input_ < 0) label_input_ = static_cast<int>(k);
      else others = true;
    }
    bool ok = !others && image_input_ >= 0 && label_input_ >= 0;
    if (ok) {
      const ir::TensorType& x = inputs_[image_input_].type;
      const ir::TensorType& y = inputs_[label_input_].type;
      ok = x.dtype == ir::DType::F32 && x.rank() == 4 && x.shape[1] == 3 && y.rank() == 1 && y.shape[0] == x.shape[0];
    }
    if (!ok) {
      std::string msg = "imagenet data fills two model inputs, images f32[N, 3, H, W] and labels i32[N]; the "
                        "model's inputs are ";
      msg += describe_inputs(inputs_);
      throw ConfigError(cfg_.locs.at("data.kind"), msg);
    }
    const ir::Shape& s = inputs_[image_input_].type.shape;
    batch_ = s[0];
    height_ = static_cast<int>(s[2]);
    width_ = static_cast<int>(s[3]);
  }

  void validate_config() const {
    auto bad = [&](const char* key, const char* why) { return ConfigError(cfg_.locs.at(key), why); };
    if (cfg_.mean.size() != 3) throw bad("data.mean", "needs 3 values, one per RGB channel");
    if (cfg_.std.size() != 3) throw bad("data.std", "needs 3 values, one per RGB channel");
    for (double v : cfg_.std)
      if (!(v > 0)) throw bad("data.std", "every value must be positive");
    if (!(cfg_.min_scale > 0 && cfg_.min_scale <= 1))
      throw bad("data.min_scale", "must be in (0, 1]: the smallest fraction of an image's area a crop covers");
    if (!(cfg_.max_scale >= cfg_.min_scale && cfg_.max_scale <= 1))
      throw bad("data.max_scale", "must be in [data.min_scale, 1]");
    if (cfg_.workers < 0) throw bad("data.workers", "must be 0 (decode on the training thread) or more");
    if (cfg_.prefetch < 1) throw bad("data.prefetch", "must be at least 1 batch");
    if (cfg_.bad_images != "error" && cfg_.bad_images != "skip") throw bad("data.bad_images", "must be error or skip");
  }

  int64_t sample_floats() const { return 3 * static_cast<int64_t>(height_) * width_; }

  // The order of an epoch (null: folder order). Cached: every worker needs the current one.
  std::shared_ptr<const std::vector<uint32_t>> order(int64_t epoch) const {
    if (!cfg_.shuffle) return nullptr;
    std::lock_guard<std::mutex> lock(order_mu_);
    auto it = orders_.find(epoch);
    if (it != orders_.end()) return it->second;
    auto perm = std::make_shared<std::vector<uint32_t>>(static_cast<size_t>(data_.size()));
    for (size_t i = 0; i < perm->size(); ++i) (*perm)[i] = static_cast<uint32_t>(i);
    uint64_t shuffle_seed = mix64(seed_ ^ kShuffleStream);
    for (int64_t i = data_.size() - 1; i > 0; --i)  // Fisher-Yates, with counter-based draws
      std::swap((*perm)[i], (*perm)[hash_below(counter_hash(shuffle_seed, epoch, 0, i), i + 1)]);
    while (!orders_.empty() && orders_.begin()->first < epoch - 1) orders_.erase(orders_.begin());
    orders_[epoch] = perm;
    return perm;
  }

  // Sample `offset` samples past the start of `epoch` (offset may run into later epochs). Returns why
  // the sample's own file was replaced by a stand-in (data.bad_images: skip), or "" when it was not.
  std::string load_sample(int64_t epoch, int64_t offset, float* image, int32_t* label) const {
    if (!skip_bad()) {
      load_image(epoch, offset, 0, image, label);
      return {};
    }
    std::string why;
    for (int k = 0; k <= kMaxStandIns; ++k) {
      try {
        load_image(epoch, offset + k, k * kStandInDraws, image, label);
        return why;
      } catch (const std::exception& e) {
        if (k == 0) why = e.what();
      }
    }
    throw std::runtime_error(fmt::format("{}; the {} images after it could not be read or decoded either, so "
                                         "data.bad_images: skip gives up (is this a folder of JPEG files?)",
                                         why, kMaxStandIns));
  }

  // One image and its label, its random draws numbered from `draw0`.
  void load_image(int64_t epoch, int64_t offset, int draw0, float* image, int32_t* label) const {
    epoch += offset / data_.size();
    offset %= data_.size();
    auto perm = order(epoch);
    int64_t index = perm ? (*perm)[offset] : offset;
    *label = data_.labels[index];
    std::string path = data_.path(index);
    std::vector<uint8_t> bytes = read_file_bytes(path);
    auto uniform = [&](int k) {
      return hash_uniform(
          counter_hash(seed_, static_cast<uint64_t>(epoch), static_cast<uint64_t>(index), draw0 + k));
    };
    CropBox crop;
    JpegImage img = decode_jpeg(path, bytes.data(), bytes.size(), [&](int w, int h) {
      crop = random_resized_crop(w, h, cfg_.min_scale, cfg_.max_scale, uniform);
      return JpegRegion{static_cast<double>(crop.x), static_cast<double>(crop.y), static_cast<double>(crop.width),
                        static_cast<double>(crop.height), dct_scale_for(crop, width_, height_)};
    });
    bool flip = cfg_.flip && uniform(kFlipDraw) < 0.5;
    resize_normalise(img, crop, width_, height_, flip, mean_, std_, image);
  }

  // --- the worker pipeline ------------------------------------------------------------------------

  void start_workers() {
    slots_.assign(static_cast<size_t>(cfg_.prefetch), Slot{});
    for (auto& s : slots_) {
      s.images.resize(static_cast<size_t>(batch_ * sample_floats()));
      s.labels.resize(static_cast<size_t>(batch_));
    }
    start_epoch_ = epoch_;
    start_position_ = position_;
    claimed_ = 0;
    consumed_ = 0;
    stopping_ = false;
    for (int t = 0; t < cfg_.workers; ++t) threads_.emplace_back([this] { work(); });
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
    slots_.clear();
  }

  void work() {
    int64_t prefetch = static_cast<int64_t>(slots_.size());
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      work_cv_.wait(lock, [&] { return stopping_ || claimed_ / batch_ < consumed_ + prefetch; });
      if (stopping_) return;
      int64_t item = claimed_++;
      int64_t b = item / batch_, i = item % batch_;
      Slot& s = slots_[static_cast<size_t>(b % prefetch)];
      if (i == 0) {  // claims are in order, so this runs before any other sample of the batch is claimed
        s.batch = b;
        s.remaining = batch_;
        s.ready = false;
        s.error_sample = -1;
        s.error.clear();
        s.skipped.clear();
      }
      lock.unlock();
      std::string error, skipped;
      try {
        // Batch b of this worker is global batch b: its samples start b global batches on, at its offset.
        skipped = load_sample(start_epoch_, start_position_ + b * global_batch_ + shard_offset_ + i,
                              s.images.data() + i * sample_floats(), &s.labels[i]);
      } catch (const std::exception& e) {
        error = e.what();
      }
      lock.lock();
      if (!skipped.empty()) s.skipped.emplace_back(i, std::move(skipped));
      if (!error.empty() && (s.error_sample < 0 || i < s.error_sample)) {
        s.error_sample = i;
        s.error = std::move(error);
      }
      if (--s.remaining == 0) {
        s.ready = true;
        ready_cv_.notify_all();
      }
    }
  }

  void take_batch(float* images, int32_t* labels) {
    if (threads_.empty()) start_workers();
    Slot* s;
    {
      std::unique_lock<std::mutex> lock(mu_);
      s = &slots_[static_cast<size_t>(consumed_ % static_cast<int64_t>(slots_.size()))];
      ready_cv_.wait(lock, [&] { return s->ready && s->batch == consumed_; });
      if (!s->error.empty()) throw std::runtime_error(s->error);
      std::sort(s->skipped.begin(), s->skipped.end());
      for (auto& [i, why] : s->skipped) pending_skipped_.push_back(std::move(why));
      skipped_total_ += static_cast<int64_t>(s->skipped.size());
    }
    // The slot is ours until consumed_ moves on: no worker claims its next batch before that.
    std::memcpy(images, s->images.data(), s->images.size() * sizeof(float));
    std::memcpy(labels, s->labels.data(), s->labels.size() * sizeof(int32_t));
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++consumed_;
    }
    work_cv_.notify_all();
  }

  DataConfig cfg_;
  std::vector<InputSpec> inputs_;
  uint64_t seed_;
  int image_input_ = -1, label_input_ = -1;
  DataShard shard_;
  int64_t batch_ = 0;                                 // this worker's share of a batch
  int64_t global_batch_ = 0, shard_offset_ = 0;       // the whole batch; where this worker's share starts
  int height_ = 0, width_ = 0;
  float mean_[3] = {}, std_[3] = {};
  Dataset data_;
  int64_t epoch_ = 0, position_ = 0;  // the next batch the trainer gets
  int64_t skipped_total_ = 0;          // samples replaced in the batches handed out, over the run
  std::vector<std::string> pending_skipped_;

  mutable std::mutex order_mu_;
  mutable std::map<int64_t, std::shared_ptr<const std::vector<uint32_t>>> orders_;

  // Pipeline: batch b (counted from where the workers started) lives in slot b % prefetch.
  std::mutex mu_;
  std::condition_variable work_cv_, ready_cv_;
  std::vector<std::thread> threads_;
  std::vector<Slot> slots_;
  int64_t start_epoch_ = 0, start_position_ = 0;
  int64_t claimed_ = 0;   // samples handed to workers
  int64_t consumed_ = 0;  // batches handed to the trainer
  bool stopping_ = false;
};

}  // namespace

std::unique_ptr<DataSource> make_imagenet_source(const DataConfig& cfg, const std::vector<InputSpec>& inputs,
                                                 uint64_t seed, DataShard shard) {
  return std::make_unique<ImagenetSource>(cfg, inputs, seed, shard);
}

}  // namespace sublinear::runtime::data
