// Checkpoint files (format and rules in checkpoint.h). Rules here: POSIX calls for the write path, because
// durability needs fsync on the file and on its folder, which iostreams cannot do; the reader never trusts
// a length before checking it against the bytes actually present.
#include "runtime/checkpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "runtime/fnv1a.h"

namespace sublinear::runtime::train {

static_assert(std::endian::native == std::endian::little, "checkpoint files are little-endian");

namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'S', 'L', 'C', 'K', 'P', 'T', '\0', '\0'};
constexpr char kEndMagic[8] = {'S', 'L', 'C', 'K', 'E', 'N', 'D', '\0'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = 8 + 4 + 4 + 8 + 8 + 8;
constexpr size_t kTrailerBytes = 8 + 8;
constexpr const char* kTempPrefix = ".ckpt-";

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  std::string m = "checkpoint '";
  m += path;
  m += "': ";
  m += what;
  throw std::runtime_error(m);
}

std::string errno_text() { return std::strerror(errno); }

// Buffered writes to a file descriptor, hashing everything that passes through.
class HashingWriter {
 public:
  HashingWriter(int fd, std::string path) : fd_(fd), path_(std::move(path)) { buf_.reserve(kBuf); }

  void put(const void* p, size_t n) {
    hash_ = fnv1a64(p, n, hash_);
    if (n >= kBuf) {
      flush();
      raw(p, n);
      return;
    }
    if (buf_.size() + n > kBuf) flush();
    const auto* b = static_cast<const std::byte*>(p);
    buf_.insert(buf_.end(), b, b + n);
  }
  template <class T>
  void put_int(T v) {
    put(&v, sizeof v);
  }
  void put_string(const std::string& s) {
    put_int<uint64_t>(s.size());
    put(s.data(), s.size());
  }
  // Unhashed (the trailer).
  void put_raw(const void* p, size_t n) {
    flush();
    raw(p, n);
  }
  void flush() {
    raw(buf_.data(), buf_.size());
    buf_.clear();
  }
  uint64_t hash() const { return hash_; }

 private:
  static constexpr size_t kBuf = size_t{1} << 20;
  void raw(const void* p, size_t n) {
    const auto* b = static_cast<const char*>(p);
    while (n > 0) {
      const ssize_t w = ::write(fd_, b, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        fail(path_, "cannot write: " + errno_text());
      }
      b += w;
      n -= static_cast<size_t>(w);
    }
  }
  int fd_;
  std::string path_;
  std::vector<std::byte> buf_;
  uint64_t hash_ = kFnvOffset;
};

// Reads fixed-size fields out of the file image, refusing to run past its end.
class Cursor {
 public:
  Cursor(const std::vector<std::byte>& b, size_t pos, size_t end, const std::string& path)
      : b_(b), pos_(pos), end_(end), path_(path) {}
  template <class T>
  T get() {
    T v;
    std::memcpy(&v, need(sizeof v), sizeof v);
    return v;
  }
  std::string get_string() {
    const uint64_t n = get<uint64_t>();
    const auto* p = reinterpret_cast<const char*>(need(n));
    return std::string(p, n);
  }
  const std::byte* need(uint64_t n) {
    if (n > end_ - pos_) fail(path_, "malformed payload (a length runs past the end)");
    const std::byte* p = b_.data() + pos_;
    pos_ += n;
    return p;
  }
  size_t pos() const { return pos_; }

 private:
  const std::vector<std::byte>& b_;
  size_t pos_, end_;
  const std::string& path_;
};

// The step of "ckpt-<digits>.bin", or -1 for any other name.
int64_t step_of(const std::string& name) {
  if (name.size() < 10 || name.rfind("ckpt-", 0) != 0 || name.substr(name.size() - 4) != ".bin") return -1;
  const std::string digits = name.substr(5, name.size() - 9);
  if (digits.empty() || digits.size() > 18 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return -1;
  return std::stoll(digits);
}

void fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;  // durability of the rename is best effort where the folder cannot be opened
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

void CheckpointContents::add(std::string name, const void* data, size_t bytes) {
  blobs.push_back(CheckpointBlob{std::move(name), static_cast<const std::byte*>(data), bytes});
}

const CheckpointBlob* CheckpointContents::find(std::string_view name) const {
  for (const auto& b : blobs)
    if (b.name == name) return &b;
  return nullptr;
}

void CheckpointContents::copy_to(std::string_view name, void* dst, size_t bytes) const {
  const CheckpointBlob* b = find(name);
  if (b == nullptr) throw std::runtime_error("checkpoint: no blob named '" + std::string(name) + "'");
  if (b->size != bytes)
    throw std::runtime_error("checkpoint: blob '" + std::string(name) + "' has " + std::to_string(b->size) +
                             " bytes, expected " + std::to_string(bytes));
  if (bytes > 0) std::memcpy(dst, b->data, bytes);
}

std::string checkpoint_file_name(int64_t step) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "ckpt-%08lld.bin", static_cast<long long>(step));
  return buf;
}

std::string write_checkpoint(const std::string& dir, int64_t step, const CheckpointContents& c, int keep) {
  if (step < 0) throw std::invalid_argument("write_checkpoint: negative step");
  for (size_t i = 0; i < c.blobs.size(); ++i) {
    if (c.blobs[i].name.size() > UINT32_MAX) throw std::invalid_argument("write_checkpoint: blob name too long");
    for (size_t j = 0; j < i; ++j)
      if (c.blobs[j].name == c.blobs[i].name)
        throw std::invalid_argument("write_checkpoint: two blobs named '" + c.blobs[i].name + "'");
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  const std::string final_path = (fs::path(dir) / checkpoint_file_name(step)).string();
  if (ec) fail(final_path, "cannot create the folder '" + dir + "': " + ec.message());
  std::string tmp_name = kTempPrefix;
  tmp_name += std::to_string(step);
  tmp_name += ".tmp.";
  tmp_name += std::to_string(::getpid());
  const std::string tmp_path = (fs::path(dir) / tmp_name).string();

  uint64_t payload = 3 * 8 + c.plan_fingerprint.size() + c.rng_state.size() + c.data_state.size();
  for (const auto& b : c.blobs) payload += 4 + b.name.size() + 8 + b.size;

  const int fd = ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(final_path, "cannot create '" + tmp_path + "': " + errno_text());
  try {
    HashingWriter w(fd, final_path);
    w.put(kMagic, sizeof kMagic);
    w.put_int<uint32_t>(kVersion);
    w.put_int<uint32_t>(static_cast<uint32_t>(c.blobs.size()));
    w.put_int<int64_t>(step);
    w.put_int<uint64_t>(c.config_hash);
    w.put_int<uint64_t>(payload);
    w.put_string(c.plan_fingerprint);
    w.put_string(c.rng_state);
    w.put_string(c.data_state);
    for (const auto& b : c.blobs) {
      w.put_int<uint32_t>(static_cast<uint32_t>(b.name.size()));
      w.put(b.name.data(), b.name.size());
      w.put_int<uint64_t>(b.size);
      w.put(b.data, b.size);
    }
    const uint64_t h = w.hash();
    w.put_raw(&h, sizeof h);
    w.put_raw(kEndMagic, sizeof kEndMagic);
    if (::fsync(fd) != 0) fail(final_path, "cannot sync '" + tmp_path + "': " + errno_text());
  } catch (...) {
    ::close(fd);
    ::unlink(tmp_path.c_str());
    throw;
  }
  if (::close(fd) != 0) {
    const std::string why = errno_text();
    ::unlink(tmp_path.c_str());
    fail(final_path, "cannot close '" + tmp_path + "': " + why);
  }
  if (::rename(tmp_path.c_str(), final_path.c_str()) != 0) {
    const std::string why = errno_text();
    ::unlink(tmp_path.c_str());
    fail(final_path, "cannot rename the temporary file into place: " + why);
  }
  fsync_dir(dir);

  // Only now is it safe to let older checkpoints go. Files of a later step belong to an abandoned
  // timeline (a corrupt newest file the resume skipped, or a resume from an older checkpoint): they are
  // moved aside, not deleted, so a later resume does not jump back onto them and nothing is destroyed.
  std::vector<std::string> all = list_checkpoints(dir);
  std::vector<std::string> older;
  for (const auto& p : all) {
    if (step_of(fs::path(p).filename().string()) > step) fs::rename(p, p + ".stale", ec);
    else older.push_back(p);
  }
  if (keep > 0)
    for (size_t i = 0; i + static_cast<size_t>(keep) < older.size(); ++i) fs::remove(older[i], ec);
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(kTempPrefix, 0) == 0 && name.find(".tmp.") != std::string::npos) fs::remove(e.path(), ec);
  }
  return final_path;
}

Checkpoint read_checkpoint(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) fail(path, "cannot open: " + errno_text());
  const auto size = static_cast<size_t>(in.tellg());
  auto bytes = std::make_shared<std::vector<std::byte>>(size);
  in.seekg(0);
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes->data()), static_cast<std::streamsize>(size)))
    fail(path, "cannot read: " + errno_text());
  const std::vector<std::byte>& b = *bytes;

  if (size < sizeof kMagic || std::memcmp(b.data(), kMagic, sizeof kMagic) != 0)
    fail(path, "not a sublinear checkpoint (bad magic)");
  if (size < kHeaderBytes)
    fail(path, "truncated: " + std::to_string(size) + " bytes, shorter than the header");
  Cursor header(b, sizeof kMagic, kHeaderBytes, path);
  const auto version = header.get<uint32_t>();
  if (version != kVersion)
    fail(path, "format version " + std::to_string(version) + ", this build reads version " +
                   std::to_string(kVersion));
  const auto count = header.get<uint32_t>();
  Checkpoint out;
  out.path = path;
  out.step = header.get<int64_t>();
  out.contents.config_hash = header.get<uint64_t>();
  const auto payload = header.get<uint64_t>();
  if (payload > size || size - std::min<size_t>(size, kHeaderBytes + kTrailerBytes) < payload) {
    fail(path, "truncated: " + std::to_string(size) + " bytes, the header announces " +
                   std::to_string(kHeaderBytes + payload + kTrailerBytes));
  }
  const size_t expected = kHeaderBytes + payload + kTrailerBytes;
  if (size != expected)
    fail(path, std::to_string(size - expected) + " unexpected bytes after the end (corrupt)");
  const size_t end = kHeaderBytes + payload;
  if (std::memcmp(b.data() + end + 8, kEndMagic, sizeof kEndMagic) != 0) fail(path, "corrupt trailer");
  uint64_t stored = 0;
  std::memcpy(&stored, b.data() + end, sizeof stored);
  if (fnv1a64(b.data(), end) != stored) fail(path, "checksum mismatch (the file is corrupt)");

  Cursor p(b, kHeaderBytes, end, path);
  out.contents.plan_fingerprint = p.get_string();
  out.contents.rng_state = p.get_string();
  out.contents.data_state = p.get_string();
  for (uint32_t i = 0; i < count; ++i) {
    CheckpointBlob blob;
    const auto name_len = p.get<uint32_t>();
    const auto* name = reinterpret_cast<const char*>(p.need(name_len));
    blob.name.assign(name, name_len);
    blob.size = p.get<uint64_t>();
    blob.data = p.need(blob.size);
    out.contents.blobs.push_back(std::move(blob));
  }
  if (p.pos() != end) fail(path, "malformed payload (bytes left after the last blob)");
  out.contents.backing = std::move(bytes);
  return out;
}

std::vector<std::string> list_checkpoints(const std::string& dir) {
  std::vector<std::pair<int64_t, std::string>> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const int64_t step = step_of(e.path().filename().string());
    if (step >= 0 && e.is_regular_file(ec)) found.emplace_back(step, e.path().string());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

std::optional<std::string> latest_checkpoint(const std::string& dir) {
  std::vector<std::string> all = list_checkpoints(dir);
  if (all.empty()) return std::nullopt;
  return all.back();
}

std::optional<Checkpoint> load_latest_checkpoint(const std::string& dir,
                                                 const std::function<void(const std::string&)>& warn) {
  std::vector<std::string> all = list_checkpoints(dir);
  if (all.empty()) return std::nullopt;
  std::string faults;
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    try {
      return read_checkpoint(*it);
    } catch (const std::runtime_error& e) {
      if (warn) {
        std::string m = e.what();
        m += std::next(it) != all.rend() ? "; trying an older checkpoint" : "; no older checkpoint";
        warn(m);
      }
      faults += "\n  ";
      faults += e.what();
    }
  }
  throw std::runtime_error("no intact checkpoint in '" + dir + "':" + faults);
}

}  // namespace sublinear::runtime::train
