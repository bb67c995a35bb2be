//===- Safetensors.h - Read-only .safetensors reader over a mapping -----===//
//
// A .safetensors file is an 8-byte little-endian header length N, N bytes of
// JSON describing each tensor (dtype, shape, data_offsets relative to the
// start of the data, which follows the header), then the raw tensor bytes.
// The reader maps the file, parses the header eagerly and leaves tensor data
// in the mapping. Every offset and size is checked against the file, so a
// damaged or hostile file yields a Status whose message starts with the file
// path, never a crash.
//
//===----------------------------------------------------------------------===//
#ifndef LFM2C_FRONTEND_SAFETENSORS_H
#define LFM2C_FRONTEND_SAFETENSORS_H

#include "runtime/MappedFile.h"
#include "runtime/Status.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace lfm2c {

struct SafetensorsTensor {
  std::string name;
  // The safetensors dtype string: "F32", "F16", "BF16", "I32", ... Only the
  // dtypes of the safetensors format are accepted by the reader; which ones a
  // model may use is the caller's decision.
  std::string dtype;
  std::vector<int64_t> shape;    // row-major (PyTorch) order
  const uint8_t *data = nullptr; // points into the mapping; may be unaligned
  uint64_t nbytes = 0;
};

// Bytes per element of a safetensors dtype; 0 for an unknown dtype.
int64_t safetensorsDtypeSize(const std::string &dtype);

class SafetensorsFile {
public:
  static StatusOr<std::unique_ptr<SafetensorsFile>>
  open(const std::string &path);

  const std::string &path() const { return path_; }
  uint64_t fileSize() const { return file_->size(); }
  // Absolute file offset of the first data byte (8 + header length).
  uint64_t dataOffset() const { return dataOffset_; }
  // The string entries of the optional "__metadata__" object.
  const std::map<std::string, std::string> &metadata() const {
    return metadata_;
  }
  // In header order.
  const std::vector<SafetensorsTensor> &tensors() const { return tensors_; }
  // nullptr if absent.
  const SafetensorsTensor *tensor(const std::string &name) const;

  // An error Status whose message is prefixed with the file path.
  Status error(const std::string &message) const;

private:
  SafetensorsFile() = default;
  Status parse();

  std::string path_;
  std::unique_ptr<MappedFile> file_;
  uint64_t dataOffset_ = 0;
  std::map<std::string, std::string> metadata_;
  std::vector<SafetensorsTensor> tensors_;
  std::unordered_map<std::string, size_t> index_;
};

} // namespace lfm2c

#endif // LFM2C_FRONTEND_SAFETENSORS_H
