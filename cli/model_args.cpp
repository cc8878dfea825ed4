#include "cli/model_args.h"

#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "frontend/frontend.h"
#include "ir/verify.h"

namespace sublinear::cli {

void add_model_args(CLI::App* cmd, ModelArgs& a) {
  cmd->add_option("model", a.file, "the .snet file")->required();
  cmd->add_option("--set", a.sets, "override a param: --set depth=1001 (repeatable)");
  cmd->add_option("--batch,-b", a.batch, "batch size N")->check(positive_count());
  cmd->add_option("--model", a.model, "which model, when the file declares several");
}

CLI::Validator positive_count() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        int64_t v = 0;
        const char* end = text.data() + text.size();
        const auto r = std::from_chars(text.data(), end, v);
        if (r.ec == std::errc::result_out_of_range)
          return "must be a positive integer no larger than 9223372036854775807, got " + text;
        if (r.ec != std::errc() || r.ptr != end || v <= 0) return "must be a positive integer, got '" + text + "'";
        return {};
      },
      "POSITIVE");
}

ir::Graph load(const ModelArgs& a, SourceManager& sources) {
  frontend::LoadOptions opts;
  opts.batch = a.batch;
  opts.model = a.model;
  opts.fusion = a.fusion;
  for (const auto& s : a.sets) opts.sets.push_back(frontend::parse_set(s));
  ir::Graph g = frontend::load_model(a.file, opts, sources);
  ir::verify_graph(g);
  return g;
}

int print_errors(const std::vector<Diagnostic>& diags, const SourceManager& sources) {
  const bool color = isatty(fileno(stderr));
  for (const auto& d : diags) std::cerr << format_diagnostic(d, sources, color);
  if (diags.size() > 1) std::cerr << diags.size() << " errors\n";
  return 1;
}

bool write_output(const std::string& path, const std::string& text) {
  if (path.empty() || path == "-") {
    std::cout << text;
    return true;
  }
  std::ofstream out(path, std::ios::binary);
  if (!out || !(out << text) || !out.flush()) {
    std::cerr << "sublinear: error: cannot write '" << path << "'\n";
    return false;
  }
  return true;
}

}  // namespace sublinear::cli
