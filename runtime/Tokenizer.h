//===- Tokenizer.h - Byte-level BPE tokenizer carried by model binaries --===//
//
// The GPT-2 style byte-level BPE of LFM2 (and GPT-2 / Llama-3) vocabularies,
// with the semantics of llama.cpp's BPE tokenizer session:
//
//  1. With parseSpecial, control (3) and unknown (2) tokens split the text
//     first; user-defined (4) tokens always do. Tokens are tried longest
//     first, each one splitting every text fragment left at its occurrences.
//  2. Each fragment is split by the pre-tokenizer regex (Llama-3 or GPT-2
//     style), implemented as hand-written matchers over code points.
//  3. Each piece's bytes are mapped to GPT-2's byte-to-unicode characters; if
//     ignoreMerges and the mapped piece is a vocabulary entry it is emitted as
//     one token, otherwise BPE merges are applied by rank (lowest rank first,
//     leftmost on ties).
//
// Unlike llama.cpp, input that is not valid UTF-8 is not replaced by U+FFFD:
// each invalid byte is classed like U+FFFD (a symbol) but keeps its own byte,
// so decode(encode(s)) == s for any byte string. As in llama.cpp, the
// case-insensitive contractions of the Llama-3 regex fold ASCII only (a real
// regex engine would also take "'\u017F" (long s) as "'s").
//
// A Tokenizer is immutable after create(): encode and decode may run
// concurrently from several threads.
//
// TokenizerData is what the compiler stores in the weights file
// (serialize()); the binary reads it back with deserialize().
//
//===----------------------------------------------------------------------===//
#ifndef LFM2C_RUNTIME_TOKENIZER_H
#define LFM2C_RUNTIME_TOKENIZER_H

#include "runtime/Status.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lfm2c::rt {

// llama.cpp token types (GGUF tokenizer.ggml.token_type).
enum TokenType : int32_t {
  kTokenNormal = 1,
  kTokenUnknown = 2,
  kTokenControl = 3,
  kTokenUserDefined = 4,
  kTokenUnused = 5,
  kTokenByte = 6,
};

struct TokenizerData {
  // Token texts: byte-level mapped for normal tokens ("Ġthe"), raw text for
  // control and user-defined tokens ("<|im_end|>").
  std::vector<std::string> tokens;
  std::vector<int32_t> types; // TokenType, one per token
  std::vector<std::pair<std::string, std::string>> merges; // rank order
  enum class Pre : uint8_t { Llama3 = 0, GPT2 = 1 };
  Pre pre = Pre::Llama3;
  // A whole pre-token found in the vocabulary becomes one token without
  // merging (llama.cpp for llama3/lfm2, HF "ignore_merges").
  bool ignoreMerges = false;
  int32_t bos = -1, eos = -1, eot = -1, pad = -1;
  bool addBos = false;
  // Ids that end generation, e.g. <|im_end|> 7 and <|endoftext|> 2.
  std::vector<int32_t> endOfGeneration;

  // A compact, versioned, little-endian binary form.
  std::string serialize() const;
  // Parses serialize()'s output; every read is bounds-checked and the ids
  // are range-checked. Trailing bytes are an error.
  static StatusOr<TokenizerData> deserialize(const uint8_t *data, size_t size);
};

class Tokenizer {
public:
  // Checks the data (types, ids, merges) and builds the lookup tables.
  static StatusOr<Tokenizer> create(TokenizerData data);

  std::vector<int32_t> encode(std::string_view text, bool addBos,
                              bool parseSpecial) const;
  // Concatenation of tokenText; ids out of range are skipped.
  std::string decode(const std::vector<int32_t> &ids) const;
  // The raw bytes of one token: normal tokens through the inverse byte
  // mapping, control/user-defined/unknown tokens as their text, unused
  // tokens and out-of-range ids empty.
  std::string tokenText(int32_t id) const;
  // The same without a copy; valid while the Tokenizer lives.
  std::string_view tokenPiece(int32_t id) const;

  size_t vocabSize() const;
  const TokenizerData &data() const;
  bool isEndOfGeneration(int32_t id) const;
  // The id of a token with exactly this (vocabulary-form) text, or -1.
  int32_t findToken(std::string_view text) const;

  Tokenizer(Tokenizer &&) noexcept;
  Tokenizer &operator=(Tokenizer &&) noexcept;
  ~Tokenizer();

private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The pre-tokenizer alone: the pieces `text` is split into before byte
// mapping and BPE (for tests and debugging).
std::vector<std::string> splitPreTokens(std::string_view text,
                                        TokenizerData::Pre pre);

// Turns a stream of token ids into text that is always complete UTF-8: an
// incomplete multi-byte sequence at the end is held back until the next
// tokens complete it. Bytes that cannot become valid UTF-8 are replaced by
// U+FFFD, so every returned chunk is valid UTF-8; for token sequences whose
// decode() is valid UTF-8 the chunks concatenate to exactly decode().
class StreamDecoder {
public:
  // The tokenizer must outlive the decoder.
  explicit StreamDecoder(const Tokenizer &tokenizer);

  // The text that became complete with this token (may be empty).
  std::string feed(int32_t id);
  // Whatever is held back (an incomplete sequence: each of its bytes as
  // U+FFFD); leaves the decoder empty, ready for a new stream.
  std::string flush();
  // Bytes currently held back (0..3).
  size_t pending() const { return pending_.size(); }

private:
  std::string take(bool final);

  const Tokenizer *tokenizer_;
  std::string pending_;
};

} // namespace lfm2c::rt

#endif // LFM2C_RUNTIME_TOKENIZER_H
