#pragma once
// Where a piece of the IR came from: a point in a .snet file plus the chain of block calls and
// repeat iterations that expanded it. Every node carries one so errors and reports can point at the DSL.
#include <memory>
#include <string>
#include <vector>

namespace sublinear {

struct SourceLoc {
  std::string file;  // as given on the command line, or "<stdlib>/std.snet"
  int line = 0;      // 1-based; 0 = unknown
  int column = 0;    // 1-based
  int length = 1;    // characters to underline on `line`

  bool known() const { return line > 0; }
  std::string str() const;  // "file:line:col"
};

// One level of expansion: a block call or a repeat iteration, with the place it happened.
struct ExpansionFrame {
  std::string label;      // "bottleneck", "bottleneck#2", "repeat[37]"
  std::string block;      // block name for calls, empty for repeat iterations
  SourceLoc call_site;    // where the call or the repeat statement is
};

// Shared, immutable chain of frames (outermost first). Nodes of one expansion share one chain.
using FrameChain = std::shared_ptr<const std::vector<ExpansionFrame>>;

struct SourceSpan {
  SourceLoc loc;
  FrameChain frames;

  // "repeat[37]/bottleneck" (frames only); empty at top level.
  std::string frame_path() const;
};

}  // namespace sublinear
