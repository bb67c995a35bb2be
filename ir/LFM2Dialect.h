//===- LFM2Dialect.h - lfm2 dialect declaration -----------------*- C++ -*-===//

#ifndef LFM2C_IR_LFM2DIALECT_H
#define LFM2C_IR_LFM2DIALECT_H

#include "mlir/IR/Dialect.h"

#include "ir/LFM2OpsDialect.h.inc"

#endif // LFM2C_IR_LFM2DIALECT_H
