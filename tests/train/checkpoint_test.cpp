// Checkpoint files: round trip, keeping the N most recent, atomicity (leftover temporary files are
// ignored and cleaned up, a failed write leaves the previous checkpoints as they were) and detection of
// truncated or corrupt files, also when looking for the latest checkpoint to resume from.
#include "runtime/checkpoint.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "tests/train/train_test_util.h"

namespace sublinear::runtime::train {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// Contents whose bytes depend on `step`, so files of different steps differ.
struct Sample {
  explicit Sample(int64_t step) : params(1000), momentum(1000) {
    std::iota(params.begin(), params.end(), static_cast<float>(step));
    std::iota(momentum.begin(), momentum.end(), -static_cast<float>(step));
    c.config_hash = 0x1234567890abcdefULL + static_cast<uint64_t>(step);
    c.plan_fingerprint = "plan:sqrt:" + std::to_string(step);
    c.rng_state = std::string("rng\0state", 9);
    c.data_state = "epoch=3 position=" + std::to_string(step);
    c.add("param/fc.weight", std::span<const float>(params));
    c.add("opt0/fc.weight", std::span<const float>(momentum));
    c.add("empty", nullptr, 0);
  }
  std::vector<float> params, momentum;
  CheckpointContents c;
};

std::vector<std::string> names(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  for (const auto& p : paths) out.push_back(fs::path(p).filename().string());
  return out;
}

void corrupt_byte(const std::string& path, size_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 0x40));
}

std::string read_error(const std::string& path) {
  try {
    read_checkpoint(path);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Checkpoint, RoundTrip) {
  TempDir d;
  Sample s(42);
  const std::string path = write_checkpoint(d.str(), 42, s.c, 3);
  EXPECT_EQ(fs::path(path).filename(), "ckpt-00000042.bin");
  Checkpoint r = read_checkpoint(path);
  EXPECT_EQ(r.path, path);
  EXPECT_EQ(r.step, 42);
  EXPECT_EQ(r.contents.config_hash, s.c.config_hash);
  EXPECT_EQ(r.contents.plan_fingerprint, s.c.plan_fingerprint);
  EXPECT_EQ(r.contents.rng_state, s.c.rng_state);
  EXPECT_EQ(r.contents.data_state, s.c.data_state);
  ASSERT_EQ(r.contents.blobs.size(), 3u);
  EXPECT_EQ(r.contents.blobs[0].name, "param/fc.weight");
  std::vector<float> params(1000), momentum(1000);
  r.contents.copy_to("param/fc.weight", params.data(), params.size() * sizeof(float));
  r.contents.copy_to("opt0/fc.weight", momentum.data(), momentum.size() * sizeof(float));
  EXPECT_EQ(params, s.params);
  EXPECT_EQ(momentum, s.momentum);
  ASSERT_NE(r.contents.find("empty"), nullptr);
  EXPECT_EQ(r.contents.find("empty")->size, 0u);
  EXPECT_EQ(r.contents.find("nope"), nullptr);
  EXPECT_THROW(r.contents.copy_to("param/fc.weight", params.data(), 4), std::runtime_error);
  EXPECT_THROW(r.contents.copy_to("nope", params.data(), 4), std::runtime_error);

  // The views stay valid in copies of the contents (they share the file image).
  CheckpointContents copy = r.contents;
  r = Checkpoint{};
  std::vector<float> again(1000);
  copy.copy_to("param/fc.weight", again.data(), again.size() * sizeof(float));
  EXPECT_EQ(again, s.params);

  // A checkpoint of the same step is replaced.
  Sample s2(7);
  write_checkpoint(d.str(), 42, s2.c, 3);
  EXPECT_EQ(read_checkpoint(path).contents.data_state, s2.c.data_state);
  EXPECT_EQ(list_checkpoints(d.str()).size(), 1u);

  CheckpointContents dup;
  dup.add("a", params.data(), 4);
  dup.add("a", params.data(), 4);
  EXPECT_THROW(write_checkpoint(d.str(), 1, dup, 3), std::invalid_argument);
}

TEST(Checkpoint, KeepsTheNMostRecentAndFindsTheLatest) {
  TempDir d;
  EXPECT_FALSE(latest_checkpoint(d.str()).has_value());
  EXPECT_FALSE(latest_checkpoint(d.file("absent")).has_value());
  EXPECT_FALSE(load_latest_checkpoint(d.file("absent")).has_value());
  for (int64_t step : {100, 200, 300, 400, 500}) write_checkpoint(d.file("ck"), step, Sample(step).c, 3);
  EXPECT_EQ(names(list_checkpoints(d.file("ck"))),
            (std::vector<std::string>{"ckpt-00000300.bin", "ckpt-00000400.bin", "ckpt-00000500.bin"}));
  EXPECT_EQ(fs::path(*latest_checkpoint(d.file("ck"))).filename(), "ckpt-00000500.bin");
  // Steps past 8 digits sort by number, not by name.
  write_checkpoint(d.file("ck"), 99999999, Sample(2).c, 0);
  write_checkpoint(d.file("ck"), 123456789, Sample(1).c, 0);
  EXPECT_EQ(fs::path(*latest_checkpoint(d.file("ck"))).filename(), "ckpt-123456789.bin");
  EXPECT_EQ(list_checkpoints(d.file("ck")).size(), 5u);  // keep <= 0 deletes nothing
  write_checkpoint(d.file("ck"), 123456790, Sample(3).c, 1);
  EXPECT_EQ(names(list_checkpoints(d.file("ck"))), (std::vector<std::string>{"ckpt-123456790.bin"}));
}

TEST(Checkpoint, LeftoverTemporaryFilesAreIgnoredThenRemoved) {
  TempDir d;
  write_checkpoint(d.str(), 10, Sample(10).c, 3);
  // What a writer killed mid-write leaves behind, plus unrelated files.
  d.write(".ckpt-20.tmp.99999", "half a checkpoint");
  d.write("ckpt-notes.txt", "not a checkpoint");
  d.write("ckpt-00000030.bin.bak", "not a checkpoint either");
  EXPECT_EQ(names(list_checkpoints(d.str())), (std::vector<std::string>{"ckpt-00000010.bin"}));
  EXPECT_EQ(load_latest_checkpoint(d.str())->step, 10);
  write_checkpoint(d.str(), 20, Sample(20).c, 3);
  EXPECT_FALSE(fs::exists(d.file(".ckpt-20.tmp.99999")));
  EXPECT_TRUE(fs::exists(d.file("ckpt-notes.txt")));
}

TEST(Checkpoint, AFailedWriteKeepsThePreviousCheckpoints) {
  TempDir d;
  write_checkpoint(d.str(), 1, Sample(1).c, 1);
  const std::string before = testing::read_file(d.file("ckpt-00000001.bin"));
  // The temporary file cannot be created (a folder is in its place).
  fs::create_directories(d.file(".ckpt-2.tmp." + std::to_string(::getpid())) + "/x");
  try {
    write_checkpoint(d.str(), 2, Sample(2).c, 1);
    ADD_FAILURE() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("ckpt-00000002.bin"), std::string::npos) << e.what();
  }
  // The rename cannot replace the target (a non-empty folder is in its place).
  fs::create_directories(d.file("ckpt-00000003.bin/x"));
  EXPECT_THROW(write_checkpoint(d.str(), 3, Sample(3).c, 1), std::runtime_error);
  EXPECT_FALSE(fs::exists(d.file(".ckpt-3.tmp." + std::to_string(::getpid()))));
  EXPECT_EQ(testing::read_file(d.file("ckpt-00000001.bin")), before);
  EXPECT_EQ(names(list_checkpoints(d.str())), (std::vector<std::string>{"ckpt-00000001.bin"}));
  EXPECT_EQ(load_latest_checkpoint(d.str())->step, 1);
}

TEST(Checkpoint, DetectsTruncatedAndCorruptFiles) {
  TempDir d;
  const std::string p = write_checkpoint(d.str(), 5, Sample(5).c, 0);
  const std::string good = testing::read_file(p);

  for (size_t keep : {size_t{0}, size_t{5}, size_t{30}, good.size() / 2, good.size() - 1}) {
    std::ofstream(p, std::ios::binary | std::ios::trunc) << good.substr(0, keep);
    const std::string err = read_error(p);
    EXPECT_NE(err.find(p), std::string::npos) << err;
    EXPECT_TRUE(err.find("truncated") != std::string::npos || err.find("bad magic") != std::string::npos)
        << keep << ": " << err;
  }
  std::ofstream(p, std::ios::binary | std::ios::trunc) << good << "x";
  EXPECT_NE(read_error(p).find("unexpected bytes after the end"), std::string::npos);

  for (size_t offset : {size_t{20}, size_t{100}, good.size() / 2, good.size() - 20}) {
    std::ofstream(p, std::ios::binary | std::ios::trunc) << good;
    corrupt_byte(p, offset);
    const std::string err = read_error(p);
    EXPECT_NE(err.find("checksum mismatch"), std::string::npos) << offset << ": " << err;
  }
  std::ofstream(p, std::ios::binary | std::ios::trunc) << good;
  corrupt_byte(p, 1);
  EXPECT_NE(read_error(p).find("not a sublinear checkpoint (bad magic)"), std::string::npos);
  std::ofstream(p, std::ios::binary | std::ios::trunc) << good;
  corrupt_byte(p, 8);  // the version field
  EXPECT_NE(read_error(p).find("format version"), std::string::npos) << read_error(p);
  std::ofstream(p, std::ios::binary | std::ios::trunc) << good;
  EXPECT_EQ(read_checkpoint(p).step, 5);
}

TEST(Checkpoint, LatestSkipsACorruptNewestFile) {
  TempDir d;
  write_checkpoint(d.str(), 1, Sample(1).c, 3);
  const std::string p2 = write_checkpoint(d.str(), 2, Sample(2).c, 3);
  fs::resize_file(p2, fs::file_size(p2) - 10);
  EXPECT_EQ(*latest_checkpoint(d.str()), p2);  // by name: not read
  std::vector<std::string> warnings;
  std::optional<Checkpoint> c = load_latest_checkpoint(d.str(), [&](const std::string& w) { warnings.push_back(w); });
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->step, 1);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find(p2), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("truncated"), std::string::npos) << warnings[0];

  // The resumed run's next checkpoint moves the skipped file aside and never deletes itself for it.
  write_checkpoint(d.str(), 2, Sample(2).c, 1);
  EXPECT_EQ(read_checkpoint(p2).step, 2);
  const std::string p3 = write_checkpoint(d.str(), 3, Sample(3).c, 5);
  write_checkpoint(d.str(), 1, Sample(1).c, 1);  // a resume from step 1: 2 and 3 are abandoned
  EXPECT_EQ(names(list_checkpoints(d.str())), (std::vector<std::string>{"ckpt-00000001.bin"}));
  EXPECT_TRUE(fs::exists(p3 + ".stale"));
  EXPECT_TRUE(fs::exists(p2 + ".stale"));

  // None intact: an error rather than a silent fresh start.
  const std::string p1 = d.file("ckpt-00000001.bin");
  corrupt_byte(p1, 50);
  try {
    load_latest_checkpoint(d.str());
    ADD_FAILURE() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("no intact checkpoint"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(p1), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sublinear::runtime::train
