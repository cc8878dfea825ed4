#pragma once
// The frontend's entry points: a .snet file (plus the embedded standard library and its imports) in,
// a checked, fully expanded ir::Graph out. User mistakes come out as UserError / UserErrors carrying
// file:line:col and the expansion chain; nothing reaches the planner unless the whole model checks.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ir/diagnostic.h"
#include "ir/fusion.h"
#include "ir/graph.h"

namespace sublinear::frontend {

struct LoadOptions {
  int64_t batch = 1;                                        // binds N
  std::vector<std::pair<std::string, std::string>> sets;    // --set name=value, in order
  // Where each set came from when not the command line (model.params in an experiment file): errors
  // about it then point there and name the key. Shorter than `sets`, or an unknown location: the
  // command line.
  std::vector<SourceLoc> set_locs;
  std::string model;                                        // which model when a file has several
  bool use_stdlib = true;
  // Fuse what the kernels run in one sweep (ir/fusion.h) after expansion: what a run plans and trains.
  // Off for what shows the model as written (check, graph) and in tests unless they ask.
  ir::FusionOptions fusion = ir::FusionOptions::none();
};

// Reads `path` (and what it imports), registering every text with `sources` for diagnostics.
ir::Graph load_model(const std::string& path, const LoadOptions& opts, SourceManager& sources);

// The same from text already in memory; `file` names it in diagnostics and resolves imports.
ir::Graph load_model_text(const std::string& file, const std::string& text, const LoadOptions& opts,
                          SourceManager& sources);

// Parses "depth=1001" into {"depth", "1001"}; throws UserError when there is no '='.
std::pair<std::string, std::string> parse_set(const std::string& arg);

}  // namespace sublinear::frontend
