//===- GGUFTest.cpp - GGUF reader and LFM2 config tests -------------------===//
//
// Two halves: the shared fixture models must load with the configuration
// documented in fixtures/README.md, and files produced by a small writer
// below, then damaged in one specific way, must each fail with a message that
// names the file and the damaged item.
//
//===----------------------------------------------------------------------===//
#include "frontend/GGUF.h"
#include "frontend/ModelConfig.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

using namespace lfm2c;
namespace fs = std::filesystem;

namespace {

//===----------------------------------------------------------------------===//
// A minimal GGUF writer. It records where interesting fields land so tests can
// corrupt exactly one of them.
//===----------------------------------------------------------------------===//

using Bytes = std::vector<uint8_t>;

template <typename T> void put(Bytes &out, T v) {
  uint8_t raw[sizeof(T)];
  std::memcpy(raw, &v, sizeof(T));
  out.insert(out.end(), raw, raw + sizeof(T));
}

void putString(Bytes &out, const std::string &s) {
  put<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

template <typename T> void patch(Bytes &out, size_t pos, T v) {
  ASSERT_LE(pos + sizeof(T), out.size());
  std::memcpy(out.data() + pos, &v, sizeof(T));
}

struct Layout {
  Bytes bytes;
  size_t kvStart = 0, infosStart = 0, infosEnd = 0, dataStart = 0;
  // Offset of the encoded value (just after its type tag) of each key.
  std::map<std::string, size_t> valuePos;
  std::map<std::string, size_t> tensorTypePos, tensorOffsetPos;
  std::map<std::string, uint64_t> tensorOffset;
};

class GGUFWriter {
public:
  uint32_t version = 3;
  uint64_t alignment = 32;

  struct Tensor {
    std::string name;
    std::vector<int64_t> ne;
    uint32_t type;
    Bytes data;
  };
  std::vector<Tensor> tensors;

  void set(const std::string &key, GGUFValueType type, Bytes value) {
    for (auto &kv : kvs_) {
      if (kv.key == key) {
        kv.type = type;
        kv.value = std::move(value);
        return;
      }
    }
    kvs_.push_back({key, type, std::move(value)});
  }
  void remove(const std::string &key) {
    for (size_t k = 0; k < kvs_.size(); ++k) {
      if (kvs_[k].key == key) {
        kvs_.erase(kvs_.begin() + k);
        return;
      }
    }
    ADD_FAILURE() << "writer has no key " << key;
  }
  void setU32(const std::string &key, uint32_t v) {
    Bytes b;
    put(b, v);
    set(key, GGUFValueType::UINT32, b);
  }
  void setF32(const std::string &key, float v) {
    Bytes b;
    put(b, v);
    set(key, GGUFValueType::FLOAT32, b);
  }
  void setString(const std::string &key, const std::string &v) {
    Bytes b;
    putString(b, v);
    set(key, GGUFValueType::STRING, b);
  }
  void setI32Array(const std::string &key, const std::vector<int32_t> &v) {
    Bytes b;
    put<uint32_t>(b, uint32_t(GGUFValueType::INT32));
    put<uint64_t>(b, v.size());
    for (int32_t x : v) {
      put(b, x);
    }
    set(key, GGUFValueType::ARRAY, b);
  }
  void setStringArray(const std::string &key,
                      const std::vector<std::string> &v) {
    Bytes b;
    put<uint32_t>(b, uint32_t(GGUFValueType::STRING));
    put<uint64_t>(b, v.size());
    for (const std::string &s : v) {
      putString(b, s);
    }
    set(key, GGUFValueType::ARRAY, b);
  }

  Tensor *find(const std::string &name) {
    for (Tensor &t : tensors) {
      if (t.name == name) {
        return &t;
      }
    }
    return nullptr;
  }
  void removeTensor(const std::string &name) {
    for (size_t k = 0; k < tensors.size(); ++k) {
      if (tensors[k].name == name) {
        tensors.erase(tensors.begin() + k);
        return;
      }
    }
    ADD_FAILURE() << "writer has no tensor " << name;
  }

  Layout build() const {
    Layout l;
    Bytes &out = l.bytes;
    put<uint32_t>(out, 0x46554747); // "GGUF"
    put<uint32_t>(out, version);
    put<uint64_t>(out, tensors.size());
    put<uint64_t>(out, kvs_.size());
    l.kvStart = out.size();
    for (const auto &kv : kvs_) {
      putString(out, kv.key);
      put<uint32_t>(out, uint32_t(kv.type));
      l.valuePos[kv.key] = out.size();
      out.insert(out.end(), kv.value.begin(), kv.value.end());
    }
    l.infosStart = out.size();
    uint64_t offset = 0;
    std::vector<uint64_t> offsets;
    for (const Tensor &t : tensors) {
      putString(out, t.name);
      put<uint32_t>(out, t.ne.size());
      for (int64_t n : t.ne) {
        put<uint64_t>(out, n);
      }
      l.tensorTypePos[t.name] = out.size();
      put<uint32_t>(out, t.type);
      l.tensorOffsetPos[t.name] = out.size();
      put<uint64_t>(out, offset);
      l.tensorOffset[t.name] = offset;
      offsets.push_back(offset);
      offset += (t.data.size() + alignment - 1) / alignment * alignment;
    }
    l.infosEnd = out.size();
    out.resize((out.size() + alignment - 1) / alignment * alignment, 0);
    l.dataStart = out.size();
    for (size_t k = 0; k < tensors.size(); ++k) {
      out.resize(l.dataStart + offsets[k], 0);
      out.insert(out.end(), tensors[k].data.begin(), tensors[k].data.end());
    }
    return l;
  }

private:
  struct KV {
    std::string key;
    GGUFValueType type;
    Bytes value;
  };
  std::vector<KV> kvs_;
};

// Random, never-zero float32 data, reproducible per tensor name.
Bytes randomF32(const std::string &name, int64_t count) {
  std::mt19937 rng(static_cast<uint32_t>(std::hash<std::string>()(name)));
  std::normal_distribution<float> dist(0.0f, 1.0f);
  Bytes out;
  out.reserve(count * 4);
  for (int64_t k = 0; k < count; ++k) {
    float v = dist(rng);
    if (v == 0.0f) {
      v = 0.5f;
    }
    put(out, v);
  }
  return out;
}

// Random bytes for a Q8_0 tensor; the values are irrelevant to the reader.
Bytes randomQ8_0(const std::string &name, int64_t count) {
  std::mt19937 rng(static_cast<uint32_t>(std::hash<std::string>()(name)));
  Bytes out(count / 32 * 34);
  for (uint8_t &b : out) {
    b = static_cast<uint8_t>(rng() | 1);
  }
  return out;
}

// The small model the malformed-file tests start from: layer 0 is
// convolution + dense FFN, layer 1 attention + MoE.
struct TinyShape {
  int64_t H = 32, V = 64, nh = 2, d = 16, F = 48, E = 4, topK = 2, Fe = 16,
          L = 3;
  std::vector<int32_t> kv = {0, 1};
};

GGUFWriter tinyModel(const TinyShape &s = TinyShape()) {
  GGUFWriter w;
  const std::string a = "lfm2moe.";
  w.setString("general.architecture", "lfm2moe");
  w.setString("general.name", "tiny-test");
  w.setU32(a + "vocab_size", s.V);
  w.setU32(a + "context_length", 128);
  w.setU32(a + "embedding_length", s.H);
  w.setU32(a + "block_count", s.kv.size());
  w.setU32(a + "feed_forward_length", s.F);
  w.setU32(a + "attention.head_count", s.nh);
  w.setI32Array(a + "attention.head_count_kv", s.kv);
  w.setF32(a + "rope.freq_base", 10000.0f);
  w.setF32(a + "attention.layer_norm_rms_epsilon", 1e-5f);
  w.setU32(a + "shortconv.l_cache", s.L);
  w.setU32(a + "expert_count", s.E);
  w.setU32(a + "expert_used_count", s.topK);
  w.setU32(a + "expert_feed_forward_length", s.Fe);
  w.setU32(a + "leading_dense_block_count", 1);
  w.setU32(a + "expert_gating_func", 2);
  std::vector<std::string> tokens;
  for (int64_t k = 0; k < s.V; ++k) {
    tokens.push_back("tok" + std::to_string(k));
  }
  w.setStringArray("tokenizer.ggml.tokens", tokens);

  LFM2Config c;
  c.arch = "lfm2moe";
  c.vocabSize = s.V;
  c.hiddenSize = s.H;
  c.numLayers = s.kv.size();
  c.numHeads = s.nh;
  c.headDim = s.H / s.nh;
  c.contextLength = 128;
  c.kvHeads.assign(s.kv.begin(), s.kv.end());
  c.denseFFNSize = s.F;
  c.numDenseLayers = 1;
  c.numExperts = s.E;
  c.topK = s.topK;
  c.expertFFNSize = s.Fe;
  c.ropeTheta = 1e4;
  c.normEps = 1e-5;
  c.convLCache = s.L;
  // The writer takes its tensor list from requiredTensors, so a mistake
  // there shows up as a mismatch with the fixture files instead of hiding.
  for (const TensorRequirement &r : requiredTensors(c)) {
    int64_t n = 1;
    for (int64_t x : r.ne) {
      n *= x;
    }
    w.tensors.push_back({r.name, r.ne, 0, randomF32(r.name, n)});
  }
  return w;
}

class GGUFFileTest : public ::testing::Test {
protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "lfm2c-gguf-XXXXXX");
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string write(const std::string &name, const Bytes &bytes) {
    std::string path = (fs::path(dir_) / name).string();
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char *>(bytes.data()), bytes.size());
    EXPECT_TRUE(f.good());
    return path;
  }

  // Opens `bytes` as a file and expects failure; returns the message.
  std::string openError(const Bytes &bytes, const std::string &name) {
    std::string path = write(name, bytes);
    StatusOr<std::unique_ptr<GGUFFile>> f = GGUFFile::open(path);
    EXPECT_FALSE(f.isOk()) << name << " unexpectedly opened";
    if (f.isOk()) {
      return "";
    }
    const std::string &msg = f.status().message();
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
    return msg;
  }

  // Opens `bytes` expecting success.
  std::unique_ptr<GGUFFile> openOk(const Bytes &bytes,
                                   const std::string &name) {
    std::string path = write(name, bytes);
    StatusOr<std::unique_ptr<GGUFFile>> f = GGUFFile::open(path);
    EXPECT_TRUE(f.isOk()) << f.status().message();
    if (!f.isOk()) {
      return nullptr;
    }
    return std::move(*f);
  }

  // Opens, builds the config and checks tensors; returns the first error.
  std::string modelError(const Bytes &bytes, const std::string &name) {
    std::unique_ptr<GGUFFile> f = openOk(bytes, name);
    if (!f) {
      return "open failed";
    }
    StatusOr<LFM2Config> c = configFromGGUF(*f);
    if (!c) {
      return c.status().message();
    }
    Status s = checkTensors(*f, *c);
    return s.isOk() ? "" : s.message();
  }

  std::string dir_;
};

using ::testing::HasSubstr;

//===----------------------------------------------------------------------===//
// Fixture models
//===----------------------------------------------------------------------===//

std::string fixture(const std::string &rel) {
  return std::string(LFM2C_FIXTURES_DIR) + "/" + rel;
}

std::unique_ptr<GGUFFile> openFixture(const std::string &rel) {
  StatusOr<std::unique_ptr<GGUFFile>> f = GGUFFile::open(fixture(rel));
  EXPECT_TRUE(f.isOk()) << f.status().message();
  return f.isOk() ? std::move(*f) : nullptr;
}

void expectMoEConfig(const LFM2Config &c) {
  EXPECT_EQ(c.arch, "lfm2moe");
  EXPECT_EQ(c.vocabSize, 1024);
  EXPECT_EQ(c.hiddenSize, 256);
  EXPECT_EQ(c.numLayers, 4);
  EXPECT_EQ(c.numHeads, 4);
  EXPECT_EQ(c.headDim, 64);
  EXPECT_EQ(c.contextLength, 4096);
  EXPECT_EQ(c.kvHeads, (std::vector<int64_t>{0, 2, 0, 2}));
  EXPECT_EQ(c.denseFFNSize, 256);
  EXPECT_EQ(c.numDenseLayers, 2);
  EXPECT_EQ(c.numExperts, 8);
  EXPECT_EQ(c.topK, 2);
  EXPECT_EQ(c.expertFFNSize, 32);
  EXPECT_DOUBLE_EQ(c.ropeTheta, 1e6);
  EXPECT_NEAR(c.normEps, 1e-5, 1e-12);
  EXPECT_EQ(c.convLCache, 3);
  EXPECT_FALSE(c.isAttention(0));
  EXPECT_TRUE(c.isAttention(1));
  EXPECT_FALSE(c.isAttention(2));
  EXPECT_TRUE(c.isAttention(3));
  EXPECT_FALSE(c.isMoE(0));
  EXPECT_FALSE(c.isMoE(1));
  EXPECT_TRUE(c.isMoE(2));
  EXPECT_TRUE(c.isMoE(3));
}

TEST(GGUFFixtures, MoEModelsLoadAndMatchReadme) {
  for (const char *name :
       {"model-f32.gguf", "model-q8_0.gguf", "model-q4_0.gguf"}) {
    SCOPED_TRACE(name);
    auto f = openFixture(std::string("tiny-lfm2moe/") + name);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->version(), 3u);
    EXPECT_EQ(f->alignment(), 32u);
    EXPECT_EQ(f->dataOffset() % 32, 0u);
    StatusOr<LFM2Config> c = configFromGGUF(*f);
    ASSERT_TRUE(c.isOk()) << c.status().message();
    expectMoEConfig(*c);
    Status s = checkTensors(*f, *c);
    EXPECT_TRUE(s.isOk()) << s.message();
    // Tied embedding: no output head, and nothing beyond the required set.
    EXPECT_EQ(f->tensor("output.weight"), nullptr);
    EXPECT_EQ(f->tensors().size(), requiredTensors(*c).size());
    EXPECT_EQ(f->tensors().size(), 44u);
    StatusOr<std::string> tok = f->getString("tokenizer.ggml.model");
    ASSERT_TRUE(tok.isOk());
    EXPECT_EQ(*tok, "gpt2");
    StatusOr<std::vector<std::string>> tokens =
        f->getStringArray("tokenizer.ggml.tokens");
    ASSERT_TRUE(tokens.isOk());
    ASSERT_EQ(tokens->size(), 1024u);
    EXPECT_EQ((*tokens)[1], "<|startoftext|>");
    EXPECT_EQ((*tokens)[7], "<|im_end|>");
    // Every tensor's bytes lie inside the mapped data section.
    for (const GGUFTensorInfo &t : f->tensors()) {
      EXPECT_EQ(t.offset % 32, 0u) << t.name;
      EXPECT_LE(f->dataOffset() + t.offset + t.nbytes, f->fileSize()) << t.name;
    }
  }
}

TEST(GGUFFixtures, F32DataIsRealAndSized) {
  auto f = openFixture("tiny-lfm2moe/model-f32.gguf");
  ASSERT_TRUE(f);
  const GGUFTensorInfo *emb = f->tensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->type, GGMLType::F32);
  EXPECT_EQ(emb->ne, (std::vector<int64_t>{256, 1024}));
  EXPECT_EQ(emb->nbytes, 256u * 1024u * 4u);
  // Embedding ~ N(0, 0.1): finite, not all zero, and small.
  const float *v = reinterpret_cast<const float *>(emb->data);
  double sumSq = 0;
  for (int k = 0; k < 256 * 1024; ++k) {
    ASSERT_TRUE(std::isfinite(v[k]));
    sumSq += double(v[k]) * v[k];
  }
  double rms = std::sqrt(sumSq / (256 * 1024));
  EXPECT_GT(rms, 0.05);
  EXPECT_LT(rms, 0.2);
  // Norm weights are 1 + N(0, 0.1).
  const GGUFTensorInfo *norm = f->tensor("blk.0.attn_norm.weight");
  ASSERT_NE(norm, nullptr);
  const float *n = reinterpret_cast<const float *>(norm->data);
  double mean = 0;
  for (int k = 0; k < 256; ++k) {
    mean += n[k];
  }
  EXPECT_NEAR(mean / 256, 1.0, 0.05);
  const GGUFTensorInfo *down = f->tensor("blk.2.ffn_down_exps.weight");
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(down->ne, (std::vector<int64_t>{32, 256, 8}));
}

TEST(GGUFFixtures, DenseModelLoadsAndMatchesReadme) {
  auto f = openFixture("tiny-lfm2-dense/model-f32.gguf");
  ASSERT_TRUE(f);
  StatusOr<LFM2Config> c = configFromGGUF(*f);
  ASSERT_TRUE(c.isOk()) << c.status().message();
  EXPECT_EQ(c->arch, "lfm2");
  EXPECT_EQ(c->vocabSize, 512);
  EXPECT_EQ(c->hiddenSize, 128);
  EXPECT_EQ(c->numLayers, 6);
  EXPECT_EQ(c->numHeads, 2);
  EXPECT_EQ(c->headDim, 64);
  EXPECT_EQ(c->kvHeads, (std::vector<int64_t>{0, 0, 1, 0, 0, 1}));
  EXPECT_EQ(c->denseFFNSize, 192);
  EXPECT_EQ(c->numDenseLayers, 6);
  EXPECT_EQ(c->numExperts, 0);
  EXPECT_EQ(c->convLCache, 3);
  EXPECT_EQ(c->contextLength, 4096);
  for (int64_t i = 0; i < 6; ++i) {
    EXPECT_FALSE(c->isMoE(i));
  }
  Status s = checkTensors(*f, *c);
  EXPECT_TRUE(s.isOk()) << s.message();
  EXPECT_EQ(f->tensors().size(), requiredTensors(*c).size());
  // README: 871,808 parameters.
  int64_t params = 0;
  for (const GGUFTensorInfo &t : f->tensors()) {
    params += t.numElements();
  }
  EXPECT_EQ(params, 871808);
}

TEST(GGUFFixtures, MoEParameterCount) {
  auto f = openFixture("tiny-lfm2moe/model-f32.gguf");
  ASSERT_TRUE(f);
  int64_t params = 0;
  for (const GGUFTensorInfo &t : f->tensors()) {
    params += t.numElements();
  }
  EXPECT_EQ(params, 1974288);
}

// The README's table of llama-quantize's choices, as a predicate on names.
std::string expectedQ4_0Type(const std::string &name) {
  auto has = [&](const char *s) { return name.find(s) != std::string::npos; };
  if (name == "token_embd.weight") {
    return "Q6_K";
  }
  if (has("norm") || has("shortconv.conv") || has("ffn_gate_inp") ||
      has("exp_probs_b")) {
    return "F32";
  }
  if (has("attn_k.") || has("attn_v.")) {
    return "Q8_0";
  }
  return "Q4_0";
}

TEST(GGUFFixtures, QuantizedTypesMatchReadmeAndManifest) {
  auto q4 = openFixture("tiny-lfm2moe/model-q4_0.gguf");
  ASSERT_TRUE(q4);
  std::set<std::string> seen;
  for (const GGUFTensorInfo &t : q4->tensors()) {
    EXPECT_EQ(ggmlTypeName(t.type), expectedQ4_0Type(t.name)) << t.name;
    seen.insert(ggmlTypeName(t.type));
    int64_t bs = ggmlBlockSize(t.type);
    EXPECT_EQ(t.nbytes, uint64_t(t.numElements() / bs * ggmlBlockBytes(t.type)))
        << t.name;
  }
  EXPECT_EQ(seen, (std::set<std::string>{"F32", "Q8_0", "Q4_0", "Q6_K"}));
  const GGUFTensorInfo *emb = q4->tensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->nbytes, 1024u * 210u); // one Q6_K block per 256-wide row

  std::ifstream mf(fixture("tiny-lfm2moe/golden/q4_0/manifest.json"));
  ASSERT_TRUE(mf.good());
  nlohmann::json manifest = nlohmann::json::parse(mf);
  const auto &byName = manifest.at("tensor_type_by_name");
  EXPECT_EQ(byName.size(), q4->tensors().size());
  for (auto it = byName.begin(); it != byName.end(); ++it) {
    const GGUFTensorInfo *t = q4->tensor(it.key());
    ASSERT_NE(t, nullptr) << it.key();
    EXPECT_EQ(ggmlTypeName(t->type), it.value().get<std::string>()) << it.key();
  }

  auto q8 = openFixture("tiny-lfm2moe/model-q8_0.gguf");
  ASSERT_TRUE(q8);
  for (const GGUFTensorInfo &t : q8->tensors()) {
    std::string want = expectedQ4_0Type(t.name) == "F32" ? "F32" : "Q8_0";
    EXPECT_EQ(ggmlTypeName(t.type), want) << t.name;
  }
}

TEST(GGUFFixtures, VocabularyOnlyFileIsNotAnLFM2Model) {
  auto f = openFixture("tokenizers/ggml-vocab-gpt-2.gguf");
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->tensors().empty());
  StatusOr<std::vector<std::string>> tokens =
      f->getStringArray("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.isOk());
  EXPECT_EQ(tokens->size(), 50257u);
  StatusOr<LFM2Config> c = configFromGGUF(*f);
  ASSERT_FALSE(c.isOk());
  EXPECT_THAT(c.status().message(), HasSubstr("ggml-vocab-gpt-2.gguf: "));
  EXPECT_THAT(c.status().message(), HasSubstr("general.architecture is"));
}

TEST(GGUFFixtures, MissingFile) {
  StatusOr<std::unique_ptr<GGUFFile>> f =
      GGUFFile::open(fixture("no-such-model.gguf"));
  ASSERT_FALSE(f.isOk());
  EXPECT_THAT(f.status().message(), HasSubstr("no-such-model.gguf: "));
}

//===----------------------------------------------------------------------===//
// The writer's own model, valid
//===----------------------------------------------------------------------===//

TEST_F(GGUFFileTest, TinyModelRoundTrips) {
  GGUFWriter w = tinyModel();
  Layout l = w.build();
  auto f = openOk(l.bytes, "tiny.gguf");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->dataOffset(), l.dataStart);
  StatusOr<LFM2Config> c = configFromGGUF(*f);
  ASSERT_TRUE(c.isOk()) << c.status().message();
  EXPECT_EQ(c->kvHeads, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(c->headDim, 16);
  EXPECT_TRUE(c->isMoE(1));
  EXPECT_FALSE(c->isMoE(0));
  Status s = checkTensors(*f, *c);
  EXPECT_TRUE(s.isOk()) << s.message();
  ASSERT_EQ(f->tensors().size(), w.tensors.size());
  for (size_t k = 0; k < w.tensors.size(); ++k) {
    const GGUFTensorInfo &t = f->tensors()[k];
    EXPECT_EQ(t.name, w.tensors[k].name); // file order is kept
    EXPECT_EQ(t.ne, w.tensors[k].ne);
    ASSERT_EQ(t.nbytes, w.tensors[k].data.size());
    EXPECT_EQ(std::memcmp(t.data, w.tensors[k].data.data(), t.nbytes), 0)
        << t.name;
  }
  EXPECT_EQ(f->metadata().front().first, "general.architecture");
  EXPECT_EQ(*f->getString("general.name"), "tiny-test");
}

TEST_F(GGUFFileTest, AllValueTypesAndNestedArrays) {
  GGUFWriter w;
  auto scalar = [&](const std::string &key, GGUFValueType t, auto v) {
    Bytes b;
    put(b, v);
    w.set(key, t, b);
  };
  scalar("u8", GGUFValueType::UINT8, uint8_t(200));
  scalar("i8", GGUFValueType::INT8, int8_t(-100));
  scalar("u16", GGUFValueType::UINT16, uint16_t(60000));
  scalar("i16", GGUFValueType::INT16, int16_t(-30000));
  scalar("u32", GGUFValueType::UINT32, uint32_t(4000000000u));
  scalar("i32", GGUFValueType::INT32, int32_t(-2000000000));
  scalar("f32", GGUFValueType::FLOAT32, 1.5f);
  scalar("bool", GGUFValueType::BOOL, uint8_t(1));
  scalar("u64", GGUFValueType::UINT64, uint64_t(1) << 63);
  scalar("i64", GGUFValueType::INT64, -(int64_t(1) << 62));
  scalar("f64", GGUFValueType::FLOAT64, 0.125);
  w.setString("str", "hello");
  // [[1, 2], [3], []] as an array of arrays of INT16.
  Bytes nested;
  put<uint32_t>(nested, uint32_t(GGUFValueType::ARRAY));
  put<uint64_t>(nested, 3);
  for (std::vector<int16_t> inner :
       {std::vector<int16_t>{1, 2}, std::vector<int16_t>{3},
        std::vector<int16_t>{}}) {
    put<uint32_t>(nested, uint32_t(GGUFValueType::INT16));
    put<uint64_t>(nested, inner.size());
    for (int16_t x : inner) {
      put(nested, x);
    }
  }
  w.set("nested", GGUFValueType::ARRAY, nested);
  w.setStringArray("strs", {"a", "", "ccc"});
  Bytes empty;
  put<uint32_t>(empty, uint32_t(GGUFValueType::FLOAT64));
  put<uint64_t>(empty, 0);
  w.set("empty", GGUFValueType::ARRAY, empty);

  auto f = openOk(w.build().bytes, "types.gguf");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->metadata().size(), 15u);
  EXPECT_EQ(*f->getInt("u8"), 200);
  EXPECT_EQ(*f->getInt("i8"), -100);
  EXPECT_EQ(*f->getInt("u16"), 60000);
  EXPECT_EQ(*f->getInt("i16"), -30000);
  EXPECT_EQ(*f->getInt("u32"), 4000000000ll);
  EXPECT_EQ(*f->getInt("i32"), -2000000000);
  EXPECT_EQ(*f->getInt("i64"), -(int64_t(1) << 62));
  EXPECT_DOUBLE_EQ(*f->getFloat("f32"), 1.5);
  EXPECT_DOUBLE_EQ(*f->getFloat("f64"), 0.125);
  EXPECT_DOUBLE_EQ(*f->getFloat("i16"), -30000.0); // integers widen
  EXPECT_EQ(f->find("bool")->type, GGUFValueType::BOOL);
  EXPECT_TRUE(f->find("bool")->b);
  EXPECT_EQ(*f->getString("str"), "hello");
  // 2^63 does not fit in int64: reported, not wrapped.
  StatusOr<int64_t> big = f->getInt("u64");
  ASSERT_FALSE(big.isOk());
  EXPECT_THAT(big.status().message(), HasSubstr("'u64'"));
  EXPECT_EQ(f->find("u64")->u, uint64_t(1) << 63);

  const GGUFValue *n = f->find("nested");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->arrayType, GGUFValueType::ARRAY);
  ASSERT_EQ(n->array.size(), 3u);
  EXPECT_EQ(n->array[0].arrayType, GGUFValueType::INT16);
  ASSERT_EQ(n->array[0].array.size(), 2u);
  EXPECT_EQ(n->array[0].array[1].asInt(), 2);
  EXPECT_EQ(n->array[1].array[0].asInt(), 3);
  EXPECT_TRUE(n->array[2].array.empty());
  EXPECT_EQ(*f->getStringArray("strs"),
            (std::vector<std::string>{"a", "", "ccc"}));
  EXPECT_EQ(f->find("empty")->arrayType, GGUFValueType::FLOAT64);

  StatusOr<std::vector<int64_t>> notInts = f->getIntArray("strs");
  ASSERT_FALSE(notInts.isOk());
  EXPECT_THAT(notInts.status().message(),
              HasSubstr("'strs' has type ARRAY of STRING"));
  StatusOr<int64_t> notInt = f->getInt("str");
  ASSERT_FALSE(notInt.isOk());
  EXPECT_THAT(notInt.status().message(),
              HasSubstr("types.gguf: metadata key 'str' has type STRING, "
                        "expected an integer"));
  StatusOr<std::string> notStr = f->getString("f32");
  ASSERT_FALSE(notStr.isOk());
  EXPECT_THAT(notStr.status().message(), HasSubstr("has type FLOAT32"));
  EXPECT_EQ(f->find("absent"), nullptr);
  EXPECT_EQ(f->tensor("absent"), nullptr);
}

TEST_F(GGUFFileTest, Version2AndCustomAlignment) {
  GGUFWriter w = tinyModel();
  w.version = 2;
  w.alignment = 64;
  w.setU32("general.alignment", 64);
  Layout l = w.build();
  ASSERT_EQ(l.dataStart % 64, 0u);
  auto f = openOk(l.bytes, "v2.gguf");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->version(), 2u);
  EXPECT_EQ(f->alignment(), 64u);
  EXPECT_EQ(f->dataOffset(), l.dataStart);
  const GGUFTensorInfo *t = f->tensor("blk.1.attn_q.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(std::memcmp(t->data, w.find("blk.1.attn_q.weight")->data.data(),
                        t->nbytes),
            0);
}

TEST_F(GGUFFileTest, UntiedOutputHead) {
  GGUFWriter w = tinyModel();
  w.tensors.push_back(
      {"output.weight", {32, 64}, 0, randomF32("output.weight", 32 * 64)});
  EXPECT_EQ(modelError(w.build().bytes, "out.gguf"), "");
  w.find("output.weight")->ne = {32, 32};
  w.find("output.weight")->data.resize(32 * 32 * 4);
  std::string path = dir_ + "/out-bad.gguf";
  EXPECT_EQ(modelError(w.build().bytes, "out-bad.gguf"),
            path + ": tensor 'output.weight' has shape [32,32], expected "
                   "[32,64]");
}

TEST_F(GGUFFileTest, QuantizedMatrixAcceptedWhereAllowed) {
  GGUFWriter w = tinyModel();
  GGUFWriter::Tensor *t = w.find("blk.0.ffn_up.weight");
  t->type = uint32_t(GGMLType::Q8_0);
  t->data = randomQ8_0(t->name, 32 * 48);
  EXPECT_EQ(modelError(w.build().bytes, "q8.gguf"), "");
}

//===----------------------------------------------------------------------===//
// Malformed files
//===----------------------------------------------------------------------===//

TEST_F(GGUFFileTest, TruncatedAtSeveralCutPoints) {
  Layout l = tinyModel().build();
  struct Cut {
    size_t at;
    const char *expect;
  };
  const Cut cuts[] = {
      {0, "truncated"},
      {3, "the GGUF magic"},
      {6, "the GGUF version"},
      {12, "the tensor count"},
      {20, "the metadata key count"},
      // Cuts early in the metadata leave too few bytes for the key count.
      {l.kvStart + 5, "truncated or corrupt: metadata key count 18"},
      {l.valuePos.at("general.name") + 3, "metadata key count 18"},
      {l.valuePos.at("tokenizer.ggml.tokens") + 40,
       "metadata key 'tokenizer.ggml.tokens'"},
      {l.infosStart + 3, "tensor info 0"},
      {l.tensorOffsetPos.at("blk.0.attn_norm.weight") + 2,
       "tensor 'blk.0.attn_norm.weight' data offset"},
      {l.infosEnd - 1, "data offset"},
      {l.dataStart + 100, "data"},
      {l.bytes.size() - 1, "data"},
  };
  for (const Cut &cut : cuts) {
    SCOPED_TRACE(cut.at);
    Bytes cutBytes(l.bytes.begin(), l.bytes.begin() + cut.at);
    std::string msg = openError(cutBytes, "cut.gguf");
    EXPECT_THAT(msg, HasSubstr(cut.expect));
  }
  // With a single metadata entry the count check passes, so cuts inside
  // the entry reach the entry's own reads.
  GGUFWriter one;
  one.setString("general.name", std::string(100, 'x'));
  Layout lo = one.build();
  EXPECT_THAT(
      openError(Bytes(lo.bytes.begin(), lo.bytes.begin() + lo.kvStart + 14),
                "cut-key.gguf"),
      HasSubstr("string length 12 of the key of metadata entry 0"));
  EXPECT_THAT(
      openError(Bytes(lo.bytes.begin(),
                      lo.bytes.begin() + lo.valuePos.at("general.name") + 50),
                "cut-value.gguf"),
      HasSubstr("string length 100 of metadata key 'general.name'"));

  // The last tensor is the one whose bytes no longer fit.
  Bytes lastCut(l.bytes.begin(), l.bytes.end() - 1);
  EXPECT_THAT(
      openError(lastCut, "cut-last.gguf"),
      HasSubstr("tensor '" + tinyModel().tensors.back().name + "' data"));
}

// Every prefix of the header and a sample of data prefixes: each must fail
// cleanly (under ASan this also proves no read past the mapping).
TEST_F(GGUFFileTest, EveryHeaderPrefixFails) {
  Layout l = tinyModel().build();
  std::string path = write("prefix.gguf", {});
  for (size_t n = 0; n < l.bytes.size();
       n += (n < l.dataStart + 64 ? 1 : 997)) {
    {
      std::ofstream f(path, std::ios::binary | std::ios::trunc);
      f.write(reinterpret_cast<const char *>(l.bytes.data()), n);
    }
    StatusOr<std::unique_ptr<GGUFFile>> f = GGUFFile::open(path);
    ASSERT_FALSE(f.isOk()) << "prefix of " << n << " bytes opened";
    ASSERT_EQ(f.status().message().rfind(path + ": ", 0), 0u)
        << f.status().message();
  }
}

// Random single-byte corruption of the header: any outcome but a crash is
// acceptable, and errors still start with the path.
TEST_F(GGUFFileTest, RandomHeaderCorruptionNeverCrashes) {
  Layout l = tinyModel().build();
  std::string path = write("fuzz.gguf", {});
  std::mt19937 rng(7);
  int failures = 0;
  for (int iter = 0; iter < 1000; ++iter) {
    Bytes b = l.bytes;
    for (int k = 0; k < 3; ++k) {
      b[rng() % l.dataStart] = static_cast<uint8_t>(rng());
    }
    {
      std::ofstream f(path, std::ios::binary | std::ios::trunc);
      f.write(reinterpret_cast<const char *>(b.data()), b.size());
    }
    StatusOr<std::unique_ptr<GGUFFile>> f = GGUFFile::open(path);
    if (!f.isOk()) {
      ++failures;
      ASSERT_EQ(f.status().message().rfind(path + ": ", 0), 0u);
      continue;
    }
    StatusOr<LFM2Config> c = configFromGGUF(**f);
    if (c.isOk()) {
      (void)checkTensors(**f, *c);
    }
  }
  EXPECT_GT(failures, 0);
}

TEST_F(GGUFFileTest, BadMagic) {
  Bytes b = tinyModel().build().bytes;
  b[0] = 'X';
  EXPECT_THAT(openError(b, "magic.gguf"),
              HasSubstr("not a GGUF file: bad magic 'XGUF'"));
}

TEST_F(GGUFFileTest, BadVersion) {
  for (uint32_t v : {1u, 4u, 0x03000000u}) {
    SCOPED_TRACE(v);
    Bytes b = tinyModel().build().bytes;
    patch<uint32_t>(b, 4, v);
    EXPECT_THAT(openError(b, "version.gguf"),
                HasSubstr("unsupported GGUF version " + std::to_string(v)));
  }
}

TEST_F(GGUFFileTest, StringLengthPastEOF) {
  Layout l = tinyModel().build();
  patch<uint64_t>(l.bytes, l.valuePos.at("general.name"), l.bytes.size());
  std::string msg = openError(l.bytes, "strlen.gguf");
  EXPECT_THAT(msg, HasSubstr("string length " + std::to_string(l.bytes.size()) +
                             " of metadata key 'general.name'"));
  EXPECT_THAT(msg, HasSubstr("runs past the end of the file"));

  // The same for a key and a tensor name, with a length near 2^64 that
  // would wrap a careless `pos + len` check.
  Layout l2 = tinyModel().build();
  patch<uint64_t>(l2.bytes, l2.kvStart, ~uint64_t(0) - 3);
  EXPECT_THAT(openError(l2.bytes, "keylen.gguf"),
              HasSubstr("the key of metadata entry 0"));
  Layout l3 = tinyModel().build();
  patch<uint64_t>(l3.bytes, l3.infosStart, ~uint64_t(0));
  EXPECT_THAT(openError(l3.bytes, "namelen.gguf"),
              HasSubstr("the name of tensor info 0"));
}

TEST_F(GGUFFileTest, AbsurdArrayLength) {
  for (uint64_t count : {uint64_t(1) << 40, ~uint64_t(0)}) {
    SCOPED_TRACE(count);
    Layout l = tinyModel().build();
    // Array layout: element type (4 bytes), then the count.
    patch<uint64_t>(l.bytes, l.valuePos.at("tokenizer.ggml.tokens") + 4, count);
    std::string msg = openError(l.bytes, "arraylen.gguf");
    EXPECT_THAT(msg, HasSubstr("metadata key 'tokenizer.ggml.tokens' has "
                               "array length " +
                               std::to_string(count)));
  }
  // Also absurd counts of keys and tensors in the header.
  Layout l = tinyModel().build();
  patch<uint64_t>(l.bytes, 16, uint64_t(1) << 50);
  EXPECT_THAT(openError(l.bytes, "kvcount.gguf"),
              HasSubstr("metadata key count"));
  l = tinyModel().build();
  patch<uint64_t>(l.bytes, 8, uint64_t(1) << 50);
  EXPECT_THAT(openError(l.bytes, "tcount.gguf"), HasSubstr("tensor count"));
}

TEST_F(GGUFFileTest, UnknownMetadataValueType) {
  Layout l = tinyModel().build();
  patch<uint32_t>(l.bytes, l.valuePos.at("general.name") - 4, 13);
  EXPECT_THAT(openError(l.bytes, "vtype.gguf"),
              HasSubstr("metadata key 'general.name' has unknown value "
                        "type 13"));
}

TEST_F(GGUFFileTest, TensorDataOutOfBounds) {
  GGUFWriter w = tinyModel();
  Layout l = w.build();
  const std::string name = "blk.0.ffn_up.weight";
  patch<uint64_t>(l.bytes, l.tensorOffsetPos.at(name),
                  l.bytes.size() - l.dataStart); // aligned, but past the end
  std::string msg = openError(l.bytes, "oob.gguf");
  EXPECT_THAT(msg, HasSubstr("tensor '" + name + "' data ["));
  EXPECT_THAT(msg, HasSubstr("lies outside the tensor data section"));

  // An offset near 2^64 must not wrap around.
  Layout l2 = w.build();
  patch<uint64_t>(l2.bytes, l2.tensorOffsetPos.at(name), ~uint64_t(0) - 31);
  EXPECT_THAT(openError(l2.bytes, "oob2.gguf"),
              HasSubstr("tensor '" + name + "' data"));
}

TEST_F(GGUFFileTest, UnknownTensorType) {
  Layout l = tinyModel().build();
  patch<uint32_t>(l.bytes, l.tensorTypePos.at("blk.1.attn_q.weight"), 12);
  std::string path = dir_ + "/type.gguf";
  EXPECT_EQ(openError(l.bytes, "type.gguf"),
            path + ": tensor 'blk.1.attn_q.weight' has unsupported type 12 "
                   "(supported: F32, F16, BF16, Q8_0, Q4_0, Q6_K)");
}

TEST_F(GGUFFileTest, BlockSizeMustDivideRows) {
  // A [16,32] tensor declared Q8_0: rows of 16 cannot hold 32-value blocks.
  GGUFWriter w = tinyModel();
  GGUFWriter::Tensor *t = w.find("blk.1.attn_q_norm.weight");
  t->ne = {16, 32};
  t->type = uint32_t(GGMLType::Q8_0);
  EXPECT_THAT(openError(w.build().bytes, "block.gguf"),
              HasSubstr("tensor 'blk.1.attn_q_norm.weight' of type Q8_0 has "
                        "ne[0] = 16, not a multiple of the block size 32"));
}

TEST_F(GGUFFileTest, TensorSizeOverflow) {
  // 2^61 elements fit in int64; 2^63 bytes of F32 do not.
  GGUFWriter w = tinyModel();
  w.find("blk.0.attn_norm.weight")->ne = {int64_t(1) << 61};
  EXPECT_THAT(openError(w.build().bytes, "huge.gguf"),
              HasSubstr("tensor 'blk.0.attn_norm.weight' is too large"));
  GGUFWriter w2 = tinyModel();
  w2.find("blk.0.attn_norm.weight")->ne = {int64_t(1) << 40, int64_t(1) << 40};
  EXPECT_THAT(openError(w2.build().bytes, "huge2.gguf"),
              HasSubstr("tensor 'blk.0.attn_norm.weight' has too many "
                        "elements"));
}

TEST_F(GGUFFileTest, MisalignedOffset) {
  Layout l = tinyModel().build();
  const std::string name = "blk.1.attn_k.weight";
  uint64_t off = l.tensorOffset.at(name) + 4;
  patch<uint64_t>(l.bytes, l.tensorOffsetPos.at(name), off);
  EXPECT_THAT(openError(l.bytes, "align.gguf"),
              HasSubstr("tensor '" + name + "' has data offset " +
                        std::to_string(off) +
                        ", not a multiple of the alignment 32"));
}

TEST_F(GGUFFileTest, BadAlignmentValue) {
  GGUFWriter w = tinyModel();
  w.setU32("general.alignment", 48);
  EXPECT_THAT(openError(w.build().bytes, "align48.gguf"),
              HasSubstr("'general.alignment' is 48"));
}

TEST_F(GGUFFileTest, DuplicateNames) {
  GGUFWriter w = tinyModel();
  w.tensors.push_back(w.tensors[3]);
  EXPECT_THAT(
      openError(w.build().bytes, "dup.gguf"),
      HasSubstr("tensor '" + w.tensors[3].name + "' appears more than once"));

  // Two 7-character keys; the second is then renamed to the first in place.
  GGUFWriter k = tinyModel();
  Bytes b;
  putString(b, "again");
  k.set("dup.key", GGUFValueType::STRING, b);
  k.set("abc.def", GGUFValueType::STRING, b);
  Layout lk = k.build();
  size_t pos = lk.valuePos.at("abc.def") - 4 - 7;
  std::memcpy(lk.bytes.data() + pos, "dup.key", 7);
  EXPECT_THAT(openError(lk.bytes, "dupkey.gguf"),
              HasSubstr("metadata key 'dup.key' appears more than once"));
}

TEST_F(GGUFFileTest, MissingTensor) {
  GGUFWriter w = tinyModel();
  w.removeTensor("blk.1.attn_q.weight");
  EXPECT_EQ(modelError(w.build().bytes, "missing.gguf"),
            dir_ + "/missing.gguf: tensor 'blk.1.attn_q.weight' is missing");
}

TEST_F(GGUFFileTest, MisShapedTensor) {
  GGUFWriter w = tinyModel();
  GGUFWriter::Tensor *t = w.find("blk.1.ffn_up_exps.weight");
  t->ne = {32, 12, 3};
  t->data = randomF32(t->name, 32 * 12 * 3);
  EXPECT_EQ(modelError(w.build().bytes, "shape.gguf"),
            dir_ + "/shape.gguf: tensor 'blk.1.ffn_up_exps.weight' has shape "
                   "[32,12,3], expected [32,16,4]");
  // Transposed matrices are the likely real-world mistake.
  GGUFWriter w2 = tinyModel();
  w2.find("blk.0.shortconv.in_proj.weight")->ne = {96, 32};
  EXPECT_EQ(modelError(w2.build().bytes, "transposed.gguf"),
            dir_ + "/transposed.gguf: tensor 'blk.0.shortconv.in_proj.weight' "
                   "has shape [96,32], expected [32,96]");
}

TEST_F(GGUFFileTest, QuantizedFloatOnlyTensor) {
  GGUFWriter w = tinyModel();
  GGUFWriter::Tensor *t = w.find("blk.0.attn_norm.weight");
  t->type = uint32_t(GGMLType::Q8_0);
  t->data = randomQ8_0(t->name, 32);
  EXPECT_EQ(modelError(w.build().bytes, "normtype.gguf"),
            dir_ + "/normtype.gguf: tensor 'blk.0.attn_norm.weight' has type "
                   "Q8_0, expected F32");
  // F16 is an allowed float type for the same tensor.
  GGUFWriter w2 = tinyModel();
  GGUFWriter::Tensor *t2 = w2.find("blk.0.attn_norm.weight");
  t2->type = uint32_t(GGMLType::F16);
  t2->data.resize(32 * 2);
  EXPECT_EQ(modelError(w2.build().bytes, "normf16.gguf"), "");
}

TEST_F(GGUFFileTest, MissingMetadataKey) {
  for (const char *key :
       {"lfm2moe.block_count", "lfm2moe.attention.head_count_kv",
        "lfm2moe.expert_count", "lfm2moe.rope.freq_base",
        "general.architecture"}) {
    SCOPED_TRACE(key);
    GGUFWriter w = tinyModel();
    w.remove(key);
    std::string name = "nokey.gguf";
    EXPECT_EQ(modelError(w.build().bytes, name),
              dir_ + "/" + name + ": metadata key '" + key + "' is missing");
  }
}

TEST_F(GGUFFileTest, VocabSizeFallsBackToTokenList) {
  GGUFWriter w = tinyModel();
  w.remove("lfm2moe.vocab_size");
  auto f = openOk(w.build().bytes, "novocab.gguf");
  ASSERT_TRUE(f);
  StatusOr<LFM2Config> c = configFromGGUF(*f);
  ASSERT_TRUE(c.isOk()) << c.status().message();
  EXPECT_EQ(c->vocabSize, 64);
  w.remove("tokenizer.ggml.tokens");
  EXPECT_THAT(modelError(w.build().bytes, "novocab2.gguf"),
              HasSubstr("'lfm2moe.vocab_size' is missing"));
}

TEST_F(GGUFFileTest, WrongMetadataType) {
  GGUFWriter w = tinyModel();
  w.setString("lfm2moe.block_count", "two");
  EXPECT_EQ(modelError(w.build().bytes, "ktype.gguf"),
            dir_ + "/ktype.gguf: metadata key 'lfm2moe.block_count' has type "
                   "STRING, expected an integer");
}

TEST_F(GGUFFileTest, WrongArchitecture) {
  GGUFWriter w = tinyModel();
  w.setString("general.architecture", "llama");
  EXPECT_EQ(modelError(w.build().bytes, "arch.gguf"),
            dir_ + "/arch.gguf: general.architecture is 'llama', expected "
                   "'lfm2' or 'lfm2moe'");
}

TEST_F(GGUFFileTest, SoftmaxGatingRejected) {
  GGUFWriter w = tinyModel();
  w.setU32("lfm2moe.expert_gating_func", 1);
  EXPECT_THAT(modelError(w.build().bytes, "gating.gguf"),
              HasSubstr("'lfm2moe.expert_gating_func' is 1, expected 2"));
}

TEST_F(GGUFFileTest, InconsistentHeadCounts) {
  TinyShape s;
  s.nh = 4;
  s.d = 8;
  s.kv = {0, 3};
  GGUFWriter w = tinyModel(s);
  EXPECT_THAT(modelError(w.build().bytes, "kv.gguf"),
              HasSubstr("field 'kvHeads[1]' (3) does not divide numHeads "
                        "(4)"));
  GGUFWriter w2 = tinyModel();
  w2.setI32Array("lfm2moe.attention.head_count_kv", {0, 1, 1});
  EXPECT_THAT(modelError(w2.build().bytes, "kvlen.gguf"),
              HasSubstr("'lfm2moe.attention.head_count_kv' has 3 entries, "
                        "expected block_count = 2"));
}

TEST_F(GGUFFileTest, ScalarKvHeadsMeansAllAttention) {
  TinyShape s;
  s.kv = {1, 1};
  GGUFWriter w = tinyModel(s);
  w.setU32("lfm2moe.attention.head_count_kv", 1);
  auto f = openOk(w.build().bytes, "kvscalar.gguf");
  ASSERT_TRUE(f);
  StatusOr<LFM2Config> c = configFromGGUF(*f);
  ASSERT_TRUE(c.isOk()) << c.status().message();
  EXPECT_EQ(c->kvHeads, (std::vector<int64_t>{1, 1}));
  EXPECT_TRUE(checkTensors(*f, *c).isOk());
}

//===----------------------------------------------------------------------===//
// LFM2Config::validate on its own (as a Hugging Face loader would use it)
//===----------------------------------------------------------------------===//

LFM2Config validMoEConfig() {
  LFM2Config c;
  c.arch = "lfm2moe";
  c.vocabSize = 1024;
  c.hiddenSize = 256;
  c.numLayers = 4;
  c.numHeads = 4;
  c.headDim = 64;
  c.contextLength = 4096;
  c.kvHeads = {0, 2, 0, 2};
  c.denseFFNSize = 256;
  c.numDenseLayers = 2;
  c.numExperts = 8;
  c.topK = 2;
  c.expertFFNSize = 32;
  c.ropeTheta = 1e6;
  c.normEps = 1e-5;
  c.convLCache = 3;
  return c;
}

TEST(LFM2ConfigValidate, NamesTheField) {
  EXPECT_TRUE(validMoEConfig().validate().isOk());
  struct Case {
    void (*mutate)(LFM2Config &);
    const char *field;
  };
  const Case cases[] = {
      {[](LFM2Config &c) { c.topK = 9; }, "'topK'"},
      {[](LFM2Config &c) { c.convLCache = 0; }, "'convLCache'"},
      {[](LFM2Config &c) { c.kvHeads[1] = 3; }, "'kvHeads[1]'"},
      {[](LFM2Config &c) { c.kvHeads.pop_back(); }, "'kvHeads'"},
      {[](LFM2Config &c) { c.numHeads = 3; }, "'numHeads'"},
      {[](LFM2Config &c) { c.headDim = 32; }, "'headDim'"},
      {[](LFM2Config &c) { c.numDenseLayers = 5; }, "'numDenseLayers'"},
      {[](LFM2Config &c) { c.numExperts = 0; }, "'numExperts'"},
      {[](LFM2Config &c) { c.expertFFNSize = 0; }, "'expertFFNSize'"},
      {[](LFM2Config &c) { c.normEps = 0; }, "'normEps'"},
      {[](LFM2Config &c) { c.ropeTheta = -1; }, "'ropeTheta'"},
      {[](LFM2Config &c) { c.vocabSize = 0; }, "'vocabSize'"},
      {[](LFM2Config &c) { c.hiddenSize = int64_t(1) << 40; }, "'hiddenSize'"},
      {[](LFM2Config &c) { c.arch = "llama"; }, "'arch'"},
  };
  for (const Case &k : cases) {
    LFM2Config c = validMoEConfig();
    k.mutate(c);
    Status s = c.validate();
    ASSERT_FALSE(s.isOk()) << k.field;
    EXPECT_THAT(s.message(), HasSubstr(k.field));
  }
}

TEST(LFM2ConfigValidate, RequiredTensorOrderIsDeterministic) {
  std::vector<TensorRequirement> r = requiredTensors(validMoEConfig());
  ASSERT_EQ(r.size(), 44u);
  EXPECT_EQ(r[0].name, "token_embd.weight");
  EXPECT_EQ(r[0].ne, (std::vector<int64_t>{256, 1024}));
  EXPECT_FALSE(r[0].floatOnly);
  EXPECT_EQ(r[1].name, "token_embd_norm.weight");
  EXPECT_TRUE(r[1].floatOnly);
  std::set<std::string> names;
  for (const TensorRequirement &t : r) {
    EXPECT_TRUE(names.insert(t.name).second) << t.name;
    bool isFloatOnly = t.name.find("norm") != std::string::npos ||
                       t.name.find("shortconv.conv") != std::string::npos ||
                       t.name.find("ffn_gate_inp") != std::string::npos ||
                       t.name.find("exp_probs_b") != std::string::npos;
    EXPECT_EQ(t.floatOnly, isFloatOnly) << t.name;
  }
  EXPECT_TRUE(names.count("blk.3.ffn_down_exps.weight"));
  EXPECT_FALSE(names.count("blk.1.ffn_down_exps.weight"));
  EXPECT_FALSE(names.count("blk.1.shortconv.conv.weight"));
  EXPECT_TRUE(names.count("blk.2.shortconv.conv.weight"));
}

} // namespace
