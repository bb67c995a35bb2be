//===- GGUF.h - Read-only GGUF v3 reader over a memory mapping ----------===//
//
// The GGUF reader parses metadata and tensor descriptions eagerly and leaves
// tensor data in the mapping, so opening a multi-gigabyte model costs only
// the size of its header. Every read is checked against the file size: a
// damaged or hostile file yields a Status, never a crash or an allocation
// larger than a small multiple of the file size.
//
//===----------------------------------------------------------------------===//
#ifndef LFM2C_FRONTEND_GGUF_H
#define LFM2C_FRONTEND_GGUF_H

#include "runtime/MappedFile.h"
#include "runtime/Status.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace lfm2c {

// The tensor formats lfm2c can compile. The numeric values are ggml's.
enum class GGMLType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q8_0 = 8,
  Q6_K = 14,
  BF16 = 30,
};

// "F32", "F16", "Q4_0", "Q8_0", "Q6_K", "BF16"; "?" for any other value.
const char *ggmlTypeName(GGMLType type);
// Elements per block (1 for plain float types); 0 for an unknown type.
int64_t ggmlBlockSize(GGMLType type);
// Bytes per block; 0 for an unknown type.
int64_t ggmlBlockBytes(GGMLType type);
// True if `raw` is one of the GGMLType values above.
bool isSupportedGGMLType(uint32_t raw);
// True for F32, F16 and BF16.
bool isFloatGGMLType(GGMLType type);

enum class GGUFValueType : uint32_t {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
};

// "UINT8", ..., "FLOAT64"; "?" for any other value.
const char *ggufValueTypeName(GGUFValueType type);

// One metadata value. Scalars live in exactly one of the storage fields,
// chosen by `type`; arrays keep their element type even when empty.
struct GGUFValue {
  GGUFValueType type = GGUFValueType::UINT8;
  uint64_t u = 0; // UINT8, UINT16, UINT32, UINT64
  int64_t i = 0;  // INT8, INT16, INT32, INT64
  double f = 0;   // FLOAT32, FLOAT64
  bool b = false; // BOOL
  std::string s;  // STRING
  GGUFValueType arrayType = GGUFValueType::UINT8; // valid when type == ARRAY
  std::vector<GGUFValue> array;

  bool isInteger() const;
  bool isFloat() const;
  // The value of an integer type if it fits in int64_t.
  std::optional<int64_t> asInt() const;
  // The value of a float or integer type.
  std::optional<double> asFloat() const;
  // nullptr unless type == STRING.
  const std::string *asString() const;
};

struct GGUFTensorInfo {
  std::string name;
  std::vector<int64_t> ne; // ggml order: ne[0] is the fastest-varying dimension
  GGMLType type = GGMLType::F32;
  uint64_t offset = 0; // relative to the start of the tensor data section
  uint64_t nbytes = 0;
  const uint8_t *data = nullptr; // points into the mapping

  int64_t numElements() const;
};

class GGUFFile {
public:
  static StatusOr<std::unique_ptr<GGUFFile>> open(const std::string &path);

  const std::string &path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  // Absolute file offset of the tensor data section.
  uint64_t dataOffset() const { return dataOffset_; }
  uint64_t fileSize() const { return file_->size(); }

  // nullptr if absent.
  const GGUFValue *find(const std::string &key) const;
  // In file order.
  const std::vector<std::pair<std::string, GGUFValue>> &metadata() const {
    return metadata_;
  }
  // In file order.
  const std::vector<GGUFTensorInfo> &tensors() const { return tensors_; }
  // nullptr if absent.
  const GGUFTensorInfo *tensor(const std::string &name) const;

  // Typed getters whose errors name the file and the key, e.g.
  // "m.gguf: metadata key 'lfm2.block_count' is missing".
  StatusOr<int64_t> getInt(const std::string &key) const;
  // Accepts float and integer types.
  StatusOr<double> getFloat(const std::string &key) const;
  StatusOr<std::string> getString(const std::string &key) const;
  StatusOr<std::vector<int64_t>> getIntArray(const std::string &key) const;
  StatusOr<std::vector<std::string>>
  getStringArray(const std::string &key) const;

  // An error Status whose message is prefixed with the file path.
  Status error(const std::string &message) const;

private:
  GGUFFile() = default;
  friend class GGUFParser;

  std::string path_;
  std::unique_ptr<MappedFile> file_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t dataOffset_ = 0;
  std::vector<std::pair<std::string, GGUFValue>> metadata_;
  std::unordered_map<std::string, size_t> metadataIndex_;
  std::vector<GGUFTensorInfo> tensors_;
  std::unordered_map<std::string, size_t> tensorIndex_;
};

// "[256,128,8]": the notation used in shape errors.
std::string formatShape(const std::vector<int64_t> &ne);

} // namespace lfm2c

#endif // LFM2C_FRONTEND_GGUF_H
