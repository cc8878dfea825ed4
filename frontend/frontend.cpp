// Loading: the standard library, then the main file and what it imports (depth first, each file
// once), then expansion.
#include "frontend/frontend.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "frontend/expander.h"
#include "frontend/parser.h"
#include "frontend/stdlib.h"
#include "ir/fusion.h"
#include "ir/path_check.h"

namespace sublinear::frontend {

namespace fs = std::filesystem;

namespace {

std::string read_file(const std::string& path, const SourceSpan& from) {
  // Before opening: /dev/zero would be read until memory runs out, a directory reads as empty text.
  if (const std::string why = ir::regular_file_problem(path); !why.empty())
    throw UserError(from, why == "no such file" ? "cannot read '" + path + "': no such file"
                                                : "cannot read '" + path + "': it " + why + ", not a .snet file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(from, "cannot read '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Parses `file` and its imports into `out`, imports first so their blocks are known before use.
void load_with_imports(const std::string& file, const std::string& text, SourceManager& sources,
                       std::set<std::string>& seen, std::vector<Program>& out,
                       std::vector<Diagnostic>& diags) {
  sources.add(file, text);
  Program p;
  try {
    p = parse_program(file, text);
  } catch (UserErrors& e) {
    diags.insert(diags.end(), e.diagnostics().begin(), e.diagnostics().end());
    return;
  } catch (UserError& e) {
    diags.push_back(e.diagnostic());
    return;
  }
  for (const auto& imp : p.imports) {
    fs::path target = fs::path(file).parent_path() / imp.path;
    std::string key = fs::weakly_canonical(target).string();
    if (seen.count(key)) continue;
    seen.insert(key);
    try {
      std::string t = read_file(target.string(), SourceSpan{imp.loc, nullptr});
      load_with_imports(target.lexically_normal().string(), t, sources, seen, out, diags);
    } catch (UserError& e) {
      diags.push_back(e.diagnostic());
    }
  }
  // Only the main file's models are candidates; imported files contribute blocks and params.
  out.push_back(std::move(p));
}

}  // namespace

std::pair<std::string, std::string> parse_set(const std::string& arg) {
  auto eq = arg.find('=');
  if (eq == std::string::npos || eq == 0)
    throw UserError(SourceSpan{SourceLoc{"<command line>", 0, 0, 1}, nullptr},
                    "--set expects name=value, got '" + arg + "'");
  return {arg.substr(0, eq), arg.substr(eq + 1)};
}

ir::Graph load_model_text(const std::string& file, const std::string& text, const LoadOptions& opts,
                          SourceManager& sources) {
  std::vector<Program> programs;
  std::vector<Diagnostic> diags;
  std::set<std::string> seen;
  if (opts.use_stdlib) load_with_imports(kStdlibFileName, stdlib_source(), sources, seen, programs, diags);
  seen.insert(fs::weakly_canonical(fs::path(file)).string());
  load_with_imports(file, text, sources, seen, programs, diags);
  if (!diags.empty()) throw UserErrors(std::move(diags));
  Expander ex(programs, opts);
  if (!opts.fusion.any()) return ex.run();
  return ir::fuse_ops(ex.run(), opts.fusion);
}

ir::Graph load_model(const std::string& path, const LoadOptions& opts, SourceManager& sources) {
  std::string text = read_file(path, SourceSpan{SourceLoc{path, 0, 0, 1}, nullptr});
  return load_model_text(path, text, opts, sources);
}

}  // namespace sublinear::frontend
