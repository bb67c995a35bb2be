//===- HalideHelpers.cpp --------------------------------------------------===//
#include "codegen/HalideHelpers.h"

using namespace Halide;

namespace lfm2c {

LaneDot laneDot(const std::string &name, int64_t length, int lanes,
                const std::vector<Var> &vars,
                const std::function<Expr(Expr)> &term) {
  // Short reductions (head norms of 64, expert rows of 32) get fewer lanes
  // rather than a vector loop that never runs.
  while (lanes > 1 && lanes > length) {
    lanes /= 2;
  }
  LaneDot d;
  d.lanes = lanes;
  d.lane = Var(name + "_lane");
  d.partial = Func(name + "_partial");
  d.result = Func(name);

  std::vector<Expr> pargs = {d.lane};
  pargs.insert(pargs.end(), vars.begin(), vars.end());
  const int64_t body = length / lanes * lanes;
  d.partial(pargs) = 0.0f;
  if (body > 0) {
    RDom r(0, static_cast<int>(body / lanes), name + "_r");
    d.partial(pargs) += term(r * lanes + d.lane);
  }

  std::vector<Expr> vargs(vars.begin(), vars.end());
  Expr total;
  for (int l = 0; l < lanes; ++l) {
    std::vector<Expr> a = vargs;
    a.insert(a.begin(), Expr(l));
    total = l == 0 ? d.partial(a) : total + d.partial(a);
  }
  if (body < length) {
    RDom tail(static_cast<int>(body), static_cast<int>(length - body),
              name + "_tail");
    total += sum(term(tail));
  }
  d.result(vargs) = total;
  return d;
}

void LaneDot::computeAt(Func consumer, Var at) {
  partial.compute_at(consumer, at).vectorize(lane);
  partial.update().vectorize(lane);
}

void constrainDim(OutputImageParam p, int dim, int64_t extent) {
  p.dim(dim).set_bounds(0, static_cast<int>(extent));
}

Expr silu(Expr x) { return x / (1.0f + exp(-x)); }

Halide::Expr weightTimesAct(Halide::Expr w, Halide::Expr x) {
  if (w.type().bits() == 16) {
    return Halide::cast<float>(w) *
           Halide::cast<float>(Halide::cast(Halide::Float(16), x));
  }
  return w * x;
}

} // namespace lfm2c
