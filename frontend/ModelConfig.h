//===- ModelConfig.h - LFM2 / LFM2-MoE model description ----------------===//
//
// LFM2Config is the format-neutral description the rest of the compiler
// works from. configFromGGUF fills it from GGUF metadata; a Hugging Face
// loader can fill the same struct from config.json and reuse validate().
//
//===----------------------------------------------------------------------===//
#ifndef LFM2C_FRONTEND_MODELCONFIG_H
#define LFM2C_FRONTEND_MODELCONFIG_H

#include "frontend/GGUF.h"
#include "runtime/Status.h"

#include <cstdint>
#include <string>
#include <vector>

namespace lfm2c {

struct LFM2Config {
  std::string arch; // "lfm2" (dense) or "lfm2moe"
  int64_t vocabSize = 0;
  int64_t hiddenSize = 0;
  int64_t numLayers = 0;
  int64_t numHeads = 0;
  int64_t headDim = 0; // hiddenSize / numHeads
  int64_t contextLength = 0;
  // Per layer: 0 marks a gated short-convolution layer, > 0 an attention
  // layer with that many key/value heads.
  std::vector<int64_t> kvHeads;
  int64_t denseFFNSize = 0;   // feed_forward_length
  int64_t numDenseLayers = 0; // leading dense layers; numLayers for lfm2
  int64_t numExperts = 0;
  int64_t topK = 0;
  int64_t expertFFNSize = 0;
  double ropeTheta = 0;
  double normEps = 0;
  int64_t convLCache = 0;

  bool isAttention(int64_t layer) const;
  bool isMoE(int64_t layer) const;
  // Checks internal consistency; errors name the offending field.
  Status validate() const;
};

// Reads the `{arch}.*` keys; errors begin with the file path.
StatusOr<LFM2Config> configFromGGUF(const GGUFFile &file);

// One tensor an LFM2 model must have.
struct TensorRequirement {
  std::string name;        // GGUF name
  std::vector<int64_t> ne; // ggml order
  // Norms, router, expert bias and conv kernel must be F32, F16 or BF16;
  // matrices may be any supported type.
  bool floatOnly = false;
};

// The required tensors in a deterministic order: global tensors, then each
// layer's. The optional untied `output.weight` is not listed.
std::vector<TensorRequirement> requiredTensors(const LFM2Config &config);

// Checks every required tensor (and output.weight if present) for presence,
// shape and type. The first problem is reported, e.g.
// "model.gguf: tensor 'blk.1.attn_q.weight' is missing".
Status checkTensors(const GGUFFile &file, const LFM2Config &config);

} // namespace lfm2c

#endif // LFM2C_FRONTEND_MODELCONFIG_H
