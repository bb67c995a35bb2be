//===- KernelRequest.h - Which kernel a program calls, without Halide ---===//
//
// The program emitter (MLIR side, built without RTTI) decides which kernels
// a model needs and how they are called; the kernel library (Halide side)
// builds and compiles them. A KernelRequest is what passes between the two:
// the op family and its static shape parameters.
//
//===----------------------------------------------------------------------===//
#ifndef LFM2C_CODEGEN_KERNELREQUEST_H
#define LFM2C_CODEGEN_KERNELREQUEST_H

#include "runtime/Status.h"
#include "targets/TargetInfo.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace lfm2c {

// Kinds reading f32 weights take an optional trailing 1 in `ints` for f16
// weights (Embedding, Linear, MoEFFN), Attention and StoreCacheTiles one for
// f16 KV caches; Projection uses format kF16WeightsCode.
enum class KernelKind {
  Embedding,       // ints: vocab, hidden[, f16]
  RmsNorm,         // ints: n;  floats: eps
  Linear,          // ints: k, n[, f16]
  Add,             // ints: n
  SwiGLU,          // ints: n
  ShortConv,       // ints: hidden, lCache
  QKNormRope,      // ints: heads, headDim; floats: eps, theta
  Attention,       // ints: heads, kvHeads, headDim[, f16 caches]
  StoreCacheTiles, // ints: kvHeads, headDim, keys (1) or values (0)[, f16]
  MoERoute,        // ints: hidden, experts, topK
  MoEFFN,          // ints: hidden, expertFFN, experts, topK[, f16]
  MoECombine,      // ints: hidden, topK
  // Quantized weights; ints[0] is the format (0: Q8_0, 1: Q4_0, 2: Q6_K).
  QuantizeQ8_0,   // ints: k
  LinearQuant,    // ints: format, k, n [, interleaved rows per group]
  EmbeddingQuant, // ints: format, vocab, hidden [, interleaved rows per group]
  MoEFFNQuant,    // ints: format, hidden, expertFFN, experts, topK (no Q6_K)
                  // [, rows per group of row-interleaved stacks]
  MoEExpertQuant, // ints: format, hidden, expertFFN
  QuantizeQ8_K,   // ints: k (the activations of Q6_K weights)
  LinearQuantPrefill, // ints: format, k, n [, interleaved rows per group]
                      // (batches of kPrefillMinTokens+; interleaved: any)
  // Fused kernels of the fusion passes.
  Projection, // ints: format (-1: f32, -2: f16), k, flags, interleave, rows...
              //   (interleave: rows a group of row-interleaved weights,
              //   0: none)
  RmsNormQuantizeQ8_0, // ints: k;  floats: eps
};

// The KV caches of causal attention are stored in tiles of this many rows
// (positions), a tile's KV heads outermost: each key tile transposed
// ([kv_heads][head_dim][kCacheTileRows]), so a decode step's QK^T puts keys
// in vector lanes and needs no lane reductions; each value tile as
// [kv_heads][kCacheTileRows][head_dim], so a KV head's PV over a tile reads
// one contiguous run. Cache rows are allocated in whole tiles.
constexpr int kCacheTileRows = 16;

constexpr int64_t kF16WeightsCode = -2;

// KernelKind::Projection flags.
constexpr int64_t kProjectionSwiGLU = 1;   // rows {F}; gate and up weights
constexpr int64_t kProjectionResidual = 2; // one output, plus a residual
// Where a Projection request's row counts start.
constexpr size_t kProjectionRowsAt = 4;

// Programs call the LinearQuantPrefill kernel instead of LinearQuant for
// Q8_0 / Q4_0 weights of a multiple of 8 rows when a batch has at least
// this many tokens: it regroups a task's weights first, which pays off from
// here.
constexpr int64_t kPrefillMinTokens = 16;

// Rows per group in which projection weights of a format (its request code,
// ints[0] above; MoE expert stacks and the weights of linear ops) are
// row-interleaved for `target`
// (codegen/QuantLayout.h), 0 for rows as they are: the weights writer packs
// them so, and their kernels are requested with it.
int rowInterleaveFor(const TargetInfo &target, int64_t formatCode);

enum class KernelArg { Buffer, Int32 };

struct KernelRequest {
  KernelKind kind;
  std::vector<int64_t> ints;
  std::vector<float> floats;

  // The exported symbol: op, types and shapes (e.g. linear_f32_k256_n768).
  std::string symbol() const;
  // Inputs in calling order, then one Buffer per output.
  std::vector<KernelArg> signature() const;
  bool operator==(const KernelRequest &o) const {
    return kind == o.kind && ints == o.ints && floats == o.floats;
  }
};

struct CompiledKernels {
  std::vector<std::string> objectFiles; // kernels, then the Halide runtime
};

// Builds every requested kernel for `target` and writes one object file per
// kernel plus the Halide runtime into `dir` (compileKernelObject; `driver`,
// the target's C++ driver, assembles the kernels that prefetch). With
// `artifacts`, also writes each kernel's lowered statement (.stmt) and
// assembly (.s). `progress` is called before each kernel.
StatusOr<CompiledKernels> compileKernels(
    const std::vector<KernelRequest> &requests, const TargetInfo &target,
    const std::string &dir, const std::string &driver, bool artifacts,
    const std::function<void(size_t, size_t, const std::string &)> &progress);

} // namespace lfm2c

#endif // LFM2C_CODEGEN_KERNELREQUEST_H
