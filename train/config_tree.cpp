// The experiment YAML as a located tree, overrides and typed section readers. Rules: yaml-cpp marks are
// 0-based and ConfigLoc is 1-based; override nodes carry file "--set" and the override text, so any
// error about a value they set quotes it.
#include "train/config_tree.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>

namespace sublinear::runtime::train {

namespace {

const std::string kSet = "--set";

ConfigLoc loc_of(const YAML::Mark& m, const std::string& file) {
  ConfigLoc l;
  l.file = file;
  if (m.line >= 0) {
    l.line = m.line + 1;
    l.column = m.column + 1;
  }
  return l;
}

// Bounds on what one document may expand to. yaml-cpp keeps an alias as a reference to its anchor's
// node, so `a: &a [*a]` is a cycle and nine levels of nine aliases are 9^9 values once copied out: the
// conversion would recurse until the stack overflows, or fill the memory. An experiment file is a few
// levels deep and has tens of values.
constexpr int kMaxDepth = 64;
constexpr int64_t kMaxValues = 100'000;

struct Budget {
  int depth = 0;
  int64_t values = 0;
};

// `fallback` is used when yaml-cpp has no mark for the node (an implicit null such as `lr:`).
ConfigNode convert(const YAML::Node& n, const std::string& file, const ConfigLoc& fallback, Budget& budget) {
  ConfigNode out;
  out.loc = loc_of(n.Mark(), file);
  if (out.loc.line == 0) out.loc = fallback;
  if (++budget.values > kMaxValues)
    throw ConfigError(out.loc, "the document expands to more than " + std::to_string(kMaxValues) +
                                   " values (YAML aliases copy what their anchor holds)");
  if (budget.depth >= kMaxDepth)
    throw ConfigError(out.loc, "values nested deeper than " + std::to_string(kMaxDepth) +
                                   " levels (a YAML alias inside the value its anchor names?)");
  ++budget.depth;
  struct Leave {
    int& depth;
    ~Leave() { --depth; }
  } leave{budget.depth};
  switch (n.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      out.kind = ConfigNode::Kind::Null;
      break;
    case YAML::NodeType::Scalar:
      out.kind = ConfigNode::Kind::Scalar;
      out.scalar = n.Scalar();
      break;
    case YAML::NodeType::Sequence:
      out.kind = ConfigNode::Kind::Sequence;
      for (const auto& item : n) out.items.push_back(convert(item, file, out.loc, budget));
      break;
    case YAML::NodeType::Map:
      out.kind = ConfigNode::Kind::Map;
      for (const auto& kv : n) {
        ConfigLoc kl = loc_of(kv.first.Mark(), file);
        if (kl.line == 0) kl = out.loc;
        if (!kv.first.IsScalar()) throw ConfigError(kl, "keys must be plain names");
        const std::string key = kv.first.Scalar();
        if (out.find(key) != nullptr) {
          kl.key = key;
          throw ConfigError(kl, "duplicate key (first set at line " +
                                    std::to_string(out.entry(key)->key_loc.line) + ")");
        }
        ConfigEntry e;
        e.key = key;
        e.key_loc = kl;
        e.value = convert(kv.second, file, kl, budget);
        // An empty value (`lr:`) has no text of its own: yaml-cpp marks where the next token starts.
        if (e.value.kind == ConfigNode::Kind::Null) e.value.loc = kl;
        out.entries.push_back(std::move(e));
      }
      break;
  }
  return out;
}

void mark_override(ConfigNode& n, const std::string& origin, const std::string& key) {
  n.loc = ConfigLoc{kSet, 0, 0, key};
  n.origin = origin;
  for (auto& item : n.items) mark_override(item, origin, key);
  for (auto& e : n.entries) {
    e.key_loc = ConfigLoc{kSet, 0, 0, key + "." + e.key};
    mark_override(e.value, origin, key + "." + e.key);
  }
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string quoted(const std::string& s) {
  std::string q = "'";
  q += s;
  q += '\'';
  return q;
}

std::string describe(const ConfigNode& n) {
  if (n.kind == ConfigNode::Kind::Scalar) return quoted(n.scalar);
  std::string s = "a ";
  s += kind_name(n.kind);
  return s;
}

std::string fmt_real(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

}  // namespace

const char* kind_name(ConfigNode::Kind k) {
  switch (k) {
    case ConfigNode::Kind::Null: return "null";
    case ConfigNode::Kind::Scalar: return "scalar";
    case ConfigNode::Kind::Sequence: return "list";
    case ConfigNode::Kind::Map: return "map";
  }
  return "?";
}

const ConfigEntry* ConfigNode::entry(std::string_view key) const {
  for (const auto& e : entries)
    if (e.key == key) return &e;
  return nullptr;
}

const ConfigNode* ConfigNode::find(std::string_view key) const {
  const ConfigEntry* e = entry(key);
  return e ? &e->value : nullptr;
}

ConfigNode* ConfigNode::find(std::string_view key) {
  for (auto& e : entries)
    if (e.key == key) return &e.value;
  return nullptr;
}

ConfigNode parse_config_yaml(const std::string& text, const std::string& file) {
  YAML::Node doc;
  try {
    doc = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(loc_of(e.mark, file), "YAML syntax: " + e.msg);
  }
  Budget budget;
  return convert(doc, file, ConfigLoc{file, 1, 1, ""}, budget);
}

bool is_override(const ConfigNode& n) { return n.loc.file == kSet; }

void apply_override(ConfigNode& root, const std::string& assignment) {
  const std::string origin = kSet + " " + assignment;
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos)
    throw ConfigError(ConfigLoc{kSet, 0, 0, ""}, "'" + assignment + "': expected key=value, e.g. batch=64");
  const std::string key = trim(std::string_view(assignment).substr(0, eq));
  const std::string text = assignment.substr(eq + 1);
  const ConfigLoc at{kSet, 0, 0, key};

  std::vector<std::string> path;
  size_t start = 0;
  for (;;) {
    const size_t dot = key.find('.', start);
    path.push_back(key.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (path.back().empty()) throw ConfigError(at, "empty key segment in '" + assignment + "'");
    if (dot == std::string::npos) break;
    start = dot + 1;
  }

  ConfigNode value;
  try {
    Budget budget;
    value = convert(YAML::Load(text), kSet, at, budget);
  } catch (const YAML::Exception& e) {
    throw ConfigError(at, "cannot parse the value '" + text + "' (" + e.msg + ")");
  }
  mark_override(value, origin, key);

  ConfigNode* cur = &root;
  std::string walked;
  for (size_t i = 0; i < path.size(); ++i) {
    if (cur->kind == ConfigNode::Kind::Null) {
      cur->kind = ConfigNode::Kind::Map;
      if (cur->loc.line == 0) cur->origin = origin;
    }
    if (cur->kind != ConfigNode::Kind::Map) {
      ConfigLoc l = cur->loc;
      l.key = walked;
      throw ConfigError(l, "is a " + std::string(kind_name(cur->kind)) + ", not a section: cannot set '" + key +
                               "' (" + origin + ")");
    }
    if (!walked.empty()) walked += '.';
    walked += path[i];
    ConfigNode* next = cur->find(path[i]);
    if (next == nullptr) {
      ConfigEntry e;
      e.key = path[i];
      e.key_loc = ConfigLoc{kSet, 0, 0, walked};
      e.value.kind = ConfigNode::Kind::Null;
      e.value.loc = e.key_loc;
      e.value.origin = origin;
      cur->entries.push_back(std::move(e));
      next = &cur->entries.back().value;
    }
    if (i + 1 == path.size() && value.kind == ConfigNode::Kind::Null) {
      // key=null (or key=) unsets: the key falls back to its default.
      std::erase_if(cur->entries, [&](const ConfigEntry& e) { return e.key == path[i]; });
      return;
    }
    if (i + 1 == path.size()) {
      *next = std::move(value);
      // The key now comes from the override too, so unknown-key errors name it.
      for (auto& e : cur->entries)
        if (e.key == path[i]) e.key_loc = ConfigLoc{kSet, 0, 0, walked};
    }
    cur = next;
  }
}

[[noreturn]] void fail_at(const ConfigLoc& loc, const std::string& key, const std::string& message) {
  ConfigLoc l = loc;
  l.key = key;
  throw ConfigError(l, message);
}

[[noreturn]] void fail_at(const ConfigNode& node, const std::string& key, const std::string& message) {
  if (node.origin.empty()) fail_at(node.loc, key, message);
  std::string m = message;
  m += " (from ";
  m += node.origin;
  m += ')';
  fail_at(node.loc, key, m);
}

int edit_distance(std::string_view a, std::string_view b) {
  std::vector<int> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = static_cast<int>(j);
  for (size_t i = 1; i <= a.size(); ++i) {
    int diag = row[0];
    row[0] = static_cast<int>(i);
    for (size_t j = 1; j <= b.size(); ++j) {
      const int up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::optional<std::string> closest_match(std::string_view word, const std::vector<std::string>& candidates) {
  // A third of the word's length (at least 1, at most 3) keeps "optimzer" -> "optimizer" and refuses
  // matches that share little more than their length.
  const int limit = std::clamp(static_cast<int>(word.size()) / 3, 1, 3);
  std::optional<std::string> best;
  int best_d = limit + 1;
  for (const auto& c : candidates) {
    const int d = edit_distance(lower(word), lower(c));
    if (d < best_d && d < static_cast<int>(c.size())) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

bool parse_int(std::string_view text, int64_t* out) {
  if (!text.empty() && text[0] == '+') text.remove_prefix(1);
  if (text.empty()) return false;
  auto r = std::from_chars(text.data(), text.data() + text.size(), *out);
  return r.ec == std::errc() && r.ptr == text.data() + text.size();
}

bool parse_real(std::string_view text, double* out) {
  if (!text.empty() && text[0] == '+') text.remove_prefix(1);
  if (text.empty()) return false;
  auto r = std::from_chars(text.data(), text.data() + text.size(), *out);
  return r.ec == std::errc() && r.ptr == text.data() + text.size() && std::isfinite(*out);
}

bool parse_bool(std::string_view text, bool* out) {
  const std::string s = lower(text);
  if (s == "true" || s == "yes" || s == "on") {
    *out = true;
    return true;
  }
  if (s == "false" || s == "no" || s == "off") {
    *out = false;
    return true;
  }
  return false;
}

SectionReader::SectionReader(const ConfigNode* node, std::string prefix, std::vector<std::string> known,
                             ConfigLocs* locs, const std::vector<std::string>& all_dotted_keys)
    : node_(node), prefix_(std::move(prefix)), locs_(locs) {
  if (node_ != nullptr && node_->kind == ConfigNode::Kind::Null) node_ = nullptr;
  if (node_ == nullptr) return;
  if (node_->kind != ConfigNode::Kind::Map)
    fail_at(*node_, prefix_, "expected a section of keys, got " + describe(*node_));
  for (const auto& e : node_->entries) {
    const std::string d = dotted(e.key);
    if (std::find(known.begin(), known.end(), e.key) == known.end()) {
      std::string msg = "unknown key '" + e.key + "'";
      std::optional<std::string> hint = closest_match(e.key, known);
      if (!hint) {
        // A key written in the wrong section: `lr:` at the top level means optimizer.lr.
        for (const auto& k : all_dotted_keys) {
          const size_t dot = k.rfind('.');
          if (dot != std::string::npos && k.compare(dot + 1, std::string::npos, e.key) == 0 && k != d) {
            hint = k;
            break;
          }
        }
      } else if (!prefix_.empty()) {
        hint = dotted(*hint);
      }
      if (hint) msg += " (did you mean '" + *hint + "'?)";
      else if (!known.empty()) {
        msg += "; known keys";
        msg += prefix_.empty() ? std::string() : " of " + prefix_;
        msg += ':';
        for (const auto& k : known) msg += " " + k;
      }
      if (!e.value.origin.empty()) msg += " (from " + e.value.origin + ")";
      fail_at(e.key_loc, d, msg);
    }
    record(e.key);
  }
}

const ConfigNode* SectionReader::get(const std::string& key) const {
  return node_ != nullptr ? node_->find(key) : nullptr;
}

void SectionReader::record(const std::string& key) const {
  if (locs_ != nullptr) locs_->keys[dotted(key)] = loc(key);
}

ConfigLoc SectionReader::loc(const std::string& key) const {
  ConfigLoc l;
  if (const ConfigEntry* e = node_ != nullptr ? node_->entry(key) : nullptr) {
    l = e->value.loc.line > 0 || e->value.loc.file == kSet ? e->value.loc : e->key_loc;
  } else if (node_ != nullptr) {
    l = node_->loc;
  } else {
    l.file = locs_ != nullptr ? locs_->file : std::string();
  }
  l.key = dotted(key);
  return l;
}

void SectionReader::missing(const std::string& key) const { fail_at(loc(key), dotted(key), "missing required key"); }

namespace {

// The scalar text of `n`, or a ConfigError saying what `what` expected instead.
const std::string& scalar_of(const ConfigNode& n, const std::string& key, const char* what) {
  if (n.kind == ConfigNode::Kind::Null) fail_at(n, key, std::string("missing value: expected ") + what);
  if (n.kind != ConfigNode::Kind::Scalar) fail_at(n, key, std::string("expected ") + what + ", got " + describe(n));
  return n.scalar;
}

}  // namespace

void SectionReader::get_int(const std::string& key, int64_t* out, int64_t lo, int64_t hi) const {
  const ConfigNode* n = get(key);
  if (n == nullptr) return;
  int64_t v = 0;
  if (!parse_int(scalar_of(*n, dotted(key), "an integer"), &v))
    fail_at(*n, dotted(key), "expected an integer, got " + describe(*n));
  if (v < lo || v > hi) {
    std::string range = hi == std::numeric_limits<int64_t>::max()
                            ? "at least " + std::to_string(lo)
                            : "between " + std::to_string(lo) + " and " + std::to_string(hi);
    fail_at(*n, dotted(key), "must be " + range + ", got " + std::to_string(v));
  }
  *out = v;
}

void SectionReader::get_uint(const std::string& key, uint64_t* out) const {
  const ConfigNode* n = get(key);
  if (n == nullptr) return;
  const std::string& s = scalar_of(*n, dotted(key), "a non-negative integer");
  uint64_t v = 0;
  std::string_view t = s;
  if (!t.empty() && t[0] == '+') t.remove_prefix(1);
  auto r = std::from_chars(t.data(), t.data() + t.size(), v);
  if (t.empty() || r.ec != std::errc() || r.ptr != t.data() + t.size())
    fail_at(*n, dotted(key), "expected a non-negative integer below 2^64, got " + describe(*n));
  *out = v;
}

void SectionReader::get_real(const std::string& key, double* out, double lo, double hi, bool lo_open,
                             bool hi_open) const {
  const ConfigNode* n = get(key);
  if (n == nullptr) return;
  double v = 0;
  if (!parse_real(scalar_of(*n, dotted(key), "a number"), &v))
    fail_at(*n, dotted(key), "expected a number, got " + describe(*n));
  if ((lo_open ? !(v > lo) : !(v >= lo)) || (hi_open ? !(v < hi) : !(v <= hi))) {
    std::string range;
    if (hi == std::numeric_limits<double>::max()) {
      range = lo_open ? "greater than " : "at least ";
      range += fmt_real(lo);
    } else {
      range = lo_open ? "in (" : "in [";
      range += fmt_real(lo);
      range += ", ";
      range += fmt_real(hi);
      range += hi_open ? ")" : "]";
    }
    fail_at(*n, dotted(key), "must be " + range + ", got " + n->scalar);
  }
  *out = v;
}

void SectionReader::get_bool(const std::string& key, bool* out) const {
  const ConfigNode* n = get(key);
  if (n == nullptr) return;
  if (!parse_bool(scalar_of(*n, dotted(key), "true or false"), out))
    fail_at(*n, dotted(key), "expected true or false, got " + describe(*n));
}

void SectionReader::get_string(const std::string& key, std::string* out) const {
  const ConfigNode* n = get(key);
  if (n == nullptr) return;
  *out = scalar_of(*n, dotted(key), "a string");
}

void SectionReader::get_choice(const std::string& key, std::string* out,
                               const std::vector<std::string>& choices) const {
  const ConfigNode* n = get(key);
  if (n == nullptr) return;
  const std::string& s = scalar_of(*n, dotted(key), "a name");
  if (std::find(choices.begin(), choices.end(), s) != choices.end()) {
    *out = s;
    return;
  }
  std::string msg = "expected one of";
  for (size_t i = 0; i < choices.size(); ++i) {
    msg += i == 0 ? " " : (i + 1 == choices.size() ? " or " : ", ");
    msg += choices[i];
  }
  msg += ", got " + quoted(s);
  if (auto hint = closest_match(s, choices)) msg += " (did you mean '" + *hint + "'?)";
  fail_at(*n, dotted(key), msg);
}

void SectionReader::get_real_list(const std::string& key, std::vector<double>* out, double lo, double hi,
                                  bool lo_open) const {
  const ConfigNode* n = get(key);
  if (n == nullptr) return;
  if (n->kind != ConfigNode::Kind::Sequence || n->items.empty())
    fail_at(*n, dotted(key), "expected a non-empty list of numbers such as [0.5, 0.5, 0.5], got " + describe(*n));
  std::vector<double> v;
  for (const auto& item : n->items) {
    double x = 0;
    if (item.kind != ConfigNode::Kind::Scalar || !parse_real(item.scalar, &x))
      fail_at(item, dotted(key), "expected a number in the list, got " + describe(item));
    if ((lo_open ? !(x > lo) : !(x >= lo)) || x > hi)
      fail_at(item, dotted(key),
              "each value must be " + std::string(lo_open ? "greater than " : "at least ") + fmt_real(lo) +
                  (hi == std::numeric_limits<double>::max() ? std::string() : " and at most " + fmt_real(hi)) +
                  ", got " + item.scalar);
    v.push_back(x);
  }
  *out = std::move(v);
}

}  // namespace sublinear::runtime::train
