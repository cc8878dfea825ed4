#pragma once
// The experiment YAML as a plain tree that remembers where every key and value came from (a line of the
// file or a `--set` override), so that validation, which runs after the overrides are applied, can point
// at either. Internal to experiment_config.cpp (and its tests): other code uses ExperimentConfig.
//
// Rules: maps keep document order and refuse duplicate keys; scalars keep their text as written (typing is
// the reader's job); every error is a ConfigError naming the file, line, column and dotted key.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "train/config_error.h"

namespace sublinear::runtime::train {

struct ConfigEntry;  // std::vector allows the incomplete type (C++17)

struct ConfigNode {
  enum class Kind { Null, Scalar, Sequence, Map };
  Kind kind = Kind::Null;
  std::string scalar;                // Scalar: the text as written (quotes removed)
  std::vector<ConfigNode> items;     // Sequence
  std::vector<ConfigEntry> entries;  // Map, in document order
  ConfigLoc loc;                     // where the value starts; file "--set" for an override
  std::string origin;                // "--set a.b=c" when an override produced this node, else empty

  const ConfigNode* find(std::string_view key) const;
  ConfigNode* find(std::string_view key);
  const ConfigEntry* entry(std::string_view key) const;
};

struct ConfigEntry {
  std::string key;
  ConfigLoc key_loc;  // where the key is written (unknown-key errors point here)
  ConfigNode value;
};

const char* kind_name(ConfigNode::Kind k);  // "null", "scalar", "list", "map"

// Parses YAML text (the first document); `file` names it in locations. Syntax errors and duplicate keys
// are ConfigErrors at yaml-cpp's line and column.
ConfigNode parse_config_yaml(const std::string& text, const std::string& file);

// Whether `n` was set by --set (apply_override) rather than read from the file.
bool is_override(const ConfigNode& n);

// Applies "a.b.c=value" to `root` (a Map or Null): intermediate maps are created as needed (a Null value
// becomes a map), the value is parsed as YAML (a scalar, or a flow sequence/map such as [0.5,0.5]) and
// replaces what was there; a null value ("a.b=null", "a.b=") removes the key, so it takes its default.
// Errors name the override with file "--set".
void apply_override(ConfigNode& root, const std::string& assignment);

// A ConfigError at `node`, naming `key`; a node from an override also quotes the override.
[[noreturn]] void fail_at(const ConfigNode& node, const std::string& key, const std::string& message);
[[noreturn]] void fail_at(const ConfigLoc& loc, const std::string& key, const std::string& message);

// Levenshtein distance, and the closest candidate when it is close enough to be a plausible typo.
int edit_distance(std::string_view a, std::string_view b);
std::optional<std::string> closest_match(std::string_view word, const std::vector<std::string>& candidates);

// Reads one map section with a fixed set of keys. Construction rejects unknown keys (suggesting the
// closest known one), so typos are reported before any value is looked at. Every key read is recorded
// into `locs` (dotted path → value location).
class SectionReader {
 public:
  // `node` may be null (section absent) or a Null node (written as `memory:` with nothing under it).
  SectionReader(const ConfigNode* node, std::string prefix, std::vector<std::string> known, ConfigLocs* locs,
                const std::vector<std::string>& all_dotted_keys);

  bool has(const std::string& key) const { return get(key) != nullptr; }
  const ConfigNode* get(const std::string& key) const;  // null when absent
  std::string dotted(const std::string& key) const { return prefix_.empty() ? key : prefix_ + "." + key; }
  // The location to blame for `key`: its value when present, else the section (for "missing" errors).
  ConfigLoc loc(const std::string& key) const;

  // Typed getters: keep `*out` when the key is absent; ConfigError on a wrong type or a value outside
  // [lo, hi]. Integers are decimal with an optional sign; reals accept what strtod does except nan/inf;
  // booleans are true/false/yes/no/on/off in any case, as yaml-cpp reads them.
  void get_int(const std::string& key, int64_t* out, int64_t lo, int64_t hi) const;
  void get_uint(const std::string& key, uint64_t* out) const;
  void get_real(const std::string& key, double* out, double lo, double hi, bool lo_open = false,
                bool hi_open = false) const;
  void get_bool(const std::string& key, bool* out) const;
  void get_string(const std::string& key, std::string* out) const;
  void get_choice(const std::string& key, std::string* out, const std::vector<std::string>& choices) const;
  void get_real_list(const std::string& key, std::vector<double>* out, double lo, double hi, bool lo_open) const;
  [[noreturn]] void missing(const std::string& key) const;

 private:
  const ConfigNode* node_;
  std::string prefix_;
  ConfigLocs* locs_;
  void record(const std::string& key) const;
};

// Scalar parsing shared with the readers; false when `text` is not entirely a value of that type.
bool parse_int(std::string_view text, int64_t* out);
bool parse_real(std::string_view text, double* out);
bool parse_bool(std::string_view text, bool* out);

}  // namespace sublinear::runtime::train
