#include "planner/svg_util.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace sublinear::planner::svg {

std::string xml_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // Control characters other than tab and newline are not allowed in XML 1.0.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n') {
          out += ' ';
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string num(double v) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  std::string s = buf;
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s;
}

double nice_step(double raw) {
  if (raw <= 0) return 1;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * p >= raw * (1 - 1e-9)) return m * p;
  return 10 * p;
}

ByteTicks byte_ticks(double max_bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  ByteTicks t;
  size_t k = 0;
  while (k + 1 < sizeof kUnits / sizeof kUnits[0] && max_bytes / t.unit >= 1024) t.unit *= 1024, ++k;
  t.unit_name = kUnits[k];
  t.step = nice_step(max_bytes / t.unit / 6.0) * t.unit;
  if (k == 0) t.step = std::max(1.0, std::round(t.step));
  return t;
}

void open_page(std::string& out, double width, double height) {
  out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(width) + "\" height=\"" + num(height) +
         "\" viewBox=\"0 0 " + num(width) + " " + num(height) + "\" font-family=\"Helvetica, Arial, sans-serif\">\n";
}

void background(std::string& out, double width, double height) {
  out += "<rect x=\"0\" y=\"0\" width=\"" + num(width) + "\" height=\"" + num(height) + "\" fill=\"#fff\"/>\n";
}

void text(std::string& out, double x, double y, const std::string& s, std::string_view extra) {
  out += "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\"";
  out += extra;
  out += '>';
  out += xml_escape(s);
  out += "</text>\n";
}

void line(std::string& out, double x1, double y1, double x2, double y2, std::string_view cls) {
  out += "<line class=\"";
  out += cls;
  out += "\" x1=\"" + num(x1) + "\" y1=\"" + num(y1) + "\" x2=\"" + num(x2) + "\" y2=\"" + num(y2) + "\"/>\n";
}

}  // namespace sublinear::planner::svg
