//===- Compiler.cpp - The compile pipeline, stage by stage ----------------===//
//
//   model file --frontend--> checked description --import--> lfm2 module
//   --verify--> program plan (kernels, weights, program.cpp)
//   --Halide--> kernel objects --c++--> executable, plus the weights file.
//
// Everything is written under temporary names and renamed at the end, so a
// failed compile leaves no output behind.
//
//===----------------------------------------------------------------------===//
#include "codegen/Compiler.h"

#include "codegen/KernelRequest.h"
#include "codegen/ProgramEmitter.h"
#include "codegen/Subprocess.h"
#include "codegen/WeightsWriter.h"
#include "frontend/GGUF.h"
#include "frontend/GenerationConfig.h"
#include "frontend/Importer.h"
#include "frontend/ModelSource.h"
#include "frontend/TokenizerLoader.h"
#include "ir/LFM2Dialect.h"
#include "passes/Passes.h"
#include "targets/TargetInfo.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

namespace lfm2c {
namespace {

namespace fs = std::filesystem;

// The model plus what the binary needs besides weights: its tokenizer (when
// the checkpoint has one) and its sampling defaults.
struct LoadedModel {
  ModelSource source;
  std::optional<rt::TokenizerData> tokenizer;
  GenerationConfig generation;
};

StatusOr<LoadedModel> loadModel(const std::string &path) {
  auto source = openModel(path);
  if (!source) {
    return source.status();
  }
  LoadedModel m;
  m.source = std::move(*source);
  if (m.source.format == "hf") {
    // A folder without tokenizer.json compiles to a token-ids-only binary;
    // a broken tokenizer.json is an error.
    if (fs::exists(fs::path(path) / "tokenizer.json")) {
      auto tok = tokenizerFromHF(path);
      if (!tok) {
        return tok.status();
      }
      m.tokenizer = std::move(*tok);
    }
    auto gen = generationConfigFromHF(path);
    if (!gen) {
      return gen.status();
    }
    m.generation = *gen;
  } else {
    auto file = GGUFFile::open(path);
    if (!file) {
      return file.status();
    }
    if ((*file)->find("tokenizer.ggml.model")) {
      auto tok = tokenizerFromGGUF(**file);
      if (!tok) {
        return tok.status();
      }
      m.tokenizer = std::move(*tok);
    }
    m.generation = generationConfigFromGGUF(**file);
  }
  return m;
}

void registerDialects(mlir::MLIRContext &ctx) {
  ctx.loadDialect<mlir::lfm2::LFM2Dialect, mlir::func::FuncDialect>();
}

int fail(const std::string &message) {
  std::fprintf(stderr, "lfm2c: error: %s\n", message.c_str());
  return 1;
}

class Progress {
public:
  explicit Progress(bool quiet) : quiet_(quiet) {}
  void step(int n, const std::string &what) {
    if (!quiet_) {
      std::fprintf(stderr, "lfm2c: [%d/6] %s\n", n, what.c_str());
    }
  }
  void detail(const std::string &what) {
    if (!quiet_) {
      std::fprintf(stderr, "lfm2c:       %s\n", what.c_str());
    }
  }

private:
  bool quiet_;
};

// Temporary outputs that are removed unless committed.
class PendingOutputs {
public:
  ~PendingOutputs() {
    std::error_code ec;
    for (const std::string &p : paths_) {
      fs::remove_all(p, ec);
    }
  }
  void add(const std::string &p) { paths_.push_back(p); }
  void release() { paths_.clear(); }

private:
  std::vector<std::string> paths_;
};

} // namespace

int importModelToStdout(const std::string &modelPath) {
  auto model = loadModel(modelPath);
  if (!model) {
    return fail(model.status().message());
  }
  mlir::MLIRContext ctx;
  registerDialects(ctx);
  auto module = importModel(ctx, model->source.config, model->source.tensor,
                            model->source.name);
  if (!module || failed(mlir::verify(*module))) {
    return fail(modelPath + ": the imported module does not verify");
  }
  module->print(llvm::outs());
  llvm::outs() << "\n";
  return 0;
}

int compileModel(const CompileOptions &opt) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  Progress progress(opt.quiet);
  PendingOutputs pending;

  auto target = createTarget(opt.targetName);
  if (target && opt.hostIsa) {
    target = withHostInstructions(std::move(*target));
  }
  if (!target) {
    return fail(target.status().message());
  }
  const TargetInfo &tgt = **target;
  if (opt.outputPath.empty()) {
    return fail("-o: no output path given");
  }
  // The driver and the runtime built for the target are checked before any
  // work, so a missing cross toolchain fails at once and writes nothing.
  const std::string driver =
      opt.compilerDriver.empty() ? tgt.compilerDriver() : opt.compilerDriver;
  if (findExecutable(driver).empty()) {
    std::string hint = tgt.compilerDriverHint();
    return fail("target " + tgt.name() + ": C++ compiler driver '" + driver +
                "' not found" +
                (driver.find('/') == std::string::npos ? " on PATH" : "") +
                "; " +
                (hint.empty() ? "install it or name one with --cc" : hint));
  }
  std::string libDir = LFM2C_LIB_DIR;
  if (!tgt.runtimeLibrarySubdir().empty()) {
    libDir += "/" + tgt.runtimeLibrarySubdir();
  }
  if (!fs::exists(libDir + "/liblfm2c_runtime.a")) {
    return fail("target " + tgt.name() + ": no runtime library " + libDir +
                "/liblfm2c_runtime.a; this lfm2c was configured without the "
                "target's cross compiler (install it, then re-run cmake and "
                "rebuild lfm2c)");
  }

  // Printed even with --quiet: a user must not mistake what was built.
  for (const std::string &part : tgt.unbuiltParts()) {
    std::fprintf(stderr, "lfm2c: note: %s\n", part.c_str());
  }

  progress.step(1, "reading " + opt.modelPath);
  auto model = loadModel(opt.modelPath);
  if (!model) {
    return fail(model.status().message());
  }
  const std::string modelName = model->source.name;
  if (!model->tokenizer) {
    progress.detail("no tokenizer in the model: the binary will take token "
                    "ids only (--tokens)");
  }

  progress.step(2, "importing into the lfm2 dialect");
  mlir::MLIRContext ctx;
  registerDialects(ctx);
  auto module =
      importModel(ctx, model->source.config, model->source.tensor, modelName);
  if (!module || failed(mlir::verify(*module))) {
    return fail(opt.modelPath + ": the imported module does not verify");
  }

  {
    mlir::PassManager pm(&ctx);
    mlir::lfm2::CompilePipelineOptions pipeline;
    pipeline.quant = opt.quant;
    pipeline.kvCache = opt.kvCache;
    pipeline.fuse = opt.fuse;
    mlir::lfm2::buildLFM2CompilePipeline(pm, pipeline);
    if (failed(pm.run(*module))) {
      return fail(opt.modelPath + ": the compile pipeline failed (see above)");
    }
  }

  // Artefacts go to OUT.artifacts when kept, else to a temporary folder.
  std::string work;
  if (opt.keepArtifacts) {
    work = opt.outputPath + ".artifacts";
    std::error_code ec;
    fs::create_directories(work, ec);
    if (ec) {
      return fail(work + ": cannot create: " + ec.message());
    }
    std::string ir;
    llvm::raw_string_ostream os(ir);
    module->print(os);
    std::ofstream(work + "/imported.mlir") << ir;
  } else {
    char tmpl[] = "/tmp/lfm2c-XXXXXX";
    if (!mkdtemp(tmpl)) {
      return fail("cannot create a temporary folder");
    }
    work = tmpl;
    pending.add(work);
  }

  progress.step(3, "planning the program for target " + tgt.name());
  auto plan = planProgram(*module, tgt, modelName);
  if (failed(plan)) {
    return fail(opt.modelPath + ": code generation failed (see above)");
  }
  progress.detail(std::to_string(plan->kernels.size()) + " kernels, " +
                  std::to_string(plan->weights.size()) + " weight tensors, " +
                  std::to_string(plan->weightsBytes >> 10) + " KiB of weights");
  progress.detail(
      "scratch arena: " + std::to_string(plan->arenaPerToken * 4 >> 10) +
      " KiB per token + " + std::to_string(plan->arenaFixed * 4 >> 10) +
      " KiB");

  progress.step(4, "compiling kernels with Halide");
  auto objects =
      compileKernels(plan->kernels, tgt, work, driver, opt.keepArtifacts,
                     [&](size_t i, size_t n, const std::string &name) {
                       progress.detail("(" + std::to_string(i + 1) + "/" +
                                       std::to_string(n) + ") " + name);
                     });
  if (!objects) {
    return fail(objects.status().message());
  }

  progress.step(5, "writing weights");
  const std::string weightsPath = opt.outputPath + ".weights";
  const std::string weightsTmp = weightsPath + ".tmp";
  const std::string exeTmp = opt.outputPath + ".tmp";
  pending.add(weightsTmp);
  pending.add(exeTmp);
  const std::string tokenizerBlob =
      model->tokenizer ? model->tokenizer->serialize() : std::string();
  auto written = writeWeights(weightsTmp, plan->weights, plan->weightsBytes,
                              model->source.tensor, tokenizerBlob, nullptr);
  if (!written) {
    return fail(written.status().message());
  }
  ProgramConstants constants;
  constants.weightsHash = written->hash;
  constants.dataBytes = written->dataBytes;
  constants.tokenizerOffset = written->tokenizerOffset;
  constants.tokenizerBytes = written->tokenizerBytes;
  const GenerationConfig &gen = model->generation;
  constants.temperature = gen.temperature;
  constants.topK = gen.topK;
  constants.topP = gen.topP;
  constants.minP = gen.minP;
  constants.repeatPenalty = gen.repeatPenalty;

  progress.step(6, "linking " + opt.outputPath);
  const std::string programPath = work + "/program.cpp";
  std::ofstream(programPath) << plan->render(constants);
  std::vector<std::string> cmd = {driver,
                                  "-O2",
                                  "-std=c++17",
                                  "-I" LFM2C_SOURCE_DIR,
                                  "-I" LFM2C_HALIDE_INCLUDE_DIR,
                                  programPath};
  cmd.insert(cmd.end(), objects->objectFiles.begin(),
             objects->objectFiles.end());
  for (const std::string &flag :
       {"-L" + libDir, std::string("-llfm2c_runtime"),
        std::string("-llfm2c_tokenizer"), std::string("-llfm2c_base"),
        std::string("-lpthread"), std::string("-ldl"), std::string("-o"),
        exeTmp}) {
    cmd.push_back(flag);
  }
  for (const std::string &flag : tgt.linkFlags()) {
    cmd.push_back(flag);
  }
  if (Status st = runCommand(cmd); !st) {
    return fail(st.message());
  }

  std::error_code ec;
  fs::rename(weightsTmp, weightsPath, ec);
  if (!ec) {
    fs::rename(exeTmp, opt.outputPath, ec);
  }
  if (ec) {
    return fail(opt.outputPath +
                ": cannot move the output into place: " + ec.message());
  }
  pending.release();
  if (!opt.keepArtifacts) {
    fs::remove_all(work, ec);
  }
  const double secs =
      std::chrono::duration<double>(Clock::now() - start).count();
  if (!opt.quiet) {
    std::fprintf(stderr, "lfm2c: wrote %s and %s in %.1f s\n",
                 opt.outputPath.c_str(), weightsPath.c_str(), secs);
    if (!tgt.runsOnHost()) {
      std::string prefix;
      for (const std::string &w : tgt.runCommandPrefix()) {
        prefix += w + " ";
      }
      if (!prefix.empty()) {
        std::fprintf(stderr,
                     "lfm2c: %s does not run natively here; run it "
                     "with: %s%s\n",
                     opt.outputPath.c_str(), prefix.c_str(),
                     opt.outputPath.c_str());
      }
    }
  }
  return 0;
}

} // namespace lfm2c
