//===- QuantKernelTest.cpp - Quantized kernels against scalar references -===//
//
// The Q8_0 activation quantizer must reproduce llama.cpp's x86 rule bit for
// bit (scale and quants); the quantized dot products must equal an exact
// int32-per-block reference up to f32 accumulation order. Every kernel is
// built with each dot-product layout (2- and 4-way lane sums, signed and
// unsigned weights), all of which run on the host, so the VNNI layout is
// checked here even though only its assembly can be inspected.
//
//===----------------------------------------------------------------------===//
#include "codegen/KernelObject.h"
#include "codegen/KernelTestUtil.h"
#include "codegen/QuantLayout.h"
#include "codegen/QuantMath.h"
#include "runtime/ExpertGroups.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <numeric>
#include <random>
#include <sstream>
#include <tuple>

using Halide::Buffer;

namespace lfm2c {
namespace {

TestTarget hostTarget() { return TestTarget(32); }

// The dot-product layouts, with small tasks, tiles and register tiles so
// that the row and token tails are exercised.
std::vector<QuantSchedule> scheduleVariants() {
  std::vector<QuantSchedule> v;
  for (auto [factor, uns, rows, tile, inl, pairs, tileRows, tileTokens] :
       {std::tuple{2, false, 32, 16, false, false, 1, 4},
        std::tuple{4, true, 4, 2, false, false, 2, 2},
        std::tuple{4, false, 8, 3, false, false, 3, 2},
        std::tuple{2, true, 5, 1, false, true, 2, 3},
        std::tuple{2, false, 6, 4, true, false, 1, 1}}) {
    QuantSchedule s;
    s.dotFactor = factor;
    s.unsignedWeights = uns;
    s.unpackInline = inl;
    s.q4PairSums = pairs;
    s.rowsPerTask = rows;
    s.tokensPerTile = tile;
    s.tileRows = tileRows;
    s.tileTokens = tileTokens;
    v.push_back(s);
  }
  return v;
}

std::string describe(const QuantSchedule &s) {
  std::ostringstream o;
  o << "factor=" << s.dotFactor << (s.unsignedWeights ? " u8" : " i8")
    << (s.unpackInline ? " inline-unpack" : "")
    << (s.q4PairSums ? " q4-pair-sums" : "") << " rows=" << s.rowsPerTask
    << " tile=" << s.tokensPerTile << " register tile " << s.tileRows << "x"
    << s.tileTokens;
  return o.str();
}

template <typename T>
Buffer<T> toBuffer(const std::vector<T> &data, std::vector<int> sizes) {
  Buffer<T> b(sizes);
  EXPECT_EQ(static_cast<size_t>(b.number_of_elements()), data.size());
  std::copy(data.begin(), data.end(), b.data());
  return b;
}

// Weight block scales as the kernels take them: fp16 (exact for the values
// of randomScales).
Buffer<Halide::float16_t> halfBuffer(const std::vector<float> &data,
                                     std::vector<int> sizes) {
  std::vector<Halide::float16_t> h(data.begin(), data.end());
  return toBuffer(h, std::move(sizes));
}

//--- Scalar references ----------------------------------------------------

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// f32 -> fp16, round to nearest even (as F16C's vcvtps2ph).
uint16_t toHalf(float f) {
  const uint32_t x = bits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  const uint32_t ax = x & 0x7fffffff;
  if (ax > 0x7f800000) {
    return sign | 0x7e00; // NaN
  }
  if (ax >= 0x477ff000) {
    return sign | 0x7c00; // >= 65520 (or inf): infinity
  }
  if (ax >= 0x38800000) { // normal half: keep 10 of 23 mantissa bits
    uint32_t r = ax + 0xfff + ((ax >> 13) & 1);
    return sign | static_cast<uint16_t>((r - 0x38000000) >> 13);
  }
  // Subnormal half: a multiple of 2^-24.
  const int e = static_cast<int>(ax >> 23);
  if (e < 102) {
    return sign; // below 2^-25: rounds to zero
  }
  const uint32_t mant = (ax & 0x7fffff) | 0x800000;
  const int shift = 126 - e; // value = mant * 2^(e - 150) = mant >> shift ulps
  uint32_t q = mant >> shift;
  const uint32_t rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
  if (rem > half || (rem == half && (q & 1))) {
    ++q;
  }
  return sign | static_cast<uint16_t>(q);
}

float fromHalf(uint16_t h) {
  const int e = (h >> 10) & 0x1f, m = h & 0x3ff;
  float v = e == 0    ? std::ldexp(float(m), -24)
            : e == 31 ? (m ? NAN : INFINITY)
                      : std::ldexp(float(m | 0x400), e - 25);
  return (h & 0x8000) ? -v : v;
}

struct RefBlock {
  float d = 0;
  int8_t q[32];
};

// quantize_row_q8_0 on x86 for one block.
RefBlock refQuantize(const float *x) {
  float amax = 0;
  for (int j = 0; j < 32; ++j) {
    amax = std::max(amax, std::fabs(x[j]));
  }
  RefBlock b;
  const float d = amax / 127.0f;
  b.d = fromHalf(toHalf(d));
  const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
  for (int j = 0; j < 32; ++j) {
    const float v = x[j] * id;
    b.q[j] = static_cast<int8_t>(std::nearbyint(v));
  }
  return b;
}

// Value j of a quantized weight row of K values: i8 (Q8_0) or nibble - 8
// (Q4_0, packed as codegen/QuantLayout.h says).
int weightValue(QuantFormat fmt, const uint8_t *row, int K, int j) {
  if (fmt == QuantFormat::Q8_0) {
    return static_cast<int8_t>(row[j]);
  }
  return q4Value(row, K, j);
}

// The kernels convert per-lane partial sums to f32 (as llama.cpp's SIMD
// code does), so their rounding is relative to the products' magnitudes, not
// to the block sums': absSum bounds it whatever the lane layout.
struct RefDot {
  double value = 0;  // sum of f32 block terms, in double
  double absSum = 0; // sum over blocks of sum |products| * scale
};

RefDot refDot(QuantFormat fmt, int K, const uint8_t *wrow, const float *wd,
              const int8_t *x, const float *xd) {
  RefDot r;
  for (int b = 0; b < K / 32; ++b) {
    int32_t sumi = 0, sumAbs = 0;
    for (int j = 0; j < 32; ++j) {
      const int p = weightValue(fmt, wrow, K, b * 32 + j) * x[b * 32 + j];
      sumi += p;
      sumAbs += std::abs(p);
    }
    const float scale = wd[b] * xd[b];
    r.value += float(sumi) * scale;
    r.absSum += double(sumAbs) * scale;
  }
  return r;
}

std::vector<uint8_t> randomQuants(QuantFormat fmt, size_t rows, int K,
                                  std::mt19937 &rng) {
  const size_t n = rows * (fmt == QuantFormat::Q8_0 ? K : K / 2);
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<uint8_t> v(n);
  for (uint8_t &b : v) {
    b = static_cast<uint8_t>(byte(rng));
  }
  return v;
}

std::vector<int8_t> randomActs(size_t n, std::mt19937 &rng) {
  std::uniform_int_distribution<int> q(-127, 127);
  std::vector<int8_t> v(n);
  for (int8_t &x : v) {
    x = static_cast<int8_t>(q(rng));
  }
  return v;
}

std::vector<float> randomScales(size_t n, std::mt19937 &rng, float lo,
                                float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float &x : v) {
    x = fromHalf(toHalf(d(rng))); // exactly representable in fp16
  }
  return v;
}

// Weight quants as the kernel's buffer type: i8 [N, K] or u8 [N, K/2].
Halide::Buffer<> weightBuffer(QuantFormat fmt, const std::vector<uint8_t> &q,
                              std::vector<int> sizes) {
  if (fmt == QuantFormat::Q8_0) {
    std::vector<int8_t> s(q.size());
    std::memcpy(s.data(), q.data(), q.size());
    return toBuffer(s, sizes);
  }
  return toBuffer(q, sizes);
}

// Q4_0 / Q8_0 quants and scales of `rows` rows of K values, as
// QuantLayout.h packs rows, moved to the row-interleaved layout (R rows a
// group).
struct Interleaved {
  std::vector<uint8_t> q;
  std::vector<float> d;
};
Interleaved interleaveRows(QuantFormat fmt, const std::vector<uint8_t> &q,
                           const std::vector<float> &d, size_t rows, int K,
                           int R) {
  Interleaved out{std::vector<uint8_t>(q.size()), std::vector<float>(d.size())};
  for (size_t row = 0; row < rows; ++row) {
    for (int i = 0; i < K; ++i) {
      if (fmt == QuantFormat::Q8_0) {
        out.q[size_t(q8InterleavedPosition(K, R, row, i))] = q[row * K + i];
      } else {
        const int nibble = q4Value(&q[row * (K / 2)], K, i) + 8;
        const Q4Position p = q4InterleavedPosition(K, R, row, i);
        uint8_t &byte = out.q[size_t(p.byte)];
        byte = p.high ? uint8_t((byte & 15) | nibble << 4)
                      : uint8_t((byte & 0xF0) | nibble);
      }
      out.d[size_t(q4InterleavedScale(K, R, row, i))] =
          d[row * (K / 32) + i / 32];
    }
  }
  return out;
}

// The row-lane forms: the host's (Q4_0 in AVX2 pair sums, 8 rows a group)
// and AVX-512 VNNI's 4-way dots (Q4_0 and Q8_0, 16 rows), the latter run
// in whatever instructions the host has.
struct RowLaneForm {
  QuantFormat format;
  TestTarget target;
  int rows;
  std::string what;
};
std::vector<RowLaneForm> rowLaneForms() {
  std::vector<RowLaneForm> forms;
  for (QuantFormat f : {QuantFormat::Q4_0, QuantFormat::Q8_0}) {
    for (TestTarget t : {hostTarget(), TestTarget(64, true)}) {
      const int rows = rowInterleave(QuantSchedule::forTarget(t), f);
      if (rows != 0) {
        forms.push_back(
            {f, t, rows, quantFormatName(f) + "x" + std::to_string(rows)});
      }
    }
  }
  return forms;
}

//===----------------------------------------------------------------------===//

// Finds an amax whose f32 amax/127 is exactly `d`, if any.
bool amaxFor(float d, float &amax) {
  float a = d * 127.0f;
  for (int step = 0; step < 200; ++step) {
    for (float c : {a, std::nextafter(a, 0.0f), std::nextafter(a, 1e9f)}) {
      if (c / 127.0f == d) {
        amax = c;
        return true;
      }
    }
    a = std::nextafter(a, step % 2 ? 0.0f : 1e9f);
  }
  return false;
}

// Blocks that exercise every rule: random magnitudes, zero blocks, exact
// quantization ties, fp16 ties of the scale, fp16-subnormal scales,
// negative-only blocks.
void fillBlock(float *x, int kind, std::mt19937 &rng) {
  std::normal_distribution<float> n(0.0f, 1.0f);
  std::uniform_int_distribution<int> k(-126, 125);
  switch (kind % 7) {
  case 0: {
    const float sigma = std::pow(10.0f, float(kind % 13) - 6.0f);
    for (int j = 0; j < 32; ++j) {
      x[j] = n(rng) * sigma;
    }
    break;
  }
  case 1:
    std::fill(x, x + 32, 0.0f);
    break;
  case 2:   // id = 1: values k + 0.5 are ties
  case 3: { // id = 2: values (k + 0.5) / 2 are ties
    const float div = kind % 7 == 2 ? 1.0f : 2.0f;
    for (int j = 0; j < 32; ++j) {
      x[j] = (float(k(rng)) + 0.5f) / div;
    }
    x[rng() % 32] = (rng() % 2 ? 127.0f : -127.0f) / div;
    break;
  }
  case 4: { // amax / 127 exactly halfway between two fp16 values
    float amax = 127.0f;
    for (int m = 1 + 2 * int(rng() % 8); m < 64; m += 2) {
      if (amaxFor(1.0f + std::ldexp(float(m), -11), amax)) {
        break;
      }
    }
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (int j = 0; j < 32; ++j) {
      x[j] = u(rng) * amax;
    }
    x[rng() % 32] = -amax;
    break;
  }
  case 5: { // scales below fp16's normal range, some below its subnormals
    const float sigma = std::pow(10.0f, -4.0f - float(kind % 4));
    for (int j = 0; j < 32; ++j) {
      x[j] = n(rng) * sigma;
    }
    break;
  }
  default:
    for (int j = 0; j < 32; ++j) {
      x[j] = -std::fabs(n(rng)) * 3.0f;
    }
  }
}

TEST(QuantKernelTest, QuantizeQ8_0) {
  std::mt19937 rng(11);
  // The fp16 helper itself: ties to even at a normal and a subnormal value.
  EXPECT_EQ(toHalf(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(toHalf(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(toHalf(std::ldexp(1.0f, -25)), 0x0000);
  EXPECT_EQ(toHalf(std::ldexp(3.0f, -25)), 0x0002);
  EXPECT_EQ(toHalf(65519.0f), 0x7bff);
  EXPECT_EQ(toHalf(65520.0f), 0x7c00);

  int fp16Ties = 0, quantTies = 0;
  for (int bytes : {16, 32, 64}) {
    TestTarget target(bytes, false);
    for (int K : {32, 96, 256}) {
      Kernel k = buildQuantizeQ8_0(K, target);
      Halide::Callable fn = compile(k, {"x"});
      for (int T : {1, 3}) {
        const int nb = K / 32;
        std::vector<float> x(size_t(T) * K);
        for (int blk = 0; blk < T * nb; ++blk) {
          fillBlock(&x[size_t(blk) * 32], int(rng() % 1000), rng);
        }
        auto xB = toBuffer(x, {K, T});
        Buffer<int8_t> q(K, T);
        Buffer<float> d(nb, T);
        ASSERT_EQ(fn(xB, q, d), 0);
        for (int blk = 0; blk < T * nb; ++blk) {
          RefBlock ref = refQuantize(&x[size_t(blk) * 32]);
          const float dOut = d.data()[blk];
          ASSERT_EQ(bits(dOut), bits(ref.d))
              << "K=" << K << " T=" << T << " block " << blk << " got " << dOut
              << " want " << ref.d;
          float amax = 0;
          for (int j = 0; j < 32; ++j) {
            amax = std::max(amax, std::fabs(x[size_t(blk) * 32 + j]));
          }
          const float dq = amax / 127.0f;
          if (fromHalf(toHalf(dq)) != dq &&
              std::fabs(float(toHalf(dq * (1 + 1e-7f)) -
                              toHalf(dq * (1 - 1e-7f)))) > 0) {
            ++fp16Ties;
          }
          for (int j = 0; j < 32; ++j) {
            const float xv = x[size_t(blk) * 32 + j];
            const float v = xv * (amax != 0 ? 127.0f / amax : 0.0f);
            quantTies += v - std::floor(v) == 0.5f;
            ASSERT_EQ(q.data()[size_t(blk) * 32 + j], ref.q[j])
                << "K=" << K << " T=" << T << " block " << blk << " j=" << j
                << " x=" << xv;
          }
        }
      }
    }
  }
  // The inputs did contain the ties they are meant to.
  EXPECT_GT(quantTies, 100);
  EXPECT_GT(fp16Ties, 3);
}

// A quantized projection kernel (xq, xd, wq, wd -> y) of T tokens and N
// rows on random inputs, against refDot.
// interleave: the kernel takes rows interleaved in groups of this many
// (interleaveRows).
void checkLinearQuant(Halide::Callable &fn, QuantFormat fmt, int K, int N,
                      int T, std::mt19937 &rng, const std::string &what,
                      int interleave = 0) {
  const int nb = K / 32;
  const int rowBytes = fmt == QuantFormat::Q8_0 ? K : K / 2;
  std::vector<uint8_t> wq = randomQuants(fmt, N, K, rng);
  std::vector<float> wd = randomScales(size_t(N) * nb, rng, 1e-3f, 2e-2f);
  std::vector<int8_t> xq = randomActs(size_t(T) * K, rng);
  std::vector<float> xd = randomScales(size_t(T) * nb, rng, 1e-3f, 5e-2f);
  Buffer<float> y(N, T);
  if (interleave) {
    const int R = interleave;
    Interleaved il = interleaveRows(fmt, wq, wd, N, K, R);
    ASSERT_EQ(fn(toBuffer(xq, {K, T}), toBuffer(xd, {nb, T}),
                 weightBuffer(fmt, il.q, {rowBytes * R, N / R}),
                 halfBuffer(il.d, {nb * R, N / R}), y),
              0);
  } else {
    ASSERT_EQ(fn(toBuffer(xq, {K, T}), toBuffer(xd, {nb, T}),
                 weightBuffer(fmt, wq, {rowBytes, N}), halfBuffer(wd, {nb, N}),
                 y),
              0);
  }
  for (int t = 0; t < T; ++t) {
    for (int n = 0; n < N; ++n) {
      RefDot r = refDot(fmt, K, &wq[size_t(n) * rowBytes], &wd[size_t(n) * nb],
                        &xq[size_t(t) * K], &xd[size_t(t) * nb]);
      const float got = y(n, t);
      ASSERT_LE(std::fabs(got - r.value), 1e-5 * r.absSum + 1e-30)
          << quantFormatName(fmt) << " K=" << K << " N=" << N << " T=" << T
          << " n=" << n << " t=" << t << " " << what << " got " << got
          << " want " << r.value;
    }
  }
}

TEST(QuantKernelTest, LinearQuant) {
  std::mt19937 rng(12);
  TestTarget target = hostTarget();
  const std::vector<QuantSchedule> variants = scheduleVariants();
  int shape = 0;
  for (QuantFormat fmt : {QuantFormat::Q8_0, QuantFormat::Q4_0}) {
    for (int K : {32, 64, 96, 256}) {
      for (int N : {1, 7, 33}) {
        // The target's own schedule for every shape, plus one other layout.
        std::vector<QuantSchedule> scheds = {QuantSchedule::forTarget(target),
                                             variants[1 + shape++ % 4]};
        for (const QuantSchedule &sched : scheds) {
          Kernel k = buildLinearQuant(fmt, K, N, target, sched);
          Halide::Callable fn = compile(k, {"xq", "xd", "wq", "wd"});
          for (int T : {1, 3, 9}) {
            checkLinearQuant(fn, fmt, K, N, T, rng, describe(sched));
          }
        }
      }
    }
  }
  // Row-interleaved weights in each row-lane form: tiles of 1 to 4 row
  // vectors, some shifted.
  for (const RowLaneForm &form : rowLaneForms()) {
    const int R = form.rows;
    for (int K : {32, 96, 256}) {
      for (int N : {R, 3 * R, 5 * R}) {
        for (int tile : {1, 3, 4}) {
          QuantSchedule sched = QuantSchedule::forTarget(form.target);
          sched.rowTileGroups = tile;
          Kernel k = buildLinearQuant(form.format, K, N, form.target, sched, R);
          Halide::Callable fn = compile(k, {"xq", "xd", "wq", "wd"});
          for (int T : {1, 3}) {
            checkLinearQuant(fn, form.format, K, N, T, rng,
                             form.what + ", tile " + std::to_string(tile), R);
          }
        }
      }
    }
  }
}

// The prefill kernel against the same reference, on batches around its
// token tile, row counts around its row vectors and its tasks (N = 7: the
// decode kernel's algorithm), both Q4_0 layouts (K = 96: odd block count),
// in each form of its block dot: AVX2's pair sums (this target's), and the
// 4-way dot products with u8 or i8 weights in 8 or 16 row lanes (AVX-512
// VNNI's form; the host runs them in whatever instructions it has; N = 24
// with 16 rows: the decode kernel's algorithm).
TEST(QuantKernelTest, LinearQuantPrefill) {
  std::mt19937 rng(17);
  struct Case {
    TestTarget target;
    QuantSchedule sched;
    std::string what;
    std::vector<int> rows; // N
  };
  std::vector<Case> cases;
  TestTarget host = hostTarget();
  QuantSchedule small = QuantSchedule::forTarget(host);
  small.prefillRowsPerTask = 16;
  small.prefillTileTokens = 4;
  small.prefillTileRowGroups = 2;
  const std::vector<int> rows8 = {8, 24, 40, 7}, rows16 = {16, 48, 24};
  cases.push_back({host, QuantSchedule::forTarget(host), "pairs", rows8});
  cases.push_back({host, small, "pairs, task 16, tile 2x4", rows8});
  for (int bytes : {32, 64}) {
    for (bool uns : {true, false}) {
      TestTarget dot(bytes, true);
      QuantSchedule s = QuantSchedule::forTarget(dot);
      s.regroupPrefill = true;
      s.prefillDot4 = true;
      s.unsignedWeights = uns;
      s.prefillRowsPerTask = bytes == 64 ? 32 : 16;
      s.prefillTileTokens = uns ? 4 : 3;
      cases.push_back({dot, s,
                       "dot4 " + std::to_string(bytes / 4) + " rows" +
                           (uns ? " u8" : " i8"),
                       bytes == 64 ? rows16 : rows8});
    }
  }
  for (const Case &c : cases) {
    for (QuantFormat fmt : {QuantFormat::Q4_0, QuantFormat::Q8_0}) {
      for (int K : {64, 96, 256}) {
        for (int N : c.rows) {
          if (fmt == QuantFormat::Q8_0 && K == 256) {
            continue;
          }
          Kernel k = buildLinearQuantPrefill(fmt, K, N, c.target, c.sched);
          Halide::Callable fn = compile(k, {"xq", "xd", "wq", "wd"});
          for (int T : {1, 2, 17, 20}) {
            checkLinearQuant(fn, fmt, K, N, T, rng, c.what);
          }
        }
      }
    }
  }
  // Row-interleaved weights in each row-lane form, with the target's
  // schedule and a small one (task of 2 register tiles, tile 2 x 4).
  for (const RowLaneForm &form : rowLaneForms()) {
    const int R = form.rows;
    QuantSchedule small = QuantSchedule::forTarget(form.target);
    small.prefillRowsPerTask = 4 * R;
    small.prefillTileTokens = 4;
    small.prefillTileRowGroups = 2;
    for (const QuantSchedule &sched :
         {QuantSchedule::forTarget(form.target), small}) {
      for (int K : {64, 96, 256}) {
        for (int N : {R, 3 * R, 5 * R}) {
          Kernel k =
              buildLinearQuantPrefill(form.format, K, N, form.target, sched, R);
          Halide::Callable fn = compile(k, {"xq", "xd", "wq", "wd"});
          for (int T : {1, 2, 17, 20}) {
            checkLinearQuant(fn, form.format, K, N, T, rng,
                             form.what + ", " + describe(sched), R);
          }
        }
      }
    }
  }
}

// A parallel task shifted inwards (N not a multiple of the task; AVX2:
// tasks of 24 rows, the last of N = 128 covers 104-127) recomputes rows of
// the task before it, and whichever of the two runs last writes them, so a
// row's bits must not depend on where in a task or register tile it is
// computed: rows 0-119 of N = 128 equal those of N = 120, whose tasks fall
// elsewhere. (They did not when the accumulation's multiply-adds were fused
// at some tile positions and not at others: multi-threaded runs of a
// program were not reproducible.) One thread, so the shifted task runs last.
TEST(QuantKernelTest, LinearQuantPrefillShiftedTaskSameBits) {
  std::mt19937 rng(29);
  TestTarget host = hostTarget();
  const int K = 256, T = 95, nb = K / 32;
  for (QuantFormat fmt : {QuantFormat::Q4_0, QuantFormat::Q8_0}) {
    const int rowBytes = fmt == QuantFormat::Q8_0 ? K : K / 2;
    std::vector<uint8_t> wq = randomQuants(fmt, 128, K, rng);
    std::vector<float> wd = randomScales(size_t(128) * nb, rng, 1e-3f, 2e-2f);
    std::vector<int8_t> xq = randomActs(size_t(T) * K, rng);
    std::vector<float> xd = randomScales(size_t(T) * nb, rng, 1e-3f, 5e-2f);
    std::vector<Buffer<float>> ys;
    for (int N : {128, 120}) {
      Halide::Callable fn =
          compile(buildLinearQuantPrefill(fmt, K, N, host,
                                          QuantSchedule::forTarget(host)),
                  {"xq", "xd", "wq", "wd"});
      std::vector<uint8_t> q(wq.begin(), wq.begin() + size_t(N) * rowBytes);
      std::vector<float> d(wd.begin(), wd.begin() + size_t(N) * nb);
      ys.emplace_back(N, T);
      const int threads =
          Halide::Internal::JITSharedRuntime::set_num_threads(1);
      ASSERT_EQ(fn(toBuffer(xq, {K, T}), toBuffer(xd, {nb, T}),
                   weightBuffer(fmt, q, {rowBytes, N}), halfBuffer(d, {nb, N}),
                   ys.back()),
                0);
      Halide::Internal::JITSharedRuntime::set_num_threads(threads);
    }
    int differ = 0;
    for (int t = 0; t < T; ++t) {
      for (int n = 0; n < 120; ++n) {
        differ += bits(ys[0](n, t)) != bits(ys[1](n, t));
      }
    }
    EXPECT_EQ(differ, 0) << quantFormatName(fmt);
  }
}

// A batch through the prefill GEMM and the same tokens one at a time through
// the decode kernel give the same bits on row-interleaved weights: both sum
// each block exactly in i32 and accumulate f32(sum) * (wd * xd) in block
// order, strictly. (Otherwise a prompt's logits would depend on how it was
// split into batches.)
TEST(QuantKernelTest, LinearQuantBatchSameBitsAsOneToken) {
  std::mt19937 rng(31);
  const int K = 256, T = 19, nb = K / 32;
  for (const RowLaneForm &form : rowLaneForms()) {
    const int R = form.rows, N = 5 * R;
    const int rowBytes = form.format == QuantFormat::Q8_0 ? K : K / 2;
    QuantSchedule sched = QuantSchedule::forTarget(form.target);
    Halide::Callable batch = compile(
        buildLinearQuantPrefill(form.format, K, N, form.target, sched, R),
        {"xq", "xd", "wq", "wd"});
    Halide::Callable one =
        compile(buildLinearQuant(form.format, K, N, form.target, sched, R),
                {"xq", "xd", "wq", "wd"});
    std::vector<uint8_t> wq = randomQuants(form.format, N, K, rng);
    std::vector<float> wd = randomScales(size_t(N) * nb, rng, 1e-3f, 2e-2f);
    std::vector<int8_t> xq = randomActs(size_t(T) * K, rng);
    std::vector<float> xd = randomScales(size_t(T) * nb, rng, 1e-3f, 5e-2f);
    Interleaved il = interleaveRows(form.format, wq, wd, N, K, R);
    Buffer<float> yb(N, T);
    ASSERT_EQ(batch(toBuffer(xq, {K, T}), toBuffer(xd, {nb, T}),
                    weightBuffer(form.format, il.q, {rowBytes * R, N / R}),
                    halfBuffer(il.d, {nb * R, N / R}), yb),
              0);
    int differ = 0;
    for (int t = 0; t < T; ++t) {
      std::vector<int8_t> x1(xq.begin() + size_t(t) * K,
                             xq.begin() + size_t(t + 1) * K);
      std::vector<float> d1(xd.begin() + size_t(t) * nb,
                            xd.begin() + size_t(t + 1) * nb);
      Buffer<float> y1(N, 1);
      ASSERT_EQ(one(toBuffer(x1, {K, 1}), toBuffer(d1, {nb, 1}),
                    weightBuffer(form.format, il.q, {rowBytes * R, N / R}),
                    halfBuffer(il.d, {nb * R, N / R}), y1),
                0);
      for (int n = 0; n < N; ++n) {
        differ += bits(y1(n, 0)) != bits(yb(n, t));
      }
    }
    EXPECT_EQ(differ, 0) << form.what;
  }
}

// A random quantized expert stack: gate/up [E, F, H], down [E, H, F].
struct MoEStack {
  QuantFormat fmt;
  int E, F, H;
  std::vector<uint8_t> gq, uq, dq;
  std::vector<float> gd, ud, dd;
  MoEStack(QuantFormat fmt, int E, int F, int H, std::mt19937 &rng)
      : fmt(fmt), E(E), F(F), H(H) {
    gq = randomQuants(fmt, size_t(E) * F, H, rng);
    uq = randomQuants(fmt, size_t(E) * F, H, rng);
    dq = randomQuants(fmt, size_t(E) * H, F, rng);
    gd = randomScales(size_t(E) * F * (H / 32), rng, 2e-3f, 1e-2f);
    ud = randomScales(size_t(E) * F * (H / 32), rng, 2e-3f, 1e-2f);
    dd = randomScales(size_t(E) * H * (F / 32), rng, 2e-3f, 1e-2f);
  }
  int hBytes() const { return fmt == QuantFormat::Q8_0 ? H : H / 2; }
  int fBytes() const { return fmt == QuantFormat::Q8_0 ? F : F / 2; }
};

// The MoE FFN of T tokens in double, with an allowance per output for
// activations whose Q8_0 rounding is too close to call (the kernels' exp
// and summation order differ from the reference's). `ambiguous` counts
// those activations.
struct MoERef {
  std::vector<double> value, tol;
};
MoERef refMoEFFN(const MoEStack &m, int K, int T, const std::vector<int8_t> &xq,
                 const std::vector<float> &xd, const std::vector<int32_t> &idx,
                 const std::vector<float> &wts, int &ambiguous) {
  const QuantFormat fmt = m.fmt;
  const int F = m.F, H = m.H, hb = m.hBytes(), fbytes = m.fBytes();
  const int nh = H / 32, nf = F / 32;
  MoERef ref;
  ref.value.assign(size_t(T) * H, 0.0);
  ref.tol.assign(ref.value.size(), 0.0);
  for (int t = 0; t < T; ++t) {
    for (int s = 0; s < K; ++s) {
      const int e = idx[t * K + s];
      const double w = wts[t * K + s];
      std::vector<float> a(F);
      for (int f = 0; f < F; ++f) {
        const size_t row = size_t(e) * F + f;
        RefDot g = refDot(fmt, H, &m.gq[row * hb], &m.gd[row * nh],
                          &xq[size_t(t) * H], &xd[size_t(t) * nh]);
        RefDot u = refDot(fmt, H, &m.uq[row * hb], &m.ud[row * nh],
                          &xq[size_t(t) * H], &xd[size_t(t) * nh]);
        a[f] = float(g.value / (1.0 + std::exp(-g.value)) * u.value);
      }
      std::vector<int8_t> aq(F);
      std::vector<float> ad(nf);
      std::vector<double> slack(F, 0.0);
      bool scaleTie = false;
      for (int b = 0; b < nf; ++b) {
        RefBlock rb = refQuantize(&a[b * 32]);
        ad[b] = rb.d;
        std::copy(rb.q, rb.q + 32, &aq[b * 32]);
        float amax = 0;
        for (int j = 0; j < 32; ++j) {
          amax = std::max(amax, std::fabs(a[b * 32 + j]));
        }
        const float d = amax / 127.0f;
        scaleTie |= toHalf(d * (1 + 1e-5f)) != toHalf(d * (1 - 1e-5f));
        for (int j = 0; j < 32; ++j) {
          const double v = double(a[b * 32 + j]) * 127.0 / amax;
          if (amax != 0 && std::fabs(v - std::floor(v) - 0.5) < 1e-3) {
            slack[b * 32 + j] = rb.d;
            ++ambiguous;
          }
        }
      }
      for (int h = 0; h < H; ++h) {
        const size_t row = size_t(e) * H + h;
        RefDot o = refDot(fmt, F, &m.dq[row * fbytes], &m.dd[row * nf],
                          aq.data(), ad.data());
        double allow = 1e-5 * o.absSum;
        for (int f = 0; f < F; ++f) {
          allow += slack[f] * m.dd[row * nf + f / 32] *
                   std::abs(weightValue(fmt, &m.dq[row * fbytes], F, f));
        }
        if (scaleTie) {
          allow += 1e-2 * o.absSum;
        }
        ref.value[size_t(t) * H + h] += w * o.value;
        ref.tol[size_t(t) * H + h] += w * allow;
      }
    }
  }
  return ref;
}

// Repacking from llama.cpp's order keeps every value where q4Value finds it,
// for paired (even block count) and unpaired rows.
TEST(QuantKernelTest, Q4LayoutFromLlamaOrder) {
  std::mt19937 rng(15);
  for (int K : {32, 64, 96, 256}) {
    const int rows = 3;
    std::vector<uint8_t> llama = randomQuants(QuantFormat::Q4_0, rows, K, rng);
    std::vector<uint8_t> packed = llama;
    q4FromLlamaOrder(packed.data(), rows, K);
    for (int r = 0; r < rows; ++r) {
      for (int i = 0; i < K; ++i) {
        const uint8_t byte = llama[size_t(r) * K / 2 + i / 32 * 16 + i % 16];
        const int want = (i % 32 < 16 ? byte & 15 : byte >> 4) - 8;
        ASSERT_EQ(q4Value(&packed[size_t(r) * K / 2], K, i), want)
            << "K=" << K << " row " << r << " i=" << i;
      }
    }
  }
}

// The writer's row interleaving from llama.cpp's order puts every value and
// scale where q4InterleavedPosition / q4InterleavedScale (the kernels' and
// the tests' definition) find them.
TEST(QuantKernelTest, Q4InterleaveFromLlamaOrder) {
  std::mt19937 rng(18);
  for (int R : {kRowLanes, 16}) {
    for (int K : {32, 64, 96, 256}) {
      const int rows = 3 * R;
      std::vector<uint8_t> llama =
          randomQuants(QuantFormat::Q4_0, rows, K, rng);
      std::vector<uint16_t> scales(size_t(rows) * K / 32);
      std::iota(scales.begin(), scales.end(), uint16_t(1));
      std::vector<uint8_t> packed = llama;
      std::vector<uint16_t> packedScales = scales;
      q4InterleaveFromLlamaOrder(packed.data(), packedScales.data(), rows, K,
                                 R);
      for (int r = 0; r < rows; ++r) {
        for (int i = 0; i < K; ++i) {
          const uint8_t byte = llama[size_t(r) * K / 2 + i / 32 * 16 + i % 16];
          const int want = i % 32 < 16 ? byte & 15 : byte >> 4;
          const Q4Position p = q4InterleavedPosition(K, R, r, i);
          const int got = p.high ? packed[p.byte] >> 4 : packed[p.byte] & 15;
          ASSERT_EQ(got, want)
              << "R=" << R << " K=" << K << " row " << r << " i=" << i;
          ASSERT_EQ(packedScales[q4InterleavedScale(K, R, r, i)],
                    scales[size_t(r) * K / 32 + i / 32])
              << "R=" << R << " K=" << K << " row " << r << " i=" << i;
        }
      }
    }
  }
}

// q8Interleave puts every value and scale where q8InterleavedPosition /
// q4InterleavedScale find them.
TEST(QuantKernelTest, Q8Interleave) {
  std::mt19937 rng(19);
  const int R = 16;
  for (int K : {32, 96, 256}) {
    const int rows = 2 * R;
    std::vector<uint8_t> raw = randomQuants(QuantFormat::Q8_0, rows, K, rng);
    std::vector<int8_t> values(raw.begin(), raw.end());
    std::vector<uint16_t> scales(size_t(rows) * K / 32);
    std::iota(scales.begin(), scales.end(), uint16_t(1));
    std::vector<int8_t> packed = values;
    std::vector<uint16_t> packedScales = scales;
    q8Interleave(packed.data(), packedScales.data(), rows, K, R);
    for (int r = 0; r < rows; ++r) {
      for (int i = 0; i < K; ++i) {
        ASSERT_EQ(packed[size_t(q8InterleavedPosition(K, R, r, i))],
                  values[size_t(r) * K + i])
            << "K=" << K << " row " << r << " i=" << i;
        ASSERT_EQ(packedScales[size_t(q4InterleavedScale(K, R, r, i))],
                  scales[size_t(r) * K / 32 + i / 32]);
      }
    }
  }
}

// The row-lane kernels refuse layouts they cannot read, naming what was
// found, rather than computing garbage.
TEST(QuantKernelTest, RowInterleaveRequirements) {
  QuantSchedule pairs;
  pairs.q4PairSums = true;
  pairs.q4RowInterleave = kRowLanes;
  EXPECT_NO_THROW(requireRowInterleave("experts", QuantFormat::Q4_0, pairs,
                                       kRowLanes, {2048, 1536}));
  const QuantSchedule vnni = QuantSchedule::forTarget(TestTarget(64, true));
  ASSERT_EQ(vnni.q4RowInterleave, 16);
  EXPECT_NO_THROW(
      requireRowInterleave("experts", QuantFormat::Q4_0, vnni, 16, {2048}));
  EXPECT_NO_THROW(
      requireRowInterleave("experts", QuantFormat::Q8_0, vnni, 16, {2048}));
  auto message = [&](std::optional<QuantFormat> f, const QuantSchedule &s,
                     int groups, std::vector<int64_t> rows) {
    try {
      requireRowInterleave("experts", f, s, groups, rows);
    } catch (const Halide::CompileError &e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(QuantFormat::Q8_0, pairs, kRowLanes, {64})
                .find("found q8_0, groups of 8"),
            std::string::npos);
  EXPECT_NE(message(std::nullopt, pairs, kRowLanes, {64}).find("found f32"),
            std::string::npos);
  EXPECT_NE(message(QuantFormat::Q4_0, pairs, 16, {64}).find("groups of 16"),
            std::string::npos);
  EXPECT_NE(message(QuantFormat::Q4_0, pairs, kRowLanes, {64, 36})
                .find("row-interleaved experts"),
            std::string::npos);
  EXPECT_NE(message(QuantFormat::Q4_0, vnni, 16, {40}).find("16 rows a group"),
            std::string::npos);
  // Q6_K tables: interleaved by 16 on AVX-512 VNNI only.
  EXPECT_NO_THROW(
      requireRowInterleave("tables", QuantFormat::Q6_K, vnni, 16, {65536}));
  EXPECT_NE(
      message(QuantFormat::Q6_K, vnni, 16, {1000}).find("16 rows a group"),
      std::string::npos);
  EXPECT_NE(message(QuantFormat::Q6_K, pairs, 8, {64}).find("found q6_k"),
            std::string::npos);
  QuantSchedule signedDots = vnni;
  signedDots.unsignedWeights = false; // i8 x i8 (Arm's sdot form)
  EXPECT_NE(
      message(QuantFormat::Q4_0, signedDots, 16, {64}).find("row-lane kernels"),
      std::string::npos);
}

// Rows of a quantized table expanded exactly: f32(value) * scale.
TEST(QuantKernelTest, EmbeddingQuant) {
  std::mt19937 rng(16);
  // Rows as they are, then each row-lane layout (a tied table that the
  // head's row-lane GEMV reads too).
  std::vector<RowLaneForm> layouts = {
      {QuantFormat::Q8_0, hostTarget(), 0, "q8_0"},
      {QuantFormat::Q4_0, hostTarget(), 0, "q4_0"}};
  for (const RowLaneForm &f : rowLaneForms()) {
    layouts.push_back(f);
  }
  for (const RowLaneForm &layout : layouts) {
    const QuantFormat fmt = layout.format;
    const int il = layout.rows, R = std::max(il, 1);
    for (int H : {32, 64, 96, 256}) {
      const int V = il ? 3 * R : 37, T = 5, nb = H / 32;
      Kernel k = buildEmbeddingQuant(fmt, V, H, layout.target, il);
      Halide::Callable fn = compile(k, {"tokens", "quants", "scales"});
      const int rowBytes = fmt == QuantFormat::Q8_0 ? H : H / 2;
      std::vector<uint8_t> q = randomQuants(fmt, V, H, rng);
      std::vector<float> d = randomScales(size_t(V) * nb, rng, 1e-3f, 2e-2f);
      std::vector<int32_t> tokens(T);
      for (int32_t &t : tokens) {
        t = int32_t(rng() % V);
      }
      auto tB = toBuffer(tokens, {T});
      Interleaved packed{q, d};
      if (il) {
        packed = interleaveRows(fmt, q, d, V, H, il);
      }
      auto qB = weightBuffer(fmt, packed.q, {rowBytes * R, V / R});
      auto dB = halfBuffer(packed.d, {nb * R, V / R});
      Buffer<float> out(H, T);
      ASSERT_EQ(fn(tB, qB, dB, out), 0);
      for (int t = 0; t < T; ++t) {
        const int row = tokens[t];
        for (int h = 0; h < H; ++h) {
          const float want =
              float(weightValue(fmt, &q[size_t(row) * rowBytes], H, h)) *
              d[size_t(row) * nb + h / 32];
          ASSERT_EQ(bits(out(h, t)), bits(want))
              << k.name << " H=" << H << " t=" << t << " h=" << h;
        }
      }
    }
  }
}

TEST(QuantKernelTest, MoEFFNQuant) {
  std::mt19937 rng(13);
  TestTarget target = hostTarget();
  const std::vector<QuantSchedule> variants = scheduleVariants();
  const std::vector<RowLaneForm> forms = rowLaneForms();
  int shape = 0, ambiguous = 0;
  for (QuantFormat fmt : {QuantFormat::Q8_0, QuantFormat::Q4_0}) {
    for (int E : {3, 8}) {
      for (int F : {32, 64}) {
        for (int H : {32, 64}) {
          for (int K : {1, 2}) {
            // Rows as they are, then each row-lane form of the format.
            for (int layout = 0; layout <= int(forms.size()); ++layout) {
              const RowLaneForm *form =
                  layout ? &forms[size_t(layout - 1)] : nullptr;
              const int il = form ? form->rows : 0;
              if (il && (form->format != fmt || F % il || H % il)) {
                continue;
              }
              QuantSchedule sched = shape % 2
                                        ? variants[1 + shape / 2 % 4]
                                        : QuantSchedule::forTarget(target);
              ++shape;
              if (il) {
                // Tiles of 1 to 4 row vectors (3 leaves a shifted tail).
                sched = QuantSchedule::forTarget(form->target);
                sched.rowTileGroups = 1 + shape % 4;
              }
              Kernel k = buildMoEFFNQuant(
                  fmt, H, F, E, K, form ? form->target : target, sched, il);
              Halide::Callable fn =
                  compile(k, {"xq", "xd", "weights", "indices", "gate_q",
                              "gate_d", "up_q", "up_d", "down_q", "down_d"});
              MoEStack m(fmt, E, F, H, rng);
              const int nh = H / 32, nf = F / 32;
              for (int T : {1, 3}) {
                std::vector<int8_t> xq = randomActs(size_t(T) * H, rng);
                std::vector<float> xd =
                    randomScales(size_t(T) * nh, rng, 5e-3f, 2e-2f);
                std::vector<float> wts;
                std::vector<int32_t> idx;
                randomRouting(E, K, T, rng, 0.1f, 1.0f, idx, wts);
                MoERef ref = refMoEFFN(m, K, T, xq, xd, idx, wts, ambiguous);
                auto xqB = toBuffer(xq, {H, T});
                auto xdB = toBuffer(xd, {nh, T});
                auto wB = toBuffer(wts, {K, T});
                auto iB = toBuffer(idx, {K, T});
                auto gqB = weightBuffer(fmt, m.gq, {m.hBytes(), F, E});
                auto uqB = weightBuffer(fmt, m.uq, {m.hBytes(), F, E});
                auto dqB = weightBuffer(fmt, m.dq, {m.fBytes(), H, E});
                auto gdB = halfBuffer(m.gd, {nh, F, E});
                auto udB = halfBuffer(m.ud, {nh, F, E});
                auto ddB = halfBuffer(m.dd, {nf, H, E});
                if (il) {
                  const int R = il;
                  Interleaved g =
                      interleaveRows(fmt, m.gq, m.gd, size_t(E) * F, H, R);
                  Interleaved u =
                      interleaveRows(fmt, m.uq, m.ud, size_t(E) * F, H, R);
                  Interleaved d =
                      interleaveRows(fmt, m.dq, m.dd, size_t(E) * H, F, R);
                  gqB = weightBuffer(fmt, g.q, {m.hBytes() * R, F / R, E});
                  uqB = weightBuffer(fmt, u.q, {m.hBytes() * R, F / R, E});
                  dqB = weightBuffer(fmt, d.q, {m.fBytes() * R, H / R, E});
                  gdB = halfBuffer(g.d, {nh * R, F / R, E});
                  udB = halfBuffer(u.d, {nh * R, F / R, E});
                  ddB = halfBuffer(d.d, {nf * R, H / R, E});
                }
                Buffer<float> out(H, T);
                ASSERT_EQ(
                    fn(xqB, xdB, wB, iB, gqB, gdB, uqB, udB, dqB, ddB, out), 0);
                for (size_t i = 0; i < ref.value.size(); ++i) {
                  ASSERT_LE(std::fabs(out.data()[i] - ref.value[i]),
                            ref.tol[i] + 1e-30)
                      << quantFormatName(fmt) << " E=" << E << " F=" << F
                      << " H=" << H << " K=" << K << " T=" << T << " flat " << i
                      << " interleave " << il << " " << describe(sched)
                      << " got " << out.data()[i] << " want " << ref.value[i];
                }
              }
            }
          }
        }
      }
    }
  }
  std::cout << "activations within 1e-3 of a rounding tie (allowed either "
               "way): "
            << ambiguous << "\n";
}

// The prefill path as the generated program runs it: the routing grouped by
// expert (runtime/ExpertGroups.h), the routed rows gathered, one
// buildMoEExpertQuant call per expert that has tokens, buildMoECombine.
// Checked against the scalar reference, and against buildMoEFFNQuant with
// the same schedule (same dots, same slot order). Not bit for bit: Halide
// lets LLVM reassociate f32 sums, so the order of an output's lane sums
// follows the code's shape (a register tile or not); the count of
// identical outputs is printed. Expert counts are not powers of two, one
// expert never gets a token, and batch sizes straddle the register tile.
TEST(QuantKernelTest, MoEExpertQuantGrouped) {
  std::mt19937 rng(15);
  TestTarget target = hostTarget();
  const std::vector<QuantSchedule> variants = scheduleVariants();
  struct Case {
    QuantFormat fmt;
    int E, F, H, K;
    QuantSchedule sched;
  };
  std::vector<Case> cases;
  int n = 0;
  for (QuantFormat fmt : {QuantFormat::Q8_0, QuantFormat::Q4_0}) {
    for (auto [E, F, H, K] :
         {std::tuple{5, 64, 32, 2}, std::tuple{7, 32, 96, 3}}) {
      cases.push_back({fmt, E, F, H, K, QuantSchedule::forTarget(target)});
      QuantSchedule other = variants[1 + n++ % 4];
      // Tiles of other shapes too: a single row, three tokens.
      other.expertTileRows = n % 2 ? 1 : 4;
      other.expertTileTokens = n % 2 ? 3 : 2;
      cases.push_back({fmt, E, F, H, K, other});
    }
  }
  int ambiguous = 0, checkedExperts = 0, emptyExperts = 0, identical = 0,
      outputs = 0;
  for (const Case &c : cases) {
    const int E = c.E, F = c.F, H = c.H, K = c.K;
    const QuantFormat fmt = c.fmt;
    const std::string what =
        quantFormatName(fmt) + " E=" + std::to_string(E) +
        " F=" + std::to_string(F) + " H=" + std::to_string(H) +
        " K=" + std::to_string(K) + " " + describe(c.sched) + " tile " +
        std::to_string(c.sched.expertTileRows) + "x" +
        std::to_string(c.sched.expertTileTokens);
    Kernel ek = buildMoEExpertQuant(fmt, H, F, target, c.sched);
    Halide::Callable expert = compile(ek, {"xq", "xd", "gate_q", "gate_d",
                                           "up_q", "up_d", "down_q", "down_d"});
    Halide::Callable combine =
        compile(buildMoECombine(H, K, target), {"rows", "row_of", "weights"});
    Halide::Callable fused =
        compile(buildMoEFFNQuant(fmt, H, F, E, K, target, c.sched),
                {"xq", "xd", "weights", "indices", "gate_q", "gate_d", "up_q",
                 "up_d", "down_q", "down_d"});
    MoEStack m(fmt, E, F, H, rng);
    const int nh = H / 32, nf = F / 32, hb = m.hBytes(), fb = m.fBytes();
    for (int T : {2, 5, 13}) {
      std::vector<int8_t> xq = randomActs(size_t(T) * H, rng);
      std::vector<float> xd = randomScales(size_t(T) * nh, rng, 5e-3f, 2e-2f);
      std::vector<float> wts;
      std::vector<int32_t> idx;
      // Routing among experts other than 1, which gets no token.
      randomRouting(E - 1, K, T, rng, 0.1f, 1.0f, idx, wts);
      for (int32_t &e : idx) {
        e += e >= 1;
      }
      MoERef ref = refMoEFFN(m, K, T, xq, xd, idx, wts, ambiguous);

      const int pairs = T * K;
      std::vector<int32_t> offsets(E + 1), order(pairs), rowOf(pairs);
      lfm2c::Status st = rt::groupByExpert(idx.data(), T, K, E, offsets.data(),
                                           order.data(), rowOf.data());
      ASSERT_TRUE(st.isOk()) << st.message();
      std::vector<int8_t> gxq(size_t(pairs) * H);
      std::vector<float> gxd(size_t(pairs) * nh);
      rt::gatherPairRows(xq.data(), H, order.data(), pairs, K, gxq.data());
      rt::gatherPairRows(xd.data(), nh * 4, order.data(), pairs, K, gxd.data());
      Buffer<float> rows(H, pairs);
      for (int e = 0; e < E; ++e) {
        const int first = offsets[e], count = offsets[e + 1] - first;
        if (count == 0) {
          ++emptyExperts;
          continue;
        }
        ++checkedExperts;
        // Views of the gathered rows and of expert e's slabs, as the
        // program's HBufs are.
        Buffer<int8_t> exq(gxq.data() + size_t(first) * H, H, count);
        Buffer<float> exd(gxd.data() + size_t(first) * nh, nh, count);
        auto slab = [&](const std::vector<uint8_t> &q, int rowsPer, int bytes) {
          const uint8_t *p = q.data() + size_t(e) * rowsPer * bytes;
          if (fmt == QuantFormat::Q8_0) {
            return Halide::Buffer<>(Buffer<int8_t>(
                reinterpret_cast<int8_t *>(const_cast<uint8_t *>(p)), bytes,
                rowsPer));
          }
          return Halide::Buffer<>(
              Buffer<uint8_t>(const_cast<uint8_t *>(p), bytes, rowsPer));
        };
        auto scales = [&](const std::vector<float> &d, int rowsPer,
                          int blocks) {
          const auto first = d.begin() + size_t(e) * rowsPer * blocks;
          return halfBuffer({first, first + size_t(rowsPer) * blocks},
                            {blocks, rowsPer});
        };
        Buffer<float> ey(rows.data() + size_t(first) * H, H, count);
        ASSERT_EQ(expert(exq, exd, slab(m.gq, F, hb), scales(m.gd, F, nh),
                         slab(m.uq, F, hb), scales(m.ud, F, nh),
                         slab(m.dq, H, fb), scales(m.dd, H, nf), ey),
                  0)
            << what << " expert " << e << " of " << count << " rows";
      }
      auto rowOfB = toBuffer(rowOf, {K, T});
      auto wB = toBuffer(wts, {K, T});
      Buffer<float> out(H, T);
      ASSERT_EQ(combine(rows, rowOfB, wB, out), 0) << what;

      Buffer<float> want(H, T);
      ASSERT_EQ(
          fused(
              toBuffer(xq, {H, T}), toBuffer(xd, {nh, T}), wB,
              toBuffer(idx, {K, T}), weightBuffer(fmt, m.gq, {hb, F, E}),
              halfBuffer(m.gd, {nh, F, E}), weightBuffer(fmt, m.uq, {hb, F, E}),
              halfBuffer(m.ud, {nh, F, E}), weightBuffer(fmt, m.dq, {fb, H, E}),
              halfBuffer(m.dd, {nf, H, E}), want),
          0);
      for (size_t i = 0; i < ref.value.size(); ++i) {
        ASSERT_LE(std::fabs(out.data()[i] - ref.value[i]), ref.tol[i] + 1e-30)
            << what << " T=" << T << " flat " << i << " got " << out.data()[i]
            << " want " << ref.value[i];
        ASSERT_LE(std::fabs(out.data()[i] - want.data()[i]), ref.tol[i] + 1e-30)
            << what << " T=" << T << " flat " << i << ": grouped "
            << out.data()[i] << ", per token " << want.data()[i];
        identical += bits(out.data()[i]) == bits(want.data()[i]);
        ++outputs;
      }
    }
  }
  EXPECT_GT(emptyExperts, 0);
  std::cout << checkedExperts << " expert batches checked, " << emptyExperts
            << " experts without tokens skipped; " << identical << " of "
            << outputs << " outputs identical to the per-token kernel's\n";
}

//--- Q6_K weights, Q8_K activations ---------------------------------------

struct RefQ8K {
  float d = 0, iscale = 0;
  int8_t q[256];
};

// quantize_row_q8_K_ref for one block of 256.
RefQ8K refQuantizeQ8K(const float *x) {
  float amax = 0, max = 0;
  for (int j = 0; j < 256; ++j) {
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  RefQ8K b;
  if (amax == 0) {
    std::fill(b.q, b.q + 256, 0);
    return b;
  }
  const float iscale = -127.0f / max;
  b.iscale = iscale;
  for (int j = 0; j < 256; ++j) {
    // nearest_int: adding 1.5 * 2^23 rounds to an integer, ties to even.
    const float v = iscale * x[j];
    const float shifted = v + 12582912.0f;
    int32_t i;
    std::memcpy(&i, &shifted, 4);
    b.q[j] = static_cast<int8_t>(std::min(127, (i & 0x007fffff) - 0x00400000));
  }
  b.d = 1 / iscale;
  return b;
}

// A 256-value block exercising the Q8_K rules: magnitudes from 1e-6 to 1e3,
// zero blocks, exact rounding ties (|max| = 127, so iscale = -+1), the
// largest magnitude present with both signs (the first one sets the sign),
// negative-only blocks.
void fillBlockQ8K(float *x, int kind, std::mt19937 &rng) {
  std::normal_distribution<float> n(0.0f, 1.0f);
  std::uniform_int_distribution<int> k(-126, 125);
  switch (kind % 5) {
  case 0: {
    const float sigma = std::pow(10.0f, float(kind % 10) - 6.0f);
    for (int j = 0; j < 256; ++j) {
      x[j] = n(rng) * sigma;
    }
    break;
  }
  case 1:
    std::fill(x, x + 256, 0.0f);
    break;
  case 2:
    for (int j = 0; j < 256; ++j) {
      x[j] = float(k(rng)) + 0.5f;
    }
    x[rng() % 256] = rng() % 2 ? 127.0f : -127.0f;
    break;
  case 3: {
    for (int j = 0; j < 256; ++j) {
      x[j] = n(rng);
    }
    const float m = 10.0f + float(rng() % 100) / 7.0f;
    const int a = int(rng() % 128), b = 128 + int(rng() % 128);
    const bool negFirst = rng() % 2;
    x[a] = negFirst ? -m : m;
    x[b] = negFirst ? m : -m;
    break;
  }
  default:
    for (int j = 0; j < 256; ++j) {
      x[j] = -std::fabs(n(rng)) * 2.0f;
    }
  }
}

TEST(QuantKernelTest, QuantizeQ8_K) {
  std::mt19937 rng(21);
  TestTarget target = hostTarget();
  int ties = 0;
  for (int K : {256, 768}) {
    Kernel k = buildQuantizeQ8_K(K, target);
    Halide::Callable fn = compile(k, {"x"});
    for (int T : {1, 4}) {
      const int nb = K / 256;
      std::vector<float> x(size_t(T) * K);
      for (int blk = 0; blk < T * nb; ++blk) {
        fillBlockQ8K(&x[size_t(blk) * 256], int(rng() % 1000), rng);
      }
      auto xB = toBuffer(x, {K, T});
      Buffer<int8_t> q(K, T);
      Buffer<float> d(nb, T);
      ASSERT_EQ(fn(xB, q, d), 0);
      for (int blk = 0; blk < T * nb; ++blk) {
        const float *xb = &x[size_t(blk) * 256];
        RefQ8K ref = refQuantizeQ8K(xb);
        ASSERT_EQ(bits(d.data()[blk]), bits(ref.d))
            << "K=" << K << " T=" << T << " block " << blk;
        for (int j = 0; j < 256; ++j) {
          const float v = ref.iscale * xb[j];
          ties += v - std::floor(v) == 0.5f;
          ASSERT_EQ(q.data()[size_t(blk) * 256 + j], ref.q[j])
              << "K=" << K << " T=" << T << " block " << blk << " j=" << j
              << " x=" << xb[j];
        }
      }
    }
  }
  EXPECT_GT(ties, 100);
}

// Random Q6_K rows in the layout of QuantLayout.h: every byte random, so
// sub-block scales cover all of int8.
std::vector<uint8_t> randomQ6K(size_t rows, int K, std::mt19937 &rng) {
  std::vector<uint8_t> v(rows * (K / 256) * kQ6KBlockBytes);
  for (uint8_t &b : v) {
    b = static_cast<uint8_t>(rng());
  }
  return v;
}

// ggml_vec_dot_q6_K_q8_K: an exact integer per super-block times d6 * d8.
RefDot refDotQ6K(int K, const uint8_t *wrow, const float *wd, const int8_t *x,
                 const float *xd) {
  RefDot r;
  for (int b = 0; b < K / 256; ++b) {
    int64_t sumi = 0, sumAbs = 0;
    for (int j = 0; j < 256; ++j) {
      const int i = b * 256 + j;
      const int64_t p = int64_t(q6SubScale(wrow, i)) * q6Value(wrow, i) * x[i];
      sumi += p;
      sumAbs += std::abs(p);
    }
    const float scale = wd[b] * xd[b];
    r.value += double(sumi) * scale;
    r.absSum += double(sumAbs) * scale;
  }
  return r;
}

// Every value, sub-block scale and super-block scale of row-major Q6_K
// rows lands where the row-interleaved layout's readers look for it.
TEST(QuantKernelTest, Q6Interleave) {
  std::mt19937 rng(24);
  const int R = 16;
  for (int K : {256, 768}) {
    const int rows = 2 * R, nb = K / 256;
    std::vector<uint8_t> raw = randomQ6K(rows, K, rng);
    std::vector<float> scales(size_t(rows) * nb);
    std::iota(scales.begin(), scales.end(), 1.0f);
    std::vector<uint8_t> packed = raw;
    std::vector<float> packedScales = scales;
    q6Interleave(packed.data(), packedScales.data(), rows, K, R);
    const size_t rowBytes = size_t(nb) * kQ6KBlockBytes;
    for (int r = 0; r < rows; ++r) {
      const uint8_t *row = &raw[r * rowBytes];
      for (int i = 0; i < K; ++i) {
        ASSERT_EQ(q6InterleavedValue(packed.data(), K, R, r, i),
                  q6Value(row, i))
            << "K=" << K << " row " << r << " i=" << i;
        ASSERT_EQ(q6InterleavedSubScale(packed.data(), K, R, r, i),
                  q6SubScale(row, i))
            << "K=" << K << " row " << r << " i=" << i;
        ASSERT_EQ(packedScales[size_t(q6InterleavedScale(K, R, r, i))],
                  scales[size_t(r) * nb + i / 256]);
      }
    }
  }
}

// The Q6_K layouts: rows as they are (the host's schedule), and
// row-interleaved with AVX-512 VNNI's schedule (its kernels run on any
// host: the tests JIT them for this machine's instructions).
struct Q6Layout {
  TestTarget target;
  int rows;
};
std::vector<Q6Layout> q6Layouts() {
  std::vector<Q6Layout> layouts = {{hostTarget(), 0}};
  const TestTarget vnni(64, true);
  const int r =
      rowInterleave(QuantSchedule::forTarget(vnni), QuantFormat::Q6_K);
  EXPECT_EQ(r, 16);
  layouts.push_back({vnni, r});
  return layouts;
}

TEST(QuantKernelTest, LinearQ6_K) {
  std::mt19937 rng(22);
  for (const Q6Layout &layout : q6Layouts()) {
    const TestTarget &target = layout.target;
    const int il = layout.rows, R = std::max(il, 1);
    QuantSchedule small = QuantSchedule::forTarget(target);
    small.q6kRowsPerTask = 5;
    small.tokensPerTile = 2;
    small.rowTileGroups = 3;
    small.q6kSubBlocksUnrolled = 16;
    small.q6kPrefetchBlocks = 0;
    for (int K : {256, 512, 768}) {
      for (int N : {1, 7, 33, 16, 48, 80}) {
        if (N % R != 0) {
          continue;
        }
        for (const QuantSchedule &sched :
             {QuantSchedule::forTarget(target), small}) {
          Kernel k =
              il ? buildLinearQ6_KRows(K, N, sched)
                 : buildLinearQuant(QuantFormat::Q6_K, K, N, target, sched);
          Halide::Callable fn = compile(k, {"xq", "xd", "wq", "wd"});
          for (int T : {1, 3}) {
            const int nb = K / 256, rowBytes = nb * int(kQ6KBlockBytes);
            std::vector<uint8_t> wq = randomQ6K(N, K, rng);
            std::vector<float> wd =
                randomScales(size_t(N) * nb, rng, 1e-4f, 2e-3f);
            std::vector<int8_t> xq = randomActs(size_t(T) * K, rng);
            std::vector<float> xd =
                randomScales(size_t(T) * nb, rng, 1e-3f, 5e-2f);
            std::vector<uint8_t> packed = wq;
            std::vector<float> packedScales = wd;
            if (il) {
              q6Interleave(packed.data(), packedScales.data(), N, K, R);
            }
            auto xqB = toBuffer(xq, {K, T});
            auto xdB = toBuffer(xd, {nb, T});
            auto wqB = toBuffer(packed, {rowBytes * R, N / R});
            auto wdB = toBuffer(packedScales, {nb * R, N / R});
            Buffer<float> y(N, T);
            ASSERT_EQ(fn(xqB, xdB, wqB, wdB, y), 0);
            for (int t = 0; t < T; ++t) {
              for (int n = 0; n < N; ++n) {
                RefDot r =
                    refDotQ6K(K, &wq[size_t(n) * rowBytes], &wd[size_t(n) * nb],
                              &xq[size_t(t) * K], &xd[size_t(t) * nb]);
                const float got = y(n, t);
                ASSERT_LE(std::fabs(got - r.value), 1e-5 * r.absSum + 1e-30)
                    << k.name << " K=" << K << " N=" << N << " T=" << T
                    << " n=" << n << " t=" << t << " got " << got << " want "
                    << r.value;
              }
            }
          }
        }
      }
    }
  }
}

// dequantize_row_q6_K, bit for bit: (d * scale) * q.
TEST(QuantKernelTest, EmbeddingQ6_K) {
  std::mt19937 rng(23);
  for (const Q6Layout &layout : q6Layouts()) {
    const TestTarget &target = layout.target;
    const int il = layout.rows, R = std::max(il, 1);
    for (int H : {256, 768}) {
      const int V = il ? 3 * R : 29, T = 5, nb = H / 256,
                rowBytes = nb * int(kQ6KBlockBytes);
      Kernel k = buildEmbeddingQuant(QuantFormat::Q6_K, V, H, target, il);
      Halide::Callable fn = compile(k, {"tokens", "quants", "scales"});
      std::vector<uint8_t> q = randomQ6K(V, H, rng);
      std::vector<float> d = randomScales(size_t(V) * nb, rng, 1e-4f, 2e-3f);
      std::vector<uint8_t> packed = q;
      std::vector<float> packedScales = d;
      if (il) {
        q6Interleave(packed.data(), packedScales.data(), V, H, R);
      }
      std::vector<int32_t> tokens(T);
      for (int32_t &t : tokens) {
        t = int32_t(rng() % V);
      }
      auto tB = toBuffer(tokens, {T});
      auto qB = toBuffer(packed, {rowBytes * R, V / R});
      auto dB = toBuffer(packedScales, {nb * R, V / R});
      Buffer<float> out(H, T);
      ASSERT_EQ(fn(tB, qB, dB, out), 0);
      for (int t = 0; t < T; ++t) {
        const uint8_t *row = &q[size_t(tokens[t]) * rowBytes];
        for (int h = 0; h < H; ++h) {
          const float want = d[size_t(tokens[t]) * nb + h / 256] *
                             float(q6SubScale(row, h)) * float(q6Value(row, h));
          ASSERT_EQ(bits(out(h, t)), bits(want))
              << k.name << " H=" << H << " t=" << t << " h=" << h;
        }
      }
    }
  }
}

//--- Assembly --------------------------------------------------------------

std::map<std::string, int> countInstructions(const Kernel &k,
                                             const std::string &target,
                                             const std::string &file) {
  Halide::Pipeline p = k.pipeline;
  p.compile_to_assembly(file, k.args, k.name, Halide::Target(target));
  std::ifstream in(file);
  std::map<std::string, int> counts;
  std::string line;
  const char *mnemonics[] = {"vpmaddwd",  "vpmaddubsw", "vpdpbusd",
                             "vpdpwssd",  "vpmovsxbw",  "vpmovzxbw",
                             "vcvtdq2ps", "vfmadd",     "vpgather",
                             "vcvtps2ph", "vroundps",   "vrndscaleps"};
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string op;
    ls >> op;
    if (op == "{vex}") {
      ls >> op;
    }
    for (const char *m : mnemonics) {
      if (op.rfind(m, 0) == 0) {
        ++counts[m];
      }
    }
  }
  return counts;
}

std::string show(const std::map<std::string, int> &c) {
  std::ostringstream o;
  for (const auto &[m, n] : c) {
    o << " " << m << "=" << n;
  }
  return o.str();
}

// The int8 block dots lower to the targets' widening multiply-adds:
// vpmaddwd on AVX2, vpdpbusd on AVX-512 VNNI (Zen 4) and AVX-VNNI; AVX2's
// Q4_0 nibbles go to vpmaddubsw as they are (q4PairSums).
TEST(QuantKernelTest, DotInstructions) {
  const std::string dir = ::testing::TempDir();
  struct Case {
    std::string halide;
    int bytes;
    bool dot;
    const char *expect;   // Q8_0
    const char *expectQ4; // Q4_0
  };
  for (const Case &c :
       {Case{"x86-64-linux-avx2-fma-f16c-sse41", 32, false, "vpmaddwd",
             "vpmaddubsw"},
        Case{"x86-64-linux-avx512_zen4", 64, true, "vpdpbusd", "vpdpbusd"},
        // Halide 21 does not select AVX-VNNI's vpdpbusd for 8 lanes; the u8
        // layout then falls back to vpmovzxbw / vpmaddwd, Q4_0 to its pair
        // sums.
        Case{"x86-64-linux-avx2-fma-f16c-sse41-avxvnni", 32, true, "vpmaddwd",
             "vpmaddubsw"}}) {
    TestTarget target(c.bytes, c.dot, c.halide);
    for (QuantFormat fmt : {QuantFormat::Q8_0, QuantFormat::Q4_0}) {
      const char *expect = fmt == QuantFormat::Q8_0 ? c.expect : c.expectQ4;
      Kernel k = buildLinearQuant(fmt, 2048, 6144, target);
      auto counts = countInstructions(
          k, c.halide, dir + "/" + c.halide + "_" + k.name + ".s");
      std::cout << c.halide << " " << k.name << ":" << show(counts) << "\n";
      EXPECT_GT(counts[expect], 0) << c.halide << " " << k.name;
      EXPECT_EQ(counts["vpgather"], 0) << c.halide << " " << k.name;
      Kernel p = buildLinearQuantPrefill(fmt, 2048, 2048, target);
      auto pc = countInstructions(p, c.halide,
                                  dir + "/" + c.halide + "_" + p.name + ".s");
      std::cout << c.halide << " " << p.name << ":" << show(pc) << "\n";
      EXPECT_GT(pc[expect], 0) << c.halide << " " << p.name;
      EXPECT_EQ(pc["vpgather"], 0) << c.halide << " " << p.name;
    }
    Kernel q = buildQuantizeQ8_0(2048, target);
    std::cout << c.halide << " " << q.name << ":"
              << show(countInstructions(
                     q, c.halide, dir + "/" + c.halide + "_" + q.name + ".s"))
              << "\n";
    Kernel m = buildMoEFFNQuant(QuantFormat::Q4_0, 256, 128, 8, 2, target);
    auto counts = countInstructions(m, c.halide,
                                    dir + "/" + c.halide + "_" + m.name + ".s");
    std::cout << c.halide << " " << m.name << ":" << show(counts) << "\n";
    EXPECT_GT(counts[c.expectQ4], 0) << c.halide << " " << m.name;
    // The row-interleaved kernels: AVX2's pair sums (Q4_0) or AVX-512's
    // vpdpbusd (Q4_0, Q8_0), no gathers.
    for (QuantFormat fmt : {QuantFormat::Q8_0, QuantFormat::Q4_0}) {
      const int il = rowInterleave(QuantSchedule::forTarget(target), fmt);
      if (il == 0) {
        continue;
      }
      const char *expect = fmt == QuantFormat::Q8_0 ? c.expect : c.expectQ4;
      for (const Kernel &r :
           {buildMoEFFNQuant(fmt, 256, 128, 8, 2, target, il),
            buildLinearQuant(fmt, 2048, 6144, target, il),
            buildLinearQuantPrefill(fmt, 2048, 2048, target, il)}) {
        auto rc = countInstructions(r, c.halide,
                                    dir + "/" + c.halide + "_" + r.name + ".s");
        std::cout << c.halide << " " << r.name << ":" << show(rc) << "\n";
        EXPECT_GT(rc[expect], 0) << c.halide << " " << r.name;
        EXPECT_EQ(rc["vpgather"], 0) << c.halide << " " << r.name;
      }
    }
    // The row-interleaved Q6_K head: vpdpbusd where it is interleaved.
    if (const int il = rowInterleave(QuantSchedule::forTarget(target),
                                     QuantFormat::Q6_K)) {
      Kernel h = buildLinearQuant(QuantFormat::Q6_K, 2048, 2048, target, il);
      auto hc = countInstructions(h, c.halide,
                                  dir + "/" + c.halide + "_" + h.name + ".s");
      std::cout << c.halide << " " << h.name << ":" << show(hc) << "\n";
      EXPECT_GT(hc["vpdpbusd"], 0) << c.halide << " " << h.name;
      EXPECT_EQ(hc["vpgather"], 0) << c.halide << " " << h.name;
    }
    for (QuantFormat fmt : {QuantFormat::Q8_0, QuantFormat::Q4_0}) {
      Kernel x = buildMoEExpertQuant(fmt, 256, 128, target);
      auto xc = countInstructions(x, c.halide,
                                  dir + "/" + c.halide + "_" + x.name + ".s");
      std::cout << c.halide << " " << x.name << ":" << show(xc) << "\n";
      const char *expect = fmt == QuantFormat::Q8_0 ? c.expect : c.expectQ4;
      EXPECT_GT(xc[expect], 0) << c.halide << " " << x.name;
      EXPECT_EQ(xc["vpgather"], 0) << c.halide << " " << x.name;
    }
  }
}

// Only whole, indented prefetch instructions change; labels, comments and
// symbols that merely contain the word stay.
TEST(QuantKernelTest, TemporalPrefetchRewrite) {
  std::string text = "\tprefetchnta\t(%rsi,%r15)\n"
                     "  prefetchnta 64(%rax)\n"
                     "# %\"4_for_prefetch_reduce_gate_d.1\"\n"
                     "prefetchnta_label:\n"
                     "\tcall\tprefetchnta_helper\n"
                     "\tprfm\tpldl1strm, [x0, #64]\n";
  EXPECT_EQ(temporalPrefetches(text), 3);
  EXPECT_EQ(text, "\tprefetcht0\t(%rsi,%r15)\n"
                  "  prefetcht0 64(%rax)\n"
                  "# %\"4_for_prefetch_reduce_gate_d.1\"\n"
                  "prefetchnta_label:\n"
                  "\tcall\tprefetchnta_helper\n"
                  "\tprfm\tpldl1keep, [x0, #64]\n");
  EXPECT_EQ(temporalPrefetches(text), 0);
}

// The text of a file the compiler wrote ("" if it is missing).
std::string fileText(const std::string &path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The AVX-512 row-lane decode kernels prefetch their weights ahead; their
// objects (as the compiler writes them) carry temporal prefetches only, and
// a kernel without prefetches is compiled directly.
TEST(QuantKernelTest, DecodeKernelObjectsPrefetchTemporally) {
  const std::string dir = ::testing::TempDir();
  const std::string halide = "x86-64-linux-avx512_zen4";
  TestTarget target(64, true, halide);
  const Halide::Target ht =
      Halide::Target(halide).with_feature(Halide::Target::NoRuntime);
  for (QuantFormat fmt :
       {QuantFormat::Q8_0, QuantFormat::Q4_0, QuantFormat::Q6_K}) {
    const int il = rowInterleave(QuantSchedule::forTarget(target), fmt);
    ASSERT_EQ(il, 16);
    std::vector<Kernel> kernels = {buildLinearQuant(fmt, 512, 96, target, il)};
    if (fmt != QuantFormat::Q6_K) {
      kernels.push_back(buildMoEFFNQuant(fmt, 256, 128, 8, 2, target, il));
    }
    for (Kernel &k : kernels) {
      ASSERT_TRUE(k.prefetches) << k.name;
      const std::string object = dir + "/" + k.name + "_pf.o";
      Status st = compileKernelObject(k, ht, object, "c++", true);
      ASSERT_TRUE(st) << st.message();
      EXPECT_GT(std::filesystem::file_size(object), 0u) << k.name;
      const std::string text = fileText(dir + "/" + k.name + "_pf.s");
      EXPECT_NE(text.find("prefetcht0"), std::string::npos) << k.name;
      EXPECT_EQ(text.find("prefetchnta"), std::string::npos) << k.name;
      // Each Q4_0 / Q8_0 block's prefetches (a few lines per row group)
      // are straight-line code beside its dots, not loops of their own
      // (UnrolledPrefetchLoops); a Q6_K super-block's 52 lines a group stay
      // a loop.
      const std::string stmt = fileText(dir + "/" + k.name + "_pf.stmt");
      EXPECT_NE(stmt.find("prefetch("), std::string::npos) << k.name;
      EXPECT_EQ(stmt.find("for (prefetch_") == std::string::npos,
                fmt != QuantFormat::Q6_K)
          << k.name;
    }
  }
  // Decode attention prefetches f32 V rows: every line of them, not the
  // every fourth line Halide 21's split of a prefetch into cache lines steps
  // over for 4-byte elements (WholeLinePrefetches mends them, then
  // UnrolledPrefetchLoops unrolls each row's lines). Its K tiles are one
  // line (16 keys' f32 element) a prefetch.
  AttentionSchedule prefetching = AttentionSchedule::forTarget(target);
  prefetching.decodePrefetch = true;
  Kernel att = buildAttention(32, 8, 64, target, prefetching);
  ASSERT_TRUE(att.prefetches);
  const std::string attObject = dir + "/" + att.name + "_pf.o";
  Status ast = compileKernelObject(att, ht, attObject, "c++", true);
  ASSERT_TRUE(ast) << ast.message();
  std::stringstream stmt(fileText(dir + "/" + att.name + "_pf.stmt"));
  // A row's 4 lines, unrolled: element offsets 0, 16, 32, 48 (not 64,
  // 128, 192).
  std::map<std::string, int> offsets; // "cache +offset" -> prefetches
  for (std::string line; std::getline(stmt, line);) {
    for (const char *cache : {"k_cache", "v_cache"}) {
      const size_t at = line.find(std::string("prefetch(") + cache + ", ");
      if (at == std::string::npos) {
        continue;
      }
      const size_t plus = line.rfind(" + ", line.find(", 1, 16)", at));
      const bool offset = plus != std::string::npos && plus > at;
      ++offsets[std::string(cache) +
                (offset ? line.substr(plus, line.find(',', plus) - plus)
                        : " +0")];
    }
  }
  for (const char *line : {" +0", " + 16", " + 32", " + 48"}) {
    EXPECT_GT(offsets[std::string("v_cache") + line], 0) << line;
  }
  for (const char *line : {" + 64", " + 128", " + 192"}) {
    EXPECT_EQ(offsets[std::string("v_cache") + line], 0) << line;
  }
  int keyPrefetches = 0;
  for (const auto &[at, count] : offsets) {
    keyPrefetches += at.rfind("k_cache", 0) == 0 ? count : 0;
  }
  EXPECT_GT(keyPrefetches, 0);
  Kernel plain = buildQuantizeQ8_0(2048, target);
  EXPECT_FALSE(plain.prefetches);
  const std::string object = dir + "/" + plain.name + "_pf.o";
  Status st = compileKernelObject(plain, ht, object, "c++", false);
  ASSERT_TRUE(st) << st.message();
  EXPECT_GT(std::filesystem::file_size(object), 0u);
  // A driver that cannot run is an error naming it, not an abort.
  Kernel k = buildLinearQuant(QuantFormat::Q4_0, 512, 96, target, 16);
  Status bad =
      compileKernelObject(k, ht, dir + "/bad.o", "/nonexistent/c++", false);
  EXPECT_FALSE(bad);
  EXPECT_NE(bad.message().find("/nonexistent/c++"), std::string::npos)
      << bad.message();
}

//--- Throughput (run explicitly: --gtest_also_run_disabled_tests) ----------

TEST(QuantKernelTest, DISABLED_LinearQ4_0Bandwidth) {
  setenv("HL_NUM_THREADS", "2", 0);
  const int K = 2048, N = 6144, T = 1;
  std::mt19937 rng(14);
  TestTarget target = hostTarget();
  std::vector<QuantSchedule> scheds;
  for (int rows : {16, 32, 64}) {
    for (int factor : {2, 4}) {
      for (bool inl : {false, true}) {
        QuantSchedule s = QuantSchedule::forTarget(target);
        s.rowsPerTask = rows;
        s.dotFactor = factor;
        s.unpackInline = inl;
        if (!inl || factor == 2) {
          scheds.push_back(s);
        }
      }
    }
  }
  for (QuantFormat fmt : {QuantFormat::Q4_0, QuantFormat::Q8_0}) {
    for (const QuantSchedule &sched : scheds) {
      Kernel k = buildLinearQuant(fmt, K, N, target, sched);
      Halide::Callable fn = compile(k, {"xq", "xd", "wq", "wd"});
      const int rowBytes = fmt == QuantFormat::Q8_0 ? K : K / 2;
      std::vector<uint8_t> wq = randomQuants(fmt, N, K, rng);
      std::vector<float> wd =
          randomScales(size_t(N) * K / 32, rng, 1e-3f, 2e-2f);
      std::vector<int8_t> xq = randomActs(size_t(T) * K, rng);
      std::vector<float> xd =
          randomScales(size_t(T) * K / 32, rng, 1e-3f, 5e-2f);
      auto xqB = toBuffer(xq, {K, T});
      auto xdB = toBuffer(xd, {K / 32, T});
      auto wqB = weightBuffer(fmt, wq, {rowBytes, N});
      auto wdB = halfBuffer(wd, {K / 32, N});
      Buffer<float> y(N, T);
      ASSERT_EQ(fn(xqB, xdB, wqB, wdB, y), 0);
      // 50 timed calls; the mean and the fastest (the machine may be shared).
      const int calls = 50;
      std::vector<double> times;
      for (int i = 0; i < calls; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        fn(xqB, xdB, wqB, wdB, y);
        times.push_back(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
                .count());
      }
      const double mean =
          std::accumulate(times.begin(), times.end(), 0.0) / calls;
      const double best = *std::min_element(times.begin(), times.end());
      const double bytes = double(N) * rowBytes + double(N) * K / 32 * 4;
      std::cout << k.name << " T=1 " << describe(sched) << ": mean "
                << mean * 1e6 << " us (" << bytes / mean / 1e9
                << " GB/s), best " << best * 1e6 << " us ("
                << bytes / best / 1e9 << " GB/s); weights " << bytes / 1e6
                << " MB\n";
    }
  }
}

//--- Fused projections (ProjectionKernels.cpp) ----------------------------

// Several outputs, a residual, or SwiGLU over a gate and an up projection:
// each output against the scalar dot plus the epilogue, for both formats at
// odd row counts and token counts.
TEST(QuantKernelTest, Projection) {
  std::mt19937 rng(21);
  const TestTarget host = hostTarget();
  std::uniform_real_distribution<float> res(-2.0f, 2.0f);
  // Q8_0, Q4_0, then row-interleaved in each row-lane form (row counts
  // multiples of 8 or 16).
  const std::vector<RowLaneForm> forms = rowLaneForms();
  for (int layout = 0; layout < 2 + int(forms.size()); ++layout) {
    const RowLaneForm *form =
        layout >= 2 ? &forms[size_t(layout - 2)] : nullptr;
    const QuantFormat fmt = form          ? form->format
                            : layout == 0 ? QuantFormat::Q8_0
                                          : QuantFormat::Q4_0;
    const int il = form ? form->rows : 0;
    const TestTarget &target = form ? form->target : host;
    const int K = 96, nb = K / 32;
    const int rowBytes = fmt == QuantFormat::Q8_0 ? K : K / 2;
    for (int variant = 0; variant < 3; ++variant) {
      ProjectionSpec spec;
      spec.format = fmt;
      spec.k = K;
      spec.interleave = il;
      spec.rows = variant == 0 ? (il ? std::vector<int64_t>{5 * il, il, 2 * il}
                                     : std::vector<int64_t>{37, 5, 9})
                               : std::vector<int64_t>{il ? 3 * il : 33};
      spec.residual = variant == 1;
      spec.swiglu = variant == 2;
      Kernel k = buildProjection(spec, target);
      std::vector<std::string> names = {"xq", "xd"};
      const size_t nWeights = spec.swiglu ? 2 : spec.rows.size();
      const std::vector<std::string> tags =
          spec.swiglu ? std::vector<std::string>{"gate", "up"}
                      : std::vector<std::string>{"0", "1", "2"};
      for (size_t w = 0; w < nWeights; ++w) {
        names.push_back("wq_" + tags[w]);
        names.push_back("wd_" + tags[w]);
      }
      if (spec.residual) {
        names.push_back("residual");
      }
      Halide::Callable fn = compile(k, names);
      for (int T : {1, 5}) {
        std::vector<int8_t> xq = randomActs(size_t(T) * K, rng);
        std::vector<float> xd = randomScales(size_t(T) * nb, rng, 1e-3f, 5e-2f);
        std::vector<std::vector<uint8_t>> wq;
        std::vector<std::vector<float>> wd;
        std::vector<Halide::Buffer<>> bufs = {toBuffer(xq, {K, T}),
                                              toBuffer(xd, {nb, T})};
        for (size_t w = 0; w < nWeights; ++w) {
          const int N = static_cast<int>(spec.rows[spec.swiglu ? 0 : w]);
          wq.push_back(randomQuants(fmt, N, K, rng));
          wd.push_back(randomScales(size_t(N) * nb, rng, 1e-3f, 2e-2f));
          if (il) {
            Interleaved v = interleaveRows(fmt, wq.back(), wd.back(), N, K, il);
            bufs.push_back(weightBuffer(fmt, v.q, {rowBytes * il, N / il}));
            bufs.push_back(halfBuffer(v.d, {nb * il, N / il}));
            continue;
          }
          bufs.push_back(weightBuffer(fmt, wq.back(), {rowBytes, N}));
          bufs.push_back(halfBuffer(wd.back(), {nb, N}));
        }
        const int N0 = static_cast<int>(spec.rows[0]);
        std::vector<float> r(size_t(T) * N0);
        for (float &v : r) {
          v = res(rng);
        }
        if (spec.residual) {
          bufs.push_back(toBuffer(r, {N0, T}));
        }
        std::vector<Buffer<float>> outs;
        for (int64_t n : spec.rows) {
          outs.emplace_back(static_cast<int>(n), T);
          bufs.push_back(outs.back());
        }
        std::vector<Halide::Buffer<>> &all = bufs;
        int rc = -1;
        switch (all.size()) {
        case 5:
          rc = fn(all[0], all[1], all[2], all[3], all[4]);
          break;
        case 6:
          rc = fn(all[0], all[1], all[2], all[3], all[4], all[5]);
          break;
        case 7:
          rc = fn(all[0], all[1], all[2], all[3], all[4], all[5], all[6]);
          break;
        case 11:
          rc = fn(all[0], all[1], all[2], all[3], all[4], all[5], all[6],
                  all[7], all[8], all[9], all[10]);
          break;
        }
        ASSERT_EQ(rc, 0) << spec.name();
        auto dot = [&](size_t w, int n, int t) {
          return refDot(fmt, K, &wq[w][size_t(n) * rowBytes],
                        &wd[w][size_t(n) * nb], &xq[size_t(t) * K],
                        &xd[size_t(t) * nb]);
        };
        for (size_t o = 0; o < spec.rows.size(); ++o) {
          for (int t = 0; t < T; ++t) {
            for (int n = 0; n < spec.rows[o]; ++n) {
              double want, tol;
              if (spec.swiglu) {
                RefDot g = dot(0, n, t), u = dot(1, n, t);
                const double sg = g.value / (1.0 + std::exp(-g.value));
                want = sg * u.value;
                tol = 1e-5 * (g.absSum * std::fabs(u.value) +
                              u.absSum * std::fabs(sg)) +
                      1e-6;
              } else {
                RefDot d = dot(o, n, t);
                want = d.value + (spec.residual ? r[size_t(t) * N0 + n] : 0.0);
                tol = 1e-5 * d.absSum + 1e-6;
              }
              const float got = outs[o](n, t);
              ASSERT_NEAR(got, want, tol)
                  << spec.name() << " output " << o << " T=" << T << " n=" << n
                  << " t=" << t;
            }
          }
        }
      }
    }
  }
}

// RMSNorm fused into the Q8_0 quantizer: exactly the quantization of the
// rms_norm kernel's output.
TEST(QuantKernelTest, RmsNormQuantizeQ8_0) {
  std::mt19937 rng(22);
  std::normal_distribution<float> n(0.0f, 1.5f);
  for (int bytes : {16, 32}) {
    TestTarget target(bytes);
    for (int K : {32, 160}) {
      const float eps = 1e-5f;
      Kernel fused = buildRmsNormQuantizeQ8_0(K, eps, target);
      Kernel norm = buildRmsNorm(K, eps, target);
      Halide::Callable fn = compile(fused, {"x", "w"});
      Halide::Callable normFn = compile(norm, {"x", "w"});
      Kernel quant = buildQuantizeQ8_0(K, target);
      Halide::Callable quantFn = compile(quant, {"x"});
      for (int T : {1, 4}) {
        const int nb = K / 32;
        std::vector<float> x(size_t(T) * K), w(K);
        for (float &v : x) {
          v = n(rng);
        }
        for (float &v : w) {
          v = n(rng);
        }
        auto xB = toBuffer(x, {K, T});
        auto wB = toBuffer(w, {K});
        Buffer<int8_t> q(K, T), qRef(K, T);
        Buffer<float> d(nb, T), dRef(nb, T), normed(K, T);
        ASSERT_EQ(fn(xB, wB, q, d), 0);
        ASSERT_EQ(normFn(xB, wB, normed), 0);
        ASSERT_EQ(quantFn(normed, qRef, dRef), 0);
        // The unfused pair is itself checked against the scalar references
        // (KernelTest.RmsNorm, QuantizeQ8_0); here the scalar rule again.
        for (int t = 0; t < T; ++t) {
          double ss = 0;
          for (int i = 0; i < K; ++i) {
            ss += double(x[size_t(t) * K + i]) * x[size_t(t) * K + i];
          }
          const double scale = 1.0 / std::sqrt(ss / K + eps);
          for (int i = 0; i < K; ++i) {
            const double want = x[size_t(t) * K + i] * scale * w[i];
            ASSERT_NEAR(normed(i, t), want, 1e-5 * std::fabs(want) + 1e-6);
          }
          for (int b = 0; b < nb; ++b) {
            RefBlock ref = refQuantize(&normed(b * 32, t));
            ASSERT_EQ(bits(d(b, t)), bits(ref.d)) << "K=" << K << " t=" << t;
            for (int j = 0; j < 32; ++j) {
              ASSERT_EQ(q(b * 32 + j, t), ref.q[j])
                  << "K=" << K << " t=" << t << " i=" << b * 32 + j;
            }
          }
        }
      }
    }
  }
}

} // namespace
} // namespace lfm2c
