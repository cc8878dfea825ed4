#pragma once
// What the SVG figures (memory timeline, frontier) share: XML escaping, short numbers and axis ticks.
#include <string>

namespace sublinear::planner::svg {

// Text safe inside an XML element or attribute; control characters other than tab and newline (not
// allowed in XML 1.0) become spaces.
std::string xml_escape(const std::string& s);

// Shortest decimal with at most two decimals: "12", "12.5", "12.25".
std::string num(double v);

// 1, 2, 2.5 or 5 times a power of ten, at least `raw`.
double nice_step(double raw);

// Ticks for a byte axis up to `max_bytes`: about six steps of a nice size in the largest binary unit
// that keeps the labels at or above 1.
struct ByteTicks {
  double step = 1;  // bytes
  double unit = 1;  // bytes per unit
  const char* unit_name = "B";
};
ByteTicks byte_ticks(double max_bytes);

}  // namespace sublinear::planner::svg
