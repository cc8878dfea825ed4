#pragma once
// Proves a plan right: a symbolic execution of its steps over the arena that tracks which logical value
// every byte range holds. Independent of how the plan was built (scheduler.cpp): it trusts only the step
// lists and the storage offsets, so a bug in liveness, in-place folding, sharing or placement shows up as
// a fault naming the step, both values and the bytes.
//
// Rules (each violation is one PlanFault; a plan is valid when validate_plan returns nothing)
//   Placement, checked before executing anything:
//   1. A value in the arena (storage >= 0) occupies [offset, offset + bytes) with offset =
//      storages[value.storage].offset and bytes = value.bytes. Values with storage == -1 live outside
//      the arena (inputs, parameters, parameter gradients) and are always valid to read.
//   2. Every storage offset a value uses is a multiple of options.alignment (Misaligned).
//   3. Every value's range lies within [0, feature_map_peak_bytes), the arena (OutOfArena).
//   4. Ids are consistent: value.id and step.id equal their index, storage ids and the value ids of
//      Storage::values, of the step lists and of the in-place pairs are in range, Storage::values agree
//      with value.storage, a step's node exists in plan.graph, an in-place pair (w, u) has w among the
//      step's writes or accumulates and u among its reads or accumulates (BadReference).
//   Execution, step by step in order, over an interval map arena byte range -> value held (and the step
//   that wrote it); bytes never written hold nothing:
//   5. A step first performs its reads (reads, then the read half of accumulates), then its writes
//      (writes, then the write half of accumulates).
//   6. Read of v: v must have been written before (else ReadBeforeWrite), and every byte of v's range
//      must still hold v (else ReadOverwritten, naming the value found there and the step that wrote
//      it). Reading an Activation or Gradient that has no storage is BadReference.
//   7. An accumulate is a read-modify-write: a gradient's first contribution is a write, later ones are
//      accumulates, so an accumulate requires the range to hold the gradient already (rule 6). When its
//      read half faults, its write half is skipped (the fault is reported once, not again as a write).
//   8. Write of w: for each value u != w held in w's range, u must be dead: its last use (last step
//      reading or accumulating it; graph outputs of plan.graph: past the last step) must precede this
//      step, else WriteOverLive. The one exception is in-place: (w, u) is one of this step's `inplace`
//      pairs and this step is u's last use. An op that is not in place reads its inputs while writing
//      its outputs, so writing over a value this step still reads is a fault too (the arena
//      allocator's closed lifetimes, rule 1 of arena_allocator.cpp, say the same).
//   9. Each value's read faults are reported once (its first bad read); every clobbering write is
//      reported. A collision of two live values is thus typically reported twice: WriteOverLive at the
//      write that clobbers, ReadOverwritten at the first read that sees it.
//   Cost: O((steps + refs) log R) for R live ranges (std::map keyed by start offset, adjacent ranges of
//   one value merged), so plans of 100k steps validate in milliseconds.
#include <cstddef>
#include <string>
#include <vector>

#include "planner/plan.h"

namespace sublinear::planner {

struct PlanFault {
  enum class Kind { ReadBeforeWrite, ReadOverwritten, WriteOverLive, OutOfArena, Misaligned, BadReference };
  Kind kind;
  StepId step;         // -1 for placement faults (rules 1-4) not tied to a step
  ValueId value;       // the value read/written/placed (-1 when the reference itself is bad)
  ValueId other = -1;  // the value found in the bytes / the live value overwritten
  std::string message; // names both values, the step (kind, node name and path) and the byte range
};

// "read-before-write", "read-overwritten", "write-over-live", "out-of-arena", "misaligned",
// "bad-reference".
const char* fault_kind_name(PlanFault::Kind k);

// Checks `plan` against the rules above. Returns at most `max_faults` faults, in the order found
// (placement faults first, then by step).
std::vector<PlanFault> validate_plan(const Plan& plan, size_t max_faults = 50);

// One line per fault: "<file:line:col> <node path>: <kind>: <message>", located at the DSL expression of
// the step's node (for placement faults: the node of the value's source). Without plan.graph, the node
// is named by its id.
std::string format_faults(const std::vector<PlanFault>& faults, const Plan& plan);

}  // namespace sublinear::planner
