//===- Pipeline.cpp - The lfm2 compile pipeline ---------------------------===//
#include "passes/Passes.h"

#include "mlir/Pass/PassRegistry.h"

namespace mlir::lfm2 {

void buildLFM2CompilePipeline(OpPassManager &pm,
                              const CompilePipelineOptions &options) {
  // Storage formats are decided first: every later decision (kernels,
  // packing, memory) depends on how many bytes a weight takes.
  if (!options.quant.empty()) {
    LFM2QuantizeWeightsPassOptions quant;
    quant.format = options.quant;
    pm.addPass(createLFM2QuantizeWeightsPass(quant));
  }
  if (!options.kvCache.empty()) {
    LFM2KVCacheFormatPassOptions kv;
    kv.format = options.kvCache;
    pm.addPass(createLFM2KVCacheFormatPass(kv));
  }
  // Codegen lowers kernel-level ops only.
  pm.addPass(createLFM2DecomposePass());
  if (options.fuse) {
    // SwiGLU first: gate and up read the same input and would otherwise be
    // merged as plain projections. Norms fold into the merged projection,
    // residuals into the output projections.
    pm.addPass(createLFM2FuseSwiGLUPass());
    pm.addPass(createLFM2MergeProjectionsPass());
    pm.addPass(createLFM2FuseRMSNormPass());
    pm.addPass(createLFM2FuseResidualPass());
  }
}

namespace {
struct PipelineCLOptions : PassPipelineOptions<PipelineCLOptions> {
  Option<std::string> quant{*this, "quant",
                            llvm::cl::desc("Stored format of projection "
                                           "weights (q8_0, q4_0, f16, f32)"),
                            llvm::cl::init("")};
  Option<std::string> kvCache{
      *this, "kv-cache",
      llvm::cl::desc("Stored element type of the KV caches (f32, f16)"),
      llvm::cl::init("")};
  Option<bool> fuse{*this, "fuse", llvm::cl::desc("Run the fusion passes"),
                    llvm::cl::init(true)};
};
} // namespace

void registerLFM2PassesAndPipelines() {
  registerLFM2Passes();
  PassPipelineRegistration<PipelineCLOptions>(
      "lfm2-compile",
      "The passes lfm2c compile runs between import and code "
      "generation",
      [](OpPassManager &pm, const PipelineCLOptions &cl) {
        CompilePipelineOptions options;
        options.quant = cl.quant;
        options.kvCache = cl.kvCache;
        options.fuse = cl.fuse;
        buildLFM2CompilePipeline(pm, options);
      });
}

} // namespace mlir::lfm2
