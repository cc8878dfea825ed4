// The metrics log (format in metrics.h). Rules: numbers via std::to_chars (locale-independent, shortest
// round-trip); each line goes out with one fwrite and a flush; the resume rewrite goes through a temporary
// file and a rename so a crash during it cannot lose the kept lines.
#include "train/metrics.h"

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace sublinear::runtime::train {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  std::string m = "metrics file '";
  m += path;
  m += "': ";
  m += what;
  throw std::runtime_error(m);
}

std::string measured(double v) { return std::isfinite(v) ? fmt::format("{:.6g}", v) : "null"; }

void append_key(std::string& s, const char* key) {
  s += ",\"";
  s += key;
  s += "\":";
}

// The step of a line this writer wrote, or -1 when the line is not one (torn, or not JSON).
int64_t line_step(const std::string& line) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return -1;
  auto it = j.find("step");
  if (it == j.end() || !it->is_number_integer()) return -1;
  return it->get<int64_t>();
}

// Shortest round-trip text; an integral value gets ".0" so JSON readers keep it a real (and keep -0's
// sign, which an integer "-0" loses).
template <class T>
std::string shortest(T v) {
  if (!std::isfinite(v)) return "null";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, r.ptr);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

}  // namespace

std::string exact_number(float v) { return shortest(v); }
std::string exact_number(double v) { return shortest(v); }

std::string format_metrics_line(const MetricsRecord& r) {
  std::string s = "{\"step\":";
  s += std::to_string(r.step);
  append_key(s, "loss");
  s += exact_number(r.loss);
  append_key(s, "lr");
  s += exact_number(r.lr);
  append_key(s, "samples_per_s");
  s += measured(r.samples_per_s);
  append_key(s, "arena_peak_bytes");
  s += std::to_string(r.arena_peak_bytes);
  append_key(s, "planned_arena_bytes");
  s += std::to_string(r.planned_arena_bytes);
  append_key(s, "rss_peak_bytes");
  s += std::to_string(r.rss_peak_bytes);
  append_key(s, "elapsed_s");
  s += measured(r.elapsed_s);
  for (const auto& [name, value] : r.extras) {
    s += ',';
    s += nlohmann::json(name).dump();  // escapes the name
    s += ':';
    s += exact_number(value);
  }
  s += '}';
  return s;
}

MetricsWriter::MetricsWriter(std::string path, int64_t resume_step, int64_t log_every,
                             const std::function<void(const std::string&)>& warn)
    : path_(std::move(path)) {
  std::error_code ec;
  const fs::path parent = fs::path(path_).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  if (ec) fail(path_, "cannot create its folder: " + ec.message());

  if (resume_step >= 0 && fs::exists(path_, ec)) {
    std::ifstream in(path_, std::ios::binary);
    if (!in) fail(path_, std::string("cannot read: ") + std::strerror(errno));
    std::string kept, line;
    std::vector<int64_t> steps;
    int64_t unreadable = 0;
    // getline also yields a last line without '\n': the crash tore it, and it fails to parse or is kept
    // only when complete.
    bool last_unreadable = false;
    while (std::getline(in, line)) {
      const int64_t step = line_step(line);
      last_unreadable = step < 0;
      if (step < 0) ++unreadable;
      if (step >= 0 && step <= resume_step) {
        kept += line;
        kept += '\n';
        steps.push_back(step);
      }
    }
    in.close();
    if (log_every > 0) {
      std::vector<int64_t> expected;
      for (int64_t s = log_every; s <= resume_step; s += log_every) expected.push_back(s);
      // A torn last line is what a crash leaves; anything else unreadable, or a step missing or repeated,
      // is a file that was edited or damaged.
      const bool torn_tail_only = unreadable == 0 || (unreadable == 1 && last_unreadable);
      if (steps != expected || !torn_tail_only) {
        const std::string copy = path_ + ".before-resume-" + std::to_string(resume_step);
        fs::copy_file(path_, copy, fs::copy_options::overwrite_existing, ec);
        if (warn) {
          std::string msg = path_ + ": resuming at step " + std::to_string(resume_step) + ", the file has " +
                            std::to_string(steps.size()) + " lines up to that step where " +
                            std::to_string(expected.size()) + " were logged (every " + std::to_string(log_every) +
                            " steps)";
          if (unreadable > 0) msg += ", and " + std::to_string(unreadable) + " lines that are not metrics";
          msg += "; the lines it has are kept, the original is saved as " + copy;
          warn(msg);
        }
      }
    }
    std::string tmp = path_;
    tmp += ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      if (!out || !out.write(kept.data(), static_cast<std::streamsize>(kept.size())) || !out.flush())
        fail(path_, "cannot rewrite for the resume: " + std::string(std::strerror(errno)));
    }
    fs::rename(tmp, path_, ec);
    if (ec) fail(path_, "cannot rewrite for the resume: " + ec.message());
    file_ = std::fopen(path_.c_str(), "ab");
  } else {
    file_ = std::fopen(path_.c_str(), "wb");
  }
  if (file_ == nullptr) fail(path_, std::string("cannot open for writing: ") + std::strerror(errno));
}

MetricsWriter::~MetricsWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

void MetricsWriter::write(const MetricsRecord& r) {
  std::string line = format_metrics_line(r);
  line += '\n';
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0)
    fail(path_, std::string("cannot write: ") + std::strerror(errno));
}

}  // namespace sublinear::runtime::train
