//===- QuantizeWeights.cpp - lfm2-quantize --------------------------------===//
#include "passes/Passes.h"

#include "ir/LFM2Ops.h"

#include "mlir/IR/BuiltinOps.h"

namespace mlir::lfm2 {

#define GEN_PASS_DEF_LFM2QUANTIZEWEIGHTSPASS
#include "passes/Passes.h.inc"

namespace {

bool isBlockFormat(WeightFormat f) {
  return f == WeightFormat::q8_0 || f == WeightFormat::q4_0 ||
         f == WeightFormat::q6_k;
}

struct QuantizeWeightsPass
    : impl::LFM2QuantizeWeightsPassBase<QuantizeWeightsPass> {
  using Base::Base;

  void runOnOperation() override {
    std::optional<WeightFormat> target = symbolizeWeightFormat(format);
    if (!target ||
        (*target != WeightFormat::q8_0 && *target != WeightFormat::q4_0 &&
         *target != WeightFormat::f16 && *target != WeightFormat::f32)) {
      getOperation().emitError("lfm2-quantize: format '")
          << format << "' is not one of q8_0, q4_0, f16, f32";
      return signalPassFailure();
    }
    getOperation().walk([&](WeightOp w) {
      if (*target == WeightFormat::f32) {
        w.setFormat(WeightFormat::f32);
        return;
      }
      if (w->use_empty() || isBlockFormat(w.getFormat())) {
        return;
      }
      for (OpOperand &use : w->getUses()) {
        if (!isProjectionOperand(use)) {
          return;
        }
      }
      auto type = cast<RankedTensorType>(w.getType());
      if (*target != WeightFormat::f16 && type.getShape().back() % 32 != 0) {
        w.emitRemark("rows of ")
            << type.getShape().back()
            << " values are not whole 32-value blocks; kept as "
            << stringifyWeightFormat(w.getFormat());
        return;
      }
      w.setFormat(*target);
    });
  }
};

} // namespace
} // namespace mlir::lfm2
