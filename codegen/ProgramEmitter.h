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

// How a weight is laid out in the weights file, for its kernels.
enum class StoredFormat {
  F32,  // row-major f32
  Q8_0, // int8 quants [rows, K], then f32 block scales [rows, K/32]
  Q4_0, // packed nibbles [rows, K/2] (codegen/QuantLayout.h), then scales
  Q6_K, // 208-byte super-blocks [rows, K/256 * 208], then f32 [rows, K/256]
  F16,  // row-major IEEE half
};

struct PlannedWeight {
  std::string name;           // source tensor name
  std::vector<int64_t> shape; // logical, row-major; K = the last dim
  StoredFormat format = StoredFormat::F32;
  uint64_t offset = 0; // values or quants, from the data start
  uint64_t bytes = 0;
  uint64_t scaleOffset = 0; // block (Q6_K: super-block) scales
  uint64_t scaleBytes = 0;
  // Q4_0 / Q8_0 rows interleaved in groups of this many
  // (codegen/QuantLayout.h), 0: rows as they are.
  int rowInterleave = 0;
};

// What is known only once the weights file is written.
struct ProgramConstants {
  uint64_t weightsHash = 0;
  uint64_t dataBytes = 0; // tensors plus any blobs after them
  uint64_t tokenizerOffset = 0;
  uint64_t tokenizerBytes = 0;
  float temperature = 0.3f, topP = 1.0f, minP = 0.15f, repeatPenalty = 1.05f;
  int32_t topK = 0;
};

struct ProgramPlan {
  std::vector<KernelRequest> kernels;
  std::vector<PlannedWeight> weights;
  uint64_t weightsBytes = 0; // tensor data, 64-byte aligned at the end

  // program.cpp: the generated body plus lfm2c_program_info().
  std::string render(const ProgramConstants &constants) const;

  std::string body; // kernel declarations, state table, forward function
  std::string modelName, targetName;
  int64_t vocabSize = 0, contextLength = 0, numStates = 0;
  int64_t arenaPerToken = 0, arenaFixed = 0;
};

mlir::FailureOr<ProgramPlan> planProgram(mlir::ModuleOp module,
                                         const TargetInfo &target,
                                         const std::string &modelName);

} // namespace lfm2c

#endif // LFM2C_CODEGEN_PROGRAMEMITTER_H
