//===- X86Target.h - Factories of the x86-64 targets ----------------------===//
#ifndef LFM2C_TARGETS_X86TARGET_H
#define LFM2C_TARGETS_X86TARGET_H

#include "targets/TargetInfo.h"

namespace lfm2c {

std::unique_ptr<TargetInfo> createHostTarget();
std::unique_ptr<TargetInfo> createX86Avx2Target();
std::unique_ptr<TargetInfo> createX86Avx512Target();
std::unique_ptr<TargetInfo> createRyzenAITarget();

} // namespace lfm2c

#endif // LFM2C_TARGETS_X86TARGET_H
