#pragma once
// Attribute values of IR nodes. After the frontend validates a call against the op's schema, a node's
// Attrs hold every attribute of the schema (defaults filled in), so passes never guess.
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace sublinear::ir {

using AttrValue = std::variant<int64_t, double, bool, std::string, std::vector<int64_t>>;

enum class AttrKind {
  Int,
  Float,   // accepts ints too
  Bool,
  String,  // with an optional list of allowed choices
  Ints,    // a list of ints; a single int is accepted and broadcast by the op
};

const char* attr_kind_name(AttrKind k);
std::string attr_value_str(const AttrValue& v);

class Attrs {
 public:
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  void set(const std::string& name, AttrValue v) { values_[name] = std::move(v); }
  const AttrValue& get(const std::string& name) const;  // SL_CHECKs presence

  int64_t get_int(const std::string& name) const;
  double get_float(const std::string& name) const;  // ints convert
  bool get_bool(const std::string& name) const;
  const std::string& get_string(const std::string& name) const;
  // A list attribute expanded to `n` entries (a single value is repeated).
  std::vector<int64_t> get_ints(const std::string& name, size_t n) const;
  const std::vector<int64_t>& get_int_list(const std::string& name) const;

  const std::map<std::string, AttrValue>& values() const { return values_; }
  std::string str() const;  // "{kernel=3, stride=[2, 2]}" in name order
  bool operator==(const Attrs& o) const { return values_ == o.values_; }

 private:
  std::map<std::string, AttrValue> values_;
};

}  // namespace sublinear::ir
