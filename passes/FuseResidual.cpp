//===- FuseResidual.cpp - lfm2-fuse-residual ------------------------------===//
#include "passes/PassUtils.h"
#include "passes/Passes.h"

#include "mlir/IR/BuiltinOps.h"

namespace mlir::lfm2 {

#define GEN_PASS_DEF_LFM2FUSERESIDUALPASS
#include "passes/Passes.h.inc"

namespace {

struct FuseResidual : OpRewritePattern<AddOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(AddOp op, PatternRewriter &rw) const override {
    // The block output is usually the right-hand side (h + block(h)); try it
    // first so the skip connection becomes the residual.
    for (auto [produced, skip] : {std::pair(op.getRhs(), op.getLhs()),
                                  std::pair(op.getLhs(), op.getRhs())}) {
      auto l = produced.getDefiningOp<LinearOp>();
      if (!l || l.getResults().size() != 1 || l.getResidual() ||
          !produced.hasOneUse() || produced == skip) {
        continue;
      }
      // The fused op sits where the add was, after both of its inputs.
      rw.setInsertionPoint(op);
      auto fused = LinearOp::create(
          rw, l.getLoc(), TypeRange{op.getType()}, l.getInput(), l.getWeights(),
          l.getNormWeight(), skip, l.getEpsilonAttr());
      rw.replaceOp(op, fused.getResult(0));
      rw.eraseOp(l);
      return success();
    }
    return rw.notifyMatchFailure(op, "no side is a sole linear result");
  }
};

struct FuseResidualPass : impl::LFM2FuseResidualPassBase<FuseResidualPass> {
  void runOnOperation() override {
    if (failed(applyPassPatterns<FuseResidual>(getOperation()))) {
      return signalPassFailure();
    }
  }
};

} // namespace
} // namespace mlir::lfm2
