//===- NormKernels.cpp - RMSNorm, and the per-head q/k norm with RoPE ---===//
#include "codegen/HalideHelpers.h"
#include "codegen/Kernel.h"

#include <cmath>

using namespace Halide;

namespace lfm2c {

Kernel buildRmsNorm(int64_t n, float eps, const TargetInfo &target) {
  ReductionSchedule sched = ReductionSchedule::forTarget(target);

  //--- Algorithm ------------------------------------------------------------
  ImageParam x(Float(32), 2, "x"); // (N, T)
  ImageParam w(Float(32), 1, "w"); // (N)
  Var i("i"), t("t");
  LaneDot ss = laneDot("sumsq", n, sched.lanes, {t},
                       [&](Expr k) { return x(k, t) * x(k, t); });
  // llama.cpp's order: scale = 1/sqrt(mean + eps); (x * scale) * w.
  Func scale("scale");
  scale(t) = 1.0f / sqrt(ss.result(t) / static_cast<float>(n) + eps);
  Func y("rms_norm");
  y(i, t) = (x(i, t) * scale(t)) * w(i);
  constrainDim(x, 0, n);
  constrainDim(w, 0, n);
  y.output_buffer().dim(0).set_bounds(0, static_cast<int>(n));

  //--- Schedule -------------------------------------------------------------
  y.vectorize(i, sched.lanes, TailStrategy::GuardWithIf);
  scale.compute_at(y, t);
  ss.result.compute_at(y, t);
  ss.computeAt(ss.result, t);

  return {"rms_norm_f32_n" + std::to_string(n), Pipeline(y), {x, w}};
}

Kernel buildQKNormRope(int64_t heads, int64_t headDim, float eps, float theta,
                       const TargetInfo &target) {
  ReductionSchedule sched = ReductionSchedule::forTarget(target);
  const int half = static_cast<int>(headDim / 2);

  //--- Algorithm ------------------------------------------------------------
  ImageParam x(Float(32), 3, "x"); // (d, heads, T)
  ImageParam w(Float(32), 1, "w"); // (d)
  Param<int32_t> pos("pos");
  Var i("i"), hd("hd"), t("t");

  LaneDot ss = laneDot("head_sumsq", headDim, sched.lanes, {hd, t},
                       [&](Expr k) { return x(k, hd, t) * x(k, hd, t); });
  Func scale("scale");
  scale(hd, t) =
      1.0f / sqrt(ss.result(hd, t) / static_cast<float>(headDim) + eps);
  Func nx("normed");
  nx(i, hd, t) = (x(i, hd, t) * scale(hd, t)) * w(i);

  // Rotation angles as llama.cpp builds its cache: start from the position
  // and multiply by theta^(-2/d) once per pair, in float, so the angles
  // match bit for bit rather than to a few ulps.
  const float thetaScale = std::pow(theta, -2.0f / static_cast<float>(headDim));
  Var j("j");
  Func angle("angle");
  RDom r(1, std::max(half - 1, 1), "pair");
  angle(j, t) = cast<float>(pos + t);
  if (half > 1) {
    angle(r, t) = angle(r - 1, t) * thetaScale;
  }
  Func cosA("cos_angle"), sinA("sin_angle");
  cosA(j, t) = cos(angle(j, t));
  sinA(j, t) = sin(angle(j, t));

  // NEOX (rotate-half) pairs (j, j + d/2).
  Expr jj = i % half;
  Expr x0 = nx(jj, hd, t), x1 = nx(jj + half, hd, t);
  Func y("qk_norm_rope");
  y(i, hd, t) = select(i < half, x0 * cosA(jj, t) - x1 * sinA(jj, t),
                       x0 * sinA(jj, t) + x1 * cosA(jj, t));
  constrainDim(x, 0, headDim);
  constrainDim(x, 1, heads);
  constrainDim(w, 0, headDim);
  y.output_buffer().dim(0).set_bounds(0, static_cast<int>(headDim));
  y.output_buffer().dim(1).set_bounds(0, static_cast<int>(heads));

  //--- Schedule -------------------------------------------------------------
  angle.compute_at(y, t);
  cosA.compute_at(y, t);
  sinA.compute_at(y, t);
  nx.compute_at(y, hd);
  scale.compute_at(y, hd);
  ss.result.compute_at(y, hd);
  ss.computeAt(ss.result, hd);

  return {"qk_norm_rope_f32_h" + std::to_string(heads) + "_d" +
              std::to_string(headDim),
          Pipeline(y),
          {x, w, pos}};
}

} // namespace lfm2c
