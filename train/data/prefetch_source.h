#pragma once
// A data source that prepares the next batch on a thread of its own while the model trains on the
// current one, around a source that produces batches on the caller's thread (synthetic, text; the
// ImageNet source has its own pipeline of workers).
// Rules:
// - The batches are exactly the inner source's, in the same order: the inner source alone decides them
//   (its seed and position), never the timing.
// - save_state() is the inner source's state right after the last batch next() handed out (a snapshot
//   taken when that batch was produced), not after the one prepared ahead, so a checkpoint resumes at
//   the batch the next step would have used. restore_state() drops the batch prepared ahead.
// - An error the inner source raises while preparing a batch is raised by the next() that would have
//   returned that batch, not earlier.
// - One batch is held ahead: the inputs' bytes once more, in host memory outside the plan's arena.
#include <memory>

#include "train/data/dataset.h"

namespace sublinear::runtime::data {

std::unique_ptr<DataSource> prefetch_one_batch(std::unique_ptr<DataSource> inner);

}  // namespace sublinear::runtime::data
