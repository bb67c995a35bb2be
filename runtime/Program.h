//===- Program.h - The contract between a compiled program and the runtime ===//
//
// `lfm2c compile` emits a C++ program (program.cpp) that calls the model's
// Halide kernels in order. It exports the two C functions declared here; the
// runtime (sessions, state, sampling, the command line) is the same for every
// model and knows the model only through ProgramInfo.
//
//===----------------------------------------------------------------------===//
#ifndef LFM2C_RUNTIME_PROGRAM_H
#define LFM2C_RUNTIME_PROGRAM_H

#include <HalideRuntime.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>

namespace lfm2c::rt {

enum class StateKind : int32_t { ConvState = 0, KeyCache = 1, ValueCache = 2 };

// One persistent buffer of the decode state: a conv layer's last L-1 inputs,
// or an attention layer's keys or values (rows = context positions).
struct StateDesc {
  const char *name;
  StateKind kind;
  int64_t rows;         // fixed row count; for caches, 0 (= context size)
  int64_t rowElements;  // values per row
  int32_t elementBytes; // 4 (f32), or 2 for a KV cache stored as f16
  int32_t rowTile;      // rows are allocated in multiples of this (a KV
                        // cache's tiles of rows), else 1
};

// Sampling defaults of the model (generation_config.json), else LiquidAI's
// recommendation for LFM2.
struct SamplingDefaults {
  float temperature;
  int32_t topK;
  float topP;
  float minP;
  float repeatPenalty;
};

struct ProgramInfo {
  const char *modelName;
  const char *targetName;
  uint64_t weightsHash;
  uint64_t weightsBytes; // bytes after the weights file header
  int64_t vocabSize;
  int64_t contextLength; // trained context from the model metadata
  int32_t numStates;
  const StateDesc *states;
  // Scratch floats one forward call needs: perToken * T + fixed.
  int64_t arenaFloatsPerToken;
  int64_t arenaFloatsFixed;
  // The serialized tokenizer inside the weights data (0 bytes: none).
  uint64_t tokenizerOffset;
  uint64_t tokenizerBytes;
  SamplingDefaults sampling;
  // The kernels the program calls, for --profile (KernelTimes' indices).
  int32_t numKernels;
  const char *const *kernelNames;
};

// Wall time and calls of each kernel (index: ProgramInfo::kernelNames),
// summed over forward calls, when the runtime asks (`--profile`). Wall time
// of the calling thread: a parallel kernel's includes its wait for the
// pool.
struct KernelTimes {
  double *seconds;
  int64_t *calls;
};

struct ForwardArgs {
  const int32_t *tokens;
  int64_t numTokens;
  int64_t position;       // position of tokens[0]
  bool allLogits;         // logits for every token, else only the last
  float *logits;          // numTokens (or 1) rows of vocabSize
  const uint8_t *weights; // mapped weights, past the header
  // One per StateDesc; an f16 cache's buffer holds halves (the program
  // casts it).
  float *const *states;
  int64_t contextSize; // positions of each cache (its rows are this
                       // rounded up to its StateDesc::rowTile)
  float *arena;
  KernelTimes *profile; // nullptr: kernels not timed
};

// Runs one kernel call of the program, timed when a profile is asked for
// (one predictable branch per call otherwise).
template <typename Call>
inline int timedCall(KernelTimes *profile, int kernel, Call &&call) {
  if (!profile) {
    return call();
  }
  const auto start = std::chrono::steady_clock::now();
  const int rc = call();
  profile->seconds[kernel] +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  ++profile->calls[kernel];
  return rc;
}

// Wraps a row-major array as a Halide buffer (Halide dims innermost first).
struct HBuf {
  halide_buffer_t buf{};
  halide_dimension_t dims[4]{};

  HBuf(const void *data, halide_type_t type,
       std::initializer_list<int64_t> shape) {
    buf.host = static_cast<uint8_t *>(const_cast<void *>(data));
    buf.type = type;
    buf.dimensions = static_cast<int32_t>(shape.size());
    buf.dim = dims;
    // Halide's dim 0 is the innermost (last) logical axis.
    const int64_t *axes = shape.begin();
    int32_t stride = 1;
    for (int a = buf.dimensions - 1, k = 0; a >= 0; --a, ++k) {
      dims[k].min = 0;
      dims[k].extent = static_cast<int32_t>(axes[a]);
      dims[k].stride = stride;
      stride *= static_cast<int32_t>(axes[a]);
    }
  }
  HBuf(const HBuf &) = delete;
  HBuf &operator=(const HBuf &) = delete;
  halide_buffer_t *get() { return &buf; }
};

inline halide_type_t f32Type() { return halide_type_t(halide_type_float, 32); }
inline halide_type_t f16Type() { return halide_type_t(halide_type_float, 16); }
inline halide_type_t i32Type() { return halide_type_t(halide_type_int, 32); }
inline halide_type_t i8Type() { return halide_type_t(halide_type_int, 8); }
inline halide_type_t u8Type() { return halide_type_t(halide_type_uint, 8); }

} // namespace lfm2c::rt

extern "C" {
const lfm2c::rt::ProgramInfo *lfm2c_program_info();
// Returns 0 on success; otherwise writes a message into err.
int lfm2c_program_forward(const lfm2c::rt::ForwardArgs *args, char *err,
                          size_t errLen);
}

#endif // LFM2C_RUNTIME_PROGRAM_H
