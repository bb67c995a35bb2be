//===- Sampler.h - Choosing the next token from logits -------------------===//
//
// The chain llama.cpp applies by default, restricted to the knobs LFM2 users
// set: repetition penalty, then top-k, top-p and min-p on the unscaled
// distribution, then temperature and a seeded draw. Temperature <= 0 is
// greedy (the lowest id wins a tie).
//
//===----------------------------------------------------------------------===//
#ifndef LFM2C_RUNTIME_SAMPLER_H
#define LFM2C_RUNTIME_SAMPLER_H

#include <cstdint>
#include <random>
#include <vector>

namespace lfm2c::rt {

struct SamplingParams {
  // LiquidAI's recommendation for LFM2 when the model states none.
  float temperature = 0.3f;
  int32_t topK = 0;            // 0: off
  float topP = 1.0f;           // 1: off
  float minP = 0.15f;          // 0: off
  float repeatPenalty = 1.05f; // 1: off
  int32_t repeatLastN = 64;    // how many recent tokens the penalty sees
  uint64_t seed = 0;           // 0: a random seed
};

class Sampler {
public:
  Sampler(const SamplingParams &params, int64_t vocabSize);

  // `recent` is the token history (prompt and generated); only its last
  // repeatLastN entries are penalised.
  int32_t sample(const float *logits, const std::vector<int32_t> &recent);
  const SamplingParams &params() const { return params_; }

private:
  SamplingParams params_;
  int64_t vocab_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> candidates_;
};

} // namespace lfm2c::rt

#endif // LFM2C_RUNTIME_SAMPLER_H
