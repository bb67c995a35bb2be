//===- ModelSource.cpp - Open a model from GGUF or a Hugging Face folder --===//
#include "frontend/ModelSource.h"

#include "frontend/HFModel.h"

#include <filesystem>

namespace lfm2c {

namespace fs = std::filesystem;

namespace {

// The last non-empty path component: "a/hf/" -> "hf".
std::string baseName(const std::string &path) {
  fs::path p(path);
  std::string name = p.filename().string();
  if (name.empty() || name == ".") {
    name = p.parent_path().filename().string();
  }
  return name.empty() ? path : name;
}

} // namespace

StatusOr<ModelSource> openModel(const std::string &path) {
  ModelSource src;
  src.name = baseName(path);
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    auto model = HFModel::open(path);
    if (!model) {
      return model.status();
    }
    std::shared_ptr<HFModel> owned(std::move(*model));
    const HFModel *raw = owned.get();
    src.config = raw->config();
    src.format = "hf";
    src.tensor = [raw](const std::string &name) { return raw->tensor(name); };
    src.keepAlive = std::move(owned);
    return src;
  }
  auto file = GGUFFile::open(path);
  if (!file) {
    return file.status();
  }
  auto config = configFromGGUF(**file);
  if (!config) {
    return config.status();
  }
  if (Status s = checkTensors(**file, *config); !s) {
    return s;
  }
  std::shared_ptr<GGUFFile> owned(std::move(*file));
  const GGUFFile *raw = owned.get();
  src.config = *config;
  src.format = "gguf";
  src.tensor = [raw](const std::string &name) { return raw->tensor(name); };
  src.keepAlive = std::move(owned);
  return src;
}

} // namespace lfm2c
