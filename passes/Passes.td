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
    With `format=f16` the same weights are stored as IEEE half (block
    formats from the file stay). A matrix whose rows are not a whole number
    of 32-value blocks stays as it is for q8_0/q4_0 (with a remark).

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
           "Stored format for projection weights: q8_0, q4_0, f16 or f32 "
           "(f32 expands every weight, including quantized ones)">,
  ];
  let dependentDialects = ["mlir::lfm2::LFM2Dialect"];
}

def LFM2KVCacheFormatPass : Pass<"lfm2-kv-cache", "mlir::ModuleOp"> {
  let summary = "Choose the stored element type of the KV caches";
  let description = [{
    Marks every function argument that an `lfm2.attention` or `lfm2.attend`
    reads as its key or value cache with `lfm2.cache_format = "f16"` when
    `format=f16`, and removes the mark when `format=f32`. The caches stay
    f32 tensors in the IR: the mark says codegen stores their rows as IEEE
    half, rounded to nearest even when written and widened to f32 when read
    (llama.cpp's default `-ctk f16 -ctv f16`). Half the bytes per cached
    token: less memory at long contexts, and half the reads of a decode
    step's attention. Every other tensor, and all arithmetic, stays f32.

    Before, with `format=f16`:
    ```mlir
    func.func @forward(..., %kc: tensor<?x8x64xf32> {lfm2.state = "blk.2.k_cache"}, ...)
    ```
    After:
    ```mlir
    func.func @forward(..., %kc: tensor<?x8x64xf32> {lfm2.cache_format = "f16", lfm2.state = "blk.2.k_cache"}, ...)
    ```
  }];
  let options = [
    Option<"format", "format", "std::string", /*default=*/"\"f16\"",
           "Stored element type of the KV caches: f16 or f32">,
  ];
  let dependentDialects = ["mlir::lfm2::LFM2Dialect"];
}

//===----------------------------------------------------------------------===//
// Decomposition into kernel-level ops
//===----------------------------------------------------------------------===//

def LFM2DecomposePass : Pass<"lfm2-decompose", "mlir::ModuleOp"> {
  let summary = "Rewrite block ops into kernel-level ops";
  let description = [{
    Expands `lfm2.short_conv`, `lfm2.attention` and `lfm2.swiglu_ffn` into
    the ops codegen lowers one kernel each: `lfm2.linear` for every
    projection, `lfm2.conv_mix` between the conv block's projections,
    `lfm2.qk_norm_rope` and `lfm2.attend` in attention, `lfm2.swiglu` in the
    dense FFN. The fusion passes then work on these ops. MoE routing and
    dispatch, norms, adds, the embedding and the head are kernel-level
    already and stay. Each new op is named after its block's location plus
    its role (`blk.0.attn.q_proj`), which is how errors and the generated
    program refer to it.

    Before:
    ```mlir
    %y, %s1 = lfm2.short_conv %u, %s0, %in, %kernel, %out : ...
    ```
    After:
    ```mlir
    %z = lfm2.linear %u weights(%in) : ...
    %c, %s1 = lfm2.conv_mix %z, %s0, %kernel : ...
    %y = lfm2.linear %c weights(%out) : ...
    ```
  }];
  let dependentDialects = ["mlir::lfm2::LFM2Dialect"];
}

//===----------------------------------------------------------------------===//
// Fusion
//===----------------------------------------------------------------------===//

def LFM2FuseSwiGLUPass : Pass<"lfm2-fuse-swiglu", "mlir::ModuleOp"> {
  let summary = "Compute gate and up in one pass over the input, SwiGLU fused";
  let description = [{
    `lfm2.swiglu(linear(x, gate), linear(x, up))` becomes one
    `lfm2.linear_swiglu x, gate, up`: both weight rows of an output are dotted
    with the same activations while they are in registers and the two [T, F]
    intermediates are never written. Applies when both projections read the
    same input (with the same fused norm, if any), have no residual and no
    other user, and their weights share a stored format.

    Before:
    ```mlir
    %g = lfm2.linear %x weights(%wg) : ...
    %u = lfm2.linear %x weights(%wu) : ...
    %a = lfm2.swiglu %g, %u : tensor<?x512xf32>
    ```
    After:
    ```mlir
    %a = lfm2.linear_swiglu %x, %wg, %wu : ...
    ```
  }];
  let dependentDialects = ["mlir::lfm2::LFM2Dialect"];
}

def LFM2MergeProjectionsPass : Pass<"lfm2-merge-projections", "mlir::ModuleOp"> {
  let summary = "Merge projections of one input into one multi-weight linear";
  let description = [{
    `lfm2.linear` ops that read the same input (same fused norm, no
    residual) and whose weights are `lfm2.weight`s of one stored format
    become a single `lfm2.linear` with all the weights: codegen stores the
    weights as one matrix and runs one kernel, so the input is read (and
    quantized) once and the rows of all projections share the threads. In
    LFM2 this merges q, k and v.

    Before:
    ```mlir
    %q = lfm2.linear %x weights(%wq) : ...
    %k = lfm2.linear %x weights(%wk) : ...
    ```
    After:
    ```mlir
    %qk:2 = lfm2.linear %x weights(%wq, %wk) : ...
    ```
  }];
  let dependentDialects = ["mlir::lfm2::LFM2Dialect"];
}

def LFM2FuseRMSNormPass : Pass<"lfm2-fuse-rms-norm", "mlir::ModuleOp"> {
  let summary = "Fold an RMSNorm into the projections that read it";
  let description = [{
    An `lfm2.rms_norm` whose every user is the input of an `lfm2.linear` or
    `lfm2.linear_swiglu` without a norm is folded into those ops
    (`norm(%scale) {epsilon}`): the normalised activations are produced
    where the projection reads them (for block-format weights, inside the
    activation quantizer), never stored as their own tensor. A norm with any
    other user (the MoE router and dispatcher read the FFN norm) stays.

    Before:
    ```mlir
    %n = lfm2.rms_norm %h, %g {epsilon = 1.0e-05 : f32} : ...
    %z = lfm2.linear %n weights(%w) : ...
    ```
    After:
    ```mlir
    %z = lfm2.linear %h weights(%w) norm(%g) {epsilon = 1.0e-05 : f32} : ...
    ```
  }];
  let dependentDialects = ["mlir::lfm2::LFM2Dialect"];
}

def LFM2FuseResidualPass : Pass<"lfm2-fuse-residual", "mlir::ModuleOp"> {
  let summary = "Fold residual adds into the projection that produces one side";
  let description = [{
    `lfm2.add %h, %p` where `%p` is the only result of an `lfm2.linear`
    without a residual, used only by this add, becomes that linear with
    `residual(%h)`: the projection writes `h + x W^T` directly and the add
    kernel, with its extra read and write of both tensors, disappears.

    Before:
    ```mlir
    %p = lfm2.linear %o weights(%wo) : ...
    %h1 = lfm2.add %h, %p : tensor<?x256xf32>
    ```
    After:
    ```mlir
    %h1 = lfm2.linear %o weights(%wo) residual(%h) : ...
    ```
  }];
  let dependentDialects = ["mlir::lfm2::LFM2Dialect"];
}

#endif // LFM2C_PASSES_TD
