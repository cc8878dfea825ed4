#include "ir/source_span.h"

namespace sublinear {

std::string SourceLoc::str() const {
  if (!known()) return file.empty() ? std::string("<unknown>") : file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

std::string SourceSpan::frame_path() const {
  std::string out;
  if (!frames) return out;
  for (const auto& f : *frames) {
    if (!out.empty()) out += '/';
    out += f.label;
  }
  return out;
}

}  // namespace sublinear
