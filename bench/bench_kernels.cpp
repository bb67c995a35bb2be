//===- bench_kernels.cpp - f32 kernels at LFM2-8B-A1B shapes -------------===//
//
// Google Benchmark program (not a test). Measures the machine's memory read
// bandwidth first (1 GiB, all hardware threads, best of 5; printed and kept
// in the JSON context as read_bandwidth_GBps), then JIT-compiles each
// kernel of codegen/Kernel.h for the host and times it on random inputs at
// the shapes of LFM2-8B-A1B (hidden 2048, 32 experts of FFN 1792, top-4,
// GQA 32/8 heads of 64).
//
// Every kernel reports GB/s of the bytes it must read (weights, or the KV
// cache for attention), GFLOP/s, and roofline_fraction = GB/s / measured
// bandwidth. Operands are rotated through enough copies (>= 256 MiB) that
// they come from DRAM, as in a real forward pass, not from the L3.
//
//   bench_kernels                                  # everything
//   bench_kernels --benchmark_filter=Linear        # a subset
//   bench_kernels --benchmark_format=json          # machine-readable
//
//===----------------------------------------------------------------------===//
#include "bench/BenchCommon.h"

#include <array>
#include <memory>
#include <numeric>
#include <thread>

using Halide::Buffer;

namespace lfm2c::bench {
namespace {

//--- Roofline: bytes/s reading a 1 GiB buffer, summing uint64 words. -------
void BM_MemoryReadBandwidth(benchmark::State &state) {
  const int threads = static_cast<int>(state.range(0));
  const auto &buf = bandwidthBuffer();
  uint64_t sink = 0;
  double s =
      timedLoop(state, [&] { sink += sumWords(buf.data, buf.words, threads); });
  benchmark::DoNotOptimize(sink);
  reportRates(state, double(buf.words * sizeof(uint64_t)), 0.0, s);
}
BENCHMARK(BM_MemoryReadBandwidth)
    ->ArgName("threads")
    ->Arg(1)
    ->Arg(2)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// The last kernel's setup, kept across the repeated calls Google Benchmark
// makes while it picks an iteration count (JIT compiling takes seconds).
template <typename Setup, typename Key> Setup &cached(const Key &key) {
  static std::unique_ptr<Setup> setup;
  static Key last;
  if (!setup || !(last == key)) {
    setup.reset(); // free the previous shape's buffers first
    setup = std::make_unique<Setup>(key);
    last = key;
  }
  return *setup;
}

//--- Linear: x [T, K] w [N, K] -> y [T, N] --------------------------------
struct LinearSetup {
  std::unique_ptr<Runner> run;
  std::vector<Buffer<float>> w;
  Buffer<float> x, y;
  explicit LinearSetup(const std::array<int64_t, 3> &a) {
    const int K = int(a[0]), N = int(a[1]), T = int(a[2]);
    run = std::make_unique<Runner>(buildLinear(K, N, hostTarget()));
    const int copies = copiesFor(double(K) * N * 4);
    for (int c = 0; c < copies; ++c) {
      w.push_back(randomF32({K, N}, 100 + c, 0.02f));
    }
    x = randomF32({K, T}, 1);
    y = Buffer<float>(N, T);
    run->buffer("x", x.raw_buffer())
        .buffer("w", w[0].raw_buffer())
        .output(y.raw_buffer());
    run->prepare();
  }
};

void BM_Linear(benchmark::State &state) {
  const std::array<int64_t, 3> a{state.range(0), state.range(1),
                                 state.range(2)};
  LinearSetup &s = cached<LinearSetup>(a);
  size_t i = 0;
  double sec = timedLoop(state, [&] {
    s.run->rebind("w", s.w[i++ % s.w.size()].raw_buffer());
    benchmark::DoNotOptimize(s.run->run());
  });
  const double K = double(a[0]), N = double(a[1]), T = double(a[2]);
  reportRates(state, N * K * 4, 2 * T * N * K, sec);
}
// conv in_proj (2048 -> 3*2048) and the square projections (attention
// q/o, conv out_proj), one token (decode GEMV) and a 512-token prefill.
BENCHMARK(BM_Linear)
    ->ArgNames({"K", "N", "T"})
    ->Args({2048, 6144, 1})
    ->Args({2048, 2048, 1})
    ->Args({2048, 6144, 512})
    ->Args({2048, 2048, 512})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

//--- MoE expert FFN: H=2048, F=1792, E=32, top-4 --------------------------
struct MoESetup {
  std::unique_ptr<Runner> run;
  Buffer<float> x, gate, up, down, wts, y;
  std::vector<Buffer<int32_t>> idx; // rotating expert choices
  explicit MoESetup(const std::array<int64_t, 5> &a) {
    const int H = int(a[0]), F = int(a[1]), E = int(a[2]), K = int(a[3]),
              T = int(a[4]);
    run = std::make_unique<Runner>(buildMoEFFN(H, F, E, K, hostTarget()));
    x = randomF32({H, T}, 1);
    gate = randomF32({H, F, E}, 2, 0.02f);
    up = randomF32({H, F, E}, 3, 0.02f);
    down = randomF32({F, H, E}, 4, 0.02f);
    wts = Buffer<float>(K, T);
    wts.fill(1.0f / K);
    idx = randomExpertChoices(E, K, T, 8);
    y = Buffer<float>(H, T);
    run->buffer("x", x.raw_buffer())
        .buffer("weights", wts.raw_buffer())
        .buffer("indices", idx[0].raw_buffer())
        .buffer("gate", gate.raw_buffer())
        .buffer("up", up.raw_buffer())
        .buffer("down", down.raw_buffer())
        .output(y.raw_buffer());
    run->prepare();
  }
};

void BM_MoEFFN(benchmark::State &state) {
  const std::array<int64_t, 5> a{state.range(0), state.range(1), state.range(2),
                                 state.range(3), state.range(4)};
  MoESetup &s = cached<MoESetup>(a);
  size_t i = 0;
  double sec = timedLoop(state, [&] {
    s.run->rebind("indices", s.idx[i++ % s.idx.size()].raw_buffer());
    benchmark::DoNotOptimize(s.run->run());
  });
  const double H = double(a[0]), F = double(a[1]), K = double(a[3]),
               T = double(a[4]);
  // Weight bytes of the experts one token uses (gate, up, down of K
  // experts); with T > 1 distinct experts are read once per call at best,
  // so this stays the per-token figure times min(T*K, E)/K.
  const double experts = std::min(T * K, double(a[2]));
  reportRates(state, experts * 3 * F * H * 4, 2 * 3 * F * H * K * T, sec);
}
BENCHMARK(BM_MoEFFN)
    ->ArgNames({"H", "F", "E", "K", "T"})
    ->Args({2048, 1792, 32, 4, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

//--- MoE route: f32 router logits, sigmoid, top-k -------------------------
struct RouteSetup {
  std::unique_ptr<Runner> run;
  Buffer<float> x, router, bias, wts;
  Buffer<int32_t> idx;
  explicit RouteSetup(const std::array<int64_t, 4> &a) {
    const int H = int(a[0]), E = int(a[1]), K = int(a[2]), T = int(a[3]);
    run = std::make_unique<Runner>(buildMoERoute(H, E, K, hostTarget()));
    x = randomF32({H, T}, 1);
    router = randomF32({H, E}, 2, 0.02f);
    bias = randomF32({E}, 3, 0.1f);
    wts = Buffer<float>(K, T);
    idx = Buffer<int32_t>(K, T);
    run->buffer("x", x.raw_buffer())
        .buffer("router", router.raw_buffer())
        .buffer("bias", bias.raw_buffer())
        .output(wts.raw_buffer())
        .output(idx.raw_buffer());
    run->prepare();
  }
};

// The router (E x H f32, 0.5 MB for the 24B-A2B) stays in L2 between calls:
// a layer's router is read once per batch, so the prefill rate is its
// GFLOP/s, not its bytes.
void BM_MoERoute(benchmark::State &state) {
  const std::array<int64_t, 4> a{state.range(0), state.range(1), state.range(2),
                                 state.range(3)};
  RouteSetup &s = cached<RouteSetup>(a);
  double sec =
      timedLoop(state, [&] { benchmark::DoNotOptimize(s.run->run()); });
  const double H = double(a[0]), E = double(a[1]), T = double(a[3]);
  reportRates(state, E * H * 4, 2 * E * H * T, sec);
}
BENCHMARK(BM_MoERoute)
    ->ArgNames({"H", "E", "K", "T"})
    ->Args({2048, 64, 4, 1})
    ->Args({2048, 64, 4, 512})
    ->Args({2048, 32, 4, 512})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

//--- Attention decode: one query over a 4096-row cache --------------------
// Caches of f32 rows, or f16 rows (`lfm2c compile --kv-cache=f16`).
struct AttentionSetup {
  std::unique_ptr<Runner> run;
  Buffer<float> q, o;
  std::vector<Buffer<>> k, v; // f32 or f16 elements
  explicit AttentionSetup(const std::array<int64_t, 5> &a) {
    const int nh = int(a[0]), nkv = int(a[1]), d = int(a[2]), C = int(a[3]);
    const bool f16 = a[4] != 0;
    run =
        std::make_unique<Runner>(buildAttention(nh, nkv, d, hostTarget(), f16));
    q = randomF32({d, nh, 1}, 1);
    const int copies = copiesFor(2.0 * C * nkv * d * (f16 ? 2 : 4));
    auto half = [](const Buffer<float> &f) {
      std::vector<int> sizes;
      for (int i = 0; i < f.dimensions(); ++i) {
        sizes.push_back(f.dim(i).extent());
      }
      Buffer<Halide::float16_t> h(sizes);
      adviseHugePages(h.data(), h.size_in_bytes());
      h.for_each_element(
          [&](const int *at) { h(at) = Halide::float16_t(f(at)); });
      return h;
    };
    for (int c = 0; c < copies; ++c) {
      // The caches in the program's tiles (keys transposed).
      const int tiles = (C + kCacheTileRows - 1) / kCacheTileRows;
      Buffer<float> kf = randomF32({kCacheTileRows, d, nkv, tiles}, 200 + c);
      Buffer<float> vf = randomF32({d, kCacheTileRows, nkv, tiles}, 300 + c);
      k.push_back(f16 ? Buffer<>(half(kf)) : Buffer<>(kf));
      v.push_back(f16 ? Buffer<>(half(vf)) : Buffer<>(vf));
    }
    o = Buffer<float>(d, nh, 1);
    run->buffer("q", q.raw_buffer())
        .buffer("k_cache", k[0].raw_buffer())
        .buffer("v_cache", v[0].raw_buffer())
        .scalar("pos", C - 1) // the last row: attends to all C rows
        .output(o.raw_buffer());
    run->prepare();
  }
};

void BM_AttentionDecode(benchmark::State &state) {
  const std::array<int64_t, 5> a{state.range(0), state.range(1), state.range(2),
                                 state.range(3), state.range(4)};
  AttentionSetup &s = cached<AttentionSetup>(a);
  size_t i = 0;
  double sec = timedLoop(state, [&] {
    size_t c = i++ % s.k.size();
    s.run->rebind("k_cache", s.k[c].raw_buffer());
    s.run->rebind("v_cache", s.v[c].raw_buffer());
    benchmark::DoNotOptimize(s.run->run());
  });
  const double nh = double(a[0]), nkv = double(a[1]), d = double(a[2]),
               C = double(a[3]), bytes = a[4] ? 2 : 4;
  // Reads K and V rows once; QK^T and PV are 2 FLOPs per MAC each.
  reportRates(state, 2 * C * nkv * d * bytes, 4 * nh * C * d, sec);
}
BENCHMARK(BM_AttentionDecode)
    ->ArgNames({"heads", "kv", "d", "ctx", "f16"})
    ->Args({32, 8, 64, 4096, 0})
    ->Args({32, 8, 64, 4096, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

//--- Attention prefill: T queries at positions pos .. pos+T-1 --------------
struct AttentionPrefillSetup {
  std::unique_ptr<Runner> run;
  Buffer<float> q, o;
  std::vector<Buffer<float>> k, v;
  explicit AttentionPrefillSetup(const std::array<int64_t, 5> &a) {
    const int nh = int(a[0]), nkv = int(a[1]), d = int(a[2]), pos = int(a[3]),
              T = int(a[4]), C = pos + T;
    run = std::make_unique<Runner>(buildAttention(nh, nkv, d, hostTarget()));
    q = randomF32({d, nh, T}, 2);
    const int copies = copiesFor(2.0 * C * nkv * d * 4);
    for (int c = 0; c < copies; ++c) {
      const int tiles = (C + kCacheTileRows - 1) / kCacheTileRows;
      k.push_back(randomF32({kCacheTileRows, d, nkv, tiles}, 400 + c));
      v.push_back(randomF32({d, kCacheTileRows, nkv, tiles}, 500 + c));
    }
    o = Buffer<float>(d, nh, T);
    run->buffer("q", q.raw_buffer())
        .buffer("k_cache", k[0].raw_buffer())
        .buffer("v_cache", v[0].raw_buffer())
        .scalar("pos", pos)
        .output(o.raw_buffer());
    run->prepare();
  }
};

void BM_AttentionPrefill(benchmark::State &state) {
  const std::array<int64_t, 5> a{state.range(0), state.range(1), state.range(2),
                                 state.range(3), state.range(4)};
  AttentionPrefillSetup &s = cached<AttentionPrefillSetup>(a);
  size_t i = 0;
  double sec = timedLoop(state, [&] {
    size_t c = i++ % s.k.size();
    s.run->rebind("k_cache", s.k[c].raw_buffer());
    s.run->rebind("v_cache", s.v[c].raw_buffer());
    benchmark::DoNotOptimize(s.run->run());
  });
  const double nh = double(a[0]), nkv = double(a[1]), d = double(a[2]),
               pos = double(a[3]), T = double(a[4]);
  // Query t sees pos + t + 1 keys: the causal triangle (plus the pos-wide
  // rectangle before it), 4 FLOPs per query head, key and dimension (QK^T
  // and PV). Bytes: the K and V rows once, as for decode; prefill is judged
  // by GFLOP/s.
  const double keys = T * pos + T * (T + 1) / 2;
  reportRates(state, 2 * (pos + T) * nkv * d * 4, 4 * nh * keys * d, sec);
}
// A 512-token prompt from an empty cache, and one chunk of a long prompt
// (the last 512 of 4096 positions).
BENCHMARK(BM_AttentionPrefill)
    ->ArgNames({"heads", "kv", "d", "pos", "T"})
    ->Args({32, 8, 64, 0, 512})
    ->Args({32, 8, 64, 3584, 512})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

} // namespace
} // namespace lfm2c::bench

int main(int argc, char **argv) { return lfm2c::bench::benchMain(argc, argv); }
