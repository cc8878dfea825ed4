#include "runtime/kernel.h"

#include "ir/check.h"
#include "ir/op_registry.h"

namespace sublinear::runtime {

void KernelTable::add(const std::string& op, OpKernels k) {
  SL_CHECK(ir::OpRegistry::global().find(op) != nullptr) << "kernel for unknown op '" << op << "'";
  SL_CHECK(k.forward) << "kernel for '" << op << "' has no forward";
  SL_CHECK(kernels_.emplace(op, std::move(k)).second) << "two kernels for op '" << op << "'";
}

const OpKernels* KernelTable::find(const std::string& op) const {
  auto it = kernels_.find(op);
  return it == kernels_.end() ? nullptr : &it->second;
}

const OpKernels& KernelTable::get(const std::string& op) const {
  const OpKernels* k = find(op);
  SL_CHECK(k != nullptr) << "no kernel for op '" << op << "' in this backend";
  return *k;
}

std::vector<std::string> KernelTable::ops() const {
  std::vector<std::string> names;
  for (const auto& [name, k] : kernels_) names.push_back(name);
  return names;
}

}  // namespace sublinear::runtime
