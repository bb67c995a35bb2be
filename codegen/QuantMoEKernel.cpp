//===- QuantMoEKernel.cpp - MoE expert FFN with quantized experts --------===//
//
// The dispatch of buildMoEFFN with Q8_0 / Q4_0 experts, numerically as
// llama.cpp's mul_mat_id: the input is quantized once (xq, xd given); per
// chosen expert the gate and up rows are dotted with it, the SwiGLU
// activation silu(g) * u is quantized to Q8_0, and the down rows are dotted
// with that. The slots' outputs are weighted and summed in slot order.
//
// Two forms: buildMoEFFNQuant routes inside the kernel, one GEMV per
// (token, slot) (decode: one token reads each chosen expert once anyway);
// buildMoEExpertQuant is one expert over a batch of tokens, a GEMM that
// reads the expert's weights once for all of them (prefill, with the
// tokens grouped by expert by the program), and buildMoECombine weights and
// sums its outputs per token. Both forms compute the same dots.
//
//===----------------------------------------------------------------------===//
#include "codegen/HalideHelpers.h"
#include "codegen/QuantMath.h"

#include <algorithm>

using namespace Halide;

namespace lfm2c {

namespace {

// buildMoEFFNQuant with Q4_0 / Q8_0 stacks row-interleaved (QuantLayout.h):
// the vector lanes of every dot are rows. With AVX2's pair sums a block of 8
// rows costs ~34 ops (4 loads, 12 unpacking, 8 pmaddubsw, 7 paddw, the i32
// sum, offset, conversion and scaling) against ~66 for 8 rows of lane
// partial sums; with AVX-512 VNNI, 8 vpdpbusd per block of 16 rows. No row
// needs a horizontal sum.
Kernel buildMoEFFNRows(QuantFormat format, int64_t hidden, int64_t expertFFN,
                       int64_t experts, int64_t topK,
                       const QuantSchedule &sched) {
  const int E = static_cast<int>(experts);
  const bool q4 = format == QuantFormat::Q4_0;
  const int R = rowInterleave(sched, format);
  const std::string layout = quantFormatName(format) + "x" + std::to_string(R);
  const Type quants = q4 ? UInt(8) : Int(8);
  const int64_t hBytes = q4 ? hidden / 2 : hidden;
  const int64_t fBytes = q4 ? expertFFN / 2 : expertFFN;
  const int hb = static_cast<int>(hidden / kQuantBlock);
  const int fb = static_cast<int>(expertFFN / kQuantBlock);

  //--- Algorithm ------------------------------------------------------------
  ImageParam xq(Int(8), 2, "xq");           // (H, T)
  ImageParam xd(Float(32), 2, "xd");        // (H/32, T)
  ImageParam wts(Float(32), 2, "weights");  // (K, T)
  ImageParam idx(Int(32), 2, "indices");    // (K, T)
  // Quants (R * H/2 or R * H, F/R, E), scales (H/32 * R, F/R, E); down's
  // with H and F swapped.
  ImageParam gateQ(quants, 3, "gate_q");
  ImageParam gateD(Float(16), 3, "gate_d");
  ImageParam upQ(quants, 3, "up_q");
  ImageParam upD(Float(16), 3, "up_d");
  ImageParam downQ(quants, 3, "down_q");
  ImageParam downD(Float(16), 3, "down_d");
  Var f("f"), h("h"), s("s"), t("t");
  Expr ex = clamp(idx(s, t), 0, E - 1);

  // The u8 weights' offset times each block's activation sum.
  Func xOffset = rowLaneOffset("expert_x_offset", format,
                               [&](Expr i) { return xq(i, t); }, {t});
  // The chosen expert's stack (q, d) dotted with an activation row.
  auto rowDot = [&](const std::string &name, ImageParam q, ImageParam d,
                    int64_t k, const ExprFn &act, const ExprFn &actScale,
                    const ExprFn &offset) {
    return rowLaneDot(
        name, format, k, sched,
        [=](Expr at, Expr grp) { return q(at, grp, ex); },
        [=](Expr j, Expr grp) { return d(j, grp, ex); }, act, actScale, offset,
        {s, t});
  };
  RowLaneDot g = rowDot(
      "expert_gate_" + layout, gateQ, gateD, hidden,
      [&](Expr i) { return xq(i, t); }, [&](Expr bb) { return xd(bb, t); },
      [&](Expr bb) { return xOffset(bb, t); });
  RowLaneDot u = rowDot(
      "expert_up_" + layout, upQ, upD, hidden, [&](Expr i) { return xq(i, t); },
      [&](Expr bb) { return xd(bb, t); },
      [&](Expr bb) { return xOffset(bb, t); });
  Func act("expert_act");
  act(f, s, t) = silu(g.acc(f % R, f / R, s, t)) * u.acc(f % R, f / R, s, t);

  // The activation quantized as the input of the down projection.
  Q8Quantizer aq = quantizeQ8_0("expert_act_q8_0", expertFFN, {s, t},
                                [&](Expr i) { return act(i, s, t); });
  Func aOffset =
      rowLaneOffset("expert_act_offset", format,
                    [&](Expr i) { return aq.quant(i, s, t); }, {s, t});
  RowLaneDot d = rowDot(
      "expert_down_" + layout, downQ, downD, expertFFN,
      [&](Expr i) { return aq.quant(i, s, t); },
      [&](Expr bb) { return aq.scale(bb, s, t); },
      [&](Expr bb) { return aOffset(bb, s, t); });
  Func down("expert_down");
  down(h, s, t) = d.acc(h % R, h / R, s, t);

  // Weighted outputs summed in slot order, as llama.cpp adds its views.
  Expr y = down(h, 0, t) * wts(0, t);
  for (int slot = 1; slot < topK; ++slot) {
    y = y + down(h, slot, t) * wts(slot, t);
  }
  Func out("moe_ffn_" + layout);
  out(h, t) = y;

  constrainDim(xq, 0, hidden);
  constrainDim(xd, 0, hb);
  constrainDim(wts, 0, topK);
  constrainDim(idx, 0, topK);
  for (ImageParam p : {gateQ, upQ}) {
    constrainDim(p, 0, R * hBytes);
    constrainDim(p, 1, expertFFN / R);
    constrainDim(p, 2, experts);
  }
  for (ImageParam p : {gateD, upD}) {
    constrainDim(p, 0, hb * R);
    constrainDim(p, 1, expertFFN / R);
    constrainDim(p, 2, experts);
  }
  constrainDim(downQ, 0, R * fBytes);
  constrainDim(downQ, 1, hidden / R);
  constrainDim(downQ, 2, experts);
  constrainDim(downD, 0, fb * R);
  constrainDim(downD, 1, hidden / R);
  constrainDim(downD, 2, experts);
  out.output_buffer().dim(0).set_bounds(0, static_cast<int>(hidden));

  //--- Schedule -------------------------------------------------------------
  // Gate/up, then down: a parallel task per register tile of rowTileGroups
  // row vectors of one (slot, token), one integer (i16 pair sums or i32
  // dots) and one f32 accumulator each,
  // over all blocks (the gate's, then the up's). The last tile shifts
  // inwards (rows are a multiple of R). (Several tiles per task computed
  // wrong rows when the task shifted: tasks are tiles.)
  Var fo("fo"), f2("f2"), rgt("rgt"), fi("fi");
  Var st("st"), task("task");
  auto rows = [&](Func fn, Var v, int64_t n) {
    const int tile =
        static_cast<int>(std::clamp<int64_t>(sched.rowTileGroups, 1, n / R));
    fn.compute_root()
        .split(v, fo, f2, tile * R, TailStrategy::ShiftInwards)
        .split(f2, rgt, fi, R, TailStrategy::ShiftInwards)
        .reorder(fi, rgt, fo, s, t)
        .vectorize(fi)
        .unroll(rgt)
        .fuse(s, t, st)
        .fuse(fo, st, task)
        .parallel(task);
    return tile;
  };
  const int actTile = rows(act, f, expertFFN);
  g.weights = {gateQ.parameter(), gateD.parameter()};
  u.weights = {upQ.parameter(), upD.parameter()};
  d.weights = {downQ.parameter(), downD.parameter()};
  g.schedule(LoopLevel(act, task), actTile);
  u.schedule(LoopLevel(act, task), actTile);
  vectorizeOffset(xOffset);

  aq.computeRoot(sched.quantLanes);
  vectorizeOffset(aOffset);

  const int downTile = rows(down, h, hidden);
  d.schedule(LoopLevel(down, task), downTile);
  out.vectorize(h, sched.quantLanes, TailStrategy::GuardWithIf);

  return {"moe_ffn_" + layout + "_h" + std::to_string(hidden) + "_f" +
              std::to_string(expertFFN) + "_e" + std::to_string(experts) +
              "_k" + std::to_string(topK),
          Pipeline(out),
          {xq, xd, wts, idx, gateQ, gateD, upQ, upD, downQ, downD},
          d.prefetches()};
}

} // namespace

Kernel buildMoEFFNQuant(QuantFormat format, int64_t hidden, int64_t expertFFN,
                        int64_t experts, int64_t topK, const TargetInfo &target,
                        const QuantSchedule &sched, int interleave) {
  (void)target;
  if (format == QuantFormat::Q6_K) {
    throw CompileError("the quantized MoE kernel takes Q8_0 or Q4_0 experts");
  }
  if (interleave != 0) {
    requireRowInterleave("experts", format, sched, interleave,
                         {hidden, expertFFN});
    return buildMoEFFNRows(format, hidden, expertFFN, experts, topK, sched);
  }
  const bool q4 = format == QuantFormat::Q4_0;
  const int E = static_cast<int>(experts);
  const Type wt = q4 ? UInt(8) : Int(8);

  //--- Algorithm ------------------------------------------------------------
  ImageParam xq(Int(8), 2, "xq");           // (H, T)
  ImageParam xd(Float(32), 2, "xd");        // (H/32, T)
  ImageParam wts(Float(32), 2, "weights");  // (K, T)
  ImageParam idx(Int(32), 2, "indices");    // (K, T)
  ImageParam gateQ(wt, 3, "gate_q");        // (H or H/2, F, E)
  ImageParam gateD(Float(16), 3, "gate_d"); // (H/32, F, E)
  ImageParam upQ(wt, 3, "up_q");            // (H or H/2, F, E)
  ImageParam upD(Float(16), 3, "up_d");     // (H/32, F, E)
  ImageParam downQ(wt, 3, "down_q");        // (F or F/2, H, E)
  ImageParam downD(Float(16), 3, "down_d"); // (F/32, H, E)
  Var f("f"), h("h"), s("s"), t("t");
  Expr ex = clamp(idx(s, t), 0, E - 1);

  auto inputRow = [&](ImageParam q, ImageParam d) {
    QuantDotInputs in;
    in.format = format;
    in.length = hidden;
    in.weight = [=](Expr i) { return q(i, f, ex); };
    in.weightScale = [=](Expr b) { return cast<float>(d(b, f, ex)); };
    in.act = [=](Expr i) { return xq(i, t); };
    in.actScale = [=](Expr b) { return xd(b, t); };
    return in;
  };
  const std::string fmt = quantFormatName(format);
  QuantDot g = quantDot("expert_gate_" + fmt, inputRow(gateQ, gateD), sched,
                        {f, s, t}, {f, s, t}, {t});
  QuantDot u = quantDot("expert_up_" + fmt, inputRow(upQ, upD), sched,
                        {f, s, t}, {f, s, t}, {t});
  Func act("expert_act");
  act(f, s, t) = silu(g.result(f, s, t)) * u.result(f, s, t);

  // The activation quantized as the input of the down projection.
  Q8Quantizer aq = quantizeQ8_0("expert_act_q8_0", expertFFN, {s, t},
                                [&](Expr i) { return act(i, s, t); });
  QuantDotInputs downIn;
  downIn.format = format;
  downIn.length = expertFFN;
  downIn.weight = [&](Expr i) { return downQ(i, h, ex); };
  downIn.weightScale = [&](Expr b) { return cast<float>(downD(b, h, ex)); };
  downIn.act = [&](Expr i) { return aq.quant(i, s, t); };
  downIn.actScale = [&](Expr b) { return aq.scale(b, s, t); };
  QuantDot d = quantDot("expert_down_" + fmt, downIn, sched, {h, s, t},
                        {h, s, t}, {s, t});

  // Weighted outputs summed in slot order, as llama.cpp adds its views.
  Expr y = d.result(h, 0, t) * wts(0, t);
  for (int slot = 1; slot < topK; ++slot) {
    y = y + d.result(h, slot, t) * wts(slot, t);
  }
  Func out("moe_ffn_" + fmt);
  out(h, t) = y;

  const int64_t hq = q4 ? hidden / 2 : hidden;
  const int64_t fq = q4 ? expertFFN / 2 : expertFFN;
  constrainDim(xq, 0, hidden);
  constrainDim(xd, 0, hidden / kQuantBlock);
  constrainDim(wts, 0, topK);
  constrainDim(idx, 0, topK);
  for (ImageParam p : {gateQ, upQ}) {
    constrainDim(p, 0, hq);
    constrainDim(p, 1, expertFFN);
    constrainDim(p, 2, experts);
  }
  for (ImageParam p : {gateD, upD}) {
    constrainDim(p, 0, hidden / kQuantBlock);
    constrainDim(p, 1, expertFFN);
    constrainDim(p, 2, experts);
  }
  constrainDim(downQ, 0, fq);
  constrainDim(downQ, 1, hidden);
  constrainDim(downQ, 2, experts);
  constrainDim(downD, 0, expertFFN / kQuantBlock);
  constrainDim(downD, 1, hidden);
  constrainDim(downD, 2, experts);
  out.output_buffer().dim(0).set_bounds(0, static_cast<int>(hidden));

  //--- Schedule -------------------------------------------------------------
  // Gate/up: one parallel task per chunk of rows of one (slot, token); each
  // row's Q4_0 unpacking and dot computed where the activation is. Then the
  // activation quantized per (slot, token), and the down rows in parallel
  // chunks the same way.
  Var fo("fo"), fi("fi"), ho("ho"), hi("hi"), st("st"), task("task");
  act.compute_root()
      .split(f, fo, fi, sched.rowsPerTask, TailStrategy::GuardWithIf)
      .fuse(s, t, st)
      .fuse(fo, st, task)
      .parallel(task);
  g.schedule(LoopLevel(act, fi), LoopLevel(act, fi));
  u.schedule(LoopLevel(act, fi), LoopLevel(act, fi));
  for (QuantDot *q : {&g, &u, &d}) {
    if (q->actOffset.defined()) {
      q->actOffset.compute_root();
    }
  }

  aq.computeRoot(sched.quantLanes);

  d.result.compute_root()
      .split(h, ho, hi, sched.rowsPerTask, TailStrategy::GuardWithIf)
      .fuse(s, t, st)
      .fuse(ho, st, task)
      .parallel(task);
  d.schedule(LoopLevel(d.result, hi), LoopLevel(d.result, hi));
  out.vectorize(h, sched.quantLanes, TailStrategy::GuardWithIf);

  return {"moe_ffn_" + fmt + "_h" + std::to_string(hidden) + "_f" +
              std::to_string(expertFFN) + "_e" + std::to_string(experts) +
              "_k" + std::to_string(topK),
          Pipeline(out),
          {xq, xd, wts, idx, gateQ, gateD, upQ, upD, downQ, downD}};
}

Kernel buildMoEFFNQuant(QuantFormat format, int64_t hidden, int64_t expertFFN,
                        int64_t experts, int64_t topK, const TargetInfo &target,
                        int interleave) {
  return buildMoEFFNQuant(format, hidden, expertFFN, experts, topK, target,
                          QuantSchedule::forTarget(target), interleave);
}

Kernel buildMoEExpertQuant(QuantFormat format, int64_t hidden,
                           int64_t expertFFN, const TargetInfo &target,
                           const QuantSchedule &sched) {
  (void)target;
  const bool q4 = format == QuantFormat::Q4_0;
  const Type wt = q4 ? UInt(8) : Int(8);
  const std::string fmt = quantFormatName(format);

  //--- Algorithm ------------------------------------------------------------
  // buildMoEFFNQuant's per-expert computation with the expert fixed and the
  // (slot, token) pairs replaced by the batch's rows.
  ImageParam xq(Int(8), 2, "xq");           // (H, n)
  ImageParam xd(Float(32), 2, "xd");        // (H/32, n)
  ImageParam gateQ(wt, 2, "gate_q");        // (H or H/2, F)
  ImageParam gateD(Float(16), 2, "gate_d"); // (H/32, F)
  ImageParam upQ(wt, 2, "up_q");            // (H or H/2, F)
  ImageParam upD(Float(16), 2, "up_d");     // (H/32, F)
  ImageParam downQ(wt, 2, "down_q");        // (F or F/2, H)
  ImageParam downD(Float(16), 2, "down_d"); // (F/32, H)
  Var f("f"), h("h"), t("t");

  auto inputRow = [&](ImageParam q, ImageParam d) {
    QuantDotInputs in;
    in.format = format;
    in.length = hidden;
    in.weight = [=](Expr i) { return q(i, f); };
    in.weightScale = [=](Expr b) { return cast<float>(d(b, f)); };
    in.act = [=](Expr i) { return xq(i, t); };
    in.actScale = [=](Expr b) { return xd(b, t); };
    return in;
  };
  QuantDot g = quantDot("expert_gate_" + fmt, inputRow(gateQ, gateD), sched,
                        {f, t}, {f}, {t});
  QuantDot u =
      quantDot("expert_up_" + fmt, inputRow(upQ, upD), sched, {f, t}, {f}, {t});
  Func act("expert_act");
  act(f, t) = silu(g.result(f, t)) * u.result(f, t);

  Q8Quantizer aq = quantizeQ8_0("expert_act_q8_0", expertFFN, {t},
                                [&](Expr i) { return act(i, t); });
  QuantDotInputs downIn;
  downIn.format = format;
  downIn.length = expertFFN;
  downIn.weight = [&](Expr i) { return downQ(i, h); };
  downIn.weightScale = [&](Expr b) { return cast<float>(downD(b, h)); };
  downIn.act = [&](Expr i) { return aq.quant(i, t); };
  downIn.actScale = [&](Expr b) { return aq.scale(b, t); };
  QuantDot d = quantDot("expert_down_" + fmt, downIn, sched, {h, t}, {h}, {t});
  Func out("moe_expert_" + fmt);
  out(h, t) = d.result(h, t);

  const int64_t hq = q4 ? hidden / 2 : hidden;
  const int64_t fq = q4 ? expertFFN / 2 : expertFFN;
  constrainDim(xq, 0, hidden);
  constrainDim(xd, 0, hidden / kQuantBlock);
  for (ImageParam p : {gateQ, upQ}) {
    constrainDim(p, 0, hq);
    constrainDim(p, 1, expertFFN);
  }
  for (ImageParam p : {gateD, upD}) {
    constrainDim(p, 0, hidden / kQuantBlock);
    constrainDim(p, 1, expertFFN);
  }
  constrainDim(downQ, 0, fq);
  constrainDim(downQ, 1, hidden);
  constrainDim(downD, 0, expertFFN / kQuantBlock);
  constrainDim(downD, 1, hidden);
  out.output_buffer().dim(0).set_bounds(0, static_cast<int>(hidden));
  // One row of the batch per input row.
  Expr n = xq.dim(1).extent();
  xd.dim(1).set_bounds(0, n);
  out.output_buffer().dim(1).set_bounds(0, n);

  //--- Schedule -------------------------------------------------------------
  // Both projections are GEMMs (weight rows x batch tokens). Rows go in
  // parallel tasks of whole register tiles; inside a task, each tile of
  // expertTileRows rows is unpacked once and then meets every token,
  // expertTileTokens at a time, so a weight row is read from memory once per
  // call and its blocks once per register tile of tokens. The batch's
  // activations (n x H bytes) are re-read per row tile from L2. Batches smaller
  // than a token tile (an expert few tokens chose) run token by token; the
  // others shift the last token tile inwards, recomputing a few outputs rather
  // than running a partial tile.
  const int rowsTile = sched.expertTileRows;
  const int tokensTile = sched.expertTileTokens;
  const int tilesPerTask = std::max(1, sched.rowsPerTask / rowsTile);
  auto tileGemm = [&](Func stage, Var row,
                      const std::vector<QuantDot *> &dots) {
    Var ro("ro"), ri("ri"), task("task"), rt("rt"), to("to"), ti("ti");
    stage.split(row, ro, ri, rowsTile, TailStrategy::ShiftInwards)
        .split(ro, task, rt, tilesPerTask, TailStrategy::GuardWithIf);
    auto tokens = [&](Stage s, int tile, TailStrategy tail) {
      s.split(t, to, ti, tile, tail)
          .reorder(ti, ri, to, rt, task)
          .unroll(ti)
          .unroll(ri)
          .parallel(task);
    };
    tokens(stage.specialize(n >= tokensTile), tokensTile,
           TailStrategy::ShiftInwards);
    tokens(stage, 1, TailStrategy::RoundUp);
    for (QuantDot *q : dots) {
      q->scheduleTile(LoopLevel(stage, to), LoopLevel(stage, rt), row, t);
      if (q->actOffset.defined()) {
        q->actOffset.compute_root();
      }
    }
  };
  act.compute_root();
  tileGemm(act, f, {&g, &u});

  // The activation quantized per token, between the two GEMMs.
  aq.amax.compute_root().parallel(t);
  aq.amax.update().atomic().vectorize(aq.amax.rvars()[0]).parallel(t);
  aq.scale.compute_root().parallel(t);
  Var ib("ib"), ii("ii");
  aq.quant.compute_root()
      .split(aq.i, ib, ii, kQuantBlock)
      .vectorize(ii, sched.quantLanes)
      .parallel(t);

  tileGemm(out, h, {&d});

  return {"moe_expert_" + fmt + "_h" + std::to_string(hidden) + "_f" +
              std::to_string(expertFFN),
          Pipeline(out),
          {xq, xd, gateQ, gateD, upQ, upD, downQ, downD}};
}

Kernel buildMoEExpertQuant(QuantFormat format, int64_t hidden,
                           int64_t expertFFN, const TargetInfo &target) {
  return buildMoEExpertQuant(format, hidden, expertFFN, target,
                             QuantSchedule::forTarget(target));
}

} // namespace lfm2c
