#pragma once
// The kernel interface every backend implements: one forward and one backward function per registered
// op, called by the executor with views into the arena at the planned offsets.
//
// Contract (the executor relies on it; tests/kernels check it for every op):
// - Forward: `in` holds every input of the node in node order (data inputs, then the layer's
//   parameters); `out` holds every output. `out[o]` may alias `in[i]` exactly when the op lists the
//   in-place option {o, i} in its OpDef: the kernel must then give the same result as out of place.
// - Backward: `in` and `out` have the node's types, but only the values listed in OpDef::backward are
//   present (data != nullptr); the rest are absent and must not be read. `dy[k]` is the gradient of
//   output k, absent when no gradient reaches that output (read it as zeros). `dx[i]` is where the
//   gradient of input i goes, absent when that input needs none. With `dx_accumulate[i]` the gradient
//   is added into dx[i], otherwise dx[i] is overwritten. Two entries of dx may be the same buffer (a
//   node reading one value twice, add(x, x)): the first is then written and the second accumulated, so
//   the kernel must finish one before it adds the other, or fuse both per element. For an op with in-place
//   options, a dx[i] of the same size as dy[0] may alias dy[0]: results must not change (compute the
//   others first, or fuse per element reading dy before writing).
// - Kernels are deterministic: the same inputs (and thread count) give bitwise the same outputs, whether
//   or not a buffer is aliased and wherever in the arena it sits. That is what makes gradients bitwise
//   equal with and without recomputation.
// - Mode::Recompute runs the forward exactly like Mode::Train (batch statistics, the same dropout mask)
//   but never updates state (batch-norm running statistics). Mode::Eval uses running statistics and no
//   dropout.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "runtime/tensor.h"

namespace sublinear::runtime {

enum class Mode { Train, Recompute, Eval };

struct OpCall {
  const ir::Node* node = nullptr;  // attributes, op name, id (the dropout RNG key) and output types
  std::vector<Tensor> in;
  std::vector<Tensor> out;
  // Backward only.
  std::vector<Tensor> dy;
  std::vector<Tensor> dx;
  std::vector<char> dx_accumulate;

  Mode mode = Mode::Train;
  uint64_t seed = 0;        // run seed: dropout masks are counter_rng(seed, iteration, node rng_key, index)
  // Data-parallel worker rank: dropout's element index is offset by shard * the tensor's size, i.e. it is
  // the index in the global batch when the batch is the tensor's leading axis.
  int64_t shard = 0;
  int64_t iteration = 0;    // training step
  void* workspace = nullptr;  // scratch of at least the planned workspace bytes (may be null if 0)
  int64_t workspace_bytes = 0;
};

// Slot i of a backward call: whether its input gradient is wanted, and whether it is added into.
inline bool grad_wanted(const OpCall& c, size_t i) { return i < c.dx.size() && c.dx[i].present(); }
inline bool grad_accumulates(const OpCall& c, size_t i) {
  return i < c.dx_accumulate.size() && c.dx_accumulate[i] != 0;
}

using KernelFn = std::function<void(const OpCall&)>;

struct OpKernels {
  KernelFn forward;
  KernelFn backward;  // null for ops without a gradient (accuracy, fills)
};

// Kernels of one backend by op name.
class KernelTable {
 public:
  void add(const std::string& op, OpKernels k);  // SL_CHECKs the op is new and registered in the IR
  const OpKernels* find(const std::string& op) const;
  const OpKernels& get(const std::string& op) const;  // SL_CHECKs presence, naming the op
  std::vector<std::string> ops() const;

 private:
  std::map<std::string, OpKernels> kernels_;
};

}  // namespace sublinear::runtime
