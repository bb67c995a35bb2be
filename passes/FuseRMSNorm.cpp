//===- FuseRMSNorm.cpp - lfm2-fuse-rms-norm -------------------------------===//
#include "passes/PassUtils.h"
#include "passes/Passes.h"

#include "mlir/IR/BuiltinOps.h"

namespace mlir::lfm2 {

#define GEN_PASS_DEF_LFM2FUSERMSNORMPASS
#include "passes/Passes.h.inc"

namespace {

// A projection that reads `v` as its input and has no norm of its own.
bool takesNorm(OpOperand &use) {
  Operation *user = use.getOwner();
  if (auto l = dyn_cast<LinearOp>(user)) {
    return use.get() == l.getInput() && !l.getNormWeight() &&
           llvm::count(user->getOperands(), use.get()) == 1;
  }
  if (auto s = dyn_cast<LinearSwiGLUOp>(user)) {
    return use.get() == s.getInput() && !s.getNormWeight() &&
           llvm::count(user->getOperands(), use.get()) == 1;
  }
  return false;
}

struct FuseRMSNorm : OpRewritePattern<RMSNormOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(RMSNormOp norm,
                                PatternRewriter &rw) const override {
    if (norm->use_empty() || !llvm::all_of(norm->getUses(), takesNorm)) {
      return rw.notifyMatchFailure(norm, "a user cannot take the norm");
    }
    Value x = norm.getInput(), scale = norm.getWeight();
    FloatAttr eps = norm.getEpsilonAttr();
    for (Operation *user : llvm::make_early_inc_range(norm->getUsers())) {
      rw.setInsertionPoint(user);
      if (auto l = dyn_cast<LinearOp>(user)) {
        auto fused =
            LinearOp::create(rw, l.getLoc(), l.getResultTypes(), x,
                             l.getWeights(), scale, l.getResidual(), eps);
        rw.replaceOp(l, fused.getResults());
      } else {
        auto s = cast<LinearSwiGLUOp>(user);
        rw.replaceOpWithNewOp<LinearSwiGLUOp>(s, s.getType(), x, s.getGate(),
                                              s.getUp(), scale, eps);
      }
    }
    rw.eraseOp(norm);
    return success();
  }
};

struct FuseRMSNormPass : impl::LFM2FuseRMSNormPassBase<FuseRMSNormPass> {
  void runOnOperation() override {
    if (failed(applyPassPatterns<FuseRMSNorm>(getOperation()))) {
      return signalPassFailure();
    }
  }
};

} // namespace
} // namespace mlir::lfm2
