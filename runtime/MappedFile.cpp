//===- MappedFile.cpp -----------------------------------------------------===//
#include "runtime/MappedFile.h"

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace lfm2c {

StatusOr<std::unique_ptr<MappedFile>>
MappedFile::open(const std::string &path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Status::error(path + ": cannot open: " + std::strerror(errno));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    std::string why = std::strerror(errno);
    ::close(fd);
    return Status::error(path + ": cannot stat: " + why);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::error(path + ": not a regular file");
  }
  std::unique_ptr<MappedFile> file(new MappedFile());
  file->path_ = path;
  file->size_ = static_cast<size_t>(st.st_size);
  if (file->size_ > 0) {
    void *p = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      std::string why = std::strerror(errno);
      ::close(fd);
      return Status::error(path + ": cannot map: " + why);
    }
    // Weights are streamed once per token, so 4 KiB pages cost a TLB miss
    // per 4 KiB read (a 13 GB file is 3.3M page-table entries, more than the
    // L3 holds), and under a hypervisor each miss is a two-level walk: on a
    // KVM guest, decode ran 22-42% faster with the weights on 2 MiB pages
    // (bench/RESULTS.md). The hint makes faults read the file into PMD-sized
    // page-cache folios, which the kernel maps with one entry each (ext4,
    // XFS and others with large folios); where it cannot, it is ignored.
    // Pages already cached in small folios stay small until evicted.
    ::madvise(p, file->size_, MADV_HUGEPAGE);
    file->data_ = static_cast<const uint8_t *>(p);
  }
  ::close(fd);
  return file;
}

int64_t MappedFile::hugePageBytes() const {
#ifdef __linux__
  if (!data_) {
    return 0;
  }
  std::ifstream smaps("/proc/self/smaps");
  if (!smaps) {
    return -1;
  }
  const auto begin = reinterpret_cast<uintptr_t>(data_);
  const uintptr_t end = begin + size_;
  int64_t bytes = 0;
  bool inside = false, found = false;
  std::string line;
  while (std::getline(smaps, line)) {
    uintptr_t lo = 0, hi = 0;
    // A mapping's header line: "lo-hi perms offset dev inode path".
    if (std::sscanf(line.c_str(), "%" SCNxPTR "-%" SCNxPTR, &lo, &hi) == 2) {
      inside = lo >= begin && lo < end; // hi is rounded up to a page
      found = found || inside;
      continue;
    }
    long long kb = 0;
    if (inside &&
        std::sscanf(line.c_str(), "FilePmdMapped: %lld kB", &kb) == 1) {
      bytes += static_cast<int64_t>(kb) * 1024;
    }
  }
  return found ? bytes : -1;
#else
  return -1;
#endif
}

MappedFile::~MappedFile() {
  if (data_) {
    ::munmap(const_cast<uint8_t *>(data_), size_);
  }
}

} // namespace lfm2c
