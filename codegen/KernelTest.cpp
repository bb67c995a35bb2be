//===- KernelTest.cpp - Every kernel against a scalar reference ----------===//
//
// Each builder's pipeline is JIT-compiled for the host and run on seeded
// random inputs at several odd shapes; its outputs are compared with a
// straightforward scalar reference of the math in lfm2-architecture.md §2
// (llama.cpp f32 semantics), accumulated in double.
//
// Every case is built with three schedule vector widths (16, 32 and 64
// bytes, i.e. 4, 8 and 16 f32 lanes) so the interleaved-lane dot products
// are exercised with bodies, tails and lane counts above the length.
//
//===----------------------------------------------------------------------===//
#include "codegen/Kernel.h"
#include "codegen/KernelRequest.h"
#include "codegen/KernelTestUtil.h"
#include "codegen/QuantMath.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <sstream>

using Halide::Buffer;

namespace lfm2c {
namespace {

const std::vector<int> kVectorBytes = {16, 32, 64};

// The slower kernels build each shape once, not once per width: the pass
// over width `bi` takes the shapes whose rotating index falls on it, mixed
// so that no single loop variable is tied to one width.
bool takes(int &variant, int bi) {
  int v = variant++;
  return (v + v / 3) % 3 == bi;
}

std::vector<float> randn(size_t n, std::mt19937 &rng, float sigma = 1.0f) {
  std::normal_distribution<float> d(0.0f, sigma);
  std::vector<float> v(n);
  for (float &x : v) {
    x = d(rng);
  }
  return v;
}

// A dense buffer (innermost-first sizes) holding `data` in row-major order
// of the reversed (logical) shape.
template <typename T>
Buffer<T> toBuffer(const std::vector<T> &data, std::vector<int> sizes) {
  Buffer<T> b(sizes);
  EXPECT_EQ(static_cast<size_t>(b.number_of_elements()), data.size());
  std::copy(data.begin(), data.end(), b.data());
  return b;
}

// max |out - ref| <= tol * max(1, max |ref|), and no NaN anywhere.
void expectClose(const Buffer<float> &out, const std::vector<double> &ref,
                 double tol, const std::string &what) {
  ASSERT_EQ(static_cast<size_t>(out.number_of_elements()), ref.size()) << what;
  double maxRef = 1.0, maxErr = 0.0;
  size_t worst = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    maxRef = std::max(maxRef, std::fabs(ref[i]));
    double a = out.data()[i];
    double err = std::isnan(a) ? std::numeric_limits<double>::infinity()
                               : std::fabs(a - ref[i]);
    if (err > maxErr || (std::isinf(err) && !std::isinf(maxErr))) {
      maxErr = err;
      worst = i;
    }
  }
  EXPECT_LE(maxErr, tol * maxRef)
      << what << ": worst flat index " << worst << " got " << out.data()[worst]
      << " want " << ref[worst];
}

std::string tag(const std::string &op,
                std::initializer_list<std::pair<const char *, double>> kv) {
  std::ostringstream s;
  s << op;
  for (const auto &[k, v] : kv) {
    s << " " << k << "=" << v;
  }
  return s.str();
}

constexpr double kTol = 1e-4;

//===----------------------------------------------------------------------===//

TEST(KernelTest, Embedding) {
  std::mt19937 rng(1);
  for (int bytes : kVectorBytes) {
    TestTarget target(bytes);
    for (auto [V, H] : {std::pair{5, 7}, std::pair{17, 64}, std::pair{3, 1}}) {
      Kernel k = buildEmbedding(V, H, target);
      Halide::Callable fn = compile(k, {"tokens", "table"});
      for (int T : {1, 4, 9}) {
        std::vector<float> table = randn(size_t(V) * H, rng);
        std::vector<int32_t> tokens(T);
        std::uniform_int_distribution<int> pick(0, V - 1);
        for (int32_t &t : tokens) {
          t = pick(rng);
        }
        std::vector<double> ref(size_t(T) * H);
        for (int t = 0; t < T; ++t) {
          for (int h = 0; h < H; ++h) {
            ref[size_t(t) * H + h] = table[size_t(tokens[t]) * H + h];
          }
        }
        auto tokB = toBuffer(tokens, {T});
        auto tabB = toBuffer(table, {H, V});
        Buffer<float> out(H, T);
        ASSERT_EQ(fn(tokB, tabB, out), 0);
        expectClose(
            out, ref, 0.0,
            tag("embedding", {{"V", V}, {"H", H}, {"T", T}, {"bytes", bytes}}));
      }
    }
  }
}

TEST(KernelTest, RmsNorm) {
  std::mt19937 rng(2);
  const float eps = 1e-5f;
  for (int bytes : kVectorBytes) {
    TestTarget target(bytes);
    for (int N : {5, 64, 100}) {
      Kernel k = buildRmsNorm(N, eps, target);
      Halide::Callable fn = compile(k, {"x", "w"});
      for (int T : {1, 3, 8}) {
        std::vector<float> x = randn(size_t(T) * N, rng, 3.0f);
        std::vector<float> w = randn(N, rng);
        std::vector<double> ref(size_t(T) * N);
        for (int t = 0; t < T; ++t) {
          double ss = 0;
          for (int i = 0; i < N; ++i) {
            ss += double(x[t * N + i]) * x[t * N + i];
          }
          double scale = 1.0 / std::sqrt(ss / N + eps);
          for (int i = 0; i < N; ++i) {
            ref[t * N + i] = x[t * N + i] * scale * w[i];
          }
        }
        auto xB = toBuffer(x, {N, T});
        auto wB = toBuffer(w, {N});
        Buffer<float> out(N, T);
        ASSERT_EQ(fn(xB, wB, out), 0);
        expectClose(out, ref, kTol,
                    tag("rms_norm", {{"N", N}, {"T", T}, {"bytes", bytes}}));
      }
    }
  }
}

TEST(KernelTest, Linear) {
  std::mt19937 rng(3);
  for (int bytes : kVectorBytes) {
    TestTarget target(bytes);
    for (int K : {1, 7, 33, 256}) {
      for (int N : {1, 5, 19}) {
        Kernel k = buildLinear(K, N, target);
        Halide::Callable fn = compile(k, {"x", "w"});
        for (int T : {1, 3, 8}) {
          std::vector<float> x = randn(size_t(T) * K, rng);
          std::vector<float> w = randn(size_t(N) * K, rng);
          std::vector<double> ref(size_t(T) * N);
          for (int t = 0; t < T; ++t) {
            for (int o = 0; o < N; ++o) {
              double acc = 0;
              for (int i = 0; i < K; ++i) {
                acc += double(x[t * K + i]) * w[o * K + i];
              }
              ref[t * N + o] = acc;
            }
          }
          auto xB = toBuffer(x, {K, T});
          auto wB = toBuffer(w, {K, N});
          Buffer<float> out(N, T);
          ASSERT_EQ(fn(xB, wB, out), 0);
          expectClose(
              out, ref, kTol,
              tag("linear", {{"K", K}, {"N", N}, {"T", T}, {"bytes", bytes}}));
        }
      }
    }
  }
}

TEST(KernelTest, AddAndSwiGLU) {
  std::mt19937 rng(4);
  for (int bytes : kVectorBytes) {
    TestTarget target(bytes);
    for (int N : {1, 7, 64, 100}) {
      Kernel add = buildAdd(N, target);
      Kernel glu = buildSwiGLU(N, target);
      Halide::Callable addFn = compile(add, {"a", "b"});
      Halide::Callable gluFn = compile(glu, {"gate", "up"});
      for (int T : {1, 3}) {
        std::vector<float> a = randn(size_t(T) * N, rng, 4.0f);
        std::vector<float> b = randn(size_t(T) * N, rng, 2.0f);
        std::vector<double> refAdd(a.size()), refGlu(a.size());
        for (size_t i = 0; i < a.size(); ++i) {
          refAdd[i] = double(a[i]) + b[i];
          refGlu[i] = double(a[i]) / (1.0 + std::exp(-double(a[i]))) * b[i];
        }
        auto aB = toBuffer(a, {N, T});
        auto bB = toBuffer(b, {N, T});
        Buffer<float> out(N, T);
        ASSERT_EQ(addFn(aB, bB, out), 0);
        expectClose(out, refAdd, kTol,
                    tag("add", {{"N", N}, {"T", T}, {"bytes", bytes}}));
        Buffer<float> out2(N, T);
        ASSERT_EQ(gluFn(aB, bB, out2), 0);
        expectClose(out2, refGlu, kTol,
                    tag("swiglu", {{"N", N}, {"T", T}, {"bytes", bytes}}));
      }
    }
  }
}

TEST(KernelTest, ShortConv) {
  std::mt19937 rng(5);
  for (int bi = 0; bi < 3; ++bi) {
    const int bytes = kVectorBytes[bi];
    TestTarget target(bytes);
    int variant = 0;
    for (int H : {3, 16}) {
      for (int L : {2, 3, 4}) {
        const int S = L - 1;
        if (!takes(variant, bi)) {
          continue;
        }
        Kernel k = buildShortConv(H, L, target);
        Halide::Callable fn = compile(k, {"z", "state", "kernel"});
        for (int T : {1, 2, 5}) {
          std::vector<float> z = randn(size_t(T) * 3 * H, rng);
          std::vector<float> state = randn(size_t(S) * H, rng);
          std::vector<float> kw = randn(size_t(H) * L, rng); // [H, L]
          // The conv input over the window: state rows (oldest first),
          // then v_t = B_t * x_t for this batch.
          std::vector<std::vector<double>> v(S + T, std::vector<double>(H));
          for (int s = 0; s < S; ++s) {
            for (int h = 0; h < H; ++h) {
              v[s][h] = state[s * H + h];
            }
          }
          for (int t = 0; t < T; ++t) {
            for (int h = 0; h < H; ++h) {
              v[S + t][h] = double(z[t * 3 * H + h]) * z[t * 3 * H + 2 * H + h];
            }
          }
          std::vector<double> refY(size_t(T) * H), refState(size_t(S) * H);
          for (int t = 0; t < T; ++t) {
            for (int h = 0; h < H; ++h) {
              // Tap L-1 multiplies the current token (window index S + t).
              double c = 0;
              for (int m = 0; m < L; ++m) {
                c += double(kw[h * L + m]) * v[t + m][h];
              }
              refY[t * H + h] = double(z[t * 3 * H + H + h]) * c;
            }
          }
          for (int s = 0; s < S; ++s) {
            for (int h = 0; h < H; ++h) {
              refState[s * H + h] = v[T + s][h];
            }
          }
          auto zB = toBuffer(z, {3 * H, T});
          auto sB = toBuffer(state, {H, S});
          auto kB = toBuffer(kw, {L, H});
          Buffer<float> y(H, T), next(H, S);
          ASSERT_EQ(fn(zB, sB, kB, y, next), 0);
          std::string what = tag(
              "short_conv", {{"H", H}, {"L", L}, {"T", T}, {"bytes", bytes}});
          expectClose(y, refY, kTol, what + " y");
          expectClose(next, refState, kTol, what + " new_state");
        }
      }
    }
  }
}

// The rotation angles as llama.cpp's rope cache builds them: start at the
// position and multiply by theta^(-2/d) in float once per pair.
std::vector<float> llamaAngles(int pos, int half, int d, float theta) {
  const float thetaScale = std::pow(theta, -2.0f / static_cast<float>(d));
  std::vector<float> a(half);
  float cur = static_cast<float>(pos);
  for (int i = 0; i < half; ++i) {
    a[i] = cur;
    cur *= thetaScale;
  }
  return a;
}

TEST(KernelTest, QKNormRope) {
  std::mt19937 rng(6);
  const float eps = 1e-5f;
  for (int bi = 0; bi < 3; ++bi) {
    const int bytes = kVectorBytes[bi];
    TestTarget target(bytes);
    int variant = 0;
    for (int heads : {1, 2, 3}) {
      for (int d : {4, 64}) {
        for (float theta : {1e6f, 1e4f}) {
          const int half = d / 2;
          if (!takes(variant, bi)) {
            continue;
          }
          Kernel k = buildQKNormRope(heads, d, eps, theta, target);
          Halide::Callable fn = compile(k, {"x", "w", "pos"});
          for (int pos : {0, 5, 100}) {
            for (int T : {1, 3}) {
              std::vector<float> x = randn(size_t(T) * heads * d, rng, 2.0f);
              std::vector<float> w = randn(d, rng);
              // refLlama: angles in float as llama.cpp; refExact: the
              // architecture doc's closed form (pos+t) * theta^(-2i/d).
              std::vector<double> refLlama(x.size()), refExact(x.size());
              for (int t = 0; t < T; ++t) {
                std::vector<float> ang = llamaAngles(pos + t, half, d, theta);
                for (int hd = 0; hd < heads; ++hd) {
                  const float *xr = &x[(size_t(t) * heads + hd) * d];
                  double ss = 0;
                  for (int i = 0; i < d; ++i) {
                    ss += double(xr[i]) * xr[i];
                  }
                  double scale = 1.0 / std::sqrt(ss / d + eps);
                  std::vector<double> n(d);
                  for (int i = 0; i < d; ++i) {
                    n[i] = xr[i] * scale * w[i];
                  }
                  size_t base = (size_t(t) * heads + hd) * d;
                  for (int i = 0; i < half; ++i) {
                    double a1 = ang[i];
                    double a2 =
                        double(pos + t) * std::pow(double(theta), -2.0 * i / d);
                    for (auto [a, ref] :
                         {std::pair{a1, &refLlama}, std::pair{a2, &refExact}}) {
                      (*ref)[base + i] =
                          n[i] * std::cos(a) - n[i + half] * std::sin(a);
                      (*ref)[base + i + half] =
                          n[i + half] * std::cos(a) + n[i] * std::sin(a);
                    }
                  }
                }
              }
              auto xB = toBuffer(x, {d, heads, T});
              auto wB = toBuffer(w, {d});
              Buffer<float> out(d, heads, T);
              ASSERT_EQ(fn(xB, wB, int32_t(pos), out), 0);
              std::string what = tag("qk_norm_rope", {{"heads", heads},
                                                      {"d", d},
                                                      {"theta", theta},
                                                      {"pos", pos},
                                                      {"T", T},
                                                      {"bytes", bytes}});
              expectClose(out, refLlama, kTol, what + " (llama angles)");
              // Float angle accumulation drifts by a few ulps of ~100 rad
              // from the closed form; allow for that only.
              expectClose(out, refExact, 2e-3, what + " (exact angles)");
            }
          }
        }
      }
    }
  }
}

// Causal attention against softmax-then-weight in double (ggml's order;
// the kernel's online softmax normalises at the end instead). Shapes cover
// groups of 1, 2 and 4 query heads per KV head and head_dim 8, 32 and 64;
// besides the target's default schedule, a small one (key blocks of 5,
// 3 decode splits, query tiles of 2 tokens) runs every path with several
// blocks, uneven splits (some empty), partial tiles and key blocks cut by
// the end of the cache, at contexts that are not multiples of anything; a
// third (key blocks of 2 cache tiles, 3 decode splits) runs the path of
// whole cache tiles in a block over several blocks and splits, the last
// tile partial. Each also with f16 caches, against the reference on the
// rounded rows.
TEST(KernelTest, Attention) {
  std::mt19937 rng(7);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  struct Shape {
    int nh, nkv, d;
  };
  const Shape shapes[] = {{2, 1, 8},  {4, 1, 64}, {8, 2, 32}, {3, 3, 64},
                          {4, 2, 32}, {8, 2, 64}, {2, 2, 32}};
  for (int bi = 0; bi < 3; ++bi) {
    const int bytes = kVectorBytes[bi];
    TestTarget target(bytes);
    int variant = 0;
    for (const Shape &sh : shapes) {
      enum Variant { Default, Small, TileBlocks };
      for (Variant schedule : {Default, Small, TileBlocks}) {
        for (bool f16 : {false, true}) {
          if (!takes(variant, bi)) {
            continue;
          }
          const int nh = sh.nh, nkv = sh.nkv, d = sh.d;
          const bool small = schedule == Small;
          AttentionSchedule sched = AttentionSchedule::forTarget(target);
          if (small) {
            sched.keyBlock = 5;
            sched.decodeSplits = 3;
            sched.queryTile = 2;
            sched.accumulators = 4;
            sched.decodeAccumulators = 4;
          } else if (schedule == TileBlocks) {
            sched.keyBlock = 2 * kCacheTileRows;
            sched.decodeSplits = 3;
          }
          Kernel k = buildAttention(nh, nkv, d, target, sched, f16);
          Halide::Callable fn = compile(k, {"q", "k_cache", "v_cache", "pos"});
          const int group = nh / nkv;
          for (auto [pos, T] :
               {std::pair{0, 1}, std::pair{4, 1}, std::pair{15, 1},
                std::pair{32, 1}, std::pair{37, 1}, std::pair{70, 1},
                std::pair{0, 3}, std::pair{5, 7}, std::pair{29, 12},
                std::pair{20, 13}}) {
            // Exactly the valid rows, as the program passes them, or more.
            const int valid = pos + T, C = valid + (pos + T) % 2 * 3;
            std::vector<float> q = randn(size_t(T) * nh * d, rng, 2.0f);
            std::vector<float> kc = randn(size_t(C) * nkv * d, rng, 2.0f);
            std::vector<float> vc = randn(size_t(C) * nkv * d, rng);
            // Rows past the causal limit are garbage (NaN) a correct kernel
            // never lets into its results (it may read the rest of a key
            // tile, masked).
            std::fill(kc.begin() + size_t(valid) * nkv * d, kc.end(), nan);
            std::fill(vc.begin() + size_t(valid) * nkv * d, vc.end(), nan);
            std::vector<Halide::float16_t> kh(kc.size()), vh(vc.size());
            if (f16) {
              for (size_t i = 0; i < kc.size(); ++i) {
                kh[i] = Halide::float16_t(kc[i]);
                vh[i] = Halide::float16_t(vc[i]);
                kc[i] = float(kh[i]);
                vc[i] = float(vh[i]);
              }
            }
            std::vector<double> ref(q.size());
            const double scale = 1.0 / std::sqrt(double(d));
            for (int t = 0; t < T; ++t) {
              for (int h = 0; h < nh; ++h) {
                const int kvh = h / group;
                const float *qr = &q[(size_t(t) * nh + h) * d];
                const int n = pos + t + 1; // keys 0 .. pos+t
                std::vector<double> sc(n);
                for (int j = 0; j < n; ++j) {
                  const float *kr = &kc[(size_t(j) * nkv + kvh) * d];
                  double acc = 0;
                  for (int i = 0; i < d; ++i) {
                    acc += double(qr[i]) * kr[i];
                  }
                  sc[j] = acc * scale;
                }
                double mx = *std::max_element(sc.begin(), sc.end()), den = 0;
                for (double &e : sc) {
                  e = std::exp(e - mx);
                  den += e;
                }
                for (int i = 0; i < d; ++i) {
                  double acc = 0;
                  for (int j = 0; j < n; ++j) {
                    acc += sc[j] / den * vc[(size_t(j) * nkv + kvh) * d + i];
                  }
                  ref[(size_t(t) * nh + h) * d + i] = acc;
                }
              }
            }
            // The caches as the program stores them: tiles of rows, keys
            // transposed, the last tile padded with garbage.
            auto tiled = [&](const auto &rows, bool keys) {
              using E = typename std::decay_t<decltype(rows)>::value_type;
              const int tiles = (C + kCacheTileRows - 1) / kCacheTileRows;
              Buffer<E> b = keys ? Buffer<E>(kCacheTileRows, d, nkv, tiles)
                                 : Buffer<E>(d, kCacheTileRows, nkv, tiles);
              b.fill(E(nan));
              for (int j = 0; j < C; ++j) {
                const int lane = j % kCacheTileRows, tile = j / kCacheTileRows;
                for (int h = 0; h < nkv; ++h) {
                  for (int i = 0; i < d; ++i) {
                    E &at = keys ? b(lane, i, h, tile) : b(i, lane, h, tile);
                    at = rows[(size_t(j) * nkv + h) * d + i];
                  }
                }
              }
              return b;
            };
            auto qB = toBuffer(q, {d, nh, T});
            Buffer<float> out(d, nh, T);
            if (f16) {
              auto kB = tiled(kh, true);
              auto vB = tiled(vh, false);
              ASSERT_EQ(fn(qB, kB, vB, int32_t(pos), out), 0);
            } else {
              auto kB = tiled(kc, true);
              auto vB = tiled(vc, false);
              ASSERT_EQ(fn(qB, kB, vB, int32_t(pos), out), 0);
            }
            expectClose(out, ref, kTol,
                        tag("attention", {{"heads", nh},
                                          {"kv", nkv},
                                          {"d", d},
                                          {"pos", pos},
                                          {"T", T},
                                          {"C", C},
                                          {"schedule", int(schedule)},
                                          {"f16", f16},
                                          {"bytes", bytes}}));
          }
        }
      }
    }
  }
}

// A step's rows scattered into a cache's tiles: each value lands at its
// position's (lane, tile), keys transposed, as f32 or rounded to f16 as
// ggml's GGML_FP32_TO_FP16 rounds (random values against Halide's scalar
// float16_t, and values whose halves are known bit for bit: ties to even,
// overflow to infinity, a subnormal, NaN); no other element of the cache
// changes.
TEST(KernelTest, StoreCacheTiles) {
  std::mt19937 rng(18);
  const std::pair<float, uint16_t> known[] = {
      {1.0f + 1.0f / 2048, 0x3C00}, // halfway between 1 and 1 + 2^-10
      {1.0f + 3.0f / 2048, 0x3C02}, // halfway: up to the even neighbour
      {-2.5f, 0xC100},
      {70000.0f, 0x7C00},  // beyond 65504: +infinity
      {-3.0e-6f, 0x8032},  // subnormal: -50 * 2^-24
      {65519.0f, 0x7BFF}}; // just below the overflow threshold
  const float sentinel = -7.5f;
  for (int bytes : kVectorBytes) {
    TestTarget target(bytes);
    for (auto [nkv, d] :
         {std::pair{1, 8}, std::pair{3, 13}, std::pair{2, 64}}) {
      for (bool keys : {true, false}) {
        for (bool f16 : {false, true}) {
          Halide::Callable fn = compile(
              buildStoreCacheTiles(nkv, d, keys, target, f16), {"x", "pos"});
          for (auto [pos, T] :
               {std::pair{0, 1}, std::pair{5, 1}, std::pair{14, 7},
                std::pair{16, 16}, std::pair{33, 30}}) {
            const int n = nkv * d;
            const int tiles =
                (pos + T + 3 + kCacheTileRows - 1) / kCacheTileRows;
            std::vector<float> x = randn(size_t(T) * n, rng, 4.0f);
            for (size_t k = 0; k < std::size(known) && k < x.size(); ++k) {
              x[k] = known[k].first;
            }
            x[std::size(known) % x.size()] =
                std::numeric_limits<float>::quiet_NaN();
            auto xB = toBuffer(x, {n, T});
            auto check = [&](auto &cache, auto expect) {
              using E = std::remove_reference_t<decltype(cache(0, 0, 0, 0))>;
              cache.fill(E(sentinel));
              ASSERT_EQ(fn(xB, int32_t(pos), cache), 0);
              for (int p = 0; p < tiles * kCacheTileRows; ++p) {
                const int lane = p % kCacheTileRows, tile = p / kCacheTileRows;
                for (int h = 0; h < nkv; ++h) {
                  for (int i = 0; i < d; ++i) {
                    const E got = keys ? cache(lane, i, h, tile)
                                       : cache(i, lane, h, tile);
                    const bool written = p >= pos && p < pos + T;
                    const float v =
                        written ? x[size_t(p - pos) * n + h * d + i] : sentinel;
                    ASSERT_TRUE(expect(got, v, written))
                        << "kv " << nkv << " d " << d << " keys " << keys
                        << " f16 " << f16 << " pos " << pos << " T " << T
                        << " row " << p << " head " << h << " element " << i
                        << " bytes " << bytes;
                  }
                }
              }
            };
            if (f16) {
              Buffer<Halide::float16_t> cache =
                  keys
                      ? Buffer<Halide::float16_t>(kCacheTileRows, d, nkv, tiles)
                      : Buffer<Halide::float16_t>(d, kCacheTileRows, nkv,
                                                  tiles);
              check(cache, [&](Halide::float16_t got, float v, bool written) {
                if (std::isnan(v)) {
                  return got.is_nan();
                }
                for (const auto &[value, bits] : known) {
                  if (written && v == value) {
                    return got.to_bits() == bits;
                  }
                }
                return got.to_bits() == Halide::float16_t(v).to_bits();
              });
            } else {
              Buffer<float> cache =
                  keys ? Buffer<float>(kCacheTileRows, d, nkv, tiles)
                       : Buffer<float>(d, kCacheTileRows, nkv, tiles);
              check(cache, [](float got, float v, bool) {
                return std::isnan(v) ? std::isnan(got) : got == v;
              });
            }
          }
        }
      }
    }
  }
}

TEST(KernelTest, MoERoute) {
  std::mt19937 rng(8);
  for (int bi = 0; bi < 3; ++bi) {
    const int bytes = kVectorBytes[bi];
    TestTarget target(bytes);
    int variant = 0;
    for (int E : {4, 8, 13}) {
      for (int K : {1, 2, 4}) {
        for (int H : {9, 64}) {
          if (!takes(variant, bi)) {
            continue;
          }
          Kernel k = buildMoERoute(H, E, K, target);
          Halide::Callable fn = compile(k, {"x", "router", "bias"});
          for (int T : {1, 3, 6}) {
            std::vector<float> x = randn(size_t(T) * H, rng);
            std::vector<float> router = randn(size_t(E) * H, rng, 0.3f);
            std::vector<float> bias = randn(E, rng, 0.5f);
            std::vector<double> refW(size_t(T) * K);
            std::vector<int32_t> refI(size_t(T) * K);
            for (int t = 0; t < T; ++t) {
              std::vector<double> s(E), biased(E);
              for (int e = 0; e < E; ++e) {
                double acc = 0;
                for (int i = 0; i < H; ++i) {
                  acc += double(router[e * H + i]) * x[t * H + i];
                }
                s[e] = 1.0 / (1.0 + std::exp(-acc));
                biased[e] = s[e] + bias[e];
              }
              std::vector<int> order(E);
              std::iota(order.begin(), order.end(), 0);
              std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
                return biased[a] > biased[b];
              });
              double sum = 0;
              for (int j = 0; j < K; ++j) {
                sum += s[order[j]];
              }
              sum = std::max(sum, 6.103515625e-5);
              for (int j = 0; j < K; ++j) {
                refI[t * K + j] = order[j];
                refW[t * K + j] = s[order[j]] / sum;
              }
            }
            auto xB = toBuffer(x, {H, T});
            auto rB = toBuffer(router, {H, E});
            auto bB = toBuffer(bias, {E});
            Buffer<float> w(K, T);
            Buffer<int32_t> idx(K, T);
            ASSERT_EQ(fn(xB, rB, bB, w, idx), 0);
            std::string what =
                tag("moe_route",
                    {{"H", H}, {"E", E}, {"K", K}, {"T", T}, {"bytes", bytes}});
            std::vector<int32_t> got(idx.data(), idx.data() + T * K);
            EXPECT_EQ(got, refI) << what << " indices";
            expectClose(w, refW, kTol, what + " weights");
          }
        }
      }
    }
  }
}

TEST(KernelTest, MoEFFN) {
  std::mt19937 rng(9);
  for (int bi = 0; bi < 3; ++bi) {
    const int bytes = kVectorBytes[bi];
    TestTarget target(bytes);
    int variant = 0;
    for (int E : {3, 8}) {
      for (int F : {5, 32}) {
        for (int K : {1, 2}) {
          for (int H : {9, 64}) {
            if (!takes(variant, bi)) {
              continue;
            }
            Kernel k = buildMoEFFN(H, F, E, K, target);
            Halide::Callable fn =
                compile(k, {"x", "weights", "indices", "gate", "up", "down"});
            for (int T : {1, 4}) {
              std::vector<float> x = randn(size_t(T) * H, rng);
              std::vector<float> gate = randn(size_t(E) * F * H, rng, 0.5f);
              std::vector<float> up = randn(size_t(E) * F * H, rng, 0.5f);
              std::vector<float> down = randn(size_t(E) * H * F, rng, 0.5f);
              std::vector<float> wts;
              std::vector<int32_t> idx;
              randomRouting(E, K, T, rng, 0.05f, 1.0f, idx, wts);
              std::vector<double> ref(size_t(T) * H, 0.0);
              for (int t = 0; t < T; ++t) {
                const float *xr = &x[size_t(t) * H];
                for (int j = 0; j < K; ++j) {
                  const int e = idx[t * K + j];
                  std::vector<double> act(F);
                  for (int f = 0; f < F; ++f) {
                    double g = 0, u = 0;
                    for (int i = 0; i < H; ++i) {
                      g += double(gate[(size_t(e) * F + f) * H + i]) * xr[i];
                      u += double(up[(size_t(e) * F + f) * H + i]) * xr[i];
                    }
                    act[f] = g / (1.0 + std::exp(-g)) * u;
                  }
                  for (int h = 0; h < H; ++h) {
                    double acc = 0;
                    for (int f = 0; f < F; ++f) {
                      acc += double(down[(size_t(e) * H + h) * F + f]) * act[f];
                    }
                    ref[t * H + h] += wts[t * K + j] * acc;
                  }
                }
              }
              auto xB = toBuffer(x, {H, T});
              auto wB = toBuffer(wts, {K, T});
              auto iB = toBuffer(idx, {K, T});
              auto gB = toBuffer(gate, {H, F, E});
              auto uB = toBuffer(up, {H, F, E});
              auto dB = toBuffer(down, {F, H, E});
              Buffer<float> out(H, T);
              ASSERT_EQ(fn(xB, wB, iB, gB, uB, dB, out), 0);
              expectClose(out, ref, kTol,
                          tag("moe_ffn", {{"H", H},
                                          {"F", F},
                                          {"E", E},
                                          {"K", K},
                                          {"T", T},
                                          {"bytes", bytes}}));
            }
          }
        }
      }
    }
  }
}

// The fused projections with f32 weights: several outputs, a residual, and
// gate/up with SwiGLU, against double-precision references.
TEST(KernelTest, ProjectionF32) {
  std::mt19937 rng(31);
  const int K = 37;
  for (int bytes : kVectorBytes) {
    TestTarget target(bytes);
    for (int variant = 0; variant < 3; ++variant) {
      ProjectionSpec spec;
      spec.k = K;
      spec.rows =
          variant == 0 ? std::vector<int64_t>{19, 3} : std::vector<int64_t>{21};
      spec.residual = variant == 1;
      spec.swiglu = variant == 2;
      Kernel k = buildProjection(spec, target);
      std::vector<std::string> names =
          variant == 0   ? std::vector<std::string>{"x", "w_0", "w_1"}
          : variant == 1 ? std::vector<std::string>{"x", "w_0", "residual"}
                         : std::vector<std::string>{"x", "w_gate", "w_up"};
      Halide::Callable fn = compile(k, names);
      for (int T : {1, 6}) {
        std::vector<float> x = randn(size_t(T) * K, rng);
        const int N0 = static_cast<int>(spec.rows[0]);
        const int N1 = variant == 1 ? N0 : static_cast<int>(spec.rows.back());
        std::vector<float> w0 = randn(size_t(N0) * K, rng);
        std::vector<float> w1 = randn(size_t(N1) * K, rng);
        std::vector<float> r = randn(size_t(T) * N0, rng);
        auto dot = [&](const std::vector<float> &w, int o, int t) {
          double acc = 0;
          for (int i = 0; i < K; ++i) {
            acc += double(x[t * K + i]) * w[o * K + i];
          }
          return acc;
        };
        std::vector<double> ref0(size_t(T) * N0), ref1(size_t(T) * N1);
        for (int t = 0; t < T; ++t) {
          for (int o = 0; o < N0; ++o) {
            const double g = dot(w0, o, t);
            ref0[t * N0 + o] = variant == 0 ? g
                               : variant == 1
                                   ? g + r[t * N0 + o]
                                   : g / (1 + std::exp(-g)) * dot(w1, o, t);
          }
          for (int o = 0; variant == 0 && o < N1; ++o) {
            ref1[t * N1 + o] = dot(w1, o, t);
          }
        }
        auto xB = toBuffer(x, {K, T});
        auto w0B = toBuffer(w0, {K, N0});
        auto w1B = toBuffer(w1, {K, N1});
        auto rB = toBuffer(r, {N0, T});
        Buffer<float> out0(N0, T), out1(N1, T);
        const std::string what = tag(spec.name(), {{"T", T}, {"bytes", bytes}});
        if (variant == 0) {
          ASSERT_EQ(fn(xB, w0B, w1B, out0, out1), 0);
          expectClose(out1, ref1, kTol, what + " output 1");
        } else if (variant == 1) {
          ASSERT_EQ(fn(xB, w0B, rB, out0), 0);
        } else {
          ASSERT_EQ(fn(xB, w0B, w1B, out0), 0);
        }
        expectClose(out0, ref0, kTol, what);
      }
    }
  }
}

// f16 weights: the table read exactly, the projection with activations
// rounded to f16 first (llama.cpp converts src1 to the weight type), both
// against scalar references built with Halide's round-to-nearest-even half.
TEST(KernelTest, F16Weights) {
  std::mt19937 rng(32);
  auto half = [](float v) { return float(Halide::float16_t(v)); };
  for (int bytes : kVectorBytes) {
    TestTarget target(bytes);
    for (int K : {7, 64}) {
      for (int N : {5, 19}) {
        Kernel k = buildLinear(K, N, target, /*f16Weights=*/true);
        Halide::Callable fn = compile(k, {"x", "w"});
        const int T = 3;
        std::vector<float> x = randn(size_t(T) * K, rng);
        std::vector<float> wf = randn(size_t(N) * K, rng);
        std::vector<Halide::float16_t> w(wf.size());
        for (size_t i = 0; i < wf.size(); ++i) {
          w[i] = Halide::float16_t(wf[i]);
        }
        std::vector<double> ref(size_t(T) * N);
        for (int t = 0; t < T; ++t) {
          for (int o = 0; o < N; ++o) {
            double acc = 0;
            for (int i = 0; i < K; ++i) {
              acc += double(half(x[t * K + i])) * float(w[o * K + i]);
            }
            ref[t * N + o] = acc;
          }
        }
        auto xB = toBuffer(x, {K, T});
        auto wB = toBuffer(w, {K, N});
        Buffer<float> out(N, T);
        ASSERT_EQ(fn(xB, wB, out), 0);
        expectClose(out, ref, 1e-5,
                    tag("linear_f16", {{"K", K}, {"N", N}, {"bytes", bytes}}));
      }
    }
    const int V = 11, H = 24, T = 4;
    Kernel emb = buildEmbedding(V, H, target, /*f16Weights=*/true);
    Halide::Callable fn = compile(emb, {"tokens", "table"});
    std::vector<float> tf = randn(size_t(V) * H, rng);
    std::vector<Halide::float16_t> table(tf.size());
    for (size_t i = 0; i < tf.size(); ++i) {
      table[i] = Halide::float16_t(tf[i]);
    }
    std::vector<int32_t> tokens = {3, 0, 10, 3};
    Buffer<float> out(H, T);
    ASSERT_EQ(fn(toBuffer(tokens, {T}), toBuffer(table, {H, V}), out), 0);
    std::vector<double> ref;
    for (int32_t tok : tokens) {
      for (int h = 0; h < H; ++h) {
        ref.push_back(float(table[tok * H + h]));
      }
    }
    expectClose(out, ref, 0.0, tag("embedding_f16", {{"bytes", bytes}}));
  }
}

} // namespace
} // namespace lfm2c
