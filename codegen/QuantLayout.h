//===- QuantLayout.h - Where a quantized weight's values sit in the file -===//
//
// The weights writer packs quantized weights in these layouts, the kernels
// read them and the tests' scalar references decode them; all three use
// this header (the kernels restate the formulas as Halide expressions), so
// it is the one definition. Halide-free.
//
// Q8_0: per row of K values, K int8 quants, then (in a separate array) K/32
// f32 block scales.
//
// Q4_0: per row, K/2 bytes of nibbles (value = nibble - 8), then the f32
// block scales. Rows of an even number of blocks store them in pairs: 32
// bytes per blocks 2p and 2p + 1, byte i holding element i of block 2p in
// its low nibble and element i of block 2p + 1 in its high nibble. One
// 32-byte load then yields both blocks' 32 values with a mask and a shift,
// where llama.cpp's order (byte j: elements j and j + 16 of one block) needs
// a cross-lane shuffle per block on AVX2. Rows of an odd number of blocks
// keep llama.cpp's order.
//
//===----------------------------------------------------------------------===//
#ifndef LFM2C_CODEGEN_QUANTLAYOUT_H
#define LFM2C_CODEGEN_QUANTLAYOUT_H

#include <cstdint>
#include <cstring>

namespace lfm2c {

// Whether a Q4_0 row of `k` values stores its blocks in pairs.
inline bool q4PairedBlocks(int64_t k) { return k % 64 == 0; }

// The byte of a Q4_0 row (of `k` values) holding element i, and whether in
// its high nibble.
struct Q4Position {
  int64_t byte;
  bool high;
};
inline Q4Position q4Position(int64_t k, int64_t i) {
  const int64_t block = i / 32, e = i % 32;
  if (q4PairedBlocks(k)) {
    return {block / 2 * 32 + e, block % 2 == 1};
  }
  return {block * 16 + e % 16, e >= 16};
}

// Element i of a packed Q4_0 row: nibble - 8.
inline int q4Value(const uint8_t *row, int64_t k, int64_t i) {
  const Q4Position p = q4Position(k, i);
  return (p.high ? row[p.byte] >> 4 : row[p.byte] & 15) - 8;
}

// Rewrites `rows` rows of `k` values from llama.cpp's Q4_0 nibble order
// (16 bytes per block) to the layout above, in place.
inline void q4FromLlamaOrder(uint8_t *quants, int64_t rows, int64_t k) {
  if (!q4PairedBlocks(k)) {
    return;
  }
  const int64_t pairs = rows * (k / 64);
  uint8_t pair[32];
  for (int64_t p = 0; p < pairs; ++p) {
    uint8_t *q = quants + p * 32;
    std::memcpy(pair, q, 32);
    const uint8_t *a = pair, *b = pair + 16; // the two llama.cpp blocks
    for (int j = 0; j < 16; ++j) {
      // Elements j (low nibbles) and j + 16 (high nibbles) of each block.
      q[j] = static_cast<uint8_t>((a[j] & 15) | (b[j] & 15) << 4);
      q[j + 16] = static_cast<uint8_t>(a[j] >> 4 | (b[j] & 0xF0));
    }
  }
}

} // namespace lfm2c

#endif // LFM2C_CODEGEN_QUANTLAYOUT_H
