#include "runtime/training_program.h"

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
