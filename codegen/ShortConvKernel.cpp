//===- ShortConvKernel.cpp - The gated depthwise short convolution ------===//
//
// The part of lfm2.short_conv between its two projections: v = B * x, a
// causal depthwise convolution of v over the last L tokens (carried across
// calls in the conv state), then gating by C.
//
//===----------------------------------------------------------------------===//
#include "codegen/HalideHelpers.h"
#include "codegen/Kernel.h"

using namespace Halide;

namespace lfm2c {

Kernel buildShortConv(int64_t hidden, int64_t lCache,
                      const TargetInfo &target) {
  const int H = static_cast<int>(hidden);
  const int S = static_cast<int>(lCache - 1); // state rows

  //--- Algorithm ------------------------------------------------------------
  ImageParam z(Float(32), 2, "z");         // (3H, T): B | C | x
  ImageParam state(Float(32), 2, "state"); // (H, L-1), oldest row first
  ImageParam kw(Float(32), 2, "kernel");   // (L, H)
  Var h("h"), s("s"), t("t");
  Expr T = z.dim(1).extent();

  // The conv input over the window: the state's rows, then this batch.
  Func v("conv_input");
  Expr tok = max(s - S, 0);
  v(h, s) =
      select(s < S, state(h, min(s, S - 1)), z(h, tok) * z(2 * H + h, tok));

  // Cross-correlation: tap L-1 multiplies the current token. Summed from
  // tap 0 upward in f32, as ggml_ssm_conv does.
  Expr c = 0.0f;
  for (int m = 0; m <= S; ++m) {
    c = c + kw(m, h) * v(h, t + m);
  }
  Func y("short_conv");
  y(h, t) = z(H + h, t) * c;

  Func next("new_state");
  next(h, s) = v(h, T + s);

  constrainDim(z, 0, 3 * hidden);
  constrainDim(state, 0, hidden);
  constrainDim(state, 1, S);
  constrainDim(kw, 0, lCache);
  constrainDim(kw, 1, hidden);
  y.output_buffer().dim(0).set_bounds(0, H);
  next.output_buffer().dim(0).set_bounds(0, H);
  next.output_buffer().dim(1).set_bounds(0, S);

  //--- Schedule -------------------------------------------------------------
  const int lanes = target.lanes(4);
  v.compute_root().vectorize(h, lanes, TailStrategy::GuardWithIf);
  y.vectorize(h, lanes, TailStrategy::GuardWithIf);
  next.vectorize(h, lanes, TailStrategy::GuardWithIf);

  return {"short_conv_f32_h" + std::to_string(hidden) + "_l" +
              std::to_string(lCache),
          Pipeline({y, next}),
          {z, state, kw}};
}

} // namespace lfm2c
