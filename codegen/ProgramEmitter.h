//===- ProgramEmitter.h - lfm2 IR to a C++ program calling kernels ------===//
//
// Lowers the @forward function of an lfm2 module to:
//  - the list of kernels it needs (each op becomes one or more calls),
//  - the weights it reads, in the order the weights file stores them,
//  - program.cpp, which calls the kernels in order over a scratch arena and
//    implements the contract of runtime/Program.h.
// Unsupported IR is reported as MLIR diagnostics at the op's location.
//
//===----------------------------------------------------------------------===//
#ifndef LFM2C_CODEGEN_PROGRAMEMITTER_H
#define LFM2C_CODEGEN_PROGRAMEMITTER_H

#include "codegen/KernelRequest.h"
#include "targets/TargetInfo.h"

#include "mlir/IR/BuiltinOps.h"

#include <string>
#include <vector>

namespace lfm2c {

struct PlannedWeight {
  std::string name;           // source tensor name
  std::vector<int64_t> shape; // logical, row-major
  uint64_t offset = 0;        // from the start of the weights data
  uint64_t bytes = 0;         // as stored (f32 for now)
};

struct ProgramPlan {
  std::vector<KernelRequest> kernels;
  std::vector<PlannedWeight> weights;
  uint64_t weightsBytes = 0;
  // program.cpp, complete but for the weights hash, which is known only once
  // the weights are written: render() fills it in.
  std::string render(uint64_t weightsHash) const;

  std::string body;     // generated forward function and declarations
  std::string infoTail; // ProgramInfo definition with a hash placeholder
};

mlir::FailureOr<ProgramPlan> planProgram(mlir::ModuleOp module,
                                         const TargetInfo &target,
                                         const std::string &modelName);

} // namespace lfm2c

#endif // LFM2C_CODEGEN_PROGRAMEMITTER_H
