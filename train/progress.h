#pragma once
// Progress on the terminal. On a TTY: one live line redrawn in place with '\r' (a bar, step/total, loss,
// throughput, arena peak, ETA), at most 10 times a second of training time, always at the last step. Not
// on a TTY (a log file, CI): a plain line every `log_every` steps and at the last step, nothing redrawn.
// The stream and the TTY flag are injected so both modes can be tested.
#include <cstdint>
#include <ostream>
#include <string>

namespace sublinear::runtime::train {

struct ProgressUpdate {
  int64_t step = 0;   // optimizer steps completed
  int64_t total = 0;  // steps the run will take
  float loss = 0;
  double lr = 0;
  double samples_per_s = 0;
  int64_t arena_peak_bytes = 0;
  double elapsed_s = 0;  // since this process started training (a resumed run: since the resume)
};

class ProgressReporter {
 public:
  // `start_step`: the step this process started from (0, or the checkpoint's step), so the ETA is based
  // on the steps this process has timed.
  ProgressReporter(std::ostream& out, bool tty, int64_t log_every, int64_t start_step = 0);

  // Whether stderr is a terminal (where the trainer reports progress).
  static bool stderr_is_tty();

  void update(const ProgressUpdate& u);
  // A line of its own (a checkpoint saved, a warning) that does not get mixed into the live line: the
  // live line is cleared, the message printed, and the live line redrawn below it.
  void message(const std::string& line);
  // Ends the live line (a newline) so what follows starts on a fresh line; idempotent.
  void finish();

  // "1:02:03", "4:05"; "--:--" when unknown (negative or not finite).
  static std::string format_duration(double seconds);

 private:
  std::string tty_line(const ProgressUpdate& u) const;
  std::string plain_line(const ProgressUpdate& u) const;
  double eta_s(const ProgressUpdate& u) const;

  std::ostream& out_;
  bool tty_;
  int64_t every_;
  int64_t start_step_;
  std::string live_;       // the live line last drawn (tty), empty when none is on screen
  double last_draw_ = -1;  // elapsed_s of the last redraw
};

}  // namespace sublinear::runtime::train
