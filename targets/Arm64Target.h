//===- Arm64Target.h - Factories of the AArch64 (Linux) targets -----------===//
//
// Both targets are cross targets on an x86 machine: kernels come from Halide's
// AArch64 backend, the program and runtime are compiled and linked statically
// with a cross g++ (aarch64-linux-gnu-g++ on PATH, or LFM2C_CC_ARM64, or
// `lfm2c compile --cc`), and the result runs under qemu-aarch64-static.
//
//===----------------------------------------------------------------------===//
#ifndef LFM2C_TARGETS_ARM64TARGET_H
#define LFM2C_TARGETS_ARM64TARGET_H

#include "targets/TargetInfo.h"

namespace lfm2c {

// ARMv8.2-A with NEON, the dot-product and FP16 extensions (Cortex-A76 and
// later, Neoverse N1, Graviton 2, Apple M1 under Linux).
std::unique_ptr<TargetInfo> createArm64Target();
// ARMv9-A with SVE2 at a fixed vector length of 128 bits, the length of every
// SVE2 core shipping today (Neoverse N2/V2, Graviton 4, Grace, Cortex-A510+).
std::unique_ptr<TargetInfo> createArm64Sve2Target();

} // namespace lfm2c

#endif // LFM2C_TARGETS_ARM64TARGET_H
