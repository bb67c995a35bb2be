//===- MergeProjections.cpp - lfm2-merge-projections ----------------------===//
#include "passes/PassUtils.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

#include <map>

namespace mlir::lfm2 {

#define GEN_PASS_DEF_LFM2MERGEPROJECTIONSPASS
#include "passes/Passes.h.inc"

namespace {

// The stored format all weights of `l` share, if they are all lfm2.weight
// ops of one format.
std::optional<WeightFormat> commonFormat(LinearOp l) {
  std::optional<WeightFormat> format;
  for (Value w : l.getWeights()) {
    std::optional<WeightFormat> f = weightFormat(w);
    if (!f || (format && *format != *f)) {
      return std::nullopt;
    }
    format = f;
  }
  return format;
}

struct MergeProjectionsPass
    : impl::LFM2MergeProjectionsPassBase<MergeProjectionsPass> {
  void runOnOperation() override {
    getOperation().walk([&](Block *block) {
      // Projections of one input, fused norm and weight format, in block
      // order (keys compare the input value, the norm and the format).
      std::map<std::tuple<void *, void *, uint32_t, int>, SmallVector<LinearOp>>
          groups;
      for (Operation &op : *block) {
        auto l = dyn_cast<LinearOp>(&op);
        if (!l || l.getResidual()) {
          continue;
        }
        std::optional<WeightFormat> format = commonFormat(l);
        if (!format) {
          continue;
        }
        uint32_t epsBits =
            l.getEpsilon()
                ? static_cast<uint32_t>(
                      l.getEpsilon()->bitcastToAPInt().getZExtValue())
                : 0;
        groups[{l.getInput().getAsOpaquePointer(),
                l.getNormWeight().getAsOpaquePointer(), epsBits,
                static_cast<int>(*format)}]
            .push_back(l);
      }
      for (auto &[key, group] : groups) {
        if (group.size() > 1) {
          merge(group);
        }
      }
    });
  }

  void merge(ArrayRef<LinearOp> group) {
    LinearOp first = group.front();
    OpBuilder b(first);
    SmallVector<Value> weights;
    SmallVector<Type> types;
    for (LinearOp l : group) {
      for (Value w : l.getWeights()) {
        // Weights read later may be defined after the first projection;
        // lfm2.weight has no operands, so it can move up.
        Operation *def = w.getDefiningOp();
        if (def->getBlock() == first->getBlock() &&
            first->isBeforeInBlock(def)) {
          def->moveBefore(first);
        }
        weights.push_back(w);
      }
      llvm::append_range(types, l.getResultTypes());
    }
    auto merged = LinearOp::create(b, first.getLoc(), types, first.getInput(),
                                   weights, first.getNormWeight(), Value(),
                                   first.getEpsilonAttr());
    unsigned next = 0;
    for (LinearOp l : group) {
      unsigned n = l.getNumResults();
      l->replaceAllUsesWith(merged.getResults().slice(next, n));
      next += n;
      l->erase();
    }
  }
};

} // namespace
} // namespace mlir::lfm2
