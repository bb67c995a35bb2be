//===- GGUF.cpp - Read-only GGUF v3 reader --------------------------------===//
#include "frontend/GGUF.h"

#include <cstring>
#include <limits>

namespace lfm2c {

const char *ggmlTypeName(GGMLType type) {
  switch (type) {
  case GGMLType::F32:
    return "F32";
  case GGMLType::F16:
    return "F16";
  case GGMLType::Q4_0:
    return "Q4_0";
  case GGMLType::Q8_0:
    return "Q8_0";
  case GGMLType::Q6_K:
    return "Q6_K";
  case GGMLType::BF16:
    return "BF16";
  }
  return "?";
}

int64_t ggmlBlockSize(GGMLType type) {
  switch (type) {
  case GGMLType::F32:
  case GGMLType::F16:
  case GGMLType::BF16:
    return 1;
  case GGMLType::Q4_0:
  case GGMLType::Q8_0:
    return 32;
  case GGMLType::Q6_K:
    return 256;
  }
  return 0;
}

int64_t ggmlBlockBytes(GGMLType type) {
  switch (type) {
  case GGMLType::F32:
    return 4;
  case GGMLType::F16:
  case GGMLType::BF16:
    return 2;
  case GGMLType::Q4_0:
    return 18; // fp16 scale + 32 nibbles
  case GGMLType::Q8_0:
    return 34; // fp16 scale + 32 int8
  case GGMLType::Q6_K:
    return 210; // 128 low nibbles + 64 high bits + 16 scales + fp16 d
  }
  return 0;
}

bool isSupportedGGMLType(uint32_t raw) {
  switch (static_cast<GGMLType>(raw)) {
  case GGMLType::F32:
  case GGMLType::F16:
  case GGMLType::Q4_0:
  case GGMLType::Q8_0:
  case GGMLType::Q6_K:
  case GGMLType::BF16:
    return true;
  }
  return false;
}

bool isFloatGGMLType(GGMLType type) {
  return type == GGMLType::F32 || type == GGMLType::F16 ||
         type == GGMLType::BF16;
}

const char *ggufValueTypeName(GGUFValueType type) {
  switch (type) {
  case GGUFValueType::UINT8:
    return "UINT8";
  case GGUFValueType::INT8:
    return "INT8";
  case GGUFValueType::UINT16:
    return "UINT16";
  case GGUFValueType::INT16:
    return "INT16";
  case GGUFValueType::UINT32:
    return "UINT32";
  case GGUFValueType::INT32:
    return "INT32";
  case GGUFValueType::FLOAT32:
    return "FLOAT32";
  case GGUFValueType::BOOL:
    return "BOOL";
  case GGUFValueType::STRING:
    return "STRING";
  case GGUFValueType::ARRAY:
    return "ARRAY";
  case GGUFValueType::UINT64:
    return "UINT64";
  case GGUFValueType::INT64:
    return "INT64";
  case GGUFValueType::FLOAT64:
    return "FLOAT64";
  }
  return "?";
}

bool GGUFValue::isInteger() const {
  switch (type) {
  case GGUFValueType::UINT8:
  case GGUFValueType::INT8:
  case GGUFValueType::UINT16:
  case GGUFValueType::INT16:
  case GGUFValueType::UINT32:
  case GGUFValueType::INT32:
  case GGUFValueType::UINT64:
  case GGUFValueType::INT64:
    return true;
  default:
    return false;
  }
}

bool GGUFValue::isFloat() const {
  return type == GGUFValueType::FLOAT32 || type == GGUFValueType::FLOAT64;
}

std::optional<int64_t> GGUFValue::asInt() const {
  switch (type) {
  case GGUFValueType::UINT8:
  case GGUFValueType::UINT16:
  case GGUFValueType::UINT32:
  case GGUFValueType::UINT64:
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return std::nullopt;
    }
    return static_cast<int64_t>(u);
  case GGUFValueType::INT8:
  case GGUFValueType::INT16:
  case GGUFValueType::INT32:
  case GGUFValueType::INT64:
    return i;
  default:
    return std::nullopt;
  }
}

std::optional<double> GGUFValue::asFloat() const {
  if (isFloat()) {
    return f;
  }
  if (type == GGUFValueType::UINT8 || type == GGUFValueType::UINT16 ||
      type == GGUFValueType::UINT32 || type == GGUFValueType::UINT64) {
    return static_cast<double>(u);
  }
  if (isInteger()) {
    return static_cast<double>(i);
  }
  return std::nullopt;
}

const std::string *GGUFValue::asString() const {
  return type == GGUFValueType::STRING ? &s : nullptr;
}

int64_t GGUFTensorInfo::numElements() const {
  int64_t n = 1;
  for (int64_t d : ne) {
    n *= d; // cannot overflow: the parser rejected overflowing shapes
  }
  return n;
}

std::string formatShape(const std::vector<int64_t> &ne) {
  std::string out = "[";
  for (size_t k = 0; k < ne.size(); ++k) {
    if (k) {
      out += ",";
    }
    out += std::to_string(ne[k]);
  }
  return out + "]";
}

Status GGUFFile::error(const std::string &message) const {
  return Status::error(path_ + ": " + message);
}

//===----------------------------------------------------------------------===//
// Parsing
//===----------------------------------------------------------------------===//

namespace {

constexpr uint32_t kMagic = 0x46554747; // "GGUF" read as little-endian
constexpr uint32_t kMaxDims = 4;        // GGML_MAX_DIMS
// Deeper nesting has no use in practice; the bound keeps recursion shallow.
constexpr int kMaxArrayDepth = 8;
// llama.cpp's writer never uses more; larger values are likely garbage and
// would make the data-section offset arithmetic fragile.
constexpr uint64_t kMaxAlignment = uint64_t(1) << 30;

// The fewest bytes one array element of `type` can occupy in the file, so an
// element count can be checked against the bytes left before allocating.
uint64_t minEncodedSize(GGUFValueType type) {
  switch (type) {
  case GGUFValueType::UINT8:
  case GGUFValueType::INT8:
  case GGUFValueType::BOOL:
    return 1;
  case GGUFValueType::UINT16:
  case GGUFValueType::INT16:
    return 2;
  case GGUFValueType::UINT32:
  case GGUFValueType::INT32:
  case GGUFValueType::FLOAT32:
    return 4;
  case GGUFValueType::UINT64:
  case GGUFValueType::INT64:
  case GGUFValueType::FLOAT64:
  case GGUFValueType::STRING: // the 8-byte length
    return 8;
  case GGUFValueType::ARRAY: // element type + count
    return 12;
  }
  return 0;
}

bool isKnownValueType(uint32_t raw) { return raw <= 12; }

} // namespace

class GGUFParser {
public:
  explicit GGUFParser(GGUFFile &file)
      : file_(file), data_(file.file_->data()), size_(file.file_->size()) {}

  Status parse();

private:
  Status truncated(const std::string &what) const {
    return file_.error("file is truncated: unexpected end of file at offset " +
                       std::to_string(pos_) + " while reading " + what +
                       " (file size " + std::to_string(size_) + ")");
  }

  template <typename T> Status read(T &out, const std::string &what) {
    if (size_ - pos_ < sizeof(T)) {
      return truncated(what);
    }
    std::memcpy(&out, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::ok();
  }

  Status readString(std::string &out, const std::string &what) {
    uint64_t len = 0;
    if (Status s = read(len, what + " length"); !s) {
      return s;
    }
    if (len > size_ - pos_) {
      return file_.error("string length " + std::to_string(len) + " of " +
                         what + " at offset " + std::to_string(pos_ - 8) +
                         " runs past the end of the file (file size " +
                         std::to_string(size_) + ")");
    }
    out.assign(reinterpret_cast<const char *>(data_ + pos_), len);
    pos_ += len;
    return Status::ok();
  }

  Status readValue(GGUFValue &out, GGUFValueType type, const std::string &what,
                   int depth);

  GGUFFile &file_;
  const uint8_t *data_;
  size_t size_;
  size_t pos_ = 0;
};

Status GGUFParser::readValue(GGUFValue &out, GGUFValueType type,
                             const std::string &what, int depth) {
  out.type = type;
  switch (type) {
  case GGUFValueType::UINT8: {
    uint8_t v;
    Status s = read(v, what);
    out.u = v;
    return s;
  }
  case GGUFValueType::INT8: {
    int8_t v;
    Status s = read(v, what);
    out.i = v;
    return s;
  }
  case GGUFValueType::UINT16: {
    uint16_t v;
    Status s = read(v, what);
    out.u = v;
    return s;
  }
  case GGUFValueType::INT16: {
    int16_t v;
    Status s = read(v, what);
    out.i = v;
    return s;
  }
  case GGUFValueType::UINT32: {
    uint32_t v;
    Status s = read(v, what);
    out.u = v;
    return s;
  }
  case GGUFValueType::INT32: {
    int32_t v;
    Status s = read(v, what);
    out.i = v;
    return s;
  }
  case GGUFValueType::UINT64: {
    uint64_t v;
    Status s = read(v, what);
    out.u = v;
    return s;
  }
  case GGUFValueType::INT64: {
    int64_t v;
    Status s = read(v, what);
    out.i = v;
    return s;
  }
  case GGUFValueType::FLOAT32: {
    float v;
    Status s = read(v, what);
    out.f = v;
    return s;
  }
  case GGUFValueType::FLOAT64: {
    double v;
    Status s = read(v, what);
    out.f = v;
    return s;
  }
  case GGUFValueType::BOOL: {
    uint8_t v;
    if (Status s = read(v, what); !s) {
      return s;
    }
    if (v > 1) {
      return file_.error(what + " is a BOOL with invalid byte " +
                         std::to_string(v));
    }
    out.b = v != 0;
    return Status::ok();
  }
  case GGUFValueType::STRING:
    return readString(out.s, what);
  case GGUFValueType::ARRAY: {
    if (depth >= kMaxArrayDepth) {
      return file_.error(what + " nests arrays more than " +
                         std::to_string(kMaxArrayDepth) + " deep");
    }
    uint32_t rawElem = 0;
    if (Status s = read(rawElem, what + " element type"); !s) {
      return s;
    }
    if (!isKnownValueType(rawElem)) {
      return file_.error(what + " has unknown array element type " +
                         std::to_string(rawElem));
    }
    out.arrayType = static_cast<GGUFValueType>(rawElem);
    uint64_t count = 0;
    if (Status s = read(count, what + " array length"); !s) {
      return s;
    }
    uint64_t remaining = size_ - pos_;
    if (count > remaining / minEncodedSize(out.arrayType)) {
      return file_.error(what + " has array length " + std::to_string(count) +
                         " of " + ggufValueTypeName(out.arrayType) +
                         ", more than the " + std::to_string(remaining) +
                         " bytes left in the file can hold");
    }
    out.array.resize(count);
    for (uint64_t k = 0; k < count; ++k) {
      if (Status s = readValue(out.array[k], out.arrayType,
                               what + "[" + std::to_string(k) + "]", depth + 1);
          !s) {
        return s;
      }
    }
    return Status::ok();
  }
  }
  return file_.error(what + " has unknown value type " +
                     std::to_string(static_cast<uint32_t>(type)));
}

Status GGUFParser::parse() {
  uint32_t magic = 0;
  if (Status s = read(magic, "the GGUF magic"); !s) {
    return s;
  }
  if (magic != kMagic) {
    char shown[5] = {};
    std::memcpy(shown, &magic, 4);
    for (char &c : shown) {
      if (c && (c < 0x20 || c > 0x7e)) {
        c = '?';
      }
    }
    return file_.error(std::string("not a GGUF file: bad magic '") + shown +
                       "', expected 'GGUF'");
  }
  if (Status s = read(file_.version_, "the GGUF version"); !s) {
    return s;
  }
  // Version 1 used 32-bit counts and lengths; 2 and 3 share one layout (3
  // only added big-endian variants, which announce themselves as a byte-
  // swapped version number and so fail here too).
  if (file_.version_ != 2 && file_.version_ != 3) {
    return file_.error("unsupported GGUF version " +
                       std::to_string(file_.version_) +
                       " (supported: 3, and 2)");
  }
  uint64_t tensorCount = 0, kvCount = 0;
  if (Status s = read(tensorCount, "the tensor count"); !s) {
    return s;
  }
  if (Status s = read(kvCount, "the metadata key count"); !s) {
    return s;
  }
  // A key/value pair takes at least 8 (key length) + 4 (type) + 1 bytes.
  if (kvCount > (size_ - pos_) / 13) {
    return file_.error("file is truncated or corrupt: metadata key count " +
                       std::to_string(kvCount) + " is more than the " +
                       std::to_string(size_ - pos_) +
                       " bytes after the header can hold");
  }
  // A tensor info takes at least 8 (name length) + 4 + 8 + 4 + 8 bytes.
  if (tensorCount > (size_ - pos_) / 32) {
    return file_.error("file is truncated or corrupt: tensor count " +
                       std::to_string(tensorCount) + " is more than the " +
                       std::to_string(size_ - pos_) +
                       " bytes after the header can hold");
  }

  file_.metadata_.reserve(kvCount);
  for (uint64_t k = 0; k < kvCount; ++k) {
    std::string key;
    if (Status s =
            readString(key, "the key of metadata entry " + std::to_string(k));
        !s) {
      return s;
    }
    std::string what = "metadata key '" + key + "'";
    uint32_t rawType = 0;
    if (Status s = read(rawType, what + " type"); !s) {
      return s;
    }
    if (!isKnownValueType(rawType)) {
      return file_.error(what + " has unknown value type " +
                         std::to_string(rawType));
    }
    GGUFValue value;
    if (Status s =
            readValue(value, static_cast<GGUFValueType>(rawType), what, 0);
        !s) {
      return s;
    }
    if (!file_.metadataIndex_.emplace(key, file_.metadata_.size()).second) {
      return file_.error(what + " appears more than once");
    }
    file_.metadata_.emplace_back(std::move(key), std::move(value));
  }

  if (const GGUFValue *align = file_.find("general.alignment")) {
    std::optional<int64_t> a = align->asInt();
    if (!a) {
      return file_.error(std::string("metadata key 'general.alignment' has "
                                     "type ") +
                         ggufValueTypeName(align->type) +
                         ", expected an integer");
    }
    if (*a <= 0 || static_cast<uint64_t>(*a) > kMaxAlignment ||
        (*a & (*a - 1)) != 0) {
      return file_.error("metadata key 'general.alignment' is " +
                         std::to_string(*a) +
                         ", expected a power of two no larger than 2^30");
    }
    file_.alignment_ = static_cast<uint64_t>(*a);
  }

  file_.tensors_.reserve(tensorCount);
  for (uint64_t k = 0; k < tensorCount; ++k) {
    GGUFTensorInfo info;
    if (Status s = readString(info.name,
                              "the name of tensor info " + std::to_string(k));
        !s) {
      return s;
    }
    std::string what = "tensor '" + info.name + "'";
    uint32_t nDims = 0;
    if (Status s = read(nDims, what + " dimension count"); !s) {
      return s;
    }
    if (nDims == 0 || nDims > kMaxDims) {
      return file_.error(what + " has " + std::to_string(nDims) +
                         " dimensions, expected 1 to " +
                         std::to_string(kMaxDims));
    }
    int64_t elements = 1;
    for (uint32_t d = 0; d < nDims; ++d) {
      uint64_t n = 0;
      if (Status s = read(n, what + " dimension " + std::to_string(d)); !s) {
        return s;
      }
      if (n == 0 ||
          n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return file_.error(what + " has invalid dimension " +
                           std::to_string(d) + " of size " + std::to_string(n));
      }
      if (__builtin_mul_overflow(elements, static_cast<int64_t>(n),
                                 &elements)) {
        return file_.error(what + " has too many elements");
      }
      info.ne.push_back(static_cast<int64_t>(n));
    }
    uint32_t rawType = 0;
    if (Status s = read(rawType, what + " type"); !s) {
      return s;
    }
    if (!isSupportedGGMLType(rawType)) {
      return file_.error(what + " has unsupported type " +
                         std::to_string(rawType) +
                         " (supported: F32, F16, BF16, Q8_0, Q4_0, Q6_K)");
    }
    info.type = static_cast<GGMLType>(rawType);
    if (Status s = read(info.offset, what + " data offset"); !s) {
      return s;
    }
    int64_t blockSize = ggmlBlockSize(info.type);
    if (info.ne[0] % blockSize != 0) {
      return file_.error(what + " of type " + ggmlTypeName(info.type) +
                         " has ne[0] = " + std::to_string(info.ne[0]) +
                         ", not a multiple of the block size " +
                         std::to_string(blockSize));
    }
    int64_t nbytes = 0;
    bool overflow = __builtin_mul_overflow(info.ne[0] / blockSize,
                                           ggmlBlockBytes(info.type), &nbytes);
    for (size_t d = 1; d < info.ne.size() && !overflow; ++d) {
      overflow = __builtin_mul_overflow(nbytes, info.ne[d], &nbytes);
    }
    if (overflow) {
      return file_.error(what + " is too large: its size in bytes overflows");
    }
    info.nbytes = static_cast<uint64_t>(nbytes);
    if (!file_.tensorIndex_.emplace(info.name, file_.tensors_.size()).second) {
      return file_.error(what + " appears more than once");
    }
    file_.tensors_.push_back(std::move(info));
  }

  // pos_ <= size_ and alignment <= 2^30, so this cannot overflow.
  uint64_t align = file_.alignment_;
  file_.dataOffset_ = (pos_ + align - 1) / align * align;
  if (file_.tensors_.empty()) {
    return Status::ok();
  }
  if (file_.dataOffset_ > size_) {
    return file_.error("file is truncated: the tensor data section would "
                       "start at offset " +
                       std::to_string(file_.dataOffset_) +
                       ", past the end of the file (file size " +
                       std::to_string(size_) + ")");
  }
  uint64_t available = size_ - file_.dataOffset_;
  for (GGUFTensorInfo &info : file_.tensors_) {
    std::string what = "tensor '" + info.name + "'";
    if (info.offset % align != 0) {
      return file_.error(
          what + " has data offset " + std::to_string(info.offset) +
          ", not a multiple of the alignment " + std::to_string(align));
    }
    if (info.offset > available || info.nbytes > available - info.offset) {
      return file_.error(
          what + " data [" + std::to_string(info.offset) + ", " +
          std::to_string(info.offset) + "+" + std::to_string(info.nbytes) +
          ") lies outside the tensor data section (" +
          std::to_string(available) + " bytes); the file may be truncated");
    }
    info.data = data_ + file_.dataOffset_ + info.offset;
  }
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// GGUFFile
//===----------------------------------------------------------------------===//

StatusOr<std::unique_ptr<GGUFFile>> GGUFFile::open(const std::string &path) {
  StatusOr<std::unique_ptr<MappedFile>> mapped = MappedFile::open(path);
  if (!mapped) {
    return mapped.status();
  }
  std::unique_ptr<GGUFFile> file(new GGUFFile());
  file->path_ = path;
  file->file_ = std::move(*mapped);
  GGUFParser parser(*file);
  if (Status s = parser.parse(); !s) {
    return s;
  }
  return file;
}

const GGUFValue *GGUFFile::find(const std::string &key) const {
  auto it = metadataIndex_.find(key);
  return it == metadataIndex_.end() ? nullptr : &metadata_[it->second].second;
}

const GGUFTensorInfo *GGUFFile::tensor(const std::string &name) const {
  auto it = tensorIndex_.find(name);
  return it == tensorIndex_.end() ? nullptr : &tensors_[it->second];
}

namespace {
std::string typeDescription(const GGUFValue &v) {
  if (v.type == GGUFValueType::ARRAY) {
    return std::string("ARRAY of ") + ggufValueTypeName(v.arrayType);
  }
  return ggufValueTypeName(v.type);
}
} // namespace

StatusOr<int64_t> GGUFFile::getInt(const std::string &key) const {
  const GGUFValue *v = find(key);
  if (!v) {
    return error("metadata key '" + key + "' is missing");
  }
  if (!v->isInteger()) {
    return error("metadata key '" + key + "' has type " + typeDescription(*v) +
                 ", expected an integer");
  }
  std::optional<int64_t> i = v->asInt();
  if (!i) {
    return error("metadata key '" + key + "' has value " +
                 std::to_string(v->u) +
                 ", too large for a signed 64-bit "
                 "integer");
  }
  return *i;
}

StatusOr<double> GGUFFile::getFloat(const std::string &key) const {
  const GGUFValue *v = find(key);
  if (!v) {
    return error("metadata key '" + key + "' is missing");
  }
  std::optional<double> f = v->asFloat();
  if (!f) {
    return error("metadata key '" + key + "' has type " + typeDescription(*v) +
                 ", expected a number");
  }
  return *f;
}

StatusOr<std::string> GGUFFile::getString(const std::string &key) const {
  const GGUFValue *v = find(key);
  if (!v) {
    return error("metadata key '" + key + "' is missing");
  }
  if (!v->asString()) {
    return error("metadata key '" + key + "' has type " + typeDescription(*v) +
                 ", expected a string");
  }
  return *v->asString();
}

StatusOr<std::vector<int64_t>>
GGUFFile::getIntArray(const std::string &key) const {
  const GGUFValue *v = find(key);
  if (!v) {
    return error("metadata key '" + key + "' is missing");
  }
  GGUFValue elementProbe;
  elementProbe.type = v->arrayType;
  if (v->type != GGUFValueType::ARRAY || !elementProbe.isInteger()) {
    return error("metadata key '" + key + "' has type " + typeDescription(*v) +
                 ", expected an array of integers");
  }
  std::vector<int64_t> out;
  out.reserve(v->array.size());
  for (size_t k = 0; k < v->array.size(); ++k) {
    std::optional<int64_t> i = v->array[k].asInt();
    if (!i) {
      return error("metadata key '" + key + "' element " + std::to_string(k) +
                   " is too large for a signed 64-bit integer");
    }
    out.push_back(*i);
  }
  return out;
}

StatusOr<std::vector<std::string>>
GGUFFile::getStringArray(const std::string &key) const {
  const GGUFValue *v = find(key);
  if (!v) {
    return error("metadata key '" + key + "' is missing");
  }
  if (v->type != GGUFValueType::ARRAY ||
      v->arrayType != GGUFValueType::STRING) {
    return error("metadata key '" + key + "' has type " + typeDescription(*v) +
                 ", expected an array of strings");
  }
  std::vector<std::string> out;
  out.reserve(v->array.size());
  for (const GGUFValue &e : v->array) {
    out.push_back(e.s);
  }
  return out;
}

} // namespace lfm2c
