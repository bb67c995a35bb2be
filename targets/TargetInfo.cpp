//===- TargetInfo.cpp - The target registry -------------------------------===//
#include "targets/TargetInfo.h"
#include "targets/Arm64Target.h"
#include "targets/X86Target.h"

#include <functional>
#include <utility>

namespace lfm2c {
namespace {

using Factory = std::function<std::unique_ptr<TargetInfo>()>;

const std::vector<std::pair<std::string, Factory>> &registry() {
  static const std::vector<std::pair<std::string, Factory>> targets = {
      {"host", createHostTarget},
      {"x86-64-avx2", createX86Avx2Target},
      {"x86-64-avx512", createX86Avx512Target},
      {"ryzen-ai", createRyzenAITarget},
      {"arm64-linux", createArm64Target},
      {"arm64-linux-sve2", createArm64Sve2Target},
  };
  return targets;
}

} // namespace

StatusOr<std::unique_ptr<TargetInfo>> createTarget(const std::string &name) {
  for (const auto &[known, factory] : registry()) {
    if (known == name) {
      return factory();
    }
  }
  std::string list;
  for (const std::string &known : targetNames()) {
    list += (list.empty() ? "" : ", ") + known;
  }
  return Status::error("--target: unknown target '" + name +
                       "' (known targets: " + list + ")");
}

std::vector<std::string> targetNames() {
  std::vector<std::string> names;
  for (const auto &entry : registry()) {
    names.push_back(entry.first);
  }
  return names;
}

} // namespace lfm2c
