#include "ir/diagnostic.h"

#include <algorithm>

namespace sublinear {

void SourceManager::add(const std::string& file, std::string text) {
  for (auto& f : files_) {
    if (f.first == file) {
      f.second = std::move(text);
      return;
    }
  }
  files_.emplace_back(file, std::move(text));
}

const std::string* SourceManager::text(const std::string& file) const {
  for (const auto& f : files_)
    if (f.first == file) return &f.second;
  return nullptr;
}

std::string SourceManager::line(const std::string& file, int line) const {
  const std::string* t = text(file);
  if (!t || line <= 0) return {};
  size_t pos = 0;
  for (int l = 1; l < line; ++l) {
    pos = t->find('\n', pos);
    if (pos == std::string::npos) return {};
    ++pos;
  }
  size_t end = t->find('\n', pos);
  std::string out = t->substr(pos, end == std::string::npos ? std::string::npos : end - pos);
  if (!out.empty() && out.back() == '\r') out.pop_back();
  return out;
}

namespace {

const char* severity_word(Severity s) {
  switch (s) {
    case Severity::Error: return "error";
    case Severity::Warning: return "warning";
    case Severity::Note: return "note";
  }
  return "error";
}

void append_quote(std::string& out, const SourceLoc& loc, const SourceManager& sources) {
  if (!loc.known()) return;
  std::string text = sources.line(loc.file, loc.line);
  if (text.empty()) return;
  out += "  " + text + "\n  ";
  // Keep tabs so the caret lines up under tab-indented source.
  for (int i = 1; i < loc.column && i - 1 < static_cast<int>(text.size()); ++i)
    out += text[i - 1] == '\t' ? '\t' : ' ';
  out += '^';
  int avail = static_cast<int>(text.size()) - loc.column;
  int tildes = std::min(std::max(loc.length - 1, 0), std::max(avail, 0));
  out.append(tildes, '~');
  out += '\n';
}

}  // namespace

std::string format_diagnostic(const Diagnostic& d, const SourceManager& sources, bool color) {
  std::string out;
  const char* bold = color ? "\033[1m" : "";
  const char* red = color ? "\033[1;31m" : "";
  const char* cyan = color ? "\033[1;36m" : "";
  const char* reset = color ? "\033[0m" : "";
  out += bold + d.span.loc.str() + ": " + reset;
  out += (d.severity == Severity::Error ? red : cyan);
  out += severity_word(d.severity);
  out += std::string(": ") + reset + bold + d.message + reset + "\n";
  append_quote(out, d.span.loc, sources);
  for (const auto& e : d.extra) out += "  " + e + "\n";
  if (d.span.frames) {
    const auto& frames = *d.span.frames;
    // Deep recursion would print hundreds of notes; the innermost and outermost levels say enough.
    constexpr size_t kInner = 6, kOuter = 4;
    const size_t n = frames.size();
    for (size_t k = 0; k < n; ++k) {
      if (n > kInner + kOuter + 1 && k == kInner) {
        out += std::string(cyan) + "note: " + reset + "... " + std::to_string(n - kInner - kOuter) +
               " more expansion levels ...\n";
        k = n - kOuter - 1;
        continue;
      }
      const ExpansionFrame& f = frames[n - 1 - k];
      out += bold + f.call_site.str() + ": " + reset + cyan + "note: " + reset;
      if (f.block.empty())
        out += "in " + f.label + " (iteration of repeat at " + f.call_site.str() + ")\n";
      else
        out += "in expansion of block " + f.block + " at " + f.call_site.str() + "\n";
    }
  }
  return out;
}

}  // namespace sublinear
