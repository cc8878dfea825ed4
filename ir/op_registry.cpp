#include "ir/op_registry.h"

#include <algorithm>
#include <mutex>

#include "ir/check.h"

namespace sublinear::ir {

OpRegistry& OpRegistry::global() {
  static OpRegistry* reg = [] {
    auto* r = new OpRegistry();
    register_source_ops(*r);
    register_conv_ops(*r);
    register_norm_ops(*r);
    register_activation_ops(*r);
    register_pool_ops(*r);
    register_linear_ops(*r);
    register_elementwise_ops(*r);
    register_math_ops(*r);
    register_attention_ops(*r);
    register_resize_ops(*r);
    register_index_ops(*r);
    register_conv_transpose_ops(*r);
    register_shape_ops(*r);
    register_loss_ops(*r);
    return r;
  }();
  return *reg;
}

void OpRegistry::add(OpDef def) {
  SL_CHECK(!def.name.empty()) << "op without a name";
  SL_CHECK(find(def.name) == nullptr) << "op '" << def.name << "' registered twice";
  SL_CHECK(def.infer) << "op '" << def.name << "' has no shape inference";
  defs_.push_back(std::move(def));
}

const OpDef* OpRegistry::find(const std::string& name) const {
  for (const auto& d : defs_)
    if (d.name == name) return &d;
  return nullptr;
}

std::vector<const OpDef*> OpRegistry::all() const {
  std::vector<const OpDef*> out;
  for (const auto& d : defs_) out.push_back(&d);
  std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return a->name < b->name; });
  return out;
}

int edit_distance(const std::string& a, const std::string& b) {
  std::vector<int> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = static_cast<int>(j);
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = static_cast<int>(i);
    for (size_t j = 1; j <= b.size(); ++j) {
      int sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::vector<std::string> OpRegistry::similar(const std::string& name) const {
  std::vector<std::string> out;
  for (const auto& d : defs_)
    if (!d.is_source && edit_distance(name, d.name) <= 2) out.push_back(d.name);
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

bool kind_accepts(AttrKind kind, AttrValue& v) {
  switch (kind) {
    case AttrKind::Int: return std::holds_alternative<int64_t>(v);
    case AttrKind::Float:
      if (auto* i = std::get_if<int64_t>(&v)) {
        v = static_cast<double>(*i);
        return true;
      }
      return std::holds_alternative<double>(v);
    case AttrKind::Bool: return std::holds_alternative<bool>(v);
    case AttrKind::String: return std::holds_alternative<std::string>(v);
    case AttrKind::Ints:
      if (auto* i = std::get_if<int64_t>(&v)) {
        v = std::vector<int64_t>{*i};
        return true;
      }
      return std::holds_alternative<std::vector<int64_t>>(v);
  }
  return false;
}

const char* value_kind_name(const AttrValue& v) {
  if (std::holds_alternative<int64_t>(v)) return "int";
  if (std::holds_alternative<double>(v)) return "float";
  if (std::holds_alternative<bool>(v)) return "bool";
  if (std::holds_alternative<std::string>(v)) return "string";
  return "list";
}

}  // namespace

Attrs validate_attrs(const OpDef& def, const std::vector<std::pair<std::string, AttrValue>>& given) {
  Attrs out;
  for (const auto& entry : given) {
    const std::string& name = entry.first;
    const AttrValue& value = entry.second;
    auto spec = std::find_if(def.attrs.begin(), def.attrs.end(), [&](auto& s) { return s.name == name; });
    if (spec == def.attrs.end()) {
      std::string msg = "unknown attribute '" + name + "' for op '" + def.name + "'";
      std::string best;
      int best_d = 3;
      for (const auto& s : def.attrs) {
        int d = edit_distance(name, s.name);
        if (d < best_d) best_d = d, best = s.name;
      }
      if (!best.empty()) msg += " (did you mean '" + best + "'?)";
      std::vector<std::string> extra;
      std::string known;
      for (const auto& s : def.attrs) known += (known.empty() ? "" : ", ") + s.name;
      extra.push_back("'" + def.name + "' takes: " + (known.empty() ? "no attributes" : known));
      throw ShapeError(msg, extra);
    }
    if (out.has(name)) throw ShapeError("attribute '" + name + "' given twice");
    AttrValue v = value;
    if (!kind_accepts(spec->kind, v))
      throw ShapeError("attribute '" + name + "' of '" + def.name + "' expects " +
                       attr_kind_name(spec->kind) + ", got " + value_kind_name(value) + " " +
                       attr_value_str(value));
    if (!spec->choices.empty()) {
      const auto& s = std::get<std::string>(v);
      if (std::find(spec->choices.begin(), spec->choices.end(), s) == spec->choices.end()) {
        std::string c;
        for (const auto& ch : spec->choices) c += (c.empty() ? "" : ", ") + ("\"" + ch + "\"");
        throw ShapeError("attribute '" + name + "' of '" + def.name + "' must be one of " + c +
                         ", got \"" + s + "\"");
      }
    }
    out.set(name, std::move(v));
  }
  for (const auto& s : def.attrs) {
    if (out.has(s.name)) continue;
    if (!s.default_value)
      throw ShapeError("missing required attribute '" + s.name + "' for op '" + def.name + "'" +
                       (s.doc.empty() ? "" : " (" + s.doc + ")"));
    out.set(s.name, *s.default_value);
  }
  return out;
}

}  // namespace sublinear::ir
