//===- WeightsWriter.h - Writing the compiled weights file ----------------===//
#ifndef LFM2C_CODEGEN_WEIGHTSWRITER_H
#define LFM2C_CODEGEN_WEIGHTSWRITER_H

#include "codegen/ProgramEmitter.h"
#include "frontend/Importer.h"
#include "runtime/Status.h"

#include <functional>
#include <string>

namespace lfm2c {

struct WrittenWeights {
  uint64_t hash = 0;      // the content hash the program is compiled with
  uint64_t dataBytes = 0; // everything after the header
  uint64_t tokenizerOffset = 0, tokenizerBytes = 0;
};

// Writes the planned weights to `path` in the layout of
// runtime/WeightsFormat.h, converting each source tensor to the stored
// format (f32: F16, BF16, Q8_0, Q4_0 and Q6_K sources are expanded exactly;
// Q8_0 / Q4_0 / Q6_K as codegen/QuantLayout.h), then the serialized
// tokenizer (may be empty).
StatusOr<WrittenWeights>
writeWeights(const std::string &path, const std::vector<PlannedWeight> &plan,
             uint64_t tensorBytes, const TensorLookup &tensors,
             const std::string &tokenizerBlob,
             const std::function<void(size_t, size_t)> &progress);

// Expands `count` values of a source tensor to f32 (exposed for tests).
Status dequantizeToF32(const GGUFTensorInfo &tensor, float *out, int64_t count);

} // namespace lfm2c

#endif // LFM2C_CODEGEN_WEIGHTSWRITER_H
