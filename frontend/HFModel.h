//===- HFModel.h - A Hugging Face LFM2 folder as a GGUF-style model -----===//
//
// HFModel reads a Hugging Face checkpoint folder (config.json plus
// model.safetensors, or model.safetensors.index.json and its shards) and
// presents it exactly as the GGUF twin would be presented: an LFM2Config and
// tensors under their GGUF names with ggml-order shapes. The rest of the
// compiler therefore needs no Hugging Face knowledge.
//
// Tensor data stays in the safetensors mappings, except for the MoE expert
// weights: Hugging Face stores one [Fe, H] matrix per expert, while the
// compiler expects them stacked into one [H, Fe, E] tensor, so HFModel copies
// them into an owned buffer when it opens the folder (see HFModel.cpp).
//
//===----------------------------------------------------------------------===//
#ifndef LFM2C_FRONTEND_HFMODEL_H
#define LFM2C_FRONTEND_HFMODEL_H

#include "frontend/GGUF.h"
#include "frontend/ModelConfig.h"
#include "frontend/Safetensors.h"
#include "runtime/Status.h"

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace lfm2c {

// Reads an LFM2 / LFM2-MoE config.json. Errors begin with `path` and name the
// field, e.g. "hf/config.json: field 'hidden_size' is missing, expected an
// integer".
StatusOr<LFM2Config> configFromHFConfigFile(const std::string &path);
// The same from JSON text; `path` is only used in messages.
StatusOr<LFM2Config> configFromHFConfigText(const std::string &text,
                                            const std::string &path);

// The Hugging Face name of a GGUF tensor ("blk.3.attn_k.weight" ->
// "model.layers.3.self_attn.k_proj.weight"). For the stacked expert tensors
// the per-expert name of expert `expert` is returned. Empty if the GGUF name
// has no Hugging Face counterpart.
std::string hfTensorName(const std::string &ggufName, int64_t expert = 0);

class HFModel {
public:
  // `dir` holds config.json and the safetensors file(s). Every tensor the
  // configuration requires is checked for presence, shape and dtype.
  static StatusOr<std::unique_ptr<HFModel>> open(const std::string &dir);

  const std::string &dir() const { return dir_; }
  const LFM2Config &config() const { return config_; }
  // By GGUF name (e.g. "blk.0.ffn_gate_exps.weight"), with a ggml-order
  // shape, type F32, F16 or BF16 and offset 0; nullptr if absent. The
  // optional "output.weight" exists only for an untied lm_head.weight.
  const GGUFTensorInfo *tensor(const std::string &ggufName) const;
  // requiredTensors(config()) order, then output.weight if present.
  const std::vector<GGUFTensorInfo> &tensors() const { return tensors_; }
  // The opened safetensors files (one, or one per shard).
  const std::vector<std::unique_ptr<SafetensorsFile>> &files() const {
    return files_;
  }
  // Bytes copied to stack expert weights.
  uint64_t ownedBytes() const { return ownedBytes_; }

private:
  HFModel() = default;
  friend class HFModelLoader;

  std::string dir_;
  LFM2Config config_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  // Stacked expert tensors. A copy made once, at compile time, because the
  // per-expert source matrices are not adjacent in the files; the compiled
  // program never reads Hugging Face files, so nothing is copied at run time.
  std::vector<std::unique_ptr<uint8_t[]>> owned_;
  uint64_t ownedBytes_ = 0;
  std::vector<GGUFTensorInfo> tensors_;
  std::unordered_map<std::string, size_t> index_;
};

} // namespace lfm2c

#endif // LFM2C_FRONTEND_HFMODEL_H
