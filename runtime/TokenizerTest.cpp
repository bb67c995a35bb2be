//===- TokenizerTest.cpp - Byte-level BPE tokenizer on built vocabularies -===//
//
// Unicode classes and UTF-8 helpers, the two pre-tokenizer regexes, BPE
// merging, special-token splitting, decoding, the stream decoder and the
// binary form, on small vocabularies built here. The fixture vocabularies
// (GGUF and tokenizer.json) are tested in frontend/TokenizerLoaderTest.cpp.
//
//===----------------------------------------------------------------------===//
#include "runtime/Tokenizer.h"
#include "runtime/Unicode.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

using namespace lfm2c;
using namespace lfm2c::rt;

namespace {

using Pre = TokenizerData::Pre;

// GPT-2's byte-to-unicode character of byte b, as UTF-8.
std::string mappedByte(uint8_t b) {
  uint32_t n = 256, cp = 0;
  for (uint32_t x = 0; x < 256; ++x) {
    bool printable = (x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) ||
                     (x >= 0xAE && x <= 0xFF);
    uint32_t c = printable ? x : n++;
    if (x == b) {
      cp = c;
    }
  }
  std::string s;
  unicode::appendUtf8(s, cp);
  return s;
}

std::string mapped(const std::string &raw) {
  std::string s;
  for (char c : raw) {
    s += mappedByte(static_cast<uint8_t>(c));
  }
  return s;
}

// Ids: 0 <s> (control), 1 </s> (control), 2 <|im_end|> (control),
// 3 <user> (user-defined), 4 <|im (control, a prefix of 2), 5 unused,
// 6..261 the 256 bytes, then one token per merge.
struct Vocab {
  TokenizerData data;
  int32_t byteId(uint8_t b) const { return 6 + b; }
  int32_t add(const std::string &tok, int32_t type = kTokenNormal) {
    data.tokens.push_back(tok);
    data.types.push_back(type);
    return static_cast<int32_t>(data.tokens.size() - 1);
  }
  // Adds merge (a, b) over raw strings and its result token.
  int32_t merge(const std::string &a, const std::string &b) {
    data.merges.emplace_back(mapped(a), mapped(b));
    return add(mapped(a + b));
  }
};

Vocab baseVocab(Pre pre, bool ignoreMerges) {
  Vocab v;
  v.add("<s>", kTokenControl);
  v.add("</s>", kTokenControl);
  v.add("<|im_end|>", kTokenControl);
  v.add("<user>", kTokenUserDefined);
  v.add("<|im", kTokenControl);
  v.add("[PAD5]", kTokenUnused);
  for (int b = 0; b < 256; ++b) {
    v.add(mappedByte(static_cast<uint8_t>(b)));
  }
  v.data.pre = pre;
  v.data.ignoreMerges = ignoreMerges;
  v.data.bos = 0;
  v.data.eos = 1;
  v.data.endOfGeneration = {1, 2};
  return v;
}

Tokenizer make(TokenizerData d) {
  StatusOr<Tokenizer> t = Tokenizer::create(std::move(d));
  EXPECT_TRUE(t.isOk()) << t.status().message();
  return std::move(t.value());
}

using Ids = std::vector<int32_t>;
using Pieces = std::vector<std::string>;

//===----------------------------------------------------------------------===//
// Unicode.
//===----------------------------------------------------------------------===//

TEST(Unicode, Classes) {
  using namespace unicode;
  EXPECT_EQ(codePointFlags('a'), kLetter);
  EXPECT_EQ(codePointFlags('Z'), kLetter);
  EXPECT_EQ(codePointFlags('5'), kNumber);
  EXPECT_EQ(codePointFlags(' '), kWhitespace);
  EXPECT_EQ(codePointFlags('\t'), kWhitespace);
  EXPECT_EQ(codePointFlags('\n'), kWhitespace);
  EXPECT_EQ(codePointFlags(0x0B), kWhitespace);
  EXPECT_EQ(codePointFlags(0x1C), 0); // isspace() in Python, not White_Space
  EXPECT_EQ(codePointFlags(0x85), kWhitespace);
  EXPECT_EQ(codePointFlags(0xA0), kWhitespace);
  EXPECT_EQ(codePointFlags(0x3000), kWhitespace);
  EXPECT_EQ(codePointFlags(0x200B), 0);        // zero width space is Cf
  EXPECT_EQ(codePointFlags(0xE9), kLetter);    // é
  EXPECT_EQ(codePointFlags(0xAA), kLetter);    // ª (Lo)
  EXPECT_EQ(codePointFlags(0xB2), kNumber);    // ² (No)
  EXPECT_EQ(codePointFlags(0xBD), kNumber);    // ½
  EXPECT_EQ(codePointFlags(0x0663), kNumber);  // Arabic-Indic three
  EXPECT_EQ(codePointFlags(0x2167), kNumber);  // Roman numeral eight (Nl)
  EXPECT_EQ(codePointFlags(0x65E5), kLetter);  // 日
  EXPECT_EQ(codePointFlags(0x30C6), kLetter);  // テ
  EXPECT_EQ(codePointFlags(0xAC00), kLetter);  // 가
  EXPECT_EQ(codePointFlags(0x0301), 0);        // combining acute (Mn)
  EXPECT_EQ(codePointFlags(0x1F642), 0);       // 🙂
  EXPECT_EQ(codePointFlags(0x20000), kLetter); // CJK extension B
  EXPECT_EQ(codePointFlags(0xD800), 0);        // surrogate
  EXPECT_EQ(codePointFlags(0x110000), 0);
  EXPECT_EQ(codePointFlags('!'), 0);
  EXPECT_EQ(codePointFlags('_'), 0);
}

TEST(Unicode, Utf8) {
  using namespace unicode;
  EXPECT_TRUE(isValidUtf8("héllo 日本 🙂"));
  EXPECT_FALSE(isValidUtf8("\xC0\x80"));         // overlong
  EXPECT_FALSE(isValidUtf8("\xED\xA0\x80"));     // surrogate
  EXPECT_FALSE(isValidUtf8("\xF4\x90\x80\x80")); // > U+10FFFF
  EXPECT_FALSE(isValidUtf8("\xE6\x97"));         // truncated
  EXPECT_FALSE(isValidUtf8("\x80"));
  std::string s;
  for (uint32_t cp : {0x41u, 0xE9u, 0x65E5u, 0x1F642u}) {
    appendUtf8(s, cp);
  }
  EXPECT_EQ(s, "Aé日🙂");
  uint32_t cp;
  bool valid;
  EXPECT_EQ(decodeUtf8("🙂", 4, &cp, &valid), 4u);
  EXPECT_EQ(cp, 0x1F642u);
  EXPECT_TRUE(valid);
  EXPECT_EQ(decodeUtf8("\xF0\x9F\x99", 3, &cp, &valid), 1u);
  EXPECT_FALSE(valid);
  EXPECT_EQ(cp, 0xFFFDu);

  EXPECT_EQ(completeUtf8Length(""), 0u);
  EXPECT_EQ(completeUtf8Length("ab"), 2u);
  EXPECT_EQ(completeUtf8Length("a\xF0\x9F\x99"), 1u);
  EXPECT_EQ(completeUtf8Length("a\xF0\x9F"), 1u);
  EXPECT_EQ(completeUtf8Length("a\xF0"), 1u);
  EXPECT_EQ(completeUtf8Length("a\xF0\x9F\x99\x82"), 5u);
  EXPECT_EQ(completeUtf8Length("a\xE6\x97"), 1u);
  EXPECT_EQ(completeUtf8Length("a\xE0\x80"), 3u); // can never be valid
  EXPECT_EQ(completeUtf8Length("a\x80"), 2u);     // stray continuation
  EXPECT_EQ(completeUtf8Length("a\xC3"), 1u);
  EXPECT_EQ(completeUtf8Length("a\xFF"), 2u);
}

//===----------------------------------------------------------------------===//
// Pre-tokenizers.
//===----------------------------------------------------------------------===//

TEST(PreTokenizer, Llama3) {
  auto split = [](const std::string &s) {
    return splitPreTokens(s, Pre::Llama3);
  };
  EXPECT_EQ(split("Hello world"), (Pieces{"Hello", " world"}));
  EXPECT_EQ(split("I'm sure they'll"),
            (Pieces{"I", "'m", " sure", " they", "'ll"}));
  EXPECT_EQ(split("DON'T it'S WE'LL"),
            (Pieces{"DON", "'T", " it", "'S", " WE", "'LL"}));
  EXPECT_EQ(split("1234567"), (Pieces{"123", "456", "7"}));
  EXPECT_EQ(split("abc123def"), (Pieces{"abc", "123", "def"}));
  EXPECT_EQ(split(" 42"), (Pieces{" ", "42"}));
  EXPECT_EQ(split("   three"), (Pieces{"  ", " three"}));
  EXPECT_EQ(split("trailing   "), (Pieces{"trailing", "   "}));
  EXPECT_EQ(split("a\n\nb"), (Pieces{"a", "\n\n", "b"}));
  EXPECT_EQ(split("a  \n  b"), (Pieces{"a", "  \n", " ", " b"}));
  EXPECT_EQ(split("foo!\r\nbar"), (Pieces{"foo", "!\r\n", "bar"}));
  EXPECT_EQ(split("$$$ ((( )))"), (Pieces{"$$$", " (((", " )))"}));
  EXPECT_EQ(split("\tx"), (Pieces{"\tx"}));
  EXPECT_EQ(split("_name"), (Pieces{"_name"}));
  EXPECT_EQ(split("'hello"), (Pieces{"'hello"}));
  EXPECT_EQ(split("x "), (Pieces{"x", " "}));
  EXPECT_EQ(split("日本語のテキストです。"),
            (Pieces{"日本語のテキストです", "。"}));
  EXPECT_EQ(split("Emoji: 🙂🚀 ✅"), (Pieces{"Emoji", ":", " 🙂🚀", " ✅"}));
  EXPECT_EQ(split(""), Pieces{});
}

TEST(PreTokenizer, GPT2) {
  auto split = [](const std::string &s) {
    return splitPreTokens(s, Pre::GPT2);
  };
  EXPECT_EQ(split("Hello world"), (Pieces{"Hello", " world"}));
  EXPECT_EQ(split("I'm DON'T"), (Pieces{"I", "'m", " DON", "'", "T"}));
  EXPECT_EQ(split("1234567 89"), (Pieces{"1234567", " 89"}));
  EXPECT_EQ(split("   three"), (Pieces{"  ", " three"}));
  EXPECT_EQ(split("a\n\nb"), (Pieces{"a", "\n", "\n", "b"}));
  EXPECT_EQ(split("a\n\n"), (Pieces{"a", "\n\n"}));
  EXPECT_EQ(split("\tx"), (Pieces{"\t", "x"}));
  EXPECT_EQ(split("foo!!\nbar"), (Pieces{"foo", "!!", "\n", "bar"}));
  EXPECT_EQ(split(" "), (Pieces{" "}));
}

TEST(PreTokenizer, InvalidUtf8KeepsBytes) {
  std::string s = "ab\xFF\xFE cd\xE6\x97";
  Pieces p = splitPreTokens(s, Pre::Llama3);
  std::string joined;
  for (const auto &x : p) {
    joined += x;
  }
  EXPECT_EQ(joined, s);
  EXPECT_EQ(p, (Pieces{"ab", "\xFF\xFE", " cd", "\xE6\x97"}));
}

//===----------------------------------------------------------------------===//
// BPE.
//===----------------------------------------------------------------------===//

TEST(Tokenizer, MergesByRank) {
  Vocab v = baseVocab(Pre::Llama3, /*ignoreMerges=*/false);
  int32_t ll = v.merge("l", "l");
  int32_t he = v.merge("h", "e");
  int32_t hell = v.merge("he", "ll");
  int32_t hello = v.merge("hell", "o");
  int32_t sp_w = v.merge(" ", "w");
  Tokenizer t = make(v.data);
  EXPECT_EQ(t.encode("hello", false, false), (Ids{hello}));
  EXPECT_EQ(t.encode("hello world", false, false),
            (Ids{hello, sp_w, v.byteId('o'), v.byteId('r'), v.byteId('l'),
                 v.byteId('d')}));
  EXPECT_EQ(t.encode("hell", false, false), (Ids{hell}));
  EXPECT_EQ(t.encode("lll", false, false), (Ids{ll, v.byteId('l')}));
  EXPECT_EQ(t.encode("hel", false, false), (Ids{he, v.byteId('l')}));
  EXPECT_EQ(t.encode("hello", true, false), (Ids{0, hello}));
}

TEST(Tokenizer, LeftmostOnEqualRank) {
  Vocab v = baseVocab(Pre::Llama3, false);
  int32_t aa = v.merge("a", "a");
  Tokenizer t = make(v.data);
  EXPECT_EQ(t.encode("aaa", false, false), (Ids{aa, v.byteId('a')}));
  EXPECT_EQ(t.encode("aaaa", false, false), (Ids{aa, aa}));
}

TEST(Tokenizer, IgnoreMergesUsesWholeWord) {
  // "abc" is in the vocabulary but no merge sequence reaches it.
  for (bool ignore : {false, true}) {
    Vocab v = baseVocab(Pre::Llama3, ignore);
    int32_t ab = v.merge("a", "b");
    int32_t abc = v.add(mapped("abc"));
    Tokenizer t = make(v.data);
    Ids expected = ignore ? Ids{abc} : Ids{ab, v.byteId('c')};
    EXPECT_EQ(t.encode("abc", false, false), expected) << ignore;
  }
}

// A plain string-based BPE (lowest rank first, leftmost on ties) to check
// both merge paths (short words: list scan; long words: heap) against.
Ids referenceBpe(const Vocab &v, const std::string &word) {
  std::map<std::pair<std::string, std::string>, size_t> ranks;
  for (size_t r = 0; r < v.data.merges.size(); ++r) {
    ranks.emplace(v.data.merges[r], r);
  }
  std::vector<std::string> syms;
  for (char c : word) {
    syms.push_back(mappedByte(static_cast<uint8_t>(c)));
  }
  for (;;) {
    size_t best = 0, bestRank = SIZE_MAX;
    for (size_t i = 0; i + 1 < syms.size(); ++i) {
      auto it = ranks.find({syms[i], syms[i + 1]});
      if (it != ranks.end() && it->second < bestRank) {
        bestRank = it->second;
        best = i;
      }
    }
    if (bestRank == SIZE_MAX) {
      break;
    }
    syms[best] += syms[best + 1];
    syms.erase(syms.begin() + best + 1);
  }
  Ids ids;
  for (const auto &s : syms) {
    auto it = std::find(v.data.tokens.begin(), v.data.tokens.end(), s);
    ids.push_back(static_cast<int32_t>(it - v.data.tokens.begin()));
  }
  return ids;
}

TEST(Tokenizer, MergesMatchReferenceForShortAndLongWords) {
  std::mt19937 rng(11);
  Vocab v = baseVocab(Pre::Llama3, false);
  std::vector<std::string> pieces = {"a", "b", "c"};
  std::set<std::string> seen(pieces.begin(), pieces.end());
  while (v.data.merges.size() < 60) {
    const std::string &x = pieces[rng() % pieces.size()];
    const std::string &y = pieces[rng() % pieces.size()];
    if (x.size() + y.size() > 8 || seen.count(x + y)) {
      continue;
    }
    v.merge(x, y);
    seen.insert(x + y);
    pieces.push_back(x + y);
  }
  Tokenizer t = make(v.data);
  for (int iter = 0; iter < 400; ++iter) {
    std::string word;
    size_t len = 1 + rng() % 150;
    for (size_t k = 0; k < len; ++k) {
      word.push_back("abc"[rng() % 3]);
    }
    ASSERT_EQ(t.encode(word, false, false), referenceBpe(v, word)) << word;
  }
}

TEST(Tokenizer, MergeResultOutsideVocabularyFallsBackToBytes) {
  Vocab v = baseVocab(Pre::Llama3, false);
  v.data.merges.emplace_back("x", "y"); // "xy" is not a token
  Tokenizer t = make(v.data);
  EXPECT_EQ(t.encode("xy", false, false), (Ids{v.byteId('x'), v.byteId('y')}));
}

TEST(Tokenizer, SpecialTokens) {
  Vocab v = baseVocab(Pre::Llama3, false);
  Tokenizer t = make(v.data);
  auto bytes = [&](const std::string &s) {
    Ids ids;
    for (char c : s) {
      ids.push_back(v.byteId(static_cast<uint8_t>(c)));
    }
    return ids;
  };
  // Longest first: <|im_end|> wins over its prefix <|im.
  EXPECT_EQ(t.encode("a<|im_end|>b", false, true),
            (Ids{v.byteId('a'), 2, v.byteId('b')}));
  EXPECT_EQ(t.encode("<|im<|im_end|>", false, true), (Ids{4, 2}));
  EXPECT_EQ(t.encode("<s></s><s>", false, true), (Ids{0, 1, 0}));
  // Without parseSpecial, control tokens are text ...
  Ids plain = t.encode("<s>", false, false);
  EXPECT_EQ(plain, bytes("<s>"));
  // ... but user-defined tokens still split.
  EXPECT_EQ(t.encode("x<user>y", false, false),
            (Ids{v.byteId('x'), 3, v.byteId('y')}));
  EXPECT_EQ(t.encode("x<user>y", false, true),
            (Ids{v.byteId('x'), 3, v.byteId('y')}));
  // Text around a special token is pre-tokenized on its own.
  EXPECT_EQ(t.encode("<s>", true, true), (Ids{0, 0}));
  EXPECT_EQ(t.decode({0, 2, 3}), "<s><|im_end|><user>");
  EXPECT_EQ(t.tokenText(5), ""); // unused
  EXPECT_EQ(t.tokenText(-1), "");
  EXPECT_EQ(t.tokenText(100000), "");
  EXPECT_TRUE(t.isEndOfGeneration(1));
  EXPECT_TRUE(t.isEndOfGeneration(2));
  EXPECT_FALSE(t.isEndOfGeneration(0));
  EXPECT_EQ(t.findToken("<|im_end|>"), 2);
  EXPECT_EQ(t.findToken("nope"), -1);
}

TEST(Tokenizer, RoundTripArbitraryBytes) {
  Vocab v = baseVocab(Pre::Llama3, true);
  v.merge("a", "b");
  v.merge(" ", "a");
  v.merge("\xE6", "\x97");
  Tokenizer t = make(v.data);
  std::mt19937 rng(7);
  const char alphabet[] = "ab  \n\r\t'sS1<>|/\xE6\x97\xA5\xF0\x9F\x99\x82\xFF";
  for (int iter = 0; iter < 2000; ++iter) {
    std::string s;
    int len = static_cast<int>(rng() % 40);
    for (int k = 0; k < len; ++k) {
      s.push_back(alphabet[rng() % (sizeof(alphabet) - 1)]);
    }
    for (bool special : {false, true}) {
      EXPECT_EQ(t.decode(t.encode(s, false, special)), s);
    }
    for (Pre pre : {Pre::Llama3, Pre::GPT2}) {
      std::string joined;
      for (const auto &p : splitPreTokens(s, pre)) {
        EXPECT_FALSE(p.empty());
        joined += p;
      }
      EXPECT_EQ(joined, s);
    }
  }
}

TEST(Tokenizer, CreateRejectsBadData) {
  Vocab v = baseVocab(Pre::Llama3, false);
  {
    TokenizerData d = v.data;
    d.types.pop_back();
    auto t = Tokenizer::create(d);
    ASSERT_FALSE(t.isOk());
    EXPECT_NE(t.status().message().find("token types"), std::string::npos);
  }
  {
    TokenizerData d = v.data;
    d.bos = 100000;
    auto t = Tokenizer::create(d);
    ASSERT_FALSE(t.isOk());
    EXPECT_NE(t.status().message().find("bos id"), std::string::npos);
  }
  {
    TokenizerData d = v.data;
    d.types[7] = 9;
    EXPECT_FALSE(Tokenizer::create(d).isOk());
  }
  {
    TokenizerData d = v.data;
    d.endOfGeneration.push_back(-3);
    EXPECT_FALSE(Tokenizer::create(d).isOk());
  }
  EXPECT_FALSE(Tokenizer::create(TokenizerData{}).isOk());
}

//===----------------------------------------------------------------------===//
// StreamDecoder.
//===----------------------------------------------------------------------===//

TEST(StreamDecoder, HoldsBackIncompleteSequences) {
  Vocab v = baseVocab(Pre::Llama3, false);
  Tokenizer t = make(v.data);
  const std::string text = "a日本🙂 é<|im_end|>";
  Ids ids = t.encode(text, false, true);
  StreamDecoder dec(t);
  std::string all;
  for (int32_t id : ids) {
    std::string chunk = dec.feed(id);
    EXPECT_TRUE(unicode::isValidUtf8(chunk));
    EXPECT_LE(dec.pending(), 3u);
    all += chunk;
  }
  all += dec.flush();
  EXPECT_EQ(all, text);
  EXPECT_EQ(dec.pending(), 0u);
}

TEST(StreamDecoder, ReplacesInvalidBytes) {
  Vocab v = baseVocab(Pre::Llama3, false);
  Tokenizer t = make(v.data);
  StreamDecoder dec(t);
  EXPECT_EQ(dec.feed(v.byteId(0xFF)), "\xEF\xBF\xBD");
  EXPECT_EQ(dec.feed(v.byteId(0xE6)), "");
  EXPECT_EQ(dec.feed(v.byteId(0x97)), "");
  EXPECT_EQ(dec.feed(v.byteId('x')), "\xEF\xBF\xBD\xEF\xBF\xBDx");
  EXPECT_EQ(dec.feed(v.byteId(0xC3)), "");
  EXPECT_EQ(dec.flush(), "\xEF\xBF\xBD");
  EXPECT_EQ(dec.flush(), "");
}

//===----------------------------------------------------------------------===//
// Binary form.
//===----------------------------------------------------------------------===//

TEST(TokenizerData, SerializeRoundTrip) {
  Vocab v = baseVocab(Pre::GPT2, true);
  v.merge("a", "b");
  v.merge(" ", "ab");
  v.data.addBos = true;
  v.data.eot = 2;
  v.data.pad = 5;
  std::string blob = v.data.serialize();
  auto back = TokenizerData::deserialize(
      reinterpret_cast<const uint8_t *>(blob.data()), blob.size());
  ASSERT_TRUE(back.isOk()) << back.status().message();
  const TokenizerData &d = *back;
  EXPECT_EQ(d.tokens, v.data.tokens);
  EXPECT_EQ(d.types, v.data.types);
  EXPECT_EQ(d.merges, v.data.merges);
  EXPECT_EQ(d.pre, Pre::GPT2);
  EXPECT_TRUE(d.ignoreMerges);
  EXPECT_TRUE(d.addBos);
  EXPECT_EQ(d.bos, 0);
  EXPECT_EQ(d.eos, 1);
  EXPECT_EQ(d.eot, 2);
  EXPECT_EQ(d.pad, 5);
  EXPECT_EQ(d.endOfGeneration, v.data.endOfGeneration);
  EXPECT_EQ(d.serialize(), blob);
}

TEST(TokenizerData, DamagedBlobsFail) {
  Vocab v = baseVocab(Pre::Llama3, false);
  v.merge("a", "b");
  std::string blob = v.data.serialize();
  const auto *p = reinterpret_cast<const uint8_t *>(blob.data());
  // Every truncation fails (and, under the sanitizers, reads nothing past
  // the end: the copy below has exactly `len` bytes).
  for (size_t len = 0; len < blob.size(); ++len) {
    std::vector<uint8_t> copy(p, p + len);
    auto r = TokenizerData::deserialize(copy.data(), copy.size());
    EXPECT_FALSE(r.isOk()) << len;
  }
  {
    std::string longer = blob + "x";
    auto r = TokenizerData::deserialize(
        reinterpret_cast<const uint8_t *>(longer.data()), longer.size());
    ASSERT_FALSE(r.isOk());
    EXPECT_NE(r.status().message().find("trailing"), std::string::npos);
  }
  {
    std::string bad = blob;
    bad[4] = 2; // version
    auto r = TokenizerData::deserialize(
        reinterpret_cast<const uint8_t *>(bad.data()), bad.size());
    ASSERT_FALSE(r.isOk());
    EXPECT_NE(r.status().message().find("version"), std::string::npos);
  }
  {
    std::string bad = blob;
    bad[0] = 'X';
    EXPECT_FALSE(TokenizerData::deserialize(
                     reinterpret_cast<const uint8_t *>(bad.data()), bad.size())
                     .isOk());
  }
  {
    std::string bad = blob;
    bad[12] = 0x7F; // bos = huge
    bad[13] = 0x7F;
    EXPECT_FALSE(TokenizerData::deserialize(
                     reinterpret_cast<const uint8_t *>(bad.data()), bad.size())
                     .isOk());
  }
  // Random single-byte corruption never crashes.
  std::mt19937 rng(3);
  for (int iter = 0; iter < 3000; ++iter) {
    std::vector<uint8_t> copy(p, p + blob.size());
    copy[rng() % copy.size()] = static_cast<uint8_t>(rng());
    auto r = TokenizerData::deserialize(copy.data(), copy.size());
    if (r.isOk()) {
      (void)Tokenizer::create(std::move(*r));
    }
  }
  EXPECT_FALSE(TokenizerData::deserialize(nullptr, 0).isOk());
}

} // namespace
