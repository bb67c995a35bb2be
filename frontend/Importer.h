//===- Importer.h - An LFM2 model as a module of the lfm2 dialect -------===//
//
// The importer turns a checked model description into one function,
// @forward, over the lfm2 dialect: token ids and the position of the first
// token in; logits and the updated decode state out. Conv states and KV
// caches are explicit arguments and results, so the IR says what persists.
// Weights are lfm2.weight ops naming the source tensor and its format.
//
//===----------------------------------------------------------------------===//
#ifndef LFM2C_FRONTEND_IMPORTER_H
#define LFM2C_FRONTEND_IMPORTER_H

#include "frontend/GGUF.h"
#include "frontend/ModelConfig.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <functional>
#include <string>

namespace lfm2c {

// The storage type of a named source tensor; nullptr if absent.
using TensorLookup = std::function<const GGUFTensorInfo *(const std::string &)>;

mlir::OwningOpRef<mlir::ModuleOp> importModel(mlir::MLIRContext &context,
                                              const LFM2Config &config,
                                              const TensorLookup &tensors,
                                              const std::string &sourceName);

} // namespace lfm2c

#endif // LFM2C_FRONTEND_IMPORTER_H
