//===- MappedFileTest.cpp -------------------------------------------------===//
#include "runtime/MappedFile.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using lfm2c::MappedFile;

namespace {

std::string tempPath(const std::string &name) {
  return testing::TempDir() + "/" + name;
}

// The VmFlags line of the smaps entry starting at `p`, or "" if none.
std::string vmFlagsOf(const void *p) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    unsigned long long lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%llx-%llx", &lo, &hi) == 2) {
      inside = lo == reinterpret_cast<uintptr_t>(p);
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      return line;
    }
  }
  return "";
}

TEST(MappedFile, MapsTheBytesAndHintsHugePages) {
  // 6 MiB of random bytes: spans whole 2 MiB pages.
  const std::string path = tempPath("mapped_file_test.bin");
  std::vector<char> bytes(6u << 20);
  std::mt19937 rng(7);
  for (char &c : bytes) {
    c = static_cast<char>(rng());
  }
  std::ofstream(path, std::ios::binary).write(bytes.data(), bytes.size());

  auto file = MappedFile::open(path);
  ASSERT_TRUE(file.isOk()) << file.status().message();
  const MappedFile &m = **file;
  ASSERT_EQ(m.size(), bytes.size());
  EXPECT_EQ(0, std::memcmp(m.data(), bytes.data(), bytes.size()));
#ifdef __linux__
  // The advice is recorded on the mapping ("hg") when the kernel has
  // transparent huge pages, whatever the file system then does with it; the
  // 2 MiB-mapped part is within the file.
  if (std::filesystem::exists("/sys/kernel/mm/transparent_hugepage")) {
    EXPECT_NE(vmFlagsOf(m.data()).find(" hg"), std::string::npos)
        << vmFlagsOf(m.data());
  }
  const int64_t huge = m.hugePageBytes();
  EXPECT_GE(huge, 0);
  EXPECT_LE(huge, static_cast<int64_t>(m.size()));
  EXPECT_EQ(huge % (2 << 20), 0);
#endif
  std::remove(path.c_str());
}

TEST(MappedFile, EmptyFileHasNoHugePages) {
  const std::string path = tempPath("mapped_file_empty.bin");
  std::ofstream(path, std::ios::binary).close();
  auto file = MappedFile::open(path);
  ASSERT_TRUE(file.isOk()) << file.status().message();
  EXPECT_EQ((*file)->size(), 0u);
  EXPECT_EQ((*file)->hugePageBytes(), 0);
  std::remove(path.c_str());
}

TEST(MappedFile, MissingFileNamesThePath) {
  const std::string path = tempPath("no_such_mapped_file.bin");
  auto file = MappedFile::open(path);
  ASSERT_FALSE(file.isOk());
  EXPECT_NE(file.status().message().find(path), std::string::npos)
      << file.status().message();
}

} // namespace
