//===- AttentionKernel.cpp - Causal GQA attention over the KV cache -----===//
//
// The core of lfm2.attention once q has been normed and rotated and this
// batch's k/v rows are in the cache: softmax(q k^T / sqrt(d) + causal) v,
// query head h reading KV head h / (heads / kv_heads).
//
//===----------------------------------------------------------------------===//
#include "codegen/HalideHelpers.h"
#include "codegen/Kernel.h"

#include <cmath>
#include <limits>

using namespace Halide;

namespace lfm2c {

Kernel buildAttention(int64_t heads, int64_t kvHeads, int64_t headDim,
                      const TargetInfo &target) {
  ReductionSchedule sched = ReductionSchedule::forTarget(target);
  const int group = static_cast<int>(heads / kvHeads);
  const float scale = 1.0f / std::sqrt(static_cast<float>(headDim));

  //--- Algorithm ------------------------------------------------------------
  ImageParam q(Float(32), 3, "q");      // (d, heads, T)
  ImageParam kc(Float(32), 3, "k_cache"); // (d, kv_heads, C)
  ImageParam vc(Float(32), 3, "v_cache"); // (d, kv_heads, C)
  Param<int32_t> pos("pos");
  Var i("i"), j("j"), hd("hd"), t("t");
  Expr T = q.dim(2).extent();
  Expr kvLen = pos + T;
  Expr kvh = hd / group;

  LaneDot qk = laneDot("qk", headDim, sched.lanes, {j, hd, t},
                       [&](Expr k) { return q(k, hd, t) * kc(k, kvh, j); });
  Func score("score");
  score(j, hd, t) = select(j <= pos + t, qk.result(j, hd, t) * scale,
                           -std::numeric_limits<float>::infinity());
  RDom rj(0, kvLen, "key");
  Func mx("max_score");
  mx(hd, t) = maximum(score(rj, hd, t));
  Func e("exp_score");
  e(j, hd, t) = exp(score(j, hd, t) - mx(hd, t));
  Func den("denominator");
  den(hd, t) = 0.0f;
  den(hd, t) += e(rj, hd, t);
  // Normalise the probabilities first, then weight v, as ggml does.
  Func p("prob");
  p(j, hd, t) = e(j, hd, t) * (1.0f / den(hd, t));
  Func acc("weighted_v");
  acc(i, hd, t) = 0.0f;
  acc(i, hd, t) += p(rj, hd, t) * vc(i, kvh, rj);
  Func o("attention");
  o(i, hd, t) = acc(i, hd, t);

  constrainDim(q, 0, headDim);
  constrainDim(q, 1, heads);
  constrainDim(kc, 0, headDim);
  constrainDim(kc, 1, kvHeads);
  constrainDim(vc, 0, headDim);
  constrainDim(vc, 1, kvHeads);
  o.output_buffer().dim(0).set_bounds(0, static_cast<int>(headDim));
  o.output_buffer().dim(1).set_bounds(0, static_cast<int>(heads));

  //--- Schedule -------------------------------------------------------------
  // One (token, head) row at a time: its scores live only for that row, so
  // memory stays O(context) whatever the batch.
  const int lanes = sched.lanes;
  Var ht("ht");
  o.fuse(hd, t, ht).parallel(ht).vectorize(i, lanes, TailStrategy::GuardWithIf);
  acc.compute_at(o, ht).vectorize(i, lanes, TailStrategy::GuardWithIf);
  acc.update().vectorize(i, lanes, TailStrategy::GuardWithIf);
  p.compute_at(o, ht);
  den.compute_at(o, ht);
  e.compute_at(o, ht);
  mx.compute_at(o, ht);
  score.compute_at(o, ht);
  qk.result.compute_at(o, ht);
  qk.computeAt(qk.result, j);

  return {"attention_f32_h" + std::to_string(heads) + "_kv" +
              std::to_string(kvHeads) + "_d" + std::to_string(headDim),
          Pipeline(o),
          {q, kc, vc, pos}};
}

} // namespace lfm2c
