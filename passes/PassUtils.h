//===- PassUtils.h - Small helpers shared by the lfm2 passes ----*- C++ -*-===//
#ifndef LFM2C_PASSES_PASSUTILS_H
#define LFM2C_PASSES_PASSUTILS_H

#include "ir/LFM2Ops.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::lfm2 {

// The location of a piece of `base`: generated code and diagnostics name a
// kernel call by its block plus its role ("blk.3.attn.q_proj").
inline Location roleLoc(OpBuilder &b, Location base, StringRef role) {
  if (auto name = dyn_cast<NameLoc>(base)) {
    return NameLoc::get(
        b.getStringAttr(name.getName().str() + "." + role.str()), base);
  }
  return NameLoc::get(b.getStringAttr(role), base);
}

// [rows of `like`, width] with the token dimension of `like`.
inline RankedTensorType activationType(Value like, int64_t width) {
  auto t = cast<RankedTensorType>(like.getType());
  return RankedTensorType::get({t.getDimSize(0), width}, t.getElementType());
}

// Two fused norms are the same when they use the same scale and epsilon.
inline bool sameNorm(Value normA, std::optional<APFloat> epsA, Value normB,
                     std::optional<APFloat> epsB) {
  if (normA != normB) {
    return false;
  }
  return !normA || (epsA && epsB && epsA->bitwiseIsEqual(*epsB));
}

// The stored format of a weight operand, if it comes straight from
// lfm2.weight.
inline std::optional<WeightFormat> weightFormat(Value w) {
  if (auto op = w.getDefiningOp<WeightOp>()) {
    return op.getFormat();
  }
  return std::nullopt;
}

// Runs `Patterns` greedily over `op`: the body of each pattern-based pass.
template <typename... Patterns> LogicalResult applyPassPatterns(Operation *op) {
  RewritePatternSet patterns(op->getContext());
  patterns.add<Patterns...>(op->getContext());
  return applyPatternsGreedily(op, std::move(patterns));
}

} // namespace mlir::lfm2

#endif // LFM2C_PASSES_PASSUTILS_H
