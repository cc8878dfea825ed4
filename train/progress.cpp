// Progress reporting (modes in progress.h). Rules: the live line is cleared with ANSI erase-to-end-of-line
// rather than padded, so a shorter line leaves no residue; numbers are formatted locale-independently.
#include "train/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "ir/format_util.h"

namespace sublinear::runtime::train {

namespace {

constexpr int kBarWidth = 24;
constexpr double kRedrawInterval = 0.1;  // seconds
constexpr const char* kClearLine = "\r\x1b[K";

std::string loss_text(float loss) { return std::isfinite(loss) ? fmt::format("{:.4f}", loss) : "nan"; }

}  // namespace

ProgressReporter::ProgressReporter(std::ostream& out, bool tty, int64_t log_every, int64_t start_step)
    : out_(out), tty_(tty), every_(std::max<int64_t>(1, log_every)), start_step_(start_step) {}

bool ProgressReporter::stderr_is_tty() { return ::isatty(::fileno(stderr)) != 0; }

std::string ProgressReporter::format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  const auto s = static_cast<int64_t>(std::llround(seconds));
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

double ProgressReporter::eta_s(const ProgressUpdate& u) const {
  const int64_t done = u.step - start_step_;
  if (done <= 0 || u.elapsed_s <= 0) return -1;
  return static_cast<double>(u.total - u.step) * u.elapsed_s / static_cast<double>(done);
}

std::string ProgressReporter::tty_line(const ProgressUpdate& u) const {
  const double frac =
      u.total > 0 ? std::clamp(static_cast<double>(u.step) / static_cast<double>(u.total), 0.0, 1.0) : 0.0;
  const int filled = static_cast<int>(frac * kBarWidth);
  std::string bar(static_cast<size_t>(filled), '=');
  if (filled < kBarWidth) {
    bar += '>';
    bar.append(static_cast<size_t>(kBarWidth - filled - 1), ' ');
  }
  return fmt::format("[{}] {:>3.0f}%  {}/{}  loss {}  {:.1f} samples/s  arena {}  ETA {}", bar, frac * 100,
                     ir::with_commas(u.step), ir::with_commas(u.total), loss_text(u.loss), u.samples_per_s,
                     ir::human_bytes(u.arena_peak_bytes), format_duration(eta_s(u)));
}

std::string ProgressReporter::plain_line(const ProgressUpdate& u) const {
  return fmt::format("step {}/{}  loss {}  lr {:.6g}  {:.1f} samples/s  arena {}  elapsed {}  ETA {}", u.step,
                     u.total, loss_text(u.loss), u.lr, u.samples_per_s, ir::human_bytes(u.arena_peak_bytes),
                     format_duration(u.elapsed_s), format_duration(eta_s(u)));
}

void ProgressReporter::update(const ProgressUpdate& u) {
  const bool last = u.step >= u.total;
  if (!tty_) {
    if (u.step % every_ == 0 || last) out_ << plain_line(u) << '\n' << std::flush;
    return;
  }
  if (!last && last_draw_ >= 0 && u.elapsed_s - last_draw_ < kRedrawInterval) return;
  last_draw_ = u.elapsed_s;
  live_ = tty_line(u);
  out_ << kClearLine << live_ << std::flush;
}

void ProgressReporter::message(const std::string& line) {
  if (!tty_) {
    out_ << line << '\n' << std::flush;
    return;
  }
  out_ << kClearLine << line << '\n';
  if (!live_.empty()) out_ << live_;
  out_ << std::flush;
}

void ProgressReporter::finish() {
  if (tty_ && !live_.empty()) out_ << '\n' << std::flush;
  live_.clear();
}

}  // namespace sublinear::runtime::train
