#pragma once
// The metrics log: <run_dir>/metrics.jsonl, one JSON object per logged step, flushed line by line so a
// crashed run keeps what it logged. Numbers that a rerun must reproduce bit for bit are written so they
// read back exactly: the loss (an f32) as the shortest decimal that parses back to the same float, the
// rate and extras as the shortest decimal of their double. Measured figures (throughput, time) are
// written to 6 significant digits. Reals always look like reals ("2.0", not "2"), and a non-finite value
// is written as null (JSON has no nan).
//
// Line (keys in this order, extras appended):
//   {"step":100,"loss":2.3025851,"lr":0.1,"samples_per_s":1234.56,"arena_peak_bytes":...,
//    "planned_arena_bytes":...,"rss_peak_bytes":...,"elapsed_s":12.3456,"accuracy":0.125}
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace sublinear::runtime::train {

struct MetricsRecord {
  int64_t step = 0;                 // optimizer steps completed when the line is written (1-based)
  float loss = 0;
  double lr = 0;                    // the rate the last step used
  double samples_per_s = 0;
  int64_t arena_peak_bytes = 0;     // measured high-water mark of the feature-map arena
  int64_t planned_arena_bytes = 0;  // the plan's arena size
  int64_t rss_peak_bytes = 0;
  double elapsed_s = 0;
  std::vector<std::pair<std::string, double>> extras;  // e.g. {"accuracy", 0.75}
};

// The JSON line for `r`, without the newline.
std::string format_metrics_line(const MetricsRecord& r);

// Shortest decimal text that parses back (strtof / strtod) to exactly `v`; "null" when not finite.
std::string exact_number(float v);
std::string exact_number(double v);

class MetricsWriter {
 public:
  // resume_step < 0: a fresh run, the file is truncated. resume_step >= 0: a run resumed from the
  // checkpoint taken after `resume_step` steps: lines with step <= resume_step are kept and the later ones
  // (logged by the interrupted run after that checkpoint, or torn by the crash) dropped, so that the file
  // ends up the same as an uninterrupted run's. With `log_every` > 0 the kept lines must be exactly the
  // steps log_every, 2 log_every, ... up to resume_step; when they are not (lines missing, or lines that
  // do not parse), the original file is copied to <path>.before-resume-<step> and `warn` says what was
  // found, so no line is lost without a word. The folder is created if needed; std::runtime_error naming
  // the file when it cannot be written.
  explicit MetricsWriter(std::string path, int64_t resume_step = -1, int64_t log_every = 0,
                         const std::function<void(const std::string&)>& warn = {});
  ~MetricsWriter();
  MetricsWriter(const MetricsWriter&) = delete;
  MetricsWriter& operator=(const MetricsWriter&) = delete;

  void write(const MetricsRecord& r);  // appends one line and flushes it
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace sublinear::runtime::train
