//===- PeakRss.h - The process's peak resident set size ------------------===//
//
// For `--bench`: VmHWM from /proc/self/status, and its reset (Linux >= 4.0)
// so each benchmark reports its own peak. Linux only; elsewhere both report
// that nothing is known.
//
//===----------------------------------------------------------------------===//
#ifndef LFM2C_RUNTIME_PEAKRSS_H
#define LFM2C_RUNTIME_PEAKRSS_H

#include <cstdint>

namespace lfm2c::rt {

// Peak resident set size in bytes (VmHWM), or -1 when unknown.
int64_t peakRssBytes();

// Resets the peak to the current resident set size (writes 5 to
// /proc/self/clear_refs); false when the kernel does not allow it.
bool resetPeakRss();

} // namespace lfm2c::rt

#endif // LFM2C_RUNTIME_PEAKRSS_H
