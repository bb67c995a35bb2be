//===- Decompose.cpp - lfm2-decompose -------------------------------------===//
#include "passes/PassUtils.h"
#include "passes/Passes.h"

#include "mlir/IR/BuiltinOps.h"

namespace mlir::lfm2 {

#define GEN_PASS_DEF_LFM2DECOMPOSEPASS
#include "passes/Passes.h.inc"

namespace {

Value linear(PatternRewriter &rw, Location loc, Value x, Value w) {
  int64_t rows = cast<RankedTensorType>(w.getType()).getDimSize(0);
  return LinearOp::create(rw, loc, TypeRange{activationType(x, rows)}, x,
                          ValueRange{w}, Value(), Value(), FloatAttr())
      .getResult(0);
}

struct DecomposeShortConv : OpRewritePattern<ShortConvOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ShortConvOp op,
                                PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    Value z =
        linear(rw, roleLoc(rw, loc, "in_proj"), op.getInput(), op.getInProj());
    auto mix = ConvMixOp::create(rw, roleLoc(rw, loc, "conv"),
                                 op.getOutput().getType(),
                                 op.getNewConvState().getType(), z,
                                 op.getConvState(), op.getConvWeight());
    Value out = linear(rw, roleLoc(rw, loc, "out_proj"), mix.getResult(),
                       op.getOutProj());
    rw.replaceOp(op, {out, mix.getNewConvState()});
    return success();
  }
};

struct DecomposeAttention : OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    Value x = op.getInput();
    Value q = linear(rw, roleLoc(rw, loc, "q_proj"), x, op.getQProj());
    Value k = linear(rw, roleLoc(rw, loc, "k_proj"), x, op.getKProj());
    Value v = linear(rw, roleLoc(rw, loc, "v_proj"), x, op.getVProj());
    auto normRope = [&](Value in, Value norm, uint64_t heads,
                        StringRef role) -> Value {
      return QKNormRopeOp::create(
          rw, roleLoc(rw, loc, role), in.getType(), in, norm, op.getPosition(),
          rw.getI64IntegerAttr(heads), op.getHeadDimAttr(),
          op.getRopeThetaAttr(), op.getEpsilonAttr());
    };
    Value qr = normRope(q, op.getQNorm(), op.getNumHeads(), "q_norm_rope");
    Value kr = normRope(k, op.getKNorm(), op.getNumKvHeads(), "k_norm_rope");
    auto attend = AttendOp::create(
        rw, roleLoc(rw, loc, "attention"), qr.getType(),
        op.getNewKCache().getType(), op.getNewVCache().getType(), qr, kr, v,
        op.getKCache(), op.getVCache(), op.getPosition(), op.getNumHeadsAttr(),
        op.getNumKvHeadsAttr(), op.getHeadDimAttr());
    Value out = linear(rw, roleLoc(rw, loc, "out_proj"), attend.getResult(),
                       op.getOutProj());
    rw.replaceOp(op, {out, attend.getNewKCache(), attend.getNewVCache()});
    return success();
  }
};

struct DecomposeSwiGLUFFN : OpRewritePattern<SwiGLUFFNOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(SwiGLUFFNOp op,
                                PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    Value x = op.getInput();
    Value g = linear(rw, roleLoc(rw, loc, "gate"), x, op.getGate());
    Value u = linear(rw, roleLoc(rw, loc, "up"), x, op.getUp());
    Value a =
        SwiGLUOp::create(rw, roleLoc(rw, loc, "swiglu"), g.getType(), g, u);
    Value out = linear(rw, roleLoc(rw, loc, "down"), a, op.getDown());
    rw.replaceOp(op, out);
    return success();
  }
};

struct DecomposePass : impl::LFM2DecomposePassBase<DecomposePass> {
  void runOnOperation() override {
    if (failed(applyPassPatterns<DecomposeShortConv, DecomposeAttention,
                                 DecomposeSwiGLUFFN>(getOperation()))) {
      return signalPassFailure();
    }
  }
};

} // namespace
} // namespace mlir::lfm2
