//===- KernelTestUtil.h - Shared pieces of the kernel tests --------------===//
#ifndef LFM2C_CODEGEN_KERNELTESTUTIL_H
#define LFM2C_CODEGEN_KERNELTESTUTIL_H

#include "codegen/Kernel.h"
#include "targets/TargetInfo.h"

#include <gtest/gtest.h>

#include <Halide.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace lfm2c {

// A host-runnable target with a chosen vector width and int8 dot-product
// flag, so the schedules' lane counts and layouts vary while the code still
// runs here. An explicit Halide target string compiles (not runs) for
// another machine.
class TestTarget final : public TargetInfo {
public:
  explicit TestTarget(int bytes, bool dot = false, std::string halide = "")
      : halide_(halide.empty()
                    ? Halide::get_jit_target_from_environment().to_string()
                    : std::move(halide)),
        bytes_(bytes), dot_(dot) {}
  std::string name() const override { return "test" + std::to_string(bytes_); }
  std::string description() const override { return "test target"; }
  std::vector<std::string> features() const override { return {}; }
  std::string halideTarget() const override { return halide_; }
  int vectorBytes() const override { return bytes_; }
  int vectorRegisters() const override { return bytes_ == 64 ? 32 : 16; }
  bool hasInt8DotProduct() const override { return dot_; }
  bool runsOnHost() const override { return true; }

private:
  std::string halide_;
  int bytes_;
  bool dot_;
};

// JIT-compiles a kernel for the host after checking its arguments come in
// the documented calling order (part of the kernel's contract).
inline Halide::Callable compile(const Kernel &k,
                                const std::vector<std::string> &argNames) {
  std::vector<std::string> names;
  for (const Halide::Argument &a : k.args) {
    names.push_back(a.name);
  }
  EXPECT_EQ(names, argNames) << k.name;
  Halide::Pipeline p = k.pipeline;
  return p.compile_to_callable(k.args,
                               Halide::get_jit_target_from_environment());
}

// A random MoE routing for T tokens: K distinct experts of E per token in
// random order (idx, [T, K]) and weights uniform in [lo, hi) (wts).
inline void randomRouting(int E, int K, int T, std::mt19937 &rng, float lo,
                          float hi, std::vector<int32_t> &idx,
                          std::vector<float> &wts) {
  idx.assign(size_t(T) * K, 0);
  wts.assign(size_t(T) * K, 0.0f);
  std::uniform_real_distribution<float> weight(lo, hi);
  for (int t = 0; t < T; ++t) {
    std::vector<int32_t> perm(E);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    for (int j = 0; j < K; ++j) {
      idx[size_t(t) * K + j] = perm[j];
      wts[size_t(t) * K + j] = weight(rng);
    }
  }
}

} // namespace lfm2c

#endif // LFM2C_CODEGEN_KERNELTESTUTIL_H
