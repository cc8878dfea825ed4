#include "ir/format_util.h"

#include <cstdio>

namespace sublinear::ir {

std::string human_bytes(int64_t bytes) {
  // Work on the magnitude as unsigned so INT64_MIN does not overflow.
  bool negative = bytes < 0;
  uint64_t mag = negative ? 0 - static_cast<uint64_t>(bytes) : static_cast<uint64_t>(bytes);
  std::string sign = negative ? "-" : "";
  if (mag < 1024) return sign + std::to_string(mag) + " B";
  static const char* const kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(mag) / 1024.0;
  size_t unit = 0;
  // Step up while the value would print as 1024.00 or more, so 1048575 B reads "1.00 MiB".
  while (v >= 1023.995 && unit + 1 < sizeof kUnits / sizeof kUnits[0]) {
    v /= 1024.0;
    ++unit;
  }
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.2f %s", v, kUnits[unit]);
  return sign + buf;
}

std::string with_commas(int64_t value) {
  bool negative = value < 0;
  uint64_t mag = negative ? 0 - static_cast<uint64_t>(value) : static_cast<uint64_t>(value);
  std::string digits = std::to_string(mag);
  std::string out;
  out.reserve(digits.size() + digits.size() / 3 + 1);
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return negative ? "-" + out : out;
}

}  // namespace sublinear::ir
