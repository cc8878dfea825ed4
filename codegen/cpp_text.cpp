#include "codegen/cpp_text.h"

#include <bit>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

namespace sublinear::codegen {

std::string cpp_string(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c >= 0x20 && c < 0x7f) {
      out += ch;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\%03o", static_cast<unsigned>(c));
      out += buf;
    }
  }
  out += '"';
  return out;
}

std::string cpp_double(double d) {
  if (!std::isfinite(d)) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "std::bit_cast<double>(0x%016llxULL)",
                  static_cast<unsigned long long>(std::bit_cast<uint64_t>(d)));
    return buf;
  }
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  std::string s(buf, r.ptr);
  // "1" would be an int literal: keep the double type visible and exact.
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string cpp_int(int64_t v) {
  if (v == std::numeric_limits<int64_t>::min()) return "(-9223372036854775807 - 1)";
  return std::to_string(v);
}

std::string comment_text(std::string_view s) {
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    out += (c < 0x20 || c == 0x7f) ? ' ' : ch;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (!out.empty() && out.back() == '\\') out += '.';
  return out;
}

std::string identifier(std::string_view s) {
  std::string out;
  for (char ch : s) {
    const bool word = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
    out += word ? ch : '_';
  }
  if (out.empty() || (out[0] >= '0' && out[0] <= '9')) out.insert(out.begin(), '_');
  return out;
}

void CodeWriter::line(std::string_view text) {
  if (!text.empty()) {
    out_.append(static_cast<size_t>(2 * depth_), ' ');
    out_ += text;
    while (!out_.empty() && out_.back() == ' ') out_.pop_back();
  }
  out_ += '\n';
  ++lines_;
}

void CodeWriter::open(std::string_view text) {
  line(text);
  ++depth_;
}

void CodeWriter::close(std::string_view text) {
  if (depth_ > 0) --depth_;
  line(text);
}

void CodeWriter::access(std::string_view text) {
  out_.append(static_cast<size_t>(depth_ > 0 ? 2 * depth_ - 1 : 0), ' ');
  out_ += text;
  out_ += '\n';
  ++lines_;
}

void CodeWriter::wrapped(std::string_view head, const std::vector<std::string>& args, std::string_view tail,
                         size_t width) {
  const size_t indent = static_cast<size_t>(2 * depth_);
  std::string cur(head);
  bool fresh = true;  // nothing but the head (or the continuation indent) on the current line yet
  for (size_t i = 0; i < args.size(); ++i) {
    std::string piece = args[i];
    piece += i + 1 < args.size() ? std::string(",") : std::string(tail);
    const size_t len = indent + cur.size() + (fresh ? 0 : 1) + piece.size();
    if (!fresh && len > width) {
      line(cur);
      cur.assign(4, ' ');
      fresh = true;
    }
    if (!fresh) cur += ' ';
    cur += piece;
    fresh = false;
  }
  if (args.empty()) cur += tail;
  line(cur);
}

void CodeWriter::raw(std::string_view text) {
  out_ += text;
  for (char c : text) lines_ += c == '\n';
}

}  // namespace sublinear::codegen
