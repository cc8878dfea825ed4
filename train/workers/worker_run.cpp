#include "train/workers/worker_run.h"

#include <algorithm>
#include <sstream>
#include <stdexcept>

#include "ir/format_util.h"
#include "runtime/checkpoint.h"
#include "runtime/fnv1a.h"

namespace sublinear::runtime::train {

void check_same_everywhere(Communicator& comm, const std::string& what, const std::string& mine) {
  const std::vector<std::string> all = comm.gather_all(mine);
  std::string differ;
  for (size_t r = 1; r < all.size(); ++r)
    if (all[r] != all[0]) differ += (differ.empty() ? "" : ", ") + std::to_string(r);
  if (differ.empty()) return;
  const bool one = differ.find(',') == std::string::npos;
  throw std::runtime_error("the workers disagree on the " + what + ": worker" + (one ? " " : "s ") + differ +
                           (one ? " differs" : " differ") + " from worker 0 (" +
                           all[0] + " there); every worker must run the same build on the same model, experiment " +
                           "and checkpoint");
}

std::string state_hash(TrainingProgram& program) {
  CheckpointContents c;
  program.save_state(c);
  uint64_t h = kFnvOffset;
  for (const CheckpointBlob& b : c.blobs) {
    h = fnv1a64(b.name, h);
    h = fnv1a64(b.data, b.size, h);
  }
  std::ostringstream s;
  s << std::hex << h;
  return s.str();
}

AutoBudget shared_auto_budget(Communicator& comm, const AutoBudget& mine, bool host_memory) {
  AutoBudget share = mine;
  const int sharing = host_memory ? comm.local_size() : 1;
  share.bytes /= sharing;
  share.free_bytes /= sharing;
  if (sharing > 1)
    share.source += ", shared by the " + std::to_string(comm.local_size()) + " workers on this machine";
  const std::vector<std::string> all = comm.gather_all(std::to_string(share.bytes));
  int64_t least = share.bytes;
  for (const std::string& b : all) least = std::min<int64_t>(least, std::stoll(b));
  if (least < share.bytes) {
    share.source += "; the smallest over the workers, so all plan alike";
    share.bytes = least;
  }
  return share;
}

float mean_over_workers(Communicator* comm, float value) {
  if (comm == nullptr || comm->size() == 1) return value;
  double v = value;
  comm->sum(&v, 1);
  return static_cast<float>(v / comm->size());
}

int checkpoint_workers(const std::string& rng_state) {
  const auto at = rng_state.find("workers=");
  if (at == std::string::npos) return 1;
  try {
    return std::max(1, std::stoi(rng_state.substr(at + 8)));
  } catch (const std::exception&) {
    return 1;
  }
}

bool has_dropout(const ir::Graph& g) {
  for (ir::NodeId id = 0; id < static_cast<ir::NodeId>(g.size()); ++id)
    if (g.node(id).op == "dropout") return true;
  return false;
}

}  // namespace sublinear::runtime::train
