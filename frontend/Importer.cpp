//===- Importer.cpp -------------------------------------------------------===//
#include "frontend/Importer.h"

#include "ir/LFM2Dialect.h"
#include "ir/LFM2Ops.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

namespace lfm2c {
namespace {

using namespace mlir;

class ModelImporter {
public:
  ModelImporter(MLIRContext &ctx, const LFM2Config &config,
                const TensorLookup &tensors)
      : ctx_(ctx), b_(&ctx), cfg_(config), tensors_(tensors) {}

  OwningOpRef<ModuleOp> run(const std::string &sourceName);

private:
  Location loc(const std::string &name) {
    return NameLoc::get(b_.getStringAttr(name));
  }
  RankedTensorType tensor(ArrayRef<int64_t> shape, Type elt = {}) {
    return RankedTensorType::get(shape, elt ? elt : b_.getF32Type());
  }
  RankedTensorType activation(int64_t width) {
    return tensor({ShapedType::kDynamic, width});
  }
  // A weight in Hugging Face order [out, in]; shape must be the ggml shape
  // reversed (the checker already guaranteed the source agrees).
  Value weight(const std::string &name, ArrayRef<int64_t> shape);

  Value layer(int64_t i, Value h, Value pos, SmallVectorImpl<Value> &states,
              unsigned &stateArg, Block &entry);

  MLIRContext &ctx_;
  OpBuilder b_;
  const LFM2Config &cfg_;
  const TensorLookup &tensors_;
  llvm::StringMap<Value> weights_;
};

lfm2::WeightFormat formatOf(GGMLType type) {
  switch (type) {
  case GGMLType::F32:
    return lfm2::WeightFormat::f32;
  case GGMLType::F16:
    return lfm2::WeightFormat::f16;
  case GGMLType::BF16:
    return lfm2::WeightFormat::bf16;
  case GGMLType::Q8_0:
    return lfm2::WeightFormat::q8_0;
  case GGMLType::Q4_0:
    return lfm2::WeightFormat::q4_0;
  case GGMLType::Q6_K:
    return lfm2::WeightFormat::q6_k;
  }
  return lfm2::WeightFormat::f32;
}

Value ModelImporter::weight(const std::string &name, ArrayRef<int64_t> shape) {
  auto it = weights_.find(name);
  if (it != weights_.end()) {
    return it->second;
  }
  const GGUFTensorInfo *info = tensors_(name);
  lfm2::WeightFormat format =
      info ? formatOf(info->type) : lfm2::WeightFormat::f32;
  Value v = lfm2::WeightOp::create(b_, loc(name), tensor(shape),
                                   b_.getStringAttr(name),
                                   lfm2::WeightFormatAttr::get(&ctx_, format))
                .getResult();
  weights_[name] = v;
  return v;
}

Value ModelImporter::layer(int64_t i, Value h, Value pos,
                           SmallVectorImpl<Value> &states, unsigned &stateArg,
                           Block &entry) {
  const std::string p = "blk." + std::to_string(i) + ".";
  const int64_t H = cfg_.hiddenSize;
  const float eps = static_cast<float>(cfg_.normEps);
  auto norm = [&](Value x, const std::string &w) {
    return lfm2::RMSNormOp::create(b_, loc(p + w), x.getType(), x,
                                   weight(p + w, {H}), b_.getF32FloatAttr(eps))
        .getResult();
  };

  Value u = norm(h, "attn_norm.weight");
  Value mixed;
  if (!cfg_.isAttention(i)) {
    const int64_t L = cfg_.convLCache;
    Value state = entry.getArgument(stateArg++);
    // Weights are created in a fixed order (C++ leaves argument evaluation
    // order open) so the printed IR reads like the model.
    Value inProj = weight(p + "shortconv.in_proj.weight", {3 * H, H});
    Value kernel = weight(p + "shortconv.conv.weight", {H, L});
    Value outProj = weight(p + "shortconv.out_proj.weight", {H, H});
    auto op = lfm2::ShortConvOp::create(b_, loc(p + "shortconv"), activation(H),
                                        state.getType(), u, state, inProj,
                                        kernel, outProj);
    mixed = op.getOutput();
    states.push_back(op.getNewConvState());
  } else {
    const int64_t nh = cfg_.numHeads, nkv = cfg_.kvHeads[i], d = cfg_.headDim;
    Value kCache = entry.getArgument(stateArg++);
    Value vCache = entry.getArgument(stateArg++);
    Value wq = weight(p + "attn_q.weight", {nh * d, H});
    Value wk = weight(p + "attn_k.weight", {nkv * d, H});
    Value wv = weight(p + "attn_v.weight", {nkv * d, H});
    Value wo = weight(p + "attn_output.weight", {H, nh * d});
    Value qn = weight(p + "attn_q_norm.weight", {d});
    Value kn = weight(p + "attn_k_norm.weight", {d});
    auto op = lfm2::AttentionOp::create(
        b_, loc(p + "attn"), activation(H), kCache.getType(), vCache.getType(),
        u, wq, wk, wv, wo, qn, kn, kCache, vCache, pos,
        b_.getI64IntegerAttr(nh), b_.getI64IntegerAttr(nkv),
        b_.getI64IntegerAttr(d),
        b_.getF32FloatAttr(static_cast<float>(cfg_.ropeTheta)),
        b_.getF32FloatAttr(eps));
    mixed = op.getOutput();
    states.push_back(op.getNewKCache());
    states.push_back(op.getNewVCache());
  }
  h = lfm2::AddOp::create(b_, loc(p + "mixer_residual"), h, mixed).getResult();

  Value x = norm(h, "ffn_norm.weight");
  Value ffn;
  if (cfg_.isMoE(i)) {
    const int64_t E = cfg_.numExperts, K = cfg_.topK, F = cfg_.expertFFNSize;
    Value router = weight(p + "ffn_gate_inp.weight", {E, H});
    Value bias = weight(p + "exp_probs_b.bias", {E});
    auto route = lfm2::MoERouteOp::create(
        b_, loc(p + "moe_route"), tensor({ShapedType::kDynamic, K}),
        tensor({ShapedType::kDynamic, K}, b_.getI32Type()), x, router, bias,
        b_.getI64IntegerAttr(K));
    Value gate = weight(p + "ffn_gate_exps.weight", {E, F, H});
    Value up = weight(p + "ffn_up_exps.weight", {E, F, H});
    Value down = weight(p + "ffn_down_exps.weight", {E, H, F});
    ffn = lfm2::MoEDispatchOp::create(b_, loc(p + "moe_dispatch"),
                                      activation(H), x, route.getWeights(),
                                      route.getIndices(), gate, up, down)
              .getOutput();
  } else {
    const int64_t F = cfg_.denseFFNSize;
    Value gate = weight(p + "ffn_gate.weight", {F, H});
    Value up = weight(p + "ffn_up.weight", {F, H});
    Value down = weight(p + "ffn_down.weight", {H, F});
    ffn = lfm2::SwiGLUFFNOp::create(b_, loc(p + "ffn"), activation(H), x, gate,
                                    up, down)
              .getOutput();
  }
  return lfm2::AddOp::create(b_, loc(p + "ffn_residual"), h, ffn).getResult();
}

OwningOpRef<ModuleOp> ModelImporter::run(const std::string &sourceName) {
  ctx_.loadDialect<lfm2::LFM2Dialect, func::FuncDialect>();
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc(sourceName));
  (*module)->setAttr("lfm2.source", b_.getStringAttr(sourceName));
  (*module)->setAttr("lfm2.arch", b_.getStringAttr(cfg_.arch));
  (*module)->setAttr("lfm2.context_length",
                     b_.getI64IntegerAttr(cfg_.contextLength));

  const int64_t H = cfg_.hiddenSize, V = cfg_.vocabSize;
  // Signature: tokens, position, then the decode state layer by layer.
  SmallVector<Type> inputs = {tensor({ShapedType::kDynamic}, b_.getI32Type()),
                              b_.getIndexType()};
  SmallVector<std::string> stateNames;
  for (int64_t i = 0; i < cfg_.numLayers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    if (!cfg_.isAttention(i)) {
      inputs.push_back(tensor({cfg_.convLCache - 1, H}));
      stateNames.push_back(p + "conv_state");
    } else {
      Type cache =
          tensor({ShapedType::kDynamic, cfg_.kvHeads[i], cfg_.headDim});
      inputs.push_back(cache);
      inputs.push_back(cache);
      stateNames.push_back(p + "k_cache");
      stateNames.push_back(p + "v_cache");
    }
  }
  SmallVector<Type> results = {tensor({ShapedType::kDynamic, V})};
  results.append(inputs.begin() + 2, inputs.end());

  b_.setInsertionPointToEnd(module->getBody());
  auto func = func::FuncOp::create(b_, loc("forward"), "forward",
                                   b_.getFunctionType(inputs, results));
  func.setArgAttr(0, "lfm2.input", b_.getStringAttr("tokens"));
  func.setArgAttr(1, "lfm2.input", b_.getStringAttr("position"));
  for (size_t s = 0; s < stateNames.size(); ++s) {
    func.setArgAttr(2 + s, "lfm2.state", b_.getStringAttr(stateNames[s]));
  }
  Block *entry = func.addEntryBlock();
  b_.setInsertionPointToStart(entry);

  Value embedding = weight("token_embd.weight", {V, H});
  Value h = lfm2::EmbeddingOp::create(b_, loc("token_embd"), activation(H),
                                      entry->getArgument(0), embedding)
                .getResult();
  SmallVector<Value> states;
  unsigned stateArg = 2;
  for (int64_t i = 0; i < cfg_.numLayers; ++i) {
    h = layer(i, h, entry->getArgument(1), states, stateArg, *entry);
  }
  h = lfm2::RMSNormOp::create(
          b_, loc("token_embd_norm"), h.getType(), h,
          weight("token_embd_norm.weight", {H}),
          b_.getF32FloatAttr(static_cast<float>(cfg_.normEps)))
          .getResult();
  // The output head is tied to the token embedding unless the file has its
  // own output.weight.
  Value head =
      tensors_("output.weight") ? weight("output.weight", {V, H}) : embedding;
  Value logits = lfm2::LMHeadOp::create(b_, loc("output"), results[0], h, head)
                     .getLogits();
  SmallVector<Value> ret = {logits};
  ret.append(states.begin(), states.end());
  func::ReturnOp::create(b_, loc("forward"), ret);
  return module;
}

} // namespace

OwningOpRef<ModuleOp> importModel(MLIRContext &context,
                                  const LFM2Config &config,
                                  const TensorLookup &tensors,
                                  const std::string &sourceName) {
  return ModelImporter(context, config, tensors).run(sourceName);
}

} // namespace lfm2c
