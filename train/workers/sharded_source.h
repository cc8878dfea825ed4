#pragma once
// A worker's share of each global batch, for a source that cannot read only its share (ImageNet under
// bad_images: skip; data::reads_only_its_shard says which). The data source draws the global
// batch, the very batch a single process would train on at that step, and worker r keeps rows
// [r b, (r + 1) b) of each input along its batch axis (b = batch / K). So what the workers see together does not depend on K or on timing; the
// source's saved state is the global position, the same on every worker, and a checkpoint written with
// one K resumes with another on the same data. The price: every worker prepares the whole global batch
// (on its prefetch thread), K times the data work of reading its shard alone.
#include <memory>
#include <vector>

#include "train/data/dataset.h"

namespace sublinear::runtime::train {

// Per model input, the axis along which the global batch is split: the one axis where the global shape
// is `workers` times the local one; -1 for an input with no such axis (every worker gets all of it).
// std::runtime_error naming the input when two axes differ or one differs by another factor.
std::vector<int> batch_axes(const std::vector<data::InputSpec>& global, const std::vector<data::InputSpec>& local,
                            int workers);

std::unique_ptr<data::DataSource> shard_source(std::unique_ptr<data::DataSource> global_source,
                                               std::vector<data::InputSpec> global, std::vector<int> axes, int rank,
                                               int workers);

}  // namespace sublinear::runtime::train
