#pragma once
// What every generated trainer shares, so the generated source holds only what is particular to one
// plan (its tables and its straight-line schedule). Compiled once into sublinear_codegen, which every
// trainer links with the runtime libraries: a trainer's own compile stays a few seconds.
//
// Rules (the executor's, runtime/executor.h, so a generated trainer is bitwise an interpreted run):
// - The graph is rebuilt from constant tables with ir::Graph::add_node in id order, so node ids (the
//   dropout keys), op definitions, attributes and types are those of the graph that was compiled; the
//   program checks it equals the handed plan's graph node for node before anything runs.
// - Feature maps live in one arena of the plan's size, allocated once (4 KiB aligned); persistent buffers
//   (inputs, parameters, parameter gradients) are zeroed float vectors sized like the executor's.
// - compute() and gradient() build an OpCall exactly as Executor::run_compute and run_backward do, from
//   the tensors the generated code names in node order (Ref); every arena view handed out raises the
//   measured arena peak to its aligned end, as Executor::note_view does.
// - Parameters are initialised by init_param in Graph::params() order; the optimizer and checkpoints go
//   through HostOptimizerState, so checkpoint blobs are those of `sublinear train`.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "planner/plan.h"
#include "runtime/kernel.h"
#include "runtime/train/training_program.h"

namespace sublinear::codegen::support {

// --- constant tables --------------------------------------------------------------------------------
// Tables are laid out in node order; each node row gives only counts, and its inputs, output types,
// attributes and int-list values are the next entries of the flat tables, so a row stays readable.

enum class AttrTag : uint8_t { Int, Float, Bool, String, Ints };

struct AttrRow {
  const char* name;
  AttrTag tag;
  int64_t i;        // Int; Ints: how many values of the int table it takes
  double f;         // Float
  bool b;           // Bool
  const char* s;    // String
};

constexpr AttrRow attr_int(const char* name, int64_t v) { return {name, AttrTag::Int, v, 0.0, false, nullptr}; }
constexpr AttrRow attr_float(const char* name, double v) { return {name, AttrTag::Float, 0, v, false, nullptr}; }
constexpr AttrRow attr_bool(const char* name, bool v) { return {name, AttrTag::Bool, 0, 0.0, v, nullptr}; }
constexpr AttrRow attr_string(const char* name, const char* v) {
  return {name, AttrTag::String, 0, 0.0, false, v};
}
constexpr AttrRow attr_ints(const char* name, int64_t count) {
  return {name, AttrTag::Ints, count, 0.0, false, nullptr};
}

struct InputRow {
  int32_t node;
  int32_t index;
};

struct NodeRow {
  const char* op;
  const char* name;
  const char* path;
  const char* file;  // DSL location of the expression that created the node
  int32_t line, column, length;
  int32_t inputs, outputs, attrs;  // how many entries of the input, output-type and attribute tables
};

struct GraphOutputRow {
  int32_t node;
  int32_t index;
  const char* name;
};

struct ParamRow {
  int32_t node;
  bool has_grad;  // the plan computes its gradient (an unused weight gets none)
};

// Where a graph output's forward value lives after a step.
enum class Place : uint8_t { Arena, Input, Param };

struct OutputRow {
  Place place;
  int64_t at;    // arena offset, input index or parameter index
  int32_t type;
};

struct ProgramTables {
  const char* model_name;
  int64_t batch;
  const char* source_file;
  std::span<const NodeRow> nodes;
  std::span<const InputRow> inputs;
  std::span<const int32_t> output_types;
  std::span<const AttrRow> attrs;
  std::span<const int64_t> ints;
  std::span<const GraphOutputRow> graph_outputs;
  std::span<const ParamRow> params;
  std::span<const OutputRow> outputs;
  int64_t arena_bytes;
  int64_t alignment;
  int64_t workspace_bytes;
};

// What a trainer was compiled for, to refuse any other plan.
struct CompiledFor {
  const char* description;  // describe_plan()
  const char* fingerprint;  // executor_fingerprint()
  uint64_t digest;          // plan_digest()
};

// The graph the tables describe (ids, op definitions, attributes, types, spans without their frames).
ir::Graph rebuild_graph(const ProgramTables& t, const std::vector<ir::TensorType>& types);

// Throws std::runtime_error (a user error: the experiment does not match the trainer) when `plan` is not
// the compiled one.
void check_plan(const planner::Plan& plan, const CompiledFor& c);

// --- the program ----------------------------------------------------------------------------------------

// A tensor of a call as the generated code names it: a constant (which buffer, which offset or index,
// which type), resolved against the program's buffers when the call is built. Being a literal, every
// call site's argument lists are constants, which keeps a 10,000-step schedule quick to compile.
enum class RefKind : uint8_t { Arena, Input, Param, Grad, Absent, LossSeed };

struct Ref {
  RefKind kind;
  int32_t type;  // into the type table (Arena, Absent, LossSeed); -1: the buffer's own
  int64_t at;    // arena offset (Arena), input index (Input), parameter index (Param, Grad)
};

// `arena + 4096` in generated code: the feature-map arena at a constant offset.
struct ArenaOffset {
  int64_t offset;
};
struct ArenaBase {};
constexpr ArenaOffset operator+(ArenaBase, int64_t offset) { return ArenaOffset{offset}; }
inline constexpr ArenaBase arena{};

constexpr Ref fm(ArenaOffset at, int32_t type) { return Ref{RefKind::Arena, type, at.offset}; }  // a feature map
constexpr Ref input(int64_t i) { return Ref{RefKind::Input, -1, i}; }    // model input i (Graph::inputs())
constexpr Ref param(int64_t i) { return Ref{RefKind::Param, -1, i}; }    // parameter i (Graph::params())
constexpr Ref grad(int64_t i) { return Ref{RefKind::Grad, -1, i}; }      // its gradient
constexpr Ref absent(int32_t type) { return Ref{RefKind::Absent, type, 0}; }  // not passed (null data)
constexpr Ref loss_seed(int32_t type) { return Ref{RefKind::LossSeed, type, 0}; }  // d loss / d loss = 1

// One op's kernels as a generated program holds them. forward() and backward() are out of line, so a
// call site is one plain call (std::function's call operator inlined at every step slows g++ down).
class Kernel {
 public:
  explicit Kernel(const runtime::OpKernels& k) : k_(&k) {}
  void forward(const runtime::OpCall& call) const;
  void backward(const runtime::OpCall& call) const;

 private:
  const runtime::OpKernels* k_;
};

class ProgramBase : public runtime::train::TrainingProgram {
 public:
  ProgramBase(std::shared_ptr<const planner::Plan> plan, const ProgramTables& tables,
              std::vector<ir::TensorType> types, uint64_t seed);
  ~ProgramBase() override;
  ProgramBase(const ProgramBase&) = delete;
  ProgramBase& operator=(const ProgramBase&) = delete;

  const planner::Plan& plan() const override { return *plan_; }
  std::vector<runtime::Tensor>& inputs() override { return inputs_; }
  void init_params() override;
  void apply_optimizer(const runtime::train::OptimizerConfig& c, double lr, int64_t step) override;
  float loss() const override { return scalar(0); }
  float output_scalar(size_t index) const override { return scalar(index); }
  int64_t arena_peak_bytes() const override { return arena_peak_; }
  void save_state(runtime::train::CheckpointContents& c) override;
  void load_state(const runtime::train::CheckpointContents& c) override;

 protected:
  // The CPU kernels of `op`, looked up once; an op the plan differentiates must have a backward.
  static Kernel kernel(const char* op, bool backward);

  // Executor::run_compute: inputs and outputs in node order.
  const runtime::OpCall& compute(ir::NodeId node, runtime::Mode mode, int64_t iteration, std::span<const Ref> in,
                                 std::span<const Ref> out);

  // Executor::run_backward: the forward values the backward reads (absent ones null), the output
  // gradients (absent: none reaches that output; the loss: the constant 1), the input gradients and
  // whether each is accumulated.
  const runtime::OpCall& gradient(ir::NodeId node, int64_t iteration, std::span<const Ref> in,
                                  std::span<const Ref> out, std::span<const Ref> dy,
                                  std::span<const Ref> dx, std::span<const bool> dx_accumulate);

 private:
  void begin(ir::NodeId node, runtime::Mode mode, int64_t iteration);
  void fill(std::vector<runtime::Tensor>& dst, std::span<const Ref> refs);
  runtime::Tensor output(size_t index) const;
  float scalar(size_t index) const;

  std::shared_ptr<const planner::Plan> plan_;
  ProgramTables tables_;
  std::vector<ir::TensorType> types_;
  ir::Graph graph_;
  uint64_t seed_ = 0;

  char* arena_ = nullptr;
  int64_t arena_peak_ = 0;
  std::vector<char> workspace_;
  std::vector<std::vector<float>> input_storage_, param_storage_, grad_storage_;
  std::vector<runtime::Tensor> inputs_;
  std::vector<runtime::ParamBuffer> params_;
  runtime::train::HostOptimizerState opt_;
  runtime::OpCall call_;
  float loss_seed_ = 1.0f;  // d loss / d loss, outside the arena as in the executor
};

}  // namespace sublinear::codegen::support
