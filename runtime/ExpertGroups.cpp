//===- ExpertGroups.cpp ---------------------------------------------------===//
#include "runtime/ExpertGroups.h"

#include <cstring>
#include <limits>

namespace lfm2c::rt {

Status groupByExpert(const int32_t *indices, int64_t tokens, int64_t topK,
                     int64_t experts, int32_t *offsets, int32_t *pairs,
                     int32_t *rowOf) {
  if (tokens < 0 || topK < 1 || experts < 1) {
    return Status::error("expert grouping: bad sizes (tokens " +
                         std::to_string(tokens) + ", top-k " +
                         std::to_string(topK) + ", experts " +
                         std::to_string(experts) + ")");
  }
  if (tokens > std::numeric_limits<int32_t>::max() / topK) {
    return Status::error("expert grouping: " + std::to_string(tokens) +
                         " tokens of top-" + std::to_string(topK) +
                         " exceed the int32 pair numbering");
  }
  const int64_t n = tokens * topK;
  // Checked before anything is written, so a bad routing leaves the outputs
  // as they were.
  for (int64_t p = 0; p < n; ++p) {
    if (indices[p] < 0 || indices[p] >= experts) {
      return Status::error("expert grouping: token " +
                           std::to_string(p / topK) + " slot " +
                           std::to_string(p % topK) + " routes to expert " +
                           std::to_string(indices[p]) + ", outside [0, " +
                           std::to_string(experts) + ")");
    }
  }
  // Counts, then exclusive prefix sums: offsets[e] = first row of e.
  std::memset(offsets, 0, sizeof(int32_t) * static_cast<size_t>(experts + 1));
  for (int64_t p = 0; p < n; ++p) {
    ++offsets[indices[p] + 1];
  }
  for (int64_t e = 0; e < experts; ++e) {
    offsets[e + 1] += offsets[e];
  }
  // offsets[e] serves as expert e's cursor, ending at e + 1's first row;
  // shifting the array by one afterwards restores the starts, so no other
  // scratch is needed.
  for (int64_t p = 0; p < n; ++p) {
    const int32_t row = offsets[indices[p]]++;
    pairs[row] = static_cast<int32_t>(p);
    rowOf[p] = row;
  }
  for (int64_t e = experts - 1; e > 0; --e) {
    offsets[e] = offsets[e - 1];
  }
  offsets[0] = 0;
  return Status::ok();
}

void gatherPairRows(const void *src, int64_t rowBytes, const int32_t *pairs,
                    int64_t rows, int64_t topK, void *dst) {
  const auto *s = static_cast<const uint8_t *>(src);
  auto *d = static_cast<uint8_t *>(dst);
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(d + r * rowBytes, s + (pairs[r] / topK) * rowBytes,
                static_cast<size_t>(rowBytes));
  }
}

} // namespace lfm2c::rt
