#pragma once
// The expanded computation graph: a DAG whose node ids are a topological order by construction (a
// node's inputs always have smaller ids). Inputs, parameters and constants are explicit nodes. A
// parameter used by several nodes is one node with several consumers: that is how the IR records
// weight sharing (RNN cells over time).
#include <cstdint>
#include <string>
#include <vector>

#include "ir/attrs.h"
#include "ir/source_span.h"
#include "ir/types.h"

namespace sublinear::ir {

struct OpDef;

using NodeId = int32_t;

struct ValueRef {
  NodeId node = -1;
  int index = 0;
  bool operator==(const ValueRef& o) const { return node == o.node && index == o.index; }
  bool operator<(const ValueRef& o) const { return node != o.node ? node < o.node : index < o.index; }
};

// Memory annotations from the DSL; the planner treats them as hard constraints.
enum class Annotation { None, Recompute, Checkpoint };
const char* annotation_name(Annotation a);  // "", "recompute", "checkpoint"

struct Node {
  NodeId id = -1;
  std::string op;                  // registry name ("conv2d"; "input", "param" for sources)
  const OpDef* def = nullptr;      // resolved at add_node
  std::string name;                // unique in the graph
  std::vector<ValueRef> inputs;    // data inputs first, then the layer's parameters
  Attrs attrs;
  std::vector<TensorType> outputs;
  SourceSpan span;                 // the DSL expression that created it, with its expansion frames
  std::string path;                // "repeat[37]/bottleneck/conv2d#2": frames then the node's own label
  Annotation annotation = Annotation::None;
  SourceLoc annotation_loc;        // where the annotation that applies was written
  // The key of the node's random numbers (dropout masks): its id in the graph the DSL produced, kept by
  // passes that renumber nodes (ir/fusion.h), so masks do not depend on them. Set by add_node if < 0.
  int64_t rng_key = -1;
  // For a node a pass made from several (batch_norm_relu): the paths of the nodes it replaces, in order.
  std::vector<std::string> fused_from;

  bool is_input() const { return op == "input"; }
  bool is_param() const { return op == "param"; }
};

class Graph {
 public:
  std::string model_name;
  int64_t batch = 1;
  std::string source_file;

  // Appends a node, assigns its id and resolves its OpDef. Inputs must already exist.
  NodeId add_node(Node n);

  const Node& node(NodeId id) const;
  Node& mutable_node(NodeId id);
  const std::vector<Node>& nodes() const { return nodes_; }
  size_t size() const { return nodes_.size(); }
  const TensorType& type(ValueRef v) const;

  void add_output(ValueRef v, std::string name);
  const std::vector<ValueRef>& outputs() const { return outputs_; }
  const std::vector<std::string>& output_names() const { return output_names_; }
  // The first model output is the training loss (a scalar).
  ValueRef loss() const;

  std::vector<NodeId> inputs() const;  // model inputs, in declaration order
  std::vector<NodeId> params() const;  // parameters, in creation order

  // consumers()[node][output] = nodes reading that value (a node reading twice appears twice).
  std::vector<std::vector<std::vector<NodeId>>> consumers() const;

  const Node* find(const std::string& name) const;

 private:
  std::vector<Node> nodes_;
  std::vector<ValueRef> outputs_;
  std::vector<std::string> output_names_;
};

}  // namespace sublinear::ir
