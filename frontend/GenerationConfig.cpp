//===- GenerationConfig.cpp -----------------------------------------------===//
#include "frontend/GenerationConfig.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

namespace lfm2c {

StatusOr<GenerationConfig> generationConfigFromHF(const std::string &dir) {
  GenerationConfig g;
  const std::string path =
      (std::filesystem::path(dir) / "generation_config.json").string();
  std::ifstream in(path);
  if (!in) {
    return g;
  }
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::error(path + ": not a JSON object");
  }
  auto number = [&](const char *key, auto &field) -> Status {
    if (!j.contains(key) || j[key].is_null()) {
      return Status::ok();
    }
    if (!j[key].is_number()) {
      return Status::error(path + ": field '" + key + "' is " +
                           j[key].type_name() + ", expected a number");
    }
    field = j[key].get<std::decay_t<decltype(field)>>();
    return Status::ok();
  };
  for (Status st :
       {number("temperature", g.temperature), number("top_k", g.topK),
        number("top_p", g.topP), number("min_p", g.minP),
        number("repetition_penalty", g.repeatPenalty)}) {
    if (!st) {
      return st;
    }
  }
  // Greedy checkpoints say so with do_sample=false.
  if (j.contains("do_sample") && j["do_sample"].is_boolean() &&
      !j["do_sample"].get<bool>()) {
    g.temperature = 0.0f;
  }
  return g;
}

GenerationConfig generationConfigFromGGUF(const GGUFFile &file) {
  GenerationConfig g;
  auto f = [&](const char *key, float &field) {
    if (auto v = file.getFloat(key); v.isOk()) {
      field = static_cast<float>(*v);
    }
  };
  f("general.sampling.temp", g.temperature);
  f("general.sampling.top_p", g.topP);
  f("general.sampling.min_p", g.minP);
  f("general.sampling.penalty_repeat", g.repeatPenalty);
  if (auto v = file.getInt("general.sampling.top_k"); v.isOk()) {
    g.topK = static_cast<int32_t>(*v);
  }
  return g;
}

} // namespace lfm2c
