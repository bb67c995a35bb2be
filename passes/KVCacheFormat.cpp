//===- KVCacheFormat.cpp - lfm2-kv-cache ----------------------------------===//
#include "passes/Passes.h"

#include "ir/LFM2Ops.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::lfm2 {

#define GEN_PASS_DEF_LFM2KVCACHEFORMATPASS
#include "passes/Passes.h.inc"

namespace {

constexpr const char *kCacheFormat = "lfm2.cache_format";

struct KVCacheFormatPass : impl::LFM2KVCacheFormatPassBase<KVCacheFormatPass> {
  using Base::Base;

  void runOnOperation() override {
    if (format != "f16" && format != "f32") {
      getOperation().emitError("lfm2-kv-cache: format '")
          << format << "' is not one of f16, f32";
      return signalPassFailure();
    }
    // Codegen keeps each cache in the state buffer its argument names, so
    // the mark goes on the argument; a cache computed inside the function
    // would have no storage to mark.
    auto mark = [&](Operation *op, Value cache) -> LogicalResult {
      auto arg = dyn_cast<BlockArgument>(cache);
      auto func = arg ? dyn_cast<func::FuncOp>(arg.getOwner()->getParentOp())
                      : func::FuncOp();
      if (!func || arg.getOwner() != &func.getBody().front()) {
        return op->emitOpError(
            "KV cache operand must be an argument of the enclosing function");
      }
      if (format == "f16") {
        func.setArgAttr(arg.getArgNumber(), kCacheFormat,
                        StringAttr::get(op->getContext(), "f16"));
      } else {
        func.removeArgAttr(arg.getArgNumber(), kCacheFormat);
      }
      return success();
    };
    WalkResult r = getOperation().walk([&](Operation *op) {
      Value k, v;
      if (auto a = dyn_cast<AttentionOp>(op)) {
        k = a.getKCache();
        v = a.getVCache();
      } else if (auto a = dyn_cast<AttendOp>(op)) {
        k = a.getKCache();
        v = a.getVCache();
      } else {
        return WalkResult::advance();
      }
      if (failed(mark(op, k)) || failed(mark(op, v))) {
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (r.wasInterrupted()) {
      signalPassFailure();
    }
  }
};

} // namespace
} // namespace mlir::lfm2
