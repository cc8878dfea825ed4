#pragma once
// What the SVG figures (memory timeline, frontier) share: XML escaping, short numbers and axis ticks.
#include <string>
#include <string_view>

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

// Elements appended to `out`: the opening <svg> tag of a width x height page (Helvetica), a white
// background over it, a <text> (escaped; `extra` is raw attribute text starting with a space) and a
// <line> of CSS class `cls`.
void open_page(std::string& out, double width, double height);
void background(std::string& out, double width, double height);
void text(std::string& out, double x, double y, const std::string& s, std::string_view extra = {});
void line(std::string& out, double x1, double y1, double x2, double y2, std::string_view cls);

}  // namespace sublinear::planner::svg
