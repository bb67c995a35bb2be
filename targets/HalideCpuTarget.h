//===- HalideCpuTarget.h - Shared base of the CPU targets ----------------===//
//
// What every CPU target has in common: a name, a description and the Halide
// target its kernels are compiled for, and a way to list the ISA features
// that target enables. Internal to targets/ (it includes Halide).
//
//===----------------------------------------------------------------------===//
#ifndef LFM2C_TARGETS_HALIDECPUTARGET_H
#define LFM2C_TARGETS_HALIDECPUTARGET_H

#include "targets/TargetInfo.h"

#include <Halide.h>

#include <initializer_list>
#include <utility>

namespace lfm2c {

class HalideCpuTarget : public TargetInfo {
public:
  HalideCpuTarget(std::string name, std::string description,
                  Halide::Target target)
      : name_(std::move(name)), description_(std::move(description)),
        target_(target) {}

  std::string name() const override { return name_; }
  std::string description() const override { return description_; }
  std::string halideTarget() const override { return target_.to_string(); }

protected:
  using FeatureLabel = std::pair<Halide::Target::Feature, const char *>;
  // The labels of the `known` features this target has, in their order.
  std::vector<std::string>
  labelFeatures(std::initializer_list<FeatureLabel> known) const {
    std::vector<std::string> out;
    for (const auto &[feature, label] : known) {
      if (target_.has_feature(feature)) {
        out.push_back(label);
      }
    }
    return out;
  }

  std::string name_;
  std::string description_;
  Halide::Target target_;
};

} // namespace lfm2c

#endif // LFM2C_TARGETS_HALIDECPUTARGET_H
