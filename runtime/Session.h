//===- Session.h - One sequence's decode state over a compiled program ---===//
//
// A Session owns what persists between forward calls: the mapped weights,
// the conv states and KV caches, and the position. Prefill and decode are
// the same call with a different token count.
//
//===----------------------------------------------------------------------===//
#ifndef LFM2C_RUNTIME_SESSION_H
#define LFM2C_RUNTIME_SESSION_H

#include "runtime/MappedFile.h"
#include "runtime/Program.h"
#include "runtime/Status.h"

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace lfm2c::rt {

class Session {
public:
  // Default context when none is asked for: llama.cpp's default, so a model
  // whose metadata says 128K does not reserve caches for 128K tokens.
  static constexpr int64_t kDefaultContext = 4096;

  // Maps `weightsPath` and checks it belongs to this program; allocates the
  // state for `contextSize` positions (0: the model's context, at most
  // kDefaultContext).
  static StatusOr<std::unique_ptr<Session>>
  create(const std::string &weightsPath, int64_t contextSize);

  // Runs `tokens` at the current position and advances it. Fills `logits`
  // with one row per token (allLogits) or the last token's row.
  Status eval(const std::vector<int32_t> &tokens, bool allLogits,
              std::vector<float> &logits);

  // Forgets the sequence: position 0, zero conv states (the caches are
  // overwritten before they are read again).
  void reset();
  // The weights data (past the header), e.g. for the embedded tokenizer.
  const uint8_t *weightsData() const;
  const MappedFile &weightsFile() const { return *weights_; }

  // Kernel timing (--profile): off by default; turning it on (or
  // resetKernelTimes) starts the sums from zero.
  struct KernelTime {
    std::string kernel;
    int64_t calls;
    double seconds;
  };
  void setProfiling(bool on);
  void resetKernelTimes();
  // While paused, calls are not counted (a benchmark's untimed work).
  void pauseProfiling(bool paused) { profilePaused_ = paused; }
  // Every kernel called since the last reset, most time first.
  std::vector<KernelTime> kernelTimes() const;

  int64_t position() const { return position_; }
  int64_t contextSize() const { return contextSize_; }
  const ProgramInfo &info() const { return *info_; }

private:
  Session() = default;
  const ProgramInfo *info_ = nullptr;
  std::unique_ptr<MappedFile> weights_;
  // Anonymous mappings: fresh zero pages, touched (and counted in RSS) only
  // as the context fills. Those of 2 MiB or more (KV caches) are advised
  // onto huge pages as the weights are (MappedFile.cpp), since decode reads
  // every cached row per token (8B-A1B tg64@4096: 17.1 vs 15.6 t/s, within
  // this VM's noise; RSS unchanged).
  class StateBuffer {
  public:
    // `floats` 4-byte slots (an f16 cache takes half as many as values).
    static StatusOr<StateBuffer> allocate(size_t floats);
    StateBuffer(StateBuffer &&other) noexcept;
    StateBuffer &operator=(StateBuffer &&) = delete;
    ~StateBuffer();
    float *data() const { return data_; }
    size_t floats() const { return floats_; }

  private:
    StateBuffer(float *data, size_t floats) : data_(data), floats_(floats) {}
    float *data_ = nullptr;
    size_t floats_ = 0;
  };
  std::vector<StateBuffer> states_;
  std::vector<float *> statePtrs_;
  std::vector<float> arena_;
  bool profiling_ = false, profilePaused_ = false;
  std::vector<double> kernelSeconds_;
  std::vector<int64_t> kernelCalls_;
  int64_t contextSize_ = 0;
  int64_t position_ = 0;
};

// The token with the largest logit; the lowest id wins a tie.
int32_t argmax(const float *row, int64_t n);

} // namespace lfm2c::rt

#endif // LFM2C_RUNTIME_SESSION_H
