// The `sublinear` command line. Every user mistake ends as diagnostics on stderr and exit code 1;
// nothing here aborts on bad input.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>

#include "cli/compile_command.h"
#include "cli/model_args.h"
#include "cli/plan_command.h"
#include "cli/train_command.h"
#include "runtime/cpu/cpu_kernels.h"
#include "train/memory_budget.h"
#include "ir/diagnostic.h"
#include "ir/dot.h"
#include "ir/format_util.h"
#include "ir/op_registry.h"
#include "ir/printer.h"
#include "ir/summary.h"
#include "ir/verify.h"
#include "runtime/cuda_backend.h"
#include "train/cuda_plugin.h"

namespace sl = sublinear;

namespace {

using sl::cli::add_model_args;
using sl::cli::load;
using sl::cli::ModelArgs;
using sl::cli::print_errors;
using sl::cli::write_output;

std::string version_text() {
  std::string out = std::string("sublinear ") + SUBLINEAR_VERSION;
  out += "\nbackends: cpu (oneDNN ";
  out += sl::runtime::cpu::onednn_version();
  out += ")";
  if (!sl::runtime::cuda_backend_built()) return out + "\ncuda: not compiled in\n";
  std::string why;
  const sl::runtime::CudaBackendApi* cuda = sl::runtime::load_cuda_backend(&why);
  if (cuda == nullptr) return out + ", cuda (plug-in not loadable)\ncuda devices: none usable (" + why + ")\n";
  auto st = cuda->query_devices();
  out += ", cuda (runtime " + std::to_string(st.runtime_version / 1000) + "." +
         std::to_string((st.runtime_version % 1000) / 10) + ")\n";
  if (st.devices.empty()) {
    out += "cuda devices: none usable (" + st.why_none + ")\n";
  } else {
    for (const auto& d : st.devices)
      out += "cuda:" + std::to_string(d.index) + ": " + d.name + ", sm_" + std::to_string(d.major) +
             std::to_string(d.minor) + ", " + sl::ir::human_bytes(static_cast<int64_t>(d.total_bytes)) +
             " (" + sl::ir::human_bytes(static_cast<int64_t>(d.free_bytes)) + " free)\n";
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  sl::runtime::train::register_cuda_backend_plugin();
  CLI::App app{"sublinear: train deep nets in sublinear memory"};
  app.require_subcommand(0, 1);
  bool show_version = false;
  app.add_flag("--version", show_version, "print the version and the backends compiled in");

  ModelArgs check_args;
  bool check_json = false, check_ir = false;
  auto* check = app.add_subcommand("check", "parse, expand and type-check a model; print a summary");
  add_model_args(check, check_args);
  check->add_flag("--json", check_json, "print the summary as JSON");
  check->add_flag("--print-ir", check_ir, "print the expanded IR");

  ModelArgs graph_args;
  bool graph_dot = false, graph_no_params = false;
  int collapse = -1;
  std::string graph_out;
  auto* graph = app.add_subcommand("graph", "write the expanded graph (Graphviz with --dot, else text IR)");
  add_model_args(graph, graph_args);
  graph->add_flag("--dot", graph_dot, "Graphviz output, clustered by block and repeat");
  graph->add_option("--collapse", collapse, "collapse expansions deeper than this many levels into one box");
  graph->add_flag("--no-params", graph_no_params, "leave parameter nodes out");
  graph->add_option("-o,--output", graph_out, "output file (default: stdout)");

  sl::cli::PlanArgs plan_args;
  auto* plan = sl::cli::add_plan_command(app, plan_args);

  sl::cli::TrainArgs train_args;
  auto* train = sl::cli::add_train_command(app, train_args);

  sl::cli::CompileArgs compile_args;
  auto* compile = sl::cli::add_compile_command(app, compile_args);

  auto* ops = app.add_subcommand("ops", "list the built-in ops with their attributes");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version print and succeed; every other command-line mistake exits 1, like the rest.
    return app.exit(e) == 0 ? 0 : 1;
  }
  if (show_version) {
    std::cout << version_text();
    return 0;
  }

  sl::SourceManager sources;
  try {
    if (check->parsed()) {
      sl::ir::Graph g = load(check_args, sources);
      if (check_ir) std::cout << sl::ir::print_graph(g);
      auto summary = sl::ir::summarize(g);
      if (check_json)
        std::cout << sl::ir::summary_to_json(summary).dump(2) << "\n";
      else
        std::cout << sl::ir::format_summary(summary);
      return 0;
    }
    if (graph->parsed()) {
      sl::ir::Graph g = load(graph_args, sources);
      std::string text = graph_dot ? sl::ir::graph_to_dot(g, collapse, !graph_no_params) : sl::ir::print_graph(g);
      return write_output(graph_out, text) ? 0 : 1;
    }
    if (plan->parsed()) return sl::cli::run_plan_command(plan_args, sources);
    if (train->parsed()) return sl::cli::run_train_command(train_args);
    if (compile->parsed()) return sl::cli::run_compile_command(compile_args, sources);
    if (ops->parsed()) {
      for (const auto* d : sl::ir::OpRegistry::global().all()) {
        if (d->is_source) continue;
        std::cout << d->name << "  (" << d->category << ")  " << d->doc << "\n";
        for (const auto& a : d->attrs)
          std::cout << "    " << a.name << ": " << sl::ir::attr_kind_name(a.kind)
                    << (a.default_value ? " = " + sl::ir::attr_value_str(*a.default_value) : " (required)")
                    << (a.doc.empty() ? "" : "  " + a.doc) << "\n";
      }
      return 0;
    }
    std::cout << app.help();
    return 0;
  } catch (const sl::UserErrors& e) {
    return print_errors(e.diagnostics(), sources);
  } catch (const sl::UserError& e) {
    return print_errors({e.diagnostic()}, sources);
  }
}
