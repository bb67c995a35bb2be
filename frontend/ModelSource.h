//===- ModelSource.h - Open a model from GGUF or a Hugging Face folder ---===//
//
// openModel is the one entry point the compiler needs: a file is read as
// GGUF, a directory as a Hugging Face checkpoint (config.json + safetensors).
// Both give the same description: an LFM2Config and tensors by GGUF name
// with ggml-order shapes, checked against the configuration.
//
//===----------------------------------------------------------------------===//
#ifndef LFM2C_FRONTEND_MODELSOURCE_H
#define LFM2C_FRONTEND_MODELSOURCE_H

#include "frontend/GGUF.h"
#include "frontend/ModelConfig.h"
#include "runtime/Status.h"

#include <functional>
#include <memory>
#include <string>

namespace lfm2c {

struct ModelSource {
  LFM2Config config;
  // By GGUF name; nullptr if absent. Same type as TensorLookup
  // (frontend/Importer.h). The returned pointers, and the data they point
  // to, live as long as `keepAlive` (copies of the ModelSource share it).
  std::function<const GGUFTensorInfo *(const std::string &)> tensor;
  // A short name for messages and IR: the file or folder name
  // ("model-f32.gguf", "hf").
  std::string name;
  // "gguf" or "hf".
  std::string format;
  // Owns the GGUFFile or HFModel behind `tensor`.
  std::shared_ptr<void> keepAlive;
};

// A directory -> HFModel::open; anything else -> GGUFFile::open +
// configFromGGUF + checkTensors. Errors name the file and the problem.
StatusOr<ModelSource> openModel(const std::string &path);

} // namespace lfm2c

#endif // LFM2C_FRONTEND_MODELSOURCE_H
