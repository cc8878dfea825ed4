// The metrics log (format in metrics.h). Rules: numbers via std::to_chars (locale-independent, shortest
// round-trip); each line goes out with one fwrite and a flush; the resume rewrite goes through a temporary
// file and a rename so a crash during it cannot lose the kept lines.
#include "runtime/train/metrics.h"

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
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

MetricsWriter::MetricsWriter(std::string path, int64_t resume_step) : path_(std::move(path)) {
  std::error_code ec;
  const fs::path parent = fs::path(path_).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  if (ec) fail(path_, "cannot create its folder: " + ec.message());

  if (resume_step >= 0 && fs::exists(path_, ec)) {
    std::ifstream in(path_, std::ios::binary);
    if (!in) fail(path_, std::string("cannot read: ") + std::strerror(errno));
    std::string kept, line;
    // getline also yields a last line without '\n': the crash tore it, and it fails to parse or is kept
    // only when complete.
    while (std::getline(in, line)) {
      const int64_t step = line_step(line);
      if (step >= 0 && step <= resume_step) {
        kept += line;
        kept += '\n';
      }
    }
    in.close();
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
