#pragma once
// Helpers for frontend tests: load a model from text and capture the diagnostics it produces.
#include <string>
#include <vector>

#include "frontend/frontend.h"
#include "ir/diagnostic.h"
#include "ir/graph.h"

namespace sublinear::testing {

struct LoadOutcome {
  bool ok = false;
  ir::Graph graph;
  std::vector<Diagnostic> diags;
  std::string rendered;  // the diagnostics as the CLI prints them (no colour)
};

inline LoadOutcome load_text(const std::string& text, frontend::LoadOptions opts = {},
                             const std::string& file = "test.snet") {
  LoadOutcome out;
  SourceManager sources;
  try {
    out.graph = frontend::load_model_text(file, text, opts, sources);
    out.ok = true;
  } catch (const UserErrors& e) {
    out.diags = e.diagnostics();
  } catch (const UserError& e) {
    out.diags = {e.diagnostic()};
  }
  for (const auto& d : out.diags) out.rendered += format_diagnostic(d, sources, false);
  return out;
}

}  // namespace sublinear::testing
