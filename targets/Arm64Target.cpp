//===- Arm64Target.cpp - AArch64 Linux targets (NEON+dotprod, SVE2) -------===//
//
// arm64-linux       ARMv8.2-A: NEON, sdot/udot (arm_dot_prod), FP16 arithmetic
//                   (arm_fp16). 16-byte vectors.
// arm64-linux-sve2  the same plus SVE2, compiled for a fixed vector length of
//                   kSve2VectorBits. Halide does not emit length-agnostic
//                   code: it needs `vector_bits_N` and the binary is correct
//                   only on a CPU (or qemu) whose SVE length is exactly N.
//                   128 bits is what every SVE2 core ships with today, so the
//                   binary runs on real hardware; under qemu the length must
//                   be set, as runCommandPrefix() does:
//                     qemu-aarch64-static -cpu max,sve-default-vector-length=16
//                   (qemu user mode otherwise defaults to 512 bits).
//
// Both link statically so the binary runs under qemu-aarch64-static without
// an AArch64 sysroot, and on any AArch64 Linux without matching libraries.
//
//===----------------------------------------------------------------------===//
#include "targets/Arm64Target.h"

#include "targets/HalideCpuTarget.h"

#include <cstdlib>

namespace lfm2c {
namespace {

constexpr int kSve2VectorBits = 128;

class Arm64Target final : public HalideCpuTarget {
public:
  using HalideCpuTarget::HalideCpuTarget;

  std::vector<std::string> features() const override {
    std::vector<std::string> out = {"neon"};
    for (const std::string &label :
         labelFeatures({{Halide::Target::ARMv82a, "armv8.2-a"},
                        {Halide::Target::ARMDotProd, "dotprod (sdot/udot)"},
                        {Halide::Target::ARMFp16, "fp16"},
                        {Halide::Target::SVE, "sve"},
                        {Halide::Target::SVE2, "sve2"}})) {
      out.push_back(label);
    }
    if (isSve()) {
      out.push_back("vector length " + std::to_string(target_.vector_bits) +
                    " bits (fixed)");
    }
    return out;
  }

  int vectorBytes() const override {
    return isSve() ? target_.vector_bits / 8 : 16;
  }

  int vectorRegisters() const override { return 32; }

  bool hasInt8DotProduct() const override {
    return target_.has_feature(Halide::Target::ARMDotProd) ||
           target_.has_feature(Halide::Target::SVE2);
  }

  std::string compilerDriver() const override {
    const char *env = std::getenv("LFM2C_CC_ARM64");
    return env && *env ? env : "aarch64-linux-gnu-g++";
  }

  std::string compilerDriverHint() const override {
    return "install the AArch64 cross compiler (Debian: apt-get install "
           "g++-aarch64-linux-gnu), or name a driver with --cc or "
           "LFM2C_CC_ARM64";
  }

  std::vector<std::string> linkFlags() const override { return {"-static"}; }

  // GNU as for AArch64 rejects instructions beyond its default architecture
  // (SVE, and on older binutils the dot product) unless told.
  std::vector<std::string> assemblerFlags() const override {
    std::string march = "-march=armv8.2-a";
    for (auto [feature, extension] :
         {std::pair{Halide::Target::ARMDotProd, "+dotprod"},
          std::pair{Halide::Target::ARMFp16, "+fp16"},
          std::pair{Halide::Target::SVE2, "+sve2"}}) {
      if (target_.has_feature(feature)) {
        march += extension;
      }
    }
    return {march};
  }

  std::string runtimeLibrarySubdir() const override { return "aarch64"; }

  bool runsOnHost() const override {
    Halide::Target host = Halide::get_host_target();
    // The SVE length of the host cannot be checked here; an SVE2 host is
    // assumed to match (all shipping SVE2 cores are 128-bit).
    return host.arch == Halide::Target::ARM && host.bits == 64 &&
           host.os == Halide::Target::Linux &&
           (!isSve() || host.has_feature(Halide::Target::SVE2));
  }

  std::vector<std::string> runCommandPrefix() const override {
    if (runsOnHost()) {
      return {};
    }
    // qemu's `max` CPU has every extension these targets use.
    std::string cpu = "max";
    if (isSve()) {
      cpu += ",sve-default-vector-length=" +
             std::to_string(target_.vector_bits / 8);
    }
    return {"qemu-aarch64-static", "-cpu", cpu};
  }

private:
  bool isSve() const {
    return target_.has_feature(Halide::Target::SVE) ||
           target_.has_feature(Halide::Target::SVE2);
  }
};

Halide::Target linuxArm64(std::vector<Halide::Target::Feature> features,
                          int vectorBits = 0) {
  Halide::Target t(Halide::Target::Linux, Halide::Target::ARM, 64);
  for (auto f : features) {
    t.set_feature(f);
  }
  t.vector_bits = vectorBits;
  return t;
}

} // namespace

std::unique_ptr<TargetInfo> createArm64Target() {
  return std::make_unique<Arm64Target>(
      "arm64-linux",
      "AArch64 Linux, ARMv8.2-A NEON with dot product and FP16 (static)",
      linuxArm64({Halide::Target::ARMv82a, Halide::Target::ARMDotProd,
                  Halide::Target::ARMFp16}));
}

std::unique_ptr<TargetInfo> createArm64Sve2Target() {
  return std::make_unique<Arm64Target>(
      "arm64-linux-sve2",
      "AArch64 Linux, SVE2 at " + std::to_string(kSve2VectorBits) +
          "-bit vectors (static; the CPU's SVE length must match)",
      linuxArm64({Halide::Target::ARMv82a, Halide::Target::ARMDotProd,
                  Halide::Target::ARMFp16, Halide::Target::SVE,
                  Halide::Target::SVE2},
                 kSve2VectorBits));
}

} // namespace lfm2c
