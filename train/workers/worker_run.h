#pragma once
// What the training loop does differently with data-parallel workers (train/trainer.cpp), apart from the
// data (sharded_source.h) and the gradients (gradient_reducer.h). Each check is collective and fails on
// every worker alike, so a mismatch ends the run with one message instead of a hang in a later sum.
#include <cstdint>
#include <string>

#include "ir/graph.h"
#include "runtime/training_program.h"
#include "train/memory_budget.h"
#include "train/workers/communicator.h"

namespace sublinear::runtime::train {

// Throws std::runtime_error on every worker when `mine` differs from worker 0's (naming the workers).
void check_same_everywhere(Communicator& comm, const std::string& what, const std::string& mine);

// FNV-1a of everything save_state() writes (parameters, running statistics, optimizer state).
std::string state_hash(TrainingProgram& program);

// An auto budget with workers: on the CPU (`host_memory`), this worker's share of its machine's free
// memory, since the workers of a machine share it; on a GPU, the free memory of its own device. Then the
// smallest over the workers, so every worker plans the same schedule.
AutoBudget shared_auto_budget(Communicator& comm, const AutoBudget& mine, bool host_memory);

// The mean over workers of a per-worker value (a loss over the worker's share of the batch), summed in
// rank order; the value itself without workers.
float mean_over_workers(Communicator* comm, float value);

// How many workers wrote a checkpoint, from its rng_state ("seed=1 workers=2"); 1 when it does not say.
int checkpoint_workers(const std::string& rng_state);

bool has_dropout(const ir::Graph& g);

}  // namespace sublinear::runtime::train
