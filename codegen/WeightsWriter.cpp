//===- WeightsWriter.cpp --------------------------------------------------===//
#include "codegen/WeightsWriter.h"

#include "codegen/QuantLayout.h"
#include "runtime/WeightsFormat.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

namespace lfm2c {
namespace {

float halfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF, bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else { // subnormal: renormalise
      exp = 127 - 15 + 1;
      while (!(mant & 0x400)) {
        mant <<= 1;
        --exp;
      }
      bits = sign | (exp << 23) | ((mant & 0x3FF) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7F800000 | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t load16(const uint8_t *p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// f32 -> fp16 bits with round-to-nearest-even, as GGML_FP32_TO_FP16.
uint16_t floatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000;
  const uint32_t absx = x & 0x7FFFFFFF;
  uint16_t h;
  if (absx >= 0x7F800000) {
    h = static_cast<uint16_t>(sign | (absx > 0x7F800000 ? 0x7E00 : 0x7C00));
  } else if (absx >= 0x477FF000) { // rounds to >= 65520: infinity
    h = static_cast<uint16_t>(sign | 0x7C00);
  } else if (absx < 0x38800000) { // subnormal half
    float a;
    std::memcpy(&a, &absx, 4);
    // Scale so the half's subnormal unit is 1, round to nearest even.
    float scaled = a * 16777216.0f; // 2^24
    uint32_t m = static_cast<uint32_t>(std::nearbyint(scaled));
    h = static_cast<uint16_t>(sign | m);
  } else {
    uint32_t mant = absx & 0x7FFFFF;
    uint32_t exp = (absx >> 23) - 127 + 15;
    uint32_t half = (exp << 10) | (mant >> 13);
    uint32_t rest = mant & 0x1FFF;
    if (rest > 0x1000 || (rest == 0x1000 && (half & 1))) {
      ++half;
    }
    h = static_cast<uint16_t>(sign | half);
  }
  return h;
}

// One tensor as fp16: a file's F16 bits as they are, anything else through
// f32 and rounded to nearest even.
Status packF16(const GGUFTensorInfo &src, int64_t count,
               std::vector<uint16_t> &out) {
  out.resize(static_cast<size_t>(count));
  if (src.type == GGMLType::F16) {
    std::memcpy(out.data(), src.data, static_cast<size_t>(count) * 2);
    return Status::ok();
  }
  std::vector<float> values(static_cast<size_t>(count));
  if (Status st = dequantizeToF32(src, values.data(), count); !st) {
    return st;
  }
  for (int64_t i = 0; i < count; ++i) {
    out[i] = floatToHalf(values[i]);
  }
  return Status::ok();
}

// llama.cpp's reference quantizers (what llama-quantize writes), so a model
// quantized by lfm2c holds the values llama.cpp would have produced.
void quantizeQ8_0(const float *x, int8_t *q, uint16_t *d) {
  float amax = 0;
  for (int j = 0; j < 32; ++j) {
    amax = std::max(amax, std::fabs(x[j]));
  }
  const float scale = amax / 127.0f;
  const float id = scale != 0.0f ? 1.0f / scale : 0.0f;
  *d = floatToHalf(scale);
  for (int j = 0; j < 32; ++j) {
    q[j] = static_cast<int8_t>(std::roundf(x[j] * id));
  }
}

void quantizeQ4_0(const float *x, uint8_t *q, uint16_t *d) {
  float amax = 0, max = 0;
  for (int j = 0; j < 32; ++j) {
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  const float scale = max / -8.0f;
  const float id = scale != 0.0f ? 1.0f / scale : 0.0f;
  *d = floatToHalf(scale);
  for (int j = 0; j < 16; ++j) {
    const int8_t lo =
        std::min<int8_t>(15, static_cast<int8_t>(x[j] * id + 8.5f));
    const int8_t hi =
        std::min<int8_t>(15, static_cast<int8_t>(x[j + 16] * id + 8.5f));
    q[j] = static_cast<uint8_t>(lo | (hi << 4));
  }
}

// Block scales as stored: f32 for Q6_K, fp16 bits for Q8_0 / Q4_0.
struct PackedScales {
  std::vector<float> f32;
  std::vector<uint16_t> f16;
  const void *data() const {
    return f32.empty() ? static_cast<const void *>(f16.data()) : f32.data();
  }
};

// Packs one tensor (rows of `k` values) into quants + scales in the layout
// of QuantLayout.h. A source already in the target block format keeps its
// values bit for bit; anything else is expanded to f32 and quantized.
// Rows as llama.cpp stores them (Q4_0: 16 bytes a block, elements j and
// j + 16 in byte j) to the file's order: rows interleaved in groups of
// rowInterleave, or (Q4_0) each row's blocks paired (QuantLayout.h).
void toFileOrder(bool q4, uint8_t *quants, uint16_t *scales, int64_t rows,
                 int64_t k, int rowInterleave) {
  if (q4 && rowInterleave) {
    q4InterleaveFromLlamaOrder(quants, scales, rows, k, rowInterleave);
  } else if (q4) {
    q4FromLlamaOrder(quants, rows, k);
  } else if (rowInterleave) {
    q8Interleave(reinterpret_cast<int8_t *>(quants), scales, rows, k,
                 rowInterleave);
  }
}

Status packQuantized(const GGUFTensorInfo &src, StoredFormat format,
                     int64_t count, int64_t k, int rowInterleave,
                     std::vector<uint8_t> &quants, PackedScales &packed) {
  packed.f32.clear();
  packed.f16.clear();
  if (format == StoredFormat::Q6_K) {
    // The file's blocks minus their fp16 scale, which goes to the f32
    // array; the program emitter stores only Q6_K sources as Q6_K.
    if (src.type != GGMLType::Q6_K) {
      return Status::error("tensor '" + src.name +
                           "': " + ggmlTypeName(src.type) +
                           " cannot be stored as Q6_K (no Q6_K quantizer)");
    }
    const int64_t superBlocks = count / kQ6KBlock;
    const int64_t fileBlockBytes = kQ6KBlockBytes + 2; // then fp16 d
    quants.resize(static_cast<size_t>(superBlocks * kQ6KBlockBytes));
    std::vector<float> &scales = packed.f32;
    scales.resize(static_cast<size_t>(superBlocks));
    for (int64_t b = 0; b < superBlocks; ++b) {
      const uint8_t *blk = src.data + b * fileBlockBytes;
      std::memcpy(&quants[b * kQ6KBlockBytes], blk, kQ6KBlockBytes);
      scales[b] = halfToFloat(load16(blk + kQ6KBlockBytes));
    }
    if (rowInterleave) {
      q6Interleave(quants.data(), scales.data(), count / k, k, rowInterleave);
    }
    return Status::ok();
  }
  const int64_t blocks = count / 32;
  const bool q4 = format == StoredFormat::Q4_0;
  quants.resize(static_cast<size_t>(q4 ? count / 2 : count));
  std::vector<uint16_t> &scales = packed.f16;
  scales.resize(static_cast<size_t>(blocks));
  const GGMLType same = q4 ? GGMLType::Q4_0 : GGMLType::Q8_0;
  if (src.type == same) {
    const int64_t blockBytes = q4 ? 18 : 34, payload = q4 ? 16 : 32;
    for (int64_t b = 0; b < blocks; ++b) {
      const uint8_t *blk = src.data + b * blockBytes;
      scales[b] = load16(blk);
      std::memcpy(&quants[b * payload], blk + 2, payload);
    }
    toFileOrder(q4, quants.data(), scales.data(), count / k, k, rowInterleave);
    return Status::ok();
  }
  std::vector<float> values(static_cast<size_t>(count));
  if (Status st = dequantizeToF32(src, values.data(), count); !st) {
    return st;
  }
  for (int64_t b = 0; b < blocks; ++b) {
    if (q4) {
      quantizeQ4_0(&values[b * 32], &quants[b * 16], &scales[b]);
    } else {
      quantizeQ8_0(&values[b * 32], reinterpret_cast<int8_t *>(&quants[b * 32]),
                   &scales[b]);
    }
  }
  toFileOrder(q4, quants.data(), scales.data(), count / k, k, rowInterleave);
  return Status::ok();
}

} // namespace

Status dequantizeToF32(const GGUFTensorInfo &t, float *out, int64_t count) {
  const uint8_t *p = t.data;
  switch (t.type) {
  case GGMLType::F32:
    std::memcpy(out, p, static_cast<size_t>(count) * 4);
    return Status::ok();
  case GGMLType::F16:
    for (int64_t i = 0; i < count; ++i) {
      out[i] = halfToFloat(load16(p + 2 * i));
    }
    return Status::ok();
  case GGMLType::BF16:
    for (int64_t i = 0; i < count; ++i) {
      uint32_t bits = static_cast<uint32_t>(load16(p + 2 * i)) << 16;
      std::memcpy(&out[i], &bits, 4);
    }
    return Status::ok();
  case GGMLType::Q8_0: // {f16 d; i8 q[32]}
    for (int64_t b = 0; b < count / 32; ++b, p += 34) {
      const float d = halfToFloat(load16(p));
      for (int j = 0; j < 32; ++j) {
        out[b * 32 + j] = d * static_cast<int8_t>(p[2 + j]);
      }
    }
    return Status::ok();
  case GGMLType::Q4_0: // {f16 d; u8 q[16]}: low nibbles first, offset 8
    for (int64_t b = 0; b < count / 32; ++b, p += 18) {
      const float d = halfToFloat(load16(p));
      for (int j = 0; j < 16; ++j) {
        out[b * 32 + j] = static_cast<float>((p[2 + j] & 0xF) - 8) * d;
        out[b * 32 + j + 16] = static_cast<float>((p[2 + j] >> 4) - 8) * d;
      }
    }
    return Status::ok();
  case GGMLType::Q6_K: // {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}
    for (int64_t b = 0; b < count / 256; ++b, p += 210) {
      const uint8_t *ql = p, *qh = p + 128;
      const int8_t *sc = reinterpret_cast<const int8_t *>(p + 192);
      const float d = halfToFloat(load16(p + 208));
      float *y = out + b * 256;
      for (int half = 0; half < 2; ++half) {
        for (int l = 0; l < 32; ++l) {
          const int is = l / 16;
          const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
          const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
          const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
          const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
          y[l] = d * sc[is] * q1;
          y[l + 32] = d * sc[is + 2] * q2;
          y[l + 64] = d * sc[is + 4] * q3;
          y[l + 96] = d * sc[is + 6] * q4;
        }
        y += 128;
        ql += 64;
        qh += 32;
        sc += 8;
      }
    }
    return Status::ok();
  }
  return Status::error("tensor '" + t.name + "': no f32 expansion for type " +
                       ggmlTypeName(t.type));
}

StatusOr<WrittenWeights>
writeWeights(const std::string &path, const std::vector<PlannedWeight> &plan,
             uint64_t tensorBytes, const TensorLookup &tensors,
             const std::string &tokenizerBlob,
             const std::function<void(size_t, size_t)> &progress) {
  std::unique_ptr<FILE, int (*)(FILE *)> f(std::fopen(path.c_str(), "wb"),
                                           &std::fclose);
  if (!f) {
    return Status::error(path + ": cannot create weights file");
  }
  WeightsHeader header{};
  if (std::fwrite(&header, sizeof(header), 1, f.get()) != 1) {
    return Status::error(path + ": write failed");
  }
  uint64_t hash = 0x6C666D3263ull, written = 0;
  std::vector<float> buffer;
  PackedScales scales;
  std::vector<uint8_t> quants;
  std::vector<uint16_t> halves;
  static const char zeros[kWeightsAlignment] = {};
  for (size_t i = 0; i < plan.size(); ++i) {
    const PlannedWeight &w = plan[i];
    if (progress) {
      progress(i, plan.size());
    }
    const GGUFTensorInfo *src = tensors(w.name);
    if (!src) {
      return Status::error("tensor '" + w.name + "' is missing from the model");
    }
    int64_t count = 1;
    for (int64_t dim : w.shape) {
      count *= dim;
    }
    // Writes `bytes` at `offset` (after zero padding) and hashes them.
    auto put = [&](const void *data, uint64_t offset, uint64_t bytes) {
      if (written < offset) {
        std::fwrite(zeros, 1, offset - written, f.get());
        written = offset;
      }
      hash = hashBytes(data, bytes, hash ^ offset);
      written += bytes;
      return std::fwrite(data, 1, bytes, f.get()) == bytes;
    };
    bool ok;
    if (w.format == StoredFormat::F32) {
      buffer.resize(static_cast<size_t>(count));
      if (Status st = dequantizeToF32(*src, buffer.data(), count); !st) {
        return st;
      }
      ok = put(buffer.data(), w.offset, w.bytes);
    } else if (w.format == StoredFormat::F16) {
      if (Status st = packF16(*src, count, halves); !st) {
        return st;
      }
      ok = put(halves.data(), w.offset, w.bytes);
    } else {
      if (Status st = packQuantized(*src, w.format, count, w.shape.back(),
                                    w.rowInterleave, quants, scales);
          !st) {
        return st;
      }
      ok = put(quants.data(), w.offset, w.bytes) &&
           put(scales.data(), w.scaleOffset, w.scaleBytes);
    }
    if (!ok) {
      return Status::error(path + ": write failed (disk full?)");
    }
  }
  if (written < tensorBytes) {
    std::fwrite(zeros, 1, tensorBytes - written, f.get());
  }
  WrittenWeights out;
  out.tokenizerOffset = tensorBytes;
  out.tokenizerBytes = tokenizerBlob.size();
  out.dataBytes = tensorBytes + tokenizerBlob.size();
  if (!tokenizerBlob.empty()) {
    hash = hashBytes(tokenizerBlob.data(), tokenizerBlob.size(),
                     hash ^ tensorBytes);
    if (std::fwrite(tokenizerBlob.data(), 1, tokenizerBlob.size(), f.get()) !=
        tokenizerBlob.size()) {
      return Status::error(path + ": write failed (disk full?)");
    }
  }
  out.hash = hash;
  std::memcpy(header.magic, kWeightsMagic, sizeof(kWeightsMagic));
  header.version = kWeightsVersion;
  header.contentHash = hash;
  header.dataBytes = out.dataBytes;
  if (std::fseek(f.get(), 0, SEEK_SET) != 0 ||
      std::fwrite(&header, sizeof(header), 1, f.get()) != 1 ||
      std::fflush(f.get()) != 0) {
    return Status::error(path + ": write failed");
  }
  return out;
}

} // namespace lfm2c
