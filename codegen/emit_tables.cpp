#include "codegen/emit_tables.h"

#include <algorithm>
#include <cstdio>
#include <variant>

#include "codegen/plan_digest.h"
#include "ir/check.h"

namespace sublinear::codegen {

using planner::ValueKind;

namespace {

const char* dtype_enumerator(ir::DType t) {
  switch (t) {
    case ir::DType::F32: return "sl::ir::DType::F32";
    case ir::DType::I32: return "sl::ir::DType::I32";
    case ir::DType::BF16: return "sl::ir::DType::BF16";
    case ir::DType::F16: return "sl::ir::DType::F16";
  }
  return "sl::ir::DType::F32";
}

std::string attr_row(const std::string& name, const ir::AttrValue& v) {
  const std::string n = cpp_string(name);
  if (const auto* i = std::get_if<int64_t>(&v)) return cat("attr_int(", n, ", ", cpp_int(*i), ")");
  if (const auto* d = std::get_if<double>(&v)) return cat("attr_float(", n, ", ", cpp_double(*d), ")");
  if (const auto* b = std::get_if<bool>(&v)) return cat("attr_bool(", n, ", ", *b ? "true" : "false", ")");
  if (const auto* s = std::get_if<std::string>(&v)) return cat("attr_string(", n, ", ", cpp_string(*s), ")");
  const auto& l = std::get<std::vector<int64_t>>(v);
  return cat("attr_ints(", n, ", ", std::to_string(l.size()), ")");
}

// A table of rows written `per_line` entries at a time (or one line per group), or nothing when empty.
struct TableText {
  std::vector<std::string> lines;
  bool empty() const { return lines.empty(); }
};

void emit_array(CodeWriter& w, const std::string& decl, const TableText& t) {
  if (t.empty()) return;
  w.open(decl + " = {");
  for (const auto& l : t.lines) w.line(l);
  w.close("};");
}

std::string span_or_empty(const std::string& name, const TableText& t) { return t.empty() ? "{}" : name; }

}  // namespace

std::string TypeTable::key(const ir::TensorType& t) {
  std::string k = ir::dtype_name(t.dtype);
  k += '_';
  if (t.shape.empty()) return k + "scalar";
  for (size_t i = 0; i < t.shape.size(); ++i) {
    if (i) k += 'x';
    k += std::to_string(t.shape[i]);
  }
  return k;
}

int32_t TypeTable::add(const ir::TensorType& t) {
  const std::string k = key(t);
  auto it = ids_.find(k);
  if (it != ids_.end()) return it->second;
  const auto id = static_cast<int32_t>(types_.size());
  types_.push_back(t);
  names_.push_back(k);
  ids_.emplace(k, id);
  return id;
}

int32_t TypeTable::id(const ir::TensorType& t) const {
  auto it = ids_.find(key(t));
  SL_CHECK(it != ids_.end()) << "type " << t.str() << " missing from the type table";
  return it->second;
}

TypeTable collect_types(const planner::Plan& plan) {
  TypeTable t;
  for (const ir::Node& n : plan.graph->nodes())
    for (const auto& o : n.outputs) t.add(o);
  for (const auto& v : plan.values) t.add(v.type);
  return t;
}

GraphIndex index_graph(const ir::Graph& g) {
  GraphIndex x;
  x.input.assign(g.size(), -1);
  x.param.assign(g.size(), -1);
  const auto inputs = g.inputs(), params = g.params();
  for (size_t i = 0; i < inputs.size(); ++i) x.input[static_cast<size_t>(inputs[i])] = static_cast<int>(i);
  for (size_t i = 0; i < params.size(); ++i) x.param[static_cast<size_t>(params[i])] = static_cast<int>(i);
  return x;
}

int64_t max_workspace_bytes(const planner::Plan& plan) {
  int64_t ws = 0;
  for (const auto& s : plan.steps) ws = std::max(ws, s.workspace_bytes);
  return ws;
}

void emit_type_table(CodeWriter& w, const TypeTable& types) {
  w.line("// Tensor types, named by dtype and shape.");
  w.open("enum TypeId : int32_t {");
  for (size_t i = 0; i < types.size(); ++i) w.line(types.name(static_cast<int32_t>(i)) + ",");
  w.close("};");
  w.line();
  w.open("std::vector<sl::ir::TensorType> make_types() {");
  w.open("return {");
  for (size_t i = 0; i < types.size(); ++i) {
    const auto& t = types.type(static_cast<int32_t>(i));
    std::string dims;
    for (size_t d = 0; d < t.shape.size(); ++d) dims += cat(d ? ", " : "", std::to_string(t.shape[d]));
    w.line(cat("/* ", types.name(static_cast<int32_t>(i)), " */ {", dtype_enumerator(t.dtype), ", {", dims, "}},"));
  }
  w.close("};");
  w.close("}");
}

void emit_program_tables(CodeWriter& w, const planner::Plan& plan, const TypeTable& types) {
  const ir::Graph& g = *plan.graph;

  TableText nodes, inputs, outputs, attrs, ints;
  for (const ir::Node& n : g.nodes()) {
    const std::string id = cat("/* ", std::to_string(n.id), " */ ");
    const SourceLoc& loc = n.span.loc;
    nodes.lines.push_back(cat(id, "{", cpp_string(n.op), ", ", cpp_string(n.name), ", ", cpp_string(n.path), ", ",
                              cpp_string(loc.file), ", ", std::to_string(loc.line), ", ", std::to_string(loc.column),
                              ", ", std::to_string(loc.length), ", ", std::to_string(n.inputs.size()), ", ",
                              std::to_string(n.outputs.size()), ", ", std::to_string(n.attrs.values().size()), ", ",
                              cpp_int(n.rng_key), "},"));
    if (!n.inputs.empty()) {
      std::string l = id;
      for (const auto& in : n.inputs) l += cat("{", std::to_string(in.node), ", ", std::to_string(in.index), "}, ");
      inputs.lines.push_back(l);
    }
    if (!n.outputs.empty()) {
      std::string l = id;
      for (const auto& t : n.outputs) l += cat(types.name_of(t), ", ");
      outputs.lines.push_back(l);
    }
    if (!n.attrs.values().empty()) {
      std::string l = id;
      std::string list_values;
      for (const auto& [name, value] : n.attrs.values()) {
        l += cat(attr_row(name, value), ", ");
        if (const auto* list = std::get_if<std::vector<int64_t>>(&value))
          for (int64_t x : *list) list_values += cat(cpp_int(x), ", ");
      }
      attrs.lines.push_back(l);
      if (!list_values.empty()) ints.lines.push_back(cat(id, list_values));
    }
  }

  w.line("// Every node of the graph, in id order: op, name, path, DSL location (file, line, column, length),");
  w.line("// then how many inputs, outputs and attributes it takes from the tables below, and its rng key.");
  emit_array(w, "constexpr NodeRow kNodes[]", nodes);
  w.line();
  w.line("// Node inputs (node, output index), by node.");
  emit_array(w, "constexpr InputRow kNodeInputs[]", inputs);
  w.line();
  w.line("// Node output types, by node.");
  emit_array(w, "constexpr int32_t kNodeOutputs[]", outputs);
  w.line();
  w.line("// Node attributes, by node, with their exact types; int lists take their values from kInts.");
  emit_array(w, "constexpr AttrRow kAttrs[]", attrs);
  w.line();
  w.line("// Values of the int-list attributes, by node.");
  emit_array(w, "constexpr int64_t kInts[]", ints);
  if (ints.empty()) w.line("// (none)");
  w.line();

  TableText graph_outputs;
  for (size_t i = 0; i < g.outputs().size(); ++i)
    graph_outputs.lines.push_back(cat("{", std::to_string(g.outputs()[i].node), ", ",
                                      std::to_string(g.outputs()[i].index), ", ", cpp_string(g.output_names()[i]),
                                      "},"));
  w.line("// Graph outputs (node, output index, name); the first is the loss.");
  emit_array(w, "constexpr GraphOutputRow kGraphOutputs[]", graph_outputs);
  w.line();

  std::vector<char> has_grad(g.size(), 0);
  for (const auto& v : plan.values)
    if (v.kind == ValueKind::ParamGrad) has_grad[static_cast<size_t>(v.source.node)] = 1;
  TableText params;
  const auto param_ids = g.params();
  for (size_t i = 0; i < param_ids.size(); ++i) {
    const ir::Node& n = g.node(param_ids[i]);
    std::string init = n.attrs.has("init") ? ir::attr_value_str(n.attrs.get("init")) : std::string("?");
    params.lines.push_back(cat("/* ", std::to_string(i), " */ {", std::to_string(n.id), ", ",
                               has_grad[static_cast<size_t>(n.id)] ? "true" : "false", "},  // ",
                               comment_text(cat(n.name, " ", n.outputs[0].str(), " init ", init))));
  }
  w.line("// Parameters in Graph::params() order (the init_param index, param(i) and grad(i) below):");
  w.line("// node, whether the plan computes its gradient.");
  emit_array(w, "constexpr ParamRow kParams[]", params);
  if (params.empty()) w.line("// (none)");
  w.line();

  w.open("constexpr ProgramTables kTables = {");
  w.line(cpp_string(g.model_name) + ",  // model");
  w.line(std::to_string(g.batch) + ",  // batch");
  w.line(cpp_string(g.source_file) + ",  // source file");
  w.line(cat(span_or_empty("kNodes", nodes), ", ", span_or_empty("kNodeInputs", inputs), ", ",
             span_or_empty("kNodeOutputs", outputs), ", ", span_or_empty("kAttrs", attrs), ", ",
             span_or_empty("kInts", ints), ","));
  w.line(cat(span_or_empty("kGraphOutputs", graph_outputs), ", ", span_or_empty("kParams", params), ","));
  w.line(std::to_string(plan.feature_map_peak_bytes) + ",  // arena bytes");
  w.line(std::to_string(plan.options.alignment) + ",  // alignment of the measured arena peak");
  w.line(std::to_string(max_workspace_bytes(plan)) + ",  // workspace bytes");
  w.close("};");
  w.line();
  w.line("// The plan this trainer runs; any other is refused before a step runs.");
  w.open("constexpr CompiledFor kCompiledFor = {");
  w.line(cpp_string(describe_plan(plan)) + ",");
  w.line(cpp_string(executor_fingerprint(plan)) + ",  // runtime::plan_fingerprint()");
  char digest[32];
  std::snprintf(digest, sizeof digest, "0x%016llxULL", static_cast<unsigned long long>(plan_digest(plan)));
  w.line(std::string(digest) + ",  // plan_digest()");
  w.close("};");
}

}  // namespace sublinear::codegen
