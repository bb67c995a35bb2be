//===- Unicode.cpp - Code point classes and UTF-8 helpers -----------------===//
#include "runtime/Unicode.h"

#include <algorithm>
#include <array>

namespace lfm2c::rt::unicode {

namespace {

uint8_t lookupFlags(uint32_t cp) {
  const CodePointRange *begin = kCodePointRanges;
  const CodePointRange *end = kCodePointRanges + kNumCodePointRanges;
  // First range whose last >= cp.
  const CodePointRange *it =
      std::lower_bound(begin, end, cp, [](const CodePointRange &r, uint32_t c) {
        return r.last < c;
      });
  if (it != end && it->first <= cp) {
    return it->flags;
  }
  return 0;
}

struct Latin1Flags {
  std::array<uint8_t, 256> flags{};
  Latin1Flags() {
    for (uint32_t c = 0; c < 256; ++c) {
      flags[c] = lookupFlags(c);
    }
  }
};

const Latin1Flags &latin1() {
  static const Latin1Flags table;
  return table;
}

// Sequence length announced by a lead byte; 0 if it cannot start one.
int sequenceLength(uint8_t b) {
  if (b < 0x80) {
    return 1;
  }
  if (b >= 0xC2 && b <= 0xDF) {
    return 2;
  }
  if (b >= 0xE0 && b <= 0xEF) {
    return 3;
  }
  if (b >= 0xF0 && b <= 0xF4) {
    return 4;
  }
  return 0;
}

// Valid range of the second byte after lead byte b (the rest are 80..BF).
void secondByteRange(uint8_t b, uint8_t *lo, uint8_t *hi) {
  *lo = 0x80;
  *hi = 0xBF;
  if (b == 0xE0) {
    *lo = 0xA0;
  } else if (b == 0xED) {
    *hi = 0x9F;
  } else if (b == 0xF0) {
    *lo = 0x90;
  } else if (b == 0xF4) {
    *hi = 0x8F;
  }
}

bool continuationOk(uint8_t lead, size_t index, uint8_t c) {
  if (index == 1) {
    uint8_t lo, hi;
    secondByteRange(lead, &lo, &hi);
    return c >= lo && c <= hi;
  }
  return c >= 0x80 && c <= 0xBF;
}

} // namespace

uint8_t codePointFlags(uint32_t cp) {
  if (cp < 256) {
    return latin1().flags[cp];
  }
  return lookupFlags(cp);
}

size_t decodeUtf8(const char *s, size_t n, uint32_t *cp, bool *valid) {
  const auto *u = reinterpret_cast<const uint8_t *>(s);
  uint8_t b0 = u[0];
  if (b0 < 0x80) {
    *cp = b0;
    *valid = true;
    return 1;
  }
  int len = sequenceLength(b0);
  if (len == 0 || static_cast<size_t>(len) > n) {
    *cp = 0xFFFD;
    *valid = false;
    return 1;
  }
  for (int k = 1; k < len; ++k) {
    if (!continuationOk(b0, k, u[k])) {
      *cp = 0xFFFD;
      *valid = false;
      return 1;
    }
  }
  uint32_t c;
  if (len == 2) {
    c = (uint32_t(b0 & 0x1F) << 6) | (u[1] & 0x3F);
  } else if (len == 3) {
    c = (uint32_t(b0 & 0x0F) << 12) | (uint32_t(u[1] & 0x3F) << 6) |
        (u[2] & 0x3F);
  } else {
    c = (uint32_t(b0 & 0x07) << 18) | (uint32_t(u[1] & 0x3F) << 12) |
        (uint32_t(u[2] & 0x3F) << 6) | (u[3] & 0x3F);
  }
  *cp = c;
  *valid = true;
  return static_cast<size_t>(len);
}

void appendUtf8(std::string &out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool isValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<uint8_t>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    uint32_t cp;
    bool valid;
    i += decodeUtf8(s.data() + i, s.size() - i, &cp, &valid);
    if (!valid) {
      return false;
    }
  }
  return true;
}

size_t completeUtf8Length(std::string_view s) {
  const auto *u = reinterpret_cast<const uint8_t *>(s.data());
  size_t n = s.size();
  for (size_t k = 1; k <= 3 && k <= n; ++k) {
    uint8_t b = u[n - k];
    if (b >= 0x80 && b <= 0xBF) {
      continue; // a continuation byte: the lead is further back
    }
    int len = sequenceLength(b);
    if (len <= 1 || static_cast<size_t>(len) <= k) {
      return n; // ASCII, an invalid byte, or a sequence that is complete
    }
    for (size_t j = 1; j < k; ++j) {
      if (!continuationOk(b, j, u[n - k + j])) {
        return n; // not a prefix of any valid sequence
      }
    }
    return n - k;
  }
  return n;
}

} // namespace lfm2c::rt::unicode
