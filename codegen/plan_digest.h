#pragma once
// How a generated trainer recognises the plan it was compiled for. The compiler (`sublinear compile`)
// writes these numbers into the source; the trainer's support code (program_support.cpp) computes them
// again from the plan it is handed, with the same inline code.
// Rules:
// - executor_fingerprint() is Executor::plan_fingerprint() (runtime::plan_fingerprint): checkpoints written by
//   a generated trainer and by `sublinear train` carry the same fingerprint (tests/codegen checks the two
//   agree).
// - plan_digest() covers everything the generated code bakes in as constants: every node (op, name,
//   inputs, output types, attributes with their exact types), the graph outputs, every plan value (kind,
//   source, version, type, bytes, arena offset), every step (kind, node, reads, writes, accumulates,
//   workspace) and the arena size. It leaves out what the generated code takes at run time (the
//   optimizer, the seed) and what does not change a number (DSL spans, planning time). A trainer runs a
//   plan only when both match.
#include <bit>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>
#include <variant>

#include "planner/plan.h"
#include "runtime/executor.h"

namespace sublinear::codegen {

// FNV-1a 64 over little-endian integers and length-prefixed strings.
class Fnv64 {
 public:
  void mix(int64_t x) {
    for (int i = 0; i < 8; ++i) {
      h_ ^= static_cast<uint64_t>(x >> (8 * i)) & 0xff;
      h_ *= 1099511628211ULL;
    }
  }
  void mix(std::string_view s) {
    mix(static_cast<int64_t>(s.size()));
    for (char c : s) {
      h_ ^= static_cast<unsigned char>(c);
      h_ *= 1099511628211ULL;
    }
  }
  void mix(const ir::TensorType& t) {
    mix(static_cast<int64_t>(t.dtype));
    mix(static_cast<int64_t>(t.shape.size()));
    for (int64_t d : t.shape) mix(d);
  }
  uint64_t value() const { return h_; }

 private:
  uint64_t h_ = 1469598103934665603ULL;
};

inline int64_t storage_offset(const planner::Plan& p, planner::ValueId v) {
  const int32_t s = p.values[static_cast<size_t>(v)].storage;
  return s >= 0 ? p.storages[static_cast<size_t>(s)].offset : -1;
}

// Executor::plan_fingerprint() of an executor running `p`: the one shared formula.
inline std::string executor_fingerprint(const planner::Plan& p) { return runtime::plan_fingerprint(p); }

inline uint64_t plan_digest(const planner::Plan& p) {
  Fnv64 h;
  const ir::Graph& g = *p.graph;
  h.mix(g.model_name);
  h.mix(g.batch);
  h.mix(static_cast<int64_t>(g.size()));
  for (const ir::Node& n : g.nodes()) {
    h.mix(n.op);
    h.mix(n.name);
    h.mix(static_cast<int64_t>(n.inputs.size()));
    for (const auto& in : n.inputs) h.mix(in.node), h.mix(in.index);
    h.mix(static_cast<int64_t>(n.outputs.size()));
    for (const auto& t : n.outputs) h.mix(t);
    h.mix(static_cast<int64_t>(n.attrs.values().size()));
    for (const auto& [name, value] : n.attrs.values()) {
      h.mix(name);
      h.mix(static_cast<int64_t>(value.index()));
      if (const auto* i = std::get_if<int64_t>(&value)) h.mix(*i);
      if (const auto* d = std::get_if<double>(&value)) h.mix(std::bit_cast<int64_t>(*d));
      if (const auto* b = std::get_if<bool>(&value)) h.mix(*b ? 1 : 0);
      if (const auto* s = std::get_if<std::string>(&value)) h.mix(*s);
      if (const auto* l = std::get_if<std::vector<int64_t>>(&value)) {
        h.mix(static_cast<int64_t>(l->size()));
        for (int64_t x : *l) h.mix(x);
      }
    }
  }
  h.mix(static_cast<int64_t>(g.outputs().size()));
  for (const auto& o : g.outputs()) h.mix(o.node), h.mix(o.index);
  h.mix(p.policy);
  h.mix(p.options.inplace ? 1 : 0);
  h.mix(p.options.sharing ? 1 : 0);
  h.mix(p.options.alignment);
  h.mix(p.feature_map_peak_bytes);
  h.mix(static_cast<int64_t>(p.values.size()));
  for (const auto& v : p.values) {
    h.mix(static_cast<int64_t>(v.kind));
    h.mix(v.source.node), h.mix(v.source.index);
    h.mix(v.version);
    h.mix(v.type);
    h.mix(v.bytes);
    h.mix(storage_offset(p, v.id));
  }
  h.mix(static_cast<int64_t>(p.steps.size()));
  for (const auto& s : p.steps) {
    h.mix(static_cast<int64_t>(s.kind));
    h.mix(s.node);
    for (const auto* list : {&s.reads, &s.writes, &s.accumulates}) {
      h.mix(static_cast<int64_t>(list->size()));
      for (planner::ValueId v : *list) h.mix(v);
    }
    h.mix(s.workspace_bytes);
  }
  return h.value();
}

// "mlp batch 16 policy sqrt" (", no inplace", ", no sharing" when those are off): how messages name a
// plan to a user.
inline std::string describe_plan(const planner::Plan& p) {
  std::string s = p.graph->model_name;
  s += " batch ";
  s += std::to_string(p.graph->batch);
  s += " policy ";
  s += p.policy;
  if (!p.options.inplace) s += ", no inplace";
  if (!p.options.sharing) s += ", no sharing";
  return s;
}

}  // namespace sublinear::codegen
