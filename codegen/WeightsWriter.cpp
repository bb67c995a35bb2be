//===- WeightsWriter.cpp ----------------------------------------------------===//
#include "codegen/WeightsWriter.h"

#include "runtime/WeightsFormat.h"

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
    if (written < w.offset) {
      std::fwrite(zeros, 1, w.offset - written, f.get());
      written = w.offset;
    }
    const int64_t count = static_cast<int64_t>(w.bytes / sizeof(float));
    buffer.resize(static_cast<size_t>(count));
    if (Status st = dequantizeToF32(*src, buffer.data(), count); !st) {
      return st;
    }
    hash = hashBytes(buffer.data(), w.bytes, hash ^ w.offset);
    if (std::fwrite(buffer.data(), 1, w.bytes, f.get()) != w.bytes) {
      return Status::error(path + ": write failed (disk full?)");
    }
    written += w.bytes;
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
