#pragma once
// The C++ source of a trainer for one plan and one backend: constant tables for the graph, a compiled
// schedule (runtime/compiled_schedule.h) that is the plan's steps as straight-line kernel calls, and a
// main that takes `sublinear train`'s arguments and runs runtime::train::run_train_cli with the backend's
// program (the executor on the CPU, the CUDA program on a device) running that schedule. Rules:
// - The source is self-describing: a header comment says what it was compiled from and for, every call
//   says which DSL expression it runs.
// - It includes only the runtime's headers and codegen/program_support.h and trainer_main.h, and links
//   the static libraries `sublinear` was built with (codegen/build_trainer.h). A CUDA trainer is plain
//   C++ too: its kernels are the CUDA backend's, compiled once into sublinear_cuda, so the generated file
//   holds no device code and needs no CUDA headers.
// - Results are bitwise those of `sublinear train` on the same experiment: the same kernels are called
//   on the same offsets with the same OpCalls (codegen/emit_schedule.h), and the same parameter
//   initialisation, optimizer and checkpoint code runs.
// - The trainer plans the experiment again when it starts (that is how run_train_cli works) and refuses
//   any plan but the one it was compiled for (codegen/plan_digest.h).
#include <cstdint>
#include <string>

#include "codegen/backend.h"
#include "planner/plan.h"

namespace sublinear::codegen {

struct EmitOptions {
  Backend backend = Backend::Cpu;
  std::string compiled_from;  // the command that made the plan, quoted in the header comment
  int chunk_steps = 100;      // steps per run_steps_<k> function (g++ slows down superlinearly past a few hundred)
};

struct EmittedSource {
  std::string text;
  int64_t lines = 0;
  int chunks = 0;  // run_steps_<k> functions
};

EmittedSource emit_cpp(const planner::Plan& plan, const EmitOptions& options);

}  // namespace sublinear::codegen
