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
// tasks are claimed one by one from a shared counter, and the call returns
// when every worker has finished with it. A loop started from inside a task
// runs its tasks inline on that thread. No Halide dependency: the binary's
// main() installs `parallelFor` as Halide's do_par_for (Main.cpp).
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
  void workerLoop();
  void stopWorkers();
  // Claims and runs the current loop's tasks until none are left.
  void runClaims();

  // The current loop: written by the caller before `generation_` moves,
  // read by workers after they see it move.
  Task task_ = nullptr;
  void *userContext_ = nullptr;
  uint8_t *closure_ = nullptr;
  int min_ = 0, size_ = 0;
  std::atomic<int> next_{0};
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
