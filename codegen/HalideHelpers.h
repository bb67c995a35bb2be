//===- HalideHelpers.h - Pieces shared by the kernel builders -----------===//
#ifndef LFM2C_CODEGEN_HALIDEHELPERS_H
#define LFM2C_CODEGEN_HALIDEHELPERS_H

#include <Halide.h>

#include <functional>
#include <string>
#include <vector>

namespace lfm2c {

// A dot product of length `length` evaluated as `lanes` interleaved partial
// sums, so the inner loop is a vector multiply-add over contiguous memory
// whatever the output layout. `partial` is exposed for scheduling: it is
// indexed (lane, vars...) and must be computed at some loop of `result` and
// vectorized over its first dimension.
struct LaneDot {
  Halide::Func result;
  Halide::Func partial;
  Halide::Var lane;
  int lanes = 1;
  // Schedules the partial sums inside `consumer` at `at`, vectorized.
  void computeAt(Halide::Func consumer, Halide::Var at);
};

LaneDot laneDot(const std::string &name, int64_t length, int lanes,
                const std::vector<Halide::Var> &vars,
                const std::function<Halide::Expr(Halide::Expr)> &term);

// Declares that dimension `dim` of a parameter has the compile-time extent
// `extent` and starts at 0, so the kernel checks it and the code can use it.
void constrainDim(Halide::OutputImageParam p, int dim, int64_t extent);

// The element type of f32 or f16 weights.
inline Halide::Type weightType(bool f16) {
  return f16 ? Halide::Float(16) : Halide::Float(32);
}

// One term of a dot product of a weight with an activation, as llama.cpp's
// CPU path computes it: with f16 weights the activations are rounded to f16
// first (ggml converts src1 to the weight type), the product in f32.
Halide::Expr weightTimesAct(Halide::Expr w, Halide::Expr x);

// SiLU exactly as llama.cpp's f32 path writes it: x / (1 + exp(-x)).
Halide::Expr silu(Halide::Expr x);

} // namespace lfm2c

#endif // LFM2C_CODEGEN_HALIDEHELPERS_H
