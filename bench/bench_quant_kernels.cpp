//===- bench_quant_kernels.cpp - Quantized kernels at LFM2-8B-A1B shapes -===//
//
// Google Benchmark program (not a test), the quantized counterpart of
// bench_kernels.cpp: the activation quantizer, the quantized projection
// and the quantized MoE expert FFN, JIT-compiled for the host, on random
// quants and scales. Built only once lfm2c_kernels compiles a
// codegen/Quant*.cpp (see CMakeLists.txt).
//
// Bytes are those of the packed weights as the kernels read them: the
// quants (1 byte per value for Q8_0, half a byte for Q4_0) plus one fp16
// scale per 32 values; Q6_K 212 bytes per 256 values. Inputs are bound by name
// (xq, xd, wq, wd, ...), as documented in codegen/Kernel.h; a missing name
// stops the program with a message naming the kernel and argument.
//
//===----------------------------------------------------------------------===//
#include "bench/BenchCommon.h"
#include "codegen/KernelRequest.h"
#include "codegen/QuantMath.h"
#include "runtime/ExpertGroups.h"

#include <algorithm>
#include <array>
#include <memory>
#include <numeric>

using Halide::Buffer;

namespace lfm2c::bench {
namespace {

// Bytes of one packed row of `k` values: quants plus fp16 block scales
// (Q6_K: 208 bytes of 6-bit quants and int8 sub-block scales, one f32 per
// 256 values).
double rowBytes(QuantFormat f, double k) {
  switch (f) {
  case QuantFormat::Q8_0:
    return k + k / 32 * 2;
  case QuantFormat::Q4_0:
    return k / 2 + k / 32 * 2;
  case QuantFormat::Q6_K:
    return k / 256 * 212;
  }
  return 0;
}

// Packed quants [rows..., k] (innermost first: k, k/2 or k/256*208 bytes).
// interleave: rows interleaved in groups of that many, [..., rows /
// interleave, interleave * (k/2, k or k/256*208)] (codegen/QuantLayout.h;
// the values are random either way).
struct QuantTensor {
  Buffer<int8_t> q8;
  Buffer<uint8_t> q4;
  Buffer<float> d;               // Q6_K
  Buffer<Halide::float16_t> d16; // Q8_0, Q4_0
  QuantTensor(QuantFormat f, int k, std::vector<int> outer, uint32_t seed,
              int interleave = 0) {
    const bool q6 = f == QuantFormat::Q6_K;
    const int il = std::max(interleave, 1);
    outer[0] /= il;
    std::vector<int> qs{f == QuantFormat::Q8_0 ? k * il
                        : q6                   ? k / 256 * 208 * il
                                               : k / 2 * il};
    std::vector<int> ds{q6 ? k / 256 * il : k / 32 * il};
    qs.insert(qs.end(), outer.begin(), outer.end());
    ds.insert(ds.end(), outer.begin(), outer.end());
    if (f == QuantFormat::Q8_0) {
      q8 = randomI8(qs, seed);
    } else {
      q4 = randomU8(qs, seed);
    }
    d = randomF32(ds, seed + 1, 0.001f);
    if (!q6) {
      d16 = Buffer<Halide::float16_t>(ds);
      d16.for_each_value(
          [](Halide::float16_t &h, float f) { h = Halide::float16_t(f); }, d);
      d = Buffer<float>();
    }
  }
  halide_buffer_t *quants() {
    return q8.defined() ? q8.raw_buffer() : q4.raw_buffer();
  }
  halide_buffer_t *scales() {
    return d.defined() ? d.raw_buffer() : d16.raw_buffer();
  }
  // Scale s of the flattened scales.
  const void *scaleAt(size_t s) const {
    return d.defined() ? static_cast<const void *>(d.data() + s)
                       : d16.data() + s;
  }
};

// Stands for the host target's row interleave of the format (8 rows on
// AVX2, 16 on AVX-512): the layout the programs compiled for this machine
// use.
constexpr int kHostRows = -1;

// The interleave a benchmark runs: `il`, or the host's for kHostRows; -1 if
// the host's programs do not interleave this format (the benchmark is
// skipped).
int rowsFor(benchmark::State &state, QuantFormat f, int il) {
  if (il != kHostRows) {
    return il;
  }
  const int rows = rowInterleave(QuantSchedule::forTarget(hostTarget()), f);
  if (rows == 0) {
    state.SkipWithError("the host's programs do not interleave this format");
    return -1;
  }
  state.SetLabel(std::to_string(rows) + " rows");
  return rows;
}

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

//--- Activation quantizers: x [T, K] f32 -> q [T, K] i8, d [T, K/Block] --
// Q8_0 (blocks of 32, for Q8_0/Q4_0 weights) and Q8_K (blocks of 256, for
// Q6_K weights).
template <int Block> struct QuantizeSetup {
  std::unique_ptr<Runner> run;
  Buffer<float> x, d;
  Buffer<int8_t> q;
  explicit QuantizeSetup(const std::array<int64_t, 2> &a) {
    const int K = int(a[0]), T = int(a[1]);
    run = std::make_unique<Runner>(Block == 32
                                       ? buildQuantizeQ8_0(K, hostTarget())
                                       : buildQuantizeQ8_K(K, hostTarget()));
    x = randomF32({K, T}, 1);
    q = Buffer<int8_t>(K, T);
    d = Buffer<float>(K / Block, T);
    run->buffer("x", x.raw_buffer())
        .output(q.raw_buffer())
        .output(d.raw_buffer());
    run->prepare();
  }
};

template <int Block> void runQuantize(benchmark::State &state) {
  const std::array<int64_t, 2> a{state.range(0), state.range(1)};
  QuantizeSetup<Block> &s = cached<QuantizeSetup<Block>>(a);
  double sec =
      timedLoop(state, [&] { benchmark::DoNotOptimize(s.run->run()); });
  const double K = double(a[0]), T = double(a[1]);
  // Reads the f32 activations; ~3 FLOPs per value (abs-max, scale, round).
  reportRates(state, T * K * 4, 3 * T * K, sec);
}

void BM_QuantizeQ8_0(benchmark::State &state) { runQuantize<32>(state); }
BENCHMARK(BM_QuantizeQ8_0)
    ->ArgNames({"K", "T"})
    ->Args({2048, 1})
    ->Args({2048, 512})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

void BM_QuantizeQ8_K(benchmark::State &state) { runQuantize<256>(state); }
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
  explicit LinearQuantSetup(const std::array<int64_t, 6> &a) {
    const auto f = static_cast<QuantFormat>(a[0]);
    const int K = int(a[1]), N = int(a[2]), T = int(a[3]), il = int(a[5]);
    run = std::make_unique<Runner>(
        a[4] ? buildLinearQuantPrefill(f, K, N, hostTarget(), il)
             : buildLinearQuant(f, K, N, hostTarget(), il));
    const int copies = copiesFor(rowBytes(f, K) * N);
    for (int c = 0; c < copies; ++c) {
      w.push_back(std::make_unique<QuantTensor>(f, K, std::vector<int>{N},
                                                100 + 2 * c, il));
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

void linearQuant(benchmark::State &state, QuantFormat f, bool prefill,
                 int interleave = 0) {
  interleave = rowsFor(state, f, interleave);
  if (interleave < 0) {
    return;
  }
  const std::array<int64_t, 6> a{int64_t(f),     state.range(0), state.range(1),
                                 state.range(2), prefill,        interleave};
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
void BM_LinearQuant(benchmark::State &state, QuantFormat f,
                    int interleave = 0) {
  linearQuant(state, f, false, interleave);
}
// The kernel programs call for batches of kPrefillMinTokens or more.
void BM_LinearQuantPrefill(benchmark::State &state, QuantFormat f,
                           int interleave = 0) {
  linearQuant(state, f, true, interleave);
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
// Also an 8B-A1B expert's gate (or up) and down GEMMs at the 64 tokens an
// expert gets on average from pp512 (512 tokens x 4 slots / 32 experts).
void prefillShapes(benchmark::internal::Benchmark *b) {
  b->ArgNames({"K", "N", "T"})
      ->Args({2048, 6144, 512})
      ->Args({2048, 2048, 512})
      ->Args({2048, 1792, 64})
      ->Args({1792, 2048, 64});
}
BENCHMARK_CAPTURE(BM_LinearQuantPrefill, q8_0, QuantFormat::Q8_0)
    ->Apply(prefillShapes)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_LinearQuantPrefill, q4_0, QuantFormat::Q4_0)
    ->Apply(prefillShapes)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
// The expert GEMMs on row-interleaved stacks, as the host's programs run
// them (8 rows on AVX2, 16 on AVX-512); also a 4-token batch.
void expertShapes(benchmark::internal::Benchmark *b) {
  b->ArgNames({"K", "N", "T"})
      ->Args({2048, 1792, 64})
      ->Args({1792, 2048, 64})
      ->Args({2048, 1792, 4})
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}
BENCHMARK_CAPTURE(BM_LinearQuantPrefill, q4_0_rows, QuantFormat::Q4_0,
                  kHostRows)
    ->Apply(expertShapes);
BENCHMARK_CAPTURE(BM_LinearQuantPrefill, q8_0_rows, QuantFormat::Q8_0,
                  kHostRows)
    ->Apply(expertShapes);
// The decode GEMV on row-interleaved weights, as the host's programs run
// their Q4_0 (and, on AVX-512, Q8_0) linear ops.
BENCHMARK_CAPTURE(BM_LinearQuant, q4_0_rows, QuantFormat::Q4_0, kHostRows)
    ->ArgNames({"K", "N", "T"})
    ->Args({2048, 6144, 1})
    ->Args({2048, 2048, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_LinearQuant, q8_0_rows, QuantFormat::Q8_0, kHostRows)
    ->ArgNames({"K", "N", "T"})
    ->Args({2048, 6144, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
// The tied LM head of LFM2-8B-A1B's Q4_0 file (65536 x 2048, Q6_K), decode.
BENCHMARK_CAPTURE(BM_LinearQuant, q6_k, QuantFormat::Q6_K)
    ->ArgNames({"K", "N", "T"})
    ->Args({2048, 65536, 1})
    ->Args({2048, 6144, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
// The same head row-interleaved, as AVX-512 VNNI programs store it.
BENCHMARK_CAPTURE(BM_LinearQuant, q6_k_rows, QuantFormat::Q6_K, kHostRows)
    ->ArgNames({"K", "N", "T"})
    ->Args({2048, 65536, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

//--- Quantized MoE expert FFN: H=2048, F=1792, E=32, top-4 ----------------
struct MoEQuantSetup {
  std::unique_ptr<Runner> run;
  // Copies of the layer's expert stacks (gate, up, down), rotated so that
  // successive calls read memory, not the L3, as successive layers do.
  std::vector<std::array<std::unique_ptr<QuantTensor>, 3>> stacks;
  Buffer<int8_t> xq;
  Buffer<float> xd, wts, y;
  std::vector<Buffer<int32_t>> idx;
  explicit MoEQuantSetup(const std::array<int64_t, 7> &a) {
    const auto f = static_cast<QuantFormat>(a[0]);
    const int H = int(a[1]), F = int(a[2]), E = int(a[3]), K = int(a[4]),
              T = int(a[5]), il = int(a[6]);
    run = std::make_unique<Runner>(
        buildMoEFFNQuant(f, H, F, E, K, hostTarget(), il));
    const int copies =
        copiesFor(double(E) * (2 * F * rowBytes(f, H) + H * rowBytes(f, F)));
    for (int c = 0; c < copies; ++c) {
      const int seed = 10 + 3 * c;
      stacks.push_back({std::make_unique<QuantTensor>(
                            f, H, std::vector<int>{F, E}, seed, il),
                        std::make_unique<QuantTensor>(
                            f, H, std::vector<int>{F, E}, seed + 1, il),
                        std::make_unique<QuantTensor>(
                            f, F, std::vector<int>{H, E}, seed + 2, il)});
    }
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
        .output(y.raw_buffer());
    for (const auto &[name, b] : stackBuffers(0)) {
      run->buffer(name, b);
    }
    run->prepare();
  }
  // Copy c's expert stacks by argument name.
  std::vector<std::pair<const char *, halide_buffer_t *>>
  stackBuffers(size_t c) {
    const auto &[gate, up, down] = stacks[c % stacks.size()];
    return {{"gate_q", gate->quants()}, {"gate_d", gate->scales()},
            {"up_q", up->quants()},     {"up_d", up->scales()},
            {"down_q", down->quants()}, {"down_d", down->scales()}};
  }
  void rebindStacks(size_t c) {
    for (const auto &[name, b] : stackBuffers(c)) {
      run->rebind(name, b);
    }
  }
};

void BM_MoEFFNQuant(benchmark::State &state, QuantFormat f,
                    int interleave = 0) {
  interleave = rowsFor(state, f, interleave);
  if (interleave < 0) {
    return;
  }
  const std::array<int64_t, 7> a{int64_t(f),     state.range(0), state.range(1),
                                 state.range(2), state.range(3), state.range(4),
                                 interleave};
  MoEQuantSetup &s = cached<MoEQuantSetup>(a);
  size_t i = 0;
  double sec = timedLoop(state, [&] {
    s.rebindStacks(i);
    s.run->rebind("indices", s.idx[i++ % s.idx.size()].raw_buffer());
    benchmark::DoNotOptimize(s.run->run());
  });
  const double H = double(a[1]), F = double(a[2]), K = double(a[4]),
               T = double(a[5]);
  const double experts = std::min(T * K, double(a[3]));
  const double perExpert = 2 * F * rowBytes(f, H) + H * rowBytes(f, F);
  reportRates(state, experts * perExpert, 2 * 3 * F * H * K * T, sec);
}
// T=512: prefill through the decode kernel, one GEMV per (token, slot); the
// baseline of BM_MoEGroupedQuant.
BENCHMARK_CAPTURE(BM_MoEFFNQuant, q8_0, QuantFormat::Q8_0)
    ->ArgNames({"H", "F", "E", "K", "T"})
    ->Args({2048, 1792, 32, 4, 1})
    ->Args({2048, 1792, 32, 4, 512})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_MoEFFNQuant, q4_0, QuantFormat::Q4_0)
    ->ArgNames({"H", "F", "E", "K", "T"})
    ->Args({2048, 1792, 32, 4, 1})
    ->Args({2048, 1792, 32, 4, 512})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
// Row-interleaved stacks (the host's programs' decode kernel); also the
// 24B-A2B shape (64 experts of 1536).
BENCHMARK_CAPTURE(BM_MoEFFNQuant, q8_0_rows, QuantFormat::Q8_0, kHostRows)
    ->ArgNames({"H", "F", "E", "K", "T"})
    ->Args({2048, 1792, 32, 4, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_MoEFFNQuant, q4_0_rows, QuantFormat::Q4_0, kHostRows)
    ->ArgNames({"H", "F", "E", "K", "T"})
    ->Args({2048, 1792, 32, 4, 1})
    ->Args({2048, 1536, 64, 4, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

//--- MoE prefill grouped by expert, as the generated program runs it ------
// Per call: the routing grouped by expert (runtime/ExpertGroups.h), the
// routed rows gathered, per expert with tokens (views of the gathered rows
// and of the expert's slabs) the fused buildMoEExpertQuant kernel below
// kPrefillMinTokens tokens, else the prefill GEMMs for gate and up, the
// SwiGLU, its Q8_0 quantization and the down GEMM; then buildMoECombine.
// Same operands, routings and counters as BM_MoEFFNQuant.

// A row-major [outer, inner] view whose pointer and outer extent change
// between calls, as the program's HBuf.
struct View2D {
  halide_buffer_t buf{};
  halide_dimension_t dims[2]{};
  View2D(halide_type_t type, int inner) {
    buf.type = type;
    buf.dimensions = 2;
    buf.dim = dims;
    dims[0] = {0, inner, 1, 0};
    dims[1] = {0, 0, inner, 0};
  }
  void set(const void *host, int outer) {
    buf.host = static_cast<uint8_t *>(const_cast<void *>(host));
    dims[1].extent = outer;
  }
};

struct MoEGroupedSetup {
  std::unique_ptr<Runner> expert, combine;
  // The 16+ token path: gate and up GEMMs, SwiGLU, quantizer, down GEMM.
  std::unique_ptr<Runner> gateGemm, upGemm, swiglu, quantize, downGemm;
  Buffer<float> g, u, act, ad;
  Buffer<int8_t> aq;
  std::unique_ptr<QuantTensor> gate, up, down;
  Buffer<int8_t> xq, gxq;
  Buffer<float> xd, gxd, wts, rows, y;
  std::vector<Buffer<int32_t>> idx;
  std::vector<int32_t> offsets, pairs;
  Buffer<int32_t> rowOf;
  // Expert-kernel arguments, re-pointed per expert; then the views of the
  // 16+ token path's scratch (g, u, act, aq, ad), re-sized per expert.
  std::vector<std::unique_ptr<View2D>> views;
  int H, F, E, K, T, hBytes, fBytes;
  explicit MoEGroupedSetup(const std::array<int64_t, 6> &a) {
    const auto f = static_cast<QuantFormat>(a[0]);
    H = int(a[1]), F = int(a[2]), E = int(a[3]), K = int(a[4]), T = int(a[5]);
    hBytes = f == QuantFormat::Q8_0 ? H : H / 2;
    fBytes = f == QuantFormat::Q8_0 ? F : F / 2;
    expert =
        std::make_unique<Runner>(buildMoEExpertQuant(f, H, F, hostTarget()));
    combine = std::make_unique<Runner>(buildMoECombine(H, K, hostTarget()));
    gate = std::make_unique<QuantTensor>(f, H, std::vector<int>{F, E}, 10);
    up = std::make_unique<QuantTensor>(f, H, std::vector<int>{F, E}, 20);
    down = std::make_unique<QuantTensor>(f, F, std::vector<int>{H, E}, 30);
    xq = randomI8({H, T}, 1);
    xd = randomF32({H / 32, T}, 2, 0.01f);
    wts = Buffer<float>(K, T);
    wts.fill(1.0f / K);
    idx = randomExpertChoices(E, K, T, 8);
    gxq = Buffer<int8_t>(H, T * K);
    gxd = Buffer<float>(H / 32, T * K);
    rows = Buffer<float>(H, T * K);
    y = Buffer<float>(H, T);
    offsets.resize(size_t(E) + 1);
    pairs.resize(size_t(T) * K);
    rowOf = Buffer<int32_t>(K, T);
    const halide_type_t wt = gate->quants()->type;
    const halide_type_t f32 = halide_type_of<float>();
    const halide_type_t wdt = gate->scales()->type;
    for (auto [type, inner] : std::vector<std::pair<halide_type_t, int>>{
             {halide_type_of<int8_t>(), H},
             {f32, H / 32},
             {wt, hBytes},
             {wdt, H / 32},
             {wt, hBytes},
             {wdt, H / 32},
             {wt, fBytes},
             {wdt, F / 32},
             {f32, H}}) {
      views.push_back(std::make_unique<View2D>(type, inner));
    }
    for (auto [type, inner] : std::vector<std::pair<halide_type_t, int>>{
             {f32, F},
             {f32, F},
             {f32, F},
             {halide_type_of<int8_t>(), F},
             {f32, F / 32}}) {
      views.push_back(std::make_unique<View2D>(type, inner));
    }
    g = Buffer<float>(F, T * K);
    u = Buffer<float>(F, T * K);
    act = Buffer<float>(F, T * K);
    aq = Buffer<int8_t>(F, T * K);
    ad = Buffer<float>(F / 32, T * K);
    const char *names[] = {"xq",   "xd",   "gate_q", "gate_d",
                           "up_q", "up_d", "down_q", "down_d"};
    for (int i = 0; i < 8; ++i) {
      expert->buffer(names[i], &views[size_t(i)]->buf);
    }
    expert->output(&views[8]->buf);
    auto v = [&](int i) { return &views[size_t(i)]->buf; };
    auto gemm = [&](int k, int n, int w, int d, int x, int xd, int out) {
      auto r = std::make_unique<Runner>(
          buildLinearQuantPrefill(f, k, n, hostTarget()));
      r->buffer("xq", v(x))
          .buffer("xd", v(xd))
          .buffer("wq", v(w))
          .buffer("wd", v(d))
          .output(v(out));
      return r;
    };
    gateGemm = gemm(H, F, 2, 3, 0, 1, 9);
    upGemm = gemm(H, F, 4, 5, 0, 1, 10);
    swiglu = std::make_unique<Runner>(buildSwiGLU(F, hostTarget()));
    swiglu->buffer("gate", v(9)).buffer("up", v(10)).output(v(11));
    quantize = std::make_unique<Runner>(buildQuantizeQ8_0(F, hostTarget()));
    quantize->buffer("x", v(11)).output(v(12)).output(v(13));
    downGemm = gemm(F, H, 6, 7, 12, 13, 8);
    gxq.fill(0);
    gxd.fill(0.01f);
    rowOf.fill(0);
    point(0, 0, 1);
    expert->prepare();
    for (Runner *r : {gateGemm.get(), upGemm.get(), swiglu.get(),
                      quantize.get(), downGemm.get()}) {
      r->prepare();
    }
    combine->buffer("rows", rows.raw_buffer())
        .buffer("row_of", rowOf.raw_buffer())
        .buffer("weights", wts.raw_buffer())
        .output(y.raw_buffer());
    combine->prepare();
  }
  // The expert kernel's views at expert e and grouped rows [first, +n).
  void point(int e, int first, int n) {
    const size_t fh = size_t(F) * (H / 32), hf = size_t(H) * (F / 32);
    auto q = [](QuantTensor &w) {
      return static_cast<const uint8_t *>(w.quants()->host);
    };
    views[0]->set(gxq.data() + size_t(first) * H, n);
    views[1]->set(gxd.data() + size_t(first) * (H / 32), n);
    views[2]->set(q(*gate) + size_t(e) * F * hBytes, F);
    views[3]->set(gate->scaleAt(e * fh), F);
    views[4]->set(q(*up) + size_t(e) * F * hBytes, F);
    views[5]->set(up->scaleAt(e * fh), F);
    views[6]->set(q(*down) + size_t(e) * H * fBytes, H);
    views[7]->set(down->scaleAt(e * hf), H);
    views[8]->set(rows.data() + size_t(first) * H, n);
    views[9]->set(g.data(), n);
    views[10]->set(u.data(), n);
    views[11]->set(act.data(), n);
    views[12]->set(aq.data(), n);
    views[13]->set(ad.data(), n);
  }
  void run(const Buffer<int32_t> &choice) {
    Status st = rt::groupByExpert(choice.data(), T, K, E, offsets.data(),
                                  pairs.data(), rowOf.data());
    if (!st) {
      std::fprintf(stderr, "error: %s\n", st.message().c_str());
      std::exit(1);
    }
    rt::gatherPairRows(xq.data(), H, pairs.data(), T * K, K, gxq.data());
    rt::gatherPairRows(xd.data(), H / 32 * 4, pairs.data(), T * K, K,
                       gxd.data());
    for (int e = 0; e < E; ++e) {
      const int first = offsets[size_t(e)];
      const int n = offsets[size_t(e) + 1] - first;
      if (n == 0) {
        continue;
      }
      point(e, first, n);
      std::vector<const Runner *> chain = {expert.get()};
      if (n >= kPrefillMinTokens) {
        chain = {gateGemm.get(), upGemm.get(), swiglu.get(), quantize.get(),
                 downGemm.get()};
      }
      for (const Runner *r : chain) {
        if (int err = r->run()) {
          std::fprintf(stderr, "error: %s failed with %d\n", r->name().c_str(),
                       err);
          std::exit(1);
        }
      }
    }
    if (int err = combine->run()) {
      std::fprintf(stderr, "error: %s failed with %d\n",
                   combine->name().c_str(), err);
      std::exit(1);
    }
  }
};

void BM_MoEGroupedQuant(benchmark::State &state, QuantFormat f) {
  const std::array<int64_t, 6> a{int64_t(f),     state.range(0),
                                 state.range(1), state.range(2),
                                 state.range(3), state.range(4)};
  MoEGroupedSetup &s = cached<MoEGroupedSetup>(a);
  size_t i = 0;
  double sec = timedLoop(state, [&] { s.run(s.idx[i++ % s.idx.size()]); });
  const double H = double(a[1]), F = double(a[2]), K = double(a[4]),
               T = double(a[5]);
  const double experts = std::min(T * K, double(a[3]));
  const double perExpert = 2 * F * rowBytes(f, H) + H * rowBytes(f, F);
  reportRates(state, experts * perExpert, 2 * 3 * F * H * K * T, sec);
}
BENCHMARK_CAPTURE(BM_MoEGroupedQuant, q8_0, QuantFormat::Q8_0)
    ->ArgNames({"H", "F", "E", "K", "T"})
    ->Args({2048, 1792, 32, 4, 512})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_MoEGroupedQuant, q4_0, QuantFormat::Q4_0)
    ->ArgNames({"H", "F", "E", "K", "T"})
    ->Args({2048, 1792, 32, 4, 512})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

} // namespace
} // namespace lfm2c::bench

int main(int argc, char **argv) { return lfm2c::bench::benchMain(argc, argv); }
