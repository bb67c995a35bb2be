//===- LinearKernels.cpp - Dense projections and elementwise glue -------===//
//
// The f32 projection y = x W^T over a batch of tokens, and the small
// elementwise kernels around it (embedding lookup, residual add, SwiGLU).
//
//===----------------------------------------------------------------------===//
#include "codegen/HalideHelpers.h"
#include "codegen/Kernel.h"
#include "codegen/QuantMath.h"

using namespace Halide;

namespace lfm2c {

Kernel buildLinear(int64_t k, int64_t n, const TargetInfo &target,
                   bool f16Weights) {
  ReductionSchedule sched = ReductionSchedule::forTarget(target);

  //--- Algorithm ------------------------------------------------------------
  ImageParam x(Float(32), 2, "x");              // (K, T)
  ImageParam w(weightType(f16Weights), 2, "w"); // (K, N)
  Var o("o"), t("t");
  LaneDot dot = laneDot("linear", k, sched.lanes, {o, t}, [&](Expr i) {
    return weightTimesAct(w(i, o), x(i, t));
  });
  Func y = dot.result;

  constrainDim(x, 0, k);
  constrainDim(w, 0, k);
  constrainDim(w, 1, n);
  y.output_buffer().dim(0).set_bounds(0, static_cast<int>(n));

  //--- Schedule -------------------------------------------------------------
  // Tokens innermost so each weight row is read once per batch from memory
  // and then from cache; rows split into parallel tasks.
  Var oo("oo"), oi("oi");
  y.split(o, oo, oi, sched.rowsPerTask, TailStrategy::GuardWithIf)
      .reorder(t, oi, oo)
      .parallel(oo);
  dot.computeAt(y, t);

  return {std::string(f16Weights ? "linear_f16_f32_k" : "linear_f32_k") +
              std::to_string(k) + "_n" + std::to_string(n),
          Pipeline(y),
          {x, w}};
}

Kernel buildEmbedding(int64_t vocab, int64_t hidden, const TargetInfo &target,
                      bool f16Weights) {
  //--- Algorithm ------------------------------------------------------------
  ImageParam tokens(Int(32), 1, "tokens");              // (T)
  ImageParam table(weightType(f16Weights), 2, "table"); // (H, V)
  Var h("h"), t("t");
  Func y("embedding");
  // The runtime rejects out-of-vocabulary ids before calling; the clamp
  // only keeps the bounds analysis finite.
  y(h, t) =
      cast<float>(table(h, clamp(tokens(t), 0, static_cast<int>(vocab - 1))));
  constrainDim(table, 0, hidden);
  constrainDim(table, 1, vocab);
  y.output_buffer().dim(0).set_bounds(0, static_cast<int>(hidden));

  //--- Schedule -------------------------------------------------------------
  y.vectorize(h, target.lanes(4), TailStrategy::GuardWithIf);

  return {std::string(f16Weights ? "embedding_f16_v" : "embedding_f32_v") +
              std::to_string(vocab) + "_h" + std::to_string(hidden),
          Pipeline(y),
          {tokens, table}};
}

Kernel buildEmbeddingQuant(QuantFormat format, int64_t vocab, int64_t hidden,
                           const TargetInfo &target, int interleave) {
  if (interleave != 0) {
    // The layout of the tied head's row-lane GEMV.
    requireRowInterleave("embedding tables", format,
                         QuantSchedule::forTarget(target), interleave, {vocab});
  }
  if (format == QuantFormat::Q6_K) {
    return buildEmbeddingQ6_K(vocab, hidden, target, interleave);
  }
  const bool q4 = format == QuantFormat::Q4_0;
  const int R = std::max(interleave, 1);
  //--- Algorithm ------------------------------------------------------------
  ImageParam tokens(Int(32), 1, "tokens"); // (T)
  // (H or H/2, V); interleaved by R: (R * H or R * H/2, V/R)
  ImageParam quants(q4 ? UInt(8) : Int(8), 2, "quants");
  ImageParam scales(Float(16), 2, "scales"); // (H/32, V) or (H/32 * R, V/R)
  Var h("h"), t("t");
  Expr row = clamp(tokens(t), 0, static_cast<int>(vocab - 1));
  Expr group = row / R, r = row % R, b = h / kQuantBlock;
  Expr q, scale = scales(b, row);
  if (interleave) {
    // Value e of block b is value e % 4 of 4-value group e / 4 of the row
    // in the row-lane kernels' terms.
    auto byte = [&](Expr at, Expr grp) { return quants(at, grp); };
    Expr e = h % kQuantBlock;
    scale = scales(b * R + r, group);
    q = q4 ? cast<int32_t>(
                 q4InterleavedNibble(byte, R, e % 4, r, e / 4, b, group)) -
                 8
           : cast<int32_t>(
                 q8InterleavedValue(byte, R, e % 4, r, e / 4, b, group)) -
                 128;
  } else if (q4) {
    QuantDotInputs in;
    in.format = format;
    in.length = hidden;
    in.weight = [&](Expr i) { return quants(i, row); };
    Expr j = h % kQuantBlock;
    q = cast<int32_t>(q4Nibble(in, h / kQuantBlock, j, j < kQuantBlock / 2)) -
        8;
  } else {
    q = cast<int32_t>(quants(h, row));
  }
  Func y("embedding_quant");
  y(h, t) = cast<float>(q) * cast<float>(scale);
  constrainDim(quants, 0, (q4 ? hidden / 2 : hidden) * R);
  constrainDim(quants, 1, vocab / R);
  constrainDim(scales, 0, hidden / 32 * R);
  constrainDim(scales, 1, vocab / R);
  y.output_buffer().dim(0).set_bounds(0, static_cast<int>(hidden));

  //--- Schedule -------------------------------------------------------------
  y.vectorize(h, target.lanes(4), TailStrategy::GuardWithIf);

  return {std::string("embedding_") + (q4 ? "q4_0" : "q8_0") +
              (interleave ? "x" + std::to_string(interleave) : "") + "_v" +
              std::to_string(vocab) + "_h" + std::to_string(hidden),
          Pipeline(y),
          {tokens, quants, scales}};
}

Kernel buildAdd(int64_t n, const TargetInfo &target) {
  //--- Algorithm ------------------------------------------------------------
  ImageParam a(Float(32), 2, "a"), b(Float(32), 2, "b");
  Var i("i"), t("t");
  Func y("add");
  y(i, t) = a(i, t) + b(i, t);
  constrainDim(a, 0, n);
  constrainDim(b, 0, n);
  y.output_buffer().dim(0).set_bounds(0, static_cast<int>(n));

  //--- Schedule -------------------------------------------------------------
  y.vectorize(i, target.lanes(4), TailStrategy::GuardWithIf);

  return {"add_f32_n" + std::to_string(n), Pipeline(y), {a, b}};
}

Kernel buildSwiGLU(int64_t n, const TargetInfo &target) {
  //--- Algorithm ------------------------------------------------------------
  ImageParam gate(Float(32), 2, "gate"), up(Float(32), 2, "up");
  Var i("i"), t("t");
  Func y("swiglu");
  y(i, t) = silu(gate(i, t)) * up(i, t);
  constrainDim(gate, 0, n);
  constrainDim(up, 0, n);
  y.output_buffer().dim(0).set_bounds(0, static_cast<int>(n));

  //--- Schedule -------------------------------------------------------------
  y.vectorize(i, target.lanes(4), TailStrategy::GuardWithIf);

  return {"swiglu_f32_n" + std::to_string(n), Pipeline(y), {gate, up}};
}

} // namespace lfm2c
