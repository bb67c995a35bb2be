//===- Compiler.h - lfm2c compile: model file to native executable ------===//
#ifndef LFM2C_CODEGEN_COMPILER_H
#define LFM2C_CODEGEN_COMPILER_H

#include <string>

namespace lfm2c {

struct CompileOptions {
  std::string modelPath;
  std::string outputPath;
  std::string targetName = "host";
  // C++ driver that compiles program.cpp and links the executable; empty
  // takes the target's (TargetInfo::compilerDriver). `lfm2c compile --cc`.
  std::string compilerDriver;
  // Stored format of projection weights (lfm2-quantize): "" keeps the
  // file's formats; q8_0, q4_0 or f32.
  std::string quant;
  // Stored element type of the KV caches (lfm2-kv-cache): "" or "f32", or
  // "f16" (`--kv-cache`).
  std::string kvCache;
  // Compile the kernels for the instructions of the machine compiling,
  // keeping the target's layouts and schedules (`--host-isa`).
  bool hostIsa = false;
  bool fuse = true; // run the fusion passes (`--no-fuse` measures them)
  bool keepArtifacts = false; // keep OUT.artifacts/ (IR, program, .stmt, .s)
  bool quiet = false;         // no progress lines
};

// Runs the whole pipeline; on failure prints the diagnostics, removes any
// partial output and returns a non-zero exit code.
int compileModel(const CompileOptions &options);

// `lfm2c import`: prints the imported module; returns an exit code.
int importModelToStdout(const std::string &modelPath);

} // namespace lfm2c

#endif // LFM2C_CODEGEN_COMPILER_H
