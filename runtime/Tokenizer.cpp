//===- Tokenizer.cpp - Byte-level BPE tokenizer ---------------------------===//
#include "runtime/Tokenizer.h"

#include "runtime/Unicode.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>

namespace lfm2c::rt {

namespace {

using unicode::kLetter;
using unicode::kNumber;
using unicode::kWhitespace;

//===----------------------------------------------------------------------===//
// GPT-2's byte-to-unicode table: printable Latin-1 bytes map to themselves,
// the other 68 bytes to U+0100 upwards in byte order.
//===----------------------------------------------------------------------===//

struct ByteMap {
  std::array<uint32_t, 256> toCp{};
  std::array<int16_t, 324> fromCp{}; // code point -> byte, -1 if none
  std::array<std::string, 256> utf8;
  ByteMap() {
    fromCp.fill(-1);
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) ||
                       (b >= 0xAE && b <= 0xFF);
      toCp[b] = printable ? b : next++;
      fromCp[toCp[b]] = static_cast<int16_t>(b);
      unicode::appendUtf8(utf8[b], toCp[b]);
    }
  }
};

const ByteMap &byteMap() {
  static const ByteMap map;
  return map;
}

uint64_t hashBytes(std::string_view s) {
  const uint64_t kMul = 0x9E3779B97F4A7C15ull;
  uint64_t h = 0x243F6A8885A308D3ull ^ (s.size() * kMul);
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t v;
    std::memcpy(&v, s.data() + i, 8);
    h = (h ^ v) * kMul;
    h ^= h >> 29;
  }
  uint64_t tail = 0;
  for (size_t k = 0; i + k < s.size(); ++k) {
    tail |= uint64_t(static_cast<uint8_t>(s[i + k])) << (8 * k);
  }
  h = (h ^ tail) * kMul;
  h ^= h >> 32;
  h *= 0xD6E8FEB86659FD93ull;
  h ^= h >> 32;
  return h;
}

uint64_t hashPair(int32_t a, int32_t b) {
  uint64_t h = (uint64_t(uint32_t(a)) << 32) | uint32_t(b);
  h *= 0x9E3779B97F4A7C15ull;
  h ^= h >> 31;
  h *= 0xBF58476D1CE4E5B9ull;
  h ^= h >> 29;
  return h;
}

size_t tableSizeFor(size_t n) {
  size_t cap = 16;
  while (cap < 2 * n + 16) {
    cap <<= 1;
  }
  return cap;
}

} // namespace

//===----------------------------------------------------------------------===//
// Pre-tokenizers: each returns the end (code point index, exclusive) of the
// piece starting at `pos` within [pos, end).
//===----------------------------------------------------------------------===//

// Code points of one text fragment (outside the anonymous namespace because
// Scratch, used in Tokenizer::Impl's signatures, holds one).
struct CodePoints {
  std::vector<uint32_t> cp;
  std::vector<uint8_t> flags;
  std::vector<uint32_t> offset; // byte offset of each code point, + end

  void decode(std::string_view text) {
    cp.clear();
    flags.clear();
    offset.clear();
    size_t i = 0;
    while (i < text.size()) {
      offset.push_back(static_cast<uint32_t>(i));
      auto b = static_cast<uint8_t>(text[i]);
      if (b < 0x80) {
        cp.push_back(b);
        flags.push_back(unicode::codePointFlags(b));
        ++i;
        continue;
      }
      uint32_t c;
      bool valid;
      i += unicode::decodeUtf8(text.data() + i, text.size() - i, &c, &valid);
      cp.push_back(c);
      flags.push_back(unicode::codePointFlags(c));
    }
    offset.push_back(static_cast<uint32_t>(text.size()));
  }
};

namespace {

inline uint32_t asciiLower(uint32_t c) {
  return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

// 's 't 're 've 'm 'll 'd at pos; returns the end or 0 if none.
size_t matchContraction(const CodePoints &t, size_t pos, size_t end,
                        bool ignoreCase) {
  if (t.cp[pos] != '\'' || pos + 1 >= end) {
    return 0;
  }
  uint32_t c1 = t.cp[pos + 1];
  if (ignoreCase) {
    c1 = asciiLower(c1);
  }
  if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') {
    return pos + 2;
  }
  if (pos + 2 >= end) {
    return 0;
  }
  uint32_t c2 = t.cp[pos + 2];
  if (ignoreCase) {
    c2 = asciiLower(c2);
  }
  if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') ||
      (c1 == 'l' && c2 == 'l')) {
    return pos + 3;
  }
  return 0;
}

// Whitespace alternatives shared by both regexes:
//   [\s*[\r\n]+ (Llama-3 only)] | \s+(?!\S) | \s+
size_t matchWhitespace(const CodePoints &t, size_t pos, size_t end,
                       bool newlineRule) {
  size_t q = pos;
  size_t afterNewline = 0;
  while (q < end && (t.flags[q] & kWhitespace)) {
    if (t.cp[q] == '\r' || t.cp[q] == '\n') {
      afterNewline = q + 1;
    }
    ++q;
  }
  size_t n = q - pos;
  if (newlineRule && afterNewline > 0) {
    return afterNewline; // \s*[\r\n]+
  }
  if (n > 1 && q < end) {
    return q - 1; // \s+(?!\S): leave the last space to the next piece
  }
  if (n > 0) {
    return q; // \s+
  }
  return 0;
}

// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
size_t nextPieceLlama3(const CodePoints &t, size_t pos, size_t end) {
  if (size_t e = matchContraction(t, pos, end, /*ignoreCase=*/true)) {
    return e;
  }
  const uint32_t c = t.cp[pos];
  const uint8_t f = t.flags[pos];
  auto flagsAt = [&](size_t i) -> uint8_t { return i < end ? t.flags[i] : 0; };
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (c != '\r' && c != '\n' && !(f & kNumber)) {
    if ((f & kLetter) || (flagsAt(pos + 1) & kLetter)) {
      size_t q = pos + 1;
      while (flagsAt(q) & kLetter) {
        ++q;
      }
      return q;
    }
  }
  // \p{N}{1,3}
  if (f & kNumber) {
    size_t q = pos + 1;
    while (q < end && q - pos < 3 && (t.flags[q] & kNumber)) {
      ++q;
    }
    return q;
  }
  //  ?[^\s\p{L}\p{N}]+[\r\n]*
  {
    size_t q = (c == ' ') ? pos + 1 : pos;
    const uint8_t kClass = kWhitespace | kLetter | kNumber;
    if (q < end && !(t.flags[q] & kClass)) {
      while (q < end && !(t.flags[q] & kClass)) {
        ++q;
      }
      while (q < end && (t.cp[q] == '\r' || t.cp[q] == '\n')) {
        ++q;
      }
      return q;
    }
  }
  if (size_t e = matchWhitespace(t, pos, end, /*newlineRule=*/true)) {
    return e;
  }
  return pos + 1;
}

// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
size_t nextPieceGPT2(const CodePoints &t, size_t pos, size_t end) {
  if (size_t e = matchContraction(t, pos, end, /*ignoreCase=*/false)) {
    return e;
  }
  size_t q = (t.cp[pos] == ' ') ? pos + 1 : pos;
  if (q < end) {
    const uint8_t f = t.flags[q];
    if (f & kLetter) {
      while (q < end && (t.flags[q] & kLetter)) {
        ++q;
      }
      return q;
    }
    if (f & kNumber) {
      while (q < end && (t.flags[q] & kNumber)) {
        ++q;
      }
      return q;
    }
    const uint8_t kClass = kWhitespace | kLetter | kNumber;
    if (!(f & kClass)) {
      while (q < end && !(t.flags[q] & kClass)) {
        ++q;
      }
      return q;
    }
  }
  if (size_t e = matchWhitespace(t, pos, end, /*newlineRule=*/false)) {
    return e;
  }
  return pos + 1;
}

//===----------------------------------------------------------------------===//
// Serialization helpers.
//===----------------------------------------------------------------------===//

constexpr char kMagic[4] = {'L', 'T', 'O', 'K'};
constexpr uint32_t kFormatVersion = 1;

void putU32(std::string &out, uint32_t v) {
  for (int k = 0; k < 4; ++k) {
    out.push_back(static_cast<char>((v >> (8 * k)) & 0xFF));
  }
}

void putVarint(std::string &out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void putBytes(std::string &out, const std::string &s) {
  putVarint(out, s.size());
  out += s;
}

class Reader {
public:
  Reader(const uint8_t *data, size_t size) : p_(data), size_(size) {}

  size_t remaining() const { return size_ - pos_; }
  size_t position() const { return pos_; }

  bool u8(uint8_t *v) {
    if (remaining() < 1) {
      return false;
    }
    *v = p_[pos_++];
    return true;
  }
  bool u32(uint32_t *v) {
    if (remaining() < 4) {
      return false;
    }
    *v = uint32_t(p_[pos_]) | (uint32_t(p_[pos_ + 1]) << 8) |
         (uint32_t(p_[pos_ + 2]) << 16) | (uint32_t(p_[pos_ + 3]) << 24);
    pos_ += 4;
    return true;
  }
  bool i32(int32_t *v) {
    uint32_t u;
    if (!u32(&u)) {
      return false;
    }
    std::memcpy(v, &u, 4);
    return true;
  }
  bool varint(uint64_t *v) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b;
      if (!u8(&b)) {
        return false;
      }
      result |= uint64_t(b & 0x7F) << shift;
      if (!(b & 0x80)) {
        *v = result;
        return true;
      }
    }
    return false;
  }
  bool bytes(std::string *s) {
    uint64_t n;
    if (!varint(&n) || n > remaining()) {
      return false;
    }
    s->assign(reinterpret_cast<const char *>(p_ + pos_), n);
    pos_ += n;
    return true;
  }

private:
  const uint8_t *p_;
  size_t size_;
  size_t pos_ = 0;
};

Status blobError(const std::string &what, size_t pos) {
  return Status::error("tokenizer data: " + what + " (at byte " +
                       std::to_string(pos) + ")");
}

} // namespace

//===----------------------------------------------------------------------===//
// TokenizerData serialization.
//
// Layout (little-endian): "LTOK", u32 version, u8 pre, u8 ignoreMerges,
// u8 addBos, u8 reserved(0), i32 bos, eos, eot, pad, varint nTokens,
// nTokens x (varint length, bytes), nTokens x u8 type, varint nMerges,
// nMerges x (varint len, bytes, varint len, bytes), varint nEog,
// nEog x i32.
//===----------------------------------------------------------------------===//

std::string TokenizerData::serialize() const {
  std::string out;
  size_t estimate = 64 + tokens.size() * 2;
  for (const std::string &t : tokens) {
    estimate += t.size();
  }
  for (const auto &m : merges) {
    estimate += m.first.size() + m.second.size() + 2;
  }
  out.reserve(estimate);
  out.append(kMagic, 4);
  putU32(out, kFormatVersion);
  out.push_back(static_cast<char>(pre));
  out.push_back(ignoreMerges ? 1 : 0);
  out.push_back(addBos ? 1 : 0);
  out.push_back(0);
  for (int32_t id : {bos, eos, eot, pad}) {
    putU32(out, static_cast<uint32_t>(id));
  }
  putVarint(out, tokens.size());
  for (const std::string &t : tokens) {
    putBytes(out, t);
  }
  for (size_t i = 0; i < tokens.size(); ++i) {
    out.push_back(static_cast<char>(i < types.size() ? types[i] : 0));
  }
  putVarint(out, merges.size());
  for (const auto &m : merges) {
    putBytes(out, m.first);
    putBytes(out, m.second);
  }
  putVarint(out, endOfGeneration.size());
  for (int32_t id : endOfGeneration) {
    putU32(out, static_cast<uint32_t>(id));
  }
  return out;
}

StatusOr<TokenizerData> TokenizerData::deserialize(const uint8_t *data,
                                                   size_t size) {
  if (!data && size > 0) {
    return Status::error("tokenizer data: null pointer");
  }
  Reader r(data, size);
  TokenizerData d;
  if (size < 4 || std::memcmp(data, kMagic, 4) != 0) {
    return blobError("bad magic, expected \"LTOK\"", 0);
  }
  uint8_t skip;
  for (int k = 0; k < 4; ++k) {
    (void)r.u8(&skip);
  }
  uint32_t version;
  if (!r.u32(&version)) {
    return blobError("truncated header", r.position());
  }
  if (version != kFormatVersion) {
    return blobError("unsupported version " + std::to_string(version) +
                         ", expected " + std::to_string(kFormatVersion),
                     4);
  }
  uint8_t pre, ignoreMerges, addBos, reserved;
  if (!r.u8(&pre) || !r.u8(&ignoreMerges) || !r.u8(&addBos) ||
      !r.u8(&reserved)) {
    return blobError("truncated header", r.position());
  }
  if (pre > 1 || ignoreMerges > 1 || addBos > 1 || reserved != 0) {
    return blobError("invalid header flags", 8);
  }
  d.pre = static_cast<Pre>(pre);
  d.ignoreMerges = ignoreMerges != 0;
  d.addBos = addBos != 0;
  int32_t *specials[] = {&d.bos, &d.eos, &d.eot, &d.pad};
  for (int32_t *id : specials) {
    if (!r.i32(id)) {
      return blobError("truncated header", r.position());
    }
  }
  uint64_t nTokens;
  // Each token needs at least a length byte and a type byte.
  if (!r.varint(&nTokens) || nTokens > r.remaining() / 2 ||
      nTokens > uint64_t(std::numeric_limits<int32_t>::max())) {
    return blobError("bad token count", r.position());
  }
  d.tokens.resize(nTokens);
  for (uint64_t i = 0; i < nTokens; ++i) {
    if (!r.bytes(&d.tokens[i])) {
      return blobError("truncated token " + std::to_string(i), r.position());
    }
  }
  d.types.resize(nTokens);
  for (uint64_t i = 0; i < nTokens; ++i) {
    uint8_t t;
    if (!r.u8(&t)) {
      return blobError("truncated token types", r.position());
    }
    if (t < kTokenNormal || t > kTokenByte) {
      return blobError("token " + std::to_string(i) + " has invalid type " +
                           std::to_string(t),
                       r.position() - 1);
    }
    d.types[i] = t;
  }
  uint64_t nMerges;
  if (!r.varint(&nMerges) || nMerges > r.remaining() / 2) {
    return blobError("bad merge count", r.position());
  }
  d.merges.resize(nMerges);
  for (uint64_t i = 0; i < nMerges; ++i) {
    if (!r.bytes(&d.merges[i].first) || !r.bytes(&d.merges[i].second)) {
      return blobError("truncated merge " + std::to_string(i), r.position());
    }
  }
  uint64_t nEog;
  if (!r.varint(&nEog) || nEog > r.remaining() / 4) {
    return blobError("bad end-of-generation count", r.position());
  }
  d.endOfGeneration.resize(nEog);
  for (uint64_t i = 0; i < nEog; ++i) {
    if (!r.i32(&d.endOfGeneration[i])) {
      return blobError("truncated end-of-generation ids", r.position());
    }
  }
  if (r.remaining() != 0) {
    return blobError(std::to_string(r.remaining()) + " trailing bytes",
                     r.position());
  }
  auto n = static_cast<int32_t>(nTokens);
  const char *names[] = {"bos", "eos", "eot", "pad"};
  for (int k = 0; k < 4; ++k) {
    if (*specials[k] < -1 || *specials[k] >= n) {
      return blobError(std::string(names[k]) + " id " +
                           std::to_string(*specials[k]) + " out of range",
                       8);
    }
  }
  for (int32_t id : d.endOfGeneration) {
    if (id < 0 || id >= n) {
      return blobError("end-of-generation id " + std::to_string(id) +
                           " out of range",
                       size - 4 * nEog);
    }
  }
  return d;
}

//===----------------------------------------------------------------------===//
// Tokenizer.
//===----------------------------------------------------------------------===//

struct Scratch;

struct Tokenizer::Impl {
  TokenizerData data;
  int32_t nTokens = 0;

  // String interning: vocabulary texts (id = the token id that text maps to;
  // the last of duplicates wins, as in llama.cpp) and merge strings that are
  // not in the vocabulary (ids >= nTokens, texts in `extra`).
  std::vector<std::string> extra;
  std::vector<int32_t> slots; // -1 empty
  std::vector<uint32_t> slotHash;
  size_t slotMask = 0;

  // (left id, right id) -> rank and merged id; rank < 0 marks an empty slot.
  struct PairEntry {
    int32_t left, right, rank, result;
  };
  std::vector<PairEntry> pairs;
  size_t pairMask = 0;

  std::array<int32_t, 256> byteSymbol{}; // id of each byte's mapped char

  std::vector<std::string> pieces; // decoded bytes per token

  // Tokens that split the text before pre-tokenization, longest first.
  struct Special {
    int32_t id;
    bool alwaysSplit; // user-defined: split even without parseSpecial
  };
  std::vector<Special> specials;
  bool anyAlwaysSplit = false;
  // A trie over the special texts, to find which occur in a text in one pass.
  struct TrieNode {
    std::vector<std::pair<uint8_t, int32_t>> next;
    int32_t special = -1; // index into `specials`
  };
  std::vector<TrieNode> trie;
  std::array<bool, 256> specialFirstByte{};

  std::vector<int32_t> eog;

  const std::string &text(int32_t id) const {
    return id < nTokens ? data.tokens[id] : extra[id - nTokens];
  }

  // Slot of s: the one holding it, or the empty one where it would go.
  size_t findSlot(std::string_view s, uint64_t h) const {
    auto h32 = static_cast<uint32_t>(h >> 32);
    size_t i = h & slotMask;
    while (slots[i] >= 0) {
      if (slotHash[i] == h32 && text(slots[i]) == s) {
        return i;
      }
      i = (i + 1) & slotMask;
    }
    return i;
  }

  int32_t lookup(std::string_view s) const {
    return slots[findSlot(s, hashBytes(s))];
  }

  // A vocabulary id for exactly this text, or -1.
  int32_t lookupToken(std::string_view s) const {
    int32_t id = lookup(s);
    return id < nTokens ? id : -1;
  }

  int32_t intern(const std::string &s) {
    uint64_t h = hashBytes(s);
    size_t i = findSlot(s, h);
    if (slots[i] < 0) {
      slots[i] = nTokens + static_cast<int32_t>(extra.size());
      slotHash[i] = static_cast<uint32_t>(h >> 32);
      extra.push_back(s);
    }
    return slots[i];
  }

  const PairEntry *findPair(int32_t a, int32_t b) const {
    size_t i = hashPair(a, b) & pairMask;
    while (pairs[i].rank >= 0) {
      if (pairs[i].left == a && pairs[i].right == b) {
        return &pairs[i];
      }
      i = (i + 1) & pairMask;
    }
    return nullptr;
  }

  Status build();
  void encodeText(std::string_view text, std::vector<int32_t> &out,
                  Scratch &scratch) const;
  void encodeWord(std::string_view word, std::vector<int32_t> &out,
                  Scratch &scratch) const;
};

struct Scratch {
  CodePoints cps;
  std::string mapped;
  struct Symbol {
    int32_t id;
    int32_t prev, next;
    uint32_t start; // byte offset in the word
    int32_t rank;   // linear path: rank of the merge with next, or -1
    int32_t result; // linear path: its result
  };
  std::vector<Symbol> symbols;
  struct Candidate {
    int32_t rank, left, leftId, rightId, result;
  };
  std::vector<Candidate> heap;
};

namespace {

std::string decodePiece(const std::string &token, int32_t type) {
  switch (type) {
  case kTokenNormal:
  case kTokenByte: {
    // Inverse byte mapping; a token with a character outside the table is
    // returned unchanged (Hugging Face's ByteLevel decoder).
    const ByteMap &map = byteMap();
    std::string out;
    size_t i = 0;
    while (i < token.size()) {
      uint32_t cp;
      bool valid;
      i += unicode::decodeUtf8(token.data() + i, token.size() - i, &cp, &valid);
      if (!valid || cp >= map.fromCp.size() || map.fromCp[cp] < 0) {
        return token;
      }
      out.push_back(static_cast<char>(map.fromCp[cp]));
    }
    return out;
  }
  case kTokenUnused:
    return std::string();
  default: // control, user-defined, unknown: their text
    return token;
  }
}

} // namespace

Status Tokenizer::Impl::build() {
  const size_t n = data.tokens.size();
  if (n == 0) {
    return Status::error("tokenizer: the vocabulary is empty");
  }
  if (n > size_t(std::numeric_limits<int32_t>::max() / 4)) {
    return Status::error("tokenizer: the vocabulary is too large");
  }
  if (data.types.size() != n) {
    return Status::error("tokenizer: " + std::to_string(data.types.size()) +
                         " token types for " + std::to_string(n) + " tokens");
  }
  if (data.merges.size() > size_t(std::numeric_limits<int32_t>::max() / 8)) {
    return Status::error("tokenizer: too many merges");
  }
  nTokens = static_cast<int32_t>(n);
  for (size_t i = 0; i < n; ++i) {
    if (data.types[i] < kTokenNormal || data.types[i] > kTokenByte) {
      return Status::error("tokenizer: token " + std::to_string(i) +
                           " has invalid type " +
                           std::to_string(data.types[i]));
    }
  }
  const std::pair<const char *, int32_t> ids[] = {{"bos", data.bos},
                                                  {"eos", data.eos},
                                                  {"eot", data.eot},
                                                  {"pad", data.pad}};
  for (const auto &[name, id] : ids) {
    if (id < -1 || id >= nTokens) {
      return Status::error("tokenizer: " + std::string(name) + " id " +
                           std::to_string(id) + " is out of range [0, " +
                           std::to_string(n) + ")");
    }
  }
  if (data.addBos && data.bos < 0) {
    return Status::error("tokenizer: addBos is set but there is no bos id");
  }
  for (int32_t id : data.endOfGeneration) {
    if (id < 0 || id >= nTokens) {
      return Status::error("tokenizer: end-of-generation id " +
                           std::to_string(id) + " is out of range [0, " +
                           std::to_string(n) + ")");
    }
    if (std::find(eog.begin(), eog.end(), id) == eog.end()) {
      eog.push_back(id);
    }
  }

  // String table: room for every token and every merge's three strings.
  size_t cap = tableSizeFor(n + 3 * data.merges.size() + 256);
  slots.assign(cap, -1);
  slotHash.assign(cap, 0);
  slotMask = cap - 1;
  for (int32_t id = 0; id < nTokens; ++id) {
    const std::string &t = data.tokens[id];
    uint64_t h = hashBytes(t);
    size_t i = findSlot(t, h);
    slots[i] = id; // the last duplicate wins
    slotHash[i] = static_cast<uint32_t>(h >> 32);
  }

  size_t pcap = tableSizeFor(data.merges.size());
  pairs.assign(pcap, PairEntry{0, 0, -1, 0});
  pairMask = pcap - 1;
  std::string merged;
  for (size_t rank = 0; rank < data.merges.size(); ++rank) {
    const auto &[a, b] = data.merges[rank];
    int32_t ia = intern(a);
    int32_t ib = intern(b);
    merged.assign(a).append(b);
    int32_t im = intern(merged);
    size_t i = hashPair(ia, ib) & pairMask;
    while (pairs[i].rank >= 0 &&
           !(pairs[i].left == ia && pairs[i].right == ib)) {
      i = (i + 1) & pairMask;
    }
    if (pairs[i].rank < 0) { // the first of duplicate merges wins
      pairs[i] = PairEntry{ia, ib, static_cast<int32_t>(rank), im};
    }
  }

  const ByteMap &map = byteMap();
  for (int b = 0; b < 256; ++b) {
    byteSymbol[b] = lookup(map.utf8[b]);
  }

  pieces.resize(n);
  for (size_t i = 0; i < n; ++i) {
    pieces[i] = decodePiece(data.tokens[i], data.types[i]);
  }

  // Special tokens, longest first (ties by id).
  for (int32_t id = 0; id < nTokens; ++id) {
    int32_t type = data.types[id];
    if (data.tokens[id].empty()) {
      continue;
    }
    if (type == kTokenControl || type == kTokenUnknown ||
        type == kTokenUserDefined) {
      specials.push_back(Special{id, type == kTokenUserDefined});
      anyAlwaysSplit |= type == kTokenUserDefined;
    }
  }
  std::stable_sort(specials.begin(), specials.end(),
                   [&](const Special &x, const Special &y) {
                     return data.tokens[x.id].size() > data.tokens[y.id].size();
                   });
  trie.emplace_back();
  for (size_t k = 0; k < specials.size(); ++k) {
    const std::string &t = data.tokens[specials[k].id];
    specialFirstByte[static_cast<uint8_t>(t[0])] = true;
    int32_t node = 0;
    for (char ch : t) {
      auto c = static_cast<uint8_t>(ch);
      int32_t child = -1;
      for (const auto &[edge, target] : trie[node].next) {
        if (edge == c) {
          child = target;
          break;
        }
      }
      if (child < 0) {
        child = static_cast<int32_t>(trie.size());
        trie[node].next.emplace_back(c, child);
        trie.emplace_back();
      }
      node = child;
    }
    if (trie[node].special < 0) { // duplicates: the first (by order) wins
      trie[node].special = static_cast<int32_t>(k);
    }
  }
  return Status::ok();
}

void Tokenizer::Impl::encodeWord(std::string_view word,
                                 std::vector<int32_t> &out,
                                 Scratch &scratch) const {
  const ByteMap &map = byteMap();
  if (data.ignoreMerges) {
    std::string &mapped = scratch.mapped;
    mapped.resize(2 * word.size());
    char *p = mapped.data();
    for (char ch : word) {
      const std::string &m = map.utf8[static_cast<uint8_t>(ch)];
      p[0] = m[0];
      if (m.size() > 1) {
        p[1] = m[1];
      }
      p += m.size();
    }
    int32_t id =
        lookupToken(std::string_view(mapped.data(), p - mapped.data()));
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }

  auto &syms = scratch.symbols;
  const auto n = static_cast<int32_t>(word.size());
  syms.resize(n);
  for (int32_t i = 0; i < n; ++i) {
    syms[i] = Scratch::Symbol{byteSymbol[static_cast<uint8_t>(word[i])],
                              i - 1,
                              i + 1 < n ? i + 1 : -1,
                              static_cast<uint32_t>(i),
                              -1,
                              -1};
  }
  // The merge of symbol i with its successor, cached in the symbol.
  auto pairOf = [&](int32_t i) {
    Scratch::Symbol &s = syms[i];
    s.rank = -1;
    if (s.next < 0 || s.id < 0 || syms[s.next].id < 0) {
      return;
    }
    if (const PairEntry *p = findPair(s.id, syms[s.next].id)) {
      s.rank = p->rank;
      s.result = p->result;
    }
  };

  // Lowest rank first, leftmost on ties. Short words: scan the list for the
  // best pair each time; long ones: a heap of candidates.
  constexpr int32_t kLinearMax = 48;
  if (n > 1 && n <= kLinearMax) {
    for (int32_t i = 0; i + 1 < n; ++i) {
      pairOf(i);
    }
    for (;;) {
      int32_t best = -1;
      for (int32_t i = 0; i >= 0; i = syms[i].next) {
        if (syms[i].rank >= 0 && (best < 0 || syms[i].rank < syms[best].rank)) {
          best = i;
        }
      }
      if (best < 0) {
        break;
      }
      Scratch::Symbol &l = syms[best];
      int32_t r = l.next;
      l.id = l.result;
      l.next = syms[r].next;
      if (l.next >= 0) {
        syms[l.next].prev = best;
      }
      pairOf(best);
      if (l.prev >= 0) {
        pairOf(l.prev);
      }
    }
  } else if (n > 1) {
    auto &heap = scratch.heap;
    heap.clear();
    // Min-heap on (rank, left position).
    auto later = [](const Scratch::Candidate &x, const Scratch::Candidate &y) {
      return x.rank > y.rank || (x.rank == y.rank && x.left > y.left);
    };
    auto consider = [&](int32_t left, int32_t right) {
      if (left < 0 || right < 0) {
        return;
      }
      int32_t a = syms[left].id, b = syms[right].id;
      if (a < 0 || b < 0) {
        return;
      }
      if (const PairEntry *p = findPair(a, b)) {
        heap.push_back(Scratch::Candidate{p->rank, left, a, b, p->result});
        std::push_heap(heap.begin(), heap.end(), later);
      }
    };
    for (int32_t i = 0; i + 1 < n; ++i) {
      consider(i, i + 1);
    }
    const int32_t kDead = std::numeric_limits<int32_t>::min();
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), later);
      Scratch::Candidate c = heap.back();
      heap.pop_back();
      Scratch::Symbol &l = syms[c.left];
      if (l.id != c.leftId || l.next < 0 || syms[l.next].id != c.rightId) {
        continue; // stale: one side has changed since
      }
      int32_t r = l.next;
      l.id = c.result;
      l.next = syms[r].next;
      if (l.next >= 0) {
        syms[l.next].prev = c.left;
      }
      syms[r].id = kDead;
      consider(l.prev, c.left);
      consider(c.left, l.next);
    }
  }

  for (int32_t i = 0; i >= 0; i = syms[i].next) {
    int32_t id = syms[i].id;
    if (id >= 0 && id < nTokens) {
      out.push_back(id);
      continue;
    }
    // Not a vocabulary entry: llama.cpp's fallback looks up each byte of the
    // mapped text on its own.
    uint32_t end =
        syms[i].next >= 0 ? syms[syms[i].next].start : static_cast<uint32_t>(n);
    for (uint32_t k = syms[i].start; k < end; ++k) {
      for (char mb : map.utf8[static_cast<uint8_t>(word[k])]) {
        int32_t single = lookupToken(std::string_view(&mb, 1));
        if (single >= 0) {
          out.push_back(single);
        }
      }
    }
  }
}

void Tokenizer::Impl::encodeText(std::string_view text,
                                 std::vector<int32_t> &out,
                                 Scratch &scratch) const {
  CodePoints &t = scratch.cps;
  t.decode(text);
  const size_t end = t.cp.size();
  size_t pos = 0;
  while (pos < end) {
    size_t next = data.pre == TokenizerData::Pre::Llama3
                      ? nextPieceLlama3(t, pos, end)
                      : nextPieceGPT2(t, pos, end);
    encodeWord(text.substr(t.offset[pos], t.offset[next] - t.offset[pos]), out,
               scratch);
    pos = next;
  }
}

StatusOr<Tokenizer> Tokenizer::create(TokenizerData data) {
  auto impl = std::make_unique<Impl>();
  impl->data = std::move(data);
  Status s = impl->build();
  if (!s) {
    return s;
  }
  return Tokenizer(std::move(impl));
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer &&) noexcept = default;
Tokenizer &Tokenizer::operator=(Tokenizer &&) noexcept = default;
Tokenizer::~Tokenizer() = default;

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool addBos,
                                       bool parseSpecial) const {
  const Impl &im = *impl_;
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 2);
  if (addBos && im.data.bos >= 0) {
    out.push_back(im.data.bos);
  }
  Scratch scratch;

  // Which special tokens occur (one pass with the trie).
  struct Fragment {
    size_t offset, length;
    int32_t token; // >= 0: a special token
  };
  std::vector<Fragment> fragments{{0, text.size(), -1}};
  if (!im.specials.empty() && (parseSpecial || im.anyAlwaysSplit)) {
    std::vector<bool> present(im.specials.size(), false);
    bool any = false;
    for (size_t i = 0; i < text.size(); ++i) {
      if (!im.specialFirstByte[static_cast<uint8_t>(text[i])]) {
        continue;
      }
      int32_t node = 0;
      for (size_t j = i; j < text.size(); ++j) {
        auto c = static_cast<uint8_t>(text[j]);
        int32_t child = -1;
        for (const auto &[edge, target] : im.trie[node].next) {
          if (edge == c) {
            child = target;
            break;
          }
        }
        if (child < 0) {
          break;
        }
        node = child;
        int32_t k = im.trie[node].special;
        if (k >= 0 && (parseSpecial || im.specials[k].alwaysSplit)) {
          present[k] = true;
          any = true;
        }
      }
    }
    if (any) {
      // llama.cpp's partition: each special token, longest first, splits
      // every text fragment left at all of its occurrences.
      std::vector<Fragment> next;
      for (size_t k = 0; k < im.specials.size(); ++k) {
        if (!present[k]) {
          continue;
        }
        const int32_t id = im.specials[k].id;
        const std::string &s = im.data.tokens[id];
        next.clear();
        for (const Fragment &f : fragments) {
          if (f.token >= 0) {
            next.push_back(f);
            continue;
          }
          std::string_view frag = text.substr(f.offset, f.length);
          size_t pos = 0;
          for (;;) {
            size_t m = frag.find(s, pos);
            if (m == std::string_view::npos) {
              break;
            }
            if (m > pos) {
              next.push_back(Fragment{f.offset + pos, m - pos, -1});
            }
            next.push_back(Fragment{0, 0, id});
            pos = m + s.size();
          }
          if (pos < frag.size()) {
            next.push_back(Fragment{f.offset + pos, frag.size() - pos, -1});
          }
        }
        fragments.swap(next);
      }
    }
  }

  for (const Fragment &f : fragments) {
    if (f.token >= 0) {
      out.push_back(f.token);
    } else if (f.length > 0) {
      im.encodeText(text.substr(f.offset, f.length), out, scratch);
    }
  }
  return out;
}

std::string_view Tokenizer::tokenPiece(int32_t id) const {
  if (id < 0 || id >= impl_->nTokens) {
    return std::string_view();
  }
  return impl_->pieces[id];
}

std::string Tokenizer::tokenText(int32_t id) const {
  return std::string(tokenPiece(id));
}

std::string Tokenizer::decode(const std::vector<int32_t> &ids) const {
  std::string out;
  for (int32_t id : ids) {
    out += tokenPiece(id);
  }
  return out;
}

size_t Tokenizer::vocabSize() const { return impl_->data.tokens.size(); }

const TokenizerData &Tokenizer::data() const { return impl_->data; }

bool Tokenizer::isEndOfGeneration(int32_t id) const {
  for (int32_t e : impl_->eog) {
    if (e == id) {
      return true;
    }
  }
  return false;
}

int32_t Tokenizer::findToken(std::string_view text) const {
  return impl_->lookupToken(text);
}

std::vector<std::string> splitPreTokens(std::string_view text,
                                        TokenizerData::Pre pre) {
  CodePoints t;
  t.decode(text);
  std::vector<std::string> pieces;
  const size_t end = t.cp.size();
  for (size_t pos = 0; pos < end;) {
    size_t next = pre == TokenizerData::Pre::Llama3
                      ? nextPieceLlama3(t, pos, end)
                      : nextPieceGPT2(t, pos, end);
    pieces.emplace_back(
        text.substr(t.offset[pos], t.offset[next] - t.offset[pos]));
    pos = next;
  }
  return pieces;
}

//===----------------------------------------------------------------------===//
// StreamDecoder.
//===----------------------------------------------------------------------===//

StreamDecoder::StreamDecoder(const Tokenizer &tokenizer)
    : tokenizer_(&tokenizer) {}

std::string StreamDecoder::feed(int32_t id) {
  pending_ += tokenizer_->tokenPiece(id);
  return take(/*final=*/false);
}

std::string StreamDecoder::flush() { return take(/*final=*/true); }

std::string StreamDecoder::take(bool final) {
  size_t complete =
      final ? pending_.size() : unicode::completeUtf8Length(pending_);
  std::string_view ready(pending_.data(), complete);
  std::string out;
  if (unicode::isValidUtf8(ready)) {
    out.assign(ready);
  } else {
    size_t i = 0;
    while (i < ready.size()) {
      uint32_t cp;
      bool valid;
      size_t len =
          unicode::decodeUtf8(ready.data() + i, ready.size() - i, &cp, &valid);
      if (valid) {
        out.append(ready.substr(i, len));
      } else {
        unicode::appendUtf8(out, 0xFFFD);
      }
      i += len;
    }
  }
  pending_.erase(0, complete);
  return out;
}

} // namespace lfm2c::rt
