#pragma once
// Helpers for the diagnostics tests: load options and an assertion on the one error a model produces.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "test_util.h"

namespace sublinear::testing {

inline frontend::LoadOptions batch(int64_t n) {
  frontend::LoadOptions o;
  o.batch = n;
  return o;
}

inline frontend::LoadOptions with_set(const std::string& name, const std::string& value) {
  frontend::LoadOptions o;
  o.sets.emplace_back(name, value);
  return o;
}

inline std::string where(const Diagnostic& d) { return d.span.loc.str() + ": " + d.message; }

// Loading failed with exactly one diagnostic, at file:line:col, whose message contains `msg`.
inline ::testing::AssertionResult one_error(const LoadOutcome& r, int line, int col,
                                            const std::string& msg, const std::string& file = "test.snet") {
  if (r.ok) return ::testing::AssertionFailure() << "the model loaded without errors";
  if (r.diags.size() != 1)
    return ::testing::AssertionFailure() << "expected 1 diagnostic, got " << r.diags.size() << ":\n"
                                         << r.rendered;
  const Diagnostic& d = r.diags[0];
  if (d.span.loc.file != file || d.span.loc.line != line || d.span.loc.column != col)
    return ::testing::AssertionFailure() << "expected " << file << ":" << line << ":" << col
                                         << ", got " << where(d);
  if (d.message.find(msg) == std::string::npos)
    return ::testing::AssertionFailure() << "message '" << d.message << "' lacks '" << msg << "'";
  return ::testing::AssertionSuccess();
}

inline bool has_extra(const Diagnostic& d, const std::string& text) {
  return std::any_of(d.extra.begin(), d.extra.end(),
                     [&](const std::string& e) { return e.find(text) != std::string::npos; });
}

}  // namespace sublinear::testing
