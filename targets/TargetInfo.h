//===- TargetInfo.h - What the compiler may ask about a target ---------===//
//
// Every target the compiler can emit code for is described behind this one
// interface. Passes and codegen ask it for features (vector width, int8 dot
// products, the Halide target, how to link); they never compare target names,
// so adding a target means adding a TargetInfo, not editing shared code.
//
//===----------------------------------------------------------------------===//
#ifndef LFM2C_TARGETS_TARGETINFO_H
#define LFM2C_TARGETS_TARGETINFO_H

#include "runtime/Status.h"

#include <memory>
#include <string>
#include <vector>

namespace lfm2c {

class TargetInfo {
public:
  virtual ~TargetInfo() = default;

  // The name given to --target.
  virtual std::string name() const = 0;
  // One line for --list-targets.
  virtual std::string description() const = 0;
  // The feature names this target enables, for --list-targets and notes.
  virtual std::vector<std::string> features() const = 0;

  // The Halide target string (e.g. "x86-64-linux-avx2-fma") every kernel of
  // this target is compiled for. A string keeps this header free of Halide,
  // so MLIR code (built without RTTI) can include it.
  virtual std::string halideTarget() const = 0;
  // Width of the widest native vector register, in bytes. Schedules derive
  // their vector widths from this instead of hard-coding 16/32/64.
  virtual int vectorBytes() const = 0;
  // Architectural vector registers (x86: 16, or 32 with AVX-512; AArch64:
  // 32): how many accumulators a register tile can keep.
  virtual int vectorRegisters() const = 0;
  // True when the CPU has int8 dot-product instructions (VNNI, sdot).
  virtual bool hasInt8DotProduct() const = 0;

  // The C++ compiler driver used to compile the generated program and link
  // the executable (`lfm2c compile --cc` overrides it), and any extra flags
  // it needs.
  virtual std::string compilerDriver() const { return "c++"; }
  virtual std::vector<std::string> linkFlags() const { return {}; }
  // Flags the driver needs to assemble this target's kernels (those that go
  // through assembly, see compileKernelObject): the instruction set
  // extensions their code may use.
  virtual std::vector<std::string> assemblerFlags() const { return {}; }
  // What to tell the user when compilerDriver() cannot be found: how to
  // install it or name another one. Empty gives a generic message.
  virtual std::string compilerDriverHint() const { return ""; }
  // Where the runtime libraries (lfm2c_runtime, lfm2c_base) built for this
  // target live, relative to the compiler's library folder; empty for the
  // libraries built for the machine running the compiler.
  virtual std::string runtimeLibrarySubdir() const { return ""; }
  // True when binaries for this target can run on the machine compiling.
  virtual bool runsOnHost() const = 0;
  // The command words that run a binary of this target on the machine
  // compiling when it does not run natively (an emulator such as
  // qemu-aarch64-static with its CPU options); empty when it runs natively
  // or there is no known way.
  virtual std::vector<std::string> runCommandPrefix() const { return {}; }

  // What this target names but the compiler does not build yet (e.g. the
  // NPU partition of a CPU+NPU target); `lfm2c compile` prints each line as
  // a note so nobody mistakes a CPU-only binary for a split one.
  virtual std::vector<std::string> unbuiltParts() const { return {}; }

  // Vector lanes of a given element size, from vectorBytes().
  int lanes(int elementBytes) const { return vectorBytes() / elementBytes; }
};

// Creates the target called `name`; an unknown name gives an error that
// lists the known ones.
StatusOr<std::unique_ptr<TargetInfo>> createTarget(const std::string &name);
// `target` with its kernels compiled for the instructions of the machine
// running the compiler (`lfm2c compile --host-isa`): its layouts and
// schedules, runnable here. An error when the architectures differ.
StatusOr<std::unique_ptr<TargetInfo>>
withHostInstructions(std::unique_ptr<TargetInfo> target);
// All target names, in the order --list-targets prints them.
std::vector<std::string> targetNames();

} // namespace lfm2c

#endif // LFM2C_TARGETS_TARGETINFO_H
