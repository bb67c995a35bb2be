//===- QuantLinearKernel.cpp - Q8_0 activations and quantized projections ===//
//
// llama.cpp's CPU path for Q8_0 / Q4_0 weights: the activations are
// quantized to Q8_0 (quantize_row_q8_0), then each output is the dot of a
// weight row with them, an exact int32 sum per block of 32 scaled by the two
// block scales (ggml_vec_dot_q8_0_q8_0 / ggml_vec_dot_q4_0_q8_0).
//
//===----------------------------------------------------------------------===//
#include "codegen/HalideHelpers.h"
#include "codegen/QuantMath.h"

#include <algorithm>

using namespace Halide;

namespace lfm2c {

Kernel buildQuantizeQ8_0(int64_t k, const TargetInfo &target,
                         const QuantSchedule &sched) {
  (void)target;
  const int blocks = static_cast<int>(k / kQuantBlock);

  //--- Algorithm ------------------------------------------------------------
  ImageParam x(Float(32), 2, "x"); // (K, T)
  Var t("t");
  Q8Quantizer qz = quantizeQ8_0("quantize_q8_0", k, {t},
                                [&](Expr i) { return x(i, t); });
  Func q = qz.quant, d = qz.scale;

  constrainDim(x, 0, k);
  q.output_buffer().dim(0).set_bounds(0, static_cast<int>(k));
  d.output_buffer().dim(0).set_bounds(0, blocks);

  //--- Schedule -------------------------------------------------------------
  // Per token: the block maxima (one 32-wide max reduction per block), the
  // scales, then the quants a vector at a time within each block.
  qz.amax.compute_root().parallel(t);
  qz.amax.update().atomic().vectorize(qz.amax.rvars()[0]).parallel(t);
  Var ib("ib"), ii("ii");
  q.split(qz.i, ib, ii, kQuantBlock)
      .vectorize(ii, sched.quantLanes)
      .parallel(t);
  d.vectorize(qz.b, sched.quantLanes, TailStrategy::GuardWithIf).parallel(t);

  return {"quantize_q8_0_k" + std::to_string(k), Pipeline({q, d}), {x}};
}

Kernel buildQuantizeQ8_0(int64_t k, const TargetInfo &target) {
  return buildQuantizeQ8_0(k, target, QuantSchedule::forTarget(target));
}

Kernel buildLinearQuant(QuantFormat format, int64_t k, int64_t n,
                        const TargetInfo &target,
                        const QuantSchedule &sched) {
  if (format == QuantFormat::Q6_K) {
    return buildLinearQ6_K(k, n, target, sched);
  }
  const bool q4 = format == QuantFormat::Q4_0;
  const int64_t blocks = k / kQuantBlock;

  //--- Algorithm ------------------------------------------------------------
  ImageParam xq(Int(8), 2, "xq");                     // (K, T)
  ImageParam xd(Float(32), 2, "xd");                  // (K/32, T)
  ImageParam wq(q4 ? UInt(8) : Int(8), 2, "wq");      // (K or K/2, N)
  ImageParam wd(Float(16), 2, "wd");                  // (K/32, N)
  Var o("o"), t("t");
  QuantDotInputs in;
  in.format = format;
  in.length = k;
  in.weight = [&](Expr i) { return wq(i, o); };
  in.weightScale = [&](Expr b) { return cast<float>(wd(b, o)); };
  in.act = [&](Expr i) { return xq(i, t); };
  in.actScale = [&](Expr b) { return xd(b, t); };
  QuantDot dot = quantDot("linear_" + quantFormatName(format), in, sched,
                          {o, t}, {o}, {t});
  Func y = dot.result;

  constrainDim(xq, 0, k);
  constrainDim(xd, 0, blocks);
  constrainDim(wq, 0, q4 ? k / 2 : k);
  constrainDim(wq, 1, n);
  constrainDim(wd, 0, blocks);
  constrainDim(wd, 1, n);
  y.output_buffer().dim(0).set_bounds(0, static_cast<int>(n));

  //--- Schedule -------------------------------------------------------------
  // Rows split into parallel tasks. Decode (and batches smaller than a
  // register tile): within a task, tokens in tiles of tokensPerTile, the
  // tile's tokens innermost, so each weight row is read from memory once
  // per tile and the tile's activations stay in cache; one output at a
  // time. Prefill: the outputs in register tiles of tileRows x tileTokens,
  // a task's row tiles innermost, so the task's weights (~1.3 KB a row)
  // stay in L2 while a token tile's activations stay in L1. The dot
  // products are computed at `inner` in both: per token in the first, per
  // register tile in the second.
  // The prefill tails shift inwards (a few outputs computed twice) rather
  // than being guarded: a guard would sit inside the register tile, below
  // where its inputs are computed. Its batches have at least tileTokens
  // tokens; rows and tasks are clamped to N.
  Var oo("oo"), o1("o1"), oi("oi"), tt("tt"), ti("ti");
  Var outer("outer"), inner("inner");
  const int C = sched.tileTokens;
  const int R = static_cast<int>(std::min<int64_t>(sched.tileRows, n));
  std::vector<std::pair<Var, int>> tile;
  if (R * C > 1) {
    const int task = static_cast<int>(std::min<int64_t>(
        std::max(R, sched.rowsPerTask / R * R), n));
    y.specialize(xq.dim(1).extent() >= C)
        .split(o, oo, o1, task, TailStrategy::ShiftInwards)
        .split(o1, inner, oi, R, TailStrategy::ShiftInwards)
        .split(t, outer, ti, C, TailStrategy::ShiftInwards)
        .reorder(oi, ti, inner, outer, oo)
        .unroll(oi)
        .unroll(ti)
        .parallel(oo);
    tile = {{o, R}, {t, C}};
  }
  y.split(o, oo, outer, sched.rowsPerTask, TailStrategy::GuardWithIf)
      .split(t, tt, inner, sched.tokensPerTile, TailStrategy::GuardWithIf)
      .reorder(inner, outer, tt, oo)
      .parallel(oo);
  dot.schedule(LoopLevel(y, inner), LoopLevel(y, inner), tile);
  if (dot.actOffset.defined()) {
    dot.actOffset.compute_root();
  }
  if (dot.act16.defined()) {
    dot.act16.compute_root().vectorize(dot.i, 16, TailStrategy::GuardWithIf);
  }

  return {"linear_" + quantFormatName(format) + "_k" + std::to_string(k) +
              "_n" + std::to_string(n),
          Pipeline(y),
          {xq, xd, wq, wd}};
}

Kernel buildLinearQuant(QuantFormat format, int64_t k, int64_t n,
                        const TargetInfo &target) {
  return buildLinearQuant(format, k, n, target,
                          QuantSchedule::forTarget(target));
}

} // namespace lfm2c
