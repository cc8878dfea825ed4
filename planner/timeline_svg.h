#pragma once
// Memory over the execution order as an SVG figure: every arena buffer drawn at its real offset from the
// step that writes it to its last reader (so sharing and fragmentation show as they are), coloured by
// the phase that writes it, with the live-bytes line, the peak, phase bands and a legend. Hover text
// names the values in each buffer and where the DSL made them.
#include <cstddef>
#include <string>

#include "planner/plan.h"

namespace sublinear::planner {

// Buffers drawn at most; beyond that only the largest are drawn and a footnote says so.
inline constexpr size_t kTimelineMaxRects = 20000;

std::string timeline_svg(const Plan& plan);

}  // namespace sublinear::planner
