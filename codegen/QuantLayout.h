//===- QuantLayout.h - Where a quantized weight's values sit in the file -===//
//
// The weights writer packs quantized weights in these layouts, the kernels
// read them and the tests' scalar references decode them; all three use
// this header (the kernels restate the formulas as Halide expressions), so
// it is the one definition. Halide-free.
//
// Q8_0: per row of K values, K int8 quants, then (in a separate array) K/32
// block scales as fp16, the file's bits (the kernels widen them with one
// vcvtph2ps per 8 blocks; f32 scales would add 2 bytes per 32 values, +11%
// of a Q4_0 row that decode reads once per token).
//
// Q4_0: per row, K/2 bytes of nibbles (value = nibble - 8), then the fp16
// block scales. Rows of an even number of blocks store them in pairs: 32
// bytes per blocks 2p and 2p + 1, byte i holding element i of block 2p in
// its low nibble and element i of block 2p + 1 in its high nibble. One
// 32-byte load then yields both blocks' 32 values with a mask and a shift,
// where llama.cpp's order (byte j: elements j and j + 16 of one block) needs
// a cross-lane shuffle per block on AVX2. Rows of an odd number of blocks
// keep llama.cpp's order.
//
// Q4_0 row-interleaved by R (rowInterleave; R = the rows of one vector of
// the target's row-lane kernels: 8 on AVX2, 16 on AVX-512 VNNI), for the
// MoE expert stacks and the weights of linear ops: rows in groups of R, a
// group's K/2 * R bytes block by block, 16R bytes a block: for q = 0..3,
// for each row r of the group, bytes 4q..4q+3 of row r's block in
// llama.cpp's order (byte j: element j in the low nibble, j + 16 in the
// high). One 4R-byte load (a ymm for 8 rows, a zmm for 16) then holds 4
// values of each row (elements 4q.. low, 16 + 4q.. high), so the vector
// lanes of a dot are rows, not partial sums of one row: no horizontal sums,
// no per-row scale broadcasts, no per-task regrouping in prefill (as
// llama.cpp's block_q4_0x8, but packed at compile time). The scales follow
// the same order: per group, per block, R fp16s.
//
// Q8_0 row-interleaved by R (AVX-512 VNNI, R = 16): likewise, 32R bytes a
// block: for q = 0..7, for each row r of the group, values 4q..4q+3 of row
// r's block; the scales as for Q4_0. One 64-byte load holds 4 values of 16
// rows, the operand of one vpdpbusd (after an xor by 0x80 makes them u8).
//
// Q6_K (K a multiple of 256): per row, K/256 super-blocks of 208 bytes --
// GGUF's block_q6_K without its fp16 scale: ql[128] (low 4 bits), qh[64]
// (high 2 bits), int8 sub-block scales[16] (one per 16 values) -- then, in
// a separate array, the K/256 super-block scales d as f32 (exactly the
// file's fp16). 6.625 bits per weight against GGUF's 6.5625: the 2 extra
// bytes per 256 values keep super-blocks 16-byte aligned and spare the
// kernels an fp16 conversion; 6-bit values stay packed (an int8 copy would
// cost 8.625 bits). Value i of super-block b, with h = i / 128, g = i % 128
// / 32, l = i % 32: low 4 bits in ql[64h + 32(g % 2) + l] (low nibble for
// g < 2, high for g >= 2), high 2 bits at bit 2g of qh[32h + l], minus 32;
// its sub-block scale is scales[i / 16]. Within a 128-value half, 32-byte
// loads of ql and qh give four 32-value vectors by masks and shifts alone,
// as llama.cpp's AVX2 kernel uses them.
//
// Q6_K row-interleaved by R (AVX-512 VNNI, R = 16), for the tied table when
// its head and lookup read it so: per group of R rows, per super-block,
// 208R bytes. First, per 16-value sub-block, three 4R-byte runs A, B, C,
// row r at bytes 4r..4r+3 of each, holding the sub-block's values 4q + v
// (q = 0..3, v = 0..3) of the row as u6 = q6 + 32:
//   A: u6 of value v | (u6 of value 8 + v) >> 4 << 6
//   B: u6 of value 4 + v | (u6 of value 12 + v) >> 4 << 6
//   C: (u6 of value 8 + v) & 15 | ((u6 of value 12 + v) & 15) << 4
// Then the R rows' 16 sub-block scales, sub-block by sub-block. The f32
// super-block scales: per group, per super-block, R of them. Each quarter
// of a sub-block becomes one 4R-byte vector of u6 values, 4 of every row
// (the operand of a 4-way u8 x i8 dot, vpdpbusd, with rows as lanes), by
// one mask (A, B) or two shifts and masks (C with A or B): fewer
// instructions than splitting ql / qh runs by position, on a kernel whose
// instructions, not bytes, set its speed.
//
//===----------------------------------------------------------------------===//
#ifndef LFM2C_CODEGEN_QUANTLAYOUT_H
#define LFM2C_CODEGEN_QUANTLAYOUT_H

#include <cstdint>
#include <cstring>
#include <vector>

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

// Where element i of row `row` sits in a Q4_0 tensor row-interleaved by r
// (rows of k values; see above), and the index of its block scale.
inline Q4Position q4InterleavedPosition(int64_t k, int64_t r, int64_t row,
                                        int64_t i) {
  const int64_t group = row / r, b = i / 32, e = i % 32, j = e % 16;
  return {group * r * (k / 2) + b * 16 * r + j / 4 * 4 * r + row % r * 4 +
              j % 4,
          e >= 16};
}
inline int64_t q4InterleavedScale(int64_t k, int64_t r, int64_t row,
                                  int64_t i) {
  return row / r * r * (k / 32) + i / 32 * r + row % r;
}

// Calls f(groupQuants, groupScales, quantsCopy, scalesCopy) for each group
// of r rows (rowBytes bytes and rowScales scales a row; rows a multiple of
// r, as the program emitter only interleaves such tensors): the group's own
// storage, to rewrite in place, and a copy of it as it was.
template <typename Scale, typename F>
void forEachRowGroup(uint8_t *quants, Scale *scales, int64_t rows, int64_t r,
                     int64_t rowBytes, int64_t rowScales, F &&f) {
  std::vector<uint8_t> q(static_cast<size_t>(r * rowBytes));
  std::vector<Scale> d(static_cast<size_t>(r * rowScales));
  for (int64_t g = 0; g < rows / r; ++g) {
    uint8_t *gq = quants + g * r * rowBytes;
    Scale *gd = scales + g * r * rowScales;
    std::memcpy(q.data(), gq, q.size());
    std::memcpy(d.data(), gd, d.size() * sizeof(Scale));
    f(gq, gd, q.data(), d.data());
  }
}

// Rewrites `rows` rows (a multiple of r) of `k` values, `blockBytes` bytes
// a block of 32 (llama.cpp's Q4_0 order: 16; Q8_0: 32), and their block
// scales to the row-interleaved layout, in place: per group of r rows, per
// block, the blocks' 4-byte runs row by row.
inline void interleaveRowBlocks(uint8_t *quants, uint16_t *scales, int64_t rows,
                                int64_t k, int64_t r, int64_t blockBytes) {
  const int64_t blocks = k / 32, rowBytes = blocks * blockBytes;
  forEachRowGroup(
      quants, scales, rows, r, rowBytes, blocks,
      [&](uint8_t *gq, uint16_t *gd, const uint8_t *q, const uint16_t *d) {
        for (int64_t row = 0; row < r; ++row) {
          for (int64_t b = 0; b < blocks; ++b) {
            gd[b * r + row] = d[row * blocks + b];
            for (int64_t j = 0; j < blockBytes; ++j) {
              gq[b * blockBytes * r + j / 4 * 4 * r + row * 4 + j % 4] =
                  q[row * rowBytes + b * blockBytes + j];
            }
          }
        }
      });
}
inline void q4InterleaveFromLlamaOrder(uint8_t *quants, uint16_t *scales,
                                       int64_t rows, int64_t k, int64_t r) {
  interleaveRowBlocks(quants, scales, rows, k, r, 16);
}

// The index of element i of row `row` in a Q8_0 tensor row-interleaved by
// r (rows of k values; see above). Scales: q4InterleavedScale.
inline int64_t q8InterleavedPosition(int64_t k, int64_t r, int64_t row,
                                     int64_t i) {
  const int64_t e = i % 32;
  return row / r * r * k + i / 32 * 32 * r + e / 4 * 4 * r + row % r * 4 +
         e % 4;
}
inline void q8Interleave(int8_t *quants, uint16_t *scales, int64_t rows,
                         int64_t k, int64_t r) {
  interleaveRowBlocks(reinterpret_cast<uint8_t *>(quants), scales, rows, k, r,
                      32);
}

constexpr int64_t kQ6KBlock = 256;      // values per Q6_K super-block
constexpr int64_t kQ6KBlockBytes = 208; // ql, qh and sub-block scales
constexpr int64_t kQ6KScalesAt = 192;   // offset of the sub-block scales

// Value i (in [-32, 31]) of a packed Q6_K row, and its sub-block scale.
inline int q6Value(const uint8_t *row, int64_t i) {
  const uint8_t *blk = row + i / kQ6KBlock * kQ6KBlockBytes;
  const int64_t e = i % kQ6KBlock, h = e / 128, g = e % 128 / 32, l = e % 32;
  const uint8_t ql = blk[64 * h + 32 * (g % 2) + l];
  const uint8_t qh = blk[128 + 32 * h + l];
  const int low = g < 2 ? ql & 15 : ql >> 4;
  return (low | ((qh >> (2 * g)) & 3) << 4) - 32;
}
inline int q6SubScale(const uint8_t *row, int64_t i) {
  return static_cast<int8_t>(
      row[i / kQ6KBlock * kQ6KBlockBytes + kQ6KScalesAt + i % kQ6KBlock / 16]);
}

// The first byte of super-block b of row `row`'s group in a Q6_K table of
// rows of k values row-interleaved by r (see above).
inline int64_t q6InterleavedBlock(int64_t k, int64_t r, int64_t row,
                                  int64_t b) {
  return (row / r * (k / kQ6KBlock) + b) * kQ6KBlockBytes * r;
}
// Value i of row `row` (in [-32, 31]) of such a table, and its sub-block
// scale.
inline int q6InterleavedValue(const uint8_t *quants, int64_t k, int64_t r,
                              int64_t row, int64_t i) {
  const int64_t s = i % kQ6KBlock / 16, q = i % 16 / 4, v = i % 4;
  const uint8_t *run = quants + q6InterleavedBlock(k, r, row, i / kQ6KBlock) +
                       s * 12 * r + row % r * 4 + v;
  const int a = run[0], b = run[4 * r], c = run[8 * r];
  const int u = q == 0   ? a & 63
                : q == 1 ? b & 63
                : q == 2 ? (c & 15) | (a >> 6) << 4
                         : c >> 4 | (b >> 6) << 4;
  return u - 32;
}
inline int q6InterleavedSubScale(const uint8_t *quants, int64_t k, int64_t r,
                                 int64_t row, int64_t i) {
  return static_cast<int8_t>(
      quants[q6InterleavedBlock(k, r, row, i / kQ6KBlock) + kQ6KScalesAt * r +
             i % kQ6KBlock / 16 * r + row % r]);
}

// The index of value i's super-block scale (f32) in such a table.
inline int64_t q6InterleavedScale(int64_t k, int64_t r, int64_t row,
                                  int64_t i) {
  return row / r * r * (k / kQ6KBlock) + i / kQ6KBlock * r + row % r;
}

// Rewrites `rows` rows (a multiple of r) of `k` values from the row-major
// Q6_K layout above, and their super-block scales, to the row-interleaved
// one, in place.
inline void q6Interleave(uint8_t *quants, float *scales, int64_t rows,
                         int64_t k, int64_t r) {
  const int64_t blocks = k / kQ6KBlock, rowBytes = blocks * kQ6KBlockBytes;
  forEachRowGroup(
      quants, scales, rows, r, rowBytes, blocks,
      [&](uint8_t *gq, float *gd, const uint8_t *q, const float *d) {
        std::memset(gq, 0, static_cast<size_t>(r * rowBytes));
        // Rows within the group: offsets relative to it.
        for (int64_t row = 0; row < r; ++row) {
          const uint8_t *src = q + row * rowBytes;
          for (int64_t i = 0; i < k; ++i) {
            const int64_t block = q6InterleavedBlock(k, r, row, i / kQ6KBlock);
            const int64_t s = i % kQ6KBlock / 16, qq = i % 16 / 4;
            uint8_t *run = gq + block + s * 12 * r + row * 4 + i % 4;
            uint8_t &a = run[0], &b = run[4 * r], &c = run[8 * r];
            const int u = q6Value(src, i) + 32;
            if (qq == 0) {
              a |= static_cast<uint8_t>(u);
            } else if (qq == 1) {
              b |= static_cast<uint8_t>(u);
            } else if (qq == 2) {
              c |= static_cast<uint8_t>(u & 15);
              a |= static_cast<uint8_t>(u >> 4 << 6);
            } else {
              c |= static_cast<uint8_t>((u & 15) << 4);
              b |= static_cast<uint8_t>(u >> 4 << 6);
            }
            if (i % 16 == 0) {
              gq[block + kQ6KScalesAt * r + s * r + row] =
                  static_cast<uint8_t>(q6SubScale(src, i));
            }
            if (i % kQ6KBlock == 0) {
              gd[q6InterleavedScale(k, r, row, i)] =
                  d[row * blocks + i / kQ6KBlock];
            }
          }
        }
      });
}

} // namespace lfm2c

#endif // LFM2C_CODEGEN_QUANTLAYOUT_H
