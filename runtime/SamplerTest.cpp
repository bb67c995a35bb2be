//===- SamplerTest.cpp ----------------------------------------------------===//
#include "runtime/Sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>

using lfm2c::rt::Sampler;
using lfm2c::rt::SamplingParams;

namespace {

std::vector<float> randomLogits(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 2.0f);
  std::vector<float> l(n);
  for (float &x : l) {
    x = dist(rng);
  }
  return l;
}

SamplingParams plain() {
  SamplingParams p;
  p.temperature = 1.0f;
  p.minP = 0.0f;
  p.repeatPenalty = 1.0f;
  p.seed = 7;
  return p;
}

} // namespace

TEST(Sampler, GreedyTakesArgmaxAndLowestIdOnTies) {
  SamplingParams p = plain();
  p.temperature = 0.0f;
  std::vector<float> l = {0.5f, 3.0f, -1.0f, 3.0f};
  Sampler s(p, 4);
  EXPECT_EQ(s.sample(l.data(), {}), 1);
}

TEST(Sampler, TopKOneIsGreedy) {
  SamplingParams p = plain();
  p.topK = 1;
  auto l = randomLogits(500, 1);
  Sampler s(p, 500);
  int32_t best =
      static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(s.sample(l.data(), {}), best);
  }
}

TEST(Sampler, TopKKeepsOnlyTheKBest) {
  SamplingParams p = plain();
  p.topK = 3;
  auto l = randomLogits(200, 2);
  std::vector<int> order(200);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](int a, int b) { return l[a] > l[b]; });
  Sampler s(p, 200);
  std::map<int32_t, int> counts;
  for (int i = 0; i < 3000; ++i) {
    counts[s.sample(l.data(), {})]++;
  }
  EXPECT_LE(counts.size(), 3u);
  for (auto &[tok, c] : counts) {
    EXPECT_TRUE(tok == order[0] || tok == order[1] || tok == order[2]);
  }
}

TEST(Sampler, MinPDropsUnlikelyTokens) {
  SamplingParams p = plain();
  p.minP = 0.5f;
  // p ~ exp(l): token 0 has 1, token 1 e^-0.5 = 0.61 (kept), token 2
  // e^-1 = 0.37 (dropped), token 3 e^-5 (dropped).
  std::vector<float> l = {2.0f, 1.5f, 1.0f, -3.0f};
  Sampler s(p, 4);
  std::map<int32_t, int> counts;
  for (int i = 0; i < 2000; ++i) {
    counts[s.sample(l.data(), {})]++;
  }
  EXPECT_GT(counts[0], 0);
  EXPECT_GT(counts[1], 0);
  EXPECT_EQ(counts.count(2), 0u);
  EXPECT_EQ(counts.count(3), 0u);
}

TEST(Sampler, TopPKeepsTheSmallestPrefixReachingP) {
  SamplingParams p = plain();
  p.topP = 0.6f;
  // Probabilities 0.5, 0.3, 0.2 (logits are their logs): 0.5 < 0.6 so the
  // second token is needed, the third is not.
  std::vector<float> l = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  Sampler s(p, 3);
  std::map<int32_t, int> counts;
  for (int i = 0; i < 2000; ++i) {
    counts[s.sample(l.data(), {})]++;
  }
  EXPECT_GT(counts[0], 0);
  EXPECT_GT(counts[1], 0);
  EXPECT_EQ(counts.count(2), 0u);
}

TEST(Sampler, TemperatureMatchesTheSoftmaxFrequencies) {
  SamplingParams p = plain();
  p.temperature = 0.5f;
  std::vector<float> l = {0.0f, std::log(2.0f)}; // at T=0.5: 1 : 4
  Sampler s(p, 2);
  int ones = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    ones += s.sample(l.data(), {}) == 1;
  }
  EXPECT_NEAR(static_cast<double>(ones) / n, 0.8, 0.02);
}

TEST(Sampler, RepetitionPenaltyDividesPositiveAndMultipliesNegative) {
  SamplingParams p = plain();
  p.temperature = 0.0f;
  p.repeatPenalty = 2.0f;
  // Token 0 (3.0) was just used: 3.0 / 2 = 1.5 < 2.0, so token 1 wins.
  std::vector<float> l = {3.0f, 2.0f, -1.0f};
  Sampler s(p, 3);
  EXPECT_EQ(s.sample(l.data(), {0}), 1);
  // Outside the window the penalty does not apply.
  p.repeatLastN = 1;
  Sampler windowed(p, 3);
  EXPECT_EQ(windowed.sample(l.data(), {0, 2}), 0);
  // A negative logit is multiplied: -1 * 2 = -2, still the smallest.
  std::vector<float> neg = {-1.0f, -1.5f};
  p.repeatLastN = 64;
  Sampler s2(p, 2);
  EXPECT_EQ(s2.sample(neg.data(), {0}), 1);
}

TEST(Sampler, SameSeedSameSequence) {
  SamplingParams p = plain();
  auto l = randomLogits(1000, 3);
  Sampler a(p, 1000), b(p, 1000);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(a.sample(l.data(), {}), b.sample(l.data(), {}));
  }
}
