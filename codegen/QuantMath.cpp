//===- QuantMath.cpp - Q8_0 quantizer and quantized dot products ---------===//
#include "codegen/QuantMath.h"

#include "codegen/QuantLayout.h"

#include <algorithm>

using namespace Halide;

namespace lfm2c {

QuantSchedule QuantSchedule::forTarget(const TargetInfo &target) {
  QuantSchedule s;
  s.quantLanes = target.lanes(4);
  Halide::Target ht(target.halideTarget());
  if (target.hasInt8DotProduct()) {
    // 4-way dot products: x86 VNNI's vpdpbusd multiplies u8 by i8, Arm's
    // sdot i8 by i8.
    s.dotFactor = 4;
    s.unsignedWeights = ht.arch == Halide::Target::X86;
  }
  if (ht.arch == Halide::Target::X86 && target.vectorBytes() < 64) {
    // pmaddubsw takes Q4_0's nibbles as they are; sign-extending them and
    // the activations to i16 for pmaddwd made Q4_0 decode compute-bound.
    // Also with AVX-VNNI: Halide 21 does not select its 8-lane vpdpbusd.
    s.q4PairSums = true;
    s.regroupPrefill = true;
    s.q4RowInterleave = kRowLanes;
    // Measured on an AVX-512 Xeon only (this program there: 8B-A1B Q4_0
    // tg128 +9%); not yet on the Zen 3 it was tuned on.
    s.decodePrefetchBlocks = 4;
  }
  if (ht.arch == Halide::Target::X86 && target.vectorBytes() == 64 &&
      target.hasInt8DotProduct()) {
    // vpdpbusd on zmm: Q4_0 and Q8_0 rows interleaved by its 16 i32 lanes.
    s.regroupPrefill = true;
    s.prefillDot4 = true;
    s.q4RowInterleave = target.lanes(4);
    s.q8RowInterleave = target.lanes(4);
    // The LM head of 8B-A1B Q4_0 (65536 x 2048 Q6_K), 2 threads, on the
    // AVX-512 Xeon: 5.55 ms a call in rows, 4.1-4.3 ms interleaved; its
    // prefetch 1 super-block ahead (0: 4.8 ms, 2: 4.5).
    s.q6kRowInterleave = target.lanes(4);
    s.q6kPrefetchBlocks = 1;
    // 8B-A1B Q4_0 tg128 on an AVX-512 VNNI Xeon: 25.4 -> 28.0 t/s at 4
    // blocks (2: 27.3, 8: 27.5, 16: 27.2); the AVX2 program there +9%.
    s.decodePrefetchBlocks = 4;
  }
  return s;
}

std::string quantFormatName(QuantFormat format) {
  switch (format) {
  case QuantFormat::Q8_0:
    return "q8_0";
  case QuantFormat::Q4_0:
    return "q4_0";
  case QuantFormat::Q6_K:
    return "q6_k";
  }
  return "?";
}

void Q8Quantizer::computeRoot(int lanes) {
  amax.compute_root();
  amax.update().atomic().vectorize(amax.rvars()[0]);
  scale.compute_root();
  Var ib("ib"), ii("ii");
  quant.compute_root().split(i, ib, ii, kQuantBlock).vectorize(ii, lanes);
}

Q8Quantizer quantizeQ8_0(const std::string &name, int64_t length,
                         const std::vector<Var> &vars,
                         const std::function<Expr(Expr)> &x) {
  (void)length;
  Q8Quantizer q;
  q.i = Var(name + "_i");
  q.b = Var(name + "_b");
  q.amax = Func(name + "_amax");
  q.scale = Func(name + "_scale");
  q.quant = Func(name + "_quant");

  std::vector<Expr> bArgs = {q.b}, iArgs = {q.i}, ibArgs = {q.i / kQuantBlock};
  bArgs.insert(bArgs.end(), vars.begin(), vars.end());
  iArgs.insert(iArgs.end(), vars.begin(), vars.end());
  ibArgs.insert(ibArgs.end(), vars.begin(), vars.end());

  RDom r(0, kQuantBlock, name + "_r");
  q.amax(bArgs) = 0.0f;
  q.amax(bArgs) = max(q.amax(bArgs), abs(x(q.b * kQuantBlock + r)));
  // The divisions stay divisions (no reciprocal rewrites): the scale is
  // rounded to f32 and then to fp16 (nearest-even), the inverse to f32.
  Expr amax = q.amax(bArgs);
  q.scale(bArgs) = cast<float>(cast(Float(16), strict_float(amax / 127.0f)));
  Expr am = q.amax(ibArgs);
  Expr inv = select(am != 0.0f, strict_float(127.0f / am), 0.0f);
  // round() is nearest with ties to even, as _mm256_round_ps.
  q.quant(iArgs) = cast<int8_t>(round(strict_float(x(q.i) * inv)));
  return q;
}

Expr q4Nibble(const QuantDotInputs &in, Expr b, Expr e, Expr lowHalf) {
  if (q4PairedBlocks(in.length)) {
    Expr byte = in.weight(b / 2 * kQuantBlock + e);
    return select(b % 2 == 0, byte & 15, byte >> 4);
  }
  Expr byte = in.weight(b * (kQuantBlock / 2) + e % (kQuantBlock / 2));
  return select(lowHalf, byte & 15, byte >> 4);
}

Expr q4InterleavedNibble(const std::function<Expr(Expr, Expr)> &byte, int rows,
                         Expr v, Expr r, Expr g, Expr b, Expr rg) {
  // Groups 0-3 in the low nibbles of the block's four quarters (4 bytes a
  // row), groups 4-7 in the high ones.
  Expr at = b * (16 * rows) + g % 4 * (4 * rows) + r * 4 + v;
  Expr x = byte(at, rg);
  return select(g < 4, x & 15, x >> 4);
}

Expr q8InterleavedValue(const std::function<Expr(Expr, Expr)> &byte, int rows,
                        Expr v, Expr r, Expr g, Expr b, Expr rg) {
  Expr at = b * (32 * rows) + g * (4 * rows) + r * 4 + v;
  return reinterpret(UInt(8), byte(at, rg)) ^ cast<uint8_t>(0x80);
}

Q4RowPairSums addQ4RowPairSums(const std::string &name, Func sums,
                               const NibbleFn &nibble,
                               const std::function<Expr(Expr)> &act, Var r,
                               Var b, Var rg, const std::vector<Var> &vars) {
  Q4RowPairSums p;
  p.h = Var(name + "_h");
  Var g(name + "_g");
  p.rp = RDom(0, 2, name + "_rp");
  p.rgp = RDom(0, kQuantBlock / 4, name + "_rgp");
  p.rh = RDom(0, 2, name + "_rh");
  p.pairs = Func(name + "_pairs");
  p.groupSums = Func(name + "_groups");
  auto args = [&](std::vector<Expr> head) {
    head.insert(head.end(), vars.begin(), vars.end());
    return head;
  };
  // i16 lanes (h, r): row r's products of values 2h, 2h + 1 of group g.
  Expr v = 2 * p.h + p.rp;
  std::vector<Expr> pa = args({p.h, r, g, b, rg});
  p.pairs(pa) = cast<int16_t>(0);
  p.pairs(pa) = saturating_add(
      p.pairs(pa),
      widening_mul(nibble(v, g), act(b * kQuantBlock + g * 4 + v)));
  p.groupSums(args({p.h, r, b, rg})) = cast<int16_t>(0);
  p.groupSums(args({p.h, r, b, rg})) += p.pairs(args({p.h, r, p.rgp, b, rg}));
  // Row r's exact block dot (pmaddwd by ones adds the two i16 halves).
  sums(args({r, b, rg})) += cast<int32_t>(p.groupSums(args({p.rh, r, b, rg})));
  return p;
}

void Q4RowPairSums::schedule(Func sums, const LoopLevel &block, Var r,
                             const std::vector<Var> &tile) {
  auto order = [&](std::vector<VarOrRVar> head, std::vector<VarOrRVar> tail) {
    head.insert(head.end(), tile.begin(), tile.end());
    head.insert(head.end(), tail.begin(), tail.end());
    return head;
  };
  auto unrollTile = [&](auto &&stage) {
    for (const Var &v : tile) {
      stage.unroll(v);
    }
  };
  Stage s = sums.update();
  s.reorder(order({rh, r}, {})).atomic().vectorize(rh).vectorize(r);
  unrollTile(s);
  groupSums.compute_at(block).vectorize(h).vectorize(r);
  unrollTile(groupSums);
  Stage g = groupSums.update();
  g.reorder(order({h, r}, {rgp})).vectorize(h).vectorize(r).unroll(rgp);
  unrollTile(g);
  // atomic(true): Halide cannot prove saturating adds associative; these
  // never saturate, so the order does not matter.
  pairs.compute_at(groupSums, rgp).vectorize(h).vectorize(r);
  unrollTile(pairs);
  Stage p = pairs.update();
  p.reorder(order({rp, h, r}, {}))
      .atomic(true)
      .vectorize(rp)
      .vectorize(h)
      .vectorize(r);
  unrollTile(p);
}

int rowInterleave(const QuantSchedule &sched, QuantFormat format) {
  return format == QuantFormat::Q4_0   ? sched.q4RowInterleave
         : format == QuantFormat::Q8_0 ? sched.q8RowInterleave
                                       : sched.q6kRowInterleave;
}

RowLaneDot rowLaneDot(const std::string &name, QuantFormat format,
                      int64_t length, const QuantSchedule &sched,
                      const Expr2Fn &byte, const Expr2Fn &scale,
                      const ExprFn &act, const ExprFn &actScale,
                      const ExprFn &offset, const std::vector<Var> &vars) {
  if (format == QuantFormat::Q6_K) {
    throw CompileError("row-lane block dots take Q4_0 or Q8_0 (Q6_K: "
                       "buildLinearQ6_KRows)");
  }
  RowLaneDot d;
  d.rows = rowInterleave(sched, format);
  d.pairSums = format == QuantFormat::Q4_0 && sched.q4PairSums;
  d.prefetchBlocks = sched.decodePrefetchBlocks;
  const int rows = d.rows;
  d.r = Var(name + "_r");
  d.b = Var(name + "_b");
  d.rg = Var(name + "_rg");
  Var r = d.r, b = d.b, rg = d.rg;
  auto args = [&](std::vector<Expr> head) {
    head.insert(head.end(), vars.begin(), vars.end());
    return head;
  };
  d.sums = Func(name + "_block");
  d.sums(args({r, b, rg})) = offset(b);
  auto value = [=](Expr v, Expr g) {
    return format == QuantFormat::Q4_0
               ? q4InterleavedNibble(byte, rows, v, r, g, b, rg)
               : q8InterleavedValue(byte, rows, v, r, g, b, rg);
  };
  if (d.pairSums) {
    d.ps = addQ4RowPairSums(name, d.sums, value, act, r, b, rg, vars);
  } else {
    // 4-way u8 x i8 dot products (vpdpbusd): 4 values of a row per i32 lane.
    d.rv = RDom(0, 4, 0, kQuantBlock / 4, name + "_rv");
    d.sums(args({r, b, rg})) += cast<int32_t>(widening_mul(
        value(d.rv.x, d.rv.y), act(b * kQuantBlock + d.rv.y * 4 + d.rv.x)));
  }
  RDom rb(0, static_cast<int>(length / kQuantBlock), name + "_rb");
  d.acc = Func(name + "_acc");
  d.acc(args({r, rg})) = 0.0f;
  // Strict, in the prefill GEMM's order (see buildLinearQuantPrefill).
  d.acc(args({r, rg})) =
      strict_float(d.acc(args({r, rg})) +
                   cast<float>(d.sums(args({r, rb, rg}))) *
                       (cast<float>(scale(rb * rows + r, rg)) * actScale(rb)));
  return d;
}

void RowLaneDot::schedule(const LoopLevel &at, int tileGroups) {
  RVar rb(acc.rvars()[0]);
  acc.compute_at(at).bound_storage(rg, tileGroups).vectorize(r).unroll(rg);
  acc.update().reorder(r, rg, rb).vectorize(r).unroll(rg);
  if (prefetches()) {
    // The tile's row groups are separate streams: each gets its lines of
    // block rb + prefetchBlocks while block rb is summed.
    for (const Halide::Parameter &w : weights) {
      acc.update().prefetch(w, rb, rb, prefetchBlocks,
                            PrefetchBoundStrategy::NonFaulting);
    }
  }
  sums.compute_at(acc, rb).vectorize(r).unroll(rg);
  if (pairSums) {
    ps.schedule(sums, LoopLevel(acc, rb), r, {rg});
  } else {
    scheduleDot4(sums.update(), rv.x, r, rg, rv.y);
  }
}

void scheduleDot4(Stage s, const RVar &value, const Var &r, const Var &rg,
                  const RVar &step) {
  s.reorder(value, r, rg, step)
      .atomic()
      .vectorize(value)
      .vectorize(r)
      .unroll(rg)
      .unroll(step);
}

void requireRowInterleave(const std::string &what,
                          std::optional<QuantFormat> format,
                          const QuantSchedule &sched, int interleave,
                          const std::vector<int64_t> &rows) {
  // The row-lane forms: pair sums (Q4_0; 8 rows of i16 pairs a 256-bit
  // vector) or u8 x i8 4-way dot products (a row per i32 lane, prefill too).
  const bool q4 = format == QuantFormat::Q4_0;
  const int want = format ? rowInterleave(sched, *format) : 0;
  const bool form =
      q4 && sched.q4PairSums
          ? !sched.prefillDot4 && want == kRowLanes
          : sched.prefillDot4 && sched.unsignedWeights && sched.dotFactor == 4;
  bool ok = form && want != 0 && interleave == want;
  for (int64_t n : rows) {
    ok = ok && n % want == 0;
  }
  if (!ok) {
    const std::string found = std::string(" (found ") +
                              (format ? quantFormatName(*format) : "f32") +
                              ", groups of " + std::to_string(interleave) + ")";
    if (!form || want == 0) {
      throw CompileError("row-interleaved " + what +
                         " need Q4_0, Q8_0 or Q6_K on a target with row-lane "
                         "kernels for it" +
                         found);
    }
    throw CompileError("row-interleaved " + what + " need " +
                       std::to_string(want) +
                       " rows a group dividing every row count" + found);
  }
}
int scheduleRowTiles(Func y, Var o, Var t, int64_t n, int rows,
                     int tileGroups) {
  const int tile =
      static_cast<int>(std::clamp<int64_t>(tileGroups, 1, n / rows));
  Var oo("oo"), o2("o2"), rgt("rgt"), oi("oi");
  y.split(o, oo, o2, tile * rows, TailStrategy::ShiftInwards)
      .split(o2, rgt, oi, rows, TailStrategy::ShiftInwards)
      .reorder(oi, rgt, t, oo)
      .vectorize(oi)
      .unroll(rgt)
      .parallel(oo);
  return tile;
}

Func rowLaneOffset(const std::string &name, QuantFormat format,
                   const ExprFn &act, const std::vector<Var> &vars) {
  const int weightOffset = format == QuantFormat::Q4_0 ? 8 : 128;
  Var b(name + "_b");
  RDom rx(0, kQuantBlock, name + "_rx");
  std::vector<Expr> at = {b};
  at.insert(at.end(), vars.begin(), vars.end());
  Func offset(name);
  offset(at) = 0;
  offset(at) += -weightOffset * cast<int32_t>(act(b * kQuantBlock + rx));
  return offset;
}

void vectorizeOffset(Func offset) {
  offset.compute_root();
  offset.update().atomic().vectorize(offset.rvars()[0], 8);
}

QuantDot quantDot(const std::string &name, const QuantDotInputs &in,
                  const QuantSchedule &sched, const std::vector<Var> &vars,
                  const std::vector<Var> &rowVars,
                  const std::vector<Var> &actVars) {
  QuantDot d;
  d.sched = sched;
  d.length = in.length;
  d.vars = vars;
  const bool pairSums = in.format == QuantFormat::Q4_0 && sched.q4PairSums;
  if (pairSums) {
    // Pair sums feed 4 adjacent products to each i32 lane, u8 x i8.
    d.sched.dotFactor = 4;
    d.sched.unsignedWeights = true;
  } else {
    d.sched.q4PairSums = false;
  }
  const int factor = d.sched.dotFactor;
  const bool unsignedWeights = d.sched.unsignedWeights;
  const int sweeps = kQuantBlock / (kBlockLanes * factor);
  const int blocks = static_cast<int>(in.length / kQuantBlock);
  d.lane = Var(name + "_lane");
  d.b = Var(name + "_b");
  d.i = Var(name + "_i");
  d.j = Var(name + "_j");
  d.r = RDom(0, factor, 0, sweeps, name + "_r");
  const int chains = sched.accumulators > 1 && blocks % sched.accumulators == 0
                         ? sched.accumulators
                         : 1;
  d.chain = Var(name + "_chain");
  d.rb = RDom(0, blocks / chains, name + "_rb");
  d.scale = Func(name + "_scale");
  d.result = Func(name);
  d.acc = Func(name + "_acc");
  d.blockSum = Func(name + "_block");

  // Element of block b summed by `lane` at step (r.x, r.y): each sweep
  // covers 8 * factor adjacent values, a lane `factor` adjacent ones of
  // them, as the dot-product instruction pairs them.
  auto element = [&](Expr b, Expr lane) {
    return b * kQuantBlock + d.r.y * (kBlockLanes * factor) + lane * factor +
           d.r.x;
  };
  std::vector<Expr> sumArgs = {d.lane, d.b};
  sumArgs.insert(sumArgs.end(), vars.begin(), vars.end());

  // Weight values: i8 (signed dots) or u8 with an offset (u8 x i8 dots).
  std::function<Expr(Expr)> weight;
  int offset = 0;
  if (pairSums) {
    // Pair j of block b: elements 2j and 2j + 1.
    offset = 8;
    d.pairs = Func(name + "_pairs");
    d.rp = RDom(0, 2, name + "_rp");
    std::vector<Expr> pArgs = {d.j, d.b};
    pArgs.insert(pArgs.end(), vars.begin(), vars.end());
    Expr e = 2 * d.j + d.rp.x;
    Expr nibble = q4Nibble(in, d.b, e, d.j < kQuantBlock / 4);
    d.pairs(pArgs) = cast<int16_t>(0);
    d.pairs(pArgs) = saturating_add(
        d.pairs(pArgs), widening_mul(nibble, in.act(d.b * kQuantBlock + e)));
  } else if (in.format == QuantFormat::Q4_0) {
    // Unpacked once per row; value nibble - 8.
    d.unpacked = Func(name + "_unpacked");
    std::vector<Expr> uArgs = {d.i};
    uArgs.insert(uArgs.end(), rowVars.begin(), rowVars.end());
    Expr e = d.i % kQuantBlock;
    Expr nibble = q4Nibble(in, d.i / kQuantBlock, e, e < kQuantBlock / 2);
    d.unpacked(uArgs) =
        unsignedWeights ? nibble : cast<int8_t>(nibble) - cast<int8_t>(8);
    offset = 8;
    weight = [&d, rowVars](Expr e) {
      std::vector<Expr> a = {e};
      a.insert(a.end(), rowVars.begin(), rowVars.end());
      return d.unpacked(a);
    };
  } else {
    offset = 128;
    if (unsignedWeights) {
      weight = [&in](Expr e) {
        return reinterpret(UInt(8), in.weight(e)) ^ cast<uint8_t>(0x80);
      };
    } else {
      weight = in.weight;
    }
  }

  if (unsignedWeights) {
    // offset * (the lane's activations), so that the u8 products minus it
    // are the signed products.
    d.actOffset = Func(name + "_act_offset");
    std::vector<Expr> oArgs = {d.lane, d.b};
    oArgs.insert(oArgs.end(), actVars.begin(), actVars.end());
    d.actOffset(oArgs) = 0;
    d.actOffset(oArgs) += offset * cast<int32_t>(in.act(element(d.b, d.lane)));
    d.blockSum(sumArgs) = -d.actOffset(oArgs);
  } else {
    d.blockSum(sumArgs) = 0;
  }
  if (pairSums) {
    // Lane l sums pairs 2l and 2l + 1: elements 4l .. 4l + 3.
    d.rq = RDom(0, 2, name + "_rq");
    std::vector<Expr> pArgs = {2 * d.lane + d.rq.x, d.b};
    pArgs.insert(pArgs.end(), vars.begin(), vars.end());
    d.blockSum(sumArgs) += cast<int32_t>(d.pairs(pArgs));
  } else if (!unsignedWeights && factor == 2) {
    // pmaddwd multiplies i16 by i16: the activations are sign-extended
    // once per activation row (act16) rather than once per weight row.
    d.act16 = Func(name + "_act16");
    std::vector<Expr> aArgs = {d.i};
    aArgs.insert(aArgs.end(), actVars.begin(), actVars.end());
    d.act16(aArgs) = cast<int16_t>(in.act(d.i));
    Expr e = element(d.b, d.lane);
    aArgs[0] = e;
    d.blockSum(sumArgs) +=
        cast<int32_t>(widening_mul(cast<int16_t>(weight(e)), d.act16(aArgs)));
  } else {
    Expr e = element(d.b, d.lane);
    d.blockSum(sumArgs) += cast<int32_t>(widening_mul(weight(e), in.act(e)));
  }

  // Block rb * chains + chain accumulates into chain `chain`: per lane,
  // f32(lane sum) * (wd * xd), as llama.cpp's SIMD loops do.
  std::vector<Expr> scaleArgs = {d.b};
  scaleArgs.insert(scaleArgs.end(), vars.begin(), vars.end());
  d.scale(scaleArgs) = in.weightScale(d.b) * in.actScale(d.b);
  Expr blk = d.rb * chains + d.chain;
  std::vector<Expr> accArgs = {d.lane, d.chain};
  accArgs.insert(accArgs.end(), vars.begin(), vars.end());
  std::vector<Expr> blockArgs = {d.lane, blk}, blkScaleArgs = {blk};
  blockArgs.insert(blockArgs.end(), vars.begin(), vars.end());
  blkScaleArgs.insert(blkScaleArgs.end(), vars.begin(), vars.end());
  d.acc(accArgs) = 0.0f;
  // Strict: a fused multiply-add at some unrolled positions and not at
  // others would make overlapping parallel tasks write different bits.
  d.acc(accArgs) =
      strict_float(d.acc(accArgs) +
                   cast<float>(d.blockSum(blockArgs)) * d.scale(blkScaleArgs));

  std::vector<Expr> vArgs(vars.begin(), vars.end());
  Expr total;
  for (int l = 0; l < kBlockLanes; ++l) {
    for (int c = 0; c < chains; ++c) {
      std::vector<Expr> a = vArgs;
      a.insert(a.begin(), {Expr(l), Expr(c)});
      total = total.defined() ? total + d.acc(a) : d.acc(a);
    }
  }
  d.result(vArgs) = total;
  return d;
}

namespace {

// The parts of a dot's schedule that do not depend on where its outputs
// are computed: the block sums inside the accumulation, the Q4_0 unpacking
// and the u8 offset correction.
void scheduleDotParts(QuantDot &d, const LoopLevel &blockAt,
                      const LoopLevel &unpackAt) {
  d.blockSum.compute_at(blockAt).vectorize(d.lane);
  if (d.pairs.defined()) {
    // One u8 x i8 vector of the block's 32 products, summed pairwise
    // (vpmaddubsw), then the 16 pairs two by two into the lanes (vpmaddwd
    // by ones).
    // atomic(true): Halide cannot prove saturating adds associative; these
    // never saturate, so the order does not matter.
    d.pairs.compute_at(blockAt).vectorize(d.j);
    d.pairs.update()
        .reorder(d.rp.x, d.j)
        .atomic(true)
        .vectorize(d.rp.x)
        .vectorize(d.j);
    d.blockSum.update()
        .reorder(d.rq.x, d.lane)
        .atomic()
        .vectorize(d.rq.x)
        .vectorize(d.lane);
  } else {
    // Per block, one vector of 8 i32 lane sums, each step a (factor x
    // 8)-wide widening multiply reduced `factor`-fold into the lanes:
    // pmaddwd / vpdpbusd / sdot.
    d.blockSum.update()
        .reorder(d.r.x, d.lane, d.r.y)
        .atomic()
        .vectorize(d.r.x)
        .vectorize(d.lane)
        .unroll(d.r.y);
  }
  if (d.unpacked.defined() &&
      !(d.sched.unpackInline && d.sched.dotFactor == 2)) {
    // Two 16-byte halves per block: the low nibbles, then the high ones.
    Var blk("blk"), half("half"), j("j"), rest("rest");
    d.unpacked.compute_at(unpackAt)
        .bound(d.i, 0, static_cast<int>(d.length))
        .split(d.i, blk, rest, kQuantBlock)
        .split(rest, half, j, kQuantBlock / 2)
        .unroll(half)
        .vectorize(j);
  }
  if (d.actOffset.defined()) {
    d.actOffset.vectorize(d.lane);
    d.actOffset.update()
        .reorder(d.r.x, d.lane, d.r.y)
        .atomic()
        .vectorize(d.r.x)
        .vectorize(d.lane);
  }
}

} // namespace

void QuantDot::schedule(const LoopLevel &accAt, const LoopLevel &unpackAt,
                        const std::vector<std::pair<Var, int>> &tile) {
  // One vector of 8 f32 partial sums per output. In a register tile every
  // output of the tile takes its block before the next block starts; the
  // unrolled copies share their weight and activation loads (and the
  // nibble unpacking) through LLVM's CSE.
  acc.compute_at(accAt).vectorize(lane).unroll(chain);
  // The block scales of the row and token, a vector at a time.
  scale.compute_at(accAt).vectorize(b, kBlockLanes, TailStrategy::GuardWithIf);
  std::vector<VarOrRVar> order = {lane, chain};
  for (const auto &[v, extent] : tile) {
    // A tail tile computes fewer outputs; its storage stays the constant
    // size of a full one (registers and stack, not the heap).
    acc.unroll(v).bound_storage(v, extent);
    scale.bound_storage(v, extent);
    order.push_back(v);
  }
  order.push_back(rb.x);
  acc.update().reorder(order).vectorize(lane).unroll(chain);
  for (const auto &[v, extent] : tile) {
    acc.update().unroll(v);
  }
  scheduleDotParts(*this, LoopLevel(acc, chain), unpackAt);
}

void QuantDot::scheduleTile(const LoopLevel &tileAt, const LoopLevel &unpackAt,
                            const Var &row, const Var &token) {
  // Chains outermost: a chain's blocks are still summed in block order, and
  // only one chain's tile of accumulators is live at a time. With every
  // loop but the blocks' unrolled, the tile's accumulators have constant
  // indices, so LLVM keeps them in registers, and the block's weight loads,
  // identical for all the tile's tokens, are issued once.
  acc.compute_at(tileAt).vectorize(lane).unroll(chain).unroll(row).unroll(
      token);
  acc.update()
      .reorder(lane, row, token, rb.x, chain)
      .vectorize(lane)
      .unroll(row)
      .unroll(token)
      .unroll(chain);
  // The tile's block scales, a vector of blocks at a time, before its dots.
  scale.compute_at(tileAt).vectorize(b, kBlockLanes, TailStrategy::GuardWithIf);
  scheduleDotParts(*this, LoopLevel(acc, row), unpackAt);
}

} // namespace lfm2c
