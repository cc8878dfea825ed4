#include "planner/timeline_svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <vector>

#include "ir/format_util.h"
#include "planner/svg_util.h"

namespace sublinear::planner {

namespace {

using svg::byte_ticks;
using svg::ByteTicks;
using svg::nice_step;
using svg::num;
using svg::xml_escape;

// Page layout, in SVG user units (pixels).
constexpr double kWidth = 1200, kHeight = 720;
constexpr double kLeft = 92, kRight = 1170, kTop = 84, kBottom = 590;
constexpr double kBandTop = 57, kBandHeight = 20;
constexpr size_t kMaxTitleValues = 6;

const char* const kColour[] = {"#4e79a7", "#f28e2b", "#59a14f"};  // forward, recompute, backward
const char* const kClass[] = {"f", "r", "b"};

int64_t aligned(int64_t bytes, int64_t alignment) {
  const int64_t a = std::max<int64_t>(alignment, 1);
  const int64_t b = std::max<int64_t>(bytes, 1);
  return (b + a - 1) / a * a;
}

class Svg {
 public:
  Svg(const Plan& plan) : plan_(plan), n_(std::max<size_t>(plan.steps.size(), 1)) {
    int64_t top = std::max<int64_t>({plan.feature_map_peak_bytes, plan.live_peak_bytes, 1});
    for (const auto& st : plan.storages) top = std::max(top, st.offset + st.bytes);
    ticks_ = byte_ticks(static_cast<double>(top) * 1.04);
    ymax_ = std::ceil(static_cast<double>(top) * 1.04 / ticks_.step) * ticks_.step;
  }

  std::string render() {
    out_.reserve(4096 + std::min<size_t>(plan_.storages.size(), kTimelineMaxRects) * 200);
    header();
    axes();
    storages();
    live_line();
    peak();
    bands();
    legend();
    out_ += "</svg>\n";
    return std::move(out_);
  }

 private:
  double sx(double step) const { return kLeft + step * (kRight - kLeft) / static_cast<double>(n_); }
  double sy(double bytes) const { return kBottom - bytes * (kBottom - kTop) / ymax_; }

  void text(double x, double y, const std::string& s, std::string_view extra = {}) {
    svg::text(out_, x, y, s, extra);
  }

  void line(double x1, double y1, double x2, double y2, const char* cls) { svg::line(out_, x1, y1, x2, y2, cls); }

  void header() {
    svg::open_page(out_, kWidth, kHeight);
    out_ +=
        "<style>\n"
        "text{font-size:11px;fill:#222}\n"
        ".title{font-size:16px;font-weight:bold}\n"
        ".sub{font-size:12px;fill:#444}\n"
        ".note{font-size:10px;fill:#555}\n"
        ".pk{fill:#d62728}\n"
        ".halo{paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}\n"
        ".st{fill-opacity:0.85}\n";
    for (int k = 0; k < 3; ++k) {
      out_ += '.';
      out_ += kClass[k];
      out_ += "{fill:";
      out_ += kColour[k];
      out_ += "}\n";
    }
    out_ += plan_.storages.size() <= 3000 ? ".st{stroke:#fff;stroke-width:0.4}\n" : "";
    out_ +=
        ".axis{stroke:#333;stroke-width:1}\n"
        ".grid{stroke:#ddd;stroke-width:0.6}\n"
        ".live{fill:none;stroke:#111;stroke-width:1.3}\n"
        ".peak{stroke:#d62728;stroke-width:1.2;stroke-dasharray:6 4}\n"
        ".arena{stroke:#777;stroke-width:1;stroke-dasharray:2 3}\n"
        "</style>\n";
    svg::background(out_, kWidth, kHeight);
    std::string title = plan_.graph ? plan_.graph->model_name : std::string("plan");
    title += ", batch ";
    title += ir::with_commas(plan_.graph ? plan_.graph->batch : 0);
    title += ", policy ";
    title += plan_.policy;
    title += ": arena ";
    title += ir::human_bytes(plan_.feature_map_peak_bytes);
    text(kLeft, 24, title, " class=\"title\"");
    std::string sub = "live peak ";
    sub += ir::human_bytes(plan_.live_peak_bytes);
    sub += " at step ";
    sub += ir::with_commas(plan_.peak_step);
    sub += ", ";
    sub += ir::with_commas(static_cast<int64_t>(plan_.steps.size()));
    sub += " steps, ";
    sub += ir::with_commas(static_cast<int64_t>(plan_.storages.size()));
    sub += " buffers, in-place ";
    sub += plan_.options.inplace ? "on" : "off";
    sub += ", sharing ";
    sub += plan_.options.sharing ? "on" : "off";
    sub += ", recomputation ";
    sub += num(100.0 * plan_.extra_forward_ratio());
    sub += "% of one forward";
    text(kLeft, 43, sub, " class=\"sub\"");
  }

  void axes() {
    for (double b = 0; b <= ymax_ * (1 + 1e-9); b += ticks_.step) {
      const double y = sy(b);
      if (b > 0) line(kLeft, y, kRight, y, "grid");
      line(kLeft - 5, y, kLeft, y, "axis");
      std::string label = num(b / ticks_.unit);
      label += ' ';
      label += ticks_.unit_name;
      text(kLeft - 8, y + 4, label, " text-anchor=\"end\"");
    }
    const double xstep = std::max(1.0, nice_step(static_cast<double>(n_) / 10.0));
    for (double s = 0; s <= static_cast<double>(n_) * (1 + 1e-9); s += xstep) {
      const double x = sx(s);
      line(x, kBottom, x, kBottom + 5, "axis");
      text(x, kBottom + 18, ir::with_commas(static_cast<int64_t>(s)), " text-anchor=\"middle\"");
    }
    line(kLeft, kTop, kLeft, kBottom, "axis");
    line(kLeft, kBottom, kRight, kBottom, "axis");
    text((kLeft + kRight) / 2, kBottom + 36, "step (execution order)", " text-anchor=\"middle\"");
    text(22, (kTop + kBottom) / 2, "arena offset / live bytes",
         (" text-anchor=\"middle\" transform=\"rotate(-90 22 " + num((kTop + kBottom) / 2) + ")\"").c_str());
  }

  std::string hover(const Storage& st) const {
    std::string t = "buffer ";
    t += std::to_string(st.id);
    t += ": ";
    t += ir::human_bytes(st.bytes);
    t += " at offset ";
    t += ir::with_commas(st.offset);
    t += ", steps ";
    t += ir::with_commas(st.first_step);
    t += "-";
    t += ir::with_commas(st.last_step);
    size_t shown = 0;
    for (ValueId id : st.values) {
      if (id < 0 || static_cast<size_t>(id) >= plan_.values.size()) continue;
      if (shown++ == kMaxTitleValues) {
        t += "\n... and ";
        t += std::to_string(st.values.size() - kMaxTitleValues);
        t += " more in place";
        break;
      }
      const PlanValue& v = plan_.values[id];
      t += '\n';
      t += v.name;
      t += " (";
      t += value_kind_name(v.kind);
      t += ' ';
      t += v.type.str();
      t += ')';
      if (plan_.graph && v.source.node >= 0 && static_cast<size_t>(v.source.node) < plan_.graph->size()) {
        const ir::Node& n = plan_.graph->node(v.source.node);
        t += ' ';
        t += n.span.loc.str();
        if (!n.path.empty()) {
          t += ' ';
          t += n.path;
        }
      }
    }
    return t;
  }

  void storages() {
    std::vector<size_t> order(plan_.storages.size());
    std::iota(order.begin(), order.end(), size_t{0});
    if (order.size() > kTimelineMaxRects) {
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return plan_.storages[a].bytes > plan_.storages[b].bytes;
      });
      order.resize(kTimelineMaxRects);
      capped_threshold_ = plan_.storages[order.back()].bytes;
      std::sort(order.begin(), order.end());
    }
    for (size_t i : order) {
      const Storage& st = plan_.storages[i];
      if (st.offset < 0 || st.first_step < 0) continue;
      const size_t first = static_cast<size_t>(st.first_step);
      const int kind = first < plan_.steps.size() ? static_cast<int>(plan_.steps[first].kind) : 0;
      const double x = sx(st.first_step), w = sx(st.last_step + 1.0) - x;
      const double y = sy(static_cast<double>(st.offset + st.bytes));
      const double h = sy(static_cast<double>(st.offset)) - y;
      out_ += "<rect class=\"st ";
      out_ += kClass[kind];
      out_ += "\" x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(w) + "\" height=\"" + num(h) + "\"><title>";
      out_ += xml_escape(hover(st));
      out_ += "</title></rect>\n";
      ++drawn_;
    }
  }

  void live_line() {
    if (plan_.steps.empty()) return;
    std::vector<int64_t> live(plan_.steps.size() + 1, 0);
    for (const auto& st : plan_.storages) {
      if (st.first_step < 0 || static_cast<size_t>(st.last_step) >= plan_.steps.size()) continue;
      const int64_t b = aligned(st.bytes, plan_.options.alignment);
      live[st.first_step] += b;
      live[st.last_step + 1] -= b;
    }
    for (size_t i = 1; i < live.size(); ++i) live[i] += live[i - 1];
    // One point pair per step, or the maximum per pixel column when steps outnumber the pixels.
    const size_t cols = static_cast<size_t>(kRight - kLeft);
    const size_t n = plan_.steps.size();
    std::string pts;
    auto add = [&](double x, double y) {
      if (!pts.empty()) pts += ' ';
      pts += num(x);
      pts += ',';
      pts += num(y);
    };
    if (n <= 2 * cols) {
      for (size_t i = 0; i < n; ++i) {
        add(sx(static_cast<double>(i)), sy(static_cast<double>(live[i])));
        add(sx(static_cast<double>(i + 1)), sy(static_cast<double>(live[i])));
      }
    } else {
      for (size_t c = 0; c < cols; ++c) {
        const size_t a = c * n / cols, b = std::max(a + 1, (c + 1) * n / cols);
        const int64_t m = *std::max_element(live.begin() + static_cast<std::ptrdiff_t>(a),
                                            live.begin() + static_cast<std::ptrdiff_t>(b));
        add(kLeft + static_cast<double>(c), sy(static_cast<double>(m)));
        add(kLeft + static_cast<double>(c + 1), sy(static_cast<double>(m)));
      }
    }
    out_ += "<polyline class=\"live\" points=\"" + pts + "\"/>\n";
  }

  void peak() {
    const double ya = sy(static_cast<double>(plan_.feature_map_peak_bytes));
    line(kLeft, ya, kRight, ya, "arena");
    text(kLeft + 6, ya - 4, "arena " + ir::human_bytes(plan_.feature_map_peak_bytes), " class=\"note halo\"");
    const double yp = sy(static_cast<double>(plan_.live_peak_bytes));
    const double xp = sx(plan_.peak_step + 0.5);
    line(kLeft, yp, kRight, yp, "peak");
    line(xp, kTop, xp, kBottom, "peak");
    std::string label = "live peak ";
    label += ir::human_bytes(plan_.live_peak_bytes);
    label += " at step ";
    label += ir::with_commas(plan_.peak_step);
    const bool right_half = xp > (kLeft + kRight) / 2;
    text(right_half ? xp - 6 : xp + 6, yp + 14, label,
         right_half ? " class=\"halo pk\" text-anchor=\"end\"" : " class=\"halo pk\"");
  }

  void bands() {
    size_t fwd_end = 0;
    while (fwd_end < plan_.steps.size() && plan_.steps[fwd_end].kind == StepKind::Forward) ++fwd_end;
    auto band = [&](double a, double b, const char* fill, const std::string& label) {
      if (b <= a) return;
      out_ += "<rect x=\"" + num(sx(a)) + "\" y=\"" + num(kBandTop) + "\" width=\"" + num(sx(b) - sx(a)) +
              "\" height=\"" + num(kBandHeight) + "\" fill=\"" + fill + "\" fill-opacity=\"0.25\"/>\n";
      if (sx(b) - sx(a) > 7.0 * static_cast<double>(label.size()))
        text((sx(a) + sx(b)) / 2, kBandTop + 12, label, " text-anchor=\"middle\"");
    };
    band(0, static_cast<double>(fwd_end), kColour[0], "forward");
    band(static_cast<double>(fwd_end), static_cast<double>(plan_.steps.size()), kColour[2],
         plan_.recompute_flops > 0 || plan_.recomputed_nodes > 0 ? "backward (orange ticks: recomputation)"
                                                                 : "backward");
    // Recomputation runs inside the backward band, merged when closer than a pixel.
    double run_a = -1, run_b = -1;
    auto flush = [&] {
      if (run_a < 0) return;
      out_ += "<rect x=\"" + num(sx(run_a)) + "\" y=\"" + num(kBandTop + kBandHeight - 4) + "\" width=\"" +
              num(std::max(0.8, sx(run_b) - sx(run_a))) + "\" height=\"4\" fill=\"" + kColour[1] + "\"/>\n";
    };
    for (size_t i = fwd_end; i < plan_.steps.size(); ++i) {
      if (plan_.steps[i].kind != StepKind::Recompute) continue;
      const double a = static_cast<double>(i);
      if (run_a >= 0 && sx(a) - sx(run_b) < 1.0) {
        run_b = a + 1;
        continue;
      }
      flush();
      run_a = a, run_b = a + 1;
    }
    flush();
  }

  void legend() {
    double x = kLeft;
    const double y = kBottom + 58;
    const char* const labels[] = {"forward activation", "recomputed copy", "gradient (backward)"};
    for (int k = 0; k < 3; ++k) {
      out_ += "<rect x=\"" + num(x) + "\" y=\"" + num(y - 10) + "\" width=\"14\" height=\"12\" fill=\"" +
              kColour[k] + "\" fill-opacity=\"0.85\"/>\n";
      text(x + 19, y, labels[k]);
      x += 150;
    }
    auto key = [&](const char* cls, const char* label) {
      line(x, y - 4, x + 24, y - 4, cls);
      text(x + 30, y, label);
      x += 150;
    };
    key("live", "live bytes (aligned)");
    key("peak", "live peak");
    key("arena", "arena size");

    std::string note =
        "Each rectangle is one arena buffer at its real offset, from the step that writes it to its last "
        "reader; colour: the phase of that step. Hover for its values and DSL locations.";
    text(kLeft, kBottom + 86, note, " class=\"note\"");
    if (capped_threshold_ >= 0) {
      std::string cap = "Only the ";
      cap += ir::with_commas(static_cast<int64_t>(drawn_));
      cap += " largest of ";
      cap += ir::with_commas(static_cast<int64_t>(plan_.storages.size()));
      cap += " buffers are drawn (each at least ";
      cap += ir::human_bytes(capped_threshold_);
      cap += "); the live-bytes line counts all of them.";
      text(kLeft, kBottom + 102, cap, " class=\"note\"");
    }
  }

  const Plan& plan_;
  size_t n_;
  ByteTicks ticks_;
  double ymax_ = 1;
  std::string out_;
  size_t drawn_ = 0;
  int64_t capped_threshold_ = -1;
};

}  // namespace

std::string timeline_svg(const Plan& plan) { return Svg(plan).render(); }

}  // namespace sublinear::planner
