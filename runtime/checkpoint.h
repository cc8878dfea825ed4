#pragma once
// Checkpoint files: everything a run needs to continue exactly where it stopped (parameters, optimizer
// state, RNG and data-source positions), in one self-checking binary file per saved step.
//
// Rules:
//   - A checkpoint is written to a temporary file in the same folder, fsync'ed, renamed to
//     ckpt-<step, 8 digits or more>.bin and the folder fsync'ed: a crash or a full disk at any point
//     leaves either the old set of checkpoints or the old set plus the new one, never a torn file under a
//     checkpoint name. Older checkpoints are deleted only after the new one is in place.
//   - Every byte before the trailer is covered by an FNV-1a 64 checksum; reading checks the magic, the
//     version, the length (truncation) and the checksum, and fails with a std::runtime_error naming the
//     file and what is wrong.
//   - Files are little-endian (the only byte order this project builds for).
//
// Layout (version 1):
//   header   "SLCKPT\0\0" (8 bytes), u32 version = 1, u32 blob count, i64 step, u64 config hash,
//            u64 payload bytes
//   payload  three strings (u64 length + bytes): plan fingerprint, RNG state, data-source state;
//            then per blob: u32 name length, name, u64 size, bytes
//   trailer  u64 FNV-1a 64 of header and payload, "SLCKEND\0" (8 bytes)
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sublinear::runtime::train {

// A named byte range. For writing it points at the caller's memory (no copy of the parameters is made);
// in a checkpoint that was read it points into CheckpointContents::backing.
struct CheckpointBlob {
  std::string name;  // by convention "param/<name>", "opt0/<name>", "opt1/<name>"
  const std::byte* data = nullptr;
  size_t size = 0;
};

struct CheckpointContents {
  uint64_t config_hash = 0;      // ExperimentConfig::hash(): resuming another experiment is refused by the caller
  std::string plan_fingerprint;  // identifies the graph and parameter layout the blobs were saved from
  std::string rng_state;         // opaque
  std::string data_state;        // DataSource::save_state()
  std::vector<CheckpointBlob> blobs;
  std::shared_ptr<const std::vector<std::byte>> backing;  // owns what the blobs point at, after a read

  // Adds a view of `bytes` bytes at `data` (for writing; the memory must outlive write_checkpoint).
  void add(std::string name, const void* data, size_t bytes);
  template <class T>
  void add(std::string name, std::span<const T> values) {
    add(std::move(name), values.data(), values.size_bytes());
  }
  const CheckpointBlob* find(std::string_view name) const;  // null when absent
  // Copies blob `name` into `dst`; std::runtime_error when it is absent or not exactly `bytes` long.
  void copy_to(std::string_view name, void* dst, size_t bytes) const;
};

struct Checkpoint {
  std::string path;
  int64_t step = 0;
  CheckpointContents contents;
};

// "ckpt-00001234.bin" for step 1234 (more digits past 99,999,999).
std::string checkpoint_file_name(int64_t step);

// Writes `c` as the checkpoint of `step` into `dir` (created if needed), replacing a checkpoint of the same
// step, then deletes all but the `keep` most recent checkpoints (keep <= 0: delete none) and any
// temporary files a crashed writer left. Checkpoints of a later step than `step` are from an abandoned
// timeline (a corrupt newest file that load_latest_checkpoint skipped, or a resume from an older
// checkpoint): they are renamed to "<name>.stale", out of list_checkpoints' sight but not destroyed.
// Returns the checkpoint's path. std::runtime_error naming the file when it cannot be written (the
// previous checkpoints are untouched then).
std::string write_checkpoint(const std::string& dir, int64_t step, const CheckpointContents& c, int keep);

// Reads and verifies a checkpoint file (see the rules above).
Checkpoint read_checkpoint(const std::string& path);

// The checkpoint files in `dir` (names ckpt-<digits>.bin only: temporary files are ignored), by step,
// oldest first. Empty when the folder does not exist.
std::vector<std::string> list_checkpoints(const std::string& dir);

// The newest checkpoint file by name, without reading it; nullopt when there is none.
std::optional<std::string> latest_checkpoint(const std::string& dir);

// The newest checkpoint that reads back intact: a corrupt or truncated newer file is skipped with a call
// of `warn` (its message names the file and the fault) and the next older one is tried. nullopt when
// `dir` holds no checkpoint; std::runtime_error when it holds some but none is intact (starting over from
// step 0 silently would be worse).
std::optional<Checkpoint> load_latest_checkpoint(const std::string& dir,
                                                 const std::function<void(const std::string&)>& warn = {});

}  // namespace sublinear::runtime::train
