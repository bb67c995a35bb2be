//===- GenerationConfig.h - A model's own sampling defaults -------------===//
//
// Compiled binaries sample with the model's recommended settings unless the
// user overrides them: from generation_config.json beside a Hugging Face
// checkpoint, from general.sampling.* keys in a GGUF file, and otherwise
// LiquidAI's recommendation for LFM2 (temperature 0.3, min-p 0.15,
// repetition penalty 1.05).
//
//===----------------------------------------------------------------------===//
#ifndef LFM2C_FRONTEND_GENERATIONCONFIG_H
#define LFM2C_FRONTEND_GENERATIONCONFIG_H

#include "frontend/GGUF.h"
#include "runtime/Status.h"

#include <string>

namespace lfm2c {

struct GenerationConfig {
  float temperature = 0.3f;
  int32_t topK = 0;
  float topP = 1.0f;
  float minP = 0.15f;
  float repeatPenalty = 1.05f;
};

// Reads <dir>/generation_config.json if it exists; a malformed file is an
// error naming it.
StatusOr<GenerationConfig> generationConfigFromHF(const std::string &dir);
GenerationConfig generationConfigFromGGUF(const GGUFFile &file);

} // namespace lfm2c

#endif // LFM2C_FRONTEND_GENERATIONCONFIG_H
