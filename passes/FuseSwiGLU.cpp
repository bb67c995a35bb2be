//===- FuseSwiGLU.cpp - lfm2-fuse-swiglu ----------------------------------===//
#include "passes/PassUtils.h"
#include "passes/Passes.h"

#include "mlir/IR/BuiltinOps.h"

namespace mlir::lfm2 {

#define GEN_PASS_DEF_LFM2FUSESWIGLUPASS
#include "passes/Passes.h.inc"

namespace {

// A single-weight projection whose only reader is the SwiGLU.
LinearOp soleProjection(Value v) {
  auto l = v.getDefiningOp<LinearOp>();
  if (!l || l.getWeights().size() != 1 || l.getResidual() || !v.hasOneUse()) {
    return {};
  }
  return l;
}

struct FuseSwiGLU : OpRewritePattern<SwiGLUOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(SwiGLUOp op,
                                PatternRewriter &rw) const override {
    LinearOp gate = soleProjection(op.getGate());
    LinearOp up = soleProjection(op.getUp());
    if (!gate || !up || gate == up) {
      return rw.notifyMatchFailure(op, "operands are not sole projections");
    }
    if (gate.getInput() != up.getInput() ||
        !sameNorm(gate.getNormWeight(), gate.getEpsilon(), up.getNormWeight(),
                  up.getEpsilon())) {
      return rw.notifyMatchFailure(op, "projections read different inputs");
    }
    Value wg = gate.getWeights()[0], wu = up.getWeights()[0];
    std::optional<WeightFormat> fg = weightFormat(wg), fu = weightFormat(wu);
    if (!fg || fg != fu) {
      return rw.notifyMatchFailure(op, "weights differ in stored format");
    }
    // Both projections dominate the SwiGLU, so their operands do too.
    rw.replaceOpWithNewOp<LinearSwiGLUOp>(op, op.getType(), gate.getInput(), wg,
                                          wu, gate.getNormWeight(),
                                          gate.getEpsilonAttr());
    rw.eraseOp(gate);
    rw.eraseOp(up);
    return success();
  }
};

struct FuseSwiGLUPass : impl::LFM2FuseSwiGLUPassBase<FuseSwiGLUPass> {
  void runOnOperation() override {
    if (failed(applyPassPatterns<FuseSwiGLU>(getOperation()))) {
      return signalPassFailure();
    }
  }
};

} // namespace
} // namespace mlir::lfm2
