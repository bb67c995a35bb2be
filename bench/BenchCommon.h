//===- BenchCommon.h - What the kernel benchmarks share -----------------===//
//
// The machine's memory read bandwidth (the roofline of a memory-bound
// kernel), a JIT runner that binds a kernel's arguments by name, random
// buffers, and the counters every kernel benchmark reports.
//
//===----------------------------------------------------------------------===//
#ifndef LFM2C_BENCH_BENCHCOMMON_H
#define LFM2C_BENCH_BENCHCOMMON_H

#include "codegen/Kernel.h"

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace lfm2c::bench {

// Sums the 64-bit words of [begin, end) with `threads` threads, each reading
// a contiguous share; returns the sum so the reads cannot be elided.
uint64_t sumWords(const uint64_t *data, size_t words, int threads);

// The buffer read by the bandwidth measurements: 1 GiB, written once (so
// every page is backed), advised onto 2 MiB pages as the compiled programs
// map their weights, so the roofline and the decode read memory alike (for
// this sequential read the page size made no measurable difference on the
// Zen 3 VM: 26.1 vs 25.8 GB/s, means of 4 alternating runs).
struct WordBuffer {
  const uint64_t *data;
  size_t words;
};
const WordBuffer &bandwidthBuffer();

// Advises the 2 MiB pages inside [data, data + bytes) onto huge pages, as
// the programs map their weights (before the buffer is first written).
void adviseHugePages(void *data, size_t bytes);

// Best-of-`passes` read bandwidth over bandwidthBuffer(), in bytes/s.
double measureReadBandwidth(int threads, int passes);

// Measured once in benchMain() before any benchmark runs.
double readBandwidth();

// The host target the kernels are built for (schedule knobs), and the JIT
// target they are compiled to.
const TargetInfo &hostTarget();

// A kernel compiled for the host, called with its inputs bound by name (so
// the benchmarks do not depend on argument order) and outputs in the
// pipeline's order. JIT-compiled, except kernels whose schedule prefetches:
// the JIT would keep Halide's non-temporal prefetches, which the programs'
// objects do not have (KernelObject.cpp).
class Runner {
public:
  explicit Runner(const Kernel &k);
  // Binds input `name` to a buffer or an int32 scalar.
  Runner &buffer(const std::string &name, halide_buffer_t *b);
  Runner &scalar(const std::string &name, int32_t v);
  Runner &output(halide_buffer_t *b);
  // Runs once; aborts with a message naming the kernel on failure (called
  // before the timed loop) or when an argument is left unbound.
  void prepare();
  int run() const;
  // After prepare(): points input `name` at another buffer of the same
  // shape (to rotate through copies larger than the caches).
  void rebind(const std::string &name, halide_buffer_t *b);
  const std::string &name() const { return name_; }

private:
  std::string name_;
  std::vector<Halide::Argument> args_;
  Halide::Callable callable_;
  // Kernels that prefetch run as the programs run them: compiled ahead of
  // time (compileKernelObject) into a shared object, called by its argv
  // entry point (no JIT context).
  int (*aot_)(void **) = nullptr;
  std::map<std::string, halide_buffer_t *> buffers_;
  std::map<std::string, int32_t> scalars_;
  std::vector<halide_buffer_t *> outputs_;
  Halide::JITUserContext context_;
  Halide::JITUserContext *contextPtr_ = &context_;
  std::vector<int32_t> scalarStore_;
  std::vector<const void *> argv_;
};

// Seeded random buffers (innermost-first sizes, as Halide::Buffer takes):
// uniform values of standard deviation `sigma`, from a fast generator (the
// MoE experts are 1.4 GB).
Halide::Buffer<float> randomF32(std::vector<int> sizes, uint32_t seed,
                                float sigma = 1.0f);
Halide::Buffer<int8_t> randomI8(std::vector<int> sizes, uint32_t seed);
// `count` routing choices of K distinct experts out of E for T tokens
// (buffers (K, T)); rotating through them makes successive calls read other
// experts, as successive layers' routers would.
std::vector<Halide::Buffer<int32_t>> randomExpertChoices(int E, int K, int T,
                                                         int count);
Halide::Buffer<uint8_t> randomU8(std::vector<int> sizes, uint32_t seed);

// How many copies of a `bytes`-sized operand to rotate through so that
// consecutive calls read from memory, not from the last-level cache: at
// least 256 MiB and twice the L3 in all (a 480 MiB L3 has been seen),
// at most 256 copies.
int copiesFor(double bytes);

// Sets bytes_per_second (the bytes a call must read from memory, e.g. the
// weights), and the counters GB/s, GFLOP/s and roofline_fraction (GB/s over
// the measured read bandwidth), from `seconds` of wall time the timed loop
// took (see timedLoop). Benchmarks run with UseRealTime(): Halide's worker
// threads do the work, not the timing thread.
void reportRates(benchmark::State &state, double bytesPerCall,
                 double flopsPerCall, double seconds);

// Runs `body` once per benchmark iteration and returns the loop's wall time.
template <typename F> double timedLoop(benchmark::State &state, F &&body) {
  auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    body();
  }
  auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double>(t1 - t0).count();
}

// Measures the bandwidth, records it and the host target in the
// benchmark's context, and runs the registered benchmarks.
int benchMain(int argc, char **argv);

} // namespace lfm2c::bench

#endif // LFM2C_BENCH_BENCHCOMMON_H
