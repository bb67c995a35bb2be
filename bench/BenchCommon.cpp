//===- BenchCommon.cpp ----------------------------------------------------===//
#include "bench/BenchCommon.h"

#include "codegen/KernelObject.h"
#include "codegen/Subprocess.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <dlfcn.h>
#include <filesystem>
#include <numeric>
#include <thread>

#include <sys/mman.h>
#include <unistd.h>

namespace lfm2c::bench {

namespace {

constexpr size_t kBandwidthBytes = size_t(1) << 30; // 1 GiB
double gReadBandwidth = 0.0;

uint64_t sumRange(const uint64_t *p, size_t n) {
  // Four independent chains so the adds keep up with memory.
  uint64_t a = 0, b = 0, c = 0, d = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    a += p[i];
    b += p[i + 1];
    c += p[i + 2];
    d += p[i + 3];
  }
  for (; i < n; ++i) {
    a += p[i];
  }
  return a + b + c + d;
}

int hardwareThreads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

} // namespace

uint64_t sumWords(const uint64_t *data, size_t words, int threads) {
  if (threads <= 1) {
    return sumRange(data, words);
  }
  std::vector<uint64_t> partial(static_cast<size_t>(threads), 0);
  std::vector<std::thread> pool;
  const size_t share = (words + threads - 1) / threads;
  for (int t = 0; t < threads; ++t) {
    size_t begin = std::min(words, share * t);
    size_t end = std::min(words, begin + share);
    pool.emplace_back([&, t, begin, end] {
      partial[t] = sumRange(data + begin, end - begin);
    });
  }
  for (auto &th : pool) {
    th.join();
  }
  uint64_t s = 0;
  for (uint64_t p : partial) {
    s += p;
  }
  return s;
}

void adviseHugePages(void *data, size_t bytes) {
#ifdef MADV_HUGEPAGE
  constexpr uintptr_t kHuge = uintptr_t(2) << 20;
  const uintptr_t begin =
      (reinterpret_cast<uintptr_t>(data) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t end =
      (reinterpret_cast<uintptr_t>(data) + bytes) & ~(kHuge - 1);
  if (end > begin) {
    madvise(reinterpret_cast<void *>(begin), end - begin, MADV_HUGEPAGE);
  }
#endif
}

const WordBuffer &bandwidthBuffer() {
  static const WordBuffer buf = [] {
    void *p = mmap(nullptr, kBandwidthBytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      std::fprintf(stderr, "bench: cannot map the %zu-byte bandwidth buffer\n",
                   kBandwidthBytes);
      std::exit(1);
    }
#ifdef MADV_HUGEPAGE
    madvise(p, kBandwidthBytes, MADV_HUGEPAGE); // advice: may be refused
#endif
    auto *w = static_cast<uint64_t *>(p);
    const size_t n = kBandwidthBytes / sizeof(uint64_t);
    for (size_t i = 0; i < n; ++i) {
      w[i] = i * 0x9E3779B97F4A7C15ull;
    }
    return WordBuffer{w, n};
  }();
  return buf;
}

double measureReadBandwidth(int threads, int passes) {
  const auto &buf = bandwidthBuffer();
  double best = 0.0;
  uint64_t sink = 0;
  for (int p = 0; p < passes; ++p) {
    auto t0 = std::chrono::steady_clock::now();
    sink += sumWords(buf.data, buf.words, threads);
    auto t1 = std::chrono::steady_clock::now();
    double s = std::chrono::duration<double>(t1 - t0).count();
    best = std::max(best, buf.words * sizeof(uint64_t) / s);
  }
  benchmark::DoNotOptimize(sink);
  return best;
}

double readBandwidth() { return gReadBandwidth; }

int copiesFor(double bytes) {
  // LFM2C_BENCH_IN_CACHE=1 times one copy: what a kernel does when its
  // operands are cached, to tell instruction-bound from bandwidth-bound.
  static const bool inCache = [] {
    const char *v = std::getenv("LFM2C_BENCH_IN_CACHE");
    return v && *v && *v != '0';
  }();
  if (inCache) {
    return 1;
  }
  static const double total = [] {
    long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    return std::max(256.0 * (1 << 20), 2.0 * static_cast<double>(l3));
  }();
  return static_cast<int>(std::clamp(total / bytes + 1, 1.0, 256.0));
}

const TargetInfo &hostTarget() {
  static std::unique_ptr<TargetInfo> target = [] {
    auto t = createTarget("host");
    if (!t) {
      std::fprintf(stderr, "error: %s\n", t.status().message().c_str());
      std::exit(1);
    }
    return std::move(*t);
  }();
  return *target;
}

//===----------------------------------------------------------------------===//

namespace {

// `k` for the host as a shared object of its own (with a Halide runtime,
// its symbols bound inside it) in a temporary folder; its argv entry point.
int (*loadAheadOfTime(Kernel k))(void **) {
  namespace fs = std::filesystem;
  auto fail = [&](const std::string &what) {
    std::fprintf(stderr, "error: %s: %s\n", k.name.c_str(), what.c_str());
    std::exit(1);
  };
  char tmpl[] = "/tmp/lfm2c-bench-XXXXXX";
  if (!mkdtemp(tmpl)) {
    fail("cannot create a temporary folder");
  }
  const std::string dir = tmpl;
  Halide::Target host = Halide::get_host_target();
  const std::string object = dir + "/kernel.o";
  const std::string runtime = dir + "/runtime.o";
  const std::string library = dir + "/kernel.so";
  if (Status st =
          compileKernelObject(k, host.with_feature(Halide::Target::NoRuntime),
                              object, "c++", false, {"-march=native"});
      !st) {
    fail(st.message());
  }
  Halide::compile_standalone_runtime(runtime, host);
  if (Status st = runCommand({"c++", "-shared", "-Wl,-Bsymbolic", object,
                              runtime, "-lpthread", "-o", library});
      !st) {
    fail(st.message());
  }
  void *handle = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  std::error_code ec;
  fs::remove_all(dir, ec); // the mapping stays
  if (!handle) {
    fail(std::string("dlopen: ") + dlerror());
  }
  void *fn = dlsym(handle, (k.name + "_argv").c_str());
  if (!fn) {
    fail("no symbol " + k.name + "_argv");
  }
  return reinterpret_cast<int (*)(void **)>(fn);
}

} // namespace

Runner::Runner(const Kernel &k) : name_(k.name), args_(k.args) {
  if (k.prefetches) {
    aot_ = loadAheadOfTime(k);
    return;
  }
  Halide::Pipeline p = k.pipeline;
  callable_ =
      p.compile_to_callable(args_, Halide::get_jit_target_from_environment());
}

Runner &Runner::buffer(const std::string &name, halide_buffer_t *b) {
  buffers_[name] = b;
  return *this;
}

Runner &Runner::scalar(const std::string &name, int32_t v) {
  scalars_[name] = v;
  return *this;
}

Runner &Runner::output(halide_buffer_t *b) {
  outputs_.push_back(b);
  return *this;
}

void Runner::prepare() {
  argv_.clear();
  scalarStore_.assign(args_.size(), 0);
  argv_.push_back(&contextPtr_);
  for (size_t i = 0; i < args_.size(); ++i) {
    const Halide::Argument &a = args_[i];
    if (a.is_buffer()) {
      auto it = buffers_.find(a.name);
      if (it == buffers_.end()) {
        std::fprintf(stderr, "error: %s: no buffer bound to '%s'\n",
                     name_.c_str(), a.name.c_str());
        std::exit(1);
      }
      argv_.push_back(it->second);
    } else {
      auto it = scalars_.find(a.name);
      if (it == scalars_.end() || a.type != Halide::Int(32)) {
        std::fprintf(stderr, "error: %s: no int32 bound to '%s'\n",
                     name_.c_str(), a.name.c_str());
        std::exit(1);
      }
      scalarStore_[i] = it->second;
      argv_.push_back(&scalarStore_[i]);
    }
  }
  for (halide_buffer_t *b : outputs_) {
    argv_.push_back(b);
  }
  if (int err = run(); err != 0) {
    std::fprintf(stderr, "error: %s failed with Halide error %d\n",
                 name_.c_str(), err);
    std::exit(1);
  }
}

void Runner::rebind(const std::string &name, halide_buffer_t *b) {
  for (size_t i = 0; i < args_.size(); ++i) {
    if (args_[i].name == name) {
      buffers_[name] = b;
      argv_[1 + i] = b;
      return;
    }
  }
  std::fprintf(stderr, "error: %s has no argument '%s'\n", name_.c_str(),
               name.c_str());
  std::exit(1);
}

int Runner::run() const {
  if (aot_) {
    return aot_(const_cast<void **>(argv_.data() + 1));
  }
  return callable_.call_argv_fast(argv_.size(), argv_.data());
}

//===----------------------------------------------------------------------===//

namespace {
// splitmix64: fast, and good enough for benchmark inputs.
struct Rng {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
};
} // namespace

Halide::Buffer<float> randomF32(std::vector<int> sizes, uint32_t seed,
                                float sigma) {
  Halide::Buffer<float> b(sizes);
  adviseHugePages(b.data(), b.size_in_bytes());
  Rng rng{seed};
  // Uniform on [-a, a) has standard deviation a / sqrt(3).
  const float a = sigma * 1.7320508f;
  float *p = b.data(), *e = p + b.number_of_elements();
  while (p != e) {
    uint64_t r = rng.next();
    *p++ = a * (static_cast<float>(r >> 40) * (2.0f / 16777216.0f) - 1.0f);
  }
  return b;
}

Halide::Buffer<int8_t> randomI8(std::vector<int> sizes, uint32_t seed) {
  Halide::Buffer<int8_t> b(sizes);
  adviseHugePages(b.data(), b.size_in_bytes());
  Rng rng{seed};
  for (int8_t *p = b.data(), *e = p + b.number_of_elements(); p != e; ++p) {
    *p = static_cast<int8_t>(static_cast<int>(rng.next() % 255) - 127);
  }
  return b;
}

Halide::Buffer<uint8_t> randomU8(std::vector<int> sizes, uint32_t seed) {
  Halide::Buffer<uint8_t> b(sizes);
  adviseHugePages(b.data(), b.size_in_bytes());
  Rng rng{seed};
  for (uint8_t *p = b.data(), *e = p + b.number_of_elements(); p != e; ++p) {
    *p = static_cast<uint8_t>(rng.next());
  }
  return b;
}

void reportRates(benchmark::State &state, double bytesPerCall,
                 double flopsPerCall, double seconds) {
  const double calls = static_cast<double>(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytesPerCall * calls));
  if (seconds <= 0) {
    return;
  }
  const double bytesPerSecond = bytesPerCall * calls / seconds;
  state.counters["GB/s"] = bytesPerSecond / 1e9;
  state.counters["GFLOP/s"] = flopsPerCall * calls / seconds / 1e9;
  state.counters["roofline_fraction"] =
      gReadBandwidth > 0 ? bytesPerSecond / gReadBandwidth : 0.0;
}

int benchMain(int argc, char **argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  const int threads = hardwareThreads();
  gReadBandwidth = measureReadBandwidth(threads, 5);
  char text[64];
  std::snprintf(text, sizeof(text), "%.2f", gReadBandwidth / 1e9);
  benchmark::AddCustomContext("read_bandwidth_GBps", text);
  benchmark::AddCustomContext("read_bandwidth_threads",
                              std::to_string(threads));
  benchmark::AddCustomContext(
      "halide_jit_target",
      Halide::get_jit_target_from_environment().to_string());
  const char *hl = std::getenv("HL_NUM_THREADS");
  benchmark::AddCustomContext("halide_threads",
                              hl ? hl : std::to_string(threads));
  std::fprintf(stderr,
               "measured read bandwidth: %.2f GB/s (1 GiB, %d threads, best "
               "of 5)\n",
               gReadBandwidth / 1e9, threads);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

std::vector<Halide::Buffer<int32_t>> randomExpertChoices(int E, int K, int T,
                                                         int count) {
  std::vector<Halide::Buffer<int32_t>> out;
  std::vector<int> perm(E);
  std::iota(perm.begin(), perm.end(), 0);
  uint64_t r = 12345;
  for (int c = 0; c < count; ++c) {
    Halide::Buffer<int32_t> b(K, T);
    for (int t = 0; t < T; ++t) {
      // Fisher-Yates with an LCG: distinct experts per token.
      for (int j = E - 1; j > 0; --j) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        std::swap(perm[j], perm[(r >> 33) % (j + 1)]);
      }
      for (int j = 0; j < K; ++j) {
        b(j, t) = perm[j];
      }
    }
    out.push_back(std::move(b));
  }
  return out;
}

} // namespace lfm2c::bench
