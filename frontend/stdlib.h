#pragma once
// The standard library of blocks written in .snet itself (frontend/stdlib/std.snet), embedded in the
// binary so every model can call `lstm`, `preact_bottleneck`, ... without configuration.

namespace sublinear::frontend {

const char* stdlib_source();
inline constexpr const char* kStdlibFileName = "<stdlib>/std.snet";

}  // namespace sublinear::frontend
