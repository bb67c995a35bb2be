//===- ThreadPoolTest.cpp -------------------------------------------------===//
#include "runtime/ThreadPool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

using lfm2c::rt::ThreadPool;

namespace {

// Counts how often each index ran; checks the user context arrives.
struct Counts {
  std::vector<std::atomic<int>> hits;
  int minIndex = 0;
  explicit Counts(int n, int min) : hits(n), minIndex(min) {}
};

int countTask(void *userContext, int index, uint8_t *closure) {
  auto *c = reinterpret_cast<Counts *>(closure);
  if (userContext != &c->hits) {
    return 99;
  }
  c->hits[index - c->minIndex].fetch_add(1);
  return 0;
}

void expectEachOnce(ThreadPool &pool, int min, int size) {
  Counts c(size, min);
  ASSERT_EQ(pool.parallelFor(countTask, &c.hits, min, size,
                             reinterpret_cast<uint8_t *>(&c)),
            0);
  for (int i = 0; i < size; ++i) {
    ASSERT_EQ(c.hits[i].load(), 1) << "index " << min + i << " of " << size;
  }
}

class ThreadPoolTest : public testing::TestWithParam<std::tuple<int, int>> {};

TEST_P(ThreadPoolTest, RunsEveryIndexOnce) {
  const auto [threads, spinMicros] = GetParam();
  ThreadPool pool(threads, spinMicros);
  EXPECT_EQ(pool.threads(), threads);
  std::mt19937 rng(threads * 100 + spinMicros);
  // Many loops back to back (workers spinning), of random sizes and
  // offsets, some after a pause (workers asleep when spinMicros is small).
  for (int loop = 0; loop < 300; ++loop) {
    const int size = 1 + static_cast<int>(rng() % 97);
    const int min = static_cast<int>(rng() % 50) - 25;
    if (loop % 50 == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(3));
    }
    expectEachOnce(pool, min, size);
  }
  expectEachOnce(pool, 0, 0);
}

INSTANTIATE_TEST_SUITE_P(ThreadsAndSpin, ThreadPoolTest,
                         testing::Combine(testing::Values(1, 2, 3, 5),
                                          testing::Values(0, 2000)));

// A loop published before the workers have started running must still
// count on them (a worker that took the current generation as already seen
// waited forever; a hang, so the test has a ctest timeout).
TEST(ThreadPool, LoopRightAfterConstruction) {
  for (int round = 0; round < 200; ++round) {
    ThreadPool pool(2 + round % 7, round % 2 ? 0 : 2000);
    expectEachOnce(pool, round, 1 + round % 13);
  }
}

int failingTask(void *, int index, uint8_t *closure) {
  reinterpret_cast<std::atomic<int> *>(closure)->fetch_add(1);
  return index == 17 ? -7 : 0;
}

TEST(ThreadPool, ReturnsATaskError) {
  ThreadPool pool(3);
  std::atomic<int> ran{0};
  EXPECT_EQ(pool.parallelFor(failingTask, nullptr, 0, 40,
                             reinterpret_cast<uint8_t *>(&ran)),
            -7);
  // The pool stays usable after an error.
  expectEachOnce(pool, 3, 64);
}

struct Nested {
  ThreadPool *pool;
  std::vector<std::atomic<int>> hits;
  explicit Nested(ThreadPool *p) : pool(p), hits(8 * 8) {}
};

int innerTask(void *, int index, uint8_t *closure) {
  reinterpret_cast<std::atomic<int> *>(closure)[index].fetch_add(1);
  return 0;
}

int outerTask(void *, int index, uint8_t *closure) {
  auto *n = reinterpret_cast<Nested *>(closure);
  // A loop from inside a task runs inline: no deadlock on the pool.
  return n->pool->parallelFor(
      innerTask, nullptr, 0, 8,
      reinterpret_cast<uint8_t *>(n->hits.data() + 8 * index));
}

TEST(ThreadPool, NestedLoopsRunInline) {
  ThreadPool pool(2);
  Nested n(&pool);
  ASSERT_EQ(pool.parallelFor(outerTask, nullptr, 0, 8,
                             reinterpret_cast<uint8_t *>(&n)),
            0);
  for (auto &h : n.hits) {
    EXPECT_EQ(h.load(), 1);
  }
}

// The caller's share starts at the loop's first index; while that task
// blocks, the other threads must take over the rest of its share (a pool
// without stealing would leave them waiting behind it: the task gives up
// after 10 s and fails).
struct Blocked {
  int size;
  std::atomic<int> done{0};
};

int blockFirstTask(void *, int index, uint8_t *closure) {
  auto *b = reinterpret_cast<Blocked *>(closure);
  if (index != 0) {
    b->done.fetch_add(1);
    return 0;
  }
  const auto giveUp =
      std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (b->done.load() != b->size - 1) {
    if (std::chrono::steady_clock::now() > giveUp) {
      return 1;
    }
    std::this_thread::yield();
  }
  return 0;
}

TEST(ThreadPool, OtherThreadsTakeABlockedShare) {
  for (int threads : {2, 3, 5}) {
    ThreadPool pool(threads);
    Blocked b;
    b.size = 64;
    EXPECT_EQ(pool.parallelFor(blockFirstTask, nullptr, 0, b.size,
                               reinterpret_cast<uint8_t *>(&b)),
              0)
        << threads << " threads";
  }
}

// Each thread runs its own contiguous share front to back (a shared counter
// would give the caller every other index).
struct Order {
  std::mutex mutex;
  std::map<std::thread::id, std::vector<int>> seen;
};

int recordOrder(void *, int index, uint8_t *closure) {
  auto *o = reinterpret_cast<Order *>(closure);
  std::this_thread::sleep_for(std::chrono::microseconds(200));
  std::lock_guard<std::mutex> lock(o->mutex);
  o->seen[std::this_thread::get_id()].push_back(index);
  return 0;
}

TEST(ThreadPool, ThreadsRunContiguousShares) {
  ThreadPool pool(2);
  Order o;
  ASSERT_EQ(pool.parallelFor(recordOrder, nullptr, 0, 40,
                             reinterpret_cast<uint8_t *>(&o)),
            0);
  std::lock_guard<std::mutex> lock(o.mutex);
  // How many indices each thread takes depends on scheduling (a descheduled
  // caller may leave most of its share to the worker), so the test checks
  // only the order: a thread takes its own share (the caller [0, 20), the
  // worker [20, 40)) from the front and the other's from the back.
  int total = 0;
  for (const auto &[id, indices] : o.seen) {
    const bool isCaller = id == std::this_thread::get_id();
    int nextOwn = isCaller ? 0 : 20;
    int nextStolen = isCaller ? 39 : 19;
    for (int index : indices) {
      const bool own = isCaller == (index < 20);
      EXPECT_EQ(index, own ? nextOwn++ : nextStolen--)
          << (isCaller ? "caller" : "worker");
    }
    total += static_cast<int>(indices.size());
  }
  EXPECT_EQ(total, 40);
}

TEST(ThreadPool, CallersFromSeveralThreads) {
  ThreadPool pool(3, 100);
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&pool, t] {
      for (int loop = 0; loop < 50; ++loop) {
        expectEachOnce(pool, t, 1 + (loop * 7 + t) % 41);
      }
    });
  }
  for (std::thread &c : callers) {
    c.join();
  }
}

} // namespace
