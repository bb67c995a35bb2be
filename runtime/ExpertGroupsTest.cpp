//===- ExpertGroupsTest.cpp -----------------------------------------------===//
#include "runtime/ExpertGroups.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <string>
#include <tuple>
#include <vector>

using lfm2c::rt::gatherPairRows;
using lfm2c::rt::groupByExpert;

namespace {

struct Grouping {
  std::vector<int32_t> offsets, pairs, rowOf;
};

Grouping group(const std::vector<int32_t> &idx, int64_t T, int64_t K,
               int64_t E) {
  Grouping g;
  g.offsets.assign(size_t(E + 1), -7);
  g.pairs.assign(size_t(T * K), -7);
  g.rowOf.assign(size_t(T * K), -7);
  lfm2c::Status st = groupByExpert(idx.data(), T, K, E, g.offsets.data(),
                                   g.pairs.data(), g.rowOf.data());
  EXPECT_TRUE(st.isOk()) << st.message();
  return g;
}

// The grouping's defining properties, checked from scratch.
void checkGrouping(const std::vector<int32_t> &idx, int64_t T, int64_t K,
                   int64_t E, const Grouping &g) {
  const int64_t n = T * K;
  ASSERT_EQ(g.offsets[0], 0);
  ASSERT_EQ(g.offsets[size_t(E)], n);
  for (int64_t e = 0; e < E; ++e) {
    const int64_t count = std::count(idx.begin(), idx.end(), int32_t(e));
    ASSERT_EQ(g.offsets[size_t(e + 1)] - g.offsets[size_t(e)], count)
        << "expert " << e;
    for (int32_t r = g.offsets[size_t(e)]; r < g.offsets[size_t(e + 1)]; ++r) {
      ASSERT_EQ(idx[size_t(g.pairs[size_t(r)])], e) << "row " << r;
      if (r > g.offsets[size_t(e)]) {
        // Stable: pairs (hence tokens) ascending within an expert.
        ASSERT_LT(g.pairs[size_t(r - 1)], g.pairs[size_t(r)]);
      }
    }
  }
  for (int64_t p = 0; p < n; ++p) {
    ASSERT_EQ(g.pairs[size_t(g.rowOf[size_t(p)])], p) << "pair " << p;
  }
}

TEST(ExpertGroups, HandWrittenRouting) {
  // 3 tokens, top-2 of 5 experts; experts 0 and 3 get nothing.
  const std::vector<int32_t> idx = {4, 1, 1, 2, 4, 2};
  Grouping g = group(idx, 3, 2, 5);
  EXPECT_EQ(g.offsets, (std::vector<int32_t>{0, 0, 2, 4, 4, 6}));
  EXPECT_EQ(g.pairs, (std::vector<int32_t>{1, 2, 3, 5, 0, 4}));
  EXPECT_EQ(g.rowOf, (std::vector<int32_t>{4, 0, 1, 2, 5, 3}));
  checkGrouping(idx, 3, 2, 5, g);
}

TEST(ExpertGroups, RandomRoutings) {
  std::mt19937 rng(5);
  const std::vector<std::tuple<int64_t, int64_t, int64_t>> shapes = {
      {1, 1, 1}, {1, 4, 32}, {7, 2, 3}, {512, 4, 32}, {33, 3, 37}, {100, 1, 5}};
  for (auto [T, K, E] : shapes) {
    std::vector<int32_t> idx(size_t(T * K));
    // Skewed towards low ids so some experts get many tokens and some none.
    std::geometric_distribution<int32_t> skew(0.3);
    for (int32_t &e : idx) {
      e = std::min<int32_t>(skew(rng), int32_t(E - 1));
    }
    checkGrouping(idx, T, K, E, group(idx, T, K, E));
  }
}

TEST(ExpertGroups, NoTokens) {
  std::vector<int32_t> offsets(4, -1);
  lfm2c::Status st =
      groupByExpert(nullptr, 0, 4, 3, offsets.data(), nullptr, nullptr);
  ASSERT_TRUE(st.isOk()) << st.message();
  EXPECT_EQ(offsets, (std::vector<int32_t>{0, 0, 0, 0}));
}

TEST(ExpertGroups, RejectsBadRoutingWithoutWriting) {
  for (int32_t bad : {-1, 3, 1000}) {
    std::vector<int32_t> idx = {0, 1, 2, bad};
    std::vector<int32_t> offsets(4, -7), pairs(4, -7), rowOf(4, -7);
    lfm2c::Status st = groupByExpert(idx.data(), 2, 2, 3, offsets.data(),
                                     pairs.data(), rowOf.data());
    ASSERT_FALSE(st.isOk());
    EXPECT_NE(st.message().find("token 1 slot 1"), std::string::npos)
        << st.message();
    EXPECT_NE(st.message().find(std::to_string(bad)), std::string::npos);
    EXPECT_EQ(offsets, std::vector<int32_t>(4, -7));
    EXPECT_EQ(pairs, std::vector<int32_t>(4, -7));
  }
  std::vector<int32_t> o(2);
  EXPECT_FALSE(
      groupByExpert(nullptr, -1, 1, 1, o.data(), nullptr, nullptr).isOk());
  EXPECT_FALSE(
      groupByExpert(nullptr, 1, 0, 1, o.data(), nullptr, nullptr).isOk());
  EXPECT_FALSE(
      groupByExpert(nullptr, 1, 1, 0, o.data(), nullptr, nullptr).isOk());
  EXPECT_FALSE(
      groupByExpert(nullptr, int64_t(1) << 30, 4, 1, o.data(), nullptr, nullptr)
          .isOk());
}

TEST(ExpertGroups, GatherCopiesEachPairsTokenRow) {
  const int64_t T = 3, K = 2, rowBytes = 5;
  std::vector<uint8_t> src(size_t(T * rowBytes));
  std::iota(src.begin(), src.end(), uint8_t(0));
  const std::vector<int32_t> idx = {4, 1, 1, 2, 4, 2};
  Grouping g = group(idx, T, K, 5);
  std::vector<uint8_t> dst(size_t(T * K * rowBytes), 0xff);
  gatherPairRows(src.data(), rowBytes, g.pairs.data(), T * K, K, dst.data());
  for (int64_t r = 0; r < T * K; ++r) {
    const int64_t t = g.pairs[size_t(r)] / K;
    for (int64_t b = 0; b < rowBytes; ++b) {
      EXPECT_EQ(dst[size_t(r * rowBytes + b)], src[size_t(t * rowBytes + b)])
          << "row " << r << " byte " << b;
    }
  }
}

} // namespace
