//===- TokenizerLoader.cpp - Tokenizer data from GGUF or tokenizer.json ---===//
#include "frontend/TokenizerLoader.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <unordered_map>

namespace lfm2c {

using rt::TokenizerData;
using json = nlohmann::json;

namespace {

// The Split regex of Llama-3 style vocabularies (LFM2's is the same) and
// GPT-2's regex, as they appear in tokenizer.json.
const char *const kLlama3Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char *const kGPT2Regex = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| "
                               "?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

// llama.cpp's pre-tokenizer names.
bool isLlama3Pre(const std::string &pre) {
  for (const char *name : {"lfm2", "llama3", "llama-v3", "llama-bpe", "falcon3",
                           "falcon-h1", "pixtral", "midm-2.0"}) {
    if (pre == name) {
      return true;
    }
  }
  return false;
}

std::unordered_map<std::string, int32_t>
textToId(const std::vector<std::string> &tokens) {
  std::unordered_map<std::string, int32_t> map;
  map.reserve(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    map[tokens[i]] = static_cast<int32_t>(i); // the last duplicate wins
  }
  return map;
}

// eot by name (unless set) and the end-of-generation list.
void finishEndOfGeneration(TokenizerData &d) {
  auto ids = textToId(d.tokens);
  auto find = [&](const char *name) -> int32_t {
    auto it = ids.find(name);
    return it == ids.end() ? -1 : it->second;
  };
  if (d.eot < 0) {
    for (const char *name : {"<|eot_id|>", "<|im_end|>", "<|end|>",
                             "<end_of_turn>", "<|endoftext|>"}) {
      if (int32_t id = find(name); id >= 0) {
        d.eot = id;
        break;
      }
    }
  }
  d.endOfGeneration.clear();
  auto add = [&](int32_t id) {
    if (id < 0) {
      return;
    }
    for (int32_t e : d.endOfGeneration) {
      if (e == id) {
        return;
      }
    }
    d.endOfGeneration.push_back(id);
  };
  add(d.eos);
  add(d.eot);
  for (const char *name :
       {"<|endoftext|>", "<|im_end|>", "<|eot_id|>", "<|eom_id|>",
        "<|end_of_text|>", "<end_of_turn>", "<|end|>"}) {
    add(find(name));
  }
}

// Splits a merge "a b" at the first space after the first byte (llama.cpp).
bool splitMerge(const std::string &m,
                std::pair<std::string, std::string> *out) {
  size_t pos = m.find(' ', 1);
  if (pos == std::string::npos) {
    return false;
  }
  out->first = m.substr(0, pos);
  out->second = m.substr(pos + 1);
  return true;
}

std::string quoteText(const std::string &s) {
  constexpr size_t kMax = 60;
  return "'" + (s.size() > kMax ? s.substr(0, kMax) + "..." : s) + "'";
}

} // namespace

//===----------------------------------------------------------------------===//
// GGUF.
//===----------------------------------------------------------------------===//

StatusOr<TokenizerData> tokenizerFromGGUF(const GGUFFile &file) {
  TokenizerData d;
  StatusOr<std::string> model = file.getString("tokenizer.ggml.model");
  if (!model) {
    return model.status();
  }
  if (*model != "gpt2") {
    return file.error("metadata key 'tokenizer.ggml.model' is " +
                      quoteText(*model) +
                      ": only 'gpt2' (byte-level BPE) is supported");
  }
  StatusOr<std::string> pre = file.getString("tokenizer.ggml.pre");
  if (!pre) {
    return pre.status();
  }
  if (isLlama3Pre(*pre)) {
    d.pre = TokenizerData::Pre::Llama3;
    d.ignoreMerges = true;
    d.addBos = true;
  } else if (*pre == "gpt-2") {
    d.pre = TokenizerData::Pre::GPT2;
    d.ignoreMerges = false;
    d.addBos = false;
  } else {
    return file.error("metadata key 'tokenizer.ggml.pre' is " +
                      quoteText(*pre) +
                      ": supported pre-tokenizers are 'gpt-2' and the "
                      "Llama-3 family ('lfm2', 'llama3', 'llama-bpe', ...)");
  }

  StatusOr<std::vector<std::string>> tokens =
      file.getStringArray("tokenizer.ggml.tokens");
  if (!tokens) {
    return tokens.status();
  }
  d.tokens = std::move(*tokens);
  const size_t n = d.tokens.size();
  if (n == 0) {
    return file.error("metadata key 'tokenizer.ggml.tokens' is empty");
  }
  if (n > size_t(std::numeric_limits<int32_t>::max() / 4)) {
    return file.error("metadata key 'tokenizer.ggml.tokens' has too many "
                      "entries");
  }

  d.types.assign(n, rt::kTokenNormal);
  if (file.find("tokenizer.ggml.token_type")) {
    StatusOr<std::vector<int64_t>> types =
        file.getIntArray("tokenizer.ggml.token_type");
    if (!types) {
      return types.status();
    }
    if (types->size() != n) {
      return file.error("metadata key 'tokenizer.ggml.token_type' has " +
                        std::to_string(types->size()) + " entries for " +
                        std::to_string(n) + " tokens");
    }
    for (size_t i = 0; i < n; ++i) {
      int64_t t = (*types)[i];
      if (t < rt::kTokenNormal || t > rt::kTokenByte) {
        return file.error("metadata key 'tokenizer.ggml.token_type' element " +
                          std::to_string(i) + " is " + std::to_string(t) +
                          ", expected 1..6");
      }
      d.types[i] = static_cast<int32_t>(t);
    }
  }

  StatusOr<std::vector<std::string>> merges =
      file.getStringArray("tokenizer.ggml.merges");
  if (!merges) {
    return merges.status();
  }
  d.merges.resize(merges->size());
  for (size_t i = 0; i < merges->size(); ++i) {
    if (!splitMerge((*merges)[i], &d.merges[i])) {
      return file.error("metadata key 'tokenizer.ggml.merges' element " +
                        std::to_string(i) + " (" + quoteText((*merges)[i]) +
                        ") is not two tokens separated by a space");
    }
  }

  const std::pair<const char *, int32_t *> ids[] = {
      {"tokenizer.ggml.bos_token_id", &d.bos},
      {"tokenizer.ggml.eos_token_id", &d.eos},
      {"tokenizer.ggml.eot_token_id", &d.eot},
      {"tokenizer.ggml.padding_token_id", &d.pad}};
  for (const auto &[key, target] : ids) {
    if (!file.find(key)) {
      continue;
    }
    StatusOr<int64_t> id = file.getInt(key);
    if (!id) {
      return id.status();
    }
    if (*id == -1) {
      continue;
    }
    if (*id < 0 || *id >= static_cast<int64_t>(n)) {
      return file.error("metadata key '" + std::string(key) + "' is " +
                        std::to_string(*id) + ", outside the vocabulary of " +
                        std::to_string(n) + " tokens");
    }
    *target = static_cast<int32_t>(*id);
  }
  if (const GGUFValue *v = file.find("tokenizer.ggml.add_bos_token")) {
    if (v->type != GGUFValueType::BOOL) {
      return file.error("metadata key 'tokenizer.ggml.add_bos_token' has "
                        "type " +
                        std::string(ggufValueTypeName(v->type)) +
                        ", expected BOOL");
    }
    d.addBos = v->b;
  }
  if (d.addBos && d.bos < 0) {
    return file.error("BOS is to be added but 'tokenizer.ggml.bos_token_id' "
                      "is missing");
  }
  finishEndOfGeneration(d);
  return d;
}

//===----------------------------------------------------------------------===//
// Hugging Face tokenizer.json.
//===----------------------------------------------------------------------===//

namespace {

class HFError {
public:
  explicit HFError(std::string file) : file_(std::move(file)) {}
  Status operator()(const std::string &message) const {
    return Status::error(file_ + ": " + message);
  }

private:
  std::string file_;
};

StatusOr<json> readJson(const std::string &path, const HFError &err) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return err("cannot open the file");
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  try {
    return json::parse(buffer.str());
  } catch (const json::exception &e) {
    return err(std::string("is not valid JSON: ") + e.what());
  }
}

std::string typeName(const json &j) { return j.type_name(); }

// A token given as "text" or {"content": "text", ...}; nullopt for null.
StatusOr<std::optional<std::string>>
tokenName(const json &j, const std::string &field, const HFError &err) {
  if (j.is_null()) {
    return std::optional<std::string>();
  }
  if (j.is_string()) {
    return std::optional<std::string>(j.get<std::string>());
  }
  if (j.is_object() && j.contains("content") && j["content"].is_string()) {
    return std::optional<std::string>(j["content"].get<std::string>());
  }
  return err("field '" + field + "' is a " + typeName(j) +
             ", expected a string or an object with a string 'content'");
}

// Pre-tokenizer: Sequence[Split(regex), ByteLevel(use_regex false)] or
// ByteLevel(use_regex true).
Status readPreTokenizer(const json &root, TokenizerData &d,
                        const HFError &err) {
  auto it = root.find("pre_tokenizer");
  if (it == root.end() || it->is_null()) {
    return err("field 'pre_tokenizer' is missing: a byte-level BPE needs a "
               "ByteLevel pre-tokenizer");
  }
  const json &pt = *it;
  if (!pt.is_object() || !pt.contains("type") || !pt["type"].is_string()) {
    return err("field 'pre_tokenizer' must be an object with a string 'type'");
  }
  auto byteLevel = [&](const json &bl, const std::string &field,
                       bool wantRegex) -> Status {
    if (bl.value("add_prefix_space", false) != false) {
      return err("field '" + field +
                 ".add_prefix_space' is true: not supported");
    }
    auto ur = bl.find("use_regex");
    bool useRegex =
        ur == bl.end() ? true : (ur->is_boolean() && ur->get<bool>());
    if (ur != bl.end() && !ur->is_boolean()) {
      return err("field '" + field + ".use_regex' must be a boolean");
    }
    if (useRegex != wantRegex) {
      return err("field '" + field + ".use_regex' is " +
                 (useRegex ? "true" : "false") + ", expected " +
                 (wantRegex ? "true" : "false") + " here");
    }
    return Status::ok();
  };
  const std::string type = pt["type"].get<std::string>();
  if (type == "ByteLevel") {
    Status s = byteLevel(pt, "pre_tokenizer", /*wantRegex=*/true);
    if (!s) {
      return s;
    }
    d.pre = TokenizerData::Pre::GPT2;
    return Status::ok();
  }
  if (type != "Sequence") {
    return err("field 'pre_tokenizer.type' is '" + type +
               "': only Sequence[Split, ByteLevel] and ByteLevel are "
               "supported");
  }
  auto seq = pt.find("pretokenizers");
  if (seq == pt.end() || !seq->is_array() || seq->size() != 2 ||
      !(*seq)[0].is_object() || !(*seq)[1].is_object()) {
    return err("field 'pre_tokenizer.pretokenizers' must be an array of two "
               "objects (Split, ByteLevel)");
  }
  const json &split = (*seq)[0];
  const json &bl = (*seq)[1];
  if (split.value("type", "") != "Split" ||
      bl.value("type", "") != "ByteLevel") {
    return err("field 'pre_tokenizer.pretokenizers' must be [Split, "
               "ByteLevel]");
  }
  const json *regex = nullptr;
  if (auto p = split.find("pattern"); p != split.end() && p->is_object()) {
    if (auto r = p->find("Regex"); r != p->end() && r->is_string()) {
      regex = &*r;
    }
  }
  if (!regex) {
    return err("field 'pre_tokenizer.pretokenizers[0].pattern.Regex' is "
               "missing or not a string");
  }
  if (split.value("behavior", "") != "Isolated" ||
      split.value("invert", false) != false) {
    return err("field 'pre_tokenizer.pretokenizers[0]': only behavior "
               "'Isolated' without invert is supported");
  }
  const std::string pattern = regex->get<std::string>();
  if (pattern == kLlama3Regex) {
    d.pre = TokenizerData::Pre::Llama3;
  } else if (pattern == kGPT2Regex) {
    d.pre = TokenizerData::Pre::GPT2;
  } else {
    return err("field 'pre_tokenizer.pretokenizers[0].pattern.Regex' is " +
               quoteText(pattern) +
               ": only the Llama-3 and GPT-2 regexes are supported");
  }
  return byteLevel(bl, "pre_tokenizer.pretokenizers[1]", /*wantRegex=*/false);
}

StatusOr<TokenizerData> parseHF(const json &root, const std::string &dir,
                                const HFError &err) {
  TokenizerData d;
  if (!root.is_object()) {
    return err("the top level is a " + typeName(root) + ", expected an object");
  }
  if (auto nz = root.find("normalizer"); nz != root.end() && !nz->is_null()) {
    std::string type = nz->is_object() ? nz->value("type", "?") : "?";
    return err("field 'normalizer' ('" + type + "') is not supported");
  }
  auto mit = root.find("model");
  if (mit == root.end() || !mit->is_object()) {
    return err("field 'model' is missing or not an object");
  }
  const json &model = *mit;
  if (auto t = model.find("type"); t != model.end()) {
    if (!t->is_string() || t->get<std::string>() != "BPE") {
      return err("field 'model.type' is " + t->dump() +
                 ": only \"BPE\" is supported");
    }
  }
  if (model.value("byte_fallback", false) == true) {
    return err("field 'model.byte_fallback' is true: only byte-level BPE is "
               "supported");
  }
  for (const char *f : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    auto p = model.find(f);
    if (p != model.end() && !p->is_null() &&
        !(p->is_string() && p->get<std::string>().empty())) {
      return err("field 'model." + std::string(f) + "' is not supported");
    }
  }
  if (auto im = model.find("ignore_merges"); im != model.end()) {
    if (!im->is_boolean()) {
      return err("field 'model.ignore_merges' must be a boolean");
    }
    d.ignoreMerges = im->get<bool>();
  }

  // Vocabulary and added tokens: id -> (text, type).
  auto vit = model.find("vocab");
  if (vit == model.end() || !vit->is_object()) {
    return err("field 'model.vocab' is missing or not an object");
  }
  const int64_t kMaxId = std::numeric_limits<int32_t>::max() / 4;
  std::unordered_map<int64_t, std::pair<std::string, int32_t>> byId;
  int64_t maxId = -1;
  for (auto it = vit->begin(); it != vit->end(); ++it) {
    if (!it->is_number_integer() || it->get<int64_t>() < 0 ||
        it->get<int64_t>() > kMaxId) {
      return err("field 'model.vocab' entry " + quoteText(it.key()) + " is " +
                 it->dump() + ", expected a token id");
    }
    int64_t id = it->get<int64_t>();
    if (!byId.emplace(id, std::make_pair(it.key(), rt::kTokenNormal)).second) {
      return err("field 'model.vocab' gives id " + std::to_string(id) +
                 " to both " + quoteText(byId[id].first) + " and " +
                 quoteText(it.key()));
    }
    maxId = std::max(maxId, id);
  }
  if (auto at = root.find("added_tokens"); at != root.end() && !at->is_null()) {
    if (!at->is_array()) {
      return err("field 'added_tokens' must be an array");
    }
    for (size_t i = 0; i < at->size(); ++i) {
      const json &t = (*at)[i];
      std::string field = "added_tokens[" + std::to_string(i) + "]";
      if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer() ||
          !t.contains("content") || !t["content"].is_string()) {
        return err("field '" + field +
                   "' must be an object with an integer 'id' and a string "
                   "'content'");
      }
      int64_t id = t["id"].get<int64_t>();
      if (id < 0 || id > kMaxId) {
        return err("field '" + field +
                   ".id' is out of range: " + std::to_string(id));
      }
      auto sp = t.find("special");
      if (sp != t.end() && !sp->is_boolean()) {
        return err("field '" + field + ".special' must be a boolean");
      }
      bool special = sp != t.end() && sp->get<bool>();
      byId[id] = {t["content"].get<std::string>(),
                  special ? rt::kTokenControl : rt::kTokenUserDefined};
      maxId = std::max(maxId, id);
    }
  }
  if (maxId < 0) {
    return err("field 'model.vocab' is empty");
  }
  d.tokens.resize(maxId + 1);
  d.types.resize(maxId + 1);
  for (int64_t id = 0; id <= maxId; ++id) {
    auto it = byId.find(id);
    if (it == byId.end()) {
      d.tokens[id] = "[PAD" + std::to_string(id) + "]";
      d.types[id] = rt::kTokenUnused;
    } else {
      d.tokens[id] = std::move(it->second.first);
      d.types[id] = it->second.second;
    }
  }

  auto mg = model.find("merges");
  if (mg == model.end() || !mg->is_array()) {
    return err("field 'model.merges' is missing or not an array");
  }
  d.merges.resize(mg->size());
  for (size_t i = 0; i < mg->size(); ++i) {
    const json &m = (*mg)[i];
    bool ok = false;
    if (m.is_string()) {
      ok = splitMerge(m.get<std::string>(), &d.merges[i]);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() &&
               m[1].is_string()) {
      d.merges[i] = {m[0].get<std::string>(), m[1].get<std::string>()};
      ok = true;
    }
    if (!ok) {
      return err("field 'model.merges[" + std::to_string(i) + "]' is " +
                 m.dump() + ", expected \"a b\" or [\"a\", \"b\"]");
    }
  }

  Status s = readPreTokenizer(root, d, err);
  if (!s) {
    return s;
  }

  auto ids = textToId(d.tokens);
  // BOS from a TemplateProcessing post-processor that starts with a special
  // token, unless tokenizer_config.json says otherwise.
  std::optional<std::string> bosName, eosName, padName;
  if (auto pp = root.find("post_processor");
      pp != root.end() && pp->is_object() &&
      pp->value("type", "") == "TemplateProcessing") {
    auto single = pp->find("single");
    if (single != pp->end() && single->is_array() && !single->empty() &&
        (*single)[0].is_object() && (*single)[0].contains("SpecialToken")) {
      const json &stok = (*single)[0]["SpecialToken"];
      if (stok.is_object() && stok.contains("id") && stok["id"].is_string()) {
        bosName = stok["id"].get<std::string>();
        d.addBos = true;
      }
    }
  }

  namespace fs = std::filesystem;
  const std::string configPath =
      (fs::path(dir) / "tokenizer_config.json").string();
  std::error_code ec;
  if (fs::exists(configPath, ec)) {
    HFError cerr(configPath);
    StatusOr<json> config = readJson(configPath, cerr);
    if (!config) {
      return config.status();
    }
    if (!config->is_object()) {
      return cerr("the top level is a " + typeName(*config) +
                  ", expected an object");
    }
    if (auto ab = config->find("add_bos_token"); ab != config->end()) {
      if (!ab->is_boolean()) {
        return cerr("field 'add_bos_token' must be a boolean");
      }
      d.addBos = ab->get<bool>();
    }
    const std::pair<const char *, std::optional<std::string> *> names[] = {
        {"bos_token", &bosName},
        {"eos_token", &eosName},
        {"pad_token", &padName}};
    for (const auto &[field, target] : names) {
      auto f = config->find(field);
      if (f == config->end()) {
        continue;
      }
      StatusOr<std::optional<std::string>> name = tokenName(*f, field, cerr);
      if (!name) {
        return name.status();
      }
      if (name->has_value()) {
        if (!ids.count(**name)) {
          return cerr("field '" + std::string(field) + "' (" +
                      quoteText(**name) + ") is not in the vocabulary");
        }
        *target = **name;
      }
    }
  }
  if (bosName) {
    auto it = ids.find(*bosName);
    if (it == ids.end()) {
      return err("post_processor special token " + quoteText(*bosName) +
                 " is not in the vocabulary");
    }
    d.bos = it->second;
  }
  if (eosName) {
    d.eos = ids.at(*eosName);
  }
  if (padName) {
    d.pad = ids.at(*padName);
  }
  if (d.addBos && d.bos < 0) {
    return err("BOS is to be added but no bos_token is given");
  }
  finishEndOfGeneration(d);
  return d;
}

} // namespace

StatusOr<TokenizerData> tokenizerFromHF(const std::string &dir) {
  namespace fs = std::filesystem;
  const std::string path = (fs::path(dir) / "tokenizer.json").string();
  HFError err(path);
  StatusOr<json> root = readJson(path, err);
  if (!root) {
    return root.status();
  }
  try {
    return parseHF(*root, dir, err);
  } catch (const json::exception &e) {
    // Type checks above should leave nothing to throw; never let it escape.
    return err(std::string("unexpected content: ") + e.what());
  }
}

} // namespace lfm2c
