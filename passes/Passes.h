//===- Passes.h - The lfm2 passes and the compile pipeline ---------------===//
#ifndef LFM2C_PASSES_PASSES_H
#define LFM2C_PASSES_PASSES_H

#include "ir/LFM2Dialect.h"

#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"

#include <string>

namespace mlir::lfm2 {

#define GEN_PASS_DECL
#include "passes/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"

// Options of the whole compile pipeline, set by `lfm2c compile` flags.
struct CompilePipelineOptions {
  // Stored format of projection weights: "" keeps the file's formats;
  // otherwise q8_0, q4_0 or f32.
  std::string quant;
  // Stored element type of the KV caches: "" or "f32" keeps f32; "f16".
  std::string kvCache;
  // Run the fusion passes (off only to measure what they buy).
  bool fuse = true;
};

// The passes between import and code generation, in order.
void buildLFM2CompilePipeline(OpPassManager &pm,
                              const CompilePipelineOptions &options);

// Registers every pass and the named pipeline `lfm2-compile` with the
// command-line (for lfm2c-opt).
void registerLFM2PassesAndPipelines();

} // namespace mlir::lfm2

#endif // LFM2C_PASSES_PASSES_H
