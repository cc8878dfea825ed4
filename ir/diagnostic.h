#pragma once
// User errors: a bad model, config or data. Each carries the place it points at and a message a person
// can act on; the CLI prints them as `file:line:col: error: message`, the source line with a caret, and
// one `note:` per expansion level. Internal invariants are SL_CHECK (check.h), not this.
#include <stdexcept>
#include <string>
#include <vector>

#include "ir/source_span.h"

namespace sublinear {

enum class Severity { Error, Warning, Note };

struct Diagnostic {
  Severity severity = Severity::Error;
  SourceSpan span;
  std::string message;
  std::vector<std::string> extra;  // further lines printed under the caret (e.g. "  left:  f32[2,3]")
};

class UserError : public std::runtime_error {
 public:
  explicit UserError(Diagnostic d) : std::runtime_error(d.message), diag_(std::move(d)) {}
  UserError(SourceSpan span, std::string message)
      : UserError(Diagnostic{Severity::Error, std::move(span), std::move(message), {}}) {}
  const Diagnostic& diagnostic() const { return diag_; }
  Diagnostic& diagnostic() { return diag_; }

 private:
  Diagnostic diag_;
};

// Several errors collected in one pass (parser recovery, poisoned statements); thrown at the end.
class UserErrors : public std::runtime_error {
 public:
  explicit UserErrors(std::vector<Diagnostic> ds)
      : std::runtime_error(ds.empty() ? "errors" : ds.front().message), diags_(std::move(ds)) {}
  const std::vector<Diagnostic>& diagnostics() const { return diags_; }

 private:
  std::vector<Diagnostic> diags_;
};

// Maps file names to their text so diagnostics can quote the offending line.
class SourceManager {
 public:
  void add(const std::string& file, std::string text);
  const std::string* text(const std::string& file) const;
  std::string line(const std::string& file, int line) const;  // without newline; "" if unknown

 private:
  std::vector<std::pair<std::string, std::string>> files_;
};

// Renders `file:line:col: error: message`, the source line, a caret line, extra lines and one
// `note: in expansion of ...` per frame (innermost first).
std::string format_diagnostic(const Diagnostic& d, const SourceManager& sources, bool color = false);

}  // namespace sublinear
