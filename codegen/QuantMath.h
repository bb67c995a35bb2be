//===- QuantMath.h - Q8_0 / Q4_0 building blocks shared by the kernels ----===//
//
// The pieces every quantized kernel is made of, with llama.cpp's CPU
// numerics:
//
// - Q8_0 quantization of f32 activations in blocks of 32 (as
//   quantize_row_q8_0 on x86): amax = max|x|, stored scale d = fp16(amax/127)
//   read back as f32, q = round-half-even(x * (127/amax)), 0 for a zero block.
// - The dot of a quantized weight row with a Q8_0 activation row: an exact
//   int32 sum per block of 32 products, converted to f32 and scaled by
//   wd * xd, the blocks accumulated in f32.
//
// The integer block sum is laid out for the target's dot-product
// instruction: each of 8 i32 lanes sums `dotFactor` adjacent products per
// step (2: pmaddwd on SSE/AVX2; 4: vpdpbusd on AVX-VNNI / AVX512-VNNI, sdot
// on Arm). vpdpbusd multiplies u8 by i8, so on x86 VNNI the weights are fed
// as unsigned (Q4_0 nibble, Q8_0 value + 128) and the offset times the
// activation sum of the lane is subtracted from the lane, keeping every lane
// sum, and so every block sum, exact.
//
//===----------------------------------------------------------------------===//
#ifndef LFM2C_CODEGEN_QUANTMATH_H
#define LFM2C_CODEGEN_QUANTMATH_H

#include "codegen/Kernel.h"

#include <Halide.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace lfm2c {

constexpr int kQuantBlock = 32; // values per Q8_0 / Q4_0 block

// Schedule knobs of the quantized kernels. forTarget() picks the dot-product
// layout from the target's features; `lfm2c tune` may override the rest.
struct QuantSchedule {
  int rowsPerTask = 32;   // output rows per parallel task
  int tokensPerTile = 16; // tokens sharing each read of a weight row
  // Prefill register tile: outputs of tileRows rows x tileTokens tokens
  // computed together, block by block, so each weight vector is unpacked
  // once for tileTokens tokens and each activation vector loaded once for
  // tileRows rows. Batches of fewer tokens take the one-output schedule.
  int tileRows = 1;
  int tileTokens = 4;
  // The prefill kernel regroups a task's weights so that a vector's lanes
  // are rows (x86 with AVX2 or AVX-512 VNNI; elsewhere it is the decode
  // kernel's algorithm): rows per task (their regrouped weights stay in
  // L2). prefillDot4: its block dots are 4-way dot products into i32 lanes,
  // a row per lane (AVX-512 VNNI's vpdpbusd), not AVX2's i16 pairs.
  bool regroupPrefill = false;
  bool prefillDot4 = false;
  // The register tile: prefillTileRowGroups row vectors (each broadcast
  // activation serves all of them) x prefillTileTokens tokens (each weight
  // vector serves all of them). 3 x 3 measured ~7% ahead of 1 x 4 on the
  // 8B-A1B Q4_0 pp512 (Zen 3, AVX2).
  int prefillRowsPerTask = 32;
  int prefillTileTokens = 3;
  int prefillTileRowGroups = 3;
  int dotFactor = 2; // products summed per i32 lane per step (2 or 4)
  bool unsignedWeights = false; // feed weights as u8 (u8 x i8 dot products)
  int quantLanes = 8;           // f32 lanes of the activation quantizer
  // Q4_0: unpack nibbles inside the dot (per token) rather than once per
  // row into a stack buffer. Only the 2-way layout reads each half block
  // as one dense vector, so only it can unpack inline.
  bool unpackInline = false;
  // Independent f32 accumulators per output (consecutive blocks alternate
  // between them), hiding the latency of the multiply-add chain.
  int accumulators = 2;
  // Register tile of the MoE expert GEMM (buildMoEExpertQuant): outputs of
  // expertTileRows weight rows times expertTileTokens tokens accumulate
  // together in vector registers, so each block of a weight row is loaded
  // and widened once per expertTileTokens tokens. The product of the two
  // accumulators must fit the 16 AVX2 registers beside the operands.
  int expertTileRows = 2;
  int expertTileTokens = 4;
  // Q4_0 without a 4-way int8 dot product (AVX2): the nibbles stay u8, the
  // products are summed pairwise into i16 (vpmaddubsw; exact, a pair is at
  // most 2 * 15 * 128), the pairs into the i32 lanes (vpmaddwd by ones),
  // and 8 * (the lane's activations) is subtracted. No sign extensions and
  // no unpacked copy of the row. Implies the 4-way u8 lane layout; Q8_0
  // ignores it (its u8 values would saturate the i16 pairs).
  bool q4PairSums = false;
  // Rows per group of the row-interleaved Q4_0 layout (QuantLayout.h) the
  // compiler packs Q4_0 projection weights, expert stacks and embedding
  // tables / LM heads in for this target, the rows of
  // one vector of the row-lane kernels (8 for the pair sums of AVX2, 16 for
  // AVX-512 VNNI); 0: rows as they are.
  int q4RowInterleave = 0;
  // The same for Q8_0 (AVX-512 VNNI only: AVX2's pmaddubsw would saturate
  // on its u8 values).
  int q8RowInterleave = 0;
  // The row-lane decode kernels: row vectors per register tile (and
  // parallel task).
  int rowTileGroups = 4;
  // The row-lane decode kernels: software prefetch of each weight stream
  // this many blocks ahead (0: none). The hardware prefetchers alone left
  // a core's misses in flight short of the bandwidth (see Kernel::prefetches).
  int decodePrefetchBlocks = 0;
  // Rows per parallel task of the row-major Q6_K GEMV (the LM head where
  // Q6_K is not interleaved): long runs of
  // contiguous rows per task. 8B-A1B Q4_0 tg128 on the AVX-512 Xeon, the
  // head's call: 32 rows 6.0-6.3 ms, 512: 5.5-5.7, 2048: 5.5-5.7.
  int q6kRowsPerTask = 512;
  // Rows per group of the row-interleaved Q6_K layout (QuantLayout.h) of
  // the tied table, for a 4-way u8 dot with rows as lanes (AVX-512 VNNI:
  // 16); 0: rows as they are. Its GEMV prefetches this many super-blocks
  // ahead (0: none).
  int q6kRowInterleave = 0;
  int q6kPrefetchBlocks = 0;
  // Its sub-blocks unrolled per loop step (of a super-block's 16): the
  // head above 4.1 ms at 4, 4.4 at 16 (spills), 4.3 at 1.
  int q6kSubBlocksUnrolled = 4;
  static QuantSchedule forTarget(const TargetInfo &target);
};

// i32 lanes of one block's integer partial sums (32 values / 4 per lane).
constexpr int kBlockLanes = 8;

// Q8_0 quantization of a row of `length` values x(i) (i in [0, length)),
// one row per value of `vars`. amax (b, vars...), scale (b, vars...) and
// quant (i, vars...) are exposed for scheduling.
struct Q8Quantizer {
  Halide::Func amax;  // f32 max |x| of each block
  Halide::Func scale; // f32 value of the fp16 block scale
  Halide::Func quant; // i8 quants
  Halide::Var i, b;   // element and block variables of quant / scale
  // All three computed at the root, serially (the per-slot activation of
  // the MoE kernels): block maxima, scales, quants `lanes` at a time.
  void computeRoot(int lanes);
};
Q8Quantizer quantizeQ8_0(const std::string &name, int64_t length,
                         const std::vector<Halide::Var> &vars,
                         const std::function<Halide::Expr(Halide::Expr)> &x);

// What a quantized dot reads. Indices are relative to the row; the accessors
// close over the caller's variables.
struct QuantDotInputs {
  QuantFormat format = QuantFormat::Q8_0;
  int64_t length = 0; // K, a multiple of 32
  // Raw weight storage at an index: the i8 value of element i (Q8_0) or the
  // u8 byte i of the row (Q4_0, K/2 bytes).
  std::function<Halide::Expr(Halide::Expr)> weight;
  std::function<Halide::Expr(Halide::Expr)> weightScale; // f32, block b
  std::function<Halide::Expr(Halide::Expr)> act;         // i8, element i
  std::function<Halide::Expr(Halide::Expr)> actScale;    // f32, block b
};

// The nibble (0..15) of element e of block b of a Q4_0 row read through
// `in.weight`, as QuantLayout.h packs it. `lowHalf` is e < 16, passed in so
// a caller can state it in terms that stay uniform across its vectors.
Halide::Expr q4Nibble(const QuantDotInputs &in, Halide::Expr b, Halide::Expr e,
                      Halide::Expr lowHalf);

// result(vars...) = sum over blocks b of f32(int block dot) * (wd_b * xd_b).
// `rowVars` are the variables the weight row depends on (the Q4_0 unpacking
// is computed per row), `actVars` those the activation row depends on (the
// u8 offset correction is computed per activation row).
struct QuantDot {
  Halide::Func result;    // (vars...) f32
  Halide::Func acc;       // (lane, chain, vars...) f32 partial sums
  Halide::Func scale;     // (b, vars...) f32 wd_b * xd_b
  Halide::Func blockSum;  // (lane, b, vars...) i32 per-lane block sums
  Halide::Func unpacked;  // Q4_0 only: (i, rowVars...) weight values
  Halide::Func actOffset; // unsigned only: (lane, b, actVars...) i32
  Halide::Func pairs;     // q4PairSums only: (j, b, vars...) i16 pair sums
  Halide::Func act16;     // 2-way signed only: (i, actVars...) i16
  Halide::Var lane, chain, b, i, j;
  Halide::RDom r;      // blockSum's products: (within lane, sweep)
  Halide::RDom rp, rq; // q4PairSums: products per pair, pairs per lane
  Halide::RDom rb;     // acc's blocks
  QuantSchedule sched;
  int64_t length = 0;
  std::vector<Halide::Var> vars; // the result's

  // acc at `accAt` (where the result is consumed, e.g. per row and token),
  // the block sums at each block of acc, the Q4_0 unpacking at `unpackAt`
  // (a loop over rows, outside any loop over tokens). `tile`: those of the
  // result's vars that span a register tile at accAt, with the tile's
  // extent, unrolled inside each block. actOffset and act16 are left to
  // the caller (compute them once per activation row).
  void schedule(const Halide::LoopLevel &accAt,
                const Halide::LoopLevel &unpackAt,
                const std::vector<std::pair<Halide::Var, int>> &tile = {});
  // The batched form: acc for a whole register tile of (row, token) outputs
  // at `tileAt`, which must cover constant extents of `row` and `token`
  // (the result's variables); each accumulator chain runs over all the
  // blocks with the tile's outputs unrolled inside, so the tile's
  // accumulators stay in registers and a block's weights are shared by the
  // tile's tokens. The summation order of every output is that of
  // schedule(). The consumer must unroll its loops over the tile.
  void scheduleTile(const Halide::LoopLevel &tileAt,
                    const Halide::LoopLevel &unpackAt, const Halide::Var &row,
                    const Halide::Var &token);
};
QuantDot quantDot(const std::string &name, const QuantDotInputs &in,
                  const QuantSchedule &sched,
                  const std::vector<Halide::Var> &vars,
                  const std::vector<Halide::Var> &rowVars,
                  const std::vector<Halide::Var> &actVars);

// The Q4_0 x Q8_0 block dot with rows as vector lanes (AVX2): kRowLanes
// rows x 4 nibbles per pmaddubsw (u8 x i8, pairs summed into i16), the
// block's 8 groups summed in i16 (exact: at most 8 * 2 * 15 * 127), the two
// pair halves into i32 (pmaddwd by ones). addTo gets, as an update,
//   sums(r, b, rg, vars...) += sum over the block's 32 values of
//     nibble(v, r, g, b, rg) * act(b * 32 + 4 g + v)
// (v: value 0..3 of group g 0..7; rows rg * kRowLanes + r); its pure
// definition (e.g. -8 times the block's activation sum) is the caller's.
constexpr int kRowLanes = 8;
struct Q4RowPairSums {
  Halide::Func pairs;     // (h, r, g, b, rg, vars...) i16
  Halide::Func groupSums; // (h, r, b, rg, vars...) i16
  Halide::Var h;
  Halide::RDom rp, rgp, rh;
  // The chain inside `block` (the loop over blocks of the consumer of
  // `sums`, which is computed there): vectorized over (h, r), the register
  // tile's `tile` vars unrolled, the block's 8 groups unrolled.
  void schedule(Halide::Func sums, const Halide::LoopLevel &block,
                Halide::Var r, const std::vector<Halide::Var> &tile);
};
using NibbleFn = std::function<Halide::Expr(Halide::Expr v, Halide::Expr g)>;
Q4RowPairSums addQ4RowPairSums(
    const std::string &name, Halide::Func sums, const NibbleFn &nibble,
    const std::function<Halide::Expr(Halide::Expr)> &act, Halide::Var r,
    Halide::Var b, Halide::Var rg, const std::vector<Halide::Var> &vars);
// The f32 dots of Q4_0 or Q8_0 rows row-interleaved by R (the schedule's
// q4RowInterleave / q8RowInterleave) with Q8_0 activations, rows as vector
// lanes: acc(r, rg, vars...) is the dot of row rg * R + r, the blocks'
// exact i32 sums (sums) converted and scaled by wd * xd in block order.
// byte(i, rg): byte i of row group rg; scale(j, rg): its fp16 scale j
// (block j / R, row j % R); offset(b): rowLaneOffset's. The weights are
// fed as u8 (Q4_0 nibble, Q8_0 value + 128), their block sums in the
// schedule's form: pair sums (Q4_0 on AVX2, R = 8) or u8 x i8 4-way dot
// products (AVX-512 VNNI's vpdpbusd, R = 16).
struct RowLaneDot {
  Halide::Func sums; // (r, b, rg, vars...) i32
  Halide::Func acc;  // (r, rg, vars...) f32
  Q4RowPairSums ps;  // pair sums
  Halide::RDom rv;   // 4-way dots: (value in group, group)
  Halide::Var r, b, rg;
  int rows = kRowLanes;
  bool pairSums = true;
  int prefetchBlocks = 0; // the schedule's decodePrefetchBlocks
  // The weights' quants and scales, prefetched ahead when the schedule
  // says so (their Halide parameters; set by the caller).
  std::vector<Halide::Parameter> weights;
  // acc at `at`, a register tile of `tileGroups` row groups (the
  // consumer's unrolled row vectors), all blocks inside.
  void schedule(const Halide::LoopLevel &at, int tileGroups);
  // Whether schedule() prefetches (the kernel's Kernel::prefetches).
  bool prefetches() const { return prefetchBlocks > 0 && !weights.empty(); }
};
using ExprFn = std::function<Halide::Expr(Halide::Expr)>;
using Expr2Fn = std::function<Halide::Expr(Halide::Expr, Halide::Expr)>;
RowLaneDot rowLaneDot(const std::string &name, QuantFormat format,
                      int64_t length, const QuantSchedule &sched,
                      const Expr2Fn &byte, const Expr2Fn &scale,
                      const ExprFn &act, const ExprFn &actScale,
                      const ExprFn &offset,
                      const std::vector<Halide::Var> &vars);
// Schedules the update of a row-lane 4-way u8 x i8 dot (vpdpbusd): the 4
// values of a lane (`value`) and the rows `r` vectorized, the register
// tile's row groups `rg` and the dot's steps unrolled.
void scheduleDot4(Halide::Stage s, const Halide::RVar &value,
                  const Halide::Var &r, const Halide::Var &rg,
                  const Halide::RVar &step);
// Rows a group of row-interleaved `format` weights under `sched` (0: none).
int rowInterleave(const QuantSchedule &sched, QuantFormat format);
// Throws Halide::CompileError unless the row-lane kernels of `sched` can read
// weights packed in groups of `interleave` rows (QuantLayout.h): Q4_0,
// Q8_0 or Q6_K, a row-lane form (pair sums or 4-way u8 dots),
// rowInterleave(sched, format) rows a group, each count in `rows` a multiple of
// it. `what` names the weights.
// (`format` empty: float weights.)
void requireRowInterleave(const std::string &what,
                          std::optional<QuantFormat> format,
                          const QuantSchedule &sched, int interleave,
                          const std::vector<int64_t> &rows);
// Schedules y(o, t) for rowLaneDots: a parallel task per register tile of
// tileGroups row vectors (`rows` rows, vectorized; clamped to the n rows,
// the last tile shifted inwards), its tokens inside. Returns the tile;
// compute the dots at LoopLevel(y, t).
int scheduleRowTiles(Halide::Func y, Halide::Var o, Halide::Var t, int64_t n,
                     int rows, int tileGroups);
// offset(b, vars...) = -c * (sum of act(32 b + i), i < 32), c the u8
// weights' offset (Q4_0: 8, Q8_0: 128), for rowLaneDot; compute it once per
// activation row (vectorizeOffset).
Halide::Func rowLaneOffset(const std::string &name, QuantFormat format,
                           const ExprFn &act,
                           const std::vector<Halide::Var> &vars);
void vectorizeOffset(Halide::Func offset);

// A byte-level accessor of Q4_0 weights row-interleaved by `rows`
// (QuantLayout.h): byte(i, rg) is byte i of row group rg. Returns the
// nibble of value v of group g of block b, row r of the group.
// q8InterleavedValue: the same for Q8_0, the value + 128 as u8.
Halide::Expr q4InterleavedNibble(
    const std::function<Halide::Expr(Halide::Expr, Halide::Expr)> &byte,
    int rows, Halide::Expr v, Halide::Expr r, Halide::Expr g, Halide::Expr b,
    Halide::Expr rg);
Halide::Expr q8InterleavedValue(
    const std::function<Halide::Expr(Halide::Expr, Halide::Expr)> &byte,
    int rows, Halide::Expr v, Halide::Expr r, Halide::Expr g, Halide::Expr b,
    Halide::Expr rg);

// The builders of Kernel.h with explicit schedules (Kernel.h's use
// QuantSchedule::forTarget).
Kernel buildQuantizeQ8_0(int64_t k, const TargetInfo &target,
                         const QuantSchedule &sched);
Kernel buildLinearQuant(QuantFormat format, int64_t k, int64_t n,
                        const TargetInfo &target, const QuantSchedule &sched,
                        int interleave = 0);
// interleave: 0, or R = rowInterleave(sched, format) for weights
// row-interleaved as QuantLayout.h says (then wq is (R * K/2 or R * K, N/R)
// and wd (K/32 * R, N/R)); requireRowInterleave states what else it needs.
Kernel buildLinearQuantPrefill(QuantFormat format, int64_t k, int64_t n,
                               const TargetInfo &target,
                               const QuantSchedule &sched, int interleave = 0);
Kernel buildMoEFFNQuant(QuantFormat format, int64_t hidden, int64_t expertFFN,
                        int64_t experts, int64_t topK, const TargetInfo &target,
                        const QuantSchedule &sched, int interleave = 0);
Kernel buildMoEExpertQuant(QuantFormat format, int64_t hidden,
                           int64_t expertFFN, const TargetInfo &target,
                           const QuantSchedule &sched);

// A fused projection (ProjectionKernels.cpp): one output per entry of
// `rows`, each x W_i^T; or, with `swiglu`, one output silu(x G^T) * (x U^T)
// (rows = {F}); with `residual`, one output x W^T + r. Weights are f32 or,
// with `format`, packed as for buildLinearQuant.
struct ProjectionSpec {
  std::optional<QuantFormat> format;
  int64_t k = 0;
  std::vector<int64_t> rows;
  bool swiglu = false;
  bool residual = false;
  bool f16Weights = false; // f16 instead of f32 weights (no `format`)
  int interleave = 0;      // rows interleaved in groups (QuantLayout.h)
  std::string name() const;
};
// Inputs: x [T, K] f32 (or xq [T, K] i8, xd [T, K/32]); per weight w [N, K]
// (or wq, wd); for SwiGLU gate then up; then the residual [T, N]. Outputs:
// one [T, N_i] per row count.
Kernel buildProjection(const ProjectionSpec &spec, const TargetInfo &target);
// x [T, K], w [K] -> q [T, K] i8, d [T, K/32]: the rms_norm kernel's output
// quantized as buildQuantizeQ8_0 does, without storing the f32 rows.
Kernel buildRmsNormQuantizeQ8_0(int64_t k, float eps, const TargetInfo &target);

// Q6_K weights with Q8_K activations (QuantQ6KKernel.cpp).
Kernel buildQuantizeQ8_K(int64_t k, const TargetInfo &target,
                         const QuantSchedule &sched);
Kernel buildLinearQ6_K(int64_t k, int64_t n, const TargetInfo &target,
                       const QuantSchedule &sched);
// Q6_K rows interleaved by sched.q6kRowInterleave (QuantLayout.h): wq
// (K/256 * 208R, N/R), wd (K/256 * R, N/R).
Kernel buildLinearQ6_KRows(int64_t k, int64_t n, const QuantSchedule &sched);
// interleave: 0, or the rows a group of a table stored as for
// buildLinearQ6_KRows (quants (H/256 * 208R, V/R), scales (H/256 * R, V/R)).
Kernel buildEmbeddingQ6_K(int64_t vocab, int64_t hidden,
                          const TargetInfo &target, int interleave = 0);

// "q8_0" / "q4_0" / "q6_k", for kernel names.
std::string quantFormatName(QuantFormat format);

} // namespace lfm2c

#endif // LFM2C_CODEGEN_QUANTMATH_H
