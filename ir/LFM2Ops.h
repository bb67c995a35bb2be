//===- LFM2Ops.h - lfm2 dialect operations ----------------------*- C++ -*-===//

#ifndef LFM2C_IR_LFM2OPS_H
#define LFM2C_IR_LFM2OPS_H

#include "ir/LFM2Dialect.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "ir/LFM2OpsEnums.h.inc"

#define GET_OP_CLASSES
#include "ir/LFM2Ops.h.inc"

namespace mlir::lfm2 {

// True when `use` reads a weight as a projection matrix: conv in/out, the
// attention projections, dense and expert FFN matrices, the embedding table
// and the head. These are the weights a block format may store; routers,
// biases, norms and conv kernels are not.
bool isProjectionOperand(OpOperand &use);

} // namespace mlir::lfm2

#endif // LFM2C_IR_LFM2OPS_H
