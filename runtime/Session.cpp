//===- Session.cpp --------------------------------------------------------===//
#include "runtime/Session.h"
#include "runtime/WeightsFormat.h"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <sys/mman.h>

namespace lfm2c::rt {

namespace {

constexpr size_t kHugePageBytes = size_t(2) << 20;

std::string hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64, v);
  return buf;
}

Status checkWeights(const MappedFile &file, const ProgramInfo &info) {
  const std::string &path = file.path();
  if (file.size() < sizeof(WeightsHeader)) {
    return Status::error(path + ": too small for a weights file (" +
                         std::to_string(file.size()) + " bytes)");
  }
  WeightsHeader header;
  std::memcpy(&header, file.data(), sizeof(header));
  if (std::memcmp(header.magic, kWeightsMagic, sizeof(kWeightsMagic)) != 0) {
    return Status::error(path + ": not an lfm2c weights file (bad magic)");
  }
  if (header.version != kWeightsVersion) {
    return Status::error(path + ": weights format version " +
                         std::to_string(header.version) + ", expected " +
                         std::to_string(kWeightsVersion));
  }
  if (header.contentHash != info.weightsHash) {
    return Status::error(
        path + ": weights hash " + hex(header.contentHash) +
        " does not match this program's " + hex(info.weightsHash) +
        "; the file was written by another compilation (recompile, or pass "
        "the matching --weights file)");
  }
  if (header.dataBytes != info.weightsBytes ||
      file.size() != sizeof(WeightsHeader) + header.dataBytes) {
    return Status::error(
        path + ": size " + std::to_string(file.size()) + " bytes, expected " +
        std::to_string(sizeof(WeightsHeader) + info.weightsBytes));
  }
  return Status::ok();
}

} // namespace

StatusOr<std::unique_ptr<Session>> Session::create(const std::string &path,
                                                   int64_t contextSize) {
  std::unique_ptr<Session> s(new Session());
  s->info_ = lfm2c_program_info();
  auto file = MappedFile::open(path);
  if (!file) {
    return file.status();
  }
  if (Status st = checkWeights(**file, *s->info_); !st) {
    return st;
  }
  s->weights_ = std::move(*file);
  if (contextSize <= 0) {
    contextSize = s->info_->contextLength > 0
                      ? std::min(s->info_->contextLength, kDefaultContext)
                      : kDefaultContext;
  }
  if (contextSize <= 0) {
    return Status::error("--ctx-size: must be positive, got " +
                         std::to_string(contextSize));
  }
  s->contextSize_ = contextSize;
  for (int i = 0; i < s->info_->numStates; ++i) {
    const StateDesc &d = s->info_->states[i];
    int64_t rows = d.rows > 0 ? d.rows : contextSize;
    const int64_t tile = std::max<int64_t>(d.rowTile, 1);
    rows = (rows + tile - 1) / tile * tile;
    const size_t bytes =
        static_cast<size_t>(rows * d.rowElements * d.elementBytes);
    const size_t floats = (bytes + sizeof(float) - 1) / sizeof(float);
    auto buffer = StateBuffer::allocate(floats);
    if (!buffer) {
      return Status::error(
          "cannot allocate the decode state " + std::string(d.name) + " (" +
          std::to_string(floats * sizeof(float)) + " bytes); lower --ctx-size");
    }
    s->statePtrs_.push_back(buffer->data());
    s->states_.push_back(std::move(*buffer));
  }
  return s;
}

Status Session::eval(const std::vector<int32_t> &tokens, bool allLogits,
                     std::vector<float> &logits) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) {
    return Status::error("no tokens to evaluate");
  }
  for (int32_t t : tokens) {
    if (t < 0 || t >= info_->vocabSize) {
      return Status::error("token id " + std::to_string(t) +
                           " is outside the vocabulary [0, " +
                           std::to_string(info_->vocabSize) + ")");
    }
  }
  if (position_ + n > contextSize_) {
    return Status::error("context full: " + std::to_string(position_) + " + " +
                         std::to_string(n) +
                         " tokens exceed the context size " +
                         std::to_string(contextSize_) + " (raise --ctx-size)");
  }
  arena_.resize(static_cast<size_t>(info_->arenaFloatsPerToken * n +
                                    info_->arenaFloatsFixed));
  logits.resize(static_cast<size_t>((allLogits ? n : 1) * info_->vocabSize));
  ForwardArgs args;
  args.tokens = tokens.data();
  args.numTokens = n;
  args.position = position_;
  args.allLogits = allLogits;
  args.logits = logits.data();
  args.weights = weights_->data() + sizeof(WeightsHeader);
  args.states = statePtrs_.data();
  args.contextSize = contextSize_;
  args.arena = arena_.data();
  KernelTimes times{kernelSeconds_.data(), kernelCalls_.data()};
  args.profile = profiling_ && !profilePaused_ ? &times : nullptr;
  char err[512] = {0};
  if (lfm2c_program_forward(&args, err, sizeof(err)) != 0) {
    return Status::error(std::string("forward pass failed: ") + err);
  }
  position_ += n;
  return Status::ok();
}

void Session::setProfiling(bool on) {
  profiling_ = on;
  resetKernelTimes();
}

void Session::resetKernelTimes() {
  const auto n = static_cast<size_t>(profiling_ ? info_->numKernels : 0);
  kernelSeconds_.assign(n, 0.0);
  kernelCalls_.assign(n, 0);
}

std::vector<Session::KernelTime> Session::kernelTimes() const {
  std::vector<KernelTime> out;
  for (size_t i = 0; i < kernelCalls_.size(); ++i) {
    if (kernelCalls_[i] > 0) {
      out.push_back(
          {info_->kernelNames[i], kernelCalls_[i], kernelSeconds_[i]});
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const KernelTime &a, const KernelTime &b) {
                     return a.seconds > b.seconds;
                   });
  return out;
}

void Session::reset() {
  // Cache rows are written before attention uses them (it may read the
  // unwritten rest of a key tile, but masks it); only conv states carry
  // values into the next call.
  for (size_t i = 0; i < states_.size(); ++i) {
    if (info_->states[i].kind == StateKind::ConvState) {
      std::fill(states_[i].data(), states_[i].data() + states_[i].floats(),
                0.0f);
    }
  }
  position_ = 0;
}

StatusOr<Session::StateBuffer> Session::StateBuffer::allocate(size_t floats) {
  if (floats == 0) {
    return StateBuffer(nullptr, 0);
  }
  const size_t bytes = floats * sizeof(float);
  void *p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    return Status::error(std::strerror(errno));
  }
  if (bytes >= kHugePageBytes) {
    ::madvise(p, bytes, MADV_HUGEPAGE);
  }
  return StateBuffer(static_cast<float *>(p), floats);
}

Session::StateBuffer::StateBuffer(StateBuffer &&other) noexcept
    : data_(other.data_), floats_(other.floats_) {
  other.data_ = nullptr;
  other.floats_ = 0;
}

Session::StateBuffer::~StateBuffer() {
  if (data_) {
    ::munmap(data_, floats_ * sizeof(float));
  }
}

const uint8_t *Session::weightsData() const {
  return weights_->data() + sizeof(WeightsHeader);
}

int32_t argmax(const float *row, int64_t n) {
  int32_t best = 0;
  for (int64_t i = 1; i < n; ++i) {
    if (row[i] > row[best]) {
      best = static_cast<int32_t>(i);
    }
  }
  return best;
}

} // namespace lfm2c::rt
