// Plan reports on hand-built plans: the JSON keys and numbers, the human report's peak tensors with
// their DSL locations, the comparison table's order and ratios, and the timeline SVG (well-formed,
// one rectangle per buffer, escaped names, capped on huge plans).
#include "planner/report.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "planner/scheduler.h"
#include "planner/timeline_svg.h"
#include "planner_test_util.h"

namespace sublinear::planner {
namespace {

ir::Node make_node(const std::string& op, const std::string& name, std::vector<ir::ValueRef> inputs,
                   ir::Shape shape, int line, int col, const std::string& path) {
  ir::Node n;
  n.op = op;
  n.name = name;
  n.inputs = std::move(inputs);
  n.outputs = {ir::TensorType{ir::DType::F32, std::move(shape)}};
  n.span.loc = SourceLoc{"models/tiny.snet", line, col, 1};
  n.path = path;
  return n;
}

std::shared_ptr<const ir::Graph> tiny_graph() {
  auto g = std::make_shared<ir::Graph>();
  g->model_name = "tiny";
  g->batch = 4;
  g->source_file = "models/tiny.snet";
  g->add_node(make_node("input", "x", {}, {4, 8}, 3, 7, "x"));                          // 0
  g->add_node(make_node("param", "w", {}, {8, 8}, 4, 5, "w"));                          // 1
  g->add_node(make_node("relu", "relu", {{0, 0}}, {4, 8}, 5, 9, "block/relu"));         // 2
  g->add_node(make_node("relu", "big<&>", {{2, 0}}, {4, 1024}, 6, 3, "block/big"));     // 3
  g->add_node(make_node("relu", "loss", {{3, 0}}, {}, 7, 1, "loss"));                   // 4
  g->add_output({4, 0}, "loss");
  return g;
}

ValueId add_value(Plan& p, ValueKind kind, ir::NodeId node, int32_t version, const std::string& name) {
  PlanValue v;
  v.id = static_cast<ValueId>(p.values.size());
  v.kind = kind;
  v.source = {node, 0};
  v.version = version;
  v.type = p.graph->node(node).outputs[0];
  v.bytes = v.type.bytes();
  v.name = name;
  p.values.push_back(v);
  return v.id;
}

void add_step(Plan& p, StepKind kind, ir::NodeId node, std::vector<ValueId> reads, std::vector<ValueId> writes) {
  PlanStep s;
  s.id = static_cast<StepId>(p.steps.size());
  s.kind = kind;
  s.node = node;
  s.reads = std::move(reads);
  s.writes = std::move(writes);
  p.steps.push_back(s);
}

void add_storage(Plan& p, std::vector<ValueId> values, StepId first, StepId last, int64_t offset) {
  Storage st;
  st.id = static_cast<int32_t>(p.storages.size());
  for (ValueId v : values) {
    st.bytes = std::max(st.bytes, p.values[v].bytes);
    p.values[v].storage = st.id;
  }
  st.first_step = first;
  st.last_step = last;
  st.offset = offset;
  st.values = std::move(values);
  p.storages.push_back(st);
}

// Forward relu, big, loss; backward of loss, relu recomputed, backward of big. Sizes in bytes:
// relu 128, big 16384, loss 4. The peak is step 3, where big, loss and grad(big) are live.
Plan tiny_plan() {
  Plan p;
  p.policy = "drop-cheap";
  p.graph = tiny_graph();
  p.mirror = {0, 0, 1, 0, 0};
  const ValueId x = add_value(p, ValueKind::Input, 0, 0, "x");
  add_value(p, ValueKind::Param, 1, 0, "w");
  const ValueId relu = add_value(p, ValueKind::Activation, 2, 0, "relu");
  const ValueId big = add_value(p, ValueKind::Activation, 3, 0, "big<&>");
  const ValueId loss = add_value(p, ValueKind::Activation, 4, 0, "loss");
  const ValueId gbig = add_value(p, ValueKind::Gradient, 3, 0, "grad(big<&>)");
  const ValueId relu_r = add_value(p, ValueKind::Activation, 2, 1, "relu@r1");
  const ValueId grelu = add_value(p, ValueKind::Gradient, 2, 0, "grad(relu)");
  add_step(p, StepKind::Forward, 2, {x}, {relu});                 // 0
  add_step(p, StepKind::Forward, 3, {relu}, {big});               // 1
  add_step(p, StepKind::Forward, 4, {big}, {loss});               // 2
  add_step(p, StepKind::Backward, 4, {big}, {gbig});              // 3
  add_step(p, StepKind::Recompute, 2, {x}, {relu_r});             // 4
  add_step(p, StepKind::Backward, 3, {relu_r, gbig}, {grelu});    // 5
  add_storage(p, {relu}, 0, 1, 0);
  add_storage(p, {big}, 1, 3, 256);
  add_storage(p, {loss}, 2, 5, 0);
  add_storage(p, {gbig}, 3, 5, 16640);
  add_storage(p, {relu_r}, 4, 5, 256);
  add_storage(p, {grelu}, 5, 5, 512);
  p.input_bytes = 128;
  p.parameter_bytes = 256;
  p.gradient_bytes = 256;
  p.optimizer_state_bytes = 256;
  p.feature_map_peak_bytes = 16640 + 16384;
  p.live_peak_bytes = 16384 + 256 + 16384;
  p.peak_step = 3;
  p.workspace_bytes = 512;
  p.forward_flops = p.forward_cost = 1000;  // without a cost profile the cost is the FLOPs
  p.recompute_flops = p.recompute_cost = 100;
  p.backward_flops = 2000;
  p.recomputed_nodes = 1;
  p.plan_seconds = 0.0125;
  return p;
}

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = hay.find(needle); pos != std::string::npos; pos = hay.find(needle, pos + needle.size())) ++n;
  return n;
}

// Tags balance, attributes are quoted, and '&' only starts the five XML entities.
::testing::AssertionResult well_formed(const std::string& xml) {
  std::vector<std::string> open;
  auto entity_ok = [&](size_t i) {
    for (const char* e : {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"})
      if (xml.compare(i, std::string(e).size(), e) == 0) return true;
    return false;
  };
  for (size_t i = 0; i < xml.size(); ++i) {
    if (xml[i] == '&' && !entity_ok(i)) return ::testing::AssertionFailure() << "raw & at " << i;
    if (xml[i] == '>') return ::testing::AssertionFailure() << "raw > at " << i;
    if (xml[i] != '<') continue;
    size_t j = i + 1;
    bool quoted = false;
    for (; j < xml.size() && (quoted || xml[j] != '>'); ++j) {
      if (xml[j] == '"') quoted = !quoted;
      if (xml[j] == '<') return ::testing::AssertionFailure() << "'<' inside a tag at " << j;
      if (xml[j] == '&' && !entity_ok(j)) return ::testing::AssertionFailure() << "raw & in a tag at " << j;
    }
    if (j >= xml.size()) return ::testing::AssertionFailure() << "unterminated tag at " << i;
    std::string tag = xml.substr(i + 1, j - i - 1);
    i = j;
    if (tag[0] == '?' || tag[0] == '!') continue;
    if (tag[0] == '/') {
      std::string name = tag.substr(1);
      if (open.empty() || open.back() != name)
        return ::testing::AssertionFailure() << "</" << name << "> closes " << (open.empty() ? "nothing" : open.back());
      open.pop_back();
      continue;
    }
    if (tag.back() == '/') continue;
    open.push_back(tag.substr(0, tag.find_first_of(" \n\t")));
  }
  if (!open.empty()) return ::testing::AssertionFailure() << "<" << open.back() << "> never closed";
  return ::testing::AssertionSuccess();
}

TEST(PlanReport, JsonHasEveryKeyAndTheNumbers) {
  const Plan p = tiny_plan();
  const auto j = plan_to_json(p);
  for (const char* k : {"policy", "batch", "parameter_bytes", "gradient_bytes", "optimizer_state_bytes",
                        "feature_map_peak_bytes", "live_peak_bytes", "workspace_bytes", "total_peak_bytes",
                        "recomputed_nodes", "extra_forward_ratio", "plan_seconds", "input_bytes",
                        "fragmentation_bytes", "inplace", "sharing", "optimizer", "steps", "forward_flops",
                        "recompute_flops", "backward_flops", "forward_cost", "recompute_cost", "cost_unit",
                        "largest_at_peak"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j["policy"], "drop-cheap");
  EXPECT_EQ(j["batch"], 4);
  EXPECT_TRUE(j["feature_map_peak_bytes"].is_number_integer());
  EXPECT_EQ(j["feature_map_peak_bytes"], 33024);
  EXPECT_EQ(j["live_peak_bytes"], 33024);
  EXPECT_EQ(j["fragmentation_bytes"], 0);
  EXPECT_EQ(j["total_peak_bytes"], 128 + 256 + 256 + 256 + 33024 + 512);
  EXPECT_EQ(j["total_peak_bytes"], p.total_peak_bytes());
  EXPECT_EQ(j["workspace_bytes"], 512);
  EXPECT_EQ(j["recomputed_nodes"], 1);
  EXPECT_DOUBLE_EQ(j["extra_forward_ratio"].get<double>(), 0.1);
  EXPECT_DOUBLE_EQ(j["plan_seconds"].get<double>(), 0.0125);
  EXPECT_EQ(j["optimizer"], "momentum");
  EXPECT_EQ(j["inplace"], true);
  EXPECT_EQ(j["steps"], 6);
  EXPECT_EQ(j["backward_flops"], 2000);

  // Live at step 3: big (16384), grad(big) (16384, later storage), loss (4).
  const auto& top = j["largest_at_peak"];
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0]["name"], "big<&>");
  EXPECT_EQ(top[0]["kind"], "activation");
  EXPECT_EQ(top[0]["bytes"], 16384);
  EXPECT_EQ(top[0]["type"], "f32[4, 1024]");
  EXPECT_EQ(top[0]["loc"], "models/tiny.snet:6:3");
  EXPECT_EQ(top[0]["path"], "block/big");
  EXPECT_EQ(top[1]["name"], "grad(big<&>)");
  EXPECT_EQ(top[1]["kind"], "gradient");
  EXPECT_EQ(top[2]["name"], "loss");
}

TEST(PlanReport, LiveAtStepNamesTheValueOccupyingAnInPlaceBuffer) {
  Plan p = tiny_plan();
  // big's buffer takes an in-place output at step 3.
  const ValueId folded = add_value(p, ValueKind::Activation, 3, 0, "big_inplace");
  p.steps[3].writes.push_back(folded);
  p.storages[1].values.push_back(folded);
  p.values[folded].storage = 1;
  EXPECT_EQ(live_at_step(p, 2, 8).front().value, 3);
  EXPECT_EQ(live_at_step(p, 3, 8).front().value, folded);
  EXPECT_EQ(live_at_step(p, 3, 1).size(), 1u);
  EXPECT_TRUE(live_at_step(p, 99, 8).empty());
}

TEST(PlanReport, SaysHowManyNodesAreRecomputedAtChosenSteps) {
  const ptest::Residual r = ptest::residual_chain(4);
  std::vector<int32_t> m(r.graph->size(), 0);
  m[r.h0] = m[r.internal[0]] = m[r.unit_outputs[0]] = 1;
  std::vector<ir::NodeId> early(r.graph->size(), -1);
  early[r.unit_outputs[0]] = r.unit_outputs[2];
  EXPECT_NE(format_plan(build_plan(r.graph, m, {}, "budget", early)).find("3 of 14 computing nodes (1 at chosen steps)"),
            std::string::npos);
  EXPECT_EQ(format_plan(build_plan(r.graph, m, {}, "budget")).find("at chosen steps"), std::string::npos);
}

TEST(PlanReport, HumanReportNamesThePeakTensorsWithTheirSpans) {
  const std::string text = format_plan(tiny_plan());
  EXPECT_NE(text.find("plan for tiny (batch 4): policy drop-cheap"), std::string::npos) << text;
  EXPECT_NE(text.find("32.25 KiB"), std::string::npos) << text;  // the arena, in human units
  EXPECT_NE(text.find("33,024 bytes"), std::string::npos) << text;
  EXPECT_NE(text.find("optimizer state (momentum)"), std::string::npos) << text;
  EXPECT_NE(text.find("recomputed nodes 1 of 3"), std::string::npos) << text;
  EXPECT_NE(text.find("10.0% of one forward pass"), std::string::npos) << text;
  EXPECT_NE(text.find("12.5 ms"), std::string::npos) << text;
  EXPECT_NE(text.find("step 3 (backward of loss)"), std::string::npos) << text;
  const size_t table = text.find("largest live tensors at the peak");
  ASSERT_NE(table, std::string::npos) << text;
  const size_t big = text.find("big<&>", table);
  ASSERT_NE(big, std::string::npos) << text;
  const size_t line_end = text.find('\n', big);
  const std::string row = text.substr(big, line_end - big);
  EXPECT_NE(row.find("models/tiny.snet:6:3 block/big"), std::string::npos) << row;
  EXPECT_NE(row.find("16.00 KiB"), std::string::npos) << row;
  EXPECT_LT(big, text.find("grad(big<&>)", table));
  EXPECT_LT(text.find("grad(big<&>)", table), text.find("loss", text.find("grad(big<&>)", table)));
}

TEST(PlanReport, CompareTableKeepsOrderAndRatios) {
  std::vector<Plan> plans(3, tiny_plan());
  plans[0].policy = "none";
  plans[0].options.inplace = false;
  plans[0].options.sharing = false;
  plans[0].feature_map_peak_bytes = 4 << 20;
  plans[1].policy = "none";
  plans[1].feature_map_peak_bytes = 2 << 20;
  plans[2].policy = "sqrt";
  plans[2].feature_map_peak_bytes = 1 << 20;
  plans[2].recompute_flops = plans[2].recompute_cost = 500;
  const std::string t = format_compare(plans);
  const size_t a = t.find("no optimisation"), b = t.find("inplace+sharing"), c = t.find("sqrt");
  ASSERT_NE(a, std::string::npos) << t;
  ASSERT_NE(b, std::string::npos) << t;
  ASSERT_NE(c, std::string::npos) << t;
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  auto row = [&](size_t at) { return t.substr(at, t.find('\n', at) - at); };
  EXPECT_NE(row(a).find("4.00 MiB"), std::string::npos) << row(a);
  EXPECT_NE(row(a).find("1.00x"), std::string::npos) << row(a);
  EXPECT_NE(row(b).find("0.50x"), std::string::npos) << row(b);
  EXPECT_NE(row(c).find("0.25x"), std::string::npos) << row(c);
  EXPECT_NE(row(c).find("50.0%"), std::string::npos) << row(c);
  EXPECT_EQ(strategy_label(plans[0]), "no optimisation");
  plans[1].options.sharing = false;
  EXPECT_EQ(strategy_label(plans[1]), "inplace");
}

TEST(PlanReport, CompareRequestsAreTheSixStrategies) {
  PlanRequest base;
  base.policy = Policy::Sqrt;
  base.memory_budget = int64_t{1} << 30;
  base.options.optimizer = Optimizer::Adam;
  base.options.alignment = 512;
  base.options.inplace = false;
  const auto reqs = compare_requests(base);
  ASSERT_EQ(reqs.size(), 6u);
  const Policy policies[] = {Policy::None, Policy::None, Policy::None, Policy::DropCheap, Policy::Sqrt, Policy::Log};
  const bool inplace[] = {false, true, true, true, true, true};
  const bool sharing[] = {false, false, true, true, true, true};
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(reqs[i].policy, policies[i]) << i;
    EXPECT_EQ(reqs[i].options.inplace, inplace[i]) << i;
    EXPECT_EQ(reqs[i].options.sharing, sharing[i]) << i;
    EXPECT_EQ(reqs[i].options.optimizer, Optimizer::Adam) << i;
    EXPECT_EQ(reqs[i].options.alignment, 512) << i;
    EXPECT_FALSE(reqs[i].memory_budget) << i;
  }
}

TEST(PlanTimeline, SmallPlanHasOneRectanglePerBufferAndEscapesNames) {
  const std::string svg = timeline_svg(tiny_plan());
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  std::string tail = svg;
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == ' ')) tail.pop_back();
  EXPECT_TRUE(tail.size() >= 6 && tail.compare(tail.size() - 6, 6, "</svg>") == 0);
  EXPECT_TRUE(well_formed(svg));
  EXPECT_EQ(count(svg, "<rect class=\"st "), 6u);
  EXPECT_EQ(count(svg, "<rect class=\"st f\""), 3u);
  EXPECT_EQ(count(svg, "<rect class=\"st r\""), 1u);
  EXPECT_EQ(count(svg, "<rect class=\"st b\""), 2u);
  EXPECT_EQ(svg.find("big<&>"), std::string::npos);
  EXPECT_NE(svg.find("big&lt;&amp;&gt; (activation f32[4, 1024]) models/tiny.snet:6:3 block/big"), std::string::npos);
  EXPECT_NE(svg.find("tiny, batch 4, policy drop-cheap: arena 32.25 KiB"), std::string::npos);
  EXPECT_NE(svg.find("<polyline class=\"live\""), std::string::npos);
  EXPECT_NE(svg.find("KiB</text>"), std::string::npos);  // byte ticks in human units
  EXPECT_EQ(svg.find("Only the"), std::string::npos);
}

TEST(PlanTimeline, HugePlansAreCappedWithAFootnote) {
  Plan p;
  p.policy = "none";
  p.graph = tiny_graph();
  const size_t n = 30000;
  for (size_t i = 0; i < n; ++i) {
    std::string name = "v";
    name += std::to_string(i);
    const ValueId v = add_value(p, ValueKind::Activation, 2, 0, name);
    p.values[v].bytes = static_cast<int64_t>(i + 1) * 256;
    add_step(p, StepKind::Forward, 2, {}, {v});
    add_storage(p, {v}, static_cast<StepId>(i), static_cast<StepId>(i), 0);
  }
  p.feature_map_peak_bytes = p.live_peak_bytes = static_cast<int64_t>(n) * 256;
  p.peak_step = static_cast<StepId>(n - 1);
  const std::string svg = timeline_svg(p);
  EXPECT_EQ(count(svg, "<rect class=\"st "), kTimelineMaxRects);
  EXPECT_NE(svg.find("Only the 20,000 largest of 30,000 buffers"), std::string::npos);
  // The smallest drawn is v10000 (10001 * 256 bytes); v9999 is not drawn.
  EXPECT_NE(svg.find("v10000 ("), std::string::npos);
  EXPECT_EQ(svg.find("v9999 ("), std::string::npos);
  EXPECT_TRUE(well_formed(svg));
}

TEST(PlanTimeline, EmptyPlanIsStillAFigure) {
  Plan p;
  p.policy = "none";
  const std::string svg = timeline_svg(p);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_TRUE(well_formed(svg));
  EXPECT_EQ(count(svg, "<rect class=\"st "), 0u);
}

}  // namespace
}  // namespace sublinear::planner
