//===- MappedFile.h - Read-only memory mapping of a whole file ----------===//
//
// Model files and compiled weight files are never read into heap buffers:
// they are mapped, so the page cache holds the only copy.
//
//===----------------------------------------------------------------------===//
#ifndef LFM2C_RUNTIME_MAPPEDFILE_H
#define LFM2C_RUNTIME_MAPPEDFILE_H

#include "runtime/Status.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace lfm2c {

class MappedFile {
public:
  static StatusOr<std::unique_ptr<MappedFile>> open(const std::string &path);
  ~MappedFile();
  MappedFile(const MappedFile &) = delete;
  MappedFile &operator=(const MappedFile &) = delete;

  const uint8_t *data() const { return data_; }
  size_t size() const { return size_; }
  const std::string &path() const { return path_; }
  // Bytes of the mapping the kernel maps with 2 MiB (PMD) entries now, from
  // /proc/self/smaps; -1 where that is unknown (not Linux, no procfs).
  int64_t hugePageBytes() const;

private:
  MappedFile() = default;
  std::string path_;
  const uint8_t *data_ = nullptr;
  size_t size_ = 0;
};

} // namespace lfm2c

#endif // LFM2C_RUNTIME_MAPPEDFILE_H
