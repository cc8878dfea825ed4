#pragma once
// A schedule compiled ahead of time: one training step's kernel calls written out as straight-line code
// by `sublinear compile` (codegen/), run by a program in place of the calls it builds from the plan
// (step_calls.h). The program still owns every buffer, the optimizer and checkpoints; the schedule only
// names views into the buffers it is handed, at the offsets it was compiled with. Rules:
// - A schedule is made for one plan (its maker refuses any other) and one backend's kernel table; the
//   calls it makes are exactly build_step_calls()'s, so a compiled step is bitwise an interpreted one.
// - run() makes the forward, recompute and backward calls of one step; `iteration` keys dropout masks.
// - arena_peak_bytes() is the highest aligned arena byte it has handed to a kernel so far.
// - time_steps(seconds): from then on each run() writes plan step i's wall time into (*seconds)[i],
//   measured from the start of its call to the start of the next (the last: to the end of the step),
//   so a step's time includes naming its views, microseconds against a kernel's milliseconds. A
//   schedule that cannot (its calls return before their work ends, as CUDA launches do) answers false.
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "planner/plan.h"
#include "runtime/kernel.h"
#include "runtime/program_buffers.h"

namespace sublinear::runtime {

class CompiledSchedule {
 public:
  virtual ~CompiledSchedule() = default;
  virtual void run(const ProgramBuffers& buffers, int64_t iteration) = 0;
  virtual int64_t arena_peak_bytes() const = 0;
  virtual bool time_steps(std::vector<double>* /*seconds*/) { return false; }
};

// Makes the schedule for `plan` over `kernels` (which outlive it), with dropout seed `seed`.
using ScheduleMaker = std::function<std::unique_ptr<CompiledSchedule>(const planner::Plan& plan,
                                                                      const KernelTable& kernels, uint64_t seed)>;

}  // namespace sublinear::runtime
