#pragma once
// User errors in experiment configuration and data (a bad YAML key, a missing ImageNet folder): they
// name the YAML file, line and column and the dotted key, so a person can fix them. Internal invariants
// use SL_CHECK instead.
#include <map>
#include <stdexcept>
#include <string>

namespace sublinear::runtime {

struct ConfigLoc {
  std::string file;  // the YAML file, or "--set" for a command-line override
  int line = 0;      // 1-based; 0 = unknown (a default)
  int column = 0;
  std::string key;   // dotted path: "data.root"
  std::string str() const {
    std::string s = file.empty() ? std::string("<config>") : file;
    if (line > 0) {
      s += ':';
      s += std::to_string(line);
      s += ':';
      s += std::to_string(column);
    }
    return s;
  }
};

class ConfigError : public std::runtime_error {
 public:
  // what(): "exp.yaml:12:3: error: data.root: no such directory '/data/imagenet/train'"
  ConfigError(const ConfigLoc& loc, const std::string& message)
      : std::runtime_error(format(loc, message)), loc_(loc) {}
  const ConfigLoc& loc() const { return loc_; }

 private:
  static std::string format(const ConfigLoc& loc, const std::string& message) {
    std::string s = loc.str();
    s += ": error: ";
    if (!loc.key.empty()) {
      s += loc.key;
      s += ": ";
    }
    s += message;
    return s;
  }
  ConfigLoc loc_;
};

// Where each key of a configuration came from, so errors found later (when the data is opened) still
// point at the line that set it.
struct ConfigLocs {
  std::string file;
  std::map<std::string, ConfigLoc> keys;
  ConfigLoc at(const std::string& key) const {
    auto it = keys.find(key);
    if (it != keys.end()) return it->second;
    ConfigLoc l;
    l.file = file;
    l.key = key;
    return l;
  }
};

}  // namespace sublinear::runtime
