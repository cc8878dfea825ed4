// The metrics log (exact round trip of the loss and rate, the resume rewrite), the progress reporter in
// its TTY and plain modes, and the process peak RSS.
#include <gtest/gtest.h>

#include <filesystem>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "train/metrics.h"
#include "train/peak_rss.h"
#include "train/progress.h"
#include "tests/train/train_test_util.h"

namespace sublinear::runtime::train {
namespace {

using testing::TempDir;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

TEST(Metrics, LossRoundTripsBitwise) {
  const float awkward[] = {0.1f,
                           1.0f / 3.0f,
                           2.3025851f,
                           std::nextafter(1.0f, 2.0f),
                           std::nextafter(1.0f, 0.0f),
                           FLT_MIN,
                           std::numeric_limits<float>::denorm_min(),
                           FLT_MAX,
                           -0.0f,
                           16777217.0f,
                           6.9077554f,
                           1e-30f};
  for (float loss : awkward) {
    MetricsRecord r;
    r.step = 3;
    r.loss = loss;
    r.lr = 0.1 * std::pow(0.1, 1.0 / 3.0);
    const std::string line = format_metrics_line(r);
    nlohmann::json j = nlohmann::json::parse(line);  // valid JSON
    const std::string text = exact_number(loss);
    EXPECT_NE(line.find("\"loss\":" + text + ","), std::string::npos) << line;
    const float back = std::strtof(text.c_str(), nullptr);
    EXPECT_EQ(std::memcmp(&back, &loss, sizeof loss), 0) << text;
    // A reader going through double (Python's json) gets the same float back too.
    const auto via_double = static_cast<float>(j["loss"].get<double>());
    EXPECT_EQ(std::memcmp(&via_double, &loss, sizeof loss), 0) << text;
    EXPECT_EQ(j["lr"].get<double>(), r.lr);
  }
  EXPECT_EQ(exact_number(0.1f), "0.1");  // shortest, not 0.100000001
  EXPECT_EQ(exact_number(-0.0f), "-0.0");  // integral values stay JSON reals, so -0 keeps its sign
  EXPECT_EQ(exact_number(16777216.0f), "16777216.0");
  EXPECT_EQ(exact_number(1e20), "1e+20");
  EXPECT_EQ(exact_number(std::nanf("")), "null");
  EXPECT_EQ(exact_number(-std::numeric_limits<double>::infinity()), "null");
}

TEST(Metrics, LineHasEveryFieldInOrder) {
  MetricsRecord r;
  r.step = 100;
  r.loss = 2.5f;
  r.lr = 0.05;
  r.samples_per_s = 1234.5678;
  r.arena_peak_bytes = 1 << 20;
  r.planned_arena_bytes = 2 << 20;
  r.rss_peak_bytes = 3 << 20;
  r.elapsed_s = 12.25;
  r.extras = {{"accuracy", 0.125}, {"odd \"name\"", 1}};
  EXPECT_EQ(format_metrics_line(r),
            "{\"step\":100,\"loss\":2.5,\"lr\":0.05,\"samples_per_s\":1234.57,\"arena_peak_bytes\":1048576,"
            "\"planned_arena_bytes\":2097152,\"rss_peak_bytes\":3145728,\"elapsed_s\":12.25,\"accuracy\":0.125,"
            "\"odd \\\"name\\\"\":1.0}");
  r.loss = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(nlohmann::json::parse(format_metrics_line(r))["loss"].is_null());
}

TEST(Metrics, ResumeKeepsTheLinesUpToTheCheckpoint) {
  TempDir d;
  const std::string path = d.file("run/metrics.jsonl");
  auto record = [](int64_t step, float loss) {
    MetricsRecord r;
    r.step = step;
    r.loss = loss;
    return r;
  };
  {
    MetricsWriter w(path);  // creates run/
    for (int64_t s = 10; s <= 50; s += 10) w.write(record(s, static_cast<float>(s)));
  }
  // The interrupted run also left a torn line.
  {
    std::ofstream(path, std::ios::app) << "{\"step\":60,\"lo";
  }
  {
    MetricsWriter w(path, 30);  // resumed from the checkpoint after step 30
    w.write(record(40, 4.5f));
  }
  std::vector<std::string> lines = lines_of(testing::read_file(path));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[2], format_metrics_line(record(30, 30.0f)));
  EXPECT_EQ(lines[3], format_metrics_line(record(40, 4.5f)));
  { MetricsWriter w(path, 0); }
  EXPECT_EQ(testing::read_file(path), "");
  // A fresh run truncates; a resume with no file starts one.
  {
    MetricsWriter w(d.file("other.jsonl"), 7);
    w.write(record(8, 1));
  }
  EXPECT_EQ(lines_of(testing::read_file(d.file("other.jsonl"))).size(), 1u);
  { MetricsWriter w(d.file("other.jsonl")); }
  EXPECT_EQ(testing::read_file(d.file("other.jsonl")), "");
}

// Resume trusts the file no more than it must: a crash leaves lines after the checkpoint and a torn last
// line, which go without a word; a line that is not metrics, or steps missing before the checkpoint (a
// file cut back or edited), are said, and the original is kept beside it.
TEST(Metrics, ResumeSaysWhenTheFileDoesNotMatchTheCheckpoint) {
  TempDir d;
  auto record = [](int64_t step) {
    MetricsRecord r;
    r.step = step;
    r.loss = 1.0f;
    return r;
  };
  auto write_steps = [&](const std::string& path, int64_t last, const std::string& extra_after) {
    MetricsWriter w(path);
    for (int64_t s = 1; s <= last; ++s) w.write(record(s));
    if (!extra_after.empty()) std::ofstream(path, std::ios::app) << extra_after;
  };
  std::vector<std::string> warnings;
  auto warn = [&](const std::string& m) { warnings.push_back(m); };

  // The crash case: steps 1-60 logged, a torn line, resumed from the checkpoint after 57.
  const std::string crash = d.file("crash.jsonl");
  write_steps(crash, 60, "{\"step\":61,\"lo");
  { MetricsWriter w(crash, 57, 1, warn); }
  EXPECT_TRUE(warnings.empty()) << warnings[0];
  EXPECT_EQ(lines_of(testing::read_file(crash)).size(), 57u);
  EXPECT_FALSE(std::filesystem::exists(crash + ".before-resume-57"));

  // Cut back to 10 lines, then resumed from 57: steps 11-57 are missing.
  const std::string cut = d.file("cut.jsonl");
  write_steps(cut, 10, "");
  const std::string before = testing::read_file(cut);
  { MetricsWriter w(cut, 57, 1, warn); }
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("has 10 lines up to that step where 57 were logged"), std::string::npos) << warnings[0];
  EXPECT_EQ(testing::read_file(cut + ".before-resume-57"), before);

  // A garbage line in the middle: dropped from the file, but said, and kept in the copy.
  const std::string garbage = d.file("garbage.jsonl");
  write_steps(garbage, 3, "not metrics\n");
  std::ofstream(garbage, std::ios::app) << format_metrics_line(record(4)) << "\n" << format_metrics_line(record(5)) << "\n";
  warnings.clear();
  { MetricsWriter w(garbage, 5, 1, warn); }
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("1 lines that are not metrics"), std::string::npos) << warnings[0];
  EXPECT_EQ(lines_of(testing::read_file(garbage)).size(), 5u);
  EXPECT_NE(testing::read_file(garbage + ".before-resume-5").find("not metrics"), std::string::npos);
}

ProgressUpdate at(int64_t step, int64_t total, double elapsed) {
  ProgressUpdate u;
  u.step = step;
  u.total = total;
  u.loss = 2.302585f;
  u.lr = 0.1;
  u.samples_per_s = 512;
  u.arena_peak_bytes = 3 << 20;
  u.elapsed_s = elapsed;
  return u;
}

TEST(Progress, PlainLinesEveryLogEverySteps) {
  std::ostringstream out;
  ProgressReporter p(out, false, 10);
  for (int64_t s = 1; s <= 25; ++s) p.update(at(s, 25, static_cast<double>(s)));
  p.message("checkpoint saved");
  p.finish();
  const std::vector<std::string> lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 4u) << out.str();
  EXPECT_EQ(lines[0], "step 10/25  loss 2.3026  lr 0.1  512.0 samples/s  arena 3.00 MiB  elapsed 0:10  ETA 0:15");
  EXPECT_EQ(lines[1].rfind("step 20/25", 0), 0u);
  EXPECT_EQ(lines[2].rfind("step 25/25", 0), 0u);  // the last step always
  EXPECT_NE(lines[2].find("ETA 0:00"), std::string::npos);
  EXPECT_EQ(lines[3], "checkpoint saved");
  EXPECT_EQ(out.str().find('\r'), std::string::npos);
}

TEST(Progress, TtyRedrawsOneLine) {
  std::ostringstream out;
  ProgressReporter p(out, true, 10, 100);  // resumed at step 100
  p.update(at(101, 200, 0.5));
  p.update(at(102, 200, 0.55));  // within 0.1 s of the last redraw: skipped
  p.update(at(110, 200, 5.0));
  EXPECT_EQ(out.str().find('\n'), std::string::npos);
  const std::string s = out.str();
  EXPECT_EQ(s.rfind("\r\x1b[K[", 0), 0u);
  EXPECT_NE(s.find("101/200"), std::string::npos);
  EXPECT_EQ(s.find("102/200"), std::string::npos);
  // ETA from this process's pace: 90 steps left at 0.5 s a step.
  EXPECT_NE(s.find("110/200  loss 2.3026  512.0 samples/s  arena 3.00 MiB  ETA 0:45"), std::string::npos) << s;
  EXPECT_NE(s.find("[=============>          ]  55%"), std::string::npos) << s;

  out.str("");
  p.message("saved ckpt-00000110.bin");
  EXPECT_EQ(out.str().rfind("\r\x1b[Ksaved ckpt-00000110.bin\n[", 0), 0u) << out.str();
  out.str("");
  p.update(at(200, 200, 5.01));  // the last step is drawn even right after another
  p.finish();
  p.finish();
  const std::string end = out.str();
  EXPECT_NE(end.find("[========================] 100%  200/200"), std::string::npos) << end;
  EXPECT_EQ(end.back(), '\n');
  EXPECT_EQ(std::count(end.begin(), end.end(), '\n'), 1);
}

TEST(Progress, Durations) {
  EXPECT_EQ(ProgressReporter::format_duration(0), "0:00");
  EXPECT_EQ(ProgressReporter::format_duration(65.4), "1:05");
  EXPECT_EQ(ProgressReporter::format_duration(3723), "1:02:03");
  EXPECT_EQ(ProgressReporter::format_duration(-1), "--:--");
  EXPECT_EQ(ProgressReporter::format_duration(std::nan("")), "--:--");
}

TEST(PeakRss, GrowsWithTouchedMemory) {
  const int64_t before = peak_rss_bytes();
  EXPECT_GT(before, 0);
  EXPECT_GT(current_rss_bytes(), 0);
  const size_t n = size_t{96} << 20;
  std::vector<char> big(n);
  for (size_t i = 0; i < n; i += 4096) big[i] = static_cast<char>(i);
  EXPECT_GE(peak_rss_bytes(), before + static_cast<int64_t>(n / 2));
  // The current figure first: reading it can itself touch memory, and the peak read after it covers that.
  const int64_t now = current_rss_bytes();
  EXPECT_GE(peak_rss_bytes(), now);
  EXPECT_NE(big[4096], 1);  // keeps the vector alive past the measurement
}

}  // namespace
}  // namespace sublinear::runtime::train
