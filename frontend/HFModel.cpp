//===- HFModel.cpp - A Hugging Face LFM2 folder as a GGUF-style model -----===//
#include "frontend/HFModel.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <new>
#include <optional>
#include <set>
#include <sstream>

namespace lfm2c {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr int64_t kMaxDim = std::numeric_limits<int32_t>::max();

std::string joinPath(const std::string &dir, const std::string &name) {
  return (fs::path(dir) / name).string();
}

// "a string \"abc\"", "the number 1.5", ... for "expected X, found Y".
std::string describe(const json &v) {
  std::string s = v.dump(-1, ' ', true, json::error_handler_t::replace);
  if (s.size() > 60) {
    s = s.substr(0, 57) + "...";
  }
  return std::string("a ") + v.type_name() + " (" + s + ")";
}

//===----------------------------------------------------------------------===//
// config.json
//===----------------------------------------------------------------------===//

struct HFConfig {
  LFM2Config config;
  bool tied = true; // tie_word_embeddings
};

class ConfigReader {
public:
  ConfigReader(const json &j, std::string path)
      : j_(j), path_(std::move(path)) {}

  Status error(const std::string &field, const std::string &problem) const {
    return Status::error(path_ + ": field '" + field + "' " + problem);
  }
  bool has(const std::string &field) const {
    auto it = j_.find(field);
    return it != j_.end() && !it->is_null();
  }
  const json *find(const std::string &field) const {
    auto it = j_.find(field);
    return it == j_.end() || it->is_null() ? nullptr : &*it;
  }

  // An integer in [lo, hi]. Integral floats (e.g. 4096.0) are accepted.
  Status getInt(const std::string &field, int64_t &out, int64_t lo = 1,
                int64_t hi = kMaxDim) const {
    const json *v = find(field);
    if (!v) {
      return error(field, "is missing, expected an integer");
    }
    return toInt(field, *v, out, lo, hi);
  }
  Status toInt(const std::string &field, const json &v, int64_t &out,
               int64_t lo, int64_t hi) const {
    const std::string range = "an integer in [" + std::to_string(lo) + ", " +
                              std::to_string(hi) + "]";
    if (v.is_number_unsigned()) {
      uint64_t u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(hi)) {
        return error(field, "is " + std::to_string(u) + ", expected " + range);
      }
      out = static_cast<int64_t>(u);
    } else if (v.is_number_integer()) {
      out = v.get<int64_t>();
    } else if (v.is_number_float() && std::isfinite(v.get<double>()) &&
               std::floor(v.get<double>()) == v.get<double>() &&
               std::fabs(v.get<double>()) < 9e15) {
      out = static_cast<int64_t>(v.get<double>());
    } else {
      return error(field, "is " + describe(v) + ", expected " + range);
    }
    if (out < lo || out > hi) {
      return error(field, "is " + std::to_string(out) + ", expected " + range);
    }
    return Status::ok();
  }

  // A finite positive number.
  Status getPositive(const std::string &field, double &out) const {
    const json *v = find(field);
    if (!v) {
      return error(field, "is missing, expected a positive number");
    }
    return toPositive(field, *v, out);
  }
  Status toPositive(const std::string &field, const json &v,
                    double &out) const {
    if (!v.is_number() || !std::isfinite(v.get<double>()) ||
        v.get<double>() <= 0) {
      return error(field, "is " + describe(v) + ", expected a positive number");
    }
    out = v.get<double>();
    return Status::ok();
  }

  Status getBool(const std::string &field, bool &out, bool dflt) const {
    const json *v = find(field);
    if (!v) {
      out = dflt;
      return Status::ok();
    }
    if (!v->is_boolean()) {
      return error(field, "is " + describe(*v) + ", expected true or false");
    }
    out = v->get<bool>();
    return Status::ok();
  }

  // Fields lfm2c does not implement must, when present, have the value the
  // implemented math assumes.
  Status requireBool(const std::string &field, bool want) const {
    bool value = want;
    if (Status s = getBool(field, value, want); !s) {
      return s;
    }
    if (value != want) {
      return error(field, std::string("is ") + (value ? "true" : "false") +
                              ", expected " + (want ? "true" : "false") +
                              " (the only setting lfm2c supports)");
    }
    return Status::ok();
  }

private:
  const json &j_;
  std::string path_;
};

Status readLayerTypes(const ConfigReader &r, int64_t numLayers,
                      std::vector<bool> &attention) {
  attention.assign(static_cast<size_t>(numLayers), false);
  const json *types = r.find("layer_types");
  const json *idxs = r.find("full_attn_idxs");
  if (!types && !idxs) {
    return r.error("layer_types",
                   "is missing (and so is 'full_attn_idxs'), expected a list "
                   "of \"conv\" / \"full_attention\" per layer");
  }
  if (types) {
    if (!types->is_array()) {
      return r.error("layer_types",
                     "is " + describe(*types) + ", expected an array");
    }
    if (static_cast<int64_t>(types->size()) != numLayers) {
      return r.error("layer_types",
                     "has " + std::to_string(types->size()) +
                         " entries, expected num_hidden_layers = " +
                         std::to_string(numLayers));
    }
    for (size_t i = 0; i < types->size(); ++i) {
      const json &t = (*types)[i];
      const std::string field = "layer_types[" + std::to_string(i) + "]";
      if (!t.is_string()) {
        return r.error(field, "is " + describe(t) +
                                  ", expected \"conv\" or \"full_attention\"");
      }
      const std::string s = t.get<std::string>();
      if (s == "full_attention") {
        attention[i] = true;
      } else if (s != "conv") {
        return r.error(
            field, "is \"" + s + "\", expected \"conv\" or \"full_attention\"");
      }
    }
  }
  if (idxs) {
    if (!idxs->is_array()) {
      return r.error("full_attn_idxs",
                     "is " + describe(*idxs) + ", expected an array");
    }
    std::vector<bool> fromIdxs(static_cast<size_t>(numLayers), false);
    for (size_t i = 0; i < idxs->size(); ++i) {
      int64_t layer = 0;
      const std::string field = "full_attn_idxs[" + std::to_string(i) + "]";
      if (Status s = r.toInt(field, (*idxs)[i], layer, 0, numLayers - 1); !s) {
        return s;
      }
      fromIdxs[static_cast<size_t>(layer)] = true;
    }
    if (!types) {
      attention = fromIdxs;
    } else if (fromIdxs != attention) {
      return r.error("full_attn_idxs",
                     "disagrees with 'layer_types' about which layers are "
                     "attention layers");
    }
  }
  return Status::ok();
}

// The dense FFN width of plain LFM2 (reference section 1): block_ff_dim
// (alias of intermediate_size), optionally auto-adjusted as the HF model does.
Status readDenseLFM2Width(const ConfigReader &r, int64_t &width) {
  int64_t ff = 0;
  if (r.has("block_ff_dim")) {
    if (Status s = r.getInt("block_ff_dim", ff); !s) {
      return s;
    }
  } else if (Status s = r.getInt("intermediate_size", ff); !s) {
    return r.has("intermediate_size")
               ? s
               : r.error("block_ff_dim", "is missing (and so is "
                                         "'intermediate_size'), expected an "
                                         "integer");
  }
  bool autoAdjust = true; // the Hugging Face Lfm2Config default
  if (Status s = r.getBool("block_auto_adjust_ff_dim", autoAdjust, true); !s) {
    return s;
  }
  if (autoAdjust) {
    int64_t multipleOf = 256;
    if (r.has("block_multiple_of")) {
      if (Status s = r.getInt("block_multiple_of", multipleOf); !s) {
        return s;
      }
    }
    int64_t f = 2 * ff / 3;
    if (const json *m = r.find("block_ffn_dim_multiplier")) {
      double mult = 0;
      if (Status s = r.toPositive("block_ffn_dim_multiplier", *m, mult); !s) {
        return s;
      }
      double scaled = std::floor(mult * static_cast<double>(f));
      if (!(scaled >= 1 && scaled <= static_cast<double>(kMaxDim))) {
        return r.error("block_ffn_dim_multiplier", "gives an FFN width of " +
                                                       std::to_string(scaled) +
                                                       ", out of range");
      }
      f = static_cast<int64_t>(scaled);
    }
    f = multipleOf * ((f + multipleOf - 1) / multipleOf);
    ff = f;
  }
  if (ff < 1 || ff > kMaxDim) {
    return r.error("block_ff_dim", "gives an FFN width of " +
                                       std::to_string(ff) + ", out of range");
  }
  width = ff;
  return Status::ok();
}

// double -> float -> double. The volatile is deliberate: GCC 12.2 at -O2/-O3
// SLP-vectorizes two adjacent round trips and then drops the conversion
// (observed here; -fno-tree-slp-vectorize or -O1 keep it).
double roundToFloat32(double x) {
  volatile float f = static_cast<float>(x);
  return f;
}

StatusOr<HFConfig> parseHFConfig(const std::string &text,
                                 const std::string &path) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception &e) {
    return Status::error(path + ": not valid JSON: " + e.what());
  }
  if (!j.is_object()) {
    return Status::error(path + ": is " + describe(j) +
                         ", expected a JSON object");
  }
  ConfigReader r(j, path);
  HFConfig out;
  LFM2Config &c = out.config;

  const json *modelType = r.find("model_type");
  if (!modelType) {
    return r.error("model_type",
                   "is missing, expected \"lfm2\" or \"lfm2_moe\"");
  }
  if (modelType->is_string() && modelType->get<std::string>() == "lfm2") {
    c.arch = "lfm2";
  } else if (modelType->is_string() &&
             modelType->get<std::string>() == "lfm2_moe") {
    c.arch = "lfm2moe";
  } else {
    return r.error("model_type", "is " + describe(*modelType) +
                                     ", expected \"lfm2\" or \"lfm2_moe\"");
  }

  int64_t numKV = 0;
  const std::pair<const char *, int64_t *> ints[] = {
      {"vocab_size", &c.vocabSize},
      {"hidden_size", &c.hiddenSize},
      {"num_hidden_layers", &c.numLayers},
      {"num_attention_heads", &c.numHeads},
      {"num_key_value_heads", &numKV},
      {"conv_L_cache", &c.convLCache},
      {"max_position_embeddings", &c.contextLength},
  };
  for (const auto &[field, dst] : ints) {
    if (Status s = r.getInt(field, *dst); !s) {
      return s;
    }
  }
  if (c.hiddenSize % c.numHeads != 0) {
    return r.error("num_attention_heads",
                   "is " + std::to_string(c.numHeads) +
                       ", which does not divide hidden_size = " +
                       std::to_string(c.hiddenSize));
  }
  c.headDim = c.hiddenSize / c.numHeads;
  if (const json *hd = r.find("head_dim")) {
    int64_t headDim = 0;
    if (Status s = r.toInt("head_dim", *hd, headDim, 1, kMaxDim); !s) {
      return s;
    }
    if (headDim != c.headDim) {
      return r.error("head_dim", "is " + std::to_string(headDim) +
                                     ", expected hidden_size / "
                                     "num_attention_heads = " +
                                     std::to_string(c.headDim));
    }
  }
  if (numKV > c.numHeads || c.numHeads % numKV != 0) {
    return r.error("num_key_value_heads",
                   "is " + std::to_string(numKV) +
                       ", expected a divisor of num_attention_heads = " +
                       std::to_string(c.numHeads));
  }

  std::vector<bool> attention;
  if (Status s = readLayerTypes(r, c.numLayers, attention); !s) {
    return s;
  }
  c.kvHeads.resize(attention.size());
  for (size_t i = 0; i < attention.size(); ++i) {
    c.kvHeads[i] = attention[i] ? numKV : 0;
  }

  // rope_theta; transformers v5 configs nest it in rope_parameters.
  if (const json *rp = r.find("rope_parameters"); !r.has("rope_theta") && rp &&
                                                  rp->is_object() &&
                                                  rp->contains("rope_theta")) {
    if (Status s = r.toPositive("rope_parameters.rope_theta",
                                (*rp)["rope_theta"], c.ropeTheta);
        !s) {
      return s;
    }
  } else if (Status s = r.getPositive("rope_theta", c.ropeTheta); !s) {
    return s;
  }
  if (Status s = r.getPositive("norm_eps", c.normEps); !s) {
    return s;
  }
  if (Status s = r.getBool("tie_word_embeddings", out.tied, true); !s) {
    return s;
  }
  if (Status s = r.requireBool("conv_bias", false); !s) {
    return s;
  }

  if (c.arch == "lfm2") {
    if (Status s = readDenseLFM2Width(r, c.denseFFNSize); !s) {
      return s;
    }
    c.numDenseLayers = c.numLayers;
  } else {
    const std::pair<const char *, int64_t *> moeInts[] = {
        {"num_experts", &c.numExperts},
        {"num_experts_per_tok", &c.topK},
        {"moe_intermediate_size", &c.expertFFNSize},
    };
    for (const auto &[field, dst] : moeInts) {
      if (Status s = r.getInt(field, *dst); !s) {
        return s;
      }
    }
    if (c.topK > c.numExperts) {
      return r.error("num_experts_per_tok",
                     "is " + std::to_string(c.topK) +
                         ", expected at most num_experts = " +
                         std::to_string(c.numExperts));
    }
    if (Status s =
            r.getInt("num_dense_layers", c.numDenseLayers, 0, c.numLayers);
        !s) {
      return s;
    }
    if (c.numDenseLayers > 0 || r.has("intermediate_size")) {
      if (Status s = r.getInt("intermediate_size", c.denseFFNSize); !s) {
        return s;
      }
    }
    if (Status s = r.requireBool("use_expert_bias", true); !s) {
      return s;
    }
    if (Status s = r.requireBool("norm_topk_prob", true); !s) {
      return s;
    }
    if (const json *scale = r.find("routed_scaling_factor")) {
      if (!scale->is_number() || scale->get<double>() != 1.0) {
        return r.error("routed_scaling_factor",
                       "is " + describe(*scale) +
                           ", expected 1.0 (the only setting lfm2c supports)");
      }
    }
  }

  // The model computes in float32: PyTorch adds the Python-float eps to a
  // float32 variance and raises a float32-converted base, and GGUF stores
  // both as FLOAT32. Rounding here gives the GGUF twin's exact values.
  c.normEps = roundToFloat32(c.normEps);
  c.ropeTheta = roundToFloat32(c.ropeTheta);
  if (!(c.normEps > 0) || !std::isfinite(c.normEps)) {
    return r.error("norm_eps", "is out of float32 range");
  }
  if (!(c.ropeTheta > 0) || !std::isfinite(c.ropeTheta)) {
    return r.error("rope_theta", "is out of float32 range");
  }

  if (Status s = c.validate(); !s) {
    return Status::error(path + ": invalid model: " + s.message());
  }
  return out;
}

StatusOr<std::string> readTextFile(const std::string &path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    return Status::error(path + ": cannot open: no such file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status::error(path + ": cannot open");
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    return Status::error(path + ": read error");
  }
  return ss.str();
}

StatusOr<HFConfig> readHFConfig(const std::string &path) {
  StatusOr<std::string> text = readTextFile(path);
  if (!text) {
    return text.status();
  }
  return parseHFConfig(*text, path);
}

//===----------------------------------------------------------------------===//
// Name mapping
//===----------------------------------------------------------------------===//

struct LayerName {
  const char *gguf;
  const char *hf;
};

// GGUF suffix after "blk.N." -> HF suffix after "model.layers.N.". The
// stacked expert entries hold "%E" where the expert index goes.
constexpr LayerName kLayerNames[] = {
    {"attn_norm.weight", "operator_norm.weight"},
    {"ffn_norm.weight", "ffn_norm.weight"},
    {"shortconv.in_proj.weight", "conv.in_proj.weight"},
    {"shortconv.conv.weight", "conv.conv.weight"},
    {"shortconv.out_proj.weight", "conv.out_proj.weight"},
    {"attn_q.weight", "self_attn.q_proj.weight"},
    {"attn_k.weight", "self_attn.k_proj.weight"},
    {"attn_v.weight", "self_attn.v_proj.weight"},
    {"attn_output.weight", "self_attn.out_proj.weight"},
    {"attn_q_norm.weight", "self_attn.q_layernorm.weight"},
    {"attn_k_norm.weight", "self_attn.k_layernorm.weight"},
    {"ffn_gate.weight", "feed_forward.w1.weight"},
    {"ffn_up.weight", "feed_forward.w3.weight"},
    {"ffn_down.weight", "feed_forward.w2.weight"},
    {"ffn_gate_inp.weight", "feed_forward.gate.weight"},
    {"exp_probs_b.bias", "feed_forward.expert_bias"},
    {"ffn_gate_exps.weight", "feed_forward.experts.%E.w1.weight"},
    {"ffn_up_exps.weight", "feed_forward.experts.%E.w3.weight"},
    {"ffn_down_exps.weight", "feed_forward.experts.%E.w2.weight"},
};

bool isStacked(const std::string &ggufName) {
  auto endsWith = [&](const char *s) {
    size_t n = std::strlen(s);
    return ggufName.size() >= n &&
           ggufName.compare(ggufName.size() - n, n, s) == 0;
  };
  return endsWith("_exps.weight");
}

std::optional<GGMLType> floatType(const std::string &dtype) {
  if (dtype == "F32") {
    return GGMLType::F32;
  }
  if (dtype == "F16") {
    return GGMLType::F16;
  }
  if (dtype == "BF16") {
    return GGMLType::BF16;
  }
  return std::nullopt;
}

} // namespace

std::string hfTensorName(const std::string &ggufName, int64_t expert) {
  if (ggufName == "token_embd.weight") {
    return "model.embed_tokens.weight";
  }
  if (ggufName == "token_embd_norm.weight") {
    return "model.embedding_norm.weight";
  }
  if (ggufName == "output.weight") {
    return "lm_head.weight";
  }
  if (ggufName.compare(0, 4, "blk.") != 0) {
    return "";
  }
  size_t dot = ggufName.find('.', 4);
  if (dot == std::string::npos || dot == 4) {
    return "";
  }
  const std::string layer = ggufName.substr(4, dot - 4);
  if (!std::all_of(layer.begin(), layer.end(),
                   [](char ch) { return ch >= '0' && ch <= '9'; })) {
    return "";
  }
  const std::string suffix = ggufName.substr(dot + 1);
  for (const LayerName &n : kLayerNames) {
    if (suffix == n.gguf) {
      std::string hf = n.hf;
      if (size_t p = hf.find("%E"); p != std::string::npos) {
        hf.replace(p, 2, std::to_string(expert));
      }
      return "model.layers." + layer + "." + hf;
    }
  }
  return "";
}

StatusOr<LFM2Config> configFromHFConfigText(const std::string &text,
                                            const std::string &path) {
  StatusOr<HFConfig> c = parseHFConfig(text, path);
  if (!c) {
    return c.status();
  }
  return c->config;
}

StatusOr<LFM2Config> configFromHFConfigFile(const std::string &path) {
  StatusOr<HFConfig> c = readHFConfig(path);
  if (!c) {
    return c.status();
  }
  return c->config;
}

const GGUFTensorInfo *HFModel::tensor(const std::string &ggufName) const {
  auto it = index_.find(ggufName);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

//===----------------------------------------------------------------------===//
// Loading
//===----------------------------------------------------------------------===//

class HFModelLoader {
public:
  explicit HFModelLoader(HFModel &m) : m_(m) {}

  Status load(const std::string &dir);

private:
  struct Source {
    const SafetensorsFile *file;
    const SafetensorsTensor *tensor;
  };

  Status openFiles();
  Status openShards(const std::string &indexPath);
  // An error about a missing tensor, naming where it was looked for.
  Status missing(const std::string &hfName) const;
  // Looks up `hfName`, checks dtype and HF-order shape; marks it used.
  Status find(const std::string &hfName, const std::vector<int64_t> &shape,
              Source &out, GGMLType &type);
  Status addPlain(const TensorRequirement &req);
  Status addStacked(const TensorRequirement &req);
  void expose(GGUFTensorInfo info);

  HFModel &m_;
  bool tied_ = true;
  std::string indexPath_; // empty for a single model.safetensors
  std::unordered_map<std::string, Source> sources_;
  std::set<std::string> used_;
};

Status HFModelLoader::openShards(const std::string &indexPath) {
  StatusOr<std::string> text = readTextFile(indexPath);
  if (!text) {
    return text.status();
  }
  json j;
  try {
    j = json::parse(*text);
  } catch (const json::exception &e) {
    return Status::error(indexPath + ": not valid JSON: " + e.what());
  }
  if (!j.is_object() || !j.contains("weight_map") ||
      !j["weight_map"].is_object()) {
    return Status::error(indexPath +
                         ": field 'weight_map' is missing or not an object");
  }
  const json &map = j["weight_map"];
  std::vector<std::string> shards;
  std::unordered_map<std::string, size_t> shardIndex;
  for (const auto &[name, shard] : map.items()) {
    if (!shard.is_string()) {
      return Status::error(indexPath + ": weight_map entry '" + name + "' is " +
                           describe(shard) + ", expected a file name");
    }
    const std::string file = shard.get<std::string>();
    fs::path p(file);
    if (file.empty() || p.is_absolute() ||
        std::any_of(p.begin(), p.end(),
                    [](const fs::path &part) { return part == ".."; })) {
      return Status::error(indexPath + ": weight_map entry '" + name +
                           "' names shard '" + file +
                           "', expected a file name inside the folder");
    }
    if (!shardIndex.count(file)) {
      shardIndex.emplace(file, shards.size());
      shards.push_back(file);
    }
  }
  if (shards.empty()) {
    return Status::error(indexPath + ": weight_map is empty");
  }
  for (const std::string &shard : shards) {
    auto f = SafetensorsFile::open(joinPath(m_.dir_, shard));
    if (!f) {
      return Status::error(
          indexPath + ": shard '" + shard +
          "' listed in weight_map cannot be read: " + f.status().message());
    }
    m_.files_.push_back(std::move(*f));
  }
  // Every tensor of every shard is available; a weight_map entry must be
  // found in the shard it names.
  for (const auto &[name, shard] : map.items()) {
    const SafetensorsFile &f =
        *m_.files_[shardIndex.at(shard.get<std::string>())];
    if (!f.tensor(name)) {
      return f.error("tensor '" + name + "' is missing (" +
                     fs::path(indexPath).filename().string() +
                     " maps it to this shard)");
    }
  }
  return Status::ok();
}

Status HFModelLoader::openFiles() {
  const std::string indexPath =
      joinPath(m_.dir_, "model.safetensors.index.json");
  const std::string singlePath = joinPath(m_.dir_, "model.safetensors");
  std::error_code ec;
  if (fs::exists(indexPath, ec)) {
    indexPath_ = indexPath;
    if (Status s = openShards(indexPath); !s) {
      return s;
    }
  } else if (fs::exists(singlePath, ec)) {
    auto f = SafetensorsFile::open(singlePath);
    if (!f) {
      return f.status();
    }
    m_.files_.push_back(std::move(*f));
  } else {
    return Status::error(m_.dir_ + ": found neither model.safetensors nor "
                                   "model.safetensors.index.json");
  }
  for (const auto &file : m_.files_) {
    for (const SafetensorsTensor &t : file->tensors()) {
      auto [it, inserted] = sources_.emplace(t.name, Source{file.get(), &t});
      if (!inserted) {
        return file->error("tensor '" + t.name + "' is also in " +
                           it->second.file->path());
      }
    }
  }
  return Status::ok();
}

Status HFModelLoader::missing(const std::string &hfName) const {
  if (!indexPath_.empty()) {
    return Status::error(indexPath_ + ": tensor '" + hfName +
                         "' is missing (in no shard)");
  }
  return m_.files_.front()->error("tensor '" + hfName + "' is missing");
}

Status HFModelLoader::find(const std::string &hfName,
                           const std::vector<int64_t> &shape, Source &out,
                           GGMLType &type) {
  auto it = sources_.find(hfName);
  if (it == sources_.end()) {
    return missing(hfName);
  }
  out = it->second;
  const SafetensorsTensor &t = *out.tensor;
  std::optional<GGMLType> ty = floatType(t.dtype);
  if (!ty) {
    return out.file->error("tensor '" + hfName + "' has dtype " + t.dtype +
                           ", expected F32, F16 or BF16");
  }
  if (t.shape != shape) {
    return out.file->error("tensor '" + hfName + "' has shape " +
                           formatShape(t.shape) + ", expected " +
                           formatShape(shape));
  }
  type = *ty;
  used_.insert(hfName);
  return Status::ok();
}

void HFModelLoader::expose(GGUFTensorInfo info) {
  m_.index_.emplace(info.name, m_.tensors_.size());
  m_.tensors_.push_back(std::move(info));
}

Status HFModelLoader::addPlain(const TensorRequirement &req) {
  const std::string hfName = hfTensorName(req.name);
  // HF order is ggml order reversed; the conv kernel has an extra unit axis:
  // ggml [L, H] is HF [H, 1, L].
  std::vector<int64_t> shape(req.ne.rbegin(), req.ne.rend());
  if (req.name.size() >= 21 && req.name.compare(req.name.size() - 21, 21,
                                                "shortconv.conv.weight") == 0) {
    shape = {req.ne[1], 1, req.ne[0]};
  }
  Source src{};
  GGMLType type{};
  if (Status s = find(hfName, shape, src, type); !s) {
    return s;
  }
  GGUFTensorInfo info;
  info.name = req.name;
  info.ne = req.ne;
  info.type = type;
  info.offset = 0;
  info.nbytes = src.tensor->nbytes;
  info.data = src.tensor->data;
  expose(std::move(info));
  return Status::ok();
}

Status HFModelLoader::addStacked(const TensorRequirement &req) {
  // ggml [a, b, E] is E row-major HF [b, a] matrices one after the other.
  const int64_t E = req.ne[2];
  const std::vector<int64_t> shape = {req.ne[1], req.ne[0]};
  std::vector<const SafetensorsTensor *> parts;
  GGMLType type{};
  for (int64_t e = 0; e < E; ++e) {
    const std::string hfName = hfTensorName(req.name, e);
    Source src{};
    GGMLType t{};
    if (Status s = find(hfName, shape, src, t); !s) {
      return s;
    }
    if (e == 0) {
      type = t;
    } else if (t != type) {
      return src.file->error("tensor '" + hfName + "' has dtype " +
                             src.tensor->dtype + ", expected " +
                             ggmlTypeName(type) + " like expert 0");
    }
    parts.push_back(src.tensor);
  }
  const uint64_t partBytes = parts.front()->nbytes;
  uint64_t total = 0;
  if (__builtin_mul_overflow(partBytes, static_cast<uint64_t>(E), &total)) {
    return Status::error(m_.dir_ + ": tensor '" + req.name +
                         "' is too large to stack");
  }
  // The one copy HFModel makes: at compile time, once per stacked tensor.
  std::unique_ptr<uint8_t[]> buf(new (std::nothrow) uint8_t[total ? total : 1]);
  if (!buf) {
    return Status::error(m_.dir_ + ": cannot allocate " +
                         std::to_string(total) + " bytes to stack '" +
                         req.name + "'");
  }
  for (int64_t e = 0; e < E; ++e) {
    if (partBytes) {
      std::memcpy(buf.get() + static_cast<uint64_t>(e) * partBytes,
                  parts[e]->data, partBytes);
    }
  }
  GGUFTensorInfo info;
  info.name = req.name;
  info.ne = req.ne;
  info.type = type;
  info.offset = 0;
  info.nbytes = total;
  info.data = buf.get();
  m_.owned_.push_back(std::move(buf));
  m_.ownedBytes_ += total;
  expose(std::move(info));
  return Status::ok();
}

Status HFModelLoader::load(const std::string &dir) {
  m_.dir_ = dir;
  const std::string configPath = joinPath(dir, "config.json");
  StatusOr<HFConfig> cfg = readHFConfig(configPath);
  if (!cfg) {
    return cfg.status();
  }
  m_.config_ = cfg->config;
  tied_ = cfg->tied;
  if (Status s = openFiles(); !s) {
    return s;
  }
  for (const TensorRequirement &req : requiredTensors(m_.config_)) {
    Status s = isStacked(req.name) ? addStacked(req) : addPlain(req);
    if (!s) {
      return s;
    }
  }
  // An untied output projection. With tie_word_embeddings true a present
  // lm_head.weight is still honoured, as llama.cpp's converter does.
  if (sources_.count("lm_head.weight")) {
    if (Status s = addPlain({"output.weight",
                             {m_.config_.hiddenSize, m_.config_.vocabSize},
                             false});
        !s) {
      return s;
    }
  } else if (!tied_) {
    return Status::error(configPath +
                         ": field 'tie_word_embeddings' is false, but tensor "
                         "'lm_head.weight' is missing");
  }
  // A tensor lfm2c would not read (a conv bias, a re-packed expert tensor,
  // a layer of the wrong kind) means the folder does not match config.json;
  // ignoring it would compile a different model.
  for (const auto &file : m_.files_) {
    for (const SafetensorsTensor &t : file->tensors()) {
      if (!used_.count(t.name)) {
        return file->error("tensor '" + t.name +
                           "' is not part of the model described by "
                           "config.json");
      }
    }
  }
  return Status::ok();
}

StatusOr<std::unique_ptr<HFModel>> HFModel::open(const std::string &dir) {
  std::unique_ptr<HFModel> m(new HFModel());
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return Status::error(dir + ": not a directory");
  }
  try {
    HFModelLoader loader(*m);
    if (Status s = loader.load(dir); !s) {
      return s;
    }
  } catch (const std::exception &e) {
    // Defensive: nothing above is expected to throw past its own checks.
    return Status::error(dir + ": " + e.what());
  }
  return m;
}

} // namespace lfm2c
