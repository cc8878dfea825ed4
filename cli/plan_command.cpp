#include "cli/plan_command.h"

#include <iostream>
#include <ostream>
#include <string>
#include <memory>
#include <utility>
#include <vector>

#include "planner/cost_profile.h"
#include "planner/frontier_report.h"
#include "planner/frontier_svg.h"
#include "planner/plan_validator.h"
#include "planner/policies.h"
#include "planner/report.h"
#include "planner/timeline_svg.h"

namespace sublinear::cli {

namespace {

SourceSpan command_line() { return SourceSpan{SourceLoc{"<command line>", 0, 0, 1}, nullptr}; }

planner::PlanRequest make_request(const PlanArgs& a) {
  planner::PlanRequest req;
  if (!planner::parse_policy(a.policy, &req.policy))
    throw UserError(command_line(), "--policy " + a.policy + ": expected none, drop-cheap, sqrt or log");
  if (!a.memory_budget.empty()) req.memory_budget = planner::parse_size(a.memory_budget, "--memory-budget");
  req.options.inplace = !a.no_inplace;
  req.options.sharing = !a.no_sharing;
  if (a.optimizer == "sgd") {
    req.options.optimizer = planner::Optimizer::Sgd;
  } else if (a.optimizer == "momentum") {
    req.options.optimizer = planner::Optimizer::Momentum;
  } else if (a.optimizer == "adam") {
    req.options.optimizer = planner::Optimizer::Adam;
  } else {
    throw UserError(command_line(), "--optimizer " + a.optimizer + ": expected sgd, momentum or adam");
  }
  return req;
}

// --validate: the faults on stderr (false when any), else one line on `out`.
bool validate(const planner::Plan& plan, std::ostream& out, const std::string& label) {
  auto faults = planner::validate_plan(plan);
  if (!faults.empty()) {
    if (!label.empty()) std::cerr << label << ":\n";
    std::cerr << planner::format_faults(faults, plan);
    return false;
  }
  out << "plan validated: " << plan.steps.size() << " steps, no faults";
  if (!label.empty()) out << " (" << label << ")";
  out << "\n";
  return true;
}

int run(const PlanArgs& a, SourceManager& sources) {
  planner::PlanRequest req = make_request(a);  // flag mistakes before the (slower) model load
  ModelArgs m = a.model;
  // --compare and --frontier plan every strategy on one graph: the fusions that suit them all.
  const bool many = a.compare || a.frontier || !a.frontier_svg.empty();
  if (!a.no_fusion) m.fusion = ir::FusionOptions::for_policy(many || !a.memory_budget.empty() ? "budget" : a.policy);
  auto graph = std::make_shared<const ir::Graph>(load(m, sources));
  planner::apply_costs(req.options, a.costs, *graph);
  std::ostream& note = a.json ? std::cerr : std::cout;  // keep stdout pure JSON

  if (a.frontier || !a.frontier_svg.empty()) {
    planner::Frontier f = planner::plan_frontier(graph, req.options);
    if (a.json)
      std::cout << planner::frontier_to_json(f).dump(2) << "\n";
    else
      std::cout << planner::format_frontier(f);
    if (!a.frontier_svg.empty()) {
      if (!write_output(a.frontier_svg, planner::frontier_svg(f))) return 1;
      note << "frontier written to " << a.frontier_svg << "\n";
    }
    return 0;
  }

  if (a.compare) {
    std::vector<planner::Plan> plans;
    for (const auto& r : planner::compare_requests(req)) plans.push_back(planner::plan_model(graph, r));
    // The budget solver at drop-cheap's and sqrt's sizes and between them: what the heuristics leave.
    for (auto& p : planner::plans_at_fixed_totals(planner::plan_frontier(graph, req.options)))
      plans.push_back(std::move(p));
    if (a.json) {
      nlohmann::json list = nlohmann::json::array();
      for (const auto& p : plans) list.push_back(planner::plan_to_json(p));
      std::cout << list.dump(2) << "\n";
    } else {
      std::cout << planner::format_compare(plans);
    }
    bool ok = true;
    if (a.validate)
      for (const auto& p : plans) ok = validate(p, note, planner::strategy_label(p)) && ok;
    // The figure of a compare run is the plan the flags themselves ask for.
    if (!a.timeline.empty()) {
      if (!write_output(a.timeline, planner::timeline_svg(planner::plan_model(graph, req)))) return 1;
      note << "timeline written to " << a.timeline << "\n";
    }
    return ok ? 0 : 1;
  }

  planner::Plan plan = planner::plan_model(graph, req);
  if (a.json)
    std::cout << planner::plan_to_json(plan).dump(2) << "\n";
  else
    std::cout << planner::format_plan(plan);
  const bool ok = !a.validate || validate(plan, note, "");
  if (!a.timeline.empty()) {
    if (!write_output(a.timeline, planner::timeline_svg(plan))) return 1;
    note << "timeline written to " << a.timeline << "\n";
  }
  return ok ? 0 : 1;
}

}  // namespace

CLI::App* add_plan_command(CLI::App& app, PlanArgs& a) {
  auto* cmd = app.add_subcommand("plan", "plan the memory of one training step (in-place, sharing, recomputation)");
  add_model_args(cmd, a.model);
  cmd->add_option("--policy", a.policy, "recomputation policy: none, drop-cheap, sqrt or log")
      ->capture_default_str();
  cmd->add_option("--memory-budget", a.memory_budget,
                  "total bytes allowed (6GiB, 512MiB, 1.5GB): picks the least recomputation that fits");
  cmd->add_option("--costs", a.costs,
                  "how recomputation is costed: traffic (default: FLOPs plus 10 per byte moved), flops, or the measured "
                  "times of a profile.json (train --profile)");
  cmd->add_flag("--no-inplace", a.no_inplace, "do not write outputs over dead inputs");
  cmd->add_flag("--no-sharing", a.no_sharing, "give every buffer bytes of its own");
  cmd->add_flag("--no-fusion", a.no_fusion, "plan the ops as written (no batch_norm + relu fusion)");
  cmd->add_option("--optimizer", a.optimizer, "sgd, momentum or adam (sets the optimizer state)")
      ->capture_default_str();
  cmd->add_flag("--json", a.json, "print the plan as JSON");
  cmd->add_flag("--compare", a.compare, "compare no optimisation, inplace, sharing, drop-cheap, sqrt, log and the budget solver at three sizes");
  cmd->add_flag("--frontier", a.frontier,
                "print the Pareto frontier of total memory against extra forward work, with the fixed policies")
      ->excludes("--compare");
  cmd->add_option("--frontier-svg", a.frontier_svg, "draw the frontier (as --frontier prints it) as SVG to this file")
      ->excludes("--compare");
  cmd->add_option("--timeline", a.timeline, "write the memory timeline as SVG to this file");
  cmd->add_flag("--validate", a.validate, "check the plan's schedule and memory placement; exit 1 on faults");
  // The frontier is every plan at once: a policy, a budget, a timeline or a validation of one plan does
  // not apply to it.
  for (const char* frontier_flag : {"--frontier", "--frontier-svg"})
    for (const char* one_plan : {"--policy", "--memory-budget", "--timeline", "--validate"})
      cmd->get_option(frontier_flag)->excludes(cmd->get_option(one_plan));
  return cmd;
}

int run_plan_command(const PlanArgs& args, SourceManager& sources) {
  try {
    return run(args, sources);
  } catch (const UserErrors& e) {
    return print_errors(e.diagnostics(), sources);
  } catch (const UserError& e) {
    return print_errors({e.diagnostic()}, sources);
  }
}

}  // namespace sublinear::cli
