#include "ir/attrs.h"

#include <cstdio>

#include "ir/check.h"

namespace sublinear::ir {

const char* attr_kind_name(AttrKind k) {
  switch (k) {
    case AttrKind::Int: return "int";
    case AttrKind::Float: return "float";
    case AttrKind::Bool: return "bool";
    case AttrKind::String: return "string";
    case AttrKind::Ints: return "int or [int, ...]";
  }
  return "?";
}

std::string attr_value_str(const AttrValue& v) {
  struct Visitor {
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.9g", d);
      std::string s = buf;
      if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
      return s;
    }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(const std::string& s) const { return "\"" + s + "\""; }
    std::string operator()(const std::vector<int64_t>& l) const {
      std::string out = "[";
      for (size_t i = 0; i < l.size(); ++i) out += (i ? ", " : "") + std::to_string(l[i]);
      return out + "]";
    }
  };
  return std::visit(Visitor{}, v);
}

const AttrValue& Attrs::get(const std::string& name) const {
  auto it = values_.find(name);
  SL_CHECK(it != values_.end()) << "attribute '" << name << "' missing in " << str();
  return it->second;
}

int64_t Attrs::get_int(const std::string& name) const {
  const auto& v = get(name);
  if (auto* i = std::get_if<int64_t>(&v)) return *i;
  if (auto* b = std::get_if<bool>(&v)) return *b ? 1 : 0;
  SL_CHECK(false) << "attribute '" << name << "' is not an int: " << attr_value_str(v);
  return 0;
}

double Attrs::get_float(const std::string& name) const {
  const auto& v = get(name);
  if (auto* d = std::get_if<double>(&v)) return *d;
  if (auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  SL_CHECK(false) << "attribute '" << name << "' is not a float: " << attr_value_str(v);
  return 0;
}

bool Attrs::get_bool(const std::string& name) const {
  const auto& v = get(name);
  auto* b = std::get_if<bool>(&v);
  SL_CHECK(b) << "attribute '" << name << "' is not a bool: " << attr_value_str(v);
  return *b;
}

const std::string& Attrs::get_string(const std::string& name) const {
  const auto& v = get(name);
  auto* s = std::get_if<std::string>(&v);
  SL_CHECK(s) << "attribute '" << name << "' is not a string: " << attr_value_str(v);
  return *s;
}

const std::vector<int64_t>& Attrs::get_int_list(const std::string& name) const {
  const auto& v = get(name);
  auto* l = std::get_if<std::vector<int64_t>>(&v);
  SL_CHECK(l) << "attribute '" << name << "' is not a list: " << attr_value_str(v);
  return *l;
}

std::vector<int64_t> Attrs::get_ints(const std::string& name, size_t n) const {
  const auto& v = get(name);
  if (auto* i = std::get_if<int64_t>(&v)) return std::vector<int64_t>(n, *i);
  const auto& l = get_int_list(name);
  if (l.size() == 1) return std::vector<int64_t>(n, l[0]);
  SL_CHECK(l.size() == n) << "attribute '" << name << "' has " << l.size() << " entries, expected " << n;
  return l;
}

std::string Attrs::str() const {
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : values_) {
    if (!first) out += ", ";
    first = false;
    out += k + "=" + attr_value_str(v);
  }
  return out + "}";
}

}  // namespace sublinear::ir
