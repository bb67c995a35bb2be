//===- ProjectionKernels.cpp - Fused projections ------------------------===//
//
// The kernels the fusion passes lower to: several projections of one input
// in one call (q/k/v), gate and up with SwiGLU in one pass over the input,
// a projection that adds the residual as it writes, and RMSNorm fused into
// the Q8_0 quantization of the activations. Each dot is the same dot as in
// the unfused kernels (LaneDot for f32 weights, QuantDot for block formats);
// only the epilogue may round differently (the residual add or the SwiGLU
// product can be contracted with the dot's last multiply-add), and the
// normalised activations are quantized exactly as the unfused pair does.
//
//===----------------------------------------------------------------------===//
#include "codegen/HalideHelpers.h"
#include "codegen/QuantMath.h"

using namespace Halide;

namespace lfm2c {

namespace {

// One projection's dot against weight input number `index`, in the
// format of the spec.
struct ProjectionDot {
  Func result;
  // (consumer, oi, ti, row tile): row-interleaved dots at (consumer, ti)
  // with the tile scheduleRowTiles gave.
  std::function<void(Func, Var, Var, int)> schedule;
};

} // namespace

std::string ProjectionSpec::name() const {
  // Distinct from the unfused linear kernels' names: a plain projection
  // here always has several outputs.
  std::string s = swiglu     ? "linear_swiglu"
                  : residual ? "linear_residual"
                             : "linear_multi";
  s += format
           ? "_" + quantFormatName(*format) +
                 (interleave ? "x" + std::to_string(interleave) : "") + "_f32"
       : f16Weights ? "_f16_f32"
                    : "_f32";
  s += "_k" + std::to_string(k);
  for (int64_t n : rows) {
    s += "_n" + std::to_string(n);
  }
  return s;
}

Kernel buildProjection(const ProjectionSpec &spec, const TargetInfo &target) {
  const int64_t k = spec.k;
  const bool quant = spec.format.has_value();
  const bool q4 = quant && *spec.format == QuantFormat::Q4_0;
  const int64_t blocks = k / kQuantBlock;
  QuantSchedule qs = QuantSchedule::forTarget(target);
  ReductionSchedule rs = ReductionSchedule::forTarget(target);

  //--- Algorithm ------------------------------------------------------------
  std::vector<Argument> args;
  ImageParam x, xq, xd;
  if (quant) {
    xq = ImageParam(Int(8), 2, "xq");    // (K, T)
    xd = ImageParam(Float(32), 2, "xd"); // (K/32, T)
    constrainDim(xq, 0, k);
    constrainDim(xd, 0, blocks);
    args = {xq, xd};
  } else {
    x = ImageParam(Float(32), 2, "x"); // (K, T)
    constrainDim(x, 0, k);
    args = {x};
  }
  Var o("o"), t("t");
  const int R = spec.interleave;
  if (spec.format == QuantFormat::Q6_K) {
    throw CompileError("fused projections take Q8_0, Q4_0 or float weights");
  }
  if (R != 0) {
    requireRowInterleave("projections", spec.format, qs, R, spec.rows);
  }
  Func xOffset; // row-interleaved: the input's block sums' offset, once
  bool prefetches = false;
  if (R != 0) {
    xOffset = rowLaneOffset("x_offset", *spec.format,
                            [&](Expr i) { return xq(i, t); }, {t});
  }
  // Weight inputs: one per output, or gate and up for SwiGLU.
  auto dotWith = [&](const std::string &tag, int64_t n) -> ProjectionDot {
    if (!quant) {
      ImageParam w(weightType(spec.f16Weights), 2, "w_" + tag); // (K, N)
      constrainDim(w, 0, k);
      constrainDim(w, 1, n);
      args.push_back(w);
      LaneDot dot = laneDot("dot_" + tag, k, rs.lanes, {o, t}, [&, w](Expr i) {
        return weightTimesAct(w(i, o), x(i, t));
      });
      return {dot.result, [dot](Func y, Var, Var ti, int) mutable {
                dot.computeAt(y, ti);
              }};
    }
    if (R != 0) {
      // (R * K/2 or R * K, N/R), (K/32 * R, N/R)
      ImageParam wq(q4 ? UInt(8) : Int(8), 2, "wq_" + tag);
      ImageParam wd(Float(16), 2, "wd_" + tag);
      constrainDim(wq, 0, (q4 ? k / 2 : k) * R);
      constrainDim(wq, 1, n / R);
      constrainDim(wd, 0, blocks * R);
      constrainDim(wd, 1, n / R);
      args.push_back(wq);
      args.push_back(wd);
      RowLaneDot dot = rowLaneDot(
          "dot_" + tag, *spec.format, k, qs,
          [=](Expr at, Expr g) { return wq(at, g); },
          [=](Expr j, Expr g) { return wd(j, g); },
          [=](Expr i) { return xq(i, t); }, [=](Expr b) { return xd(b, t); },
          [=](Expr b) { return xOffset(b, t); }, {t});
      Func result("dot_" + tag);
      result(o, t) = dot.acc(o % R, o / R, t);
      dot.weights = {wq.parameter(), wd.parameter()};
      prefetches = prefetches || dot.prefetches();
      return {result, [dot](Func y, Var, Var ti, int tile) mutable {
                dot.schedule(LoopLevel(y, ti), tile);
              }};
    }
    ImageParam wq(q4 ? UInt(8) : Int(8), 2, "wq_" + tag); // (K or K/2, N)
    ImageParam wd(Float(16), 2, "wd_" + tag);             // (K/32, N)
    constrainDim(wq, 0, q4 ? k / 2 : k);
    constrainDim(wq, 1, n);
    constrainDim(wd, 0, blocks);
    constrainDim(wd, 1, n);
    args.push_back(wq);
    args.push_back(wd);
    QuantDotInputs in;
    in.format = *spec.format;
    in.length = k;
    in.weight = [wq, o](Expr i) { return wq(i, o); };
    in.weightScale = [wd, o](Expr b) { return cast<float>(wd(b, o)); };
    in.act = [xq, t](Expr i) { return xq(i, t); };
    in.actScale = [xd, t](Expr b) { return xd(b, t); };
    QuantDot dot = quantDot("dot_" + tag, in, qs, {o, t}, {o}, {t});
    return {dot.result, [dot](Func y, Var oi, Var ti, int) mutable {
              dot.schedule(LoopLevel(y, ti), LoopLevel(y, oi));
              if (dot.actOffset.defined()) {
                dot.actOffset.compute_root();
              }
            }};
  };

  std::vector<Func> outputs;
  std::vector<std::vector<ProjectionDot>> dots; // per output
  if (spec.swiglu) {
    const int64_t n = spec.rows.front();
    ProjectionDot gate = dotWith("gate", n), up = dotWith("up", n);
    Func y("linear_swiglu");
    y(o, t) = silu(gate.result(o, t)) * up.result(o, t);
    outputs.push_back(y);
    dots.push_back({gate, up});
  } else {
    for (size_t i = 0; i < spec.rows.size(); ++i) {
      ProjectionDot dot = dotWith(std::to_string(i), spec.rows[i]);
      Func y("linear_" + std::to_string(i));
      y(o, t) = dot.result(o, t);
      outputs.push_back(y);
      dots.push_back({dot});
    }
  }
  if (spec.residual) {
    // Added after the dot, as the unfused add kernel would.
    ImageParam r(Float(32), 2, "residual"); // (N, T)
    constrainDim(r, 0, spec.rows.front());
    args.push_back(r);
    Func y = outputs.front();
    Func withResidual("linear_residual");
    withResidual(o, t) = y(o, t) + r(o, t);
    outputs.front() = withResidual;
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    outputs[i].output_buffer().dim(0).set_bounds(
        0, static_cast<int>(spec.rows[i]));
  }

  //--- Schedule -------------------------------------------------------------
  // As the unfused projections: rows in parallel tasks, tokens in tiles
  // innermost so each weight row is read once per tile; every dot of an
  // output is computed inside its loops (gate and up share the input
  // reads). Outputs run one after the other, each over all threads.
  const int rowsPerTask = quant ? qs.rowsPerTask : rs.rowsPerTask;
  const int tokensPerTile = quant ? qs.tokensPerTile : 1;
  // Row-interleaved weights: a task per register tile of row vectors
  // (scheduleRowTiles), each token's dots inside.
  for (size_t i = 0; i < outputs.size(); ++i) {
    Func y = outputs[i];
    if (R != 0) {
      const int tile =
          scheduleRowTiles(y, o, t, spec.rows[i], R, qs.rowTileGroups);
      for (ProjectionDot &d : dots[i]) {
        d.schedule(y, o, t, tile);
      }
      continue;
    }
    Var oo("oo"), oi("oi"), tt("tt"), ti("ti");
    y.split(o, oo, oi, rowsPerTask, TailStrategy::GuardWithIf)
        .split(t, tt, ti, tokensPerTile, TailStrategy::GuardWithIf)
        .reorder(ti, oi, tt, oo)
        .parallel(oo);
    for (ProjectionDot &d : dots[i]) {
      d.schedule(y, oi, ti, 0);
    }
  }
  if (R != 0) {
    vectorizeOffset(xOffset);
  }

  return {spec.name(), Pipeline(outputs), args, prefetches};
}

Kernel buildRmsNormQuantizeQ8_0(int64_t k, float eps,
                                const TargetInfo &target) {
  ReductionSchedule rs = ReductionSchedule::forTarget(target);
  QuantSchedule qs = QuantSchedule::forTarget(target);
  const int blocks = static_cast<int>(k / kQuantBlock);

  //--- Algorithm ------------------------------------------------------------
  ImageParam x(Float(32), 2, "x"); // (K, T)
  ImageParam w(Float(32), 1, "w"); // (K)
  Var t("t");
  LaneDot ss = laneDot("sumsq", k, rs.lanes, {t},
                       [&](Expr i) { return x(i, t) * x(i, t); });
  // The float operations of the rms_norm kernel, in its order.
  Func scale("scale");
  scale(t) = 1.0f / sqrt(ss.result(t) / static_cast<float>(k) + eps);
  Func normed("normed");
  Var i("i");
  normed(i, t) = (x(i, t) * scale(t)) * w(i);
  Q8Quantizer qz = quantizeQ8_0("rms_norm_quantize_q8_0", k, {t},
                                [&](Expr j) { return normed(j, t); });
  Func q = qz.quant, d = qz.scale;
  constrainDim(x, 0, k);
  constrainDim(w, 0, k);
  q.output_buffer().dim(0).set_bounds(0, static_cast<int>(k));
  d.output_buffer().dim(0).set_bounds(0, blocks);

  //--- Schedule -------------------------------------------------------------
  // Per token: the sum of squares, the normalised row (kept in a K-float
  // buffer the quantizer reads twice, for the block maxima and the
  // quants), then the quantizer as in quantize_q8_0.
  scale.compute_root().parallel(t);
  ss.result.compute_at(scale, t);
  ss.computeAt(ss.result, t);
  normed.compute_root().parallel(t).vectorize(i, rs.lanes,
                                              TailStrategy::GuardWithIf);
  qz.amax.compute_root().parallel(t);
  qz.amax.update().atomic().vectorize(qz.amax.rvars()[0]).parallel(t);
  Var ib("ib"), ii("ii");
  q.split(qz.i, ib, ii, kQuantBlock).vectorize(ii, qs.quantLanes).parallel(t);
  d.vectorize(qz.b, qs.quantLanes, TailStrategy::GuardWithIf).parallel(t);

  return {
      "rms_norm_quantize_q8_0_k" + std::to_string(k), Pipeline({q, d}), {x, w}};
}

} // namespace lfm2c
