#pragma once
// Writing C++ source text: literals that read back to exactly the value they were made from, comments
// that cannot end early or run on into the next line, and an indenting line writer. Rules:
// - String literals escape quotes, backslashes and every byte outside printable ASCII (three-digit
//   octal, so the next character can never extend the escape).
// - Double literals are the shortest text that parses back to the same bits (std::to_chars); a value
//   with no decimal text (infinities, NaN) is written as a std::bit_cast of its bit pattern.
// - Comment text has control characters replaced by spaces and never ends in a backslash (which would
//   splice the next line into the comment).
// - The writer indents by two spaces per level and never leaves trailing spaces.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sublinear::codegen {

// Concatenation by appending (GCC 12 warns falsely, -Wrestrict, on "literal" + std::string chains).
template <class... Parts>
std::string cat(const Parts&... parts) {
  std::string s;
  (s += ... += parts);
  return s;
}

std::string cpp_string(std::string_view s);  // "\"a\\\"b\""
std::string cpp_double(double d);             // "0.5", "1.0", "1e-08", "std::bit_cast<double>(0x7ff0...ULL)"
std::string cpp_int(int64_t v);               // "-3"; INT64_MIN as an expression that does not overflow
std::string comment_text(std::string_view s);

// An identifier made of [A-Za-z0-9_] from arbitrary text ("conv2d#1" -> "conv2d_1").
std::string identifier(std::string_view s);

class CodeWriter {
 public:
  explicit CodeWriter(int depth = 0) : depth_(depth) {}
  void line(std::string_view text = {});  // one line at the current indentation ("" = an empty line)
  void open(std::string_view text);       // `text` then one level deeper
  void close(std::string_view text);      // one level shallower, then `text`
  void access(std::string_view text);     // "public:" one space in from the enclosing class's brace
  // A call or initializer split over lines at `width` columns: `head` + args joined by ", " + `tail`,
  // continuation lines indented two levels deeper.
  void wrapped(std::string_view head, const std::vector<std::string>& args, std::string_view tail, size_t width = 110);
  void raw(std::string_view text);  // verbatim (already formatted) text, ending in a newline

  const std::string& str() const { return out_; }
  int64_t lines() const { return lines_; }

 private:
  std::string out_;
  int depth_ = 0;
  int64_t lines_ = 0;
};

}  // namespace sublinear::codegen
