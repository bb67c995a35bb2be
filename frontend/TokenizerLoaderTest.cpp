//===- TokenizerLoaderTest.cpp - Tokenizers of the fixtures vs goldens ----===//
//
// The GPT-2 vocabulary against llama.cpp's 46 test strings, and the fixture
// LFM2 vocabulary, read from the GGUF and from tokenizer.json, against the
// llama-tokenize goldens with and without special-token parsing (see
// fixtures/README.md section 5). Also: round trips, streaming decode,
// the binary form, malformed inputs, and encode speed.
//
//===----------------------------------------------------------------------===//
#include "frontend/TokenizerLoader.h"
#include "runtime/Tokenizer.h"
#include "runtime/Unicode.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

using namespace lfm2c;
using namespace lfm2c::rt;
namespace fs = std::filesystem;

namespace {

const std::string kFixtures = LFM2C_FIXTURES_DIR;
const std::string kTokDir = kFixtures + "/tokenizers";
const std::string kTinyGGUF = kFixtures + "/tiny-lfm2moe/model-f32.gguf";
const std::string kTinyHF = kFixtures + "/tiny-lfm2moe/hf";

using Ids = std::vector<int32_t>;

std::string readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// llama.cpp's test-tokenizer-0 input: strings each followed by the separator.
std::vector<std::string> readInputs(const std::string &path) {
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::string all = readFile(path);
  std::vector<std::string> out;
  size_t pos = 0;
  for (;;) {
    size_t m = all.find(sep, pos);
    if (m == std::string::npos) {
      break;
    }
    out.push_back(all.substr(pos, m - pos));
    pos = m + sep.size();
  }
  EXPECT_EQ(pos, all.size()) << "text after the last separator in " << path;
  return out;
}

std::vector<Ids> readOutputs(const std::string &path) {
  std::string all = readFile(path);
  std::vector<Ids> out;
  size_t pos = 0;
  while (pos < all.size()) {
    size_t nl = all.find('\n', pos);
    if (nl == std::string::npos) {
      nl = all.size();
    }
    std::istringstream line(all.substr(pos, nl - pos));
    Ids ids;
    int64_t id;
    while (line >> id) {
      ids.push_back(static_cast<int32_t>(id));
    }
    out.push_back(ids);
    pos = nl + 1;
  }
  return out;
}

std::string show(const Ids &ids) {
  std::string s;
  for (int32_t id : ids) {
    s += " " + std::to_string(id);
  }
  return s;
}

Tokenizer makeTokenizer(StatusOr<TokenizerData> data) {
  EXPECT_TRUE(data.isOk()) << data.status().message();
  StatusOr<Tokenizer> t = Tokenizer::create(std::move(*data));
  EXPECT_TRUE(t.isOk()) << t.status().message();
  return std::move(*t);
}

Tokenizer fromGGUF(const std::string &path) {
  auto file = GGUFFile::open(path);
  EXPECT_TRUE(file.isOk()) << file.status().message();
  return makeTokenizer(tokenizerFromGGUF(**file));
}

// Encodes every input and compares with the goldens; returns the matches.
size_t checkGoldens(const Tokenizer &t, const std::vector<std::string> &inputs,
                    const std::vector<Ids> &expected, bool parseSpecial,
                    const std::string &what) {
  EXPECT_EQ(inputs.size(), expected.size()) << what;
  size_t matches = 0;
  for (size_t i = 0; i < inputs.size() && i < expected.size(); ++i) {
    Ids got = t.encode(inputs[i], /*addBos=*/false, parseSpecial);
    if (got == expected[i]) {
      ++matches;
    } else {
      ADD_FAILURE() << what << " line " << i + 1 << " text '" << inputs[i]
                    << "'\n  expected" << show(expected[i]) << "\n  got     "
                    << show(got);
    }
    EXPECT_EQ(t.decode(got), inputs[i]) << what << " line " << i + 1;
  }
  return matches;
}

//===----------------------------------------------------------------------===//
// GPT-2.
//===----------------------------------------------------------------------===//

TEST(GPT2Vocab, MatchesLlamaCppGoldens) {
  Tokenizer t = fromGGUF(kTokDir + "/ggml-vocab-gpt-2.gguf");
  EXPECT_EQ(t.vocabSize(), 50257u);
  EXPECT_EQ(t.data().pre, TokenizerData::Pre::GPT2);
  EXPECT_FALSE(t.data().ignoreMerges);
  EXPECT_FALSE(t.data().addBos);
  EXPECT_EQ(t.data().merges.size(), 50000u);
  EXPECT_EQ(t.data().bos, 50256);
  EXPECT_TRUE(t.isEndOfGeneration(50256)); // <|endoftext|>
  auto inputs = readInputs(kTokDir + "/ggml-vocab-gpt-2.gguf.inp");
  auto expected = readOutputs(kTokDir + "/ggml-vocab-gpt-2.gguf.out");
  ASSERT_EQ(inputs.size(), 46u);
  size_t matches = checkGoldens(t, inputs, expected, false, "gpt-2");
  EXPECT_EQ(matches, 46u);
  std::printf("gpt-2: %zu/%zu lines match\n", matches, inputs.size());
}

//===----------------------------------------------------------------------===//
// The fixture LFM2 vocabulary from both sources.
//===----------------------------------------------------------------------===//

class TinyVocab : public ::testing::TestWithParam<std::string> {
protected:
  Tokenizer load() {
    if (GetParam() == "gguf") {
      return fromGGUF(kTinyGGUF);
    }
    return makeTokenizer(tokenizerFromHF(kTinyHF));
  }
};

TEST_P(TinyVocab, Metadata) {
  Tokenizer t = load();
  const TokenizerData &d = t.data();
  EXPECT_EQ(t.vocabSize(), 1024u);
  EXPECT_EQ(d.merges.size(), 754u);
  EXPECT_EQ(d.pre, TokenizerData::Pre::Llama3);
  EXPECT_TRUE(d.ignoreMerges);
  EXPECT_TRUE(d.addBos);
  EXPECT_EQ(d.bos, 1);
  EXPECT_EQ(d.eos, 7);
  EXPECT_EQ(d.pad, 0);
  EXPECT_EQ(d.eot, 7);
  EXPECT_TRUE(t.isEndOfGeneration(7));
  EXPECT_TRUE(t.isEndOfGeneration(2));
  EXPECT_FALSE(t.isEndOfGeneration(1));
  EXPECT_FALSE(t.isEndOfGeneration(6));
  for (int32_t id = 0; id < 14; ++id) {
    EXPECT_EQ(d.types[id], kTokenControl) << id;
  }
  EXPECT_EQ(d.types[14], kTokenNormal);
  EXPECT_EQ(t.tokenText(7), "<|im_end|>");
  EXPECT_EQ(t.tokenText(14), std::string(1, '\0'));
  EXPECT_EQ(t.tokenText(14 + 'A'), "A");
  EXPECT_EQ(t.encode("Hello", true, true).front(), 1);
}

TEST_P(TinyVocab, MatchesGoldensWithSpecialParsing) {
  Tokenizer t = load();
  auto inputs = readInputs(kTokDir + "/tiny-vocab.inp");
  ASSERT_EQ(inputs.size(), 30u);
  size_t matches =
      checkGoldens(t, inputs, readOutputs(kTokDir + "/tiny-vocab.out"), true,
                   GetParam() + " special");
  EXPECT_EQ(matches, 30u);
  std::printf("%s, parseSpecial: %zu/%zu lines match\n", GetParam().c_str(),
              matches, inputs.size());
}

TEST_P(TinyVocab, MatchesGoldensWithoutSpecialParsing) {
  Tokenizer t = load();
  auto inputs = readInputs(kTokDir + "/tiny-vocab.inp");
  size_t matches = checkGoldens(
      t, inputs, readOutputs(kTokDir + "/tiny-vocab.nospecial.out"), false,
      GetParam() + " nospecial");
  EXPECT_EQ(matches, 30u);
  std::printf("%s, no special: %zu/%zu lines match\n", GetParam().c_str(),
              matches, inputs.size());
}

TEST_P(TinyVocab, StreamDecoderEmitsOnlyCompleteUtf8) {
  Tokenizer t = load();
  size_t heldBack = 0;
  for (const std::string &text : readInputs(kTokDir + "/tiny-vocab.inp")) {
    for (bool special : {false, true}) {
      StreamDecoder dec(t);
      std::string all;
      for (int32_t id : t.encode(text, false, special)) {
        std::string chunk = dec.feed(id);
        EXPECT_TRUE(unicode::isValidUtf8(chunk)) << text;
        heldBack += dec.pending() > 0;
        all += chunk;
      }
      std::string rest = dec.flush();
      EXPECT_TRUE(rest.empty()) << text;
      all += rest;
      EXPECT_EQ(all, text);
    }
  }
  // The emoji and CJK lines do split characters across tokens.
  EXPECT_GT(heldBack, 0u);
}

TEST_P(TinyVocab, BinaryFormRoundTrip) {
  Tokenizer t = load();
  std::string blob = t.data().serialize();
  auto back = TokenizerData::deserialize(
      reinterpret_cast<const uint8_t *>(blob.data()), blob.size());
  ASSERT_TRUE(back.isOk()) << back.status().message();
  Tokenizer t2 = makeTokenizer(std::move(back));
  for (const std::string &text : readInputs(kTokDir + "/tiny-vocab.inp")) {
    EXPECT_EQ(t2.encode(text, true, true), t.encode(text, true, true));
  }
  EXPECT_EQ(t2.data().endOfGeneration, t.data().endOfGeneration);
  std::vector<uint8_t> cut(blob.begin(), blob.begin() + blob.size() / 2);
  EXPECT_FALSE(TokenizerData::deserialize(cut.data(), cut.size()).isOk());
}

INSTANTIATE_TEST_SUITE_P(Sources, TinyVocab, ::testing::Values("gguf", "hf"));

TEST(TinyVocabSources, GGUFAndHFAgree) {
  auto file = GGUFFile::open(kTinyGGUF);
  ASSERT_TRUE(file.isOk()) << file.status().message();
  auto g = tokenizerFromGGUF(**file);
  auto h = tokenizerFromHF(kTinyHF);
  ASSERT_TRUE(g.isOk()) << g.status().message();
  ASSERT_TRUE(h.isOk()) << h.status().message();
  EXPECT_EQ(g->tokens, h->tokens);
  EXPECT_EQ(g->types, h->types);
  EXPECT_EQ(g->merges, h->merges);
  EXPECT_EQ(g->endOfGeneration, h->endOfGeneration);
  EXPECT_EQ(g->serialize(), h->serialize());
}

//===----------------------------------------------------------------------===//
// Malformed tokenizer.json / tokenizer_config.json.
//===----------------------------------------------------------------------===//

class MalformedHF : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("lfm2c_tok_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    base_ = nlohmann::json::parse(readFile(kTinyHF + "/tokenizer.json"));
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void write(const std::string &name, const std::string &text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
  }
  // Loads after writing `tokenizer`; expects an error mentioning `file`
  // and `needle`.
  void expectError(const nlohmann::json &tokenizer, const std::string &file,
                   const std::string &needle) {
    write("tokenizer.json", tokenizer.dump());
    expectErrorText(file, needle);
  }
  void expectErrorText(const std::string &file, const std::string &needle) {
    auto r = tokenizerFromHF(dir_.string());
    ASSERT_FALSE(r.isOk()) << "expected an error about " << needle;
    const std::string &msg = r.status().message();
    EXPECT_NE(msg.find(file), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  }
  fs::path dir_;
  nlohmann::json base_;
};

TEST_F(MalformedHF, BaseLoads) {
  write("tokenizer.json", base_.dump());
  auto r = tokenizerFromHF(dir_.string());
  ASSERT_TRUE(r.isOk()) << r.status().message();
  // Without tokenizer_config.json: BOS from the post-processor, no eos.
  EXPECT_TRUE(r->addBos);
  EXPECT_EQ(r->bos, 1);
  EXPECT_EQ(r->eos, -1);
  EXPECT_EQ(r->endOfGeneration, (Ids{7, 2}));
}

TEST_F(MalformedHF, MissingFile) {
  expectErrorText("tokenizer.json", "cannot open");
}

TEST_F(MalformedHF, InvalidJson) {
  write("tokenizer.json", "{\"model\": {\"vocab\": ");
  expectErrorText("tokenizer.json", "not valid JSON");
  write("tokenizer.json", "");
  expectErrorText("tokenizer.json", "not valid JSON");
}

TEST_F(MalformedHF, TopLevelNotObject) {
  expectError(nlohmann::json::array({1, 2}), "tokenizer.json", "top level");
}

TEST_F(MalformedHF, ModelFields) {
  auto j = base_;
  j.erase("model");
  expectError(j, "tokenizer.json", "'model'");
  j = base_;
  j["model"]["type"] = "WordPiece";
  expectError(j, "tokenizer.json", "model.type");
  j = base_;
  j["model"]["vocab"] = nlohmann::json::array();
  expectError(j, "tokenizer.json", "model.vocab");
  j = base_;
  j["model"]["vocab"]["Ġthe"] = "seven";
  expectError(j, "tokenizer.json", "model.vocab");
  j = base_;
  j["model"]["vocab"]["dup"] = 20;
  expectError(j, "tokenizer.json", "id 20");
  j = base_;
  j["model"]["merges"][3] = "nospace";
  expectError(j, "tokenizer.json", "model.merges[3]");
  j = base_;
  j["model"]["merges"][5] = nlohmann::json::array({"a"});
  expectError(j, "tokenizer.json", "model.merges[5]");
  j = base_;
  j["model"].erase("merges");
  expectError(j, "tokenizer.json", "model.merges");
  j = base_;
  j["model"]["ignore_merges"] = "yes";
  expectError(j, "tokenizer.json", "model.ignore_merges");
  j = base_;
  j["model"]["byte_fallback"] = true;
  expectError(j, "tokenizer.json", "byte_fallback");
}

TEST_F(MalformedHF, MergesAsPairs) {
  auto j = base_;
  for (auto &m : j["model"]["merges"]) {
    std::string s = m.get<std::string>();
    size_t sp = s.find(' ', 1);
    m = nlohmann::json::array({s.substr(0, sp), s.substr(sp + 1)});
  }
  write("tokenizer.json", j.dump());
  auto pairs = tokenizerFromHF(dir_.string());
  ASSERT_TRUE(pairs.isOk()) << pairs.status().message();
  auto strings = tokenizerFromHF(kTinyHF);
  ASSERT_TRUE(strings.isOk());
  EXPECT_EQ(pairs->merges, strings->merges);
}

TEST_F(MalformedHF, AddedTokens) {
  auto j = base_;
  j["added_tokens"] = nlohmann::json::object();
  expectError(j, "tokenizer.json", "added_tokens");
  j = base_;
  j["added_tokens"][2].erase("id");
  expectError(j, "tokenizer.json", "added_tokens[2]");
  j = base_;
  j["added_tokens"][0]["special"] = 1;
  expectError(j, "tokenizer.json", "added_tokens[0].special");
}

TEST_F(MalformedHF, PreTokenizer) {
  auto j = base_;
  j.erase("pre_tokenizer");
  expectError(j, "tokenizer.json", "pre_tokenizer");
  j = base_;
  j["pre_tokenizer"] = {{"type", "Whitespace"}};
  expectError(j, "tokenizer.json", "pre_tokenizer.type");
  j = base_;
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\w+";
  expectError(j, "tokenizer.json", "Regex");
  j = base_;
  j["pre_tokenizer"]["pretokenizers"][1]["use_regex"] = true;
  expectError(j, "tokenizer.json", "use_regex");
  j = base_;
  j["pre_tokenizer"]["pretokenizers"][1]["add_prefix_space"] = true;
  expectError(j, "tokenizer.json", "add_prefix_space");
  j = base_;
  j["normalizer"] = {{"type", "NFC"}};
  expectError(j, "tokenizer.json", "normalizer");
  // ByteLevel alone with its regex: GPT-2.
  j = base_;
  j["pre_tokenizer"] = {
      {"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  write("tokenizer.json", j.dump());
  auto r = tokenizerFromHF(dir_.string());
  ASSERT_TRUE(r.isOk()) << r.status().message();
  EXPECT_EQ(r->pre, TokenizerData::Pre::GPT2);
}

TEST_F(MalformedHF, TokenizerConfig) {
  write("tokenizer.json", base_.dump());
  write("tokenizer_config.json", "{\"bos_token\": \"<|nope|>\"}");
  expectErrorText("tokenizer_config.json", "bos_token");
  write("tokenizer_config.json", "{\"add_bos_token\": \"true\"}");
  expectErrorText("tokenizer_config.json", "add_bos_token");
  write("tokenizer_config.json", "{\"eos_token\": 7}");
  expectErrorText("tokenizer_config.json", "eos_token");
  write("tokenizer_config.json", "[");
  expectErrorText("tokenizer_config.json", "not valid JSON");
  write("tokenizer_config.json",
        "{\"add_bos_token\": false, \"eos_token\": {\"content\": "
        "\"<|endoftext|>\"}, \"bos_token\": null}");
  auto r = tokenizerFromHF(dir_.string());
  ASSERT_TRUE(r.isOk()) << r.status().message();
  EXPECT_FALSE(r->addBos);
  EXPECT_EQ(r->eos, 2);
}

//===----------------------------------------------------------------------===//
// Encode speed (reported, not asserted).
//===----------------------------------------------------------------------===//

// Thread CPU time, so that other load on the machine skews less.
double cpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

double megabytesPerSecond(const Tokenizer &t, const std::string &text,
                          bool parseSpecial, size_t *tokens) {
  t.encode(text.substr(0, 4096), false, parseSpecial); // warm up
  double start = cpuSeconds();
  Ids ids = t.encode(text, false, parseSpecial);
  double s = cpuSeconds() - start;
  *tokens = ids.size();
  EXPECT_EQ(t.decode(ids), text);
  return text.size() / 1e6 / s;
}

TEST(TokenizerSpeed, EncodeThroughput) {
  std::string corpus;
  for (const char *f : {"/tiny-vocab.inp", "/ggml-vocab-gpt-2.gguf.inp"}) {
    corpus += readFile(kTokDir + f);
  }
  // Without the fixtures the loop below would never end.
  ASSERT_FALSE(corpus.empty()) << "no tokenizer fixtures in " << kTokDir;
  std::string text;
  while (text.size() < (4u << 20)) {
    text += corpus;
  }
  Tokenizer tiny = makeTokenizer(tokenizerFromHF(kTinyHF));
  Tokenizer gpt2 = fromGGUF(kTokDir + "/ggml-vocab-gpt-2.gguf");
  size_t n1, n2, n3;
  double a = megabytesPerSecond(tiny, text, true, &n1);
  double b = megabytesPerSecond(tiny, text, false, &n2);
  double c = megabytesPerSecond(gpt2, text, false, &n3);
  std::printf("encode %.1f MB: lfm2 fixture vocab %.1f MB/s CPU (parseSpecial, "
              "%zu tokens), %.1f MB/s (no special); gpt-2 vocab %.1f MB/s "
              "(%zu tokens)\n",
              text.size() / 1e6, a, n1, b, c, n3);
  RecordProperty("lfm2_MBps", std::to_string(a));
  RecordProperty("gpt2_MBps", std::to_string(c));
}

} // namespace
