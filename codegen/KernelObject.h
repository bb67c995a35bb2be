//===- KernelObject.h - One kernel compiled ahead of time ----------------===//
//
// How a Kernel becomes an object file, shared by the compiler (one object
// per kernel of a program) and the benchmarks (which time the code the
// programs run, not the JIT's).
//
//===----------------------------------------------------------------------===//
#ifndef LFM2C_CODEGEN_KERNELOBJECT_H
#define LFM2C_CODEGEN_KERNELOBJECT_H

#include "codegen/Kernel.h"
#include "runtime/Status.h"

#include <string>

namespace lfm2c {

// Writes `k` as the object file `objectPath` for `target` (a Halide target
// without its runtime). With `artifacts`, also objectPath's stem + .stmt
// and + .s. A kernel whose schedule prefetches goes through assembly: its
// non-temporal prefetches are made temporal (temporalPrefetches) and
// `driver` (a C++ compiler driver for the target) assembles it, with
// `assemblerFlags` (TargetInfo::assemblerFlags).
Status compileKernelObject(Kernel &k, const Halide::Target &target,
                           const std::string &objectPath,
                           const std::string &driver, bool artifacts,
                           const std::vector<std::string> &assemblerFlags = {});

// Rewrites the non-temporal prefetch instructions of x86-64 (prefetchnta)
// and AArch64 (prfm pldl1strm) assembly to prefetches into every cache
// level (prefetcht0, prfm pldl1keep). Returns how many it rewrote.
int temporalPrefetches(std::string &assembly);

} // namespace lfm2c

#endif // LFM2C_CODEGEN_KERNELOBJECT_H
