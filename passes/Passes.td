//===- Passes.td - lfm2 transformation passes -------------------*- tablegen -*-===//
//
// Every pass of the lfm2 compile pipeline is declared here, with a summary,
// a description showing the IR before and after, and typed options. One pass
// per file (QuantizeWeights.cpp for lfm2-quantize, ...), one lit test per
// pass under passes/test/.
//
//===----------------------------------------------------------------------===//

#ifndef LFM2C_PASSES_TD
#define LFM2C_PASSES_TD

include "mlir/Pass/PassBase.td"

//===----------------------------------------------------------------------===//
// Quantization
//===----------------------------------------------------------------------===//

def LFM2QuantizeWeightsPass : Pass<"lfm2-quantize", "mlir::ModuleOp"> {
  let summary = "Choose the stored block format of the projection weights";
  let description = [{
    Sets the `format` of every `lfm2.weight` that only feeds projections
    (conv in/out, q/k/v/o, dense and expert FFN matrices, the embedding and
    the tied head) to the requested block format. Weights the file already
    stores quantized keep their format, so lfm2c and llama.cpp compute with
    the same bits. The router, the expert bias, norms and conv kernels stay
    f32 whatever the option: a rounding must never flip an expert choice.
    A matrix whose rows are not a whole number of 32-value blocks stays as it
    is (with a remark).

    Before, with `format=q4_0`:
    ```mlir
    %w = lfm2.weight "blk.0.ffn_up.weight" format(f32) : tensor<256x128xf32>
    %r = lfm2.weight "blk.2.ffn_gate_inp.weight" format(f32) : tensor<8x128xf32>
    ```
    After:
    ```mlir
    %w = lfm2.weight "blk.0.ffn_up.weight" format(q4_0) : tensor<256x128xf32>
    %r = lfm2.weight "blk.2.ffn_gate_inp.weight" format(f32) : tensor<8x128xf32>
    ```
  }];
  let options = [
    Option<"format", "format", "std::string", /*default=*/"\"q8_0\"",
           "Block format for projection weights: q8_0, q4_0 or f32 (f32 "
           "expands every weight, including quantized ones)">,
  ];
  let dependentDialects = ["mlir::lfm2::LFM2Dialect"];
}

#endif // LFM2C_PASSES_TD
