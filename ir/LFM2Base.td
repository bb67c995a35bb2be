//===- LFM2Base.td - lfm2 dialect definition ---------------*- tablegen -*-===//
//
// The dialect and the attributes shared by its ops. Ops live in LFM2Ops.td so
// that passes can include this file without pulling in every op.
//
//===----------------------------------------------------------------------===//

#ifndef LFM2_BASE_TD
#define LFM2_BASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def LFM2_Dialect : Dialect {
  let name = "lfm2";
  let cppNamespace = "::mlir::lfm2";
  let summary = "Model-level ops of LiquidAI LFM2 and LFM2-MoE";
  let description = [{
    One op per block of the LFM2 forward pass (embedding, RMSNorm, gated short
    convolution, grouped-query attention, MoE routing and dispatch, SwiGLU FFN,
    tied LM head). Keeping ops at this granularity lets the compiler fuse and
    quantize with knowledge of the model, before lowering to kernels.

    Activations are `tensor<?xHxf32>` ([tokens, hidden], tokens dynamic).
    Weights are logical f32 tensors in Hugging Face order [out, in]; how a
    weight is stored on disk is an attribute of `lfm2.weight`, not its type.
    Recurrent state (conv state, KV cache) is threaded through SSA values, so
    no op has side effects.
  }];
}

// Storage format of a weight. The element type seen by compute ops is always
// f32; the format tells codegen which dequantising load to emit.
def LFM2_WeightFormat : I32EnumAttr<"WeightFormat",
    "storage format of a model weight", [
      I32EnumAttrCase<"f32", 0>,
      I32EnumAttrCase<"f16", 1>,
      I32EnumAttrCase<"bf16", 2>,
      I32EnumAttrCase<"q8_0", 3>,
      I32EnumAttrCase<"q4_0", 4>,
      I32EnumAttrCase<"q6_k", 5>
    ]> {
  let cppNamespace = "::mlir::lfm2";
}

class LFM2_Op<string mnemonic, list<Trait> traits = []>
    : Op<LFM2_Dialect, mnemonic, traits>;

#endif // LFM2_BASE_TD
