// Experiment configuration: the schema of experiment_config.h applied to the located tree of
// config_tree.h. Rules: unknown keys are rejected per section before any value is read; keys that only
// apply to another variant (adam's betas under sgd) are errors rather than silently ignored; every check
// that fails names the key and where it was set.
#include "train/experiment_config.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ir/diagnostic.h"
#include "ir/path_check.h"
#include "planner/cost_profile.h"
#include "train/config_tree.h"
#include "runtime/fnv1a.h"

namespace sublinear::runtime::train {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kMaxI64 = std::numeric_limits<int64_t>::max();
constexpr double kMaxReal = std::numeric_limits<double>::max();

const std::vector<std::string> kTopKeys = {"model",     "batch", "device", "seed", "steps",      "epochs",
                                           "data",      "memory", "optimizer", "schedule", "log", "run_dir",
                                           "checkpoint", "deterministic", "workers"};
const std::vector<std::string> kModelKeys = {"file", "params", "name"};
const std::vector<std::string> kDataKeys = {"kind",    "root",      "path",      "level", "workers", "prefetch",
                                            "shuffle", "min_scale", "max_scale", "flip",  "mean",    "std",
                                            "bad_images"};
const std::vector<std::string> kMemoryKeys = {"policy", "budget", "inplace", "sharing", "costs", "fusion"};
const std::vector<std::string> kOptimizerKeys = {"kind",  "lr",    "momentum", "nesterov", "weight_decay",
                                                 "beta1", "beta2", "eps",      "clip_grad_norm"};
const std::vector<std::string> kScheduleKeys = {"kind", "warmup_steps", "step_size", "gamma", "min_lr"};
const std::vector<std::string> kLogKeys = {"every", "file"};
const std::vector<std::string> kCheckpointKeys = {"every", "keep", "dir"};
const std::vector<std::string> kWorkersKeys = {"bucket", "overlap"};

// Every leaf of the schema, dotted: hints for a key written in the wrong section.
const std::vector<std::string>& all_dotted_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> k;
    auto add = [&](const std::string& section, const std::vector<std::string>& leaves) {
      for (const auto& l : leaves) k.push_back(section + "." + l);
    };
    for (const char* top : {"batch", "device", "seed", "steps", "epochs", "run_dir", "deterministic"})
      k.emplace_back(top);
    add("model", kModelKeys);
    add("data", kDataKeys);
    add("memory", kMemoryKeys);
    add("optimizer", kOptimizerKeys);
    add("schedule", kScheduleKeys);
    add("log", kLogKeys);
    add("workers", kWorkersKeys);
    add("checkpoint", kCheckpointKeys);
    return k;
  }();
  return keys;
}

struct Context {
  std::string file;
  fs::path dir;  // the YAML folder, absolute
  ConfigLocs* locs;
};

// A path value: relative to the YAML folder when written there, to the working directory when it came
// from --set.
std::string resolve_path(const Context& cx, const ConfigNode& node, const std::string& value) {
  fs::path p(value);
  if (p.is_relative()) p = (node.origin.empty() ? cx.dir : fs::current_path()) / p;
  return p.lexically_normal().string();
}

void get_path(const Context& cx, const SectionReader& r, const std::string& key, std::string* out) {
  const ConfigNode* n = r.get(key);
  if (n == nullptr) return;
  std::string s;
  r.get_string(key, &s);
  if (s.empty()) fail_at(*n, r.dotted(key), "expected a path, got an empty string");
  *out = resolve_path(cx, *n, s);
}

// "key applies to X only" for keys of another variant.
void only_for(const SectionReader& r, const std::vector<std::string>& keys, const std::string& what) {
  for (const auto& k : keys)
    if (const ConfigNode* n = r.get(k)) fail_at(*n, r.dotted(k), "applies to " + what + " only");
}

void read_model(const Context& cx, const SectionReader& top, ExperimentConfig& cfg) {
  SectionReader r(top.get("model"), "model", kModelKeys, cx.locs, all_dotted_keys());
  if (!r.has("file")) r.missing("file");
  get_path(cx, r, "file", &cfg.model.file);
  if (const std::string why = ir::regular_file_problem(cfg.model.file); !why.empty())
    fail_at(*r.get("file"), "model.file",
            why == "no such file" ? "no such file '" + cfg.model.file + "'"
                                  : "'" + cfg.model.file + "' " + why + "; model.file names a .snet file");
  r.get_string("name", &cfg.model.name);
  const ConfigNode* params = r.get("params");
  if (params == nullptr || params->kind == ConfigNode::Kind::Null) return;
  if (params->kind != ConfigNode::Kind::Map)
    fail_at(*params, "model.params", "expected a map of param names to values, such as {depth: 50}");
  for (const auto& e : params->entries) {
    const std::string key = "model.params." + e.key;
    if (e.value.kind != ConfigNode::Kind::Scalar)
      fail_at(e.value, key, std::string("expected a single value, got a ") + kind_name(e.value.kind));
    cfg.model.params.emplace_back(e.key, e.value.scalar);
    ConfigLoc l = e.value.loc;
    l.key = key;
    cx.locs->keys[key] = l;
  }
}

void read_device(const SectionReader& top, ExperimentConfig& cfg) {
  const ConfigNode* n = top.get("device");
  if (n == nullptr) return;
  std::string s;
  top.get_string("device", &s);
  int64_t index = 0;
  if (s == "cpu") {
    cfg.device = DeviceConfig{DeviceKind::Cpu, 0};
  } else if (s == "cuda") {
    cfg.device = DeviceConfig{DeviceKind::Cuda, 0};
  } else if (s.rfind("cuda:", 0) == 0 && parse_int(std::string_view(s).substr(5), &index) && index >= 0 &&
             index < 1024 && s[5] != '+') {
    cfg.device = DeviceConfig{DeviceKind::Cuda, static_cast<int>(index)};
  } else {
    fail_at(*n, "device", "expected cpu, cuda or cuda:N (N = 0, 1, ...), got '" + s + "'");
  }
}

void read_length(const SectionReader& top, ExperimentConfig& cfg) {
  const ConfigNode* steps = top.get("steps");
  const ConfigNode* epochs = top.get("epochs");
  if (steps != nullptr && epochs != nullptr)
    fail_at(*epochs, "epochs", "steps and epochs are exclusive: give one (steps is set at " +
                                   (steps->origin.empty() ? steps->loc.str() : steps->origin) + ")");
  if (steps == nullptr && epochs == nullptr)
    fail_at(top.loc("steps"), "steps", "missing required key: give steps or epochs");
  top.get_int("steps", &cfg.steps, 1, kMaxI64);
  top.get_real("epochs", &cfg.epochs, 0, 1e9, true);
}

void read_data(const Context& cx, const SectionReader& top, ExperimentConfig& cfg) {
  SectionReader r(top.get("data"), "data", kDataKeys, cx.locs, all_dotted_keys());
  data::DataConfig& d = cfg.data;
  r.get_choice("kind", &d.kind, {"synthetic", "imagenet", "text"});
  get_path(cx, r, "root", &d.root);
  get_path(cx, r, "path", &d.path);
  r.get_choice("level", &d.level, {"char", "byte"});
  int64_t workers = d.workers, prefetch = d.prefetch;
  r.get_int("workers", &workers, 1, 1024);
  r.get_int("prefetch", &prefetch, 1, 1024);
  d.workers = static_cast<int>(workers);
  d.prefetch = static_cast<int>(prefetch);
  r.get_bool("shuffle", &d.shuffle);
  r.get_choice("bad_images", &d.bad_images, {"error", "skip"});
  r.get_bool("flip", &d.flip);
  r.get_real("min_scale", &d.min_scale, 0, 1, true);
  r.get_real("max_scale", &d.max_scale, 0, 1, true);
  if (d.min_scale > d.max_scale) {
    const std::string key = r.has("max_scale") ? "max_scale" : "min_scale";
    fail_at(*r.get(key), r.dotted(key), "data.min_scale must not exceed data.max_scale");
  }
  r.get_real_list("mean", &d.mean, -kMaxReal, kMaxReal, false);
  r.get_real_list("std", &d.std, 0, kMaxReal, true);
  if (d.mean.size() != d.std.size()) {
    const std::string key = r.has("std") ? "std" : "mean";
    fail_at(*r.get(key), r.dotted(key),
            "data.mean has " + std::to_string(d.mean.size()) + " values and data.std " +
                std::to_string(d.std.size()) + ": give one per channel in both");
  }
  if (d.kind == "imagenet" && d.root.empty()) fail_at(r.loc("root"), "data.root", "required for kind imagenet");
  if (d.kind == "text" && d.path.empty()) fail_at(r.loc("path"), "data.path", "required for kind text");
  d.locs.file = cx.file;
  for (const auto& [key, loc] : cx.locs->keys)
    if (key.rfind("data.", 0) == 0) d.locs.keys[key] = loc;
}

void read_memory(const Context& cx, const SectionReader& top, ExperimentConfig& cfg) {
  SectionReader r(top.get("memory"), "memory", kMemoryKeys, &cfg.locs, all_dotted_keys());
  MemoryConfig& m = cfg.memory;
  if (r.get("costs")) {
    std::string text;
    r.get_string("costs", &text);
    // A cost model by name, else a profile's path (relative to this file).
    if (planner::is_cost_model_name(text)) m.costs = text;
    else get_path(cx, r, "costs", &m.costs);
  }
  r.get_choice("policy", &m.policy, {"none", "drop-cheap", "sqrt", "log", "budget"});
  if (const ConfigNode* b = r.get("budget")) {
    std::string text;
    r.get_string("budget", &text);
    if (text == "auto") {
      m.budget_auto = true;
    } else {
      try {
        m.budget_bytes = planner::parse_size(text, "memory.budget");
      } catch (const UserError&) {
        fail_at(*b, "memory.budget",
                "expected auto or a positive size such as 6GiB, 512MiB, 1.5GB or a byte count, got '" + text + "'");
      }
    }
    if (!r.has("policy")) m.policy = "budget";
    if (m.policy != "budget")
      fail_at(*b, "memory.budget", "only applies to policy budget (memory.policy is " + m.policy + ")");
  }
  if (m.policy == "budget" && !m.budget_bytes && !m.budget_auto) r.missing("budget");
  r.get_bool("inplace", &m.inplace);
  r.get_bool("sharing", &m.sharing);
  r.get_bool("fusion", &m.fusion);
}

void read_workers(const SectionReader& top, ExperimentConfig& cfg) {
  SectionReader r(top.get("workers"), "workers", kWorkersKeys, &cfg.locs, all_dotted_keys());
  if (const ConfigNode* b = r.get("bucket")) {
    std::string text;
    r.get_string("bucket", &text);
    try {
      cfg.workers.bucket_bytes = planner::parse_size(text, "workers.bucket");
    } catch (const UserError&) {
      fail_at(*b, "workers.bucket", "expected a positive size such as 25MiB or a byte count, got '" + text + "'");
    }
  }
  r.get_bool("overlap", &cfg.workers.overlap);
}

void read_optimizer(const SectionReader& top, ExperimentConfig& cfg) {
  SectionReader r(top.get("optimizer"), "optimizer", kOptimizerKeys, &cfg.locs, all_dotted_keys());
  OptimizerConfig& o = cfg.optimizer;
  std::string kind = "sgd";
  r.get_choice("kind", &kind, {"sgd", "adam", "adamw"});
  o.kind = kind == "adam" ? OptimizerKind::Adam : kind == "adamw" ? OptimizerKind::AdamW : OptimizerKind::Sgd;
  o.lr = o.kind == OptimizerKind::Sgd ? 0.1 : 1e-3;
  o.weight_decay = o.kind == OptimizerKind::AdamW ? 0.01 : 0.0;  // torch.optim.AdamW's default
  r.get_real("lr", &o.lr, 0, kMaxReal);
  r.get_real("weight_decay", &o.weight_decay, 0, kMaxReal);
  r.get_real("clip_grad_norm", &o.clip_grad_norm, 0, kMaxReal);
  // Keys of the other optimizer are a mistake when written next to `kind`; when `kind` was switched
  // with --set, the file's settings for the old optimizer are left behind, not an error.
  const ConfigNode* kind_node = r.get("kind");
  const bool switched = kind_node != nullptr && is_override(*kind_node);
  auto other = [&](const std::vector<std::string>& keys, const std::string& what) {
    std::vector<std::string> written;
    for (const auto& k : keys)
      if (const ConfigNode* n = r.get(k); n && (!switched || is_override(*n))) written.push_back(k);
    only_for(r, written, what);
  };
  if (o.kind == OptimizerKind::Sgd) {
    other({"beta1", "beta2", "eps"}, "optimizer.kind adam and adamw");
    r.get_real("momentum", &o.momentum, 0, 1, false, true);
    r.get_bool("nesterov", &o.nesterov);
    if (o.nesterov && o.momentum == 0)
      fail_at(*r.get("nesterov"), "optimizer.nesterov", "needs optimizer.momentum > 0");
  } else {
    other({"momentum", "nesterov"}, "optimizer.kind sgd");
    o.momentum = 0;
    o.nesterov = false;
    r.get_real("beta1", &o.beta1, 0, 1, false, true);
    r.get_real("beta2", &o.beta2, 0, 1, false, true);
    r.get_real("eps", &o.eps, 0, kMaxReal, true);
  }
}

void read_schedule(const SectionReader& top, ExperimentConfig& cfg) {
  SectionReader r(top.get("schedule"), "schedule", kScheduleKeys, &cfg.locs, all_dotted_keys());
  ScheduleConfig& s = cfg.schedule;
  std::string kind = "constant";
  r.get_choice("kind", &kind, {"constant", "step", "cosine"});
  s.kind = kind == "step" ? ScheduleKind::Step : kind == "cosine" ? ScheduleKind::Cosine : ScheduleKind::Constant;
  r.get_int("warmup_steps", &s.warmup_steps, 0, kMaxI64);
  if (s.kind != ScheduleKind::Step) only_for(r, {"step_size", "gamma"}, "schedule.kind step");
  if (s.kind != ScheduleKind::Cosine) only_for(r, {"min_lr"}, "schedule.kind cosine");
  if (s.kind == ScheduleKind::Step && !r.has("step_size")) r.missing("step_size");
  r.get_int("step_size", &s.step_size, 1, kMaxI64);
  r.get_real("gamma", &s.gamma, 0, 1, true);
  r.get_real("min_lr", &s.min_lr, 0, kMaxReal);
  if (s.min_lr > cfg.optimizer.lr)
    fail_at(*r.get("min_lr"), "schedule.min_lr", "must not exceed the base rate optimizer.lr");
}

void read_runs(const Context& cx, const SectionReader& top, ExperimentConfig& cfg) {
  std::string stem = fs::path(cx.file).stem().string();
  if (stem.empty()) stem = "experiment";
  cfg.run_dir = (fs::current_path() / "runs" / stem).lexically_normal().string();
  get_path(cx, top, "run_dir", &cfg.run_dir);

  SectionReader log(top.get("log"), "log", kLogKeys, cx.locs, all_dotted_keys());
  log.get_int("every", &cfg.log.every, 1, kMaxI64);
  cfg.log.file = (fs::path(cfg.run_dir) / "metrics.jsonl").string();
  get_path(cx, log, "file", &cfg.log.file);

  SectionReader ck(top.get("checkpoint"), "checkpoint", kCheckpointKeys, cx.locs, all_dotted_keys());
  ck.get_int("every", &cfg.checkpoint.every, 0, kMaxI64);
  int64_t keep = cfg.checkpoint.keep;
  ck.get_int("keep", &keep, 1, 1000000);
  cfg.checkpoint.keep = static_cast<int>(keep);
  cfg.checkpoint.dir = (fs::path(cfg.run_dir) / "checkpoints").string();
  get_path(cx, ck, "dir", &cfg.checkpoint.dir);
}

ExperimentConfig validate(const ConfigNode& root, const std::string& file, const std::vector<std::string>& overrides) {
  ExperimentConfig cfg;
  cfg.file = file;
  cfg.overrides = overrides;
  cfg.locs.file = file;
  fs::path dir = fs::path(file).parent_path();
  cfg.dir = (dir.is_absolute() ? dir : fs::current_path() / dir).lexically_normal().string();
  Context cx{file, fs::path(cfg.dir), &cfg.locs};

  // Each section reader records where its keys were set into cfg.locs.
  SectionReader top(&root, "", kTopKeys, &cfg.locs, all_dotted_keys());
  // Typos first, in file order, whichever section they are in: a misspelt key explains errors that
  // validating the values would otherwise report first (a default used where the user meant a value).
  const std::vector<std::pair<std::string, const std::vector<std::string>*>> sections = {
      {"model", &kModelKeys},         {"data", &kDataKeys}, {"memory", &kMemoryKeys},
      {"optimizer", &kOptimizerKeys}, {"schedule", &kScheduleKeys}, {"log", &kLogKeys},
      {"checkpoint", &kCheckpointKeys}, {"workers", &kWorkersKeys}};
  if (root.kind == ConfigNode::Kind::Map)
    for (const auto& e : root.entries)
      for (const auto& [name, keys] : sections)
        if (e.key == name) SectionReader(&e.value, name, *keys, nullptr, all_dotted_keys());
  if (!top.has("model")) fail_at(top.loc("model"), "model.file", "missing required key");
  read_model(cx, top, cfg);
  if (!top.has("batch")) top.missing("batch");
  top.get_int("batch", &cfg.batch, 1, kMaxI64);
  read_device(top, cfg);
  top.get_uint("seed", &cfg.seed);
  read_length(top, cfg);
  read_data(cx, top, cfg);
  read_memory(cx, top, cfg);
  read_optimizer(top, cfg);
  read_schedule(top, cfg);
  read_runs(cx, top, cfg);
  top.get_bool("deterministic", &cfg.deterministic);
  read_workers(top, cfg);
  return cfg;
}

std::string real_text(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

void emit_json(YAML::Emitter& out, const nlohmann::ordered_json& j) {
  if (j.is_object()) {
    out << YAML::BeginMap;
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.value().is_string() && it.value().get<std::string>().empty()) continue;
      out << YAML::Key << it.key() << YAML::Value;
      emit_json(out, it.value());
    }
    out << YAML::EndMap;
  } else if (j.is_array()) {
    out << YAML::Flow << YAML::BeginSeq;
    for (const auto& x : j) emit_json(out, x);
    out << YAML::EndSeq;
  } else if (j.is_boolean()) {
    out << (j.get<bool>() ? "true" : "false");
  } else if (j.is_number_float()) {
    out << real_text(j.get<double>());
  } else if (j.is_number_unsigned()) {
    out << std::to_string(j.get<uint64_t>());
  } else if (j.is_number_integer()) {
    out << std::to_string(j.get<int64_t>());
  } else {
    out << j.get<std::string>();
  }
}

}  // namespace

std::vector<std::string> ModelConfig::set_args() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : params) {
    std::string s = k;
    s += '=';
    s += v;
    out.push_back(std::move(s));
  }
  return out;
}

std::string DeviceConfig::str() const { return kind == DeviceKind::Cpu ? "cpu" : "cuda:" + std::to_string(index); }

int64_t ExperimentConfig::total_steps(int64_t epoch_size) const {
  if (steps > 0) return steps;
  if (epoch_size <= 0)
    throw ConfigError(loc("epochs"), "data kind " + data.kind +
                                         " has no epoch size (it is unbounded): give steps instead of epochs");
  const long double s = std::ceil(static_cast<long double>(epochs) * static_cast<long double>(epoch_size) /
                                  static_cast<long double>(batch));
  return std::max<int64_t>(1, static_cast<int64_t>(s));
}

planner::PlanRequest ExperimentConfig::plan_request(std::optional<int64_t> auto_budget) const {
  planner::PlanRequest req;
  if (memory.policy == "budget") {
    if (memory.budget_auto && !auto_budget)
      throw ConfigError(loc("memory.budget"),
                        "auto means the free memory of the device a run starts on, but this plan is made "
                        "ahead of any run (compile): give a size such as 6GiB");
    req.memory_budget = memory.budget_auto ? auto_budget : memory.budget_bytes;
    req.budget_name = "memory.budget";
    const ConfigLoc at = loc("memory.budget");
    if (at.line > 0) req.budget_span = SourceSpan{SourceLoc{at.file, at.line, at.column, 1}, nullptr};
  } else if (!planner::parse_policy(memory.policy, &req.policy)) {
    throw ConfigError(loc("memory.policy"), "unknown policy '" + memory.policy + "'");
  }
  req.options.inplace = memory.inplace;
  req.options.sharing = memory.sharing;
  req.options.optimizer = planner_optimizer(optimizer);
  return req;
}

nlohmann::ordered_json ExperimentConfig::to_json() const {
  using json = nlohmann::ordered_json;
  json j = json::object();
  json params = json::object();
  for (const auto& [k, v] : model.params) params[k] = v;
  j["model"] = {{"file", model.file}, {"name", model.name}, {"params", params}};
  j["batch"] = batch;
  j["device"] = device.str();
  j["seed"] = seed;
  if (steps > 0) j["steps"] = steps;
  else j["epochs"] = epochs;
  j["data"] = {{"kind", data.kind},         {"root", data.root},         {"path", data.path},
               {"level", data.level},       {"workers", data.workers},   {"prefetch", data.prefetch},
               {"shuffle", data.shuffle},   {"min_scale", data.min_scale}, {"max_scale", data.max_scale},
               {"flip", data.flip},         {"mean", data.mean},         {"std", data.std},
               {"bad_images", data.bad_images}};
  j["memory"] = {{"policy", memory.policy}, {"inplace", memory.inplace}, {"sharing", memory.sharing}};
  if (!memory.fusion) j["memory"]["fusion"] = false;
  if (memory.budget_bytes) j["memory"]["budget"] = *memory.budget_bytes;
  if (memory.budget_auto) j["memory"]["budget"] = "auto";
  if (!memory.costs.empty()) j["memory"]["costs"] = memory.costs;
  json o = {{"kind", optimizer_kind_name(optimizer.kind)}, {"lr", optimizer.lr},
            {"weight_decay", optimizer.weight_decay}};
  if (optimizer.clip_grad_norm > 0) o["clip_grad_norm"] = optimizer.clip_grad_norm;  // absent: old hashes hold
  if (optimizer.kind == OptimizerKind::Sgd) {
    o["momentum"] = optimizer.momentum;
    o["nesterov"] = optimizer.nesterov;
  } else {
    o["beta1"] = optimizer.beta1;
    o["beta2"] = optimizer.beta2;
    o["eps"] = optimizer.eps;
  }
  j["optimizer"] = o;
  json s = {{"kind", schedule_kind_name(schedule.kind)}, {"warmup_steps", schedule.warmup_steps}};
  if (schedule.kind == ScheduleKind::Step) {
    s["step_size"] = schedule.step_size;
    s["gamma"] = schedule.gamma;
  }
  if (schedule.kind == ScheduleKind::Cosine) s["min_lr"] = schedule.min_lr;
  j["schedule"] = s;
  j["log"] = {{"every", log.every}, {"file", log.file}};
  j["run_dir"] = run_dir;
  j["checkpoint"] = {{"every", checkpoint.every}, {"keep", checkpoint.keep}, {"dir", checkpoint.dir}};
  j["deterministic"] = deterministic;
  j["workers"] = {{"bucket", workers.bucket_bytes}, {"overlap", workers.overlap}};
  return j;
}

std::string ExperimentConfig::to_yaml() const {
  YAML::Emitter out;
  out << YAML::Comment("resolved from " + file + (overrides.empty() ? std::string() : " with overrides"));
  out << YAML::Newline;
  emit_json(out, to_json());
  std::string s = out.c_str();
  s += '\n';
  return s;
}

uint64_t ExperimentConfig::hash() const {
  nlohmann::ordered_json j = to_json();
  j["model"]["file"] = fs::path(model.file).filename().string();  // the run may move with its model
  j.erase("device");
  j.erase("memory");
  j.erase("log");
  j.erase("run_dir");
  j.erase("checkpoint");
  j.erase("deterministic");
  j.erase("workers");  // how gradients travel, not what they are
  // bad_images changes nothing before the first bad file, where an "error" run stops: a run stopped
  // there resumes under "skip".
  for (const char* k : {"root", "path", "workers", "prefetch", "bad_images"}) j["data"].erase(k);
  return fnv1a64(j.dump());
}

ExperimentConfig parse_experiment(const std::string& yaml_text, const std::string& file,
                                  const std::vector<std::string>& overrides) {
  ConfigNode root = parse_config_yaml(yaml_text, file);
  if (root.kind == ConfigNode::Kind::Scalar || root.kind == ConfigNode::Kind::Sequence)
    throw ConfigError(root.loc, std::string("expected a map of keys at the top level, got a ") + kind_name(root.kind));
  for (const auto& o : overrides) apply_override(root, o);
  return validate(root, file, overrides);
}

ExperimentConfig load_experiment(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(ConfigLoc{path, 0, 0, ""}, std::string("cannot read the file: ") + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return parse_experiment(text.str(), path, overrides);
}

}  // namespace sublinear::runtime::train
