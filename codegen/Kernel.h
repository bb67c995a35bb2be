//===- Kernel.h - A Halide pipeline ready to be compiled ahead of time ---===//
//
// Each lfm2 op is lowered to one or more kernels. A kernel is a Halide
// pipeline specialised to the op's static shapes (hidden size, head counts,
// expert counts are constants baked into the code; only the token count and
// positions stay dynamic), plus its argument list in calling order. Builders
// live in one file per op family; their schedules take named parameters so a
// tuner can later replace the defaults derived from the target.
//
//===----------------------------------------------------------------------===//
#ifndef LFM2C_CODEGEN_KERNEL_H
#define LFM2C_CODEGEN_KERNEL_H

#include "codegen/KernelRequest.h"
#include "targets/TargetInfo.h"

#include <Halide.h>

#include <string>
#include <vector>

namespace lfm2c {

struct Kernel {
  // Unique symbol name, encoding the op, the types and the shapes.
  std::string name;
  Halide::Pipeline pipeline;
  // Inputs in calling order; the pipeline's outputs follow them.
  std::vector<Halide::Argument> args;
  // The schedule prefetches (Func::prefetch). Halide 21 lowers that to
  // non-temporal prefetches (x86 prefetchnta), which halved a decode
  // GEMV's bandwidth; compileKernelObject makes them temporal ones.
  bool prefetches = false;
};

// Schedule knobs shared by the reduction kernels. Defaults come from the
// target (lanes from its vector width); `lfm2c tune` will override them.
struct ReductionSchedule {
  int lanes = 8;       // vector width of the reduction, in f32 lanes
  int rowsPerTask = 8; // output rows per parallel task
  // The router's register tile (buildMoERoute): logits of routeExperts
  // experts x routeTokens tokens accumulate together, one vector each, so
  // their product plus the operands must fit the vector registers.
  int routeExperts = 4;
  int routeTokens = 3;
  static ReductionSchedule forTarget(const TargetInfo &target) {
    ReductionSchedule s;
    s.lanes = target.lanes(4);
    return s;
  }
};

// Schedule knobs of causal attention (buildAttention). Keys are processed in
// blocks whose softmax is merged into a running one (online softmax), query
// rows in tiles that share each K and V row read.
struct AttentionSchedule {
  int lanes = 8;        // f32 vector lanes
  int keyBlock = 128;   // keys per block: its K and V rows stay in L1/L2
  int decodeSplits = 4; // context splits per KV head for a single token
  int queryTile = 8;    // tokens per query tile when T > 1
  int accumulators = 8; // vector accumulators of a register tile
  int valueRows = 2;    // query rows per PV register tile
  // Decode QK^T's register tile: the `group` query rows x as many vectors
  // of keys as fit this many accumulators (each key vector then shares its
  // load and widening among more rows, each broadcast q element among more
  // keys).
  int decodeAccumulators = 8;
  // Decode: each KV head's K and V of a tile prefetched while the head
  // before is computed (the kernel is then compiled with temporal
  // prefetches, see Kernel::prefetches). The hardware prefetchers alone
  // fall behind a loop doing this much arithmetic a line: 8B-A1B Q4_0
  // tg128@4096 with an f16 cache (AVX-512 Xeon), 464 and 425 us an
  // attention call against 485 and 491 without.
  bool decodePrefetch = true;
  static AttentionSchedule forTarget(const TargetInfo &target) {
    AttentionSchedule s;
    s.lanes = target.lanes(4);
    // Half the registers: the other half holds the loaded keys and the
    // broadcast q elements.
    s.decodeAccumulators = target.vectorRegisters() / 2;
    return s;
  }
};

//--- Builders. Buffer shapes are given in logical row-major order [outer,
//--- ..., inner]; Halide sees them innermost first.

// tokens [T] i32, table [V, H] -> out [T, H]
Kernel buildEmbedding(int64_t vocab, int64_t hidden, const TargetInfo &target,
                      bool f16Weights = false);
// x [T, N], w [N] -> y [T, N]
Kernel buildRmsNorm(int64_t n, float eps, const TargetInfo &target);
// x [T, K], w [N, K] -> y [T, N]: y = x w^T
Kernel buildLinear(int64_t k, int64_t n, const TargetInfo &target,
                   bool f16Weights = false);
// a [T, N], b [T, N] -> y [T, N]
Kernel buildAdd(int64_t n, const TargetInfo &target);
// gate [T, N], up [T, N] -> y [T, N]: silu(gate) * up
Kernel buildSwiGLU(int64_t n, const TargetInfo &target);
// z [T, 3H] (B, C, x), state [L-1, H], kernel [H, L] -> y [T, H],
// new_state [L-1, H]
Kernel buildShortConv(int64_t hidden, int64_t lCache, const TargetInfo &target);
// x [T, heads, d], w [d], pos -> y [T, heads, d]: per-head RMSNorm then NEOX
// RoPE at positions pos .. pos+T-1
Kernel buildQKNormRope(int64_t heads, int64_t headDim, float eps, float theta,
                       const TargetInfo &target);
// q [T, nh, d], kcache [tiles, nkv, d, kCacheTileRows], vcache [tiles, nkv,
// kCacheTileRows, d] (tiles: C / kCacheTileRows rounded up), pos ->
// o [T, nh, d]:
// causal softmax attention over cache rows 0 .. pos+T-1; the caches are f32,
// or f16 with `f16Cache`.
Kernel buildAttention(int64_t heads, int64_t kvHeads, int64_t headDim,
                      const TargetInfo &target, bool f16Cache = false);
// The same with explicit schedule knobs (tests vary them; the kernel's name
// and results do not depend on them beyond rounding).
Kernel buildAttention(int64_t heads, int64_t kvHeads, int64_t headDim,
                      const TargetInfo &target, const AttentionSchedule &sched,
                      bool f16Cache = false);
// x [T, kvHeads * headDim] f32, pos -> the rows of positions pos .. pos+T-1
// written into the tiles of a key cache [tiles, kvHeads, headDim,
// kCacheTileRows] (`keys`) or a value cache [tiles, kvHeads, kCacheTileRows,
// headDim], as f32 or rounded to f16 with `f16`; the cache's other rows are
// untouched.
Kernel buildStoreCacheTiles(int64_t kvHeads, int64_t headDim, bool keys,
                            const TargetInfo &target, bool f16);
// x [T, H], router [E, H], bias [E] -> weights [T, K], indices [T, K]
Kernel buildMoERoute(int64_t hidden, int64_t experts, int64_t topK,
                     const TargetInfo &target);
// x [T, H], weights [T, K], indices [T, K], gate [E, F, H], up [E, F, H],
// down [E, H, F] -> y [T, H]
Kernel buildMoEFFN(int64_t hidden, int64_t expertFFN, int64_t experts,
                   int64_t topK, const TargetInfo &target,
                   bool f16Weights = false);
// rows [R, H], row_of [T, K] i32, weights [T, K] -> y [T, H]:
// y[t] = rows[row_of[t, 0]] * weights[t, 0] + ... in slot order. The
// experts' outputs of a batch grouped by expert (buildMoEExpertQuant), back
// in token order.
Kernel buildMoECombine(int64_t hidden, int64_t topK, const TargetInfo &target);

//--- Quantized kernels (Q8_0 / Q4_0 / Q6_K weights, llama.cpp numerics).
//--- Weights are packed at compile time (codegen/QuantLayout.h): quants and
//--- per-block scales in separate arrays (Q8_0 / Q4_0: f16, the file's
//--- bits; Q6_K: f32, exactly the file's fp16 values), rows of K values,
//--- blocks of 32 along K (Q6_K: super-blocks of 256, their 16 int8
//--- sub-block scales inside the quants). K must be a multiple of the
//--- block.

enum class QuantFormat { Q8_0, Q4_0, Q6_K };

// x [T, K] f32 -> q [T, K] i8, d [T, K/32] f32: activations quantized as
// llama.cpp's quantize_row_q8_0 does (d = fp16(amax/127), q =
// round-half-even(x * 127/amax)).
Kernel buildQuantizeQ8_0(int64_t k, const TargetInfo &target);
// x [T, K] f32 -> q [T, K] i8, d [T, K/256] f32: activations quantized to
// Q8_K as llama.cpp's quantize_row_q8_K_ref does (for Q6_K weights).
Kernel buildQuantizeQ8_K(int64_t k, const TargetInfo &target);
// xq [T, K] i8, xd [T, K/32] f32, wq, wd [N, K/32] f16 -> y [T, N]:
// y = sum over blocks of float(int dot of the block) * (wd * xd).
// wq is [N, K] i8 for Q8_0; [N, K/2] u8 for Q4_0, nibbles laid out as
// codegen/QuantLayout.h says (value nibble - 8). Q6_K: xq, xd from
// buildQuantizeQ8_K (xd [T, K/256]), wq [N, K/256 * 208] u8, wd [N, K/256];
// interleaved by R: wq [N/R, K/256 * 208R], wd [N/R, K/256 * R].
Kernel buildLinearQuant(QuantFormat format, int64_t k, int64_t n,
                        const TargetInfo &target, int interleave = 0);
// As buildLinearQuant, for batches of many tokens (prefill): same arguments
// and result, up to f32 rounding (on x86 without AVX-512 each row's block
// is summed before its conversion; elsewhere it is buildLinearQuant's
// algorithm). Q8_0 / Q4_0. interleave (R, for a format the target's
// QuantSchedule interleaves: rowInterleave(sched, format), which it must
// equal): the weights are row-interleaved (QuantLayout.h), wq [N/R, R *
// K/2] (Q4_0) or [N/R, R * K] (Q8_0), wd [N/R, K/32 * R].
Kernel buildLinearQuantPrefill(QuantFormat format, int64_t k, int64_t n,
                               const TargetInfo &target, int interleave = 0);
// tokens [T] i32, table quants [V, H] (Q8_0 i8) or [V, H/2] (Q4_0 u8),
// scales [V, H/32] f16 -> out [T, H]: rows of a quantized table, expanded.
// Q6_K: quants [V, H/256 * 208] u8, scales [V, H/256]. interleave R
// (rowInterleave(sched, format)): the table row-interleaved as the tied
// head's row-lane GEMV reads it (QuantLayout.h): quants [V/R, R * H] (Q8_0),
// [V/R, R * H/2] (Q4_0) or [V/R, H/256 * 208R] (Q6_K), scales [V/R, H/32 *
// R] or [V/R, H/256 * R].
Kernel buildEmbeddingQuant(QuantFormat format, int64_t vocab, int64_t hidden,
                           const TargetInfo &target, int interleave = 0);
// The MoE expert FFN with quantized experts. xq [T, H] i8, xd [T, H/32],
// weights [T, K], indices [T, K], gate_q/up_q [E, F, H or H/2],
// gate_d/up_d [E, F, H/32] f16, down_q [E, H, F or F/2], down_d
// [E, H, F/32] f16 -> y [T, H]. The SwiGLU activation is quantized to Q8_0
// before the down projection, as llama.cpp does. interleave: as for
// buildLinearQuantPrefill, the three stacks row-interleaved: gate_q/up_q [E,
// F/R, R * H/2 or R * H], gate_d/up_d [E, F/R, H/32 * R], down_q [E, H/R,
// R * F/2 or R * F], down_d [E, H/R, F/32 * R].
Kernel buildMoEFFNQuant(QuantFormat format, int64_t hidden, int64_t expertFFN,
                        int64_t experts, int64_t topK, const TargetInfo &target,
                        int interleave = 0);
// One expert's FFN over a batch of n token rows (MoE prefill, the tokens
// grouped by expert), a GEMM reading the expert's weights once. xq [n, H]
// i8, xd [n, H/32], gate_q/up_q [F, H or H/2], gate_d/up_d [F, H/32],
// down_q [H, F or F/2], down_d [H, F/32] -> y [n, H]: per row the dots of
// buildMoEFFNQuant for that expert, before the routing weight.
Kernel buildMoEExpertQuant(QuantFormat format, int64_t hidden,
                           int64_t expertFFN, const TargetInfo &target);

} // namespace lfm2c

#endif // LFM2C_CODEGEN_KERNEL_H
