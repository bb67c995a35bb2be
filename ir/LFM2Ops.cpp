//===- LFM2Ops.cpp - lfm2 dialect registration and verifiers --------------===//
//
// Verifiers check shape agreement between an op's operands and attributes.
// A dynamic size on either side is accepted: it can only be checked at run
// time, and rejecting it would forbid weights whose sizes come from the
// checkpoint rather than the IR.
//
//===----------------------------------------------------------------------===//

#include "ir/LFM2Ops.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallString.h"

using namespace mlir;
using namespace mlir::lfm2;

#include "ir/LFM2OpsDialect.cpp.inc"
#include "ir/LFM2OpsEnums.cpp.inc"

void LFM2Dialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "ir/LFM2Ops.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// Shared verification helpers
//===----------------------------------------------------------------------===//

// Marks a dimension the caller does not constrain.
static constexpr int64_t kAnySize = ShapedType::kDynamic;

static std::string formatShape(ArrayRef<int64_t> shape) {
  std::string text = "[";
  llvm::interleave(
      shape,
      [&](int64_t dim) {
        text += ShapedType::isDynamic(dim) ? "?" : std::to_string(dim);
      },
      [&] { text += ", "; });
  return text + "]";
}

static ArrayRef<int64_t> shapeOf(Value value) {
  return cast<RankedTensorType>(value.getType()).getShape();
}

static bool isCompatible(ArrayRef<int64_t> actual, ArrayRef<int64_t> expected) {
  if (actual.size() != expected.size()) {
    return false;
  }
  return llvm::all_of(llvm::zip_equal(actual, expected), [](auto dims) {
    auto [a, e] = dims;
    return ShapedType::isDynamic(a) || ShapedType::isDynamic(e) || a == e;
  });
}

// `layout` names the expected shape in model terms, so that a mismatch reads
// as a statement about the model rather than about tensor dims.
static LogicalResult verifyShape(Operation *op, StringRef name, Value value,
                                 ArrayRef<int64_t> expected,
                                 const Twine &layout) {
  ArrayRef<int64_t> actual = shapeOf(value);
  if (isCompatible(actual, expected)) {
    return success();
  }
  return op->emitOpError() << name << " has shape " << formatShape(actual)
                           << ", expected " << formatShape(expected) << " "
                           << layout;
}

// Every other size of a block derives from the hidden size, so it must be
// known statically.
static FailureOr<int64_t> getHiddenSize(Operation *op, Value input) {
  int64_t hidden = shapeOf(input)[1];
  if (ShapedType::isDynamic(hidden)) {
    return op->emitOpError()
           << "input must have a static hidden size, got " << input.getType();
  }
  return hidden;
}

static LogicalResult verifyPositive(Operation *op, StringRef name,
                                    int64_t value) {
  if (value >= 1) {
    return success();
  }
  return op->emitOpError() << name << " must be at least 1, got " << value;
}

static LogicalResult verifyPositive(Operation *op, StringRef name,
                                    APFloat value) {
  if (value.isFiniteNonZero() && !value.isNegative()) {
    return success();
  }
  SmallString<16> text;
  value.toString(text);
  return op->emitOpError() << name << " must be a positive finite number, got "
                           << text;
}

// Shared by the router and the dispatcher, which must agree on how many
// experts a token uses.
static LogicalResult verifyTopK(Operation *op, int64_t topK,
                                int64_t numExperts) {
  if (ShapedType::isDynamic(topK)) {
    return success();
  }
  if (failed(verifyPositive(op, "top_k", topK))) {
    return failure();
  }
  if (!ShapedType::isDynamic(numExperts) && topK > numExperts) {
    return op->emitOpError()
           << "top_k (" << topK << ") exceeds the number of experts ("
           << numExperts << ")";
  }
  return success();
}

//===----------------------------------------------------------------------===//
// WeightOp
//===----------------------------------------------------------------------===//

LogicalResult WeightOp::verify() {
  if (getTensorName().empty()) {
    return emitOpError("tensor_name must not be empty");
  }
  // Codegen lays weights out at compile time, so their sizes must be known.
  if (!getResult().getType().hasStaticShape()) {
    return emitOpError() << "weight '" << getTensorName()
                         << "' must have a static shape, got "
                         << getResult().getType();
  }
  return success();
}

//===----------------------------------------------------------------------===//
// EmbeddingOp
//===----------------------------------------------------------------------===//

LogicalResult EmbeddingOp::verify() {
  int64_t numTokens = shapeOf(getTokens())[0];
  int64_t hidden = shapeOf(getTable())[1];
  return verifyShape(*this, "result", getResult(), {numTokens, hidden},
                     "([tokens, table width])");
}

//===----------------------------------------------------------------------===//
// RMSNormOp
//===----------------------------------------------------------------------===//

LogicalResult RMSNormOp::verify() {
  if (failed(verifyPositive(*this, "epsilon", getEpsilon()))) {
    return failure();
  }
  int64_t width = shapeOf(getInput())[1];
  return verifyShape(*this, "weight", getWeight(), {width},
                     "(one scale per input channel)");
}

//===----------------------------------------------------------------------===//
// LMHeadOp
//===----------------------------------------------------------------------===//

LogicalResult LMHeadOp::verify() {
  FailureOr<int64_t> hidden = getHiddenSize(*this, getInput());
  if (failed(hidden)) {
    return failure();
  }
  if (failed(verifyShape(*this, "embedding", getEmbedding(),
                         {kAnySize, *hidden}, "([vocab, hidden])"))) {
    return failure();
  }
  int64_t numTokens = shapeOf(getInput())[0];
  int64_t vocab = shapeOf(getEmbedding())[0];
  return verifyShape(*this, "logits", getLogits(), {numTokens, vocab},
                     "([tokens, vocab])");
}

//===----------------------------------------------------------------------===//
// ShortConvOp
//===----------------------------------------------------------------------===//

LogicalResult ShortConvOp::verify() {
  FailureOr<int64_t> hidden = getHiddenSize(*this, getInput());
  if (failed(hidden)) {
    return failure();
  }
  int64_t h = *hidden;
  if (failed(verifyShape(*this, "in_proj", getInProj(), {3 * h, h},
                         "([3 * hidden, hidden] for B, C and x)")) ||
      failed(verifyShape(*this, "conv_weight", getConvWeight(), {h, kAnySize},
                         "([hidden, kernel length])")) ||
      failed(verifyShape(*this, "out_proj", getOutProj(), {h, h},
                         "([hidden, hidden])"))) {
    return failure();
  }

  // The state size follows from the kernel, so the kernel must be concrete.
  int64_t kernel = shapeOf(getConvWeight())[1];
  if (ShapedType::isDynamic(kernel) || kernel < 1) {
    return emitOpError() << "conv_weight must have a static kernel length of "
                            "at least 1, got "
                         << getConvWeight().getType();
  }
  ArrayRef<int64_t> state = shapeOf(getConvState());
  SmallVector<int64_t, 2> expected = {kernel - 1, h};
  if (!isCompatible(state, expected)) {
    return emitOpError() << "conv state has shape " << formatShape(state)
                         << ", expected " << formatShape(expected)
                         << " for kernel length " << kernel;
  }
  return success();
}

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

LogicalResult AttentionOp::verify() {
  int64_t numHeads = getNumHeads();
  int64_t numKVHeads = getNumKvHeads();
  int64_t headDim = getHeadDim();
  if (failed(verifyPositive(*this, "num_heads", numHeads)) ||
      failed(verifyPositive(*this, "num_kv_heads", numKVHeads)) ||
      failed(verifyPositive(*this, "head_dim", headDim)) ||
      failed(verifyPositive(*this, "rope_theta", getRopeTheta())) ||
      failed(verifyPositive(*this, "epsilon", getEpsilon()))) {
    return failure();
  }
  // Query head h reads KV head h / (num_heads / num_kv_heads); the groups
  // must tile the query heads exactly.
  if (numHeads % numKVHeads != 0) {
    return emitOpError() << "num_heads (" << numHeads
                         << ") is not a multiple of num_kv_heads ("
                         << numKVHeads << ")";
  }
  // NEOX RoPE rotates the pairs (i, i + d/2).
  if (headDim % 2 != 0) {
    return emitOpError() << "head_dim (" << headDim
                         << ") must be even for rotate-half RoPE";
  }

  FailureOr<int64_t> hidden = getHiddenSize(*this, getInput());
  if (failed(hidden)) {
    return failure();
  }
  int64_t h = *hidden;
  int64_t qWidth = numHeads * headDim;
  int64_t kvWidth = numKVHeads * headDim;
  if (failed(verifyShape(*this, "q_proj", getQProj(), {qWidth, h},
                         "([num_heads * head_dim, hidden])")) ||
      failed(verifyShape(*this, "k_proj", getKProj(), {kvWidth, h},
                         "([num_kv_heads * head_dim, hidden])")) ||
      failed(verifyShape(*this, "v_proj", getVProj(), {kvWidth, h},
                         "([num_kv_heads * head_dim, hidden])")) ||
      failed(verifyShape(*this, "out_proj", getOutProj(), {h, qWidth},
                         "([hidden, num_heads * head_dim])")) ||
      failed(verifyShape(*this, "q_norm", getQNorm(), {headDim},
                         "([head_dim])")) ||
      failed(verifyShape(*this, "k_norm", getKNorm(), {headDim},
                         "([head_dim])")) ||
      failed(verifyShape(*this, "k_cache", getKCache(),
                         {kAnySize, numKVHeads, headDim},
                         "([context, num_kv_heads, head_dim])"))) {
    return failure();
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Kernel-level ops
//===----------------------------------------------------------------------===//

// The optional RMSNorm fused into a projection's input: its scale must cover
// the input width and it needs its epsilon.
static LogicalResult verifyFusedNorm(Operation *op, Value norm,
                                     std::optional<APFloat> epsilon,
                                     int64_t width) {
  if (!norm) {
    if (epsilon) {
      return op->emitOpError("epsilon is set but there is no norm_weight");
    }
    return success();
  }
  if (!epsilon) {
    return op->emitOpError("norm_weight needs an epsilon");
  }
  if (failed(verifyPositive(op, "epsilon", *epsilon))) {
    return failure();
  }
  return verifyShape(op, "norm_weight", norm, {width},
                     "(one scale per input channel)");
}

LogicalResult LinearOp::verify() {
  if (getWeights().empty()) {
    return emitOpError("needs at least one weight");
  }
  if (getWeights().size() != getResults().size()) {
    return emitOpError() << "has " << getWeights().size() << " weights but "
                         << getResults().size() << " results";
  }
  int64_t width = shapeOf(getInput())[1];
  int64_t numTokens = shapeOf(getInput())[0];
  for (auto [i, w] : llvm::enumerate(getWeights())) {
    std::string name = "weight #" + std::to_string(i);
    if (failed(verifyShape(*this, name, w, {kAnySize, width},
                           "([out, input width])"))) {
      return failure();
    }
    if (failed(verifyShape(*this, "result #" + std::to_string(i),
                           getResults()[i], {numTokens, shapeOf(w)[0]},
                           "([tokens, weight rows])"))) {
      return failure();
    }
  }
  if (failed(verifyFusedNorm(*this, getNormWeight(), getEpsilon(), width))) {
    return failure();
  }
  if (Value r = getResidual()) {
    if (getResults().size() != 1) {
      return emitOpError("a residual needs exactly one result");
    }
    if (r.getType() != getResults()[0].getType()) {
      return emitOpError() << "residual type " << r.getType()
                           << " differs from the result type "
                           << getResults()[0].getType();
    }
  }
  return success();
}

LogicalResult LinearSwiGLUOp::verify() {
  int64_t width = shapeOf(getInput())[1];
  int64_t rows = shapeOf(getGate())[0];
  if (failed(verifyShape(*this, "gate", getGate(), {kAnySize, width},
                         "([ffn, input width])")) ||
      failed(verifyShape(*this, "up", getUp(), {rows, width},
                         "(the gate's shape)")) ||
      failed(verifyShape(*this, "result", getResult(),
                         {shapeOf(getInput())[0], rows}, "([tokens, ffn])"))) {
    return failure();
  }
  return verifyFusedNorm(*this, getNormWeight(), getEpsilon(), width);
}

LogicalResult ConvMixOp::verify() {
  int64_t kernel = shapeOf(getConvWeight())[1];
  int64_t h = shapeOf(getConvWeight())[0];
  if (ShapedType::isDynamic(kernel) || ShapedType::isDynamic(h) || kernel < 1) {
    return emitOpError() << "conv_weight must have a static shape with a "
                            "kernel length of at least 1, got "
                         << getConvWeight().getType();
  }
  if (failed(verifyShape(*this, "input", getInput(), {kAnySize, 3 * h},
                         "([tokens, 3 * hidden] for B, C and x)")) ||
      failed(verifyShape(*this, "conv_state", getConvState(), {kernel - 1, h},
                         "([kernel length - 1, hidden])")) ||
      failed(verifyShape(*this, "result", getResult(),
                         {shapeOf(getInput())[0], h}, "([tokens, hidden])"))) {
    return failure();
  }
  return success();
}

// Heads tile the activation width exactly; RoPE rotates pairs (i, i + d/2).
static LogicalResult verifyHeads(Operation *op, int64_t heads,
                                 int64_t headDim) {
  if (failed(verifyPositive(op, "num_heads", heads)) ||
      failed(verifyPositive(op, "head_dim", headDim))) {
    return failure();
  }
  if (headDim % 2 != 0) {
    return op->emitOpError()
           << "head_dim (" << headDim << ") must be even for rotate-half RoPE";
  }
  return success();
}

LogicalResult QKNormRopeOp::verify() {
  int64_t heads = getNumHeads(), headDim = getHeadDim();
  if (failed(verifyHeads(*this, heads, headDim)) ||
      failed(verifyPositive(*this, "rope_theta", getRopeTheta())) ||
      failed(verifyPositive(*this, "epsilon", getEpsilon()))) {
    return failure();
  }
  if (failed(verifyShape(*this, "input", getInput(),
                         {kAnySize, heads * headDim},
                         "([tokens, num_heads * head_dim])")) ||
      failed(verifyShape(*this, "norm_weight", getNormWeight(), {headDim},
                         "([head_dim])"))) {
    return failure();
  }
  return success();
}

LogicalResult AttendOp::verify() {
  int64_t heads = getNumHeads(), kvHeads = getNumKvHeads(),
          headDim = getHeadDim();
  if (failed(verifyHeads(*this, heads, headDim)) ||
      failed(verifyPositive(*this, "num_kv_heads", kvHeads))) {
    return failure();
  }
  if (heads % kvHeads != 0) {
    return emitOpError() << "num_heads (" << heads
                         << ") is not a multiple of num_kv_heads (" << kvHeads
                         << ")";
  }
  int64_t numTokens = shapeOf(getQueries())[0];
  if (failed(verifyShape(*this, "queries", getQueries(),
                         {kAnySize, heads * headDim},
                         "([tokens, num_heads * head_dim])")) ||
      failed(verifyShape(*this, "keys", getKeys(),
                         {numTokens, kvHeads * headDim},
                         "([tokens, num_kv_heads * head_dim])")) ||
      failed(verifyShape(*this, "values", getValues(),
                         {numTokens, kvHeads * headDim},
                         "([tokens, num_kv_heads * head_dim])")) ||
      failed(verifyShape(*this, "k_cache", getKCache(),
                         {kAnySize, kvHeads, headDim},
                         "([context, num_kv_heads, head_dim])")) ||
      failed(verifyShape(*this, "result", getResult(),
                         {numTokens, heads * headDim},
                         "([tokens, num_heads * head_dim])"))) {
    return failure();
  }
  return success();
}

//===----------------------------------------------------------------------===//
// SwiGLUFFNOp
//===----------------------------------------------------------------------===//

LogicalResult SwiGLUFFNOp::verify() {
  FailureOr<int64_t> hidden = getHiddenSize(*this, getInput());
  if (failed(hidden)) {
    return failure();
  }
  int64_t h = *hidden;
  int64_t width = shapeOf(getGate())[0];
  if (failed(verifyShape(*this, "gate", getGate(), {kAnySize, h},
                         "([ffn width, hidden])")) ||
      failed(verifyShape(*this, "up", getUp(), {width, h},
                         "([ffn width, hidden], same as gate)")) ||
      failed(verifyShape(*this, "down", getDown(), {h, width},
                         "([hidden, ffn width])"))) {
    return failure();
  }
  return success();
}

//===----------------------------------------------------------------------===//
// MoERouteOp
//===----------------------------------------------------------------------===//

LogicalResult MoERouteOp::verify() {
  FailureOr<int64_t> hidden = getHiddenSize(*this, getInput());
  if (failed(hidden)) {
    return failure();
  }
  if (failed(verifyShape(*this, "router", getRouter(), {kAnySize, *hidden},
                         "([num_experts, hidden])"))) {
    return failure();
  }
  int64_t numExperts = shapeOf(getRouter())[0];
  int64_t topK = getTopK();
  if (failed(verifyTopK(*this, topK, numExperts)) ||
      failed(verifyShape(*this, "expert_bias", getExpertBias(), {numExperts},
                         "(one bias per expert)"))) {
    return failure();
  }
  int64_t numTokens = shapeOf(getInput())[0];
  if (failed(verifyShape(*this, "weights", getWeights(), {numTokens, topK},
                         "([tokens, top_k])")) ||
      failed(verifyShape(*this, "indices", getIndices(), {numTokens, topK},
                         "([tokens, top_k])"))) {
    return failure();
  }
  return success();
}

//===----------------------------------------------------------------------===//
// MoEDispatchOp
//===----------------------------------------------------------------------===//

LogicalResult MoEDispatchOp::verify() {
  FailureOr<int64_t> hidden = getHiddenSize(*this, getInput());
  if (failed(hidden)) {
    return failure();
  }
  int64_t h = *hidden;
  ArrayRef<int64_t> gate = shapeOf(getGateExps());
  int64_t numExperts = gate[0];
  int64_t width = gate[1];
  if (failed(verifyShape(*this, "gate_exps", getGateExps(),
                         {kAnySize, kAnySize, h},
                         "([num_experts, expert width, hidden])")) ||
      failed(verifyShape(*this, "up_exps", getUpExps(), {numExperts, width, h},
                         "([num_experts, expert width, hidden], same as "
                         "gate_exps)")) ||
      failed(verifyShape(*this, "down_exps", getDownExps(),
                         {numExperts, h, width},
                         "([num_experts, hidden, expert width])"))) {
    return failure();
  }

  int64_t numTokens = shapeOf(getInput())[0];
  if (failed(verifyShape(*this, "weights", getWeights(), {numTokens, kAnySize},
                         "([tokens, top_k])"))) {
    return failure();
  }
  ArrayRef<int64_t> weights = shapeOf(getWeights());
  if (failed(verifyShape(*this, "indices", getIndices(), weights,
                         "(same as weights)"))) {
    return failure();
  }
  return verifyTopK(*this, weights[1], numExperts);
}

#define GET_OP_CLASSES
#include "ir/LFM2Ops.cpp.inc"

namespace mlir::lfm2 {

bool isProjectionOperand(OpOperand &use) {
  Operation *op = use.getOwner();
  Value v = use.get();
  if (auto c = dyn_cast<ShortConvOp>(op)) {
    return v == c.getInProj() || v == c.getOutProj();
  }
  if (auto a = dyn_cast<AttentionOp>(op)) {
    return v == a.getQProj() || v == a.getKProj() || v == a.getVProj() ||
           v == a.getOutProj();
  }
  if (auto f = dyn_cast<SwiGLUFFNOp>(op)) {
    return v == f.getGate() || v == f.getUp() || v == f.getDown();
  }
  if (auto d = dyn_cast<MoEDispatchOp>(op)) {
    return v == d.getGateExps() || v == d.getUpExps() || v == d.getDownExps();
  }
  if (auto e = dyn_cast<EmbeddingOp>(op)) {
    return v == e.getTable();
  }
  if (auto h = dyn_cast<LMHeadOp>(op)) {
    return v == h.getEmbedding();
  }
  if (auto l = dyn_cast<LinearOp>(op)) {
    return llvm::is_contained(l.getWeights(), v);
  }
  if (auto s = dyn_cast<LinearSwiGLUOp>(op)) {
    return v == s.getGate() || v == s.getUp();
  }
  return false;
}

} // namespace mlir::lfm2
