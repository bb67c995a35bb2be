//===- QuantQ6KKernel.cpp - Q6_K weights with Q8_K activations ----------===//
//
// llama.cpp's CPU path for Q6_K weights (in LFM2 GGUF files: the tied token
// embedding / LM head of Q4_0 models), weights packed as
// codegen/QuantLayout.h says:
//
// - Activations are quantized to Q8_K as quantize_row_q8_K_ref does: per
//   256 values, max = the first value of largest magnitude, iscale =
//   -127 / max, q = min(127, round-half-even(iscale * x)), d = 1 / iscale;
//   d = 0 and q = 0 for a zero block.
// - A dot is ggml_vec_dot_q6_K_q8_K: per super-block an exact int32 sum of
//   sub-block scale * (q6 - 32) * q8 over its 256 values, kept as 8 lane
//   sums, each converted to f32 and multiplied by d6 * d8; the super-blocks
//   accumulated per lane in f32, then the lanes summed. The row-interleaved
//   GEMV (AVX-512 VNNI) keeps the super-block's exact int32 whole, rows as
//   vector lanes: the same integers, one f32 conversion per super-block
//   instead of 8 (a difference of f32 rounding, ~1e-7 relative).
// - An embedding row is dequantize_row_q6_K: (d * scale) * (q6 - 32).
//
//===----------------------------------------------------------------------===//
#include "codegen/HalideHelpers.h"
#include "codegen/QuantLayout.h"
#include "codegen/QuantMath.h"

using namespace Halide;

namespace lfm2c {

namespace {

constexpr int kBlock = static_cast<int>(kQ6KBlock);
constexpr int kBlockBytes = static_cast<int>(kQ6KBlockBytes);
constexpr int kVectors = kBlock / 32; // 32-value vectors per super-block

// The unsigned 6-bit value (q6 + 32, in [0, 63]) of element e of
// super-block b, from a row's packed bytes.
Expr q6Unsigned(const std::function<Expr(Expr)> &byte, Expr b, Expr e) {
  Expr h = e / 128, g = e % 128 / 32, l = e % 32;
  Expr base = b * kBlockBytes;
  Expr ql = byte(base + 64 * h + 32 * (g % 2) + l);
  Expr qh = byte(base + 128 + 32 * h + l);
  Expr low = select(g < 2, ql & 15, ql >> 4);
  Expr high = (qh >> cast<uint8_t>(2 * g)) & 3;
  return low | (high << 4);
}

Expr subScale(const std::function<Expr(Expr)> &byte, Expr b, Expr e) {
  return reinterpret(
      Int(8), byte(b * kBlockBytes + static_cast<int>(kQ6KScalesAt) + e / 16));
}

// The u6 value (q6 + 32) of value 4q + v of sub-block s of super-block b,
// row r of a group of R row-interleaved rows whose bytes `byte` reads
// (QuantLayout.h). q is a constant after unrolling, so each quarter is one
// mask (A, B) or two shifts and masks (C with A or B).
Expr q6InterleavedU6(const std::function<Expr(Expr)> &byte, int R, Expr r,
                     Expr b, Expr s, Expr q, Expr v) {
  Expr run = b * (kBlockBytes * R) + s * (12 * R) + r * 4 + v;
  Expr a = byte(run), bb = byte(run + 4 * R), c = byte(run + 8 * R);
  return select(q == 0, a & 63, q == 1, bb & 63, q == 2,
                (c & 15) | ((a >> 2) & 48), (c >> 4) | ((bb >> 2) & 48));
}

} // namespace

Kernel buildQuantizeQ8_K(int64_t k, const TargetInfo &target,
                         const QuantSchedule &sched) {
  (void)target;
  const int blocks = static_cast<int>(k / kBlock);

  //--- Algorithm ------------------------------------------------------------
  ImageParam x(Float(32), 2, "x"); // (K, T)
  Var i("i"), b("b"), t("t");
  RDom r(0, kBlock, "r");
  Func amax("q8_k_amax"), first("q8_k_first"), iscale("q8_k_iscale");
  amax(b, t) = 0.0f;
  amax(b, t) = max(amax(b, t), abs(x(b * kBlock + r, t)));
  // The reference keeps the first value of largest magnitude (a strict >
  // scan), whose sign decides the sign of the scale.
  first(b, t) = kBlock;
  first(b, t) = min(first(b, t),
                    select(abs(x(b * kBlock + r, t)) == amax(b, t), r, kBlock));
  Expr signedMax = x(b * kBlock + clamp(first(b, t), 0, kBlock - 1), t);
  iscale(b, t) = strict_float(-127.0f / signedMax);

  Func q("quantize_q8_k"), d("quantize_q8_k_scale");
  Expr zero = amax(i / kBlock, t) == 0.0f;
  // round() is nearest with ties to even, as nearest_int's 1.5 * 2^23 trick.
  Expr v = strict_float(iscale(i / kBlock, t) * x(i, t));
  q(i, t) = cast<int8_t>(select(zero, 0.0f, min(round(v), 127.0f)));
  d(b, t) = select(amax(b, t) == 0.0f, 0.0f, strict_float(1.0f / iscale(b, t)));

  constrainDim(x, 0, k);
  q.output_buffer().dim(0).set_bounds(0, static_cast<int>(k));
  d.output_buffer().dim(0).set_bounds(0, blocks);

  //--- Schedule -------------------------------------------------------------
  // Per token: the two block reductions a vector at a time, then the quants.
  for (Func f : {amax, first}) {
    f.compute_root().parallel(t);
    f.update().atomic().vectorize(r, sched.quantLanes).parallel(t);
  }
  iscale.compute_root().parallel(t);
  q.vectorize(i, sched.quantLanes).parallel(t);
  d.parallel(t);

  return {"quantize_q8_k_k" + std::to_string(k), Pipeline({q, d}), {x}};
}

Kernel buildQuantizeQ8_K(int64_t k, const TargetInfo &target) {
  return buildQuantizeQ8_K(k, target, QuantSchedule::forTarget(target));
}

Kernel buildLinearQ6_K(int64_t k, int64_t n, const TargetInfo &target,
                       const QuantSchedule &sched) {
  (void)target;
  const int blocks = static_cast<int>(k / kBlock);

  //--- Algorithm ------------------------------------------------------------
  ImageParam xq(Int(8), 2, "xq");    // (K, T) Q8_K quants
  ImageParam xd(Float(32), 2, "xd"); // (K/256, T)
  ImageParam wq(UInt(8), 2, "wq");   // (K/256 * 208, N)
  ImageParam wd(Float(32), 2, "wd"); // (K/256, N)
  Var o("o"), t("t"), j("j"), vec("vec"), b("b"), lane("lane");
  auto byte = [&](Expr at) { return wq(at, o); };

  // Pair j of 32-value vector `vec` of super-block b: elements 2j, 2j + 1,
  // their u6 x i8 products summed in i16 (vpmaddubsw; at most 2 * 63 * 127).
  RDom rp(0, 2, "rp");
  Func pairs("linear_q6_k_pairs");
  Expr e = 32 * vec + 2 * j + rp;
  pairs(j, vec, b, o, t) = cast<int16_t>(0);
  pairs(j, vec, b, o, t) = saturating_add(
      pairs(j, vec, b, o, t),
      widening_mul(q6Unsigned(byte, b, e), xq(b * kBlock + e, t)));
  // 32 * (the pair's activations), so that pairs minus it are the sums of
  // (q6 - 32) * x: in [-8128, 7874], still i16.
  Func offset("linear_q6_k_act_offset");
  offset(j, vec, b, t) = cast<int16_t>(0);
  offset(j, vec, b, t) +=
      cast<int16_t>(xq(b * kBlock + 32 * vec + 2 * j + rp, t)) * 32;

  // Lane l sums pairs 2l and 2l + 1 of every vector, each pair times its
  // sub-block scale (vpmaddwd): an exact int32 per lane and super-block.
  RDom rs(0, 2, 0, kVectors, "rs");
  Func sums("linear_q6_k_block");
  Expr pj = 2 * lane + rs.x, pv = rs.y;
  sums(lane, b, o, t) = 0;
  sums(lane, b, o, t) += cast<int32_t>(
      widening_mul(pairs(pj, pv, b, o, t) - offset(pj, pv, b, t),
                   cast<int16_t>(subScale(byte, b, 32 * pv + 2 * pj))));

  // f32(lane sum) * (d6 * d8), accumulated over the super-blocks per lane.
  RDom rb(0, blocks, "rb");
  Func acc("linear_q6_k_acc");
  acc(lane, o, t) = 0.0f;
  // Strict, as in the other quantized dots: overlapping tasks must round
  // alike.
  acc(lane, o, t) =
      strict_float(acc(lane, o, t) +
                   cast<float>(sums(lane, rb, o, t)) * (wd(rb, o) * xd(rb, t)));
  Expr total = acc(0, o, t);
  for (int l = 1; l < kBlockLanes; ++l) {
    total += acc(l, o, t);
  }
  Func y("linear_q6_k");
  y(o, t) = total;

  constrainDim(xq, 0, k);
  constrainDim(xd, 0, blocks);
  constrainDim(wq, 0, blocks * kBlockBytes);
  constrainDim(wq, 1, n);
  constrainDim(wd, 0, blocks);
  constrainDim(wd, 1, n);
  y.output_buffer().dim(0).set_bounds(0, static_cast<int>(n));

  //--- Schedule -------------------------------------------------------------
  // As the other quantized projections: rows in parallel tasks, tokens in
  // tiles innermost so a weight row is read once per tile. Per row, token
  // and super-block, each 32-value vector is assembled from the ql and qh
  // bytes (masks and shifts, no shuffles), multiplied pairwise, offset and
  // scaled into the 8 lane sums, all in registers.
  Var oo("oo"), oi("oi"), tt("tt"), ti("ti");
  y.split(o, oo, oi, sched.q6kRowsPerTask, TailStrategy::GuardWithIf)
      .split(t, tt, ti, sched.tokensPerTile, TailStrategy::GuardWithIf)
      .reorder(ti, oi, tt, oo)
      .parallel(oo);
  acc.compute_at(y, ti).vectorize(lane);
  acc.update().reorder(lane, rb).vectorize(lane);
  sums.compute_at(acc, rb).vectorize(lane);
  sums.update()
      .reorder(rs.x, lane, rs.y)
      .atomic()
      .vectorize(rs.x)
      .vectorize(lane)
      .unroll(rs.y);
  // atomic(true): Halide cannot prove saturating adds associative; these
  // never saturate, so the order does not matter.
  pairs.compute_at(sums, rs.y).vectorize(j);
  pairs.update().reorder(rp, j).atomic(true).vectorize(rp).vectorize(j);
  offset.compute_root().vectorize(j);
  offset.update().reorder(rp, j).atomic().vectorize(rp).vectorize(j);

  return {"linear_q6_k_k" + std::to_string(k) + "_n" + std::to_string(n),
          Pipeline(y),
          {xq, xd, wq, wd}};
}

Kernel buildLinearQ6_KRows(int64_t k, int64_t n, const QuantSchedule &sched) {
  const int R = sched.q6kRowInterleave;
  requireRowInterleave("Q6_K weights", QuantFormat::Q6_K, sched, R, {n});
  const int blocks = static_cast<int>(k / kBlock);
  const int groupBlockBytes = kBlockBytes * R;
  const std::string name = "linear_q6_kx" + std::to_string(R);

  //--- Algorithm ------------------------------------------------------------
  ImageParam xq(Int(8), 2, "xq");    // (K, T) Q8_K quants
  ImageParam xd(Float(32), 2, "xd"); // (K/256, T)
  ImageParam wq(UInt(8), 2, "wq");   // (K/256 * 208R, N/R)
  ImageParam wd(Float(32), 2, "wd"); // (K/256 * R, N/R)
  Var o("o"), t("t"), r("r"), s("s"), b("b"), rg("rg");

  // -32 * (the activations of sub-block s), so that a sub-block's u6 dots
  // plus it are its sums of (q6 - 32) * x.
  RDom rx(0, 16, name + "_rx");
  Func offset(name + "_x_offset");
  offset(s, b, t) = 0;
  offset(s, b, t) += -32 * cast<int32_t>(xq(b * kBlock + s * 16 + rx, t));

  // Row r's sub-block s: its 4 quarters, each a u8 x i8 4-way dot
  // (vpdpbusd) on 4 u6 values of every row of the group.
  RDom rv(0, 4, 0, 4, name + "_rv"); // (value in run, run)
  Func dots(name + "_sub");
  Expr v = rv.x, q = rv.y;
  Expr u6 =
      q6InterleavedU6([&](Expr at) { return wq(at, rg); }, R, r, b, s, q, v);
  dots(r, s, b, rg, t) = offset(s, b, t);
  dots(r, s, b, rg, t) +=
      cast<int32_t>(widening_mul(u6, xq(b * kBlock + s * 16 + q * 4 + v, t)));

  // The super-block's exact i32: each sub-block times its scale.
  RDom rs(0, kBlock / 16, name + "_rs");
  Func sums(name + "_block");
  Expr scale = reinterpret(
      Int(8),
      wq(b * groupBlockBytes + static_cast<int>(kQ6KScalesAt) * R + rs * R + r,
         rg));
  sums(r, b, rg, t) = 0;
  sums(r, b, rg, t) += dots(r, rs, b, rg, t) * cast<int32_t>(scale);

  // Strict and in super-block order, as the other quantized dots: a shifted
  // last task recomputes rows, and both writes must be the same bits.
  RDom rb(0, blocks, name + "_rb");
  Func acc(name + "_acc");
  acc(r, rg, t) = 0.0f;
  acc(r, rg, t) =
      strict_float(acc(r, rg, t) + cast<float>(sums(r, rb, rg, t)) *
                                       (wd(rb * R + r, rg) * xd(rb, t)));
  Func y(name);
  y(o, t) = acc(o % R, o / R, t);

  constrainDim(xq, 0, k);
  constrainDim(xd, 0, blocks);
  constrainDim(wq, 0, blocks * groupBlockBytes);
  constrainDim(wq, 1, n / R);
  constrainDim(wd, 0, blocks * R);
  constrainDim(wd, 1, n / R);
  y.output_buffer().dim(0).set_bounds(0, static_cast<int>(n));

  //--- Schedule -------------------------------------------------------------
  // As the other row-lane GEMVs: a task per register tile of row vectors,
  // its tokens inside; per super-block, the sub-blocks' dots and scaling
  // unrolled over the tile's row vectors, all in registers.
  const int tile = scheduleRowTiles(y, o, t, n, R, sched.rowTileGroups);
  acc.compute_at(y, t).bound_storage(rg, tile).vectorize(r).unroll(rg);
  acc.update().reorder(r, rg, rb).vectorize(r).unroll(rg);
  const bool prefetch = sched.q6kPrefetchBlocks > 0;
  if (prefetch) {
    for (const ImageParam &w : {wq, wd}) {
      acc.update().prefetch(w, rb, rb, sched.q6kPrefetchBlocks,
                            PrefetchBoundStrategy::NonFaulting);
    }
  }
  sums.compute_at(acc, rb).vectorize(r).unroll(rg);
  RVar rso("rso"), rsi("rsi");
  sums.update()
      .split(rs, rso, rsi, sched.q6kSubBlocksUnrolled)
      .reorder(r, rg, rsi, rso)
      .vectorize(r)
      .unroll(rg)
      .unroll(rsi);
  dots.compute_at(sums, rsi).vectorize(r).unroll(rg);
  scheduleDot4(dots.update(), rv.x, r, rg, rv.y);
  offset.compute_root().vectorize(s, 8);
  offset.update().reorder(rx, s).vectorize(s, 8);

  return {name + "_k" + std::to_string(k) + "_n" + std::to_string(n),
          Pipeline(y),
          {xq, xd, wq, wd},
          prefetch};
}

Kernel buildEmbeddingQ6_K(int64_t vocab, int64_t hidden,
                          const TargetInfo &target, int interleave) {
  const int R = std::max(interleave, 1);
  const int blocks = static_cast<int>(hidden / kBlock);
  //--- Algorithm ------------------------------------------------------------
  ImageParam tokens(Int(32), 1, "tokens");   // (T)
  ImageParam quants(UInt(8), 2, "quants");   // (H/256 * 208R, V/R)
  ImageParam scales(Float(32), 2, "scales"); // (H/256 * R, V/R)
  Var h("h"), t("t");
  Expr row = clamp(tokens(t), 0, static_cast<int>(vocab - 1));
  Expr group = row / R, r = row % R;
  auto byte = [&](Expr at) { return quants(at, group); };
  Expr b = h / kBlock, e = h % kBlock;
  Expr q, sub;
  if (interleave) {
    q = cast<int32_t>(
            q6InterleavedU6(byte, R, r, b, e / 16, e % 16 / 4, e % 4)) -
        32;
    sub = reinterpret(Int(8), byte(b * (kBlockBytes * R) +
                                   static_cast<int>(kQ6KScalesAt) * R +
                                   e / 16 * R + r));
  } else {
    q = cast<int32_t>(q6Unsigned(byte, b, e)) - 32;
    sub = subScale(byte, b, e);
  }
  Func y("embedding_q6_k");
  // (d * scale) * q, in that order, as dequantize_row_q6_K.
  y(h, t) = strict_float(scales(b * R + r, group) * cast<float>(sub) *
                         cast<float>(q));
  constrainDim(quants, 0, blocks * kBlockBytes * R);
  constrainDim(quants, 1, vocab / R);
  constrainDim(scales, 0, blocks * R);
  constrainDim(scales, 1, vocab / R);
  y.output_buffer().dim(0).set_bounds(0, static_cast<int>(hidden));

  //--- Schedule -------------------------------------------------------------
  // One row per token: the bound is the row's 212 bytes per 256 values.
  y.vectorize(h, target.lanes(4), TailStrategy::GuardWithIf);

  return {"embedding_q6_k" +
              (interleave ? "x" + std::to_string(interleave) : std::string()) +
              "_v" + std::to_string(vocab) + "_h" + std::to_string(hidden),
          Pipeline(y),
          {tokens, quants, scales}};
}

} // namespace lfm2c
