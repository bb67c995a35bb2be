//===- MoEKernels.cpp - Router and expert dispatch of the MoE layers ----===//
//
// Routing follows LFM2-MoE as llama.cpp computes it in f32: sigmoid scores,
// the expert bias added only to choose the top-k, the chosen unbiased scores
// divided by their sum (clamped below at the smallest normal half). The
// dispatch reads only the chosen experts' slabs of the stacked weights.
// The combine step weights and sums the experts' outputs of a batch run
// expert by expert (QuantMoEKernel.cpp's buildMoEExpertQuant).
//
//===----------------------------------------------------------------------===//
#include "codegen/HalideHelpers.h"
#include "codegen/Kernel.h"

#include <limits>

using namespace Halide;

namespace lfm2c {

Kernel buildMoERoute(int64_t hidden, int64_t experts, int64_t topK,
                     const TargetInfo &target) {
  ReductionSchedule sched = ReductionSchedule::forTarget(target);
  const int E = static_cast<int>(experts);

  //--- Algorithm ------------------------------------------------------------
  ImageParam x(Float(32), 2, "x");           // (H, T)
  ImageParam router(Float(32), 2, "router"); // (H, E)
  ImageParam bias(Float(32), 1, "bias");     // (E)
  Var e("e"), t("t"), k("k");
  LaneDot logit = laneDot("router_logit", hidden, sched.lanes, {e, t},
                          [&](Expr i) { return router(i, e) * x(i, t); });
  Func score("score");
  score(e, t) = 1.0f / (1.0f + exp(-logit.result(e, t)));
  Func biased("biased_score");
  biased(e, t) = score(e, t) + bias(e);

  // Top-k by repeated argmax, each pass excluding the experts already
  // chosen; slot order is descending biased score, as ggml's argsort.
  std::vector<Func> chosen;
  Expr weightSum = 0.0f;
  for (int s = 0; s < topK; ++s) {
    RDom re(0, E, "expert" + std::to_string(s));
    Expr taken = Halide::Internal::const_false();
    for (const Func &c : chosen) {
      taken = taken || (c(t) == re);
    }
    Func c("choice" + std::to_string(s));
    c(t) = argmax(select(taken, -std::numeric_limits<float>::infinity(),
                         biased(re, t)))[0];
    chosen.push_back(c);
    Expr w = score(clamp(c(t), 0, E - 1), t);
    weightSum = s == 0 ? w : weightSum + w;
  }
  Func denom("weight_sum");
  denom(t) = max(weightSum, 6.103515625e-5f);
  Expr index = cast<int32_t>(chosen.back()(t));
  Expr weight = score(clamp(chosen.back()(t), 0, E - 1), t) / denom(t);
  for (int s = static_cast<int>(topK) - 2; s >= 0; --s) {
    Expr ci = chosen[s](t);
    index = select(k == s, cast<int32_t>(ci), index);
    weight = select(k == s, score(clamp(ci, 0, E - 1), t) / denom(t), weight);
  }
  Func weights("route_weights"), indices("route_indices");
  weights(k, t) = weight;
  indices(k, t) = index;

  constrainDim(x, 0, hidden);
  constrainDim(router, 0, hidden);
  constrainDim(router, 1, experts);
  constrainDim(bias, 0, experts);
  weights.output_buffer().dim(0).set_bounds(0, static_cast<int>(topK));
  indices.output_buffer().dim(0).set_bounds(0, static_cast<int>(topK));

  //--- Schedule -------------------------------------------------------------
  // The logits in register tiles of experts x tokens, a parallel task each:
  // every router vector loaded serves the tile's tokens, every activation
  // vector its experts, and the tile's independent accumulators hide the
  // multiply-add latency (one chain per logit ran at ~10% of the f32 peak:
  // 2% of the 24B-A2B pp512). Each logit keeps its lanes' summation order.
  // Decode's single token still splits the experts into tasks.
  const int expertTile =
      static_cast<int>(std::min<int64_t>(sched.routeExperts, experts));
  const int tokenTile = sched.routeTokens;
  Var eo("eo"), ei("ei"), to("to"), ti("ti"), task("task");
  auto tiles = [&](Stage stage, int tokens) {
    stage.split(e, eo, ei, expertTile, TailStrategy::ShiftInwards)
        .split(t, to, ti, tokens, TailStrategy::ShiftInwards)
        .reorder(ei, ti, eo, to)
        .unroll(ei)
        .unroll(ti)
        .fuse(eo, to, task)
        .parallel(task);
  };
  score.compute_root()
      .vectorize(e, target.lanes(4), TailStrategy::GuardWithIf)
      .parallel(t);
  logit.result.compute_root();
  tiles(logit.result.specialize(x.dim(1).extent() >= tokenTile), tokenTile);
  tiles(logit.result, 1);
  logit.partial.compute_at(logit.result, task)
      .store_in(MemoryType::Register)
      .vectorize(logit.lane);
  logit.partial.update()
      .reorder(logit.lane, e, t, logit.partial.rvars()[0])
      .vectorize(logit.lane)
      .unroll(e)
      .unroll(t);
  for (Func &c : chosen) {
    c.compute_root().parallel(t);
  }
  denom.compute_root();

  return {"moe_route_f32_h" + std::to_string(hidden) + "_e" +
              std::to_string(experts) + "_k" + std::to_string(topK),
          Pipeline({weights, indices}),
          {x, router, bias}};
}

Kernel buildMoEFFN(int64_t hidden, int64_t expertFFN, int64_t experts,
                   int64_t topK, const TargetInfo &target, bool f16Weights) {
  ReductionSchedule sched = ReductionSchedule::forTarget(target);
  const int E = static_cast<int>(experts);

  //--- Algorithm ------------------------------------------------------------
  ImageParam x(Float(32), 2, "x");         // (H, T)
  ImageParam wts(Float(32), 2, "weights"); // (K, T)
  ImageParam idx(Int(32), 2, "indices");   // (K, T)
  const Type wt = weightType(f16Weights);
  ImageParam gate(wt, 3, "gate"); // (H, F, E)
  ImageParam up(wt, 3, "up");     // (H, F, E)
  ImageParam down(wt, 3, "down"); // (F, H, E)
  Var f("f"), h("h"), s("s"), t("t");
  Expr ex = clamp(idx(s, t), 0, E - 1);

  LaneDot g =
      laneDot("expert_gate", hidden, sched.lanes, {f, s, t},
              [&](Expr i) { return weightTimesAct(gate(i, f, ex), x(i, t)); });
  LaneDot u = laneDot("expert_up", hidden, sched.lanes, {f, s, t}, [&](Expr i) {
    return weightTimesAct(up(i, f, ex), x(i, t));
  });
  Func act("expert_act");
  act(f, s, t) = silu(g.result(f, s, t)) * u.result(f, s, t);
  LaneDot d =
      laneDot("expert_down", expertFFN, sched.lanes, {h, s, t}, [&](Expr i) {
        return weightTimesAct(down(i, h, ex), act(i, s, t));
      });
  // Weighted outputs summed in slot order, as llama.cpp adds its views.
  Expr y = d.result(h, 0, t) * wts(0, t);
  for (int slot = 1; slot < topK; ++slot) {
    y = y + d.result(h, slot, t) * wts(slot, t);
  }
  Func out("moe_ffn");
  out(h, t) = y;

  constrainDim(x, 0, hidden);
  constrainDim(wts, 0, topK);
  constrainDim(idx, 0, topK);
  constrainDim(gate, 0, hidden);
  constrainDim(gate, 1, expertFFN);
  constrainDim(gate, 2, experts);
  constrainDim(up, 0, hidden);
  constrainDim(up, 1, expertFFN);
  constrainDim(up, 2, experts);
  constrainDim(down, 0, expertFFN);
  constrainDim(down, 1, hidden);
  constrainDim(down, 2, experts);
  out.output_buffer().dim(0).set_bounds(0, static_cast<int>(hidden));

  //--- Schedule -------------------------------------------------------------
  Var st("st");
  act.compute_root();
  act.fuse(s, t, st).parallel(st);
  g.result.compute_at(act, f);
  u.result.compute_at(act, f);
  g.computeAt(g.result, f);
  u.computeAt(u.result, f);
  d.result.compute_root();
  Var ho("ho"), hi("hi");
  d.result.split(h, ho, hi, sched.rowsPerTask, TailStrategy::GuardWithIf)
      .parallel(ho);
  d.computeAt(d.result, hi);
  out.vectorize(h, sched.lanes, TailStrategy::GuardWithIf);

  return {std::string(f16Weights ? "moe_ffn_f16_f32_h" : "moe_ffn_f32_h") +
              std::to_string(hidden) + "_f" + std::to_string(expertFFN) + "_e" +
              std::to_string(experts) + "_k" + std::to_string(topK),
          Pipeline(out),
          {x, wts, idx, gate, up, down}};
}

Kernel buildMoECombine(int64_t hidden, int64_t topK, const TargetInfo &target) {
  const int lanes = target.lanes(4);

  //--- Algorithm ------------------------------------------------------------
  ImageParam rows(Float(32), 2, "rows");   // (H, T*K), grouped by expert
  ImageParam rowOf(Int(32), 2, "row_of");  // (K, T)
  ImageParam wts(Float(32), 2, "weights"); // (K, T)
  Var h("h"), t("t");
  // A row index outside the buffer is the caller's bug; clamped, it cannot
  // read outside it.
  Expr last = rows.dim(1).extent() - 1;
  auto slot = [&](int s) {
    return rows(h, clamp(rowOf(s, t), 0, last)) * wts(s, t);
  };
  // Slot order, the expression of buildMoEFFN and buildMoEFFNQuant, so the
  // result does not depend on how the pairs were grouped.
  Expr y = slot(0);
  for (int s = 1; s < topK; ++s) {
    y = y + slot(s);
  }
  Func out("moe_combine_f32");
  out(h, t) = y;

  constrainDim(rows, 0, hidden);
  constrainDim(rowOf, 0, topK);
  constrainDim(wts, 0, topK);
  out.output_buffer().dim(0).set_bounds(0, static_cast<int>(hidden));

  //--- Schedule -------------------------------------------------------------
  // Memory-bound gather: a vector of h at a time, tokens in parallel.
  out.vectorize(h, lanes, TailStrategy::GuardWithIf).parallel(t);

  return {"moe_combine_f32_h" + std::to_string(hidden) + "_k" +
              std::to_string(topK),
          Pipeline(out),
          {rows, rowOf, wts}};
}

} // namespace lfm2c
