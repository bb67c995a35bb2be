//===- lfm2c-opt.cpp - the lfm2 IR test driver ----------------------------===//
//
// mlir-opt with the dialects that lfm2 IR mixes with. Every lit test of the
// dialect and of the passes runs through this driver, so that what is tested
// is exactly what the compiler registers.
//
//===----------------------------------------------------------------------===//

#include "ir/LFM2Dialect.h"
#include "ir/LFM2Ops.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::lfm2::registerLFM2PassesAndPipelines();
  mlir::DialectRegistry registry;
  registry.insert<mlir::lfm2::LFM2Dialect, mlir::func::FuncDialect,
                  mlir::arith::ArithDialect, mlir::tensor::TensorDialect>();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "lfm2 IR driver\n", registry));
}
