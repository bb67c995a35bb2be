//===- Safetensors.cpp - Read-only .safetensors reader --------------------===//
#include "frontend/Safetensors.h"

#include <nlohmann/json.hpp>

#include <cstring>
#include <limits>

namespace lfm2c {

namespace {

// The safetensors format caps the header at 100 MB; a larger length is
// damage, and refusing it early avoids parsing a huge bogus "header".
constexpr uint64_t kMaxHeaderBytes = 100u * 1000u * 1000u;

std::string shapeString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    s += (i ? "," : "") + std::to_string(shape[i]);
  }
  return s + "]";
}

// A short, printable rendering of a JSON value for error messages.
std::string brief(const nlohmann::ordered_json &v) {
  std::string s =
      v.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
  if (s.size() > 60) {
    s = s.substr(0, 57) + "...";
  }
  return s;
}

} // namespace

int64_t safetensorsDtypeSize(const std::string &dtype) {
  static const std::pair<const char *, int64_t> kSizes[] = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E4M3", 1}, {"F8_E5M2", 1},
      {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
      {"U32", 4},  {"F32", 4}, {"I64", 8}, {"U64", 8},     {"F64", 8},
  };
  for (const auto &[name, size] : kSizes) {
    if (dtype == name) {
      return size;
    }
  }
  return 0;
}

Status SafetensorsFile::error(const std::string &message) const {
  return Status::error(path_ + ": " + message);
}

const SafetensorsTensor *
SafetensorsFile::tensor(const std::string &name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

StatusOr<std::unique_ptr<SafetensorsFile>>
SafetensorsFile::open(const std::string &path) {
  auto mapped = MappedFile::open(path);
  if (!mapped) {
    return mapped.status();
  }
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  f->file_ = std::move(*mapped);
  if (Status s = f->parse(); !s) {
    return s;
  }
  return f;
}

Status SafetensorsFile::parse() {
  const uint64_t size = file_->size();
  const uint8_t *base = file_->data();
  if (size < 8) {
    return error("file is " + std::to_string(size) +
                 " bytes, too short for the 8-byte safetensors header length");
  }
  uint64_t headerLen = 0;
  for (int i = 7; i >= 0; --i) {
    headerLen = (headerLen << 8) | base[i];
  }
  if (headerLen > size - 8) {
    return error("header length " + std::to_string(headerLen) +
                 " runs past the end of the file (" + std::to_string(size) +
                 " bytes)");
  }
  if (headerLen > kMaxHeaderBytes) {
    return error("header length " + std::to_string(headerLen) +
                 " exceeds the safetensors limit of " +
                 std::to_string(kMaxHeaderBytes) + " bytes");
  }
  dataOffset_ = 8 + headerLen;
  const uint64_t dataSize = size - dataOffset_;
  const char *text = reinterpret_cast<const char *>(base + 8);

  nlohmann::ordered_json header;
  try {
    header = nlohmann::ordered_json::parse(text, text + headerLen);
  } catch (const nlohmann::json::exception &e) {
    return error(std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) {
    return error("header is a JSON " + std::string(header.type_name()) +
                 ", expected an object");
  }

  try {
    for (const auto &[name, entry] : header.items()) {
      if (name == "__metadata__") {
        if (!entry.is_object()) {
          return error("'__metadata__' is a JSON " +
                       std::string(entry.type_name()) + ", expected an object");
        }
        for (const auto &[key, value] : entry.items()) {
          if (value.is_string()) {
            metadata_[key] = value.get<std::string>();
          }
        }
        continue;
      }
      const std::string what = "tensor '" + name + "'";
      if (!entry.is_object()) {
        return error(what + " is described by a JSON " +
                     std::string(entry.type_name()) + ", expected an object");
      }
      SafetensorsTensor t;
      t.name = name;

      auto dtype = entry.find("dtype");
      if (dtype == entry.end() || !dtype->is_string()) {
        return error(what + " has no string 'dtype'");
      }
      t.dtype = dtype->get<std::string>();
      const int64_t elemSize = safetensorsDtypeSize(t.dtype);
      if (elemSize == 0) {
        return error(what + " has unknown dtype '" + t.dtype + "'");
      }

      auto shape = entry.find("shape");
      if (shape == entry.end() || !shape->is_array()) {
        return error(what + " has no 'shape' array");
      }
      // Byte count = product of dims * element size, with overflow checks;
      // a product above the data size is reported as a size mismatch below.
      uint64_t expectBytes = static_cast<uint64_t>(elemSize);
      bool overflow = false;
      for (const auto &dim : *shape) {
        if (!dim.is_number_integer() ||
            (dim.is_number_unsigned()
                 ? dim.get<uint64_t>() >
                       static_cast<uint64_t>(
                           std::numeric_limits<int64_t>::max())
                 : dim.get<int64_t>() < 0)) {
          return error(what + " has shape " + brief(*shape) +
                       ", expected non-negative integers");
        }
        const int64_t d = dim.get<int64_t>();
        t.shape.push_back(d);
        uint64_t next = 0;
        if (__builtin_mul_overflow(expectBytes, static_cast<uint64_t>(d),
                                   &next)) {
          overflow = true;
        }
        expectBytes = next;
      }

      auto offsets = entry.find("data_offsets");
      if (offsets == entry.end() || !offsets->is_array() ||
          offsets->size() != 2 || !(*offsets)[0].is_number_unsigned() ||
          !(*offsets)[1].is_number_unsigned()) {
        return error(what + " has data_offsets " +
                     (offsets == entry.end() ? std::string("missing")
                                             : brief(*offsets)) +
                     ", expected [begin, end] with non-negative integers");
      }
      const uint64_t begin = (*offsets)[0].get<uint64_t>();
      const uint64_t end = (*offsets)[1].get<uint64_t>();
      if (begin > end || end > dataSize) {
        return error(what + " has data_offsets [" + std::to_string(begin) +
                     "," + std::to_string(end) +
                     "] out of bounds: the data section holds " +
                     std::to_string(dataSize) + " bytes");
      }
      if (overflow || expectBytes != end - begin) {
        return error(what + " has dtype " + t.dtype + " and shape " +
                     shapeString(t.shape) + " (" +
                     (overflow ? std::string("overflowing")
                               : std::to_string(expectBytes)) +
                     " bytes), but its data_offsets [" + std::to_string(begin) +
                     "," + std::to_string(end) + "] span " +
                     std::to_string(end - begin) + " bytes");
      }
      t.data = base + dataOffset_ + begin;
      t.nbytes = end - begin;
      if (index_.count(name)) {
        return error(what + " is listed twice");
      }
      index_.emplace(name, tensors_.size());
      tensors_.push_back(std::move(t));
    }
  } catch (const nlohmann::json::exception &e) {
    // Not expected after the type checks above; kept so that no exception
    // leaves the API.
    return error(std::string("malformed header: ") + e.what());
  }
  return Status::ok();
}

} // namespace lfm2c
