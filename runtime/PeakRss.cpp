//===- PeakRss.cpp --------------------------------------------------------===//
#include "runtime/PeakRss.h"

#include <cstdio>
#include <cstring>

namespace lfm2c::rt {

int64_t peakRssBytes() {
  std::FILE *f = std::fopen("/proc/self/status", "r");
  if (!f) {
    return -1;
  }
  char line[256];
  int64_t bytes = -1;
  while (std::fgets(line, sizeof(line), f)) {
    long long kib = 0;
    if (std::strncmp(line, "VmHWM:", 6) == 0 &&
        std::sscanf(line + 6, "%lld", &kib) == 1) {
      bytes = static_cast<int64_t>(kib) * 1024;
      break;
    }
  }
  std::fclose(f);
  return bytes;
}

bool resetPeakRss() {
  std::FILE *f = std::fopen("/proc/self/clear_refs", "w");
  if (!f) {
    return false;
  }
  bool ok = std::fputs("5", f) >= 0;
  ok = std::fclose(f) == 0 && ok;
  return ok;
}

} // namespace lfm2c::rt
