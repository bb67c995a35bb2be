//===- KernelLibrary.cpp - From kernel requests to object files ---------===//
#include "codegen/Kernel.h"
#include "codegen/KernelObject.h"
#include "codegen/KernelRequest.h"
#include "codegen/QuantMath.h"

#include <sstream>

namespace lfm2c {

namespace {

std::string join(const char *op,
                 const std::vector<std::pair<const char *, int64_t>> &dims) {
  std::string s = op;
  for (const auto &[tag, v] : dims) {
    s += "_" + std::string(tag) + std::to_string(v);
  }
  return s;
}

QuantFormat quantFormat(int64_t code) {
  return code == 2   ? QuantFormat::Q6_K
         : code == 1 ? QuantFormat::Q4_0
                     : QuantFormat::Q8_0;
}

std::string quantName(int64_t code) {
  return quantFormatName(quantFormat(code));
}

// Whether ints[at], an optional trailing flag, asks for f16 weights.
bool f16(const KernelRequest &r, size_t at) {
  return r.ints.size() > at && r.ints[at] != 0;
}

// ints[at], an optional trailing count: rows per group of row-interleaved
// weights (0: none).
int interleave(const KernelRequest &r, size_t at) {
  return r.ints.size() > at ? static_cast<int>(r.ints[at]) : 0;
}

// The symbol's format part: q4_0, or q4_0xR for weights row-interleaved by R.
std::string layoutName(const KernelRequest &r, size_t at) {
  const int rows = interleave(r, at);
  return quantName(r.ints[0]) + (rows ? "x" + std::to_string(rows) : "");
}

ProjectionSpec projectionSpec(const KernelRequest &r) {
  ProjectionSpec spec;
  if (r.ints[0] >= 0) {
    spec.format = quantFormat(r.ints[0]);
  }
  spec.f16Weights = r.ints[0] == kF16WeightsCode;
  spec.k = r.ints[1];
  spec.swiglu = (r.ints[2] & kProjectionSwiGLU) != 0;
  spec.residual = (r.ints[2] & kProjectionResidual) != 0;
  spec.interleave = static_cast<int>(r.ints[3]);
  spec.rows.assign(r.ints.begin() + kProjectionRowsAt, r.ints.end());
  return spec;
}

Kernel build(const KernelRequest &r, const TargetInfo &t) {
  const auto &i = r.ints;
  switch (r.kind) {
  case KernelKind::Embedding:
    return buildEmbedding(i[0], i[1], t, f16(r, 2));
  case KernelKind::RmsNorm:
    return buildRmsNorm(i[0], r.floats[0], t);
  case KernelKind::Linear:
    return buildLinear(i[0], i[1], t, f16(r, 2));
  case KernelKind::Add:
    return buildAdd(i[0], t);
  case KernelKind::SwiGLU:
    return buildSwiGLU(i[0], t);
  case KernelKind::ShortConv:
    return buildShortConv(i[0], i[1], t);
  case KernelKind::QKNormRope:
    return buildQKNormRope(i[0], i[1], r.floats[0], r.floats[1], t);
  case KernelKind::Attention:
    return buildAttention(i[0], i[1], i[2], t, f16(r, 3));
  case KernelKind::StoreCacheTiles:
    return buildStoreCacheTiles(i[0], i[1], i[2] != 0, t, f16(r, 3));
  case KernelKind::MoERoute:
    return buildMoERoute(i[0], i[1], i[2], t);
  case KernelKind::MoEFFN:
    return buildMoEFFN(i[0], i[1], i[2], i[3], t, f16(r, 4));
  case KernelKind::MoECombine:
    return buildMoECombine(i[0], i[1], t);
  case KernelKind::QuantizeQ8_0:
    return buildQuantizeQ8_0(i[0], t);
  case KernelKind::LinearQuant:
    return buildLinearQuant(quantFormat(i[0]), i[1], i[2], t, interleave(r, 3));
  case KernelKind::EmbeddingQuant:
    return buildEmbeddingQuant(quantFormat(i[0]), i[1], i[2], t,
                               interleave(r, 3));
  case KernelKind::MoEFFNQuant:
    return buildMoEFFNQuant(quantFormat(i[0]), i[1], i[2], i[3], i[4], t,
                            interleave(r, 5));
  case KernelKind::Projection:
    return buildProjection(projectionSpec(r), t);
  case KernelKind::RmsNormQuantizeQ8_0:
    return buildRmsNormQuantizeQ8_0(i[0], r.floats[0], t);
  case KernelKind::MoEExpertQuant:
    return buildMoEExpertQuant(quantFormat(i[0]), i[1], i[2], t);
  case KernelKind::QuantizeQ8_K:
    return buildQuantizeQ8_K(i[0], t);
  case KernelKind::LinearQuantPrefill:
    return buildLinearQuantPrefill(quantFormat(i[0]), i[1], i[2], t,
                                   interleave(r, 3));
  }
  return {};
}

} // namespace

int rowInterleaveFor(const TargetInfo &target, int64_t formatCode) {
  return formatCode < 0 ? 0
                        : rowInterleave(QuantSchedule::forTarget(target),
                                        quantFormat(formatCode));
}

std::string KernelRequest::symbol() const {
  const auto &i = ints;
  switch (kind) {
  case KernelKind::Embedding:
    return join(f16(*this, 2) ? "embedding_f16_f32" : "embedding_f32",
                {{"v", i[0]}, {"h", i[1]}});
  case KernelKind::RmsNorm:
    // eps is baked in too; two norms of one width but different eps get a
    // distinguishing suffix from the program emitter.
    return join("rms_norm_f32", {{"n", i[0]}});
  case KernelKind::Linear:
    return join(f16(*this, 2) ? "linear_f16_f32" : "linear_f32",
                {{"k", i[0]}, {"n", i[1]}});
  case KernelKind::Add:
    return join("add_f32", {{"n", i[0]}});
  case KernelKind::SwiGLU:
    return join("swiglu_f32", {{"n", i[0]}});
  case KernelKind::ShortConv:
    return join("short_conv_f32", {{"h", i[0]}, {"l", i[1]}});
  case KernelKind::QKNormRope:
    return join("qk_norm_rope_f32", {{"h", i[0]}, {"d", i[1]}});
  case KernelKind::Attention:
    return join(f16(*this, 3) ? "attention_f16_f32" : "attention_f32",
                {{"h", i[0]}, {"kv", i[1]}, {"d", i[2]}});
  case KernelKind::StoreCacheTiles:
    return join((std::string(i[2] ? "store_key_tiles" : "store_value_tiles") +
                 (f16(*this, 3) ? "_f16_f32" : "_f32"))
                    .c_str(),
                {{"kv", i[0]}, {"d", i[1]}});
  case KernelKind::MoERoute:
    return join("moe_route_f32", {{"h", i[0]}, {"e", i[1]}, {"k", i[2]}});
  case KernelKind::MoEFFN:
    return join(f16(*this, 4) ? "moe_ffn_f16_f32" : "moe_ffn_f32",
                {{"h", i[0]}, {"f", i[1]}, {"e", i[2]}, {"k", i[3]}});
  case KernelKind::MoECombine:
    return join("moe_combine_f32", {{"h", i[0]}, {"k", i[1]}});
  case KernelKind::QuantizeQ8_0:
    return join("quantize_q8_0_f32", {{"k", i[0]}});
  case KernelKind::QuantizeQ8_K:
    return join("quantize_q8_k_f32", {{"k", i[0]}});
  case KernelKind::LinearQuant:
    return join(("linear_" + layoutName(*this, 3) + "_f32").c_str(),
                {{"k", i[1]}, {"n", i[2]}});
  case KernelKind::LinearQuantPrefill:
    return join(("linear_prefill_" + layoutName(*this, 3) + "_f32").c_str(),
                {{"k", i[1]}, {"n", i[2]}});
  case KernelKind::EmbeddingQuant:
    return join(("embedding_" + layoutName(*this, 3) + "_f32").c_str(),
                {{"v", i[1]}, {"h", i[2]}});
  case KernelKind::MoEFFNQuant:
    return join(("moe_ffn_" + layoutName(*this, 5) + "_f32").c_str(),
                {{"h", i[1]}, {"f", i[2]}, {"e", i[3]}, {"k", i[4]}});
  case KernelKind::Projection:
    return projectionSpec(*this).name();
  case KernelKind::RmsNormQuantizeQ8_0:
    return join("rms_norm_quantize_q8_0_f32", {{"k", i[0]}});
  case KernelKind::MoEExpertQuant:
    return join((std::string("moe_expert_") + quantName(i[0]) + "_f32").c_str(),
                {{"h", i[1]}, {"f", i[2]}});
  }
  return "unknown";
}

std::vector<KernelArg> KernelRequest::signature() const {
  using A = KernelArg;
  switch (kind) {
  case KernelKind::Embedding:
  case KernelKind::RmsNorm:
  case KernelKind::Linear:
  case KernelKind::Add:
  case KernelKind::SwiGLU:
    return {A::Buffer, A::Buffer, A::Buffer};
  case KernelKind::ShortConv:
    return {A::Buffer, A::Buffer, A::Buffer, A::Buffer, A::Buffer};
  case KernelKind::QKNormRope:
    return {A::Buffer, A::Buffer, A::Int32, A::Buffer};
  case KernelKind::StoreCacheTiles:
    return {A::Buffer, A::Int32, A::Buffer};
  case KernelKind::Attention:
    return {A::Buffer, A::Buffer, A::Buffer, A::Int32, A::Buffer};
  case KernelKind::MoERoute:
    return {A::Buffer, A::Buffer, A::Buffer, A::Buffer, A::Buffer};
  case KernelKind::MoEFFN:
    return {A::Buffer, A::Buffer, A::Buffer, A::Buffer,
            A::Buffer, A::Buffer, A::Buffer};
  case KernelKind::QuantizeQ8_0: // x -> q, d
  case KernelKind::QuantizeQ8_K:
    return {A::Buffer, A::Buffer, A::Buffer};
  case KernelKind::EmbeddingQuant: // tokens, quants, scales -> out
    return {A::Buffer, A::Buffer, A::Buffer, A::Buffer};
  case KernelKind::LinearQuant: // xq, xd, wq, wd -> y
  case KernelKind::LinearQuantPrefill:
    return {A::Buffer, A::Buffer, A::Buffer, A::Buffer, A::Buffer};
  case KernelKind::MoEFFNQuant: // xq, xd, weights, indices, 6 weights -> y
    return std::vector<A>(11, A::Buffer);
  case KernelKind::Projection: {
    // Activations, the weights (quants and scales for a block format), the
    // residual, then the outputs.
    const ProjectionSpec spec = projectionSpec(*this);
    const size_t perWeight = spec.format ? 2 : 1;
    const size_t weights = spec.swiglu ? 2 : spec.rows.size();
    return std::vector<A>(perWeight + weights * perWeight +
                              (spec.residual ? 1 : 0) + spec.rows.size(),
                          A::Buffer);
  }
  case KernelKind::RmsNormQuantizeQ8_0: // x, w -> q, d
    return {A::Buffer, A::Buffer, A::Buffer, A::Buffer};
  case KernelKind::MoECombine: // rows, row_of, weights -> y
    return {A::Buffer, A::Buffer, A::Buffer, A::Buffer};
  case KernelKind::MoEExpertQuant: // xq, xd, 6 weights -> y
    return std::vector<A>(9, A::Buffer);
  }
  return {};
}

StatusOr<CompiledKernels> compileKernels(
    const std::vector<KernelRequest> &requests, const TargetInfo &target,
    const std::string &dir, const std::string &driver, bool artifacts,
    const std::function<void(size_t, size_t, const std::string &)> &progress) {
  CompiledKernels out;
  Halide::Target ht(target.halideTarget());
  Halide::Target kernelTarget = ht.with_feature(Halide::Target::NoRuntime);
  try {
    for (size_t n = 0; n < requests.size(); ++n) {
      const KernelRequest &r = requests[n];
      const std::string name = r.symbol();
      if (progress) {
        progress(n, requests.size(), name);
      }
      Kernel k = build(r, target);
      k.name = name;
      const std::string object = dir + "/" + name + ".o";
      if (Status st = compileKernelObject(k, kernelTarget, object, driver,
                                          artifacts, target.assemblerFlags());
          !st) {
        return st;
      }
      out.objectFiles.push_back(object);
    }
    std::string runtime = dir + "/halide_runtime.o";
    Halide::compile_standalone_runtime(runtime, ht);
    out.objectFiles.push_back(runtime);
  } catch (const Halide::CompileError &e) {
    return Status::error(std::string("Halide compile error: ") + e.what());
  } catch (const Halide::InternalError &e) {
    return Status::error(std::string("Halide internal error: ") + e.what());
  } catch (const Halide::Error &e) {
    return Status::error(std::string("Halide error: ") + e.what());
  }
  return out;
}

} // namespace lfm2c
