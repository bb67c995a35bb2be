//===- ModelConfig.cpp - LFM2 / LFM2-MoE model description ----------------===//
#include "frontend/ModelConfig.h"

#include <cmath>
#include <limits>

namespace lfm2c {

bool LFM2Config::isAttention(int64_t layer) const {
  return layer >= 0 && layer < static_cast<int64_t>(kvHeads.size()) &&
         kvHeads[layer] > 0;
}

bool LFM2Config::isMoE(int64_t layer) const {
  return numExperts > 0 && layer >= numDenseLayers && layer >= 0 &&
         layer < numLayers;
}

namespace {

// Bounding every size by 2^31 keeps products of two sizes (3*H, nh*d, ...)
// far from int64 overflow, and no real model comes near it.
constexpr int64_t kMaxDim = std::numeric_limits<int32_t>::max();

Status fieldError(const std::string &field, const std::string &problem) {
  return Status::error("LFM2 config field '" + field + "' " + problem);
}

Status checkRange(const std::string &field, int64_t value, int64_t lo,
                  int64_t hi) {
  if (value < lo || value > hi) {
    return fieldError(
        field, "is " + std::to_string(value) + ", expected a value in [" +
                   std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return Status::ok();
}

} // namespace

Status LFM2Config::validate() const {
  if (arch != "lfm2" && arch != "lfm2moe") {
    return fieldError("arch",
                      "is '" + arch + "', expected 'lfm2' or 'lfm2moe'");
  }
  const std::pair<const char *, int64_t> positive[] = {
      {"vocabSize", vocabSize},   {"hiddenSize", hiddenSize},
      {"numLayers", numLayers},   {"numHeads", numHeads},
      {"headDim", headDim},       {"contextLength", contextLength},
      {"convLCache", convLCache},
  };
  for (const auto &[field, value] : positive) {
    if (Status s = checkRange(field, value, 1, kMaxDim); !s) {
      return s;
    }
  }
  if (hiddenSize % numHeads != 0) {
    return fieldError("numHeads", "(" + std::to_string(numHeads) +
                                      ") does not divide hiddenSize (" +
                                      std::to_string(hiddenSize) + ")");
  }
  if (headDim != hiddenSize / numHeads) {
    return fieldError("headDim", "is " + std::to_string(headDim) +
                                     ", expected hiddenSize / numHeads = " +
                                     std::to_string(hiddenSize / numHeads));
  }
  if (static_cast<int64_t>(kvHeads.size()) != numLayers) {
    return fieldError("kvHeads", "has " + std::to_string(kvHeads.size()) +
                                     " entries, expected numLayers = " +
                                     std::to_string(numLayers));
  }
  for (size_t i = 0; i < kvHeads.size(); ++i) {
    std::string field = "kvHeads[" + std::to_string(i) + "]";
    if (Status s = checkRange(field, kvHeads[i], 0, numHeads); !s) {
      return s;
    }
    if (kvHeads[i] > 0 && numHeads % kvHeads[i] != 0) {
      return fieldError(field, "(" + std::to_string(kvHeads[i]) +
                                   ") does not divide numHeads (" +
                                   std::to_string(numHeads) + ")");
    }
  }
  if (Status s = checkRange("numDenseLayers", numDenseLayers, 0, numLayers);
      !s) {
    return s;
  }
  if (numDenseLayers > 0) {
    if (Status s = checkRange("denseFFNSize", denseFFNSize, 1, kMaxDim); !s) {
      return s;
    }
  }
  if (!(std::isfinite(ropeTheta) && ropeTheta > 0)) {
    return fieldError("ropeTheta", "is " + std::to_string(ropeTheta) +
                                       ", expected a positive number");
  }
  if (!(std::isfinite(normEps) && normEps > 0)) {
    return fieldError("normEps", "is " + std::to_string(normEps) +
                                     ", expected a positive number");
  }
  if (arch == "lfm2") {
    if (numDenseLayers != numLayers) {
      return fieldError(
          "numDenseLayers",
          "is " + std::to_string(numDenseLayers) + ", expected numLayers (" +
              std::to_string(numLayers) + ") for a dense lfm2 model");
    }
    if (numExperts != 0 || topK != 0 || expertFFNSize != 0) {
      return fieldError("numExperts",
                        "must be 0 (with topK and expertFFNSize) for a dense "
                        "lfm2 model");
    }
    return Status::ok();
  }
  if (Status s = checkRange("numExperts", numExperts, 1, kMaxDim); !s) {
    return s;
  }
  if (topK < 1 || topK > numExperts) {
    return fieldError("topK", "is " + std::to_string(topK) +
                                  ", expected a value in [1, numExperts = " +
                                  std::to_string(numExperts) + "]");
  }
  return checkRange("expertFFNSize", expertFFNSize, 1, kMaxDim);
}

StatusOr<LFM2Config> configFromGGUF(const GGUFFile &file) {
  LFM2Config c;
  {
    StatusOr<std::string> arch = file.getString("general.architecture");
    if (!arch) {
      return arch.status();
    }
    c.arch = *arch;
  }
  if (c.arch != "lfm2" && c.arch != "lfm2moe") {
    return file.error("general.architecture is '" + c.arch +
                      "', expected 'lfm2' or 'lfm2moe'");
  }
  const std::string p = c.arch + ".";

  auto getInt = [&](const std::string &key, int64_t &out) -> Status {
    StatusOr<int64_t> v = file.getInt(p + key);
    if (!v) {
      return v.status();
    }
    out = *v;
    return Status::ok();
  };
  auto getFloat = [&](const std::string &key, double &out) -> Status {
    StatusOr<double> v = file.getFloat(p + key);
    if (!v) {
      return v.status();
    }
    out = *v;
    return Status::ok();
  };

  // Older converters omit vocab_size; the token list then defines it.
  if (file.find(p + "vocab_size")) {
    if (Status s = getInt("vocab_size", c.vocabSize); !s) {
      return s;
    }
  } else if (const GGUFValue *tokens = file.find("tokenizer.ggml.tokens")) {
    if (tokens->type != GGUFValueType::ARRAY) {
      return file.error("metadata key 'tokenizer.ggml.tokens' is not an "
                        "array, and '" +
                        p + "vocab_size' is missing");
    }
    c.vocabSize = static_cast<int64_t>(tokens->array.size());
  } else {
    return file.error("metadata key '" + p +
                      "vocab_size' is missing, and so is "
                      "'tokenizer.ggml.tokens'");
  }

  const std::pair<const char *, int64_t *> ints[] = {
      {"context_length", &c.contextLength},
      {"embedding_length", &c.hiddenSize},
      {"block_count", &c.numLayers},
      {"feed_forward_length", &c.denseFFNSize},
      {"attention.head_count", &c.numHeads},
      {"shortconv.l_cache", &c.convLCache},
  };
  for (const auto &[key, out] : ints) {
    if (Status s = getInt(key, *out); !s) {
      return s;
    }
  }
  if (Status s = getFloat("rope.freq_base", c.ropeTheta); !s) {
    return s;
  }
  if (Status s = getFloat("attention.layer_norm_rms_epsilon", c.normEps); !s) {
    return s;
  }
  if (c.numHeads > 0) {
    c.headDim = c.hiddenSize / c.numHeads;
  }

  const std::string kvKey = p + "attention.head_count_kv";
  const GGUFValue *kv = file.find(kvKey);
  if (!kv) {
    return file.error("metadata key '" + kvKey + "' is missing");
  }
  if (kv->type == GGUFValueType::ARRAY) {
    StatusOr<std::vector<int64_t>> arr = file.getIntArray(kvKey);
    if (!arr) {
      return arr.status();
    }
    if (static_cast<int64_t>(arr->size()) != c.numLayers) {
      return file.error(
          "metadata key '" + kvKey + "' has " + std::to_string(arr->size()) +
          " entries, expected block_count = " + std::to_string(c.numLayers));
    }
    c.kvHeads = std::move(*arr);
  } else {
    // A scalar would make every layer attention; legal GGUF, so accepted.
    StatusOr<int64_t> n = file.getInt(kvKey);
    if (!n) {
      return n.status();
    }
    if (c.numLayers < 0 || c.numLayers > kMaxDim) {
      return file.error("metadata key '" + p + "block_count' is " +
                        std::to_string(c.numLayers) + ", out of range");
    }
    c.kvHeads.assign(static_cast<size_t>(c.numLayers), *n);
  }

  if (c.arch == "lfm2") {
    c.numDenseLayers = c.numLayers;
  } else {
    const std::pair<const char *, int64_t *> moeInts[] = {
        {"expert_count", &c.numExperts},
        {"expert_used_count", &c.topK},
        {"expert_feed_forward_length", &c.expertFFNSize},
        {"leading_dense_block_count", &c.numDenseLayers},
    };
    for (const auto &[key, out] : moeInts) {
      if (Status s = getInt(key, *out); !s) {
        return s;
      }
    }
    if (file.find(p + "expert_gating_func")) {
      int64_t gating = 0;
      if (Status s = getInt("expert_gating_func", gating); !s) {
        return s;
      }
      if (gating != 2) {
        return file.error("metadata key '" + p + "expert_gating_func' is " +
                          std::to_string(gating) +
                          ", expected 2 (sigmoid); LFM2-MoE routes with a "
                          "sigmoid");
      }
    }
  }

  if (Status s = c.validate(); !s) {
    return file.error("invalid model: " + s.message());
  }
  return c;
}

std::vector<TensorRequirement> requiredTensors(const LFM2Config &c) {
  const int64_t H = c.hiddenSize, V = c.vocabSize, d = c.headDim;
  std::vector<TensorRequirement> out;
  auto add = [&](std::string name, std::vector<int64_t> ne, bool floatOnly) {
    out.push_back({std::move(name), std::move(ne), floatOnly});
  };
  add("token_embd.weight", {H, V}, false);
  add("token_embd_norm.weight", {H}, true);
  for (int64_t i = 0; i < c.numLayers; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    add(b + "attn_norm.weight", {H}, true);
    if (c.isAttention(i)) {
      const int64_t nkv = c.kvHeads[i];
      add(b + "attn_q.weight", {H, c.numHeads * d}, false);
      add(b + "attn_k.weight", {H, nkv * d}, false);
      add(b + "attn_v.weight", {H, nkv * d}, false);
      add(b + "attn_output.weight", {c.numHeads * d, H}, false);
      add(b + "attn_q_norm.weight", {d}, true);
      add(b + "attn_k_norm.weight", {d}, true);
    } else {
      add(b + "shortconv.in_proj.weight", {H, 3 * H}, false);
      add(b + "shortconv.conv.weight", {c.convLCache, H}, true);
      add(b + "shortconv.out_proj.weight", {H, H}, false);
    }
    add(b + "ffn_norm.weight", {H}, true);
    if (c.isMoE(i)) {
      const int64_t E = c.numExperts, Fe = c.expertFFNSize;
      add(b + "ffn_gate_inp.weight", {H, E}, true);
      add(b + "exp_probs_b.bias", {E}, true);
      add(b + "ffn_gate_exps.weight", {H, Fe, E}, false);
      add(b + "ffn_up_exps.weight", {H, Fe, E}, false);
      add(b + "ffn_down_exps.weight", {Fe, H, E}, false);
    } else {
      const int64_t F = c.denseFFNSize;
      add(b + "ffn_gate.weight", {H, F}, false);
      add(b + "ffn_up.weight", {H, F}, false);
      add(b + "ffn_down.weight", {F, H}, false);
    }
  }
  return out;
}

namespace {

Status checkOne(const GGUFFile &file, const TensorRequirement &req) {
  const GGUFTensorInfo *t = file.tensor(req.name);
  if (!t) {
    return file.error("tensor '" + req.name + "' is missing");
  }
  // ggml treats trailing unit dimensions as absent, so [H,1] is an [H].
  auto trimmed = [](std::vector<int64_t> ne) {
    while (ne.size() > 1 && ne.back() == 1) {
      ne.pop_back();
    }
    return ne;
  };
  if (trimmed(t->ne) != trimmed(req.ne)) {
    return file.error("tensor '" + req.name + "' has shape " +
                      formatShape(t->ne) + ", expected " + formatShape(req.ne));
  }
  if (req.floatOnly && !isFloatGGMLType(t->type)) {
    return file.error("tensor '" + req.name + "' has type " +
                      ggmlTypeName(t->type) + ", expected F32");
  }
  return Status::ok();
}

} // namespace

Status checkTensors(const GGUFFile &file, const LFM2Config &config) {
  if (Status s = config.validate(); !s) {
    return file.error("invalid model: " + s.message());
  }
  for (const TensorRequirement &req : requiredTensors(config)) {
    if (Status s = checkOne(file, req); !s) {
      return s;
    }
  }
  if (file.tensor("output.weight")) {
    return checkOne(
        file, {"output.weight", {config.hiddenSize, config.vocabSize}, false});
  }
  return Status::ok();
}

} // namespace lfm2c
