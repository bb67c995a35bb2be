//===- X86Target.cpp - x86-64 targets (AVX2, AVX-512 Zen 4/5, host) ------===//
#include "targets/X86Target.h"

#include "targets/HalideCpuTarget.h"

namespace lfm2c {
namespace {

class X86Target : public HalideCpuTarget {
public:
  using HalideCpuTarget::HalideCpuTarget;

  std::vector<std::string> features() const override {
    // Report the ISA extensions that matter to the kernels, as Halide sees
    // them, so the listing says what the generated code may use.
    return labelFeatures({
        {Halide::Target::SSE41, "sse4.1"},
        {Halide::Target::AVX, "avx"},
        {Halide::Target::AVX2, "avx2"},
        {Halide::Target::FMA, "fma"},
        {Halide::Target::F16C, "f16c"},
        {Halide::Target::AVX512, "avx512"},
        {Halide::Target::AVX512_Skylake, "avx512-skylake"},
        {Halide::Target::AVX512_Cannonlake, "avx512-cannonlake"},
        {Halide::Target::AVX512_Zen4, "avx512-zen4 (vnni, bf16)"},
        {Halide::Target::AVX512_Zen5, "avx512-zen5 (vnni, bf16, avx-vnni)"},
        {Halide::Target::AVX512_SapphireRapids,
         "avx512-sapphirerapids (vnni, bf16, avx-vnni)"},
        {Halide::Target::AVXVNNI, "avx-vnni"},
    });
  }

  int vectorBytes() const override {
    return target_.has_feature(Halide::Target::AVX512) ||
                   target_.has_feature(Halide::Target::AVX512_Zen4) ||
                   target_.has_feature(Halide::Target::AVX512_Zen5)
               ? 64
               : (target_.has_feature(Halide::Target::AVX) ? 32 : 16);
  }

  int vectorRegisters() const override { return vectorBytes() == 64 ? 32 : 16; }

  bool hasInt8DotProduct() const override {
    return target_.has_feature(Halide::Target::AVX512_Zen4) ||
           target_.has_feature(Halide::Target::AVX512_Zen5) ||
           target_.has_feature(Halide::Target::AVX512_SapphireRapids) ||
           target_.has_feature(Halide::Target::AVXVNNI);
  }

  bool runsOnHost() const override {
    // The instruction-set extensions that would fault on a host lacking them.
    Halide::Target host = Halide::get_host_target();
    return host.arch == target_.arch && host.os == target_.os &&
           host.bits == target_.bits &&
           (!target_.has_feature(Halide::Target::AVX512) ||
            host.has_feature(Halide::Target::AVX512)) &&
           (!target_.has_feature(Halide::Target::AVX2) ||
            host.has_feature(Halide::Target::AVX2));
  }
};

// AMD Ryzen AI (Strix Point and later): Zen 5 cores with AVX-512 plus an
// XDNA2 NPU. Only the CPU part is generated today.
class RyzenAITarget final : public X86Target {
public:
  using X86Target::X86Target;
  std::vector<std::string> unbuiltParts() const override {
    return {"the XDNA2 NPU partition of ryzen-ai is not built yet: every "
            "kernel runs on the Zen 5 CPU (AVX-512, VNNI)"};
  }
};

Halide::Target linuxX86(std::vector<Halide::Target::Feature> features) {
  Halide::Target t(Halide::Target::Linux, Halide::Target::X86, 64);
  for (auto f : features) {
    t.set_feature(f);
  }
  return t;
}

} // namespace

std::unique_ptr<TargetInfo> createHostTarget() {
  return std::make_unique<X86Target>(
      "host", "the machine running the compiler, features detected",
      Halide::get_host_target());
}

std::unique_ptr<TargetInfo> createX86Avx2Target() {
  return std::make_unique<X86Target>(
      "x86-64-avx2", "x86-64 with AVX2 and FMA (Zen 2/3, Haswell and later)",
      linuxX86({Halide::Target::SSE41, Halide::Target::AVX,
                Halide::Target::AVX2, Halide::Target::FMA,
                Halide::Target::F16C}));
}

std::unique_ptr<TargetInfo> createX86Avx512Target() {
  return std::make_unique<X86Target>(
      "x86-64-avx512", "x86-64 with the AVX-512 of AMD Zen 4/5 (VNNI, BF16)",
      linuxX86({Halide::Target::SSE41, Halide::Target::AVX,
                Halide::Target::AVX2, Halide::Target::FMA, Halide::Target::F16C,
                Halide::Target::AVX512, Halide::Target::AVX512_Skylake,
                Halide::Target::AVX512_Cannonlake, Halide::Target::AVX512_Zen4,
                Halide::Target::AVX512_Zen5}));
}

std::unique_ptr<TargetInfo> createRyzenAITarget() {
  return std::make_unique<RyzenAITarget>(
      "ryzen-ai",
      "AMD Ryzen AI: Zen 5 CPU (AVX-512, VNNI); NPU partition not built yet",
      linuxX86({Halide::Target::SSE41, Halide::Target::AVX,
                Halide::Target::AVX2, Halide::Target::FMA, Halide::Target::F16C,
                Halide::Target::AVX512, Halide::Target::AVX512_Skylake,
                Halide::Target::AVX512_Cannonlake, Halide::Target::AVX512_Zen4,
                Halide::Target::AVX512_Zen5, Halide::Target::AVXVNNI}));
}

} // namespace lfm2c
