//===- HFModelTest.cpp - Hugging Face folder loader tests -----------------===//
//
// Two halves: the Hugging Face folders of the shared fixtures must give the
// same configuration and bit-identical tensors as their GGUF twins, and
// copies of those folders damaged in one specific way must each fail with a
// message that names the file and the damaged tensor or field.
//
// The test reads and writes safetensors files with its own small code (not
// with SafetensorsFile), so reader bugs cannot cancel out.
//
//===----------------------------------------------------------------------===//
#include "frontend/HFModel.h"
#include "frontend/GGUF.h"
#include "frontend/ModelConfig.h"
#include "frontend/ModelSource.h"
#include "frontend/Safetensors.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

using namespace lfm2c;
namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

namespace {

const std::string kFixtures = LFM2C_FIXTURES_DIR;
const std::string kMoE = kFixtures + "/tiny-lfm2moe";
const std::string kDense = kFixtures + "/tiny-lfm2-dense";

using Bytes = std::vector<uint8_t>;

Bytes readBytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  Bytes b(static_cast<size_t>(std::max<std::streamoff>(in.tellg(), 0)));
  in.seekg(0);
  in.read(reinterpret_cast<char *>(b.data()),
          static_cast<std::streamsize>(b.size()));
  return b;
}

void writeBytes(const std::string &path, const Bytes &bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char *>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

//===----------------------------------------------------------------------===//
// A minimal safetensors reader/writer for building damaged files.
//===----------------------------------------------------------------------===//

struct Entry {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  Bytes data;
};

struct STFile {
  std::vector<Entry> entries;

  Entry *find(const std::string &name) {
    for (Entry &e : entries) {
      if (e.name == name) {
        return &e;
      }
    }
    return nullptr;
  }
  void remove(const std::string &name) {
    auto it = std::remove_if(entries.begin(), entries.end(),
                             [&](const Entry &e) { return e.name == name; });
    ASSERT_NE(it, entries.end()) << name;
    entries.erase(it, entries.end());
  }
};

STFile readST(const std::string &path) {
  Bytes b = readBytes(path);
  uint64_t n = 0;
  std::memcpy(&n, b.data(), 8);
  ojson h = ojson::parse(b.begin() + 8, b.begin() + 8 + n);
  STFile f;
  for (auto &[name, v] : h.items()) {
    if (name == "__metadata__") {
      continue;
    }
    Entry e;
    e.name = name;
    e.dtype = v["dtype"].get<std::string>();
    e.shape = v["shape"].get<std::vector<int64_t>>();
    uint64_t begin = v["data_offsets"][0], end = v["data_offsets"][1];
    e.data.assign(b.begin() + 8 + n + begin, b.begin() + 8 + n + end);
    f.entries.push_back(std::move(e));
  }
  return f;
}

// Writes entries back to back; `patch` may edit the header JSON afterwards.
void writeST(const std::string &path, const STFile &f,
             const std::function<void(ojson &)> &patch = {}) {
  ojson h;
  h["__metadata__"] = {{"format", "pt"}};
  Bytes data;
  for (const Entry &e : f.entries) {
    h[e.name] = {{"dtype", e.dtype},
                 {"shape", e.shape},
                 {"data_offsets", {data.size(), data.size() + e.data.size()}}};
    data.insert(data.end(), e.data.begin(), e.data.end());
  }
  if (patch) {
    patch(h);
  }
  std::string text = h.dump();
  while ((8 + text.size()) % 8 != 0) {
    text += ' ';
  }
  Bytes out(8);
  uint64_t n = text.size();
  std::memcpy(out.data(), &n, 8);
  out.insert(out.end(), text.begin(), text.end());
  out.insert(out.end(), data.begin(), data.end());
  writeBytes(path, out);
}

void editST(const std::string &path, const std::function<void(STFile &)> &fn,
            const std::function<void(ojson &)> &patch = {}) {
  STFile f = readST(path);
  fn(f);
  writeST(path, f, patch);
}

void editJSON(const std::string &path, const std::function<void(ojson &)> &fn) {
  std::ifstream in(path);
  ojson j = ojson::parse(in);
  in.close();
  fn(j);
  std::ofstream out(path, std::ios::trunc);
  out << j.dump(2);
}

// A writable copy of a fixture folder, removed at the end of the test.
class TempCopy {
public:
  explicit TempCopy(const std::string &src) {
    std::string tmpl =
        (fs::temp_directory_path() / "lfm2c-hf-test-XXXXXX").string();
    char *made = mkdtemp(tmpl.data());
    EXPECT_NE(made, nullptr);
    root_ = tmpl;
    dir_ = (fs::path(root_) / fs::path(src).filename()).string();
    fs::copy(src, dir_, fs::copy_options::recursive);
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add);
    for (const auto &e : fs::directory_iterator(dir_)) {
      fs::permissions(e.path(), fs::perms::owner_read | fs::perms::owner_write,
                      fs::perm_options::add);
    }
  }
  ~TempCopy() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  const std::string &dir() const { return dir_; }
  std::string file(const std::string &name) const {
    return (fs::path(dir_) / name).string();
  }

private:
  std::string root_, dir_;
};

// Opens `dir`, expects failure, and returns the message.
std::string openError(const std::string &dir) {
  auto m = HFModel::open(dir);
  EXPECT_FALSE(m.isOk()) << dir << " opened unexpectedly";
  return m.isOk() ? std::string() : m.status().message();
}

#define EXPECT_HAS(msg, sub)                                                   \
  EXPECT_NE(std::string(msg).find(sub), std::string::npos)                     \
      << "message: " << (msg) << "\nexpected to contain: " << (sub)

void expectConfigEq(const LFM2Config &a, const LFM2Config &b) {
  EXPECT_EQ(a.arch, b.arch);
  EXPECT_EQ(a.vocabSize, b.vocabSize);
  EXPECT_EQ(a.hiddenSize, b.hiddenSize);
  EXPECT_EQ(a.numLayers, b.numLayers);
  EXPECT_EQ(a.numHeads, b.numHeads);
  EXPECT_EQ(a.headDim, b.headDim);
  EXPECT_EQ(a.contextLength, b.contextLength);
  EXPECT_EQ(a.kvHeads, b.kvHeads);
  EXPECT_EQ(a.denseFFNSize, b.denseFFNSize);
  EXPECT_EQ(a.numDenseLayers, b.numDenseLayers);
  EXPECT_EQ(a.numExperts, b.numExperts);
  EXPECT_EQ(a.topK, b.topK);
  EXPECT_EQ(a.expertFFNSize, b.expertFFNSize);
  EXPECT_EQ(a.ropeTheta, b.ropeTheta);
  EXPECT_EQ(a.normEps, b.normEps);
  EXPECT_EQ(a.convLCache, b.convLCache);
}

void expectTensorEq(const GGUFTensorInfo *hf, const GGUFTensorInfo *gg,
                    const std::string &name) {
  ASSERT_NE(hf, nullptr) << name;
  ASSERT_NE(gg, nullptr) << name;
  EXPECT_EQ(hf->name, name);
  EXPECT_EQ(hf->ne, gg->ne) << name;
  EXPECT_EQ(hf->type, gg->type) << name;
  ASSERT_EQ(hf->nbytes, gg->nbytes) << name;
  EXPECT_EQ(std::memcmp(hf->data, gg->data, hf->nbytes), 0) << name;
}

//===----------------------------------------------------------------------===//
// The fixture folders equal their GGUF twins.
//===----------------------------------------------------------------------===//

struct Twin {
  const char *hfDir; // relative to the fixtures folder
  const char *gguf;
  size_t hfTensorCount; // tensors in the safetensors file(s)
};

class TwinTest : public ::testing::TestWithParam<Twin> {};

TEST_P(TwinTest, ConfigAndTensorsMatchGGUF) {
  const Twin &t = GetParam();
  auto hf = HFModel::open(kFixtures + "/" + t.hfDir);
  ASSERT_TRUE(hf.isOk()) << hf.status().message();
  auto gguf = GGUFFile::open(kFixtures + "/" + t.gguf);
  ASSERT_TRUE(gguf.isOk()) << gguf.status().message();
  auto ggufConfig = configFromGGUF(**gguf);
  ASSERT_TRUE(ggufConfig.isOk()) << ggufConfig.status().message();
  expectConfigEq((*hf)->config(), *ggufConfig);

  size_t stTensors = 0;
  for (const auto &f : (*hf)->files()) {
    stTensors += f->tensors().size();
  }
  EXPECT_EQ(stTensors, t.hfTensorCount);

  const auto reqs = requiredTensors(*ggufConfig);
  EXPECT_EQ((*hf)->tensors().size(), reqs.size());
  for (const TensorRequirement &req : reqs) {
    expectTensorEq((*hf)->tensor(req.name), (*gguf)->tensor(req.name),
                   req.name);
  }
  // Tied: neither has an output projection.
  EXPECT_EQ((*hf)->tensor("output.weight"), nullptr);
  EXPECT_EQ((*gguf)->tensor("output.weight"), nullptr);
  EXPECT_EQ((*hf)->tensor("no.such.tensor"), nullptr);
}

TEST_P(TwinTest, OpenModelDispatchesOnPathKind) {
  const Twin &t = GetParam();
  auto hf = openModel(kFixtures + "/" + t.hfDir + "/");
  ASSERT_TRUE(hf.isOk()) << hf.status().message();
  auto gg = openModel(kFixtures + "/" + t.gguf);
  ASSERT_TRUE(gg.isOk()) << gg.status().message();
  EXPECT_EQ(hf->format, "hf");
  EXPECT_EQ(gg->format, "gguf");
  EXPECT_EQ(hf->name, fs::path(t.hfDir).filename().string());
  EXPECT_EQ(gg->name, "model-f32.gguf");
  expectConfigEq(hf->config, gg->config);
  // The lookup outlives the ModelSource it came from via keepAlive.
  auto lookup = hf->tensor;
  std::shared_ptr<void> keep = hf->keepAlive;
  hf = Status::error("dropped");
  for (const TensorRequirement &req : requiredTensors(gg->config)) {
    expectTensorEq(lookup(req.name), gg->tensor(req.name), req.name);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, TwinTest,
    ::testing::Values(
        Twin{"tiny-lfm2moe/hf", "tiny-lfm2moe/model-f32.gguf",
             // 44 GGUF tensors, of which 6 are stacked from 8
             // experts each: 44 - 6 + 48.
             86},
        Twin{"tiny-lfm2moe/hf-sharded", "tiny-lfm2moe/model-f32.gguf", 86},
        Twin{"tiny-lfm2-dense/hf", "tiny-lfm2-dense/model-f32.gguf", 56}),
    [](const ::testing::TestParamInfo<Twin> &p) {
      std::string n = p.param.hfDir;
      for (char &c : n) {
        if (!std::isalnum(static_cast<unsigned char>(c))) {
          c = '_';
        }
      }
      return n;
    });

TEST(HFModel, MoEConfigFromFixture) {
  auto m = HFModel::open(kMoE + "/hf");
  ASSERT_TRUE(m.isOk()) << m.status().message();
  const LFM2Config &c = (*m)->config();
  EXPECT_EQ(c.arch, "lfm2moe");
  EXPECT_EQ(c.kvHeads, (std::vector<int64_t>{0, 2, 0, 2}));
  EXPECT_EQ(c.numExperts, 8);
  EXPECT_EQ(c.topK, 2);
  EXPECT_EQ(c.expertFFNSize, 32);
  EXPECT_EQ(c.denseFFNSize, 256);
  EXPECT_EQ(c.numDenseLayers, 2);
  // 2 MoE layers x 3 stacked tensors x 8 experts x 32 x 256 floats.
  EXPECT_EQ((*m)->ownedBytes(), 2u * 3 * 8 * 32 * 256 * 4);
  const GGUFTensorInfo *conv = (*m)->tensor("blk.0.shortconv.conv.weight");
  ASSERT_NE(conv, nullptr);
  EXPECT_EQ(conv->ne, (std::vector<int64_t>{3, 256}));
  const GGUFTensorInfo *down = (*m)->tensor("blk.3.ffn_down_exps.weight");
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(down->ne, (std::vector<int64_t>{32, 256, 8}));
  EXPECT_EQ(down->type, GGMLType::F32);
  EXPECT_EQ(down->offset, 0u);
}

TEST(HFModel, DenseConfigFromFixture) {
  auto m = HFModel::open(kDense + "/hf");
  ASSERT_TRUE(m.isOk()) << m.status().message();
  EXPECT_EQ((*m)->config().arch, "lfm2");
  EXPECT_EQ((*m)->config().denseFFNSize, 192);
  EXPECT_EQ((*m)->config().numDenseLayers, 6);
  EXPECT_EQ((*m)->ownedBytes(), 0u);
}

TEST(HFModel, TensorNameMapping) {
  EXPECT_EQ(hfTensorName("token_embd.weight"), "model.embed_tokens.weight");
  EXPECT_EQ(hfTensorName("token_embd_norm.weight"),
            "model.embedding_norm.weight");
  EXPECT_EQ(hfTensorName("output.weight"), "lm_head.weight");
  EXPECT_EQ(hfTensorName("blk.12.attn_norm.weight"),
            "model.layers.12.operator_norm.weight");
  EXPECT_EQ(hfTensorName("blk.3.attn_k.weight"),
            "model.layers.3.self_attn.k_proj.weight");
  EXPECT_EQ(hfTensorName("blk.3.attn_output.weight"),
            "model.layers.3.self_attn.out_proj.weight");
  EXPECT_EQ(hfTensorName("blk.0.shortconv.conv.weight"),
            "model.layers.0.conv.conv.weight");
  EXPECT_EQ(hfTensorName("blk.2.exp_probs_b.bias"),
            "model.layers.2.feed_forward.expert_bias");
  EXPECT_EQ(hfTensorName("blk.2.ffn_gate_inp.weight"),
            "model.layers.2.feed_forward.gate.weight");
  EXPECT_EQ(hfTensorName("blk.2.ffn_up_exps.weight", 5),
            "model.layers.2.feed_forward.experts.5.w3.weight");
  EXPECT_EQ(hfTensorName("blk.2.ffn_down_exps.weight", 0),
            "model.layers.2.feed_forward.experts.0.w2.weight");
  EXPECT_EQ(hfTensorName("blk.x.attn_k.weight"), "");
  EXPECT_EQ(hfTensorName("blk.1.nope.weight"), "");
  EXPECT_EQ(hfTensorName("rope_freqs.weight"), "");
}

//===----------------------------------------------------------------------===//
// config.json
//===----------------------------------------------------------------------===//

std::string configText(const std::string &fixtureDir,
                       const std::function<void(ojson &)> &fn) {
  std::ifstream in(fixtureDir + "/config.json");
  ojson j = ojson::parse(in);
  fn(j);
  return j.dump();
}

std::string configError(const std::string &fixtureDir,
                        const std::function<void(ojson &)> &fn) {
  auto c = configFromHFConfigText(configText(fixtureDir, fn), "x/config.json");
  EXPECT_FALSE(c.isOk());
  return c.isOk() ? std::string() : c.status().message();
}

TEST(HFConfig, DenseFFNWidthRule) {
  // LFM2-350M: block_ff_dim 6656 auto-adjusted -> 4608 (reference section 1).
  auto c = configFromHFConfigText(configText(kDense + "/hf",
                                             [](ojson &j) {
                                               j["block_ff_dim"] = 6656;
                                               j["intermediate_size"] = 6656;
                                               j["block_auto_adjust_ff_dim"] =
                                                   true;
                                             }),
                                  "config.json");
  ASSERT_TRUE(c.isOk()) << c.status().message();
  EXPECT_EQ(c->denseFFNSize, 4608);
  // The fixture with auto-adjust on: floor(2*192/3) = 128 -> 256.
  c = configFromHFConfigText(
      configText(kDense + "/hf",
                 [](ojson &j) { j["block_auto_adjust_ff_dim"] = true; }),
      "config.json");
  ASSERT_TRUE(c.isOk()) << c.status().message();
  EXPECT_EQ(c->denseFFNSize, 256);
  // Without block_ff_dim, intermediate_size is the width.
  c = configFromHFConfigText(configText(kDense + "/hf",
                                        [](ojson &j) {
                                          j.erase("block_ff_dim");
                                          j["intermediate_size"] = 320;
                                        }),
                             "config.json");
  ASSERT_TRUE(c.isOk()) << c.status().message();
  EXPECT_EQ(c->denseFFNSize, 320);
}

TEST(HFConfig, FullAttnIdxsInsteadOfLayerTypes) {
  auto c = configFromHFConfigText(configText(kDense + "/hf",
                                             [](ojson &j) {
                                               j.erase("layer_types");
                                               j["full_attn_idxs"] = {2, 5};
                                             }),
                                  "config.json");
  ASSERT_TRUE(c.isOk()) << c.status().message();
  EXPECT_EQ(c->kvHeads, (std::vector<int64_t>{0, 0, 1, 0, 0, 1}));
  std::string msg = configError(kDense + "/hf",
                                [](ojson &j) { j["full_attn_idxs"] = {2, 4}; });
  EXPECT_HAS(msg, "x/config.json: field 'full_attn_idxs' disagrees");
  msg = configError(kDense + "/hf", [](ojson &j) {
    j.erase("layer_types");
    j["full_attn_idxs"] = {2, 6};
  });
  EXPECT_HAS(msg, "field 'full_attn_idxs[1]' is 6, expected an integer in "
                  "[0, 5]");
}

TEST(HFConfig, RopeParametersFallback) {
  auto c = configFromHFConfigText(configText(kMoE + "/hf",
                                             [](ojson &j) {
                                               j.erase("rope_theta");
                                               j["rope_parameters"] = {
                                                   {"rope_type", "default"},
                                                   {"rope_theta", 5000000.0}};
                                             }),
                                  "config.json");
  ASSERT_TRUE(c.isOk()) << c.status().message();
  EXPECT_EQ(c->ropeTheta, 5e6);
}

TEST(HFConfig, BadFields) {
  struct Case {
    std::string dir;
    std::function<void(ojson &)> edit;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {kMoE + "/hf", [](ojson &j) { j.erase("hidden_size"); },
       "x/config.json: field 'hidden_size' is missing, expected an integer"},
      {kMoE + "/hf", [](ojson &j) { j["model_type"] = "llama"; },
       "field 'model_type' is a string (\"llama\"), expected \"lfm2\" or "
       "\"lfm2_moe\""},
      {kMoE + "/hf", [](ojson &j) { j.erase("model_type"); },
       "field 'model_type' is missing"},
      {kMoE + "/hf",
       [](ojson &j) { j["layer_types"] = {"conv", "full_attention", "conv"}; },
       "field 'layer_types' has 3 entries, expected num_hidden_layers = 4"},
      {kMoE + "/hf", [](ojson &j) { j["layer_types"][2] = "sliding"; },
       "field 'layer_types[2]' is \"sliding\", expected \"conv\" or "
       "\"full_attention\""},
      {kMoE + "/hf", [](ojson &j) { j.erase("layer_types"); },
       "field 'layer_types' is missing"},
      {kMoE + "/hf", [](ojson &j) { j["num_experts"] = "8"; },
       "field 'num_experts' is a string (\"8\"), expected an integer"},
      {kMoE + "/hf", [](ojson &j) { j["vocab_size"] = 0; },
       "field 'vocab_size' is 0, expected an integer in [1, 2147483647]"},
      {kMoE + "/hf", [](ojson &j) { j["hidden_size"] = 250; },
       "field 'num_attention_heads' is 4, which does not divide "
       "hidden_size = 250"},
      {kMoE + "/hf", [](ojson &j) { j["num_key_value_heads"] = 3; },
       "field 'num_key_value_heads' is 3, expected a divisor of "
       "num_attention_heads = 4"},
      {kMoE + "/hf", [](ojson &j) { j["num_experts_per_tok"] = 9; },
       "field 'num_experts_per_tok' is 9, expected at most num_experts = 8"},
      {kMoE + "/hf", [](ojson &j) { j.erase("moe_intermediate_size"); },
       "field 'moe_intermediate_size' is missing"},
      {kMoE + "/hf", [](ojson &j) { j["num_dense_layers"] = 5; },
       "field 'num_dense_layers' is 5, expected an integer in [0, 4]"},
      {kMoE + "/hf", [](ojson &j) { j["rope_theta"] = -1; },
       "field 'rope_theta' is a number (-1), expected a positive number"},
      {kMoE + "/hf", [](ojson &j) { j.erase("norm_eps"); },
       "field 'norm_eps' is missing"},
      {kMoE + "/hf", [](ojson &j) { j["conv_bias"] = true; },
       "field 'conv_bias' is true, expected false"},
      {kMoE + "/hf", [](ojson &j) { j["use_expert_bias"] = false; },
       "field 'use_expert_bias' is false, expected true"},
      {kMoE + "/hf", [](ojson &j) { j["norm_topk_prob"] = false; },
       "field 'norm_topk_prob' is false, expected true"},
      {kMoE + "/hf", [](ojson &j) { j["routed_scaling_factor"] = 2.5; },
       "field 'routed_scaling_factor' is a number (2.5), expected 1.0"},
      {kMoE + "/hf", [](ojson &j) { j["tie_word_embeddings"] = "yes"; },
       "field 'tie_word_embeddings' is a string (\"yes\"), expected true or "
       "false"},
      {kMoE + "/hf", [](ojson &j) { j["head_dim"] = 32; },
       "field 'head_dim' is 32, expected hidden_size / num_attention_heads = "
       "64"},
      {kDense + "/hf",
       [](ojson &j) {
         j.erase("block_ff_dim");
         j.erase("intermediate_size");
       },
       "field 'block_ff_dim' is missing (and so is 'intermediate_size')"},
      {kDense + "/hf", [](ojson &j) { j["block_auto_adjust_ff_dim"] = 1; },
       "field 'block_auto_adjust_ff_dim' is a number (1), expected true or "
       "false"},
  };
  for (const Case &c : cases) {
    std::string msg = configError(c.dir, c.edit);
    EXPECT_HAS(msg, c.expect);
    EXPECT_HAS(msg, "x/config.json: ");
  }
  auto bad = configFromHFConfigText("{\"model_type\": ", "x/config.json");
  ASSERT_FALSE(bad.isOk());
  EXPECT_HAS(bad.status().message(), "x/config.json: not valid JSON");
  bad = configFromHFConfigText("[1,2]", "x/config.json");
  ASSERT_FALSE(bad.isOk());
  EXPECT_HAS(bad.status().message(), "expected a JSON object");
}

TEST(HFModel, BadConfigInFolder) {
  TempCopy t(kMoE + "/hf");
  editJSON(t.file("config.json"), [](ojson &j) { j.erase("hidden_size"); });
  std::string msg = openError(t.dir());
  EXPECT_HAS(msg, t.file("config.json") + ": field 'hidden_size' is missing");

  fs::remove(t.file("config.json"));
  msg = openError(t.dir());
  EXPECT_HAS(msg, t.file("config.json"));
}

//===----------------------------------------------------------------------===//
// Damaged safetensors files
//===----------------------------------------------------------------------===//

TEST(Safetensors, ReadsFixture) {
  auto f = SafetensorsFile::open(kMoE + "/hf/model.safetensors");
  ASSERT_TRUE(f.isOk()) << f.status().message();
  EXPECT_EQ((*f)->tensors().size(), 86u);
  EXPECT_EQ((*f)->metadata().at("format"), "pt");
  EXPECT_EQ((*f)->dataOffset() % 8, 0u);
  const SafetensorsTensor *t = (*f)->tensor("model.layers.0.conv.conv.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->dtype, "F32");
  EXPECT_EQ(t->shape, (std::vector<int64_t>{256, 1, 3}));
  EXPECT_EQ(t->nbytes, 256u * 3 * 4);
  // Header order is kept.
  EXPECT_EQ((*f)->tensors().front().name, "model.embed_tokens.weight");
  EXPECT_EQ((*f)->tensor("nope"), nullptr);
}

TEST(Safetensors, BrokenHeaders) {
  TempCopy t(kMoE + "/hf");
  const std::string path = t.file("model.safetensors");
  const Bytes good = readBytes(path);
  uint64_t headerLen = 0;
  std::memcpy(&headerLen, good.data(), 8);

  auto expectError = [&](const Bytes &bytes, const std::string &sub) {
    writeBytes(path, bytes);
    auto f = SafetensorsFile::open(path);
    ASSERT_FALSE(f.isOk()) << sub;
    EXPECT_HAS(f.status().message(), path + ": ");
    EXPECT_HAS(f.status().message(), sub);
    // HFModel passes the reader's message on.
    EXPECT_HAS(openError(t.dir()), sub);
  };

  expectError(Bytes(good.begin(), good.begin() + 5),
              "file is 5 bytes, too short");
  {
    Bytes b = good;
    uint64_t n = b.size(); // past EOF by 8
    std::memcpy(b.data(), &n, 8);
    expectError(b, "header length " + std::to_string(n) +
                       " runs past the end of the file");
  }
  {
    Bytes b = good;
    uint64_t n = ~uint64_t(0);
    std::memcpy(b.data(), &n, 8);
    expectError(b, "header length 18446744073709551615 runs past the end");
  }
  {
    Bytes b = good;
    b[8 + 20] = '#'; // inside the first key
    b[8 + 21] = '"';
    expectError(b, "header is not valid JSON");
  }
  {
    Bytes b = good;
    uint64_t n = headerLen - 10; // cuts the JSON short
    std::memcpy(b.data(), &n, 8);
    expectError(b, "header is not valid JSON");
  }
  {
    // A truncated file: the last tensor's data runs past the end.
    Bytes b(good.begin(), good.end() - 100);
    STFile st = readST(kMoE + "/hf/model.safetensors");
    expectError(b, "tensor '" + st.entries.back().name + "' has data_offsets");
    expectError(b, "out of bounds: the data section holds");
  }
  {
    const std::string hdr = "[1,2,3]";
    Bytes b(8);
    uint64_t n = hdr.size();
    std::memcpy(b.data(), &n, 8);
    b.insert(b.end(), hdr.begin(), hdr.end());
    expectError(b, "header is a JSON array, expected an object");
  }
}

TEST(Safetensors, BadEntries) {
  TempCopy t(kMoE + "/hf");
  const std::string path = t.file("model.safetensors");
  const std::string src = kMoE + "/hf/model.safetensors";
  const std::string norm = "model.embedding_norm.weight";
  struct Case {
    std::function<void(ojson &)> patch;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {[&](ojson &h) { h[norm]["data_offsets"][1] = 1u << 30; },
       "tensor 'model.embedding_norm.weight' has data_offsets"},
      {[&](ojson &h) {
         h[norm]["data_offsets"] = {uint64_t(1) << 62, uint64_t(1) << 62};
       },
       "out of bounds"},
      {[&](ojson &h) {
         h[norm]["data_offsets"] = {h[norm]["data_offsets"][1],
                                    h[norm]["data_offsets"][0]};
       },
       "out of bounds"},
      {[&](ojson &h) { h[norm]["data_offsets"] = {-1, 4}; },
       "tensor 'model.embedding_norm.weight' has data_offsets [-1,4], "
       "expected [begin, end]"},
      {[&](ojson &h) { h[norm].erase("data_offsets"); },
       "has data_offsets missing"},
      // F16 declared over F32-sized data.
      {[&](ojson &h) { h[norm]["dtype"] = "F16"; },
       "tensor 'model.embedding_norm.weight' has dtype F16 and shape [256] "
       "(512 bytes), but its data_offsets"},
      {[&](ojson &h) { h[norm]["dtype"] = "Q4_K"; },
       "tensor 'model.embedding_norm.weight' has unknown dtype 'Q4_K'"},
      {[&](ojson &h) { h[norm].erase("dtype"); }, "has no string 'dtype'"},
      {[&](ojson &h) { h[norm]["shape"] = {-256}; },
       "has shape [-256], expected non-negative integers"},
      {[&](ojson &h) { h[norm]["shape"] = {256, 1.5}; },
       "expected non-negative integers"},
      {[&](ojson &h) {
         h[norm]["shape"] = {uint64_t(1) << 40, uint64_t(1) << 40};
       },
       "(overflowing bytes)"},
      {[&](ojson &h) { h[norm] = 3; }, "is described by a JSON number"},
      {[&](ojson &h) { h["__metadata__"] = "pt"; },
       "'__metadata__' is a JSON string, expected an object"},
  };
  const STFile st = readST(src);
  for (const Case &c : cases) {
    writeST(path, st, c.patch);
    auto f = SafetensorsFile::open(path);
    ASSERT_FALSE(f.isOk()) << c.expect;
    EXPECT_HAS(f.status().message(), path + ": ");
    EXPECT_HAS(f.status().message(), c.expect);
  }
}

TEST(HFModel, DtypeMismatch) {
  TempCopy t(kMoE + "/hf");
  const std::string path = t.file("model.safetensors");
  // I32 has the size of F32, so only the model-level check catches it.
  editST(path, [](STFile &f) {
    f.find("model.layers.0.operator_norm.weight")->dtype = "I32";
  });
  EXPECT_HAS(openError(t.dir()),
             path + ": tensor 'model.layers.0.operator_norm.weight' has dtype "
                    "I32, expected F32, F16 or BF16");
}

TEST(HFModel, MixedExpertDtypes) {
  TempCopy t(kMoE + "/hf");
  const std::string path = t.file("model.safetensors");
  editST(path, [](STFile &f) {
    Entry *e = f.find("model.layers.2.feed_forward.experts.3.w1.weight");
    Bytes half(e->data.size() / 2);
    for (size_t i = 0; i < half.size(); i += 2) {
      half[i] = e->data[2 * i + 2]; // BF16 = high half of each float
      half[i + 1] = e->data[2 * i + 3];
    }
    e->data = half;
    e->dtype = "BF16";
  });
  EXPECT_HAS(openError(t.dir()),
             path + ": tensor 'model.layers.2.feed_forward.experts.3.w1.weight'"
                    " has dtype BF16, expected F32 like expert 0");
}

TEST(HFModel, BF16AndF16Accepted) {
  TempCopy t(kMoE + "/hf");
  const std::string path = t.file("model.safetensors");
  Bytes bf16, f16;
  editST(path, [&](STFile &f) {
    Entry *e = f.find("model.embed_tokens.weight");
    bf16.resize(e->data.size() / 2);
    for (size_t i = 0; i < bf16.size(); i += 2) {
      bf16[i] = e->data[2 * i + 2];
      bf16[i + 1] = e->data[2 * i + 3];
    }
    e->data = bf16;
    e->dtype = "BF16";
    // F16 bytes need not be meaningful numbers for the loader.
    Entry *q = f.find("model.layers.1.self_attn.q_proj.weight");
    f16.assign(q->data.begin(), q->data.begin() + q->data.size() / 2);
    q->data = f16;
    q->dtype = "F16";
  });
  auto m = HFModel::open(t.dir());
  ASSERT_TRUE(m.isOk()) << m.status().message();
  const GGUFTensorInfo *emb = (*m)->tensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->type, GGMLType::BF16);
  EXPECT_EQ(emb->ne, (std::vector<int64_t>{256, 1024}));
  ASSERT_EQ(emb->nbytes, bf16.size());
  EXPECT_EQ(std::memcmp(emb->data, bf16.data(), bf16.size()), 0);
  const GGUFTensorInfo *q = (*m)->tensor("blk.1.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->type, GGMLType::F16);
  EXPECT_EQ(q->nbytes, f16.size());
}

TEST(HFModel, ShapeMismatch) {
  TempCopy t(kMoE + "/hf");
  const std::string path = t.file("model.safetensors");
  editST(path, [](STFile &f) {
    f.find("model.layers.1.self_attn.k_proj.weight")->shape = {256, 128};
  });
  EXPECT_HAS(openError(t.dir()),
             path + ": tensor 'model.layers.1.self_attn.k_proj.weight' has "
                    "shape [256,128], expected [128,256]");
}

TEST(HFModel, ExpertShapeMismatch) {
  TempCopy t(kMoE + "/hf");
  const std::string path = t.file("model.safetensors");
  editST(path, [](STFile &f) {
    f.find("model.layers.3.feed_forward.experts.5.w2.weight")->shape = {32,
                                                                        256};
  });
  EXPECT_HAS(openError(t.dir()),
             path + ": tensor 'model.layers.3.feed_forward.experts.5.w2.weight'"
                    " has shape [32,256], expected [256,32]");
}

TEST(HFModel, ConvKernelNeedsUnitAxis) {
  TempCopy t(kMoE + "/hf");
  const std::string path = t.file("model.safetensors");
  editST(path, [](STFile &f) {
    f.find("model.layers.2.conv.conv.weight")->shape = {256, 3};
  });
  EXPECT_HAS(openError(t.dir()),
             "tensor 'model.layers.2.conv.conv.weight' has shape [256,3], "
             "expected [256,1,3]");
}

TEST(HFModel, DenseAutoAdjustedWidthDoesNotLoad) {
  TempCopy t(kDense + "/hf");
  editJSON(t.file("config.json"),
           [](ojson &j) { j["block_auto_adjust_ff_dim"] = true; });
  EXPECT_HAS(openError(t.dir()),
             t.file("model.safetensors") +
                 ": tensor 'model.layers.0.feed_forward.w1.weight' has shape "
                 "[192,128], expected [256,128]");
}

TEST(HFModel, LayerTypesDisagreeWithTensors) {
  TempCopy t(kMoE + "/hf");
  editJSON(t.file("config.json"), [](ojson &j) {
    j["layer_types"] = {"full_attention", "full_attention", "conv",
                        "full_attention"};
  });
  EXPECT_HAS(openError(t.dir()),
             "tensor 'model.layers.0.self_attn.q_proj.weight' is missing");
}

TEST(HFModel, MissingTensor) {
  TempCopy t(kMoE + "/hf");
  const std::string path = t.file("model.safetensors");
  editST(path, [](STFile &f) {
    f.remove("model.layers.1.self_attn.q_layernorm.weight");
  });
  EXPECT_HAS(openError(t.dir()),
             path + ": tensor 'model.layers.1.self_attn.q_layernorm.weight' "
                    "is missing");

  editST(path, [](STFile &f) {
    STFile orig = readST(kMoE + "/hf/model.safetensors");
    f = orig;
    f.remove("model.layers.3.feed_forward.experts.7.w3.weight");
  });
  EXPECT_HAS(openError(t.dir()),
             path + ": tensor 'model.layers.3.feed_forward.experts.7.w3.weight'"
                    " is missing");
}

TEST(HFModel, UnexpectedTensor) {
  TempCopy t(kMoE + "/hf");
  const std::string path = t.file("model.safetensors");
  editST(path, [](STFile &f) {
    f.entries.push_back(
        {"model.layers.0.conv.conv.bias", "F32", {256}, Bytes(1024)});
  });
  EXPECT_HAS(openError(t.dir()),
             path + ": tensor 'model.layers.0.conv.conv.bias' is not part of "
                    "the model described by config.json");
}

TEST(HFModel, UntiedOutput) {
  TempCopy t(kMoE + "/hf");
  const std::string path = t.file("model.safetensors");
  editJSON(t.file("config.json"),
           [](ojson &j) { j["tie_word_embeddings"] = false; });
  EXPECT_HAS(openError(t.dir()),
             t.file("config.json") +
                 ": field 'tie_word_embeddings' is false, but tensor "
                 "'lm_head.weight' is missing");

  Bytes head;
  editST(path, [&](STFile &f) {
    Entry e = *f.find("model.embed_tokens.weight");
    e.name = "lm_head.weight";
    for (size_t i = 0; i < e.data.size(); ++i) {
      e.data[i] ^= 0x01;
    }
    head = e.data;
    f.entries.push_back(e);
  });
  auto m = HFModel::open(t.dir());
  ASSERT_TRUE(m.isOk()) << m.status().message();
  const GGUFTensorInfo *out = (*m)->tensor("output.weight");
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->ne, (std::vector<int64_t>{256, 1024}));
  ASSERT_EQ(out->nbytes, head.size());
  EXPECT_EQ(std::memcmp(out->data, head.data(), head.size()), 0);
  EXPECT_EQ((*m)->tensors().back().name, "output.weight");

  editST(path,
         [](STFile &f) { f.find("lm_head.weight")->shape = {256, 1024}; });
  EXPECT_HAS(openError(t.dir()), path + ": tensor 'lm_head.weight' has shape "
                                        "[256,1024], expected [1024,256]");
}

//===----------------------------------------------------------------------===//
// Sharded folders
//===----------------------------------------------------------------------===//

TEST(HFModel, MissingShard) {
  TempCopy t(kMoE + "/hf-sharded");
  fs::remove(t.file("model-00002-of-00002.safetensors"));
  std::string msg = openError(t.dir());
  EXPECT_HAS(msg, t.file("model.safetensors.index.json") +
                      ": shard 'model-00002-of-00002.safetensors' listed in "
                      "weight_map cannot be read");
  EXPECT_HAS(msg, t.file("model-00002-of-00002.safetensors") + ": cannot open");
}

TEST(HFModel, ShardedWeightMapProblems) {
  TempCopy t(kMoE + "/hf-sharded");
  const std::string index = t.file("model.safetensors.index.json");
  const std::string shard1 = t.file("model-00001-of-00002.safetensors");
  const std::string shard2 = t.file("model-00002-of-00002.safetensors");

  // The index maps a tensor to a shard that lacks it.
  editJSON(index, [](ojson &j) {
    j["weight_map"]["model.layers.1.ffn_norm.weight"] =
        "model-00002-of-00002.safetensors";
  });
  ASSERT_EQ(readST(shard2).find("model.layers.1.ffn_norm.weight"), nullptr)
      << "fixture layout changed";
  std::string msg = openError(t.dir());
  EXPECT_HAS(msg, shard2 + ": tensor 'model.layers.1.ffn_norm.weight' is "
                           "missing (model.safetensors.index.json maps it to "
                           "this shard)");

  // A tensor in no shard and not in the map.
  editJSON(index, [](ojson &j) {
    j["weight_map"]["model.layers.1.ffn_norm.weight"] =
        "model-00001-of-00002.safetensors";
    j["weight_map"].erase("model.layers.3.feed_forward.gate.weight");
  });
  editST(shard2, [](STFile &f) {
    f.remove("model.layers.3.feed_forward.gate.weight");
  });
  msg = openError(t.dir());
  EXPECT_HAS(msg, index + ": tensor 'model.layers.3.feed_forward.gate.weight' "
                          "is missing (in no shard)");

  // A tensor stored twice.
  editST(shard2, [](STFile &f) {
    STFile one = readST(kMoE + "/hf-sharded/model-00001-of-00002.safetensors");
    f.entries.push_back(*one.find("model.embed_tokens.weight"));
  });
  msg = openError(t.dir());
  EXPECT_HAS(msg, "tensor 'model.embed_tokens.weight' is also in");
  EXPECT_HAS(msg, shard1);

  // A shard name escaping the folder, and a malformed index.
  editJSON(index, [](ojson &j) {
    j["weight_map"]["model.embed_tokens.weight"] = "../elsewhere.safetensors";
  });
  EXPECT_HAS(openError(t.dir()),
             index + ": weight_map entry 'model.embed_tokens.weight' names "
                     "shard '../elsewhere.safetensors'");
  writeBytes(index, Bytes{'{', '"'});
  EXPECT_HAS(openError(t.dir()), index + ": not valid JSON");
  editJSON(t.file("config.json"), [](ojson &) {});
  writeBytes(index, Bytes{'{', '}'});
  EXPECT_HAS(openError(t.dir()),
             index + ": field 'weight_map' is missing or not an object");
}

TEST(HFModel, NoWeightsOrNotAFolder) {
  TempCopy t(kMoE + "/hf");
  fs::remove(t.file("model.safetensors"));
  EXPECT_HAS(openError(t.dir()), t.dir() +
                                     ": found neither model.safetensors nor "
                                     "model.safetensors.index.json");
  EXPECT_HAS(openError(t.file("config.json")), "not a directory");
  auto src = openModel(t.dir() + "/nonexistent.gguf");
  ASSERT_FALSE(src.isOk());
  EXPECT_HAS(src.status().message(), "nonexistent.gguf");
  src = openModel(t.dir());
  ASSERT_FALSE(src.isOk());
  EXPECT_HAS(src.status().message(), "found neither model.safetensors");
}

} // namespace
