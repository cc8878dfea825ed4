#pragma once
// The buffers one training step runs over, as every program lays them out (the executor on the host, the
// CUDA program on a device): the feature-map arena, the model inputs, the parameters with their gradients,
// the loss seed d loss / d loss = 1 (outside the arena) and the one workspace. Pointers are the backend's
// own (host or device); a step's kernels only ever see views into these.
#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "planner/plan.h"

namespace sublinear::runtime {

struct ParamBuffer {
  ir::NodeId node = -1;
  std::string name;
  ir::TensorType type;
  bool trainable = false;
  bool has_grad = false;  // the plan computes a gradient for it (an unused weight gets none)
  float* data = nullptr;
  float* grad = nullptr;  // trainable only
};

struct ProgramBuffers {
  char* arena = nullptr;
  int64_t arena_bytes = 0;
  std::vector<void*> inputs;         // by position in Graph::inputs()
  std::vector<ParamBuffer> params;   // by position in Graph::params()
  float* loss_seed = nullptr;
  void* workspace = nullptr;
  int64_t workspace_bytes = 0;
};

// The parameters of the plan's graph in Graph::params() order, without buffers: every program lays out
// the same list (trainable: a trainable f32 parameter gets a gradient buffer; has_grad: the plan computes
// its gradient).
std::vector<ParamBuffer> describe_params(const planner::Plan& p);

}  // namespace sublinear::runtime
