//===- Sampler.cpp --------------------------------------------------------===//
#include "runtime/Sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

namespace lfm2c::rt {

Sampler::Sampler(const SamplingParams &params, int64_t vocabSize)
    : params_(params), vocab_(vocabSize),
      rng_(params.seed ? params.seed : std::random_device{}()) {}

int32_t Sampler::sample(const float *logits,
                        const std::vector<int32_t> &recent) {
  candidates_.resize(static_cast<size_t>(vocab_));
  for (int64_t i = 0; i < vocab_; ++i) {
    candidates_[i] = {logits[i], static_cast<int32_t>(i)};
  }

  if (params_.repeatPenalty != 1.0f && params_.repeatLastN != 0) {
    size_t n =
        params_.repeatLastN < 0
            ? recent.size()
            : std::min(recent.size(), static_cast<size_t>(params_.repeatLastN));
    std::unordered_set<int32_t> seen(recent.end() - n, recent.end());
    for (int32_t t : seen) {
      if (t < 0 || t >= vocab_) {
        continue;
      }
      float &l = candidates_[t].first;
      l = l > 0 ? l / params_.repeatPenalty : l * params_.repeatPenalty;
    }
  }

  // Highest logit first; equal logits keep the lower id first.
  auto better = [](const auto &a, const auto &b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  if (params_.temperature <= 0.0f) {
    return std::min_element(candidates_.begin(), candidates_.end(), better)
        ->second;
  }

  size_t keep = candidates_.size();
  if (params_.topK > 0 && static_cast<size_t>(params_.topK) < keep) {
    keep = static_cast<size_t>(params_.topK);
    std::partial_sort(candidates_.begin(), candidates_.begin() + keep,
                      candidates_.end(), better);
  } else {
    std::sort(candidates_.begin(), candidates_.end(), better);
  }
  candidates_.resize(keep);

  // Probabilities at temperature 1 decide top-p and min-p.
  const float maxLogit = candidates_.front().first;
  std::vector<double> probs(keep);
  double total = 0;
  for (size_t i = 0; i < keep; ++i) {
    probs[i] = std::exp(static_cast<double>(candidates_[i].first) - maxLogit);
    total += probs[i];
  }
  if (params_.topP < 1.0f) {
    double cum = 0;
    size_t n = 0;
    while (n < keep) {
      cum += probs[n] / total;
      ++n;
      if (cum >= params_.topP) {
        break;
      }
    }
    keep = std::max<size_t>(n, 1);
  }
  if (params_.minP > 0.0f) {
    // probs[0] is the largest; keep tokens with p >= minP * p_max.
    size_t n = 1;
    while (n < keep && probs[n] >= params_.minP * probs[0]) {
      ++n;
    }
    keep = n;
  }

  std::vector<double> weights(keep);
  for (size_t i = 0; i < keep; ++i) {
    weights[i] =
        std::exp((static_cast<double>(candidates_[i].first) - maxLogit) /
                 params_.temperature);
  }
  std::discrete_distribution<size_t> pick(weights.begin(), weights.end());
  return candidates_[pick(rng_)].second;
}

} // namespace lfm2c::rt
