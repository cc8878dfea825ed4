#include "cli/compile_command.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>

#include "cli/model_args.h"
#include "codegen/build_trainer.h"
#include "codegen/cpp_text.h"
#include "codegen/emit_cpp.h"
#include "codegen/plan_digest.h"
#include "frontend/frontend.h"
#include "ir/format_util.h"
#include "planner/cost_profile.h"
#include "planner/policies.h"
#include "train/config_error.h"
#include "train/experiment_config.h"

namespace sublinear::cli {

namespace {

namespace fs = std::filesystem;
using codegen::cat;

// A mistake in the command line itself (not in a file it names).
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

bool is_experiment(const std::string& path) {
  const std::string ext = fs::path(path).extension().string();
  return ext == ".yaml" || ext == ".yml";
}

planner::PlanRequest snet_request(const CompileArgs& a) {
  planner::PlanRequest req;
  const std::string policy = a.policy.empty() ? "none" : a.policy;
  if (!planner::parse_policy(policy, &req.policy))
    throw UsageError(cat("--policy ", policy, ": expected none, drop-cheap, sqrt or log"));
  if (!a.memory_budget.empty()) req.memory_budget = planner::parse_size(a.memory_budget, "--memory-budget");
  req.options.inplace = !a.no_inplace;
  req.options.sharing = !a.no_sharing;
  const std::string opt = a.optimizer.empty() ? "momentum" : a.optimizer;
  if (opt == "sgd") {
    req.options.optimizer = planner::Optimizer::Sgd;
  } else if (opt == "momentum") {
    req.options.optimizer = planner::Optimizer::Momentum;
  } else if (opt == "adam") {
    req.options.optimizer = planner::Optimizer::Adam;
  } else {
    throw UsageError(cat("--optimizer ", opt, ": expected sgd, momentum or adam"));
  }
  return req;
}

// The plan flags belong to the experiment when one is given: refuse them rather than ignore them.
void refuse_plan_flags(const CompileArgs& a) {
  auto refuse = [](bool given, const std::string& flag, const std::string& key) {
    if (given)
      throw UsageError(cat(flag, ": the experiment sets this; override it with --set ", key, "=..."));
  };
  refuse(a.batch > 0, "--batch", "batch");
  refuse(!a.model.empty(), "--model", "model.name");
  refuse(!a.policy.empty(), "--policy", "memory.policy");
  refuse(!a.memory_budget.empty(), "--memory-budget", "memory.budget");
  refuse(a.no_inplace, "--no-inplace", "memory.inplace");
  refuse(a.no_sharing, "--no-sharing", "memory.sharing");
  refuse(a.no_fusion, "--no-fusion", "memory.fusion");
  refuse(!a.optimizer.empty(), "--optimizer", "optimizer.kind");
}

struct Compiled {
  std::shared_ptr<const planner::Plan> plan;
  codegen::Backend backend = codegen::Backend::Cpu;
  std::string from;  // the command, for the source's header comment
};

Compiled plan_experiment(const CompileArgs& a, SourceManager& sources) {
  refuse_plan_flags(a);
  const runtime::train::ExperimentConfig cfg = runtime::train::load_experiment(a.input, a.sets);
  frontend::LoadOptions lo;
  if (cfg.batch % a.workers != 0)
    throw runtime::ConfigError(cfg.loc("batch"), cat("batch ", std::to_string(cfg.batch), " is the global batch and must ",
                                                     "split evenly over --workers ", std::to_string(a.workers)));
  lo.batch = cfg.batch / a.workers;  // a worker's share: what each process of `mpirun -np K` plans
  lo.sets = cfg.model.params;
  for (const auto& [name, value] : cfg.model.params) {
    const runtime::ConfigLoc at = cfg.loc("model.params." + name);
    lo.set_locs.push_back(SourceLoc{at.file, at.line, at.column, std::max<int>(1, static_cast<int>(value.size()))});
  }
  lo.model = cfg.model.name;
  lo.fusion = cfg.memory.fusion ? ir::FusionOptions::for_policy(cfg.memory.policy)  // ir/fusion.h
                                : ir::FusionOptions::none();
  auto graph = std::make_shared<const ir::Graph>(frontend::load_model(cfg.model.file, lo, sources));
  Compiled c;
  if (a.backend.empty()) {
    c.backend = cfg.device.kind == runtime::train::DeviceKind::Cuda ? codegen::Backend::Cuda : codegen::Backend::Cpu;
  } else {
    c.backend = a.backend == "cuda" ? codegen::Backend::Cuda : codegen::Backend::Cpu;
  }
  planner::PlanRequest preq = cfg.plan_request();
  planner::apply_costs(preq.options, cfg.memory.costs, *graph);
  c.plan = std::make_shared<const planner::Plan>(planner::plan_model(graph, preq));
  c.from = cat("sublinear compile ", a.input);
  for (const auto& s : a.sets) c.from += cat(" --set ", s);
  if (a.workers > 1) c.from += cat(" --workers ", std::to_string(a.workers));
  return c;
}

Compiled plan_snet(const CompileArgs& a, SourceManager& sources) {
  if (a.batch <= 0) throw UsageError("--batch N is required when compiling a .snet model");
  if (a.workers > 1) throw UsageError("--workers applies to an experiment; with a .snet model, --batch is a worker's batch");
  const planner::PlanRequest req = snet_request(a);  // flag mistakes before the (slower) model load
  ModelArgs m;
  m.file = a.input;
  m.sets = a.sets;
  m.batch = a.batch;
  m.model = a.model;
  const std::string policy = !a.memory_budget.empty() ? "budget" : a.policy.empty() ? "none" : a.policy;
  if (!a.no_fusion) m.fusion = ir::FusionOptions::for_policy(policy);
  auto graph = std::make_shared<const ir::Graph>(load(m, sources));
  Compiled c;
  c.backend = a.backend == "cuda" ? codegen::Backend::Cuda : codegen::Backend::Cpu;
  c.plan = std::make_shared<const planner::Plan>(planner::plan_model(graph, req));
  c.from = cat("sublinear compile ", a.input, " --batch ", std::to_string(a.batch));
  for (const auto& s : a.sets) c.from += cat(" --set ", s);
  if (!a.model.empty()) c.from += cat(" --model ", a.model);
  if (!a.policy.empty()) c.from += cat(" --policy ", a.policy);
  if (!a.memory_budget.empty()) c.from += cat(" --memory-budget ", a.memory_budget);
  if (a.no_inplace) c.from += " --no-inplace";
  if (a.no_sharing) c.from += " --no-sharing";
  if (a.no_fusion) c.from += " --no-fusion";
  if (!a.optimizer.empty()) c.from += cat(" --optimizer ", a.optimizer);
  return c;
}

int run(const CompileArgs& a, SourceManager& sources) {
  if (!a.backend.empty() && a.backend != "cpu" && a.backend != "cuda")
    throw UsageError(cat("--backend ", a.backend, ": expected cpu or cuda"));
  const Compiled c = is_experiment(a.input) ? plan_experiment(a, sources) : plan_snet(a, sources);
  if (!a.emit_source_only && !codegen::backend_available(c.backend))
    throw UsageError(cat(a.backend.empty() ? "the experiment runs on a CUDA device, and " : "--backend cuda: ",
                         "this sublinear was built without the CUDA backend (no CUDA toolkit was found), so it cannot "
                         "build a CUDA trainer; write the source only (--emit-source-only) or compile for the CPU "
                         "(--backend cpu, and device: cpu to run it)"));

  codegen::EmitOptions eo;
  eo.backend = c.backend;
  eo.compiled_from = c.from;
  eo.chunk_steps = a.chunk_steps;
  const codegen::EmittedSource src = codegen::emit_cpp(*c.plan, eo);
  const std::string source_path = a.output + ".cpp";
  {
    std::ofstream out(source_path, std::ios::binary);
    if (!out || !(out << src.text) || !out.flush()) throw std::runtime_error(cat("cannot write '", source_path, "'"));
  }
  const planner::Plan& p = *c.plan;
  std::cout << "plan: " << codegen::describe_plan(p) << ", " << codegen::backend_name(c.backend) << " backend, "
            << ir::with_commas(static_cast<int64_t>(p.steps.size()))
            << " steps, feature-map arena " << ir::human_bytes(p.feature_map_peak_bytes) << "\n";
  std::cout << "wrote " << source_path << " (" << ir::with_commas(src.lines) << " lines, " << src.chunks
            << " step function" << (src.chunks == 1 ? "" : "s") << ")\n";
  if (a.emit_source_only) return 0;

  const codegen::BuildResult b = codegen::build_trainer(source_path, a.output, c.backend);
  if (!b.ok) {
    std::cerr << "sublinear: error: building the trainer failed";
    if (b.exit_code >= 0) std::cerr << " (the compiler exited with " << b.exit_code << ")";
    std::cerr << "; the source is kept in " << source_path << "\n  " << b.command << "\n" << b.output;
    if (!b.output.empty() && b.output.back() != '\n') std::cerr << "\n";
    return 1;
  }
  // A warning in generated code is a codegen bug worth reporting, not a failure.
  if (!b.output.empty()) std::cerr << b.output;
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.1f", b.seconds);
  std::cout << "built " << a.output << " in " << secs << " s against the libraries in "
            << codegen::trainer_library_dir() << "\n";
  return 0;
}

}  // namespace

CLI::App* add_compile_command(CLI::App& app, CompileArgs& a) {
  auto* c = app.add_subcommand("compile",
                               "compile a model's training plan into a standalone trainer (C++, CPU or CUDA)");
  c->add_option("input", a.input, "the .snet model, or an experiment file (.yaml)")->required();
  c->add_option("--set", a.sets,
                "a .snet model: set a param (depth=50); an experiment: override a key (memory.policy=sqrt)")
      ->take_all();
  c->add_option("--batch,-b", a.batch, "batch size N (a .snet model)")->check(positive_count());
  c->add_option("--model", a.model, "which model, when the file declares several (a .snet model)");
  c->add_option("--policy", a.policy, "recomputation policy: none, drop-cheap, sqrt or log (a .snet model)");
  c->add_option("--memory-budget", a.memory_budget, "total bytes allowed (a .snet model)");
  c->add_flag("--no-inplace", a.no_inplace, "do not write outputs over dead inputs (a .snet model)");
  c->add_flag("--no-sharing", a.no_sharing, "give every buffer bytes of its own (a .snet model)");
  c->add_flag("--no-fusion", a.no_fusion, "plan the ops as written, without fusion (a .snet model)");
  c->add_option("--optimizer", a.optimizer, "sgd, momentum or adam: the optimizer state planned (a .snet model)");
  c->add_option("--backend", a.backend, "cpu or cuda (default: cpu, or the experiment's device)");
  c->add_option("-o,--output", a.output, "the trainer executable; its source goes to <output>.cpp")->required();
  c->add_flag("--emit-source-only", a.emit_source_only, "write <output>.cpp and do not build it");
  c->add_option("--workers", a.workers, "data-parallel workers it will run as, under mpirun -np K (an experiment)")
      ->check(positive_count());
  c->add_option("--chunk-steps", a.chunk_steps, "plan steps per generated function")
      ->check(CLI::PositiveNumber)
      ->group("");
  return c;
}

int run_compile_command(const CompileArgs& args, SourceManager& sources) {
  try {
    return run(args, sources);
  } catch (const UsageError& e) {
    std::cerr << "sublinear: error: " << e.what() << "\n";
  } catch (const runtime::ConfigError& e) {
    std::cerr << e.what() << "\n";
  } catch (const UserErrors& e) {
    return print_errors(e.diagnostics(), sources);
  } catch (const UserError& e) {
    return print_errors({e.diagnostic()}, sources);
  } catch (const std::runtime_error& e) {
    std::cerr << "sublinear: error: " << e.what() << "\n";
  }
  return 1;
}

}  // namespace sublinear::cli
