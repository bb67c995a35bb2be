//===- ProgramEmitter.cpp -------------------------------------------------===//
#include "codegen/ProgramEmitter.h"

#include "ir/LFM2Ops.h"
#include "runtime/WeightsFormat.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/TypeSwitch.h"

#include <algorithm>
#include <sstream>
#include <tuple>

namespace lfm2c {
namespace {

using namespace mlir;

// A value as the generated code sees it: a pointer expression and the
// logical row-major dimensions (C++ expressions; "T" for the token count).
struct Buf {
  std::string ptr;
  std::vector<std::string> dims;
  std::string type = "f32Type()"; // the Halide element type expression
  // Weights in a block format: quants at ptr, block scales here (fp16 for
  // Q8_0 / Q4_0, f32 for Q6_K: QuantLayout.h).
  StoredFormat format = StoredFormat::F32;
  std::string scales;
  // Rows interleaved in groups of this many (QuantLayout.h): then the last
  // two dims are (rows / interleave, interleave * row bytes).
  int interleave = 0;
  // A KV cache stored as IEEE half (lfm2-kv-cache): no kernel writes its
  // rows directly; emitAttend rounds them in.
  bool f16Cache = false;
  // A block format (quants + scales); f16 is read like f32.
  bool quantized() const {
    return format == StoredFormat::Q8_0 || format == StoredFormat::Q4_0 ||
           format == StoredFormat::Q6_K;
  }
  // The trailing flag of the f32-activation kernels for f16 weights.
  int64_t f16Flag() const { return format == StoredFormat::F16 ? 1 : 0; }
  // The block scales of a block format, `skip` scales in, as `dims`.
  Buf scaleView(std::vector<std::string> dims,
                const std::string &skip = "") const {
    Buf b;
    b.ptr = skip.empty() ? scales : "(" + scales + " + " + skip + ")";
    b.dims = std::move(dims);
    b.type = format == StoredFormat::Q6_K ? "f32Type()" : "f16Type()";
    return b;
  }
};

// One argument of a kernel call.
struct CallArg {
  Buf buf;
  std::string scalar; // non-empty for an int32 argument
  static CallArg of(Buf b) { return {std::move(b), ""}; }
  static CallArg i32(std::string e) { return {{}, std::move(e)}; }
};

std::string str(int64_t v) { return std::to_string(v); }

class Emitter {
public:
  Emitter(const TargetInfo &target) : target_(target) {}
  LogicalResult run(func::FuncOp func, ProgramPlan &plan,
                    const std::string &modelName, int64_t contextLength);

private:
  // Scratch of `shape` (dynamic dims are the token count), 64-byte aligned.
  Buf alloc(ArrayRef<int64_t> shape, const std::string &type = "f32Type()",
            int64_t elementBytes = 4);
  Buf weight(lfm2::WeightOp op);
  Buf buf(Value v) { return values_.lookup(v); }
  // The index of r's kernel in kernels_ / symbols_, added if new.
  size_t kernelFor(const KernelRequest &r);
  // The ints of a KernelKind::Linear request for weight w.
  static std::vector<int64_t> linearInts(int64_t k, int64_t n, const Buf &w);
  void call(const KernelRequest &r, const std::vector<CallArg> &args,
            const std::string &where);
  Buf view(const Buf &b, std::vector<std::string> dims) {
    Buf v = b;
    v.dims = std::move(dims);
    return v;
  }
  // y [T, N] = x [T, K] times the weight w ([N, K], any stored format).
  void linear(const Buf &x, const Buf &w, const Buf &out, int64_t k, int64_t n,
              const std::string &where);
  // x quantized to Q8_0 (quants, scales), computed once per value.
  std::pair<Buf, Buf> quantized(const Buf &x, int64_t k,
                                const std::string &where);
  // The quantized experts of a dispatch over a batch: the (token, slot)
  // pairs grouped by expert (runtime/ExpertGroups.h), each expert's FFN once
  // over its tokens' rows, then the slots combined per token.
  void moeGroupedQuant(lfm2::MoEDispatchOp d, const Buf &xq, const Buf &xd,
                       const Buf &out, const std::string &where);
  StoredFormat storedFormat(lfm2::WeightOp op);
  int rowInterleave(lfm2::WeightOp op, StoredFormat format);
  std::string hdim(Value v, unsigned i) {
    return str(cast<RankedTensorType>(v.getType()).getDimSize(i));
  }

  LogicalResult emit(Operation *op);
  LogicalResult emitLinear(lfm2::LinearOp op, const std::string &where);
  LogicalResult emitLinearSwiGLU(lfm2::LinearSwiGLUOp op,
                                 const std::string &where);
  LogicalResult emitAttend(lfm2::AttendOp op, const std::string &where);
  // Where the kernel producing `v` writes: a fresh arena slot.
  Buf output(Value v);
  // Checks what updating every lfm2.attend's caches in place relies on.
  LogicalResult checkCaches(Block &entry);
  // The activation arguments of a fused projection: x (normalised when
  // `scale` is set) for f32 weights, else its Q8_0 quants and scales.
  std::vector<CallArg> projectionInputs(const Buf &x, Value scale,
                                        std::optional<APFloat> eps,
                                        StoredFormat format, int64_t k,
                                        const std::string &where);
  // A quantized projection (args: xq, xd, wq, wd, out) of `rows` tokens:
  // Q8_0 / Q4_0 weights of a multiple of 8 rows take the regrouped prefill
  // kernel from kPrefillMinTokens tokens, the GEMV-shaped kernel below.
  void quantLinear(const std::vector<CallArg> &args, StoredFormat format,
                   int64_t k, int64_t n, const std::string &rows,
                   const std::string &where, int64_t interleave = 0);
  // The prefill kernel alone, for code already inside a batch branch.
  void prefillLinear(const std::vector<CallArg> &args, StoredFormat format,
                     int64_t k, int64_t n, const std::string &where,
                     int64_t interleave = 0);
  static bool hasPrefillKernel(StoredFormat format, int64_t n) {
    return (format == StoredFormat::Q8_0 || format == StoredFormat::Q4_0) &&
           n % 8 == 0;
  }
  // A weight's arguments: the matrix, then its block scales if quantized.
  void appendWeight(std::vector<CallArg> &args, const Buf &w, int64_t n,
                    int64_t k);
  // x normalised by a fused RMSNorm, as an op temporary.
  Buf normed(const Buf &x, Value scale, std::optional<APFloat> eps, int64_t k,
             const std::string &where);
  // The C++ expression of an index value (only the position argument).
  std::string scalar(Value v) { return scalars_.lookup(v); }

  const TargetInfo &target_;
  llvm::DenseMap<Value, Buf> values_;
  llvm::DenseMap<Value, std::string> scalars_;
  std::map<std::string, std::pair<Buf, Buf>> quantizedActs_;
  // Memory plan: arena slots by pointer expression, slots free for reuse by
  // size, and the slots allocated while emitting the current op.
  using SlotSize = std::pair<bool, int64_t>;      // per token?, floats
  using SlotOffset = std::pair<int64_t, int64_t>; // floats per token, fixed
  std::map<std::string, std::pair<SlotSize, SlotOffset>> slots_;
  std::map<SlotSize, std::vector<SlotOffset>> free_;
  std::vector<std::string> opTemps_;
  void release(const std::string &ptr);
  std::vector<KernelRequest> kernels_;
  std::vector<std::string> symbols_;
  std::vector<PlannedWeight> weights_;
  std::map<std::string, size_t> weightIndex_;
  uint64_t weightsBytes_ = 0;
  int64_t perToken_ = 0, fixed_ = 0;
  std::ostringstream code_;
};

std::string whereOf(Operation *op) {
  if (auto name = dyn_cast<NameLoc>(op->getLoc())) {
    return name.getName().str();
  }
  return op->getName().getStringRef().str();
}

Buf Emitter::alloc(ArrayRef<int64_t> shape, const std::string &type,
                   int64_t elementBytes) {
  int64_t fixedPart = 1;
  bool perToken = false;
  std::vector<std::string> dims;
  for (int64_t d : shape) {
    if (ShapedType::isDynamic(d)) {
      perToken = true;
      dims.push_back("T");
    } else {
      fixedPart *= d;
      dims.push_back(str(d));
    }
  }
  // In floats, rounded up to 64 bytes so every buffer stays aligned.
  const int64_t floats = (fixedPart * elementBytes + 3) / 4;
  const int64_t size = (floats + 15) / 16 * 16;
  // A slot freed by a value that is dead by now, of exactly this size, else
  // a new one at the end of the arena.
  const SlotSize key{perToken, size};
  SlotOffset at{perToken_, fixed_};
  auto &reusable = free_[key];
  if (!reusable.empty()) {
    at = reusable.back();
    reusable.pop_back();
  } else {
    (perToken ? perToken_ : fixed_) += size;
  }
  Buf b;
  b.ptr = "(arena + " + str(at.first) + " * T + " + str(at.second) + ")";
  b.dims = dims;
  b.type = type;
  slots_[b.ptr] = {key, at};
  opTemps_.push_back(b.ptr);
  return b;
}

void Emitter::release(const std::string &ptr) {
  auto it = slots_.find(ptr);
  if (it == slots_.end()) {
    return; // weights, states, caches: not arena slots
  }
  free_[it->second.first].push_back(it->second.second);
  slots_.erase(it);
  // The quantized copy of a dead value dies with it.
  auto q = quantizedActs_.find(ptr);
  if (q != quantizedActs_.end()) {
    std::pair<Buf, Buf> bufs = q->second;
    quantizedActs_.erase(q);
    release(bufs.first.ptr);
    release(bufs.second.ptr);
  }
}

// Values per block (Q6_K: super-block) of a stored format.
int64_t blockValues(StoredFormat f) {
  return f == StoredFormat::Q6_K ? 256 : 32;
}

// The format code of kernel requests (KernelRequest.h): the quantized
// kernels' ints[0], and the Projection kernel's weight format.
int64_t formatCode(StoredFormat f) {
  switch (f) {
  case StoredFormat::F32:
    return -1;
  case StoredFormat::F16:
    return kF16WeightsCode;
  case StoredFormat::Q8_0:
    return 0;
  case StoredFormat::Q4_0:
    return 1;
  case StoredFormat::Q6_K:
    return 2;
  }
  return -1;
}

StoredFormat Emitter::storedFormat(lfm2::WeightOp op) {
  auto type = cast<RankedTensorType>(op.getType());
  const lfm2::WeightFormat format = op.getFormat();
  StoredFormat want = format == lfm2::WeightFormat::q8_0   ? StoredFormat::Q8_0
                      : format == lfm2::WeightFormat::q4_0 ? StoredFormat::Q4_0
                      : format == lfm2::WeightFormat::q6_k ? StoredFormat::Q6_K
                      : format == lfm2::WeightFormat::f16  ? StoredFormat::F16
                                                           : StoredFormat::F32;
  const bool block = want == StoredFormat::Q8_0 || want == StoredFormat::Q4_0 ||
                     want == StoredFormat::Q6_K;
  if (want == StoredFormat::F32 ||
      (block && type.getShape().back() % blockValues(want) != 0)) {
    return StoredFormat::F32;
  }
  for (OpOperand &use : op->getUses()) {
    if (!lfm2::isProjectionOperand(use)) {
      return StoredFormat::F32;
    }
    // Q6_K has kernels for the tied table only (lookup and head).
    if (want == StoredFormat::Q6_K &&
        !isa<lfm2::LMHeadOp, lfm2::EmbeddingOp>(use.getOwner())) {
      return StoredFormat::F32;
    }
    // The expert kernels take one format for all three stacks; the fused
    // projections one for all their weights.
    auto sameFormat = [&](ValueRange ws) {
      return llvm::all_of(ws, [&](Value w) {
        auto other = w.getDefiningOp<lfm2::WeightOp>();
        return other && other.getFormat() == format;
      });
    };
    Operation *user = use.getOwner();
    if (auto d = dyn_cast<lfm2::MoEDispatchOp>(user)) {
      if (!sameFormat({d.getGateExps(), d.getUpExps(), d.getDownExps()})) {
        return StoredFormat::F32;
      }
    } else if (auto l = dyn_cast<lfm2::LinearOp>(user)) {
      if (!sameFormat(l.getWeights())) {
        return StoredFormat::F32;
      }
    } else if (auto g = dyn_cast<lfm2::LinearSwiGLUOp>(user)) {
      if (!sameFormat({g.getGate(), g.getUp()})) {
        return StoredFormat::F32;
      }
    }
  }
  return want;
}

int Emitter::rowInterleave(lfm2::WeightOp op, StoredFormat format) {
  // Weights whose every kernel reads the interleaved layout: the MoE
  // expert stacks, the weights of linear ops, embedding tables and LM
  // heads (the lookups read a row's runs), when all the op's weights
  // have a multiple of the group of rows (storedFormat gives them one
  // format); an expert stack also needs H a multiple of it.
  const int r = rowInterleaveFor(target_, formatCode(format));
  if (r == 0 || op->use_empty()) {
    return 0;
  }
  auto rowsDivide = [&](ValueRange ws) {
    return llvm::all_of(ws, [&](Value w) {
      return cast<RankedTensorType>(w.getType()).getDimSize(0) % r == 0;
    });
  };
  for (OpOperand &use : op->getUses()) {
    Operation *user = use.getOwner();
    if (auto d = dyn_cast<lfm2::MoEDispatchOp>(user)) {
      auto gate = cast<RankedTensorType>(d.getGateExps().getType());
      if (gate.getDimSize(1) % r != 0 || gate.getDimSize(2) % r != 0) {
        return 0;
      }
    } else if (auto l = dyn_cast<lfm2::LinearOp>(user)) {
      if (!rowsDivide(l.getWeights())) {
        return 0;
      }
    } else if (auto g = dyn_cast<lfm2::LinearSwiGLUOp>(user)) {
      if (!rowsDivide({g.getGate(), g.getUp()})) {
        return 0;
      }
    } else if (isa<lfm2::EmbeddingOp, lfm2::LMHeadOp>(user)) {
      // A (tied) table: its lookups and its head both read the layout.
      if (!rowsDivide({op.getResult()})) {
        return 0;
      }
    } else {
      return 0;
    }
  }
  return r;
}

Buf Emitter::weight(lfm2::WeightOp op) {
  std::string name = op.getTensorName().str();
  auto type = cast<RankedTensorType>(op.getType());
  auto align = [](uint64_t v) {
    return (v + kWeightsAlignment - 1) / kWeightsAlignment * kWeightsAlignment;
  };
  auto it = weightIndex_.find(name);
  size_t index;
  if (it != weightIndex_.end()) {
    index = it->second;
  } else {
    PlannedWeight w;
    w.name = name;
    w.shape.assign(type.getShape().begin(), type.getShape().end());
    w.format = storedFormat(op);
    w.rowInterleave = rowInterleave(op, w.format);
    const uint64_t count = static_cast<uint64_t>(type.getNumElements());
    w.offset = weightsBytes_;
    switch (w.format) {
    case StoredFormat::F32:
      w.bytes = count * sizeof(float);
      break;
    case StoredFormat::F16:
      w.bytes = count * 2;
      break;
    case StoredFormat::Q8_0:
      w.bytes = count;
      break;
    case StoredFormat::Q4_0:
      w.bytes = count / 2;
      break;
    case StoredFormat::Q6_K:
      w.bytes = count / 256 * 208;
      break;
    }
    weightsBytes_ = align(w.offset + w.bytes);
    if (w.format != StoredFormat::F32 && w.format != StoredFormat::F16) {
      w.scaleOffset = weightsBytes_;
      w.scaleBytes = count / blockValues(w.format) *
                     (w.format == StoredFormat::Q6_K ? 4 : 2);
      weightsBytes_ = align(w.scaleOffset + w.scaleBytes);
    }
    index = weights_.size();
    weightIndex_[name] = index;
    weights_.push_back(w);
  }
  const PlannedWeight &w = weights_[index];
  Buf b;
  b.format = w.format;
  std::vector<std::string> dims;
  for (int64_t d : type.getShape()) {
    dims.push_back(str(d));
  }
  b.dims = dims;
  if (w.format == StoredFormat::F32) {
    b.ptr = "reinterpret_cast<const float *>(W + " + std::to_string(w.offset) +
            ") /* " + name + " */";
    return b;
  }
  if (w.format == StoredFormat::F16) {
    b.type = "f16Type()";
    b.ptr = "(W + " + std::to_string(w.offset) + ") /* " + name + " */";
    return b;
  }
  const int64_t k = type.getShape().back();
  b.type = w.format == StoredFormat::Q8_0 ? "i8Type()" : "u8Type()";
  b.ptr = "(W + " + std::to_string(w.offset) + ") /* " + name + " quants */";
  b.scales = std::string(w.format == StoredFormat::Q6_K
                             ? "reinterpret_cast<const float *>"
                             : "reinterpret_cast<const uint16_t *>") +
             "(W + " + std::to_string(w.scaleOffset) + ") /* " + name +
             " scales */";
  if (w.rowInterleave) {
    const int64_t rows = type.getShape()[type.getRank() - 2];
    const int64_t rowBytes = w.format == StoredFormat::Q4_0   ? k / 2
                             : w.format == StoredFormat::Q6_K ? k / 256 * 208
                                                              : k;
    b.interleave = w.rowInterleave;
    b.dims[b.dims.size() - 2] = str(rows / w.rowInterleave);
    b.dims.back() = str(rowBytes * w.rowInterleave);
  } else if (w.format == StoredFormat::Q4_0) {
    b.dims.back() = str(k / 2);
  } else if (w.format == StoredFormat::Q6_K) {
    b.dims.back() = str(k / 256 * 208);
  }
  return b;
}

std::pair<Buf, Buf> Emitter::quantized(const Buf &x, int64_t k,
                                       const std::string &where) {
  auto it = quantizedActs_.find(x.ptr);
  if (it != quantizedActs_.end()) {
    return it->second;
  }
  // Room for T rows; x may have fewer (the head's selected rows).
  const int64_t dyn = ShapedType::kDynamic;
  const std::string rows = x.dims[0];
  Buf q = view(alloc({dyn, k}, "i8Type()", 1), {rows, str(k)});
  Buf d = view(alloc({dyn, k / 32}), {rows, str(k / 32)});
  call({KernelKind::QuantizeQ8_0, {k}},
       {CallArg::of(view(x, {rows, str(k)})), CallArg::of(q), CallArg::of(d)},
       where + ".quantize");
  // Kept while x lives (q/k/v projections share one quantized input).
  opTemps_.resize(opTemps_.size() - 2);
  quantizedActs_[x.ptr] = {q, d};
  return {q, d};
}

void Emitter::moeGroupedQuant(lfm2::MoEDispatchOp d, const Buf &xq,
                              const Buf &xd, const Buf &out,
                              const std::string &where) {
  auto gate = cast<RankedTensorType>(d.getGateExps().getType());
  const int64_t E = gate.getDimSize(0), F = gate.getDimSize(1),
                H = gate.getDimSize(2);
  const int64_t K =
      cast<RankedTensorType>(d.getWeights().getType()).getDimSize(1);
  const int64_t dyn = ShapedType::kDynamic;
  Buf gq = buf(d.getGateExps()), uq = buf(d.getUpExps()),
      dq = buf(d.getDownExps());
  const bool q4 = gq.format == StoredFormat::Q4_0;
  const int64_t code = q4 ? 1 : 0;
  const int64_t hq = q4 ? H / 2 : H, fq = q4 ? F / 2 : F;
  // Scratch in the arena, dead after the op: the grouping, the routed
  // tokens' quantized rows in grouped order, and each pair's expert output.
  Buf offsets = alloc({E + 1}, "i32Type()");
  Buf pairs = alloc({dyn, K}, "i32Type()");
  Buf rowOf = alloc({dyn, K}, "i32Type()");
  Buf gxq = alloc({dyn, K, H}, "i8Type()", 1);
  Buf gxd = alloc({dyn, K, H / 32});
  Buf rows = alloc({dyn, K, H});
  const std::string pairCount = "T * " + str(K);
  code_ << "    { // " << where << ": tokens grouped by expert\n"
        << "    int32_t *offsets = reinterpret_cast<int32_t *>" << offsets.ptr
        << ";\n"
        << "    int32_t *pairs = reinterpret_cast<int32_t *>" << pairs.ptr
        << ";\n"
        << "    int8_t *gxq = reinterpret_cast<int8_t *>" << gxq.ptr << ";\n"
        << "    float *gxd = " << gxd.ptr << ";\n"
        << "    float *rows = " << rows.ptr << ";\n"
        << "    if (lfm2c::Status st = groupByExpert(\n"
        << "            reinterpret_cast<const int32_t *>("
        << buf(d.getIndices()).ptr << "), T, " << K << ", " << E
        << ", offsets, pairs,\n"
        << "            reinterpret_cast<int32_t *>" << rowOf.ptr
        << "); !st) {\n"
        << "      std::snprintf(err, errLen, \"%s (%s)\", "
           "st.message().c_str(), \""
        << where << "\");\n"
        << "      return 1;\n"
        << "    }\n"
        << "    gatherPairRows(" << xq.ptr << ", " << H << ", pairs, "
        << pairCount << ", " << K << ", gxq);\n"
        << "    gatherPairRows(" << xd.ptr << ", " << H / 32 * 4 << ", pairs, "
        << pairCount << ", " << K << ", gxd);\n"
        << "    for (int64_t e = 0; e < " << E << "; ++e) {\n"
        << "    const int64_t first = offsets[e], n = offsets[e + 1] - first;\n"
        << "    if (n == 0)\n"
        << "      continue;\n";
  // Views of expert e's slab of a stacked weight, no copy: `r` rows of
  // `bytes` quants, and their k / 32 block scales.
  // Interleaved stacks: the same bytes as (r / il) groups of il rows.
  const int64_t il = gq.interleave;
  auto slab = [&](const Buf &w, int64_t r, int64_t bytes) {
    Buf b = w;
    b.ptr = "(" + w.ptr + " + e * " + str(r * bytes) + ")";
    b.dims = il ? std::vector<std::string>{str(r / il), str(bytes * il)}
                : std::vector<std::string>{str(r), str(bytes)};
    return CallArg::of(b);
  };
  auto slabScales = [&](const Buf &w, int64_t r, int64_t k) {
    const std::string skip = "e * " + str(r * (k / 32));
    if (il) {
      return CallArg::of(w.scaleView({str(r / il), str(k / 32 * il)}, skip));
    }
    return CallArg::of(w.scaleView({str(r), str(k / 32)}, skip));
  };
  const CallArg exq = CallArg::of(
      {"(gxq + first * " + str(H) + ")", {"n", str(H)}, "i8Type()"});
  const CallArg exd =
      CallArg::of({"(gxd + first * " + str(H / 32) + ")", {"n", str(H / 32)}});
  const CallArg eRows =
      CallArg::of({"(rows + first * " + str(H) + ")", {"n", str(H)}});
  // Experts with many tokens: three prefill GEMMs (weights regrouped once
  // per task unless interleaved, then rows as vector lanes), the SwiGLU and
  // its Q8_0 quantization between them, as the fused expert kernel computes
  // them.
  auto gemms = [&] {
    Buf g = view(alloc({dyn, F}), {"n", str(F)});
    Buf u = view(alloc({dyn, F}), {"n", str(F)});
    Buf a = view(alloc({dyn, F}), {"n", str(F)});
    Buf aq = view(alloc({dyn, F}, "i8Type()", 1), {"n", str(F)});
    Buf ad = view(alloc({dyn, F / 32}), {"n", str(F / 32)});
    prefillLinear(
        {exq, exd, slab(gq, F, hq), slabScales(gq, F, H), CallArg::of(g)},
        gq.format, H, F, where + ".expert_gate", il);
    prefillLinear(
        {exq, exd, slab(uq, F, hq), slabScales(uq, F, H), CallArg::of(u)},
        uq.format, H, F, where + ".expert_up", il);
    call({KernelKind::SwiGLU, {F}},
         {CallArg::of(g), CallArg::of(u), CallArg::of(a)},
         where + ".expert_swiglu");
    call({KernelKind::QuantizeQ8_0, {F}},
         {CallArg::of(a), CallArg::of(aq), CallArg::of(ad)},
         where + ".expert_quantize");
    prefillLinear({CallArg::of(aq), CallArg::of(ad), slab(dq, H, fq),
                   slabScales(dq, H, F), eRows},
                  dq.format, F, H, where + ".expert_down", il);
  };
  auto fused = [&] {
    call({KernelKind::MoEExpertQuant, {code, H, F}},
         {exq, exd, slab(gq, F, hq), slabScales(gq, F, H), slab(uq, F, hq),
          slabScales(uq, F, H), slab(dq, H, fq), slabScales(dq, H, F), eRows},
         where + ".expert");
  };
  if (il) {
    // Interleaved stacks have no fused expert kernel; their GEMM needs no
    // regrouping, so it serves any batch.
    gemms();
  } else if (F % 8 == 0 && H % 8 == 0) {
    code_ << "    if (n >= " << kPrefillMinTokens << ") {\n";
    gemms();
    code_ << "    } else {\n";
    fused();
    code_ << "    }\n";
  } else {
    fused();
  }
  code_ << "    }\n";
  call({KernelKind::MoECombine, {H, K}},
       {CallArg::of({"rows", {pairCount, str(H)}}),
        CallArg::of(view(rowOf, {"T", str(K)})),
        CallArg::of(buf(d.getWeights())), CallArg::of(out)},
       where + ".combine");
  code_ << "    }\n";
}

void Emitter::linear(const Buf &x, const Buf &w, const Buf &out, int64_t k,
                     int64_t n, const std::string &where) {
  if (!w.quantized()) {
    call({KernelKind::Linear, linearInts(k, n, w)},
         {CallArg::of(x), CallArg::of(w), CallArg::of(out)}, where);
    return;
  }
  const int64_t block = blockValues(w.format);
  Buf xq, xd;
  if (w.format == StoredFormat::Q6_K) {
    // Q8_K activations, for this call only (the Q6_K head's input has no
    // other projection reading it).
    const int64_t dyn = ShapedType::kDynamic;
    const std::string rows = x.dims[0];
    xq = view(alloc({dyn, k}, "i8Type()", 1), {rows, str(k)});
    xd = view(alloc({dyn, k / block}), {rows, str(k / block)});
    call({KernelKind::QuantizeQ8_K, {k}},
         {CallArg::of(view(x, {rows, str(k)})), CallArg::of(xq),
          CallArg::of(xd)},
         where + ".quantize");
  } else {
    std::tie(xq, xd) = quantized(x, k, where);
  }
  std::vector<CallArg> args = {CallArg::of(xq), CallArg::of(xd)};
  appendWeight(args, w, n, k);
  args.push_back(CallArg::of(out));
  quantLinear(args, w.format, k, n, x.dims[0], where, w.interleave);
}

void Emitter::quantLinear(const std::vector<CallArg> &args, StoredFormat format,
                          int64_t k, int64_t n, const std::string &rows,
                          const std::string &where, int64_t interleave) {
  std::vector<int64_t> ints = {formatCode(format), k, n};
  if (interleave) {
    ints.push_back(interleave);
  }
  if (!hasPrefillKernel(format, n)) {
    call({KernelKind::LinearQuant, ints}, args, where);
    return;
  }
  // Same result up to the f32 summation order.
  code_ << "  if (" << rows << " >= " << kPrefillMinTokens << ") {\n";
  prefillLinear(args, format, k, n, where, interleave);
  code_ << "  } else {\n";
  call({KernelKind::LinearQuant, ints}, args, where);
  code_ << "  }\n";
}

void Emitter::prefillLinear(const std::vector<CallArg> &args,
                            StoredFormat format, int64_t k, int64_t n,
                            const std::string &where, int64_t interleave) {
  std::vector<int64_t> ints = {formatCode(format), k, n};
  if (interleave) {
    ints.push_back(interleave);
  }
  call({KernelKind::LinearQuantPrefill, ints}, args, where);
}

std::vector<int64_t> Emitter::linearInts(int64_t k, int64_t n, const Buf &w) {
  if (w.f16Flag()) {
    return {k, n, 1};
  }
  return {k, n};
}

size_t Emitter::kernelFor(const KernelRequest &r) {
  for (size_t i = 0; i < kernels_.size(); ++i) {
    if (kernels_[i] == r) {
      return i;
    }
  }
  // Same shapes but other baked constants (eps, theta): keep both.
  std::string sym = r.symbol();
  int clash = 0;
  for (const std::string &s : symbols_) {
    if (s.rfind(r.symbol(), 0) == 0) {
      ++clash;
    }
  }
  if (clash) {
    sym += "_v" + std::to_string(clash);
  }
  kernels_.push_back(r);
  symbols_.push_back(sym);
  return kernels_.size() - 1;
}

void Emitter::call(const KernelRequest &r, const std::vector<CallArg> &args,
                   const std::string &where) {
  const size_t index = kernelFor(r);
  const std::string &sym = symbols_[index];
  code_ << "  { // " << where << "\n";
  std::string list;
  for (size_t i = 0; i < args.size(); ++i) {
    const CallArg &a = args[i];
    if (!a.scalar.empty()) {
      list += (i ? ", " : "") + std::string("static_cast<int32_t>(") +
              a.scalar + ")";
      continue;
    }
    std::string dims;
    for (const std::string &d : a.buf.dims) {
      dims += (dims.empty() ? "" : ", ") + std::string("int64_t(") + d + ")";
    }
    code_ << "    HBuf a" << i << "(" << a.buf.ptr << ", " << a.buf.type
          << ", {" << dims << "});\n";
    list += (i ? ", " : "") + std::string("a") + std::to_string(i) + ".get()";
  }
  code_ << "    if (int rc = timedCall(args->profile, " << index
        << ", [&] { return " << sym << "(" << list << "); }))\n"
        << "      return fail(err, errLen, \"" << sym << "\", \"" << where
        << "\", rc);\n"
        << "  }\n";
}

LogicalResult Emitter::emit(Operation *op) {
  const std::string where = whereOf(op);
  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case<lfm2::WeightOp>([&](auto w) {
        // Every source format is stored as f32 (the weights writer expands
        // it) until quantized kernels read the formats themselves.
        values_[w.getResult()] = weight(w);
        return success();
      })
      .Case<lfm2::EmbeddingOp>([&](auto e) {
        auto table = cast<RankedTensorType>(e.getTable().getType());
        const int64_t V = table.getDimSize(0), H = table.getDimSize(1);
        Buf out = alloc(cast<RankedTensorType>(e.getType()).getShape());
        Buf tab = buf(e.getTable());
        if (tab.quantized()) {
          const int64_t code = formatCode(tab.format);
          const int64_t block = blockValues(tab.format);
          const int64_t il = std::max(tab.interleave, 1);
          std::vector<int64_t> ints = {code, V, H};
          if (tab.interleave) {
            ints.push_back(tab.interleave);
          }
          call({KernelKind::EmbeddingQuant, ints},
               {CallArg::of(view(buf(e.getTokens()), {"T"})), CallArg::of(tab),
                CallArg::of(tab.scaleView({str(V / il), str(H / block * il)})),
                CallArg::of(out)},
               where);
        } else {
          std::vector<int64_t> ints = {V, H};
          if (tab.f16Flag()) {
            ints.push_back(1);
          }
          call({KernelKind::Embedding, ints},
               {CallArg::of(view(buf(e.getTokens()), {"T"})), CallArg::of(tab),
                CallArg::of(out)},
               where);
        }
        values_[e.getResult()] = out;
        return success();
      })
      .Case<lfm2::RMSNormOp>([&](auto n) {
        auto type = cast<RankedTensorType>(n.getType());
        Buf out = alloc(type.getShape());
        call({KernelKind::RmsNorm,
              {type.getDimSize(1)},
              {n.getEpsilon().convertToFloat()}},
             {CallArg::of(buf(n.getInput())), CallArg::of(buf(n.getWeight())),
              CallArg::of(out)},
             where);
        values_[n.getResult()] = out;
        return success();
      })
      .Case<lfm2::AddOp>([&](auto a) -> LogicalResult {
        auto type = cast<RankedTensorType>(a.getType());
        if (type.getRank() != 2) {
          return a.emitOpError("codegen handles rank-2 adds only");
        }
        Buf out = alloc(type.getShape());
        call({KernelKind::Add, {type.getDimSize(1)}},
             {CallArg::of(buf(a.getLhs())), CallArg::of(buf(a.getRhs())),
              CallArg::of(out)},
             where);
        values_[a.getResult()] = out;
        return success();
      })
      .Case<lfm2::LinearOp>([&](auto l) { return emitLinear(l, where); })
      .Case<lfm2::LinearSwiGLUOp>(
          [&](auto l) { return emitLinearSwiGLU(l, where); })
      .Case<lfm2::AttendOp>([&](auto a) { return emitAttend(a, where); })
      .Case<lfm2::SwiGLUOp>([&](auto a) {
        const int64_t F = cast<RankedTensorType>(a.getType()).getDimSize(1);
        Buf out = output(a.getResult());
        call({KernelKind::SwiGLU, {F}},
             {CallArg::of(buf(a.getGate())), CallArg::of(buf(a.getUp())),
              CallArg::of(out)},
             where);
        values_[a.getResult()] = out;
        return success();
      })
      .Case<lfm2::ConvMixOp>([&](auto c) -> LogicalResult {
        auto kernel = cast<RankedTensorType>(c.getConvWeight().getType());
        const int64_t H = kernel.getDimSize(0), L = kernel.getDimSize(1);
        if (L < 2) {
          return c.emitOpError("kernel length ")
                 << L << " leaves no conv state; codegen needs L >= 2";
        }
        Buf y = output(c.getResult());
        Buf next = alloc({L - 1, H});
        call({KernelKind::ShortConv, {H, L}},
             {CallArg::of(buf(c.getInput())),
              CallArg::of(buf(c.getConvState())),
              CallArg::of(buf(c.getConvWeight())), CallArg::of(y),
              CallArg::of(next)},
             where);
        values_[c.getResult()] = y;
        values_[c.getNewConvState()] = next;
        return success();
      })
      .Case<lfm2::QKNormRopeOp>([&](auto r) -> LogicalResult {
        std::string pos = scalar(r.getPosition());
        if (pos.empty()) {
          return r.emitOpError(
              "position must be the function's position argument");
        }
        const int64_t heads = static_cast<int64_t>(r.getNumHeads());
        const int64_t d = static_cast<int64_t>(r.getHeadDim());
        Buf out = output(r.getResult());
        call({KernelKind::QKNormRope,
              {heads, d},
              {r.getEpsilon().convertToFloat(),
               r.getRopeTheta().convertToFloat()}},
             {CallArg::of(view(buf(r.getInput()), {"T", str(heads), str(d)})),
              CallArg::of(buf(r.getNormWeight())), CallArg::i32(pos),
              CallArg::of(view(out, {"T", str(heads), str(d)}))},
             where);
        values_[r.getResult()] = out;
        return success();
      })
      .Case<lfm2::ShortConvOp, lfm2::AttentionOp, lfm2::SwiGLUFFNOp>(
          [&](Operation *block) -> LogicalResult {
            return block->emitOpError(
                "is a block op; codegen lowers kernel-level ops (run "
                "lfm2-decompose first)");
          })
      .Case<lfm2::MoERouteOp>([&](auto r) {
        auto router = cast<RankedTensorType>(r.getRouter().getType());
        const int64_t E = router.getDimSize(0), H = router.getDimSize(1);
        const int64_t K = static_cast<int64_t>(r.getTopK());
        Buf w = alloc({ShapedType::kDynamic, K});
        Buf idx = alloc({ShapedType::kDynamic, K}, "i32Type()");
        call({KernelKind::MoERoute, {H, E, K}},
             {CallArg::of(buf(r.getInput())), CallArg::of(buf(r.getRouter())),
              CallArg::of(buf(r.getExpertBias())), CallArg::of(w),
              CallArg::of(idx)},
             where);
        values_[r.getWeights()] = w;
        values_[r.getIndices()] = idx;
        return success();
      })
      .Case<lfm2::MoEDispatchOp>([&](auto d) {
        auto gate = cast<RankedTensorType>(d.getGateExps().getType());
        const int64_t E = gate.getDimSize(0), F = gate.getDimSize(1),
                      H = gate.getDimSize(2);
        const int64_t K =
            cast<RankedTensorType>(d.getWeights().getType()).getDimSize(1);
        Buf out = alloc({ShapedType::kDynamic, H});
        Buf gq = buf(d.getGateExps()), uq = buf(d.getUpExps()),
            dq = buf(d.getDownExps());
        if (gq.quantized()) {
          const int64_t code = gq.format == StoredFormat::Q4_0 ? 1 : 0;
          auto [xq, xd] = quantized(buf(d.getInput()), H, where);
          const int64_t il = gq.interleave;
          auto scales = [&](const Buf &w, int64_t rows, int64_t k) {
            if (il) {
              return CallArg::of(
                  w.scaleView({str(E), str(rows / il), str(k / 32 * il)}));
            }
            return CallArg::of(w.scaleView({str(E), str(rows), str(k / 32)}));
          };
          std::vector<int64_t> ints = {code, H, F, E, K};
          if (il) {
            ints.push_back(il);
          }
          // Decode: one GEMV per slot, routed inside the kernel. Prefill:
          // each expert once over its tokens (moeGroupedQuant).
          code_ << "  if (T == 1) {\n";
          call({KernelKind::MoEFFNQuant, ints},
               {CallArg::of(xq), CallArg::of(xd),
                CallArg::of(buf(d.getWeights())),
                CallArg::of(buf(d.getIndices())), CallArg::of(gq),
                scales(gq, F, H), CallArg::of(uq), scales(uq, F, H),
                CallArg::of(dq), scales(dq, H, F), CallArg::of(out)},
               where);
          code_ << "  } else {\n";
          moeGroupedQuant(d, xq, xd, out, where);
          code_ << "  }\n";
          values_[d.getOutput()] = out;
          return success();
        }
        std::vector<int64_t> ints = {H, F, E, K};
        if (gq.f16Flag()) {
          ints.push_back(1);
        }
        call({KernelKind::MoEFFN, ints},
             {CallArg::of(buf(d.getInput())), CallArg::of(buf(d.getWeights())),
              CallArg::of(buf(d.getIndices())),
              CallArg::of(buf(d.getGateExps())),
              CallArg::of(buf(d.getUpExps())),
              CallArg::of(buf(d.getDownExps())), CallArg::of(out)},
             where);
        values_[d.getOutput()] = out;
        return success();
      })
      .Case<lfm2::LMHeadOp>([&](auto l) {
        auto emb = cast<RankedTensorType>(l.getEmbedding().getType());
        const int64_t V = emb.getDimSize(0), H = emb.getDimSize(1);
        Buf in = buf(l.getInput());
        // Only the rows asked for: all of them when dumping, else the last.
        code_ << "  const int64_t headRows = args->allLogits ? T : 1;\n"
              << "  const float *headIn = " << in.ptr
              << " + (args->allLogits ? 0 : (T - 1) * " << H << ");\n";
        linear({"headIn", {"headRows", str(H)}}, buf(l.getEmbedding()),
               {"args->logits", {"headRows", str(V)}}, H, V, where);
        values_[l.getLogits()] = {"args->logits", {"headRows", str(V)}};
        return success();
      })
      .Default([&](Operation *other) -> LogicalResult {
        return other->emitOpError("has no lowering to kernels");
      });
}

Buf Emitter::output(Value v) {
  return alloc(cast<RankedTensorType>(v.getType()).getShape());
}

LogicalResult Emitter::checkCaches(Block &entry) {
  for (auto a : entry.getOps<lfm2::AttendOp>()) {
    if (scalar(a.getPosition()).empty()) {
      return a.emitOpError("position must be the function's position argument");
    }
    // The caches are updated in place (rows [pos, pos + T) are written by
    // the store kernels before attention reads them), so the old cache
    // value must have no other reader.
    for (Value cache : {a.getKCache(), a.getVCache()}) {
      if (!cache.hasOneUse() || !values_.count(cache)) {
        return a.emitOpError("KV cache operand must be a state argument read "
                             "only here; codegen updates caches in place");
      }
    }
    // One attention kernel reads both caches, so they share one type.
    if (buf(a.getKCache()).f16Cache != buf(a.getVCache()).f16Cache) {
      return a.emitOpError("key and value caches must have the same "
                           "cache_format (one is f16, the other f32)");
    }
  }
  return success();
}

Buf Emitter::normed(const Buf &x, Value scale, std::optional<APFloat> eps,
                    int64_t k, const std::string &where) {
  Buf out = alloc({ShapedType::kDynamic, k});
  call({KernelKind::RmsNorm, {k}, {eps->convertToFloat()}},
       {CallArg::of(x), CallArg::of(buf(scale)), CallArg::of(out)},
       where + ".norm");
  return out;
}

std::vector<CallArg> Emitter::projectionInputs(const Buf &x, Value scale,
                                               std::optional<APFloat> eps,
                                               StoredFormat format, int64_t k,
                                               const std::string &where) {
  if (format == StoredFormat::F32 || format == StoredFormat::F16) {
    return {CallArg::of(scale ? normed(x, scale, eps, k, where) : x)};
  }
  if (!scale) {
    auto [xq, xd] = quantized(x, k, where);
    return {CallArg::of(xq), CallArg::of(xd)};
  }
  // The norm happens inside the quantizer: the normalised f32 rows are
  // never stored.
  const int64_t dyn = ShapedType::kDynamic;
  Buf xq = alloc({dyn, k}, "i8Type()", 1), xd = alloc({dyn, k / 32});
  call({KernelKind::RmsNormQuantizeQ8_0, {k}, {eps->convertToFloat()}},
       {CallArg::of(x), CallArg::of(buf(scale)), CallArg::of(xq),
        CallArg::of(xd)},
       where + ".norm_quantize");
  return {CallArg::of(xq), CallArg::of(xd)};
}

void Emitter::appendWeight(std::vector<CallArg> &args, const Buf &w, int64_t n,
                           int64_t k) {
  // Row-interleaved: n / il groups of il rows, quants and scales alike.
  const int64_t il = std::max(w.interleave, 1);
  args.push_back(CallArg::of(view(w, {str(n / il), w.dims.back()})));
  if (w.quantized()) {
    const int64_t blocks = k / blockValues(w.format);
    args.push_back(CallArg::of(w.scaleView({str(n / il), str(blocks * il)})));
  }
}

LogicalResult Emitter::emitLinear(lfm2::LinearOp l, const std::string &where) {
  const int64_t K =
      cast<RankedTensorType>(l.getInput().getType()).getDimSize(1);
  Buf x = buf(l.getInput());
  std::vector<Buf> weights;
  for (Value w : l.getWeights()) {
    weights.push_back(buf(w));
  }
  const StoredFormat format = weights.front().format;
  const int64_t il = weights.front().interleave;
  const bool oneFormat = llvm::all_of(weights, [&](const Buf &w) {
    return w.format == format && w.interleave == il;
  });
  if (!oneFormat) {
    return l.emitOpError("fused projections need one stored format and "
                         "layout for all weights");
  }
  if (weights.size() == 1 && !l.getResidual()) {
    // One plain projection, its input normalised (f32) or normalised and
    // quantized (block formats) first: the unfused projection kernel.
    Value result = l.getResults()[0];
    const int64_t N = cast<RankedTensorType>(result.getType()).getDimSize(1);
    Buf out = output(result);
    values_[result] = out;
    if (!l.getNormWeight()) {
      linear(x, weights.front(), out, K, N, where);
      return success();
    }
    std::vector<CallArg> args = projectionInputs(
        x, l.getNormWeight(), l.getEpsilon(), format, K, where);
    appendWeight(args, weights.front(), N, K);
    args.push_back(CallArg::of(out));
    if (!weights.front().quantized()) {
      call({KernelKind::Linear, linearInts(K, N, weights.front())}, args,
           where);
    } else {
      quantLinear(args, format, K, N, "T", where, il);
    }
    return success();
  }
  std::vector<CallArg> args =
      projectionInputs(x, l.getNormWeight(), l.getEpsilon(), format, K, where);
  std::vector<int64_t> ints = {formatCode(format), K,
                               l.getResidual() ? kProjectionResidual : 0, il};
  std::vector<Buf> outs;
  for (auto [w, result] : llvm::zip_equal(weights, l.getResults())) {
    const int64_t N = cast<RankedTensorType>(result.getType()).getDimSize(1);
    appendWeight(args, w, N, K);
    ints.push_back(N);
    outs.push_back(output(result));
    values_[result] = outs.back();
  }
  if (l.getResidual()) {
    args.push_back(CallArg::of(buf(l.getResidual())));
  }
  for (const Buf &o : outs) {
    args.push_back(CallArg::of(o));
  }
  const bool prefill =
      llvm::all_of(llvm::drop_begin(ints, kProjectionRowsAt),
                   [&](int64_t n) { return hasPrefillKernel(format, n); });
  if (prefill) {
    // Batches: the fused kernel's outputs one prefill GEMM each (it reads
    // the quantized input from cache, so fusion buys nothing there), the
    // residual added after.
    code_ << "  if (T >= " << kPrefillMinTokens << ") {\n";
    for (size_t i = 0; i < outs.size(); ++i) {
      const int64_t N = ints[kProjectionRowsAt + i];
      Buf o = outs[i];
      if (l.getResidual()) {
        o = alloc({ShapedType::kDynamic, N});
      }
      prefillLinear(
          {args[0], args[1], args[2 + 2 * i], args[3 + 2 * i], CallArg::of(o)},
          format, K, N, where, il);
      if (l.getResidual()) {
        call({KernelKind::Add, {N}},
             {CallArg::of(o), CallArg::of(buf(l.getResidual())),
              CallArg::of(outs[i])},
             where + ".residual");
      }
    }
    code_ << "  } else {\n";
  }
  call({KernelKind::Projection, ints}, args, where);
  if (prefill) {
    code_ << "  }\n";
  }
  return success();
}

LogicalResult Emitter::emitLinearSwiGLU(lfm2::LinearSwiGLUOp l,
                                        const std::string &where) {
  auto gate = cast<RankedTensorType>(l.getGate().getType());
  const int64_t F = gate.getDimSize(0), K = gate.getDimSize(1);
  Buf g = buf(l.getGate()), u = buf(l.getUp());
  if (g.format != u.format || g.interleave != u.interleave) {
    return l.emitOpError("gate and up need one stored format and layout");
  }
  std::vector<CallArg> args = projectionInputs(
      buf(l.getInput()), l.getNormWeight(), l.getEpsilon(), g.format, K, where);
  appendWeight(args, g, F, K);
  appendWeight(args, u, F, K);
  Buf out = output(l.getResult());
  args.push_back(CallArg::of(out));
  const bool prefill = hasPrefillKernel(g.format, F);
  if (prefill) {
    // Batches: gate and up as two prefill GEMMs, then the SwiGLU.
    const int64_t dyn = ShapedType::kDynamic;
    Buf gate = alloc({dyn, F}), up = alloc({dyn, F});
    code_ << "  if (T >= " << kPrefillMinTokens << ") {\n";
    prefillLinear({args[0], args[1], args[2], args[3], CallArg::of(gate)},
                  g.format, K, F, where + ".gate", g.interleave);
    prefillLinear({args[0], args[1], args[4], args[5], CallArg::of(up)},
                  g.format, K, F, where + ".up", g.interleave);
    call({KernelKind::SwiGLU, {F}},
         {CallArg::of(gate), CallArg::of(up), CallArg::of(out)},
         where + ".swiglu");
    code_ << "  } else {\n";
  }
  call({KernelKind::Projection,
        {formatCode(g.format), K, kProjectionSwiGLU, g.interleave, F}},
       args, where);
  if (prefill) {
    code_ << "  }\n";
  }
  values_[l.getResult()] = out;
  return success();
}

LogicalResult Emitter::emitAttend(lfm2::AttendOp a, const std::string &where) {
  const int64_t nh = static_cast<int64_t>(a.getNumHeads());
  const int64_t nkv = static_cast<int64_t>(a.getNumKvHeads());
  const int64_t d = static_cast<int64_t>(a.getHeadDim());
  const std::string pos = scalar(a.getPosition());
  Buf kc = buf(a.getKCache()), vc = buf(a.getVCache());
  Buf o = output(a.getResult());
  const std::string seen = "(" + pos + " + T)";
  const bool f16 = kc.f16Cache;
  // The caches' shapes up to row `rows`, in whole tiles (kCacheTileRows).
  const std::string tile = str(kCacheTileRows);
  auto keyTiles = [&](const std::string &rows) {
    return std::vector<std::string>{"((" + rows + " + " + tile + " - 1) / " +
                                        tile + ")",
                                    str(nkv), str(d), tile};
  };
  auto valueTiles = [&](const std::string &rows) {
    std::vector<std::string> shape = keyTiles(rows);
    std::swap(shape[2], shape[3]);
    return shape;
  };
  // The step's keys and values, computed in f32 scratch, go into the
  // caches' tiles (rounded to f16 for an f16 cache).
  const std::vector<int64_t> f16Flag =
      f16 ? std::vector<int64_t>{1} : std::vector<int64_t>{};
  for (bool keys : {true, false}) {
    std::vector<int64_t> ints = {nkv, d, keys ? 1 : 0};
    ints.insert(ints.end(), f16Flag.begin(), f16Flag.end());
    const Value rows = keys ? a.getKeys() : a.getValues();
    const Buf &cache = keys ? kc : vc;
    call({KernelKind::StoreCacheTiles, ints},
         {CallArg::of(view(buf(rows), {"T", str(nkv * d)})), CallArg::i32(pos),
          CallArg::of(view(cache, keys ? keyTiles("C") : valueTiles("C")))},
         where + (keys ? ".store_keys" : ".store_values"));
  }
  std::vector<int64_t> ints = {nh, nkv, d};
  ints.insert(ints.end(), f16Flag.begin(), f16Flag.end());
  call({KernelKind::Attention, ints},
       {CallArg::of(view(buf(a.getQueries()), {"T", str(nh), str(d)})),
        CallArg::of(view(kc, keyTiles(seen))),
        CallArg::of(view(vc, valueTiles(seen))), CallArg::i32(pos),
        CallArg::of(view(o, {"T", str(nh), str(d)}))},
       where);
  values_[a.getResult()] = o;
  values_[a.getNewKCache()] = kc;
  values_[a.getNewVCache()] = vc;
  return success();
}

std::string quote(const std::string &s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  return out + "\"";
}

LogicalResult Emitter::run(func::FuncOp func, ProgramPlan &plan,
                           const std::string &modelName,
                           int64_t contextLength) {
  Block &entry = func.getBody().front();
  if (func.getNumArguments() < 2) {
    return func.emitOpError("expected (tokens, position, state...) arguments");
  }
  values_[entry.getArgument(0)] = {"args->tokens", {"T"}, "i32Type()"};
  scalars_[entry.getArgument(1)] = "pos";

  std::ostringstream states;
  int64_t vocab = 0;
  for (unsigned i = 2; i < func.getNumArguments(); ++i) {
    auto type = dyn_cast<RankedTensorType>(entry.getArgument(i).getType());
    if (!type || !type.getElementType().isF32()) {
      return func.emitOpError("state argument ")
             << i << " is not an f32 tensor";
    }
    std::string name = "state" + std::to_string(i);
    if (auto attr = func.getArgAttrOfType<StringAttr>(i, "lfm2.state")) {
      name = attr.str();
    }
    const bool cache = type.isDynamicDim(0);
    bool f16 = false;
    if (auto attr = func.getArgAttrOfType<StringAttr>(i, "lfm2.cache_format")) {
      if (!cache) {
        return func.emitOpError("state argument ")
               << i << " (" << name
               << "): cache_format on a state of fixed rows; only KV caches "
                  "(rows = context positions) take one";
      }
      if (attr.getValue() != "f16" && attr.getValue() != "f32") {
        return func.emitOpError("state argument ")
               << i << " (" << name << "): cache_format '" << attr.getValue()
               << "', expected f16 or f32";
      }
      f16 = attr.getValue() == "f16";
    }
    int64_t rowElements = 1;
    std::vector<std::string> dims = {cache ? "C" : str(type.getDimSize(0))};
    for (int64_t r = 1; r < type.getRank(); ++r) {
      rowElements *= type.getDimSize(r);
      dims.push_back(str(type.getDimSize(r)));
    }
    const bool values = cache && name.find("v_cache") != std::string::npos;
    const bool keys = cache && !values;
    const char *kind = keys     ? "StateKind::KeyCache"
                       : values ? "StateKind::ValueCache"
                                : "StateKind::ConvState";
    // KV caches are stored in tiles of kCacheTileRows rows.
    states << "    {" << quote(name) << ", " << kind << ", "
           << (cache ? 0 : type.getDimSize(0)) << ", " << rowElements << ", "
           << (f16 ? 2 : 4) << ", " << (cache ? kCacheTileRows : 1) << "},\n";
    const std::string ptr = "args->states[" + std::to_string(i - 2) + "]";
    if (f16) {
      Buf b{"reinterpret_cast<uint16_t *>(" + ptr + ")", dims, "f16Type()"};
      b.f16Cache = true;
      values_[entry.getArgument(i)] = b;
    } else {
      values_[entry.getArgument(i)] = {ptr, dims};
    }
  }

  if (failed(checkCaches(entry))) {
    return failure();
  }
  // A value's slot is free after the last op that reads it.
  llvm::DenseMap<Value, Operation *> lastUse;
  for (Operation &op : entry) {
    for (Value v : op.getOperands()) {
      lastUse[v] = &op;
    }
  }
  for (Operation &op : entry.without_terminator()) {
    opTemps_.clear();
    if (failed(emit(&op))) {
      return failure();
    }
    // Temporaries of the op die with it; its results live on.
    for (Value r : op.getResults()) {
      llvm::erase(opTemps_, buf(r).ptr);
    }
    for (const std::string &ptr : opTemps_) {
      release(ptr);
    }
    for (Value v : op.getOperands()) {
      if (lastUse.lookup(v) == &op && values_.count(v)) {
        release(buf(v).ptr);
      }
    }
  }
  auto ret = cast<func::ReturnOp>(entry.getTerminator());
  if (ret.getNumOperands() != func.getNumArguments() - 1 ||
      !ret.getOperand(0).getDefiningOp<lfm2::LMHeadOp>()) {
    return ret.emitOpError("expected (logits from lfm2.lm_head, new state...)");
  }
  vocab = cast<RankedTensorType>(ret.getOperand(0).getType()).getDimSize(1);
  // New conv states were computed beside the old ones; copy them over now
  // that nothing reads the old values any more.
  for (unsigned s = 1; s < ret.getNumOperands(); ++s) {
    Buf now = buf(ret.getOperand(s));
    Buf slot = buf(entry.getArgument(s + 1));
    // Caches (the only non-f32 states) are updated in place, never here.
    if (now.ptr != slot.ptr) {
      code_ << "  std::memcpy(" << slot.ptr << ", " << now.ptr << ", "
            << "sizeof(float) * " << now.dims[0] << " * " << now.dims[1]
            << ");\n";
    }
  }

  std::ostringstream out;
  out << "// Generated by lfm2c from " << modelName << " for target "
      << target_.name() << ". Do not edit.\n"
      << "#include \"runtime/Program.h\"\n"
         "#include \"runtime/ExpertGroups.h\"\n\n#include <cstdio>\n#include "
         "<cstring>\n\nusing namespace lfm2c::rt;\n\nextern \"C\" {\n";
  for (size_t i = 0; i < kernels_.size(); ++i) {
    std::string params;
    for (KernelArg a : kernels_[i].signature()) {
      params +=
          (params.empty() ? "" : ", ") +
          std::string(a == KernelArg::Int32 ? "int32_t" : "halide_buffer_t *");
    }
    out << "int " << symbols_[i] << "(" << params << ");\n";
  }
  out << "}\n\nnamespace {\n\n"
      << "int fail(char *err, size_t errLen, const char *kernel,\n"
      << "         const char *where, int rc) {\n"
      << "  std::snprintf(err, errLen, \"kernel %s (%s) failed with Halide "
         "error %d\", kernel, where, rc);\n"
      << "  return 1;\n}\n\n"
      << "const char *const kKernelNames[] = {\n";
  for (const std::string &sym : symbols_) {
    out << "    \"" << sym << "\",\n";
  }
  out << "    nullptr};\n\n"
      << "const StateDesc kStates[] = {\n"
      << states.str() << "    {nullptr, StateKind::ConvState, 0, 0, 4, 1}};\n\n"
      << "} // namespace\n\n"
      << "extern \"C\" int lfm2c_program_forward(const ForwardArgs *args, "
         "char *err, size_t errLen) {\n"
      << "  const int64_t T = args->numTokens;\n"
      << "  const int64_t pos = args->position;\n"
      << "  const int64_t C = args->contextSize;\n"
      << "  (void)C;\n"
      << "  const uint8_t *W = args->weights;\n"
      << "  float *arena = args->arena;\n"
      << code_.str() << "  return 0;\n}\n";
  plan.body = out.str();

  plan.modelName = modelName;
  plan.targetName = target_.name();
  plan.vocabSize = vocab;
  plan.contextLength = contextLength;
  plan.numStates = func.getNumArguments() - 2;
  plan.arenaPerToken = perToken_;
  plan.arenaFixed = fixed_;
  plan.kernels = kernels_;
  plan.weights = weights_;
  plan.weightsBytes = weightsBytes_;
  return success();
}

} // namespace

std::string ProgramPlan::render(const ProgramConstants &c) const {
  auto f = [](float v) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.9g", v);
    std::string s = buf;
    if (s.find_first_of(".en") == std::string::npos) {
      s += ".0";
    }
    return s + "f";
  };
  std::ostringstream info;
  info << "\nextern \"C\" const ProgramInfo *lfm2c_program_info() {\n"
       << "  static const ProgramInfo info = {\n"
       << "      " << quote(modelName) << ", " << quote(targetName) << ",\n"
       << "      0x" << std::hex << c.weightsHash << std::dec << "ull, "
       << c.dataBytes << "ull, " << vocabSize << ", " << contextLength
       << ",\n      " << numStates << ", kStates, " << arenaPerToken << ", "
       << arenaFixed << ",\n      " << c.tokenizerOffset << "ull, "
       << c.tokenizerBytes << "ull,\n      {" << f(c.temperature) << ", "
       << c.topK << ", " << f(c.topP) << ", " << f(c.minP) << ", "
       << f(c.repeatPenalty) << "},\n      " << kernels.size()
       << ", kKernelNames};\n  return &info;\n}\n";
  return body + info.str();
}

FailureOr<ProgramPlan> planProgram(ModuleOp module, const TargetInfo &target,
                                   const std::string &modelName) {
  auto func = module.lookupSymbol<func::FuncOp>("forward");
  if (!func) {
    return module.emitError("module has no @forward function");
  }
  int64_t context = 0;
  if (auto attr = module->getAttrOfType<IntegerAttr>("lfm2.context_length")) {
    context = attr.getInt();
  }
  ProgramPlan plan;
  Emitter emitter(target);
  if (failed(emitter.run(func, plan, modelName, context))) {
    return failure();
  }
  return plan;
}

} // namespace lfm2c
