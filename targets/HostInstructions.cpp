//===- HostInstructions.cpp - A target's layouts on this machine's ISA ---===//
//
// `lfm2c compile --host-isa`: the program a target gets -- its weight
// layouts, schedules and vector widths, every decision the compiler takes
// from TargetInfo -- with its kernels compiled for the instructions of the
// machine compiling. A Zen 5 program's 16-row interleaved weights and
// 64-byte schedules then run on an AVX2 machine (Halide splits each 512-bit
// operation into two 256-bit ones and emulates vpdpbusd), so the end-to-end
// goldens check what a Zen 5 user runs, short of the instruction selection,
// which the kernel tests check by name. For correctness, not speed.
//
//===----------------------------------------------------------------------===//
#include "targets/TargetInfo.h"

#include <Halide.h>

namespace lfm2c {
namespace {

class HostInstructionsTarget final : public TargetInfo {
public:
  HostInstructionsTarget(std::unique_ptr<TargetInfo> base, Halide::Target host)
      : base_(std::move(base)), host_(host) {}

  std::string name() const override { return base_->name() + " (host ISA)"; }
  std::string description() const override {
    return base_->description() + "; kernels compiled for this machine's "
                                  "instructions";
  }
  std::vector<std::string> features() const override {
    return base_->features();
  }
  std::string halideTarget() const override { return host_.to_string(); }
  int vectorBytes() const override { return base_->vectorBytes(); }
  int vectorRegisters() const override { return base_->vectorRegisters(); }
  // The kernels use this machine's instructions, which its own driver knows.
  std::vector<std::string> assemblerFlags() const override {
    return {"-march=native"};
  }
  bool hasInt8DotProduct() const override { return base_->hasInt8DotProduct(); }
  std::string compilerDriver() const override { return "c++"; }
  bool runsOnHost() const override { return true; }
  std::vector<std::string> unbuiltParts() const override {
    return base_->unbuiltParts();
  }

private:
  std::unique_ptr<TargetInfo> base_;
  Halide::Target host_;
};

} // namespace

StatusOr<std::unique_ptr<TargetInfo>>
withHostInstructions(std::unique_ptr<TargetInfo> target) {
  const Halide::Target own(target->halideTarget());
  const Halide::Target host = Halide::get_host_target();
  // Schedules branch on the architecture (x86 takes u8 weights, ARM i8), so
  // only the instruction-set extensions may change, not the architecture.
  if (own.arch != host.arch || own.bits != host.bits || own.os != host.os) {
    return Status::error(
        "--host-isa: target " + target->name() + " is " +
        Halide::Target(own.os, own.arch, own.bits).to_string() +
        " but this machine is " +
        Halide::Target(host.os, host.arch, host.bits).to_string() +
        "; only a target of the same architecture can run on its "
        "instructions (run arm64 targets under qemu instead)");
  }
  return std::unique_ptr<TargetInfo>(
      std::make_unique<HostInstructionsTarget>(std::move(target), host));
}

} // namespace lfm2c
