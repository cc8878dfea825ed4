#include "ir/printer.h"

namespace sublinear::ir {

namespace {

std::string basename_of(const std::string& file) {
  // "<stdlib>/std.snet" keeps its marker: it tells a reader the node came from the standard library.
  if (file.rfind("<stdlib>", 0) == 0) return file;
  auto slash = file.find_last_of('/');
  return slash == std::string::npos ? file : file.substr(slash + 1);
}

}  // namespace

std::string value_ref_str(ValueRef v) {
  // Appended piecewise: `"%" + std::to_string(...)` trips GCC 12's false -Wrestrict at -O3.
  std::string out = "%";
  out += std::to_string(v.node);
  if (v.index > 0) {
    out += '.';
    out += std::to_string(v.index);
  }
  return out;
}

std::string print_node(const Node& n, bool with_locations) {
  std::string out = value_ref_str({n.id, 0});
  out += " " + n.name + " = " + n.op + "(";
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    if (i) out += ", ";
    out += value_ref_str(n.inputs[i]);
  }
  out += ")";
  if (!n.attrs.values().empty()) {
    out += ' ';
    out += n.attrs.str();
  }
  out += " :";
  for (size_t i = 0; i < n.outputs.size(); ++i) {
    out += i ? ", " : " ";
    out += n.outputs[i].str();
  }

  // The annotation changes what the planner may do, so it is printed even without locations.
  std::string note;
  if (with_locations) {
    if (n.span.loc.known()) {
      const auto& loc = n.span.loc;
      note += basename_of(loc.file) + ":" + std::to_string(loc.line) + ":" + std::to_string(loc.column);
    }
    if (!n.path.empty()) note += (note.empty() ? "" : " ") + n.path;
  }
  if (n.annotation != Annotation::None)
    note += std::string(note.empty() ? "" : " ") + "@" + annotation_name(n.annotation);
  if (!note.empty()) out += "  # " + note;
  return out;
}

std::string print_graph(const Graph& g, bool with_locations) {
  std::string out = "model " + g.model_name + " (batch " + std::to_string(g.batch) + ")\n";
  for (const auto& n : g.nodes()) out += print_node(n, with_locations) + "\n";
  out += "outputs:";
  const auto& outs = g.outputs();
  const auto& names = g.output_names();
  for (size_t i = 0; i < outs.size(); ++i) {
    out += (i ? ", " : " ");
    out += (i < names.size() ? names[i] : std::string("?")) + "=" + value_ref_str(outs[i]);
  }
  return out + "\n";
}

}  // namespace sublinear::ir
