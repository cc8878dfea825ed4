#pragma once
// Parameter initialisation, deterministic from (seed, parameter index) so that two runs with the same
// seed start bitwise identical whatever plan they use. Semantics follow PyTorch's initialisers:
//   zeros, ones       constants
//   normal            N(0, std), std from the param's `std` attribute (0.01 unless set)
//   uniform           U(-1/sqrt(fan_in), 1/sqrt(fan_in))      (torch.nn.Linear's default bound)
//   xavier            U(-a, a), a = sqrt(6 / (fan_in + fan_out))  (Glorot uniform)
//   kaiming           N(0, sqrt(2 / fan_in))                   (He normal, fan_in mode, for ReLU)
// fan_in is the param's attribute (product of all but the first dimension); fan_out is the first
// dimension times the receptive field (dimensions 2 and later).
#include <cstdint>

#include "ir/graph.h"

namespace sublinear::runtime {

// Fills `out` (numel floats, or int32 zeros for i32 params) for param node `n`.
void init_param(const ir::Node& n, uint64_t seed, int64_t param_index, void* out);

}  // namespace sublinear::runtime
