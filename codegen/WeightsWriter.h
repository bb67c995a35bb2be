//===- WeightsWriter.h - Writing the compiled weights file ----------------===//
#ifndef LFM2C_CODEGEN_WEIGHTSWRITER_H
#define LFM2C_CODEGEN_WEIGHTSWRITER_H

#include "codegen/ProgramEmitter.h"
#include "frontend/Importer.h"
#include "runtime/Status.h"

#include <functional>
#include <string>

namespace lfm2c {

// Writes the planned weights to `path` in the layout of
// runtime/WeightsFormat.h, converting each source tensor to the stored
// format (f32: F16, BF16, Q8_0, Q4_0 and Q6_K sources are expanded exactly).
// Returns the content hash the program must be compiled with.
StatusOr<uint64_t>
writeWeights(const std::string &path, const std::vector<PlannedWeight> &plan,
             uint64_t dataBytes, const TensorLookup &tensors,
             const std::function<void(size_t, size_t)> &progress);

// Expands `count` values of a source tensor to f32 (exposed for tests).
Status dequantizeToF32(const GGUFTensorInfo &tensor, float *out,
                       int64_t count);

} // namespace lfm2c

#endif // LFM2C_CODEGEN_WEIGHTSWRITER_H
