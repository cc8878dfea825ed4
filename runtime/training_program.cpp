#include "runtime/training_program.h"

#include <unordered_map>

#include "ir/check.h"

namespace sublinear::runtime::train {

void HostOptimizerState::ensure(const std::vector<ParamBuffer>& params, int slots) {
  if (slots_ == slots && s0_.size() == params.size()) return;
  SL_CHECK(slots_ < 0) << "the optimizer changed from " << slots_ << " to " << slots << " state slots mid-run";
  slots_ = slots;
  s0_.assign(params.size(), {});
  s1_.assign(params.size(), {});
  for (size_t i = 0; i < params.size(); ++i) {
    if (!params[i].trainable || !params[i].has_grad) continue;
    const size_t n = static_cast<size_t>(ir::num_elements(params[i].type.shape));
    if (slots >= 1) s0_[i].assign(n, 0.0f);
    if (slots >= 2) s1_[i].assign(n, 0.0f);
  }
}

void HostOptimizerState::apply(std::vector<ParamBuffer>& params, const OptimizerConfig& c, double lr, int64_t step) {
  ensure(params, optimizer_state_slots(c));
  std::vector<ParamSlot> slots;
  for (size_t i = 0; i < params.size(); ++i) {
    auto& p = params[i];
    if (!p.trainable || !p.has_grad) continue;
    ParamSlot s;
    s.w = p.data;
    s.g = p.grad;
    s.state0 = s0_[i].empty() ? nullptr : s0_[i].data();
    s.state1 = s1_[i].empty() ? nullptr : s1_[i].data();
    s.n = ir::num_elements(p.type.shape);
    slots.push_back(s);
  }
  optimizer_step(c, lr, step, slots);
}

void HostOptimizerState::save(const std::vector<ParamBuffer>& params, CheckpointContents& c) const {
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& p = params[i];
    c.add("param/" + p.name, p.data, static_cast<size_t>(p.type.bytes()));
    if (i < s0_.size() && !s0_[i].empty()) c.add("opt0/" + p.name, s0_[i].data(), s0_[i].size() * sizeof(float));
    if (i < s1_.size() && !s1_[i].empty()) c.add("opt1/" + p.name, s1_[i].data(), s1_[i].size() * sizeof(float));
  }
}

void HostOptimizerState::load(std::vector<ParamBuffer>& params, const CheckpointContents& c) {
  // The state slots the checkpoint holds decide the optimizer's: a resumed run must use the same one
  // (the experiment hash includes the optimizer), so the first apply() finds them allocated.
  int slots = 0;
  for (const auto& p : params) {
    if (c.find("opt1/" + p.name)) slots = 2;
    else if (c.find("opt0/" + p.name)) slots = std::max(slots, 1);
  }
  ensure(params, slots);
  for (size_t i = 0; i < params.size(); ++i) {
    auto& p = params[i];
    c.copy_to("param/" + p.name, p.data, static_cast<size_t>(p.type.bytes()));
    if (!s0_[i].empty()) c.copy_to("opt0/" + p.name, s0_[i].data(), s0_[i].size() * sizeof(float));
    if (!s1_[i].empty()) c.copy_to("opt1/" + p.name, s1_[i].data(), s1_[i].size() * sizeof(float));
  }
}

float ExecutorProgram::output_scalar(size_t index) const {
  Tensor t = ex_.output(index);
  SL_CHECK(t.type.dtype == ir::DType::F32 && t.numel() == 1) << "output " << index << " is " << t.type.str();
  return *t.f32();
}

}  // namespace sublinear::runtime::train

namespace sublinear::runtime::train {

std::vector<std::vector<size_t>> ExecutorProgram::finished_at_step() const {
  const StepCalls& calls = ex_.step_calls();
  std::vector<std::vector<size_t>> at(calls.steps.size());
  if (calls.steps.empty()) return at;
  const std::vector<ParamBuffer>& params = ex_.params();
  std::vector<int64_t> last(params.size(), -1);
  std::unordered_map<const void*, size_t> by_grad;
  for (size_t i = 0; i < params.size(); ++i)
    if (params[i].grad != nullptr) by_grad.emplace(params[i].grad, i);
  for (size_t s = 0; s < calls.steps.size(); ++s) {
    if (calls.steps[s].kind != planner::StepKind::Backward) continue;
    for (const Tensor& dx : calls.steps[s].call.dx)
      if (auto it = by_grad.find(dx.data); dx.present() && it != by_grad.end()) last[it->second] = static_cast<int64_t>(s);
  }
  for (size_t i = 0; i < params.size(); ++i) {
    if (!params[i].trainable || !params[i].has_grad || params[i].grad == nullptr) continue;
    SL_CHECK(last[i] >= 0) << "no backward step writes the gradient of " << params[i].name;
    at[static_cast<size_t>(last[i])].push_back(i);
  }
  return at;
}

std::vector<size_t> ExecutorProgram::gradient_ready_order() const {
  std::vector<size_t> order;
  for (const auto& params : finished_at_step()) order.insert(order.end(), params.begin(), params.end());
  return order;
}

bool ExecutorProgram::set_gradient_ready_hook(std::function<void(size_t param)> hook) {
  auto at = finished_at_step();
  if (at.empty()) return false;
  return ex_.set_step_hook([at = std::move(at), hook = std::move(hook)](size_t step) {
    for (size_t p : at[step]) hook(p);
  });
}

}  // namespace sublinear::runtime::train
