//===- bench_quant_kernels.cpp - Quantized kernels at LFM2-8B-A1B shapes -===//
//
// Google Benchmark program (not a test), the quantized counterpart of
// bench_kernels.cpp: the activation quantizer, the quantized projection
// and the quantized MoE expert FFN, JIT-compiled for the host, on random
// quants and scales. Built only once lfm2c_kernels compiles a
// codegen/Quant*.cpp (see CMakeLists.txt).
//
// Bytes are those of the packed weights as the kernels read them: the
// quants (1 byte per value for Q8_0, half a byte for Q4_0) plus one f32
// scale per 32 values; Q6_K 212 bytes per 256 values. Inputs are bound by name (xq, xd, wq, wd, ...), as
// documented in codegen/Kernel.h; a missing name stops the program with a
// message naming the kernel and argument.
//
//===----------------------------------------------------------------------===//
#include "bench/BenchCommon.h"

#include <array>
#include <memory>
#include <numeric>

using Halide::Buffer;

namespace lfm2c::bench {
namespace {

// Bytes of one packed row of `k` values: quants plus f32 block scales
// (Q6_K: 208 bytes of 6-bit quants and int8 sub-block scales, one f32 per
// 256 values).
double rowBytes(QuantFormat f, double k) {
  switch (f) {
  case QuantFormat::Q8_0:
    return k + k / 32 * 4;
  case QuantFormat::Q4_0:
    return k / 2 + k / 32 * 4;
  case QuantFormat::Q6_K:
    return k / 256 * 212;
  }
  return 0;
}

// Packed quants [rows..., k] (innermost first: k, k/2 or k/256*208 bytes).
struct QuantTensor {
  Buffer<int8_t> q8;
  Buffer<uint8_t> q4;
  Buffer<float> d;
  QuantTensor(QuantFormat f, int k, std::vector<int> outer, uint32_t seed) {
    const bool q6 = f == QuantFormat::Q6_K;
    std::vector<int> qs{f == QuantFormat::Q8_0 ? k
                        : q6                   ? k / 256 * 208
                                               : k / 2};
    std::vector<int> ds{q6 ? k / 256 : k / 32};
    qs.insert(qs.end(), outer.begin(), outer.end());
    ds.insert(ds.end(), outer.begin(), outer.end());
    if (f == QuantFormat::Q8_0) {
      q8 = randomI8(qs, seed);
    } else {
      q4 = randomU8(qs, seed);
    }
    d = randomF32(ds, seed + 1, 0.001f);
  }
  halide_buffer_t *quants() {
    return q8.defined() ? q8.raw_buffer() : q4.raw_buffer();
  }
  halide_buffer_t *scales() { return d.raw_buffer(); }
};

template <typename Setup, typename Key> Setup &cached(const Key &key) {
  static std::unique_ptr<Setup> setup;
  static Key last;
  if (!setup || !(last == key)) {
    setup.reset();
    setup = std::make_unique<Setup>(key);
    last = key;
  }
  return *setup;
}

//--- Activation quantizer: x [T, K] f32 -> q [T, K] i8, d [T, K/32] -------
struct QuantizeSetup {
  std::unique_ptr<Runner> run;
  Buffer<float> x, d;
  Buffer<int8_t> q;
  explicit QuantizeSetup(const std::array<int64_t, 2> &a) {
    const int K = int(a[0]), T = int(a[1]);
    run = std::make_unique<Runner>(buildQuantizeQ8_0(K, hostTarget()));
    x = randomF32({K, T}, 1);
    q = Buffer<int8_t>(K, T);
    d = Buffer<float>(K / 32, T);
    run->buffer("x", x.raw_buffer()).output(q.raw_buffer()).output(
        d.raw_buffer());
    run->prepare();
  }
};

void BM_QuantizeQ8_0(benchmark::State &state) {
  const std::array<int64_t, 2> a{state.range(0), state.range(1)};
  QuantizeSetup &s = cached<QuantizeSetup>(a);
  double sec = timedLoop(state, [&] { benchmark::DoNotOptimize(s.run->run()); });
  const double K = double(a[0]), T = double(a[1]);
  // Reads the f32 activations; ~3 FLOPs per value (abs-max, scale, round).
  reportRates(state, T * K * 4, 3 * T * K, sec);
}
BENCHMARK(BM_QuantizeQ8_0)
    ->ArgNames({"K", "T"})
    ->Args({2048, 1})
    ->Args({2048, 512})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

//--- Q8_K activation quantizer (for Q6_K weights) ------------------------
struct QuantizeQ8KSetup {
  std::unique_ptr<Runner> run;
  Buffer<float> x, d;
  Buffer<int8_t> q;
  explicit QuantizeQ8KSetup(const std::array<int64_t, 2> &a) {
    const int K = int(a[0]), T = int(a[1]);
    run = std::make_unique<Runner>(buildQuantizeQ8_K(K, hostTarget()));
    x = randomF32({K, T}, 1);
    q = Buffer<int8_t>(K, T);
    d = Buffer<float>(K / 256, T);
    run->buffer("x", x.raw_buffer()).output(q.raw_buffer()).output(
        d.raw_buffer());
    run->prepare();
  }
};

void BM_QuantizeQ8_K(benchmark::State &state) {
  const std::array<int64_t, 2> a{state.range(0), state.range(1)};
  QuantizeQ8KSetup &s = cached<QuantizeQ8KSetup>(a);
  double sec = timedLoop(state, [&] { benchmark::DoNotOptimize(s.run->run()); });
  const double K = double(a[0]), T = double(a[1]);
  reportRates(state, T * K * 4, 3 * T * K, sec);
}
BENCHMARK(BM_QuantizeQ8_K)
    ->ArgNames({"K", "T"})
    ->Args({2048, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

//--- Quantized linear: xq, xd, wq, wd -> y [T, N] -------------------------
struct LinearQuantSetup {
  std::unique_ptr<Runner> run;
  std::vector<std::unique_ptr<QuantTensor>> w;
  Buffer<int8_t> xq;
  Buffer<float> xd, y;
  explicit LinearQuantSetup(const std::array<int64_t, 5> &a) {
    const auto f = static_cast<QuantFormat>(a[0]);
    const int K = int(a[1]), N = int(a[2]), T = int(a[3]);
    run = std::make_unique<Runner>(
        a[4] ? buildLinearQuantPrefill(f, K, N, hostTarget())
             : buildLinearQuant(f, K, N, hostTarget()));
    const int copies = copiesFor(rowBytes(f, K) * N);
    for (int c = 0; c < copies; ++c) {
      w.push_back(std::make_unique<QuantTensor>(f, K, std::vector<int>{N},
                                                100 + 2 * c));
    }
    xq = randomI8({K, T}, 1);
    xd = randomF32({f == QuantFormat::Q6_K ? K / 256 : K / 32, T}, 2, 0.01f);
    y = Buffer<float>(N, T);
    run->buffer("xq", xq.raw_buffer())
        .buffer("xd", xd.raw_buffer())
        .buffer("wq", w[0]->quants())
        .buffer("wd", w[0]->scales())
        .output(y.raw_buffer());
    run->prepare();
  }
};

void linearQuant(benchmark::State &state, QuantFormat f, bool prefill) {
  const std::array<int64_t, 5> a{int64_t(f), state.range(0), state.range(1),
                                 state.range(2), prefill};
  LinearQuantSetup &s = cached<LinearQuantSetup>(a);
  size_t i = 0;
  double sec = timedLoop(state, [&] {
    QuantTensor &w = *s.w[i++ % s.w.size()];
    s.run->rebind("wq", w.quants());
    s.run->rebind("wd", w.scales());
    benchmark::DoNotOptimize(s.run->run());
  });
  const double K = double(a[1]), N = double(a[2]), T = double(a[3]);
  reportRates(state, rowBytes(f, K) * N, 2 * T * N * K, sec);
}
void BM_LinearQuant(benchmark::State &state, QuantFormat f) {
  linearQuant(state, f, false);
}
// The kernel programs call for batches of kPrefillMinTokens or more.
void BM_LinearQuantPrefill(benchmark::State &state, QuantFormat f) {
  linearQuant(state, f, true);
}
void linearShapes(benchmark::internal::Benchmark *b) {
  b->ArgNames({"K", "N", "T"})
      ->Args({2048, 6144, 1})
      ->Args({2048, 2048, 1})
      ->Args({2048, 6144, 512})
      ->Args({2048, 2048, 512});
}
BENCHMARK_CAPTURE(BM_LinearQuant, q8_0, QuantFormat::Q8_0)
    ->Apply(linearShapes)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_LinearQuant, q4_0, QuantFormat::Q4_0)
    ->Apply(linearShapes)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
void prefillShapes(benchmark::internal::Benchmark *b) {
  b->ArgNames({"K", "N", "T"})->Args({2048, 6144, 512})->Args({2048, 2048, 512});
}
BENCHMARK_CAPTURE(BM_LinearQuantPrefill, q8_0, QuantFormat::Q8_0)
    ->Apply(prefillShapes)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_LinearQuantPrefill, q4_0, QuantFormat::Q4_0)
    ->Apply(prefillShapes)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
// The tied LM head of LFM2-8B-A1B's Q4_0 file (65536 x 2048, Q6_K), decode.
BENCHMARK_CAPTURE(BM_LinearQuant, q6_k, QuantFormat::Q6_K)
    ->ArgNames({"K", "N", "T"})
    ->Args({2048, 65536, 1})
    ->Args({2048, 6144, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

//--- Quantized MoE expert FFN: H=2048, F=1792, E=32, top-4 ----------------
struct MoEQuantSetup {
  std::unique_ptr<Runner> run;
  std::unique_ptr<QuantTensor> gate, up, down;
  Buffer<int8_t> xq;
  Buffer<float> xd, wts, y;
  std::vector<Buffer<int32_t>> idx;
  explicit MoEQuantSetup(const std::array<int64_t, 6> &a) {
    const auto f = static_cast<QuantFormat>(a[0]);
    const int H = int(a[1]), F = int(a[2]), E = int(a[3]), K = int(a[4]),
              T = int(a[5]);
    run = std::make_unique<Runner>(
        buildMoEFFNQuant(f, H, F, E, K, hostTarget()));
    gate = std::make_unique<QuantTensor>(f, H, std::vector<int>{F, E}, 10);
    up = std::make_unique<QuantTensor>(f, H, std::vector<int>{F, E}, 20);
    down = std::make_unique<QuantTensor>(f, F, std::vector<int>{H, E}, 30);
    xq = randomI8({H, T}, 1);
    xd = randomF32({H / 32, T}, 2, 0.01f);
    wts = Buffer<float>(K, T);
    wts.fill(1.0f / K);
    idx = randomExpertChoices(E, K, T, 8);
    y = Buffer<float>(H, T);
    run->buffer("xq", xq.raw_buffer())
        .buffer("xd", xd.raw_buffer())
        .buffer("weights", wts.raw_buffer())
        .buffer("indices", idx[0].raw_buffer())
        .buffer("gate_q", gate->quants())
        .buffer("gate_d", gate->scales())
        .buffer("up_q", up->quants())
        .buffer("up_d", up->scales())
        .buffer("down_q", down->quants())
        .buffer("down_d", down->scales())
        .output(y.raw_buffer());
    run->prepare();
  }
};

void BM_MoEFFNQuant(benchmark::State &state, QuantFormat f) {
  const std::array<int64_t, 6> a{int64_t(f),     state.range(0),
                                 state.range(1), state.range(2),
                                 state.range(3), state.range(4)};
  MoEQuantSetup &s = cached<MoEQuantSetup>(a);
  size_t i = 0;
  double sec = timedLoop(state, [&] {
    s.run->rebind("indices", s.idx[i++ % s.idx.size()].raw_buffer());
    benchmark::DoNotOptimize(s.run->run());
  });
  const double H = double(a[1]), F = double(a[2]), K = double(a[4]),
               T = double(a[5]);
  const double experts = std::min(T * K, double(a[3]));
  const double perExpert = 2 * F * rowBytes(f, H) + H * rowBytes(f, F);
  reportRates(state, experts * perExpert, 2 * 3 * F * H * K * T, sec);
}
BENCHMARK_CAPTURE(BM_MoEFFNQuant, q8_0, QuantFormat::Q8_0)
    ->ArgNames({"H", "F", "E", "K", "T"})
    ->Args({2048, 1792, 32, 4, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_MoEFFNQuant, q4_0, QuantFormat::Q4_0)
    ->ArgNames({"H", "F", "E", "K", "T"})
    ->Args({2048, 1792, 32, 4, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

} // namespace
} // namespace lfm2c::bench

int main(int argc, char **argv) { return lfm2c::bench::benchMain(argc, argv); }
