// The data-source factory and the helpers every source shares. A kind the factory does not know is a
// user error at data.kind that lists the kinds there are.
#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "ir/check.h"
#include "train/data/prefetch_source.h"
#include "train/data/source_util.h"

namespace sublinear::runtime::data {

std::unique_ptr<DataSource> open_data_source(const DataConfig& cfg, const std::vector<InputSpec>& inputs,
                                             uint64_t seed) {
  // ImageNet decodes ahead with its own workers; the others produce a batch on the calling thread, so
  // the next one is prepared on another while the step runs.
  if (cfg.kind == "synthetic") return prefetch_one_batch(make_synthetic_source(cfg, inputs, seed));
  if (cfg.kind == "imagenet") return make_imagenet_source(cfg, inputs, seed, DataShard{});
  if (cfg.kind == "text") return prefetch_one_batch(make_text_source(cfg, inputs, seed));
  std::string msg = "unknown data kind '";
  msg += cfg.kind;
  msg += "'; the kinds are: synthetic (random data, nothing to download), imagenet (a folder of class "
         "folders of JPEG files, data.root), text (a text file for character-level models, data.path)";
  throw ConfigError(cfg.locs.at("data.kind"), msg);
}

bool reads_only_its_shard(const DataConfig& cfg) {
  return (cfg.kind == "imagenet" && cfg.bad_images != "skip") || cfg.kind == "synthetic" || cfg.kind == "text";
}

bool shard_needs_batch_axes(const DataConfig& cfg) { return cfg.kind == "synthetic"; }

bool can_open_data_shard(const DataConfig& cfg, const std::vector<InputSpec>& global,
                         const std::vector<InputSpec>& local, const std::vector<int>& axes) {
  if (!reads_only_its_shard(cfg)) return false;
  return cfg.kind != "synthetic" || synthetic_shard_is_slice(global, local, axes);
}

std::unique_ptr<DataSource> open_data_shard(const DataConfig& cfg, const std::vector<InputSpec>& inputs,
                                            uint64_t seed, DataShard shard) {
  SL_CHECK(reads_only_its_shard(cfg)) << "data kind " << cfg.kind << " is drawn whole and sliced, not sharded";
  if (cfg.kind == "synthetic") {
    SL_CHECK(shard.axes.size() == inputs.size()) << "a synthetic shard without the inputs' batch axes";
    return prefetch_one_batch(make_synthetic_shard(cfg, inputs, seed, std::move(shard)));
  }
  if (cfg.kind == "text") return prefetch_one_batch(make_text_shard(cfg, inputs, seed, std::move(shard)));
  return make_imagenet_source(cfg, inputs, seed, shard);
}

std::string format_count(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  if (n < 0) out.insert(out.begin(), '-');
  return out;
}

std::string encode_state(const std::string& kind, const std::map<std::string, int64_t>& values) {
  std::string s = kind;
  for (const auto& [k, v] : values) {
    s += ' ';
    s += k;
    s += '=';
    s += std::to_string(v);
  }
  return s;
}

std::map<std::string, int64_t> decode_state(const std::string& kind, const std::string& state,
                                            const std::vector<std::string>& keys) {
  auto bad = [&](const std::string& why) {
    std::string msg = "cannot restore the ";
    msg += kind;
    msg += " data source from state '";
    msg += state;
    msg += "': ";
    msg += why;
    return std::runtime_error(msg);
  };
  std::istringstream in(state);
  std::string word;
  if (!(in >> word) || word != kind) throw bad("it was saved by another kind of data source");
  std::map<std::string, int64_t> values;
  while (in >> word) {
    size_t eq = word.find('=');
    std::string quoted = "'";
    quoted += word;
    quoted += "'";
    if (eq == std::string::npos || eq == 0) throw bad(quoted + " is not key=value");
    try {
      size_t used = 0;
      int64_t v = std::stoll(word.substr(eq + 1), &used);
      if (used != word.size() - eq - 1) throw std::invalid_argument("trailing characters");
      values[word.substr(0, eq)] = v;
    } catch (const std::exception&) {
      throw bad(quoted + " does not hold an integer");
    }
  }
  for (const auto& k : keys)
    if (!values.count(k)) throw bad(std::string("it lacks '") += k + "'");
  return values;
}

void check_batch(const std::vector<InputSpec>& inputs, const std::vector<Tensor>& out) {
  SL_CHECK(out.size() == inputs.size()) << "data source opened for " << inputs.size() << " inputs, asked to fill "
                                        << out.size();
  for (size_t i = 0; i < inputs.size(); ++i) {
    SL_CHECK(out[i].data != nullptr) << "no buffer for input '" << inputs[i].name << "'";
    // Sources index by the input's shape; the buffer only has to hold as many elements of its type.
    SL_CHECK(out[i].type.dtype == inputs[i].type.dtype && out[i].bytes() == inputs[i].type.bytes())
        << "buffer " << out[i].type.str() << " for input '" << inputs[i].name << "' " << inputs[i].type.str();
  }
}

std::string describe_inputs(const std::vector<InputSpec>& inputs) {
  std::string s;
  for (const auto& in : inputs) {
    if (!s.empty()) s += ", ";
    s += in.name;
    s += ": ";
    s += in.type.str();
    switch (in.role) {
      case InputRole::Features:
        s += " (features)";
        break;
      case InputRole::Labels:
        s += " (labels, ";
        s += format_count(in.int_range);
        s += " classes)";
        break;
      case InputRole::Tokens:
        s += " (tokens, vocab ";
        s += format_count(in.int_range);
        s += ")";
        break;
    }
  }
  return s.empty() ? std::string("no inputs") : s;
}

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw std::runtime_error(std::string("cannot open ") += path);
  std::streamoff n = in.tellg();
  std::vector<uint8_t> bytes(static_cast<size_t>(std::max<std::streamoff>(n, 0)));
  in.seekg(0);
  if (n > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), n))
    throw std::runtime_error(std::string("cannot read ") += path);
  return bytes;
}

}  // namespace sublinear::runtime::data
