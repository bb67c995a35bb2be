//===- ThreadPool.h - Spinning workers for the kernels' parallel loops ---===//
//
// Decode runs a few hundred short parallel loops per token (each kernel's
// row tasks), separated by serial work on the calling thread. Halide's own
// pool puts its workers to sleep on a condition variable as soon as a loop
// is done, so every loop starts with a wake-up, which on a virtual machine
// is an inter-processor interrupt through the hypervisor. This pool's
// workers instead spin for a while (`spinMicros`) after each loop, waiting
// for the next, and only then sleep.
//
// One loop runs at a time: the calling thread publishes it and takes part,
// and the call returns when every worker has finished with it. Each thread
// owns a contiguous share of the loop's indices and claims them front to
// back; a thread done with its share takes the others' remaining tasks from
// the back, one at a time. Claiming from a counter shared by all threads
// cost ~2% of decode (its cache line moved between the cores at every task)
// and gave each thread every other task, so a kernel's weight rows reached
// a core as short interleaved pieces; whole shares read ~7% faster (two
// threads streaming 36 KB tasks on the Zen 3 VM). A loop started from
// inside a task runs its tasks inline on that thread. No Halide dependency:
// the binary's main() installs `parallelFor` as Halide's do_par_for
// (Main.cpp).
//
//===----------------------------------------------------------------------===//
#ifndef LFM2C_RUNTIME_THREADPOOL_H
#define LFM2C_RUNTIME_THREADPOOL_H

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace lfm2c::rt {

class ThreadPool {
public:
  // A task as Halide's halide_task_t: non-zero is an error.
  using Task = int (*)(void *userContext, int index, uint8_t *closure);

  // `threads` counts the caller: threads - 1 workers are started.
  explicit ThreadPool(int threads, int spinMicros = 2000);
  ~ThreadPool();
  ThreadPool(const ThreadPool &) = delete;
  ThreadPool &operator=(const ThreadPool &) = delete;

  // Runs task(userContext, i, closure) for i in [min, min + size), in any
  // order and concurrently; returns 0, or the non-zero result of one task.
  int parallelFor(Task task, void *userContext, int min, int size,
                  uint8_t *closure);
  int threads() const { return static_cast<int>(workers_.size()) + 1; }

private:
  void workerLoop(int self);
  void stopWorkers();
  // Runs thread `self`'s share of the current loop, then any task left in
  // the other shares.
  void runClaims(int self);
  void runTask(int index);

  // A thread's unclaimed indices [begin, end) of the current loop, packed
  // into one word (begin in the low half) so that the owner taking the
  // front and another thread taking the back agree through one
  // compare-and-swap. On its own cache line: only its owner touches it
  // until the loop's end.
  struct alignas(64) Share {
    std::atomic<uint64_t> range{0};
  };

  // The current loop: written by the caller before `generation_` moves,
  // read by workers after they see it move.
  Task task_ = nullptr;
  void *userContext_ = nullptr;
  uint8_t *closure_ = nullptr;
  int min_ = 0;
  std::vector<Share> shares_; // one per thread, the caller's first
  std::atomic<int> result_{0};
  // Workers not yet done with the current loop.
  std::atomic<int> pending_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> sleeping_{0};
  std::atomic<bool> stop_{false};
  std::mutex mutex_;      // callers: one loop at a time
  std::mutex sleepMutex_; // the sleeping workers' wait and wake-up
  std::condition_variable wake_;
  const int spinMicros_;
  std::vector<std::thread> workers_;
};

// The threads the kernels use: HL_NUM_THREADS (as Halide's own pool), else
// one per CPU.
int defaultThreadCount();

} // namespace lfm2c::rt

#endif // LFM2C_RUNTIME_THREADPOOL_H
