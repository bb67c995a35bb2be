//===- Subprocess.h - Running the toolchain's programs ------------------===//
//
// The compiler assembles and links with the target's C++ driver; the
// benchmarks do the same for the kernels they time.
//
//===----------------------------------------------------------------------===//
#ifndef LFM2C_CODEGEN_SUBPROCESS_H
#define LFM2C_CODEGEN_SUBPROCESS_H

#include "runtime/Status.h"

#include <string>
#include <vector>

namespace lfm2c {

// Runs argv[0] (looked up on PATH) with `argv` and waits; an error names
// the command when it cannot start or exits other than 0.
Status runCommand(const std::vector<std::string> &argv);

// The path `program` would run as: itself when it names a path, else the
// first executable of that name on PATH; empty when there is none.
std::string findExecutable(const std::string &program);

} // namespace lfm2c

#endif // LFM2C_CODEGEN_SUBPROCESS_H
