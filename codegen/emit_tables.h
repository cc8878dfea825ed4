#pragma once
// The constant tables of a generated trainer: tensor types (named enumerators such as f32_16x32), every
// graph node (op, name, path, DSL location, inputs, output types, attributes with their exact types),
// the graph outputs and the parameters. Rules:
// - Nodes are written in id order, all of them, so ir::Graph::add_node gives each the id it had (the
//   dropout RNG key) and resolves its OpDef from the registry by name.
// - Attribute values keep their variant type: an int stays an int64 even where the op reads it as a
//   float, a double is written round-trip exact, int lists go to one flat int table.
// - Parameters are listed in Graph::params() order: that index seeds init_param and orders checkpoints.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "codegen/cpp_text.h"
#include "planner/plan.h"

namespace sublinear::codegen {

// Distinct tensor types, with enumerator names ("f32_16x32", "i32_16", "f32_scalar").
class TypeTable {
 public:
  int32_t add(const ir::TensorType& t);       // its id, adding it when new
  int32_t id(const ir::TensorType& t) const;  // SL_CHECKs it was added
  const std::string& name(int32_t id) const { return names_[static_cast<size_t>(id)]; }
  const std::string& name_of(const ir::TensorType& t) const { return name(id(t)); }
  const ir::TensorType& type(int32_t id) const { return types_[static_cast<size_t>(id)]; }
  size_t size() const { return types_.size(); }

 private:
  static std::string key(const ir::TensorType& t);
  std::vector<ir::TensorType> types_;
  std::vector<std::string> names_;
  std::map<std::string, int32_t> ids_;
};

// Every node output type and every plan value type.
TypeTable collect_types(const planner::Plan& plan);

// Input and parameter positions by node id (-1 elsewhere): input(k), param(i) in the generated code.
struct GraphIndex {
  std::vector<int> input;
  std::vector<int> param;
};
GraphIndex index_graph(const ir::Graph& g);

// The largest workspace any step asks for: the one buffer the executor allocates.
int64_t max_workspace_bytes(const planner::Plan& plan);

// `enum TypeId` and make_types().
void emit_type_table(CodeWriter& w, const TypeTable& types);

// kNodes, kNodeInputs, kNodeOutputs, kAttrs, kInts, kGraphOutputs, kParams, kTables and
// kCompiledFor.
void emit_program_tables(CodeWriter& w, const planner::Plan& plan, const TypeTable& types);

}  // namespace sublinear::codegen
