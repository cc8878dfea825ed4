// Rules: both axes start at zero (sizes and work read as proportions, not just orderings); every mark is
// an exact plan's figure; the staircase is pick_for_budget over the whole x range, so a point on it is
// what --memory-budget at that x returns.
#include "planner/frontier_svg.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "ir/format_util.h"
#include "planner/report.h"
#include "planner/svg_util.h"

namespace sublinear::planner {

namespace {

using svg::num;
using svg::xml_escape;

constexpr double kWidth = 1100, kHeight = 680;
constexpr double kLeft = 96, kRight = 1060, kTop = 70, kBottom = 560;

// Families in legend order, with their colours (Tableau 10, as the timeline; "kick" from Tableau 20).
const std::pair<const char*, const char*> kFamilies[] = {
    {"none", "#59a14f"},     {"drop-cheap", "#edc948"}, {"sqrt", "#4e79a7"}, {"log", "#b07aa1"},
    {"segments", "#f28e2b"}, {"nested", "#ff9da7"},     {"tail", "#e15759"}, {"greedy", "#76b7b2"},
    {"kick", "#499894"},     {"early", "#9c755f"}};

const char* colour_of(const std::string& family) {
  for (const auto& [name, colour] : kFamilies)
    if (family == name) return colour;
  return "#bab0ac";
}

class FrontierSvg {
 public:
  explicit FrontierSvg(const Frontier& f) : f_(f) {
    double xmax = 1, ymax = 0;
    for (const auto* set : {&f.points, &f.fixed})
      for (const auto& p : *set) {
        xmax = std::max(xmax, static_cast<double>(p.total_peak));
        ymax = std::max(ymax, 100.0 * p.extra_forward_ratio());
      }
    xticks_ = svg::byte_ticks(xmax * 1.04);
    xmax_ = std::ceil(xmax * 1.04 / xticks_.step) * xticks_.step;
    ystep_ = svg::nice_step(std::max(ymax, 1.0) * 1.06 / 6.0);
    ymax_ = std::ceil(std::max(ymax, 1.0) * 1.06 / ystep_) * ystep_;
  }

  std::string render() {
    header();
    axes();
    staircase();
    fixed();
    points();
    legend();
    out_ += "</svg>\n";
    return std::move(out_);
  }

 private:
  double sx(double bytes) const { return kLeft + bytes * (kRight - kLeft) / xmax_; }
  double sy(double percent) const { return kBottom - percent * (kBottom - kTop) / ymax_; }

  void text(double x, double y, const std::string& s, std::string_view extra = {}) {
    svg::text(out_, x, y, s, extra);
  }
  void line(double x1, double y1, double x2, double y2, const char* cls) { svg::line(out_, x1, y1, x2, y2, cls); }

  static std::string figures(const FrontierPoint& p) {
    return ir::human_bytes(p.total_peak) + " total (feature maps " + ir::human_bytes(p.feature_map_peak_bytes) +
           "), extra forward " + percent(p.extra_forward_ratio()) + " (" + ir::with_commas(p.recompute_cost) +
           " " + p.cost_unit + "), " + ir::with_commas(p.recomputed_nodes) + " nodes recomputed";
  }

  void header() {
    svg::open_page(out_, kWidth, kHeight);
    out_ +=
        "<style>\n"
        "text{font-size:11px;fill:#222}\n"
        ".title{font-size:16px;font-weight:bold}\n"
        ".sub{font-size:12px;fill:#444}\n"
        ".note{font-size:10px;fill:#555}\n"
        ".halo{paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}\n"
        ".axis{stroke:#333;stroke-width:1}\n"
        ".grid{stroke:#ddd;stroke-width:0.6}\n"
        ".stair{fill:none;stroke:#333;stroke-width:1.4}\n"
        ".drop{stroke:#d62728;stroke-width:1.1;stroke-dasharray:4 3}\n"
        ".pt{stroke:#fff;stroke-width:0.8}\n"
        ".fx{fill:#fff;stroke:#d62728;stroke-width:1.6}\n"
        "</style>\n";
    svg::background(out_, kWidth, kHeight);
    std::string title = "memory against recomputation";
    if (f_.graph)
      title += ": " + f_.graph->model_name + ", batch " + ir::with_commas(f_.graph->batch) + ", optimizer " +
               optimizer_name(f_.options.optimizer);
    text(kLeft, 26, title, " class=\"title\"");
    std::string sub = std::to_string(f_.points.size()) + " plans on the frontier of " +
                      std::to_string(f_.plans_built) + " built";
    if (!f_.points.empty())
      sub += ", from " + ir::human_bytes(f_.points.front().total_peak) + " (" +
             percent(f_.points.front().extra_forward_ratio()) + " extra forward) to " +
             ir::human_bytes(f_.points.back().total_peak) + " (" + percent(f_.points.back().extra_forward_ratio()) + ")";
    text(kLeft, 46, sub, " class=\"sub\"");
  }

  void axes() {
    for (double b = 0; b <= xmax_ * (1 + 1e-9); b += xticks_.step) {
      const double x = sx(b);
      if (b > 0) line(x, kTop, x, kBottom, "grid");
      line(x, kBottom, x, kBottom + 5, "axis");
      text(x, kBottom + 18, num(b / xticks_.unit) + " " + xticks_.unit_name, " text-anchor=\"middle\"");
    }
    for (double p = 0; p <= ymax_ * (1 + 1e-9); p += ystep_) {
      const double y = sy(p);
      if (p > 0) line(kLeft, y, kRight, y, "grid");
      line(kLeft - 5, y, kLeft, y, "axis");
      text(kLeft - 8, y + 4, num(p) + "%", " text-anchor=\"end\"");
    }
    line(kLeft, kTop, kLeft, kBottom, "axis");
    line(kLeft, kBottom, kRight, kBottom, "axis");
    text((kLeft + kRight) / 2, kBottom + 38,
         "total peak memory (inputs, parameters, gradients, optimizer state, feature maps, workspace)",
         " text-anchor=\"middle\"");
    const double ym = (kTop + kBottom) / 2;
    text(24, ym,
         f_.options.costs                               ? "extra forward work (recomputed measured time, % of one forward pass)"
         : f_.options.cost_model == CostModel::Flops    ? "extra forward work (recomputed FLOPs, % of one forward pass)"
                                                        : "extra forward work (recomputed FLOPs + 10 per byte moved, % of one forward pass)",
         " text-anchor=\"middle\" transform=\"rotate(-90 24 " + num(ym) + ")\"");
  }

  // What a budget of x gets: flat from each point to the next one's total, then down.
  void staircase() {
    if (f_.points.empty()) return;
    std::string pts;
    auto add = [&](double x, double y) {
      if (!pts.empty()) pts += ' ';
      pts += num(x);
      pts += ',';
      pts += num(y);
    };
    for (size_t i = 0; i < f_.points.size(); ++i) {
      const FrontierPoint& p = f_.points[i];
      const double y = sy(100.0 * p.extra_forward_ratio());
      add(sx(static_cast<double>(p.total_peak)), y);
      const double next = i + 1 < f_.points.size() ? static_cast<double>(f_.points[i + 1].total_peak) : xmax_;
      add(sx(next), y);
    }
    out_ += "<polyline class=\"stair\" points=\"" + pts + "\"/>\n";
  }

  void points() {
    for (const auto& p : f_.points) {
      out_ += "<circle class=\"pt\" cx=\"" + num(sx(static_cast<double>(p.total_peak))) + "\" cy=\"" +
              num(sy(100.0 * p.extra_forward_ratio())) + "\" r=\"4\" fill=\"" + colour_of(p.policy) + "\"><title>" +
              xml_escape(p.policy + ": " + figures(p)) + "</title></circle>\n";
    }
  }

  // Each fixed policy as a hollow diamond, with a drop line to the frontier at its own total.
  void fixed() {
    for (const auto& p : f_.fixed) {
      const double x = sx(static_cast<double>(p.total_peak)), y = sy(100.0 * p.extra_forward_ratio());
      const FrontierPoint* at = pick_for_budget(f_, p.total_peak);
      std::string hover = p.policy + ": " + figures(p);
      if (at) {
        const double ya = sy(100.0 * at->extra_forward_ratio());
        if (ya - y > 2) line(x, y + 6, x, ya, "drop");
        hover += "\nthe solver at this size: " + figures(*at);
      }
      out_ += "<path class=\"fx\" d=\"M" + num(x) + " " + num(y - 7) + " L" + num(x + 7) + " " + num(y) + " L" +
              num(x) + " " + num(y + 7) + " L" + num(x - 7) + " " + num(y) + " Z\"><title>" + xml_escape(hover) +
              "</title></path>\n";
      const bool right_half = x > (kLeft + kRight) * 0.75;
      text(right_half ? x - 10 : x + 10, y - 8, p.policy,
           right_half ? " class=\"halo\" text-anchor=\"end\"" : " class=\"halo\"");
    }
  }

  void legend() {
    std::map<std::string, int> present;
    for (const auto& p : f_.points) ++present[p.policy];
    double x = kLeft;
    const double y = kBottom + 66;
    for (const auto& [name, colour] : kFamilies) {
      if (!present.count(name)) continue;
      out_ += "<circle cx=\"" + num(x + 5) + "\" cy=\"" + num(y - 4) + "\" r=\"4.5\" fill=\"" + colour + "\"/>\n";
      const std::string label = std::string(name) + " (" + std::to_string(present[name]) + ")";
      text(x + 14, y, label);
      x += 26 + 6.2 * static_cast<double>(label.size());
    }
    // With many families present the fixed-policy key starts a second line rather than leave the image.
    double fy = y;
    if (x + 340 > kWidth) x = kLeft, fy = y + 20;
    out_ += "<path class=\"fx\" d=\"M" + num(x + 5) + " " + num(fy - 10) + " L" + num(x + 11) + " " + num(fy - 4) +
            " L" + num(x + 5) + " " + num(fy + 2) + " L" + num(x - 1) + " " + num(fy - 4) + " Z\"/>\n";
    text(x + 16, fy, "fixed policy, dashed down to the solver at its size");
    text(kLeft, fy + 24,
         "The staircase is what --memory-budget returns for each size: the plan with the least recomputation "
         "that fits. Every point is an exact plan (real schedule and arena). Hover for figures.",
         " class=\"note\"");
  }

  const Frontier& f_;
  svg::ByteTicks xticks_;
  double xmax_ = 1, ystep_ = 1, ymax_ = 1;
  std::string out_;
};

}  // namespace

std::string frontier_svg(const Frontier& f) { return FrontierSvg(f).render(); }

}  // namespace sublinear::planner
