//===- AttentionKernel.cpp - Causal GQA attention over the KV cache -----===//
//
// The core of lfm2.attention once q has been normed and rotated and this
// batch's k/v rows are in the cache: softmax(q k^T / sqrt(d) + causal) v,
// query head h reading KV head h / (heads / kv_heads).
//
// Flash-attention form: the keys are taken in blocks, each block's softmax
// (its max, its sum of exponentials, its exponential-weighted sum of value
// rows) merged into a running one, so nothing of size T x context is ever
// stored, and every K and V row read from memory serves a whole tile of
// query rows: all `group` query heads of its KV head, for `tokTile` tokens.
// The result is normalised at the end, not before weighting v as ggml does;
// the two differ only in rounding.
//
// The caches hold f32 rows, or f16 rows (`lfm2c compile --kv-cache=f16`)
// widened as they are read, in tiles of kCacheTileRows rows (keys
// transposed, see KernelRequest.h); buildStoreCacheTiles writes a step's
// rows into them.
//
//===----------------------------------------------------------------------===//
#include "codegen/HalideHelpers.h"
#include "codegen/Kernel.h"
#include "codegen/KernelRequest.h"

#include <algorithm>
#include <cmath>
#include <limits>

using namespace Halide;

namespace lfm2c {
namespace {

const float kLowest = std::numeric_limits<float>::lowest();

struct AttentionInputs {
  ImageParam q, kc, vc;
  Param<int32_t> pos;
  // Cache elements as f32, whatever their stored type. Both caches are
  // stored in tiles of kCacheTileRows rows, a tile's KV heads outermost;
  // keys transposed, (lane, i, kv, tile), values not, (i, lane, kv, tile).
  Expr key(Expr i, Expr kv, Expr tile, Expr lane) const {
    return widen(kc(lane, i, kv, tile));
  }
  // Callers clamp `row` to the rows written: a value row past them, weighted
  // by 0, would still make NaN of garbage (keys past them are only masked
  // by selects, so theirs may be read).
  Expr value(Expr i, Expr kv, Expr row) const {
    return widen(vc(i, row % kCacheTileRows, kv, row / kCacheTileRows));
  }
  static Expr widen(Expr e) {
    return e.type().is_float() && e.type().bits() == 32 ? e : cast<float>(e);
  }
  int group = 1; // query heads per KV head
  int headDim = 0;
  int keyBlock = 0;
  float scale = 1.0f;
};

// One flash-attention pass over the cache with query tiles of `tokTile`
// tokens (rows = tokTile * group per tile and KV head) and the blocks of
// each (tile, KV head) dealt into `splits` independent runs.
struct FlashPass {
  int rows = 0; // query rows per tile
  Var i{"i"}, k{"k"}, ri{"ri"}, ro{"ro"}, kv{"kv"}, jj{"jj"}, b{"b"}, p{"p"};
  RDom rd, rj, rb, rp;
  Func qs, limit, keys, dot, score, bmax, e, bsum, bout, st, gmax, w, num, den,
      norm;
  Func out; // (i, h, t): the attention output of this pass
};

FlashPass defineFlashPass(const std::string &tag, const AttentionInputs &in,
                          int tokTile, Expr splits) {
  FlashPass f;
  const int group = in.group, d = in.headDim, S = in.keyBlock;
  f.rows = tokTile * group;
  auto name = [&](const char *n) { return tag + "_" + n; };
  f.qs = Func(name("q_scaled"));
  f.limit = Func(name("last_key"));
  f.keys = Func(name("keys"));
  f.dot = Func(name("qk"));
  f.score = Func(name("score"));
  f.bmax = Func(name("block_max"));
  f.e = Func(name("block_exp"));
  f.bsum = Func(name("block_sum"));
  f.bout = Func(name("block_out"));
  f.st = Func(name("running"));
  f.gmax = Func(name("split_max"));
  f.w = Func(name("split_weight"));
  f.num = Func(name("numerator"));
  f.den = Func(name("denominator"));
  f.norm = Func(name("normalised"));
  f.out = Func(name("out"));
  Var &i = f.i, &k = f.k, &ri = f.ri, &ro = f.ro, &kv = f.kv, &jj = f.jj,
      &b = f.b, &p = f.p;
  const ImageParam &q = in.q;
  const Param<int32_t> &pos = in.pos;

  Expr T = q.dim(2).extent();
  Expr kvLen = pos + T;
  Expr nBlocks = (kvLen + (S - 1)) / S;
  Expr blocksPerSplit = (nBlocks + splits - 1) / splits;
  // Row ri of tile ro: query head kv * group + ri % group, token
  // ro * tokTile + ri / group. Rows past the last token (padding of the
  // last tile) repeat it, so every read stays inside the buffers; their
  // results are never stored.
  Expr token = min(ro * tokTile + ri / group, T - 1);
  f.qs(k, ri, ro, kv) = q(k, kv * group + ri % group, token) * in.scale;
  // The last key each row sees, as a Func so the causal test is one vector
  // compare per row vector (ri / group does not vectorize cheaply).
  f.limit(ri, ro) = pos + token;

  // Keys past pos+T-1 only occur in the last tile and the padding of the
  // last block; they are masked, and the clamp keeps their (unused) reads
  // inside the cache's tiles.
  Expr key = b * S + jj;
  Expr visible = key <= f.limit(ri, ro);
  f.rd = RDom(0, d, name("rd"));
  // Blocks of whole tiles say so, so that a vector of a tile's keys is one
  // dense load.
  const int tileRows = kCacheTileRows;
  Expr keyTile =
      S % tileRows == 0 ? b * (S / tileRows) + jj / tileRows : key / tileRows;
  Expr keyLane = S % tileRows == 0 ? jj % tileRows : key % tileRows;
  // A block's keys as f32 (a Func so that f16 ones can be widened once per
  // block rather than once per use; inlined otherwise).
  f.keys(k, jj, kv, b) =
      in.key(k, kv, min(keyTile, (kvLen - 1) / tileRows), keyLane);
  f.dot(ri, jj, ro, kv, b) = 0.0f;
  f.dot(ri, jj, ro, kv, b) += f.qs(f.rd, ri, ro, kv) * f.keys(f.rd, jj, kv, b);
  f.score(ri, jj, ro, kv, b) =
      select(visible, f.dot(ri, jj, ro, kv, b), kLowest);

  f.rj = RDom(0, S, name("rj"));
  f.bmax(ri, ro, kv, b) = kLowest;
  f.bmax(ri, ro, kv, b) =
      max(f.bmax(ri, ro, kv, b), f.score(ri, f.rj, ro, kv, b));
  f.e(ri, jj, ro, kv, b) = select(
      visible, exp(f.score(ri, jj, ro, kv, b) - f.bmax(ri, ro, kv, b)), 0.0f);
  f.bsum(ri, ro, kv, b) = 0.0f;
  f.bsum(ri, ro, kv, b) += f.e(ri, f.rj, ro, kv, b);
  f.bout(i, ri, ro, kv, b) = 0.0f;
  f.bout(i, ri, ro, kv, b) +=
      f.e(ri, f.rj, ro, kv, b) * in.value(i, kv, min(b * S + f.rj, kvLen - 1));

  // The running (max, sum, weighted values) of split p, merged block by
  // block. max and sum do not depend on i; one tuple lets a single update
  // carry all three (their redundant copies cost two exps per d values,
  // next to the block's S * d multiply-adds).
  f.rb = RDom(0, blocksPerSplit, name("rb"));
  Expr blk = p * blocksPerSplit + f.rb;
  // Blocks past the cache, or wholly in the tile's future, are skipped, and
  // with them everything computed per block.
  f.rb.where(blk < nBlocks &&
             blk * S <= pos + min(ro * tokTile + tokTile - 1, T - 1));
  f.st(i, ri, ro, kv, p) = Tuple(kLowest, 0.0f, 0.0f);
  {
    Expr m0 = f.st(i, ri, ro, kv, p)[0], l0 = f.st(i, ri, ro, kv, p)[1],
         o0 = f.st(i, ri, ro, kv, p)[2];
    Expr mb = f.bmax(ri, ro, kv, blk);
    Expr mn = max(m0, mb);
    Expr a = exp(m0 - mn), c = exp(mb - mn);
    f.st(i, ri, ro, kv, p) = Tuple(mn, l0 * a + f.bsum(ri, ro, kv, blk) * c,
                                   o0 * a + f.bout(i, ri, ro, kv, blk) * c);
  }

  // Merge the splits (an empty split has max kLowest and weight 0), then
  // normalise.
  f.rp = RDom(0, splits, name("rp"));
  f.gmax(ri, ro, kv) = kLowest;
  f.gmax(ri, ro, kv) = max(f.gmax(ri, ro, kv), f.st(0, ri, ro, kv, f.rp)[0]);
  f.w(ri, ro, kv, p) = exp(f.st(0, ri, ro, kv, p)[0] - f.gmax(ri, ro, kv));
  f.num(i, ri, ro, kv) = 0.0f;
  f.num(i, ri, ro, kv) += f.w(ri, ro, kv, f.rp) * f.st(i, ri, ro, kv, f.rp)[2];
  f.den(ri, ro, kv) = 0.0f;
  f.den(ri, ro, kv) += f.w(ri, ro, kv, f.rp) * f.st(0, ri, ro, kv, f.rp)[1];

  f.norm(i, ri, ro, kv) = f.num(i, ri, ro, kv) / f.den(ri, ro, kv);

  Var h("h"), t("t");
  Expr r = (t % tokTile) * group + h % group, tile = t / tokTile;
  f.out(i, h, t) = f.norm(i, r, tile, h / group);
  return f;
}

int roundUpPow2(int x) {
  int p = 1;
  while (p < x) {
    p *= 2;
  }
  return p;
}

// QK^T's register tile, computed per KV head of a score tile: vectors of
// `lanes` along `along` (query rows or keys), `across` unrolled, summed
// over head_dim outermost so the whole tile stays in registers.
void scheduleDotTile(FlashPass &f, Var along, Var across, int lanes) {
  const TailStrategy up = TailStrategy::RoundUp;
  Var o("o"), l("l");
  f.dot.compute_at(f.score, f.kv)
      .reorder_storage(along, across)
      .split(along, o, l, lanes, up)
      .vectorize(l)
      .unroll(o)
      .unroll(across);
  f.dot.update()
      .split(along, o, l, lanes, up)
      .reorder(l, o, across, f.rd)
      .vectorize(l)
      .unroll(o)
      .unroll(across);
}

// Prefill: a tile's rows fill the vector lanes. QK^T is an outer product
// over register tiles of all the tile's rows x keyRegs keys: each d step
// loads the rows' q vectors and broadcasts keyRegs key elements into them.
void schedulePrefillScores(FlashPass &f, const AttentionInputs &in,
                           const AttentionSchedule &sched, LoopLevel perTask,
                           LoopLevel perBlock) {
  Var &k = f.k, &ri = f.ri, &kv = f.kv, &jj = f.jj;
  const TailStrategy up = TailStrategy::RoundUp;
  // A query tile's rows fill rowVecs vectors of rowLanes.
  const int rowLanes = std::min(sched.lanes, roundUpPow2(f.rows));
  const int rowVecs = (f.rows + rowLanes - 1) / rowLanes;
  const int keyRegs = std::max(1, sched.accumulators / rowVecs);
  f.qs.compute_at(perTask).reorder_storage(ri, k, kv).vectorize(ri, rowLanes,
                                                                up);
  f.limit.compute_at(perTask).vectorize(ri, rowLanes, up);

  Var jo("jo"), ji("ji"), rvo("rvo"), rv("rv");
  f.score.compute_at(perBlock)
      .split(jj, jo, ji, keyRegs, up)
      .split(ri, rvo, rv, rowLanes, up)
      .reorder(rv, rvo, ji, kv, jo)
      .vectorize(rv);
  scheduleDotTile(f, ri, jj, rowLanes);
  if (in.kc.type().bits() == 16) {
    // The tile's rows read each key element as a broadcast; widen the
    // block's f16 keys once instead of at every broadcast (8B-A1B Q4_0
    // pp512 after 3584 tokens, row-major caches: 185 -> 190-198 t/s; f32
    // keys 191-197), along the keys, which are contiguous in a cache tile.
    f.keys.compute_at(perBlock)
        .reorder_storage(jj, k)
        .align_bounds(jj, kCacheTileRows)
        .reorder(jj, k)
        .vectorize(jj, std::min(sched.lanes, kCacheTileRows),
                   TailStrategy::GuardWithIf);
    f.keys.bound_extent(kv, 1).bound_extent(f.b, 1);
  }
  for (Func g : {f.bmax, f.bsum}) {
    g.compute_at(perBlock).vectorize(ri, rowLanes, up);
    g.update().vectorize(ri, rowLanes, up);
  }
  f.e.compute_at(perBlock).vectorize(ri, rowLanes, up);
}

// Decode: one token's `group` query rows per KV head, fewer than a vector's
// lanes, so keys fill the lanes instead. Each d step loads keyVecs vectors
// of a tile's keys (contiguous in the transposed key cache) and multiplies
// them by each row's q element, broadcast, into rows x keyVecs
// accumulators: no lane is ever reduced, and the softmax's exponentials run
// a vector of keys at a time. (Before, with keys row-major: QK^T along
// head_dim, each (row, key) a vector of partial sums reduced across its
// lanes, ~1700 instructions a key for 32 heads.)
void scheduleDecodeScores(FlashPass &f, const AttentionInputs &in,
                          const AttentionSchedule &sched, LoopLevel perTask,
                          LoopLevel perBlock, int kvHeads) {
  Var &k = f.k, &ri = f.ri, &ro = f.ro, &kv = f.kv, &jj = f.jj;
  const TailStrategy up = TailStrategy::RoundUp;
  const int lanes = sched.lanes;
  const int keyVecs = std::max(1, sched.decodeAccumulators / f.rows);
  const int tileKeys = lanes * keyVecs;
  f.qs.compute_at(perTask).vectorize(k, std::min(lanes, in.headDim),
                                     TailStrategy::GuardWithIf);
  f.limit.compute_at(perTask);

  Var jo("jo"), jv("jv"), jl("jl");
  f.score.compute_at(perBlock)
      .reorder_storage(jj, ri)
      .align_bounds(jj, tileKeys)
      .split(jj, jo, jl, tileKeys, up)
      .split(jl, jv, jl, lanes)
      .reorder(jl, jv, ri, kv, jo)
      .vectorize(jl)
      .unroll(jv)
      .unroll(ri);
  scheduleDotTile(f, jj, ri, lanes);
  if (sched.decodePrefetch) {
    // A tile's keys are [kv][d][lanes]: element rd + headDim of this KV
    // head is element rd of the next, one head's compute ahead.
    f.dot.update().prefetch(in.kc, f.rd, f.rd, in.headDim,
                            PrefetchBoundStrategy::NonFaulting);
  }

  // The block's max and sum: a vector of keys at a time, the lanes reduced
  // once a block.
  RVar rjo("rjo"), rji("rji");
  Var u("u");
  for (Func g : {f.bmax, f.bsum}) {
    Func part = g.update().split(f.rj, rjo, rji, lanes).rfactor(rji, u);
    g.compute_at(perBlock);
    part.compute_at(perBlock)
        .reorder_storage(u, ri, ro, kv, f.b)
        .reorder(u, ri, kv)
        .vectorize(u);
    part.update().reorder(u, rjo, ri, kv).vectorize(u);
    part.bound_extent(ro, 1).bound_extent(f.b, 1).bound_extent(kv, kvHeads);
  }
  f.e.compute_at(perBlock)
      .reorder_storage(jj, ri)
      .reorder(jj, ri, kv)
      .vectorize(jj, lanes, up);
}

// allHeads: one task covers every KV head of a split, the heads inside each
// cache tile, so the task streams through the tiles in memory order;
// otherwise one task per KV head, which reads its part of each tile (fine
// when a query tile's compute outweighs the reads, not for a single token).
void scheduleFlashPass(FlashPass &f, const AttentionInputs &in,
                       const AttentionSchedule &sched, int kvHeads,
                       bool allHeads) {
  const int headDim = in.headDim;
  Var &i = f.i, &ri = f.ri, &ro = f.ro, &kv = f.kv, &p = f.p;
  const TailStrategy up = TailStrategy::RoundUp;
  // head_dim in vector lanes for PV: valueRows rows x dimVecs vectors.
  const int dimLanes = std::min(sched.lanes, roundUpPow2(headDim));
  const int dimVecs = std::clamp(sched.accumulators / sched.valueRows, 1,
                                 std::max(1, headDim / dimLanes));
  const int dimTile = dimLanes * dimVecs;

  // Within a task the blocks are walked in order; each block is merged
  // over register tiles of valueRows x dimTile outputs.
  Var task("task"), io("io"), ii("ii"), rio("rio"), rii("rii"), iv("iv");
  f.st.vectorize(i, dimLanes, TailStrategy::GuardWithIf);
  Stage merge = f.st.update();
  merge.split(i, io, ii, dimTile, TailStrategy::GuardWithIf)
      .split(ri, rio, rii, sched.valueRows, up);
  LoopLevel perTask, perBlock(f.st, f.rb);
  f.num.vectorize(i, dimLanes, TailStrategy::GuardWithIf);
  f.num.update().vectorize(i, dimLanes, TailStrategy::GuardWithIf);
  if (allHeads) {
    // The splits' running states all exist before their merge.
    merge.reorder(ii, rii, io, rio, kv, f.rb, ro, p)
        .fuse(ro, p, task)
        .parallel(task);
    f.st.compute_root();
    perTask = LoopLevel(f.st, task);
    for (Func g : {f.gmax, f.w, f.den, f.num, f.norm}) {
      g.compute_root();
    }
  } else {
    // One split: a task's running state is merged and normalised in the
    // task, so no (T x heads x d) state goes through memory. The query tiles of
    // one KV head are adjacent, so its K and V rows are still in cache for
    // the next tile. (Fusing the two parallel loops into one flat loop
    // makes bounds inference lose track of the tile and size every per-block
    // Func for all tiles.)
    merge.reorder(ii, rii, io, rio, f.rb, ro, kv, p);
    f.norm.compute_root()
        .reorder(i, ri, ro, kv)
        .parallel(kv)
        .parallel(ro)
        .vectorize(i, dimLanes, TailStrategy::GuardWithIf);
    perTask = LoopLevel(f.norm, ro);
    for (Func g : {f.st, f.gmax, f.w, f.den, f.num}) {
      g.compute_at(perTask);
    }
  }
  merge.vectorize(ii, dimLanes).unroll(rii);

  if (allHeads) {
    scheduleDecodeScores(f, in, sched, perTask, perBlock, kvHeads);
    // PV a tile of keys at a time, head by head: a head's rows of a tile
    // are one contiguous run, its accumulators stay in registers over the
    // tile's keys (the unrolled keys let LLVM keep them there), and the
    // tile's data stays in L1 for the next head.
    f.bout.compute_at(perBlock)
        .split(i, iv, ii, dimLanes, TailStrategy::GuardWithIf)
        .vectorize(ii);
    RVar rjo("rjo"), rji("rji");
    f.bout.update()
        .split(i, iv, ii, dimLanes, TailStrategy::GuardWithIf)
        .split(f.rj, rjo, rji, kCacheTileRows)
        .reorder(ii, iv, ri, rji, kv, rjo)
        .vectorize(ii)
        .unroll(iv)
        .unroll(ri)
        .unroll(rji);
    if (sched.decodePrefetch) {
      // The next KV head's rows of the tile, one head's compute ahead.
      f.bout.update().prefetch(in.vc, rji, kv, 1,
                               PrefetchBoundStrategy::NonFaulting);
    }
  } else {
    schedulePrefillScores(f, in, sched, perTask, perBlock);
    // PV for one register tile: each key's value vectors are loaded once
    // for valueRows rows.
    f.bout.compute_at(f.st, io)
        .split(i, iv, ii, dimLanes, TailStrategy::GuardWithIf)
        .vectorize(ii)
        .unroll(iv)
        .unroll(ri);
    f.bout.update()
        .split(i, iv, ii, dimLanes, TailStrategy::GuardWithIf)
        .reorder(ii, iv, ri, f.rj)
        .vectorize(ii)
        .unroll(iv)
        .unroll(ri);
  }

  // A task's and a block's Funcs cover one tile, one block and one or all
  // KV heads; saying so gives them constant sizes (stack, not heap,
  // storage) where bounds inference cannot see through the fused loops.
  const int heads = allHeads ? kvHeads : 1;
  for (Func g : {f.qs, f.limit}) {
    g.bound_extent(ro, 1);
  }
  f.qs.bound_extent(kv, heads);
  for (Func g : {f.dot, f.score, f.bmax, f.e, f.bsum, f.bout}) {
    g.bound_extent(ro, 1).bound_extent(f.b, 1);
  }
  for (Func g : {f.score, f.bmax, f.e, f.bsum, f.bout}) {
    g.bound_extent(kv, heads);
  }
  f.dot.bound_extent(kv, 1);
}

} // namespace

Kernel buildAttention(int64_t heads, int64_t kvHeads, int64_t headDim,
                      const TargetInfo &target, bool f16Cache) {
  return buildAttention(heads, kvHeads, headDim, target,
                        AttentionSchedule::forTarget(target), f16Cache);
}

Kernel buildAttention(int64_t heads, int64_t kvHeads, int64_t headDim,
                      const TargetInfo &target, const AttentionSchedule &sched,
                      bool f16Cache) {
  (void)target;
  //--- Algorithm ------------------------------------------------------------
  const Type cacheType = f16Cache ? Float(16) : Float(32);
  // q: (d, heads, T); k_cache: (kCacheTileRows, d, kv_heads, tiles);
  // v_cache: (d, kCacheTileRows, kv_heads, tiles).
  AttentionInputs in{
      ImageParam(Float(32), 3, "q"), ImageParam(cacheType, 4, "k_cache"),
      ImageParam(cacheType, 4, "v_cache"), Param<int32_t>("pos")};
  in.group = static_cast<int>(heads / kvHeads);
  in.headDim = static_cast<int>(headDim);
  in.keyBlock = sched.keyBlock;
  in.scale = 1.0f / std::sqrt(static_cast<float>(headDim));
  Expr T = in.q.dim(2).extent();
  Expr decode = T == 1;

  // One token: its `group` query rows per KV head are a whole tile, so the
  // only parallelism is across KV heads; the context is split as well
  // (flash decoding), each split merged at the end. Several tokens: tiles
  // of queryTile tokens, one run over the context each.
  Expr nBlocks =
      (in.q.dim(2).extent() + in.pos + (sched.keyBlock - 1)) / sched.keyBlock;
  FlashPass dec =
      defineFlashPass("decode", in, 1, min(sched.decodeSplits, nBlocks));
  FlashPass pre = defineFlashPass("prefill", in, sched.queryTile, 1);

  Var i("i"), h("h"), t("t");
  Func o("attention");
  o(i, h, t) = select(decode, dec.out(i, h, t), pre.out(i, h, t));

  constrainDim(in.q, 0, headDim);
  constrainDim(in.q, 1, heads);
  constrainDim(in.kc, 0, kCacheTileRows);
  constrainDim(in.kc, 1, headDim);
  constrainDim(in.kc, 2, kvHeads);
  constrainDim(in.vc, 0, headDim);
  constrainDim(in.vc, 1, kCacheTileRows);
  constrainDim(in.vc, 2, kvHeads);
  o.output_buffer().dim(0).set_bounds(0, in.headDim);
  o.output_buffer().dim(1).set_bounds(0, static_cast<int>(heads));

  //--- Schedule -------------------------------------------------------------
  // Each pass computes only when selected (bounds inference guards the
  // producers of the branch not taken).
  scheduleFlashPass(dec, in, sched, static_cast<int>(kvHeads), true);
  scheduleFlashPass(pre, in, sched, static_cast<int>(kvHeads), false);
  o.specialize(decode);
  o.vectorize(i, std::min(sched.lanes, in.headDim), TailStrategy::GuardWithIf);

  return {std::string(f16Cache ? "attention_f16_f32" : "attention_f32") + "_h" +
              std::to_string(heads) + "_kv" + std::to_string(kvHeads) + "_d" +
              std::to_string(headDim),
          Pipeline(o),
          {in.q, in.kc, in.vc, in.pos},
          sched.decodePrefetch};
}

Kernel buildStoreCacheTiles(int64_t kvHeads, int64_t headDim, bool keys,
                            const TargetInfo &target, bool f16) {
  //--- Algorithm ------------------------------------------------------------
  // Row p's values go to lane p % kCacheTileRows of tile p / kCacheTileRows;
  // the cache's other rows are left as they are (the pure definition is
  // undefined, so only the scatter writes). Halide's f32 -> f16 cast rounds
  // to nearest even, as ggml's GGML_FP32_TO_FP16 (F16C's vcvtps2ph with
  // rounding mode 0 on x86).
  const int d = static_cast<int>(headDim);
  ImageParam x(Float(32), 2, "x"); // (kv_heads * d, T): rows pos ..
  Param<int32_t> pos("pos");
  const Type type = f16 ? Float(16) : Float(32);
  Var a("a"), b("b"), kv("kv"), tile("tile");
  Func y(keys ? "store_key_tiles" : "store_value_tiles");
  y(a, b, kv, tile) = undef(type);
  RDom r(0, x.dim(1).extent(), "r");
  Expr p = pos + r, lane = p % kCacheTileRows, at = p / kCacheTileRows;
  if (keys) {
    y(lane, b, kv, at) = cast(type, x(kv * d + b, r));
  } else {
    y(a, lane, kv, at) = cast(type, x(kv * d + a, r));
  }
  constrainDim(x, 0, kvHeads * headDim);
  const Var &element = keys ? b : a;
  y.output_buffer()
      .dim(keys ? 0 : 1)
      .set_bounds(0, kCacheTileRows)
      .dim(keys ? 1 : 0)
      .set_bounds(0, d)
      .dim(2)
      .set_bounds(0, static_cast<int>(kvHeads));

  //--- Schedule -------------------------------------------------------------
  // A step's rows are a few KB: one task, vectorized along the reads (key
  // tiles scatter them kCacheTileRows elements apart).
  y.update().vectorize(element, std::min(target.lanes(4), d),
                       TailStrategy::GuardWithIf);

  return {std::string(keys ? "store_key_tiles" : "store_value_tiles") +
              (f16 ? "_f16_f32" : "_f32") + "_kv" + std::to_string(kvHeads) +
              "_d" + std::to_string(headDim),
          Pipeline(y),
          {x, pos}};
}

} // namespace lfm2c
