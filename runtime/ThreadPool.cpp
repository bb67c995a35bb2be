//===- ThreadPool.cpp -----------------------------------------------------===//
#include "runtime/ThreadPool.h"

#include <chrono>
#include <cstdlib>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace lfm2c::rt {

namespace {

// Set while this thread runs a task: a loop it starts runs inline.
thread_local bool inTask = false;

void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

uint64_t packRange(uint32_t begin, uint32_t end) {
  return static_cast<uint64_t>(end) << 32 | begin;
}
uint32_t rangeBegin(uint64_t r) { return static_cast<uint32_t>(r); }
uint32_t rangeEnd(uint64_t r) { return static_cast<uint32_t>(r >> 32); }

} // namespace

int defaultThreadCount() {
  if (const char *env = std::getenv("HL_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) {
      return n;
    }
  }
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

ThreadPool::ThreadPool(int threads, int spinMicros)
    : shares_(static_cast<size_t>(threads < 1 ? 1 : threads)),
      spinMicros_(spinMicros) {
  try {
    for (int i = 1; i < threads; ++i) {
      workers_.emplace_back([this, i] { workerLoop(i); });
    }
  } catch (...) {
    stopWorkers(); // joinable threads must not outlive the vector
    throw;
  }
}

ThreadPool::~ThreadPool() { stopWorkers(); }

void ThreadPool::stopWorkers() {
  {
    std::lock_guard<std::mutex> lock(sleepMutex_);
    stop_.store(true);
  }
  wake_.notify_all();
  for (std::thread &t : workers_) {
    t.join();
  }
}

void ThreadPool::runTask(int index) {
  if (int r = task_(userContext_, min_ + index, closure_); r != 0) {
    int expected = 0;
    result_.compare_exchange_strong(expected, r);
  }
}

// Takes one index off `share` -- its front for the owner, its back for
// another thread -- or returns false once the share is empty.
static bool takeIndex(std::atomic<uint64_t> &share, bool front,
                      uint32_t &index) {
  for (uint64_t r = share.load(std::memory_order_relaxed);
       rangeBegin(r) < rangeEnd(r);) {
    const uint32_t b = rangeBegin(r), e = rangeEnd(r);
    if (share.compare_exchange_weak(
            r, front ? packRange(b + 1, e) : packRange(b, e - 1),
            std::memory_order_relaxed)) {
      index = front ? b : e - 1;
      return true;
    }
  }
  return false;
}

void ThreadPool::runClaims(int self) {
  const bool outer = inTask;
  inTask = true;
  const int n = static_cast<int>(shares_.size());
  uint32_t index;
  for (int k = 0; k < n; ++k) {
    std::atomic<uint64_t> &share = shares_[(self + k) % n].range;
    while (takeIndex(share, k == 0, index)) {
      runTask(static_cast<int>(index));
    }
  }
  inTask = outer;
}

int ThreadPool::parallelFor(Task task, void *userContext, int min, int size,
                            uint8_t *closure) {
  if (size <= 0) {
    return 0;
  }
  if (workers_.empty() || size == 1 || inTask) {
    for (int i = 0; i < size; ++i) {
      if (int r = task(userContext, min + i, closure); r != 0) {
        return r;
      }
    }
    return 0;
  }
  std::lock_guard<std::mutex> caller(mutex_);
  task_ = task;
  userContext_ = userContext;
  closure_ = closure;
  min_ = min;
  const auto n = static_cast<uint64_t>(shares_.size());
  for (uint64_t i = 0; i < n; ++i) {
    shares_[i].range.store(packRange(static_cast<uint32_t>(i * size / n),
                                     static_cast<uint32_t>((i + 1) * size / n)),
                           std::memory_order_relaxed);
  }
  result_.store(0);
  pending_.store(static_cast<int>(workers_.size()));
  // Sequentially consistent, as the sleepers' count below: a worker either
  // sees the new generation before it sleeps or is counted and woken.
  generation_.fetch_add(1);
  if (sleeping_.load() > 0) {
    std::lock_guard<std::mutex> lock(sleepMutex_);
    wake_.notify_all();
  }
  runClaims(0);
  // Every worker must be done with this loop before its fields change.
  while (pending_.load(std::memory_order_acquire) != 0) {
    cpuRelax();
  }
  return result_.load();
}

void ThreadPool::workerLoop(int self) {
  using Clock = std::chrono::steady_clock;
  // Not the current value: a loop may already be published when this
  // thread starts, and it counts on this worker.
  uint64_t seen = 0;
  for (;;) {
    const auto spinUntil =
        Clock::now() + std::chrono::microseconds(spinMicros_);
    int polls = 0;
    while (generation_.load(std::memory_order_acquire) == seen) {
      if (stop_.load(std::memory_order_relaxed)) {
        return;
      }
      cpuRelax();
      // The clock is read every 64 polls: cheap, and still within ~10 us.
      if ((++polls & 63) == 0 && Clock::now() > spinUntil) {
        std::unique_lock<std::mutex> lock(sleepMutex_);
        sleeping_.fetch_add(1);
        wake_.wait(lock,
                   [&] { return generation_.load() != seen || stop_.load(); });
        sleeping_.fetch_sub(1);
      }
    }
    seen = generation_.load(std::memory_order_acquire);
    runClaims(self);
    pending_.fetch_sub(1, std::memory_order_release);
  }
}

} // namespace lfm2c::rt
