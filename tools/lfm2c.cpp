//===- lfm2c.cpp - The lfm2c command line -------------------------------===//
//
//   lfm2c import MODEL              print the model as lfm2-dialect IR
//   lfm2c compile MODEL -o OUT      write the executable OUT and OUT.weights
//   lfm2c --list-targets            every target with its features
//
//===----------------------------------------------------------------------===//
#include "codegen/Compiler.h"
#include "targets/TargetInfo.h"

#include <CLI/CLI.hpp>

#include <cstdio>

namespace {

constexpr const char *kVersion = "lfm2c 0.1.0 (MLIR 22, Halide 21)";

int listTargets() {
  for (const std::string &name : lfm2c::targetNames()) {
    auto t = lfm2c::createTarget(name);
    if (!t) {
      continue;
    }
    std::printf("%-16s %s\n", name.c_str(), (*t)->description().c_str());
    std::string features;
    for (const std::string &f : (*t)->features()) {
      features += (features.empty() ? "" : ", ") + f;
    }
    std::printf("%-16s features: %s; vector width %d bytes%s\n", "",
                features.c_str(), (*t)->vectorBytes(),
                (*t)->hasInt8DotProduct() ? "; int8 dot products" : "");
    std::string runner;
    for (const std::string &w : (*t)->runCommandPrefix()) {
      runner += (runner.empty() ? "" : " ") + w;
    }
    if (!runner.empty()) {
      std::printf("%-16s runs here under: %s\n", "", runner.c_str());
    }
  }
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"lfm2c: ahead-of-time compiler for LiquidAI LFM2 models"};
  app.set_version_flag("--version", kVersion);
  app.require_subcommand(0, 1);
  bool list = false;
  app.add_flag("--list-targets", list, "List the targets and their features");

  std::string importPath;
  CLI::App *import =
      app.add_subcommand("import", "Print a model as lfm2-dialect IR");
  import
      ->add_option("model", importPath,
                   "GGUF model file or Hugging Face folder")
      ->required()
      ->check(CLI::ExistingPath);

  lfm2c::CompileOptions opt;
  CLI::App *compile = app.add_subcommand(
      "compile", "Compile a model into an executable and its weights file");
  compile
      ->add_option("model", opt.modelPath,
                   "GGUF model file or Hugging Face folder")
      ->required()
      ->check(CLI::ExistingPath);
  compile
      ->add_option("-o,--output", opt.outputPath,
                   "Executable to write (weights go to OUTPUT.weights)")
      ->required();
  compile
      ->add_option("--target", opt.targetName,
                   "Target to compile for (see --list-targets)")
      ->capture_default_str();
  compile->add_option("--cc", opt.compilerDriver,
                      "C++ driver that compiles and links the executable "
                      "(default: the target's, e.g. c++ or "
                      "aarch64-linux-gnu-g++ / $LFM2C_CC_ARM64)");
  compile
      ->add_option("--quant", opt.quant,
                   "Store projection weights as q8_0, q4_0 or f16 "
                   "(routers, norms and conv kernels stay f32), or expand "
                   "all to f32; default: as in the file")
      ->check(CLI::IsMember({"q8_0", "q4_0", "f16", "f32"}));
  compile
      ->add_option("--kv-cache", opt.kvCache,
                   "Store the KV caches' rows as f32 (default) or f16: half "
                   "the cache memory and attention reads at long contexts, "
                   "keys and values rounded to half precision as llama.cpp "
                   "does by default")
      ->check(CLI::IsMember({"f32", "f16"}));
  compile->add_flag(
      "--host-isa", opt.hostIsa,
      "Keep the target's weight layouts and schedules but compile its "
      "kernels for this machine's instructions, so a program for a CPU you "
      "do not have (e.g. --target=x86-64-avx512 on an AVX2 machine) runs "
      "here; for checking it against goldens, not for speed");
  bool noFuse = false;
  compile->add_flag("--no-fuse", noFuse,
                    "Skip the fusion passes (one kernel per unfused op; for "
                    "measuring what fusion buys)");
  compile->add_flag("--keep-artifacts", opt.keepArtifacts,
                    "Keep IR, program.cpp, kernel objects, .stmt and .s in "
                    "OUTPUT.artifacts/");
  compile->add_flag("-q,--quiet", opt.quiet, "No progress messages");

  CLI11_PARSE(app, argc, argv);
  opt.fuse = !noFuse;
  if (list) {
    return listTargets();
  }
  if (*import) {
    return lfm2c::importModelToStdout(importPath);
  }
  if (*compile) {
    return lfm2c::compileModel(opt);
  }
  std::printf("%s", app.help().c_str());
  return 0;
}
