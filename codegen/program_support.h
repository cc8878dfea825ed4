#pragma once
// What every generated trainer shares, so the generated source holds only what is particular to one
// plan (its tables and its straight-line schedule). Compiled once into sublinear_codegen, which every
// trainer links with the runtime libraries: a trainer's own compile stays a few seconds.
//
// A generated trainer is a compiled schedule (runtime/compiled_schedule.h) run by the very program
// `sublinear train` uses for its backend: the executor on the CPU, the CUDA program on a device. The
// program owns the buffers, parameter init, the optimizer and checkpoints, so a generated trainer is
// bitwise an interpreted run and its checkpoints are interchangeable with `sublinear train`'s. Rules:
// - The graph is rebuilt from constant tables with ir::Graph::add_node in id order, so node ids (the
//   dropout keys), op definitions, attributes and types are those of the graph that was compiled; the
//   schedule checks it equals the handed plan's graph node for node before anything runs.
// - compute() and gradient() build an OpCall exactly as runtime/step_calls.h does, from the tensors the
//   generated code names in node order (Ref), resolved against the buffers run() is handed; every arena
//   view handed out raises the measured arena peak to its aligned end.
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "planner/plan.h"
#include "runtime/compiled_schedule.h"
#include "runtime/kernel.h"
#include "runtime/training_program.h"

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
  int64_t rng_key;                 // ir::Node::rng_key: dropout masks as the interpreter draws them
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
  int64_t arena_bytes;
  int64_t alignment;
  int64_t workspace_bytes;
};

// What a trainer was compiled for, to refuse any other plan.
struct CompiledFor {
  const char* description;  // describe_plan()
  const char* fingerprint;  // runtime::plan_fingerprint()
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

// The base of a generated schedule (the generated class adds the kernels it calls and run_steps()).
class ScheduleBase : public runtime::CompiledSchedule {
 public:
  // Throws std::logic_error when the tables do not rebuild `plan`'s graph (a sublinear compile bug;
  // check_plan has already refused a plan other than the compiled one).
  ScheduleBase(const planner::Plan& plan, const runtime::KernelTable& kernels, const ProgramTables& tables,
               std::vector<ir::TensorType> types, uint64_t seed);
  ScheduleBase(const ScheduleBase&) = delete;
  ScheduleBase& operator=(const ScheduleBase&) = delete;

  void run(const runtime::ProgramBuffers& buffers, int64_t iteration) final;
  int64_t arena_peak_bytes() const final { return arena_peak_; }
  // Every plan step makes exactly one compute() or gradient() call, in plan order, so a step's time is
  // the time from its call to the next one (CompiledSchedule's rule). CPU kernels finish before they
  // return; the CUDA program does not ask.
  bool time_steps(std::vector<double>* seconds) final {
    step_seconds_ = seconds;
    return true;
  }

 protected:
  // One training step: the plan's schedule, one kernel call per step.
  virtual void run_steps(int64_t iteration) = 0;

  // The backend's kernels of `op`, looked up once; an op the plan differentiates must have a backward.
  Kernel kernel(const char* op, bool backward) const;

  // A forward or recompute step: inputs and outputs in node order.
  const runtime::OpCall& compute(ir::NodeId node, runtime::Mode mode, int64_t iteration, std::span<const Ref> in,
                                 std::span<const Ref> out);

  // A backward step: the forward values the backward reads (absent ones null), the output gradients
  // (absent: none reaches that output; the loss: the constant 1), the input gradients and whether each
  // is accumulated.
  const runtime::OpCall& gradient(ir::NodeId node, int64_t iteration, std::span<const Ref> in,
                                  std::span<const Ref> out, std::span<const Ref> dy,
                                  std::span<const Ref> dx, std::span<const bool> dx_accumulate);

 private:
  void begin(ir::NodeId node, runtime::Mode mode, int64_t iteration);
  void fill(std::vector<runtime::Tensor>& dst, std::span<const Ref> refs);

  const runtime::KernelTable& kernels_;
  ProgramTables tables_;
  std::vector<ir::TensorType> types_;
  ir::Graph graph_;
  std::vector<ir::TensorType> input_types_;  // by input position
  uint64_t seed_ = 0;
  const runtime::ProgramBuffers* buffers_ = nullptr;  // during run()
  int64_t arena_peak_ = 0;
  runtime::OpCall call_;
  std::vector<double>* step_seconds_ = nullptr;  // when timing: per plan step
  size_t step_ = 0;                              // the step begin() last started
  std::chrono::steady_clock::time_point started_;
};

// The program of a CPU trainer: `sublinear train`'s executor over the CPU kernels, its training steps
// made by the compiled schedule.
std::unique_ptr<runtime::train::TrainingProgram> cpu_program(std::shared_ptr<const planner::Plan> plan, uint64_t seed,
                                                             const runtime::ScheduleMaker& schedule);

}  // namespace sublinear::codegen::support
