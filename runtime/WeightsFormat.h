//===- WeightsFormat.h - The compiled weights file ------------------------===//
//
// `lfm2c compile` writes the weights a program reads into one file, already
// in the layout its kernels use, and the program maps it. The layout:
//
//   WeightsHeader (64 bytes) | tensor data, each tensor 64-byte aligned
//
// The header's content hash is also compiled into the program, so a program
// refuses a weights file written for another compilation. Tensor offsets are
// compiled into the program too; the file carries no index of its own.
//
//===----------------------------------------------------------------------===//
#ifndef LFM2C_RUNTIME_WEIGHTSFORMAT_H
#define LFM2C_RUNTIME_WEIGHTSFORMAT_H

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace lfm2c {

constexpr char kWeightsMagic[8] = {'L', 'F', 'M', '2', 'C', 'W', 'T', 'S'};
constexpr uint32_t kWeightsVersion = 2; // 2: fp16 Q8_0 / Q4_0 block scales
constexpr uint64_t kWeightsAlignment = 64;

struct WeightsHeader {
  char magic[8];
  uint32_t version;
  uint32_t reserved;
  uint64_t contentHash; // hash of everything after the header
  uint64_t dataBytes;   // bytes after the header
  uint8_t padding[32];
};
static_assert(sizeof(WeightsHeader) == 64, "header is one cache line");

// A 64-bit hash of a byte range, fast enough to run over gigabytes at
// compile time (words mixed with a multiply-rotate, as in xxhash/wyhash
// style constructions). Continues from `seed` so ranges can be chained.
inline uint64_t hashBytes(const void *data, size_t n,
                          uint64_t seed = 0x9E3779B97F4A7C15ull) {
  const uint8_t *p = static_cast<const uint8_t *>(data);
  const uint64_t k = 0xFF51AFD7ED558CCDull;
  uint64_t h = seed ^ (n * k);
  auto mix = [&](uint64_t w) {
    w *= 0xC4CEB9FE1A85EC53ull;
    w = (w << 31) | (w >> 33);
    h ^= w;
    h = ((h << 27) | (h >> 37)) * k + 0x52DCE729;
  };
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    mix(w);
  }
  uint64_t last = 0;
  std::memcpy(&last, p + i, n - i);
  mix(last ^ (uint64_t(n - i) << 56));
  h ^= h >> 33;
  h *= k;
  h ^= h >> 29;
  return h;
}

} // namespace lfm2c

#endif // LFM2C_RUNTIME_WEIGHTSFORMAT_H
