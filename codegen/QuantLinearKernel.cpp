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
  Q8Quantizer qz =
      quantizeQ8_0("quantize_q8_0", k, {t}, [&](Expr i) { return x(i, t); });
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

namespace {

// buildLinearQuant on Q4_0 / Q8_0 rows interleaved by R: rows as vector
// lanes (rowLaneDot), a task per register tile, its tokens inside.
Kernel buildLinearRows(QuantFormat format, int64_t k, int64_t n,
                       const QuantSchedule &sched) {
  const bool q4 = format == QuantFormat::Q4_0;
  const int R = rowInterleave(sched, format);
  const std::string name =
      "linear_" + quantFormatName(format) + "x" + std::to_string(R);
  const int blocks = static_cast<int>(k / kQuantBlock);

  //--- Algorithm ------------------------------------------------------------
  ImageParam xq(Int(8), 2, "xq");    // (K, T)
  ImageParam xd(Float(32), 2, "xd"); // (K/32, T)
  ImageParam wq(q4 ? UInt(8) : Int(8), 2, "wq"); // (R * K/2 or R * K, N/R)
  ImageParam wd(Float(16), 2, "wd");             // (K/32 * R, N/R)
  Var o("o"), t("t");
  Func offset = rowLaneOffset(name + "_x_offset", format,
                              [&](Expr i) { return xq(i, t); }, {t});
  RowLaneDot dot = rowLaneDot(
      name, format, k, sched, [&](Expr at, Expr g) { return wq(at, g); },
      [&](Expr j, Expr g) { return wd(j, g); },
      [&](Expr i) { return xq(i, t); }, [&](Expr b) { return xd(b, t); },
      [&](Expr b) { return offset(b, t); }, {t});
  Func y(name);
  y(o, t) = dot.acc(o % R, o / R, t);

  constrainDim(xq, 0, k);
  constrainDim(xd, 0, blocks);
  constrainDim(wq, 0, (q4 ? k / 2 : k) * R);
  constrainDim(wq, 1, n / R);
  constrainDim(wd, 0, blocks * R);
  constrainDim(wd, 1, n / R);
  y.output_buffer().dim(0).set_bounds(0, static_cast<int>(n));

  //--- Schedule -------------------------------------------------------------
  const int tile = scheduleRowTiles(y, o, t, n, R, sched.rowTileGroups);
  dot.weights = {wq.parameter(), wd.parameter()};
  dot.schedule(LoopLevel(y, t), tile);
  vectorizeOffset(offset);

  return {name + "_k" + std::to_string(k) + "_n" + std::to_string(n),
          Pipeline(y),
          {xq, xd, wq, wd},
          dot.prefetches()};
}

} // namespace

Kernel buildLinearQuant(QuantFormat format, int64_t k, int64_t n,
                        const TargetInfo &target, const QuantSchedule &sched,
                        int interleave) {
  if (interleave != 0) {
    requireRowInterleave("weights", format, sched, interleave, {n});
    return format == QuantFormat::Q6_K ? buildLinearQ6_KRows(k, n, sched)
                                       : buildLinearRows(format, k, n, sched);
  }
  if (format == QuantFormat::Q6_K) {
    return buildLinearQ6_K(k, n, target, sched);
  }
  const bool q4 = format == QuantFormat::Q4_0;
  const int64_t blocks = k / kQuantBlock;

  //--- Algorithm ------------------------------------------------------------
  ImageParam xq(Int(8), 2, "xq");                // (K, T)
  ImageParam xd(Float(32), 2, "xd");             // (K/32, T)
  ImageParam wq(q4 ? UInt(8) : Int(8), 2, "wq"); // (K or K/2, N)
  ImageParam wd(Float(16), 2, "wd");             // (K/32, N)
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
    const int task = static_cast<int>(
        std::min<int64_t>(std::max(R, sched.rowsPerTask / R * R), n));
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
                        const TargetInfo &target, int interleave) {
  return buildLinearQuant(format, k, n, target,
                          QuantSchedule::forTarget(target), interleave);
}

// The prefill GEMM (regroupPrefill). The decode kernel spends five or more
// vector ops per block of each (row, token) -- the multiplies, an offset or
// an add, the f32 conversion and the multiply-add -- because a vector's
// lanes are partial sums of one row. Here a vector's i32 lanes are rows: a
// task's weights are regrouped once (amortised over the batch) so that a
// vector holds a few consecutive values of a block for each of kRows rows,
// multiplied by as many activations broadcast to every row. Three forms of
// the block dot, by target:
// - 4-way dot products (prefillDot4: vpdpbusd on AVX-512 VNNI, 16 rows a
//   zmm): 4 values per row per instruction accumulate in i32 directly; u8
//   weights (Q4_0 nibble, Q8_0 value + 128; unsignedWeights) minus offset *
//   (the block's activations), or i8 weights where the instruction is
//   i8 x i8.
// - Q4_0 on AVX2 (pair sums): 8 rows x 4 nibbles per pmaddubsw, the block's
//   8 results summed in i16 (exact: at most 8 * 2 * 15 * 127), one pmaddwd,
//   the -8 offset: ~2.5 ops per (row, token, block).
// - Q8_0 on AVX2 (i16 pairs): 8 rows x 2 values as i16 per pmaddwd (i8
//   products would saturate pmaddubsw's i16 pairs), summed in i32: ~4.3.
// Each block's i32 dot is exact, converted and scaled by wd * xd and
// accumulated in block order (the scalar reference's order; the decode
// kernel converts partial lane sums instead).
Kernel buildLinearQuantPrefill(QuantFormat format, int64_t k, int64_t n,
                               const TargetInfo &target,
                               const QuantSchedule &sched, int interleave) {
  enum class Dot { Dot4, Q4PairSums, I16Pairs };
  const bool q4 = format == QuantFormat::Q4_0;
  const Dot form = sched.prefillDot4 ? Dot::Dot4
                   : q4              ? Dot::Q4PairSums
                                     : Dot::I16Pairs;
  // Rows per vector: the i32 lanes of one (4-way dot) or 8 (pair forms,
  // whose i16 pairs fill a 256-bit vector).
  const int kRows = form == Dot::Dot4 ? target.lanes(4) : 8;
  if (interleave != 0) {
    if (format == QuantFormat::Q6_K) {
      throw CompileError("no prefill GEMM reads row-interleaved Q6_K");
    }
    requireRowInterleave("weights", format, sched, interleave, {n});
    if (interleave != kRows) {
      throw CompileError("row-interleaved prefill weights need groups of " +
                         std::to_string(kRows) + " rows on this target, " +
                         "found " + std::to_string(interleave));
    }
  }
  if (format == QuantFormat::Q6_K || !sched.regroupPrefill || n % kRows != 0) {
    // No regrouped form for this format / target: the decode kernel's
    // algorithm (with its register-tiled prefill schedule).
    if (interleave != 0) {
      throw CompileError("row-interleaved prefill weights need a schedule "
                         "with regroupPrefill");
    }
    Kernel kernel = buildLinearQuant(format, k, n, target, sched);
    kernel.name = "linear_prefill_" + quantFormatName(format) + "_k" +
                  std::to_string(k) + "_n" + std::to_string(n);
    return kernel;
  }
  // Values per row per multiply (4-way dot / pmaddubsw: 4, pmaddwd: 2).
  const int group = form == Dot::I16Pairs ? 2 : 4;
  const int groups = kQuantBlock / group;
  const int blocks = static_cast<int>(k / kQuantBlock);
  const bool unsignedDot = form == Dot::Dot4 && sched.unsignedWeights;
  const std::string name = "linear_prefill_" + quantFormatName(format) +
                           (interleave ? "x" + std::to_string(kRows) : "");

  //--- Algorithm ------------------------------------------------------------
  ImageParam xq(Int(8), 2, "xq");                // (K, T)
  ImageParam xd(Float(32), 2, "xd");             // (K/32, T)
  ImageParam wq(q4 ? UInt(8) : Int(8), 2, "wq"); // (K/2 or K, N)
  ImageParam wd(Float(16), 2, "wd");             // (K/32, N)
  // Interleaved: (kRows * (K/2 or K), N/kRows), (K/32 * kRows, N/kRows).
  Var o("o"), t("t"), e("e"), r("r"), g("g"), b("b"), rg("rg"), h("h");
  Var i("i");

  // Value i of block b, row r of row group rg, as the form multiplies it:
  // the Q4_0 nibble (value + 8) or value - 8; the Q8_0 value + 128, as i16
  // or as it is. Then value e of group g of it (the regrouped order).
  Func unpacked(name + "_unpacked");
  Func regrouped(name + "_weights");
  Expr row = rg * kRows + r;
  if (q4) {
    QuantDotInputs in;
    in.format = format;
    in.length = k;
    in.weight = [&](Expr at) { return wq(at, row); };
    Expr nibble = q4Nibble(in, b, i, i < kQuantBlock / 2);
    unpacked(i, r, b, rg) = form == Dot::Dot4 && !unsignedDot
                                ? cast<int8_t>(nibble) - cast<int8_t>(8)
                                : nibble;
  } else if (form == Dot::I16Pairs) {
    unpacked(i, r, b, rg) = cast<int16_t>(wq(b * kQuantBlock + i, row));
  } else {
    Expr v = wq(b * kQuantBlock + i, row);
    unpacked(i, r, b, rg) =
        unsignedDot ? reinterpret(UInt(8), v) ^ cast<uint8_t>(0x80) : v;
  }
  Func scales(name + "_scales");
  if (interleave) {
    // The file's order is the regrouped order (Q4_0 nibbles still packed).
    auto byte = [&](Expr at, Expr grp) { return wq(at, grp); };
    regrouped(e, r, g, b, rg) =
        q4 ? q4InterleavedNibble(byte, kRows, e, r, g, b, rg)
           : q8InterleavedValue(byte, kRows, e, r, g, b, rg);
    scales(r, b, rg) = cast<float>(wd(b * kRows + r, rg));
  } else {
    regrouped(e, r, g, b, rg) = unpacked(g * group + e, r, b, rg);
    scales(r, b, rg) = cast<float>(wd(b, rg * kRows + r));
  }

  RDom rx(0, kQuantBlock, "rx");
  RDom rv(0, group, 0, groups, "rv"); // (value in group, group)
  Func offset(name + "_act_offset"), act16(name + "_act16");
  Func blockSum(name + "_block");
  // The weights' offset times the block's activations, subtracted so that
  // the unsigned products sum to the signed ones.
  const int weightOffset = form == Dot::Q4PairSums ? 8
                           : unsignedDot           ? (q4 ? 8 : 128)
                                                   : 0;
  if (weightOffset != 0) {
    offset(b, t) = 0;
    offset(b, t) += -weightOffset * cast<int32_t>(xq(b * kQuantBlock + rx, t));
    blockSum(r, b, rg, t) = offset(b, t);
  } else {
    blockSum(r, b, rg, t) = 0;
  }
  Q4RowPairSums ps;
  if (form == Dot::Q4PairSums) {
    ps = addQ4RowPairSums(
        name, blockSum,
        [&](Expr v, Expr grp) { return regrouped(v, r, grp, b, rg); },
        [&](Expr at) { return xq(at, t); }, r, b, rg, {t});
  } else {
    // Row r's exact block dot: each group's values times the activations
    // broadcast to every row, 4 (or 2, as i16) products per i32 lane.
    Expr a = xq(b * kQuantBlock + rv.y * group + rv.x, t);
    if (form == Dot::I16Pairs) {
      act16(i, t) = cast<int16_t>(xq(i, t));
      a = act16(b * kQuantBlock + rv.y * group + rv.x, t);
    }
    blockSum(r, b, rg, t) +=
        cast<int32_t>(widening_mul(regrouped(rv.x, r, rv.y, b, rg), a));
  }

  RDom rb(0, blocks, "rb");
  Func acc(name + "_acc");
  acc(r, rg, t) = 0.0f;
  // Strict (a multiply, then an add; never fused): LLVM fused them at some
  // register-tile positions and not at others, so a task shifted inwards
  // rounded the rows it shares with the task before it differently, and
  // whichever ran last decided the output. The one-token kernels
  // (rowLaneDot) accumulate in the same order, also strictly, so a batch
  // and token-by-token decoding agree bit for bit.
  acc(r, rg, t) =
      strict_float(acc(r, rg, t) + cast<float>(blockSum(r, rb, rg, t)) *
                                       (scales(r, rb, rg) * xd(rb, t)));
  Func y(name);
  y(o, t) = acc(o % kRows, o / kRows, t);

  constrainDim(xq, 0, k);
  constrainDim(xd, 0, blocks);
  const int groupRows = interleave ? kRows : 1;
  constrainDim(wq, 0, (q4 ? k / 2 : k) * groupRows);
  constrainDim(wq, 1, n / groupRows);
  constrainDim(wd, 0, blocks * groupRows);
  constrainDim(wd, 1, n / groupRows);
  y.output_buffer().dim(0).set_bounds(0, static_cast<int>(n));

  //--- Schedule -------------------------------------------------------------
  // Parallel tasks of prefillRowsPerTask rows; per task the regrouped
  // weights (K or 2K bytes a row) and scales, then token tiles of C tokens,
  // within each the task's register tiles of R row vectors (R * kRows rows)
  // x C tokens: each weight vector serves C tokens, each broadcast
  // activation R row vectors. Tails shift inwards (N is a multiple of kRows
  // and at least a task; batches of fewer than C tokens take one at a time).
  const int R = static_cast<int>(
      std::clamp<int64_t>(sched.prefillTileRowGroups, 1, n / kRows));
  const int tileRows = R * kRows;
  const int task = static_cast<int>(std::min<int64_t>(
      std::max(tileRows, sched.prefillRowsPerTask / tileRows * tileRows), n));
  const int C = sched.prefillTileTokens;
  Var oo("oo"), o1("o1"), o2("o2"), rgt("rgt"), rgi("rgi"), oi("oi"), t2("t2"),
      ti("ti");
  auto loops = [&](Stage s, int tokens) {
    s.split(o, oo, o1, task, TailStrategy::ShiftInwards)
        .split(o1, rgi, o2, tileRows, TailStrategy::ShiftInwards)
        .split(o2, rgt, oi, kRows, TailStrategy::ShiftInwards)
        .split(t, t2, ti, tokens, TailStrategy::ShiftInwards)
        .reorder(oi, ti, rgt, rgi, t2, oo)
        .vectorize(oi)
        .unroll(ti)
        .unroll(rgt)
        .parallel(oo);
  };
  if (C > 1) {
    loops(y.specialize(xq.dim(1).extent() >= C), C);
  }
  loops(y, 1);
  // Each row's block is unpacked with dense loads into registers, then
  // transposed by shuffles into the regrouped order: ~0.4 ops a value
  // against ~0.65 for gathering 4 bytes per row with inserts.
  // Interleaved: the task's nibbles unpacked once (1.5 ops per 32 bytes).
  regrouped.compute_at(y, oo).vectorize(e).vectorize(r).unroll(g);
  if (!interleave) {
    unpacked.compute_at(regrouped, b)
        .store_in(MemoryType::Register)
        .vectorize(i)
        .unroll(r);
  }
  scales.compute_at(y, oo).vectorize(r);
  acc.compute_at(y, rgi)
      .bound_storage(t, C)
      .bound_storage(rg, R)
      .vectorize(r)
      .unroll(t)
      .unroll(rg);
  acc.update().reorder(r, t, rg, rb).vectorize(r).unroll(t).unroll(rg);
  blockSum.compute_at(acc, rb).vectorize(r).unroll(t).unroll(rg);
  if (weightOffset != 0) {
    offset.compute_root().vectorize(b, 8, TailStrategy::GuardWithIf);
    offset.update().atomic().vectorize(rx, 8);
  }
  if (form == Dot::Q4PairSums) {
    ps.schedule(blockSum, LoopLevel(acc, rb), r, {rg, t});
  } else {
    if (form == Dot::I16Pairs) {
      act16.compute_root().vectorize(i, 16, TailStrategy::GuardWithIf);
    }
    blockSum.update()
        .reorder(rv.x, r, rg, t, rv.y)
        .atomic()
        .vectorize(rv.x)
        .vectorize(r)
        .unroll(rg)
        .unroll(t)
        .unroll(rv.y);
  }

  return {name + "_k" + std::to_string(k) + "_n" + std::to_string(n),
          Pipeline(y),
          {xq, xd, wq, wd}};
}

Kernel buildLinearQuantPrefill(QuantFormat format, int64_t k, int64_t n,
                               const TargetInfo &target, int interleave) {
  return buildLinearQuantPrefill(format, k, n, target,
                                 QuantSchedule::forTarget(target), interleave);
}

} // namespace lfm2c
