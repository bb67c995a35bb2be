//===- LFM2Ops.td - lfm2 dialect operations ----------------*- tablegen -*-===//
//
// One op per block of the LFM2 / LFM2-MoE forward pass. The math each op
// stands for is restated in its description; the reference is section 2 of
// lfm2-architecture.md (llama.cpp float32 semantics).
//
//===----------------------------------------------------------------------===//

#ifndef LFM2_OPS_TD
#define LFM2_OPS_TD

include "ir/LFM2Base.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

//===----------------------------------------------------------------------===//
// Type constraints
//===----------------------------------------------------------------------===//

// Ranks are fixed here so that the C++ verifiers only reason about sizes.
def LFM2_Activation : TensorRankOf<[F32], [2]>;
def LFM2_Vector : TensorRankOf<[F32], [1]>;
def LFM2_Matrix : TensorRankOf<[F32], [2]>;
def LFM2_Stack : TensorRankOf<[F32], [3]>;
def LFM2_TokenIds : TensorRankOf<[I32], [1]>;
def LFM2_ExpertIds : TensorRankOf<[I32], [2]>;

//===----------------------------------------------------------------------===//
// Weights
//===----------------------------------------------------------------------===//

def LFM2_WeightOp : LFM2_Op<"weight", [Pure]> {
  let summary = "names a model weight and the format it is stored in";
  let description = [{
    Stands for the checkpoint tensor `tensor_name` (GGUF naming). The result is
    the logical f32 value in Hugging Face order [out, in]; `format` records how
    the bytes are stored, so that codegen can emit a dequantising load instead
    of materialising f32 copies.

    ```mlir
    %w = lfm2.weight "blk.0.attn_norm.weight" format(f32) : tensor<256xf32>
    %q = lfm2.weight "blk.0.shortconv.in_proj.weight" format(q4_0)
        : tensor<768x256xf32>
    ```
  }];
  let arguments = (ins StrAttr:$tensor_name, LFM2_WeightFormat:$format);
  let results = (outs RankedTensorOf<[F32]>:$result);
  let assemblyFormat = [{
    $tensor_name `format` `(` $format `)` attr-dict `:` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Embedding, norms and the LM head
//===----------------------------------------------------------------------===//

def LFM2_EmbeddingOp : LFM2_Op<"embedding", [Pure]> {
  let summary = "looks up one table row per token";
  let description = [{
    `result[t, :] = table[tokens[t], :]`. No scaling is applied. Token ids
    outside [0, V) are a runtime error, not an IR invariant.

    ```mlir
    %h = lfm2.embedding %tokens, %table
        : (tensor<?xi32>, tensor<1024x256xf32>) -> tensor<?x256xf32>
    ```
  }];
  let arguments = (ins LFM2_TokenIds:$tokens, LFM2_Matrix:$table);
  let results = (outs LFM2_Activation:$result);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def LFM2_RMSNormOp : LFM2_Op<"rms_norm",
    [Pure, AllTypesMatch<["input", "result"]>]> {
  let summary = "RMS normalisation over the last axis with a learned scale";
  let description = [{
    `result[t, j] = weight[j] * input[t, j] / sqrt(mean_j'(input[t, j']^2) + epsilon)`.
    The scale is a plain multiply (no `1 + w` offset) and `epsilon` is added
    inside the square root.

    ```mlir
    %n = lfm2.rms_norm %h, %w {epsilon = 1.0e-05 : f32}
        : (tensor<?x256xf32>, tensor<256xf32>) -> tensor<?x256xf32>
    ```
  }];
  let arguments = (ins LFM2_Activation:$input, LFM2_Vector:$weight,
                       F32Attr:$epsilon);
  let results = (outs LFM2_Activation:$result);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def LFM2_LMHeadOp : LFM2_Op<"lm_head", [Pure]> {
  let summary = "projects hidden states onto the tied embedding table";
  let description = [{
    `logits = input * embedding^T`: the LM head of LFM2 is tied to the token
    embedding, so it takes the [V, H] table as is. No soft-capping or scaling.

    ```mlir
    %logits = lfm2.lm_head %h, %table
        : (tensor<?x256xf32>, tensor<1024x256xf32>) -> tensor<?x1024xf32>
    ```
  }];
  let arguments = (ins LFM2_Activation:$input, LFM2_Matrix:$embedding);
  let results = (outs LFM2_Activation:$logits);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def LFM2_AddOp : LFM2_Op<"add", [Pure, SameOperandsAndResultType]> {
  let summary = "elementwise sum, used for residual connections";
  let description = [{
    Kept as its own op (rather than `arith.addf` on tensors) so that fusion
    patterns can match residual connections between lfm2 blocks directly.

    ```mlir
    %h1 = lfm2.add %h0, %mix : tensor<?x256xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[F32]>:$lhs, RankedTensorOf<[F32]>:$rhs);
  let results = (outs RankedTensorOf<[F32]>:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($result)";
}

//===----------------------------------------------------------------------===//
// Sequence mixers
//===----------------------------------------------------------------------===//

def LFM2_ShortConvOp : LFM2_Op<"short_conv",
    [Pure, AllTypesMatch<["input", "output"]>,
     AllTypesMatch<["conv_state", "new_conv_state"]>]> {
  let summary = "gated short causal convolution block of the conv layers";
  let description = [{
    For each token, with H the hidden size and L the kernel length:

    ```
    [B, C, x] = split3(input[t] * in_proj^T)        // in this order, H each
    v[t]      = B * x
    c[t][j]   = sum_{m<L} conv_weight[j, m] * v[t - (L-1) + m][j]
    output[t] = (C * c[t]) * out_proj^T
    ```

    `conv_state` holds v of the L-1 tokens before the first input token,
    oldest first (zeros at the start of a sequence); `new_conv_state` holds
    v of the last L-1 tokens of `concat(conv_state, v)`, ready for the next
    call. The kernel is a cross-correlation: `conv_weight[:, L-1]` weighs the
    current token. No activation and no bias.

    ```mlir
    %y, %s1 = lfm2.short_conv %u, %s0, %in_proj, %kernel, %out_proj
        : (tensor<?x256xf32>, tensor<2x256xf32>, tensor<768x256xf32>,
           tensor<256x3xf32>, tensor<256x256xf32>)
        -> (tensor<?x256xf32>, tensor<2x256xf32>)
    ```
  }];
  let arguments = (ins LFM2_Activation:$input, LFM2_Matrix:$conv_state,
                       LFM2_Matrix:$in_proj, LFM2_Matrix:$conv_weight,
                       LFM2_Matrix:$out_proj);
  let results = (outs LFM2_Activation:$output, LFM2_Matrix:$new_conv_state);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def LFM2_AttentionOp : LFM2_Op<"attention",
    [Pure, AllTypesMatch<["input", "output"]>,
     AllTypesMatch<["k_cache", "v_cache", "new_k_cache", "new_v_cache"]>]> {
  let summary = "causal grouped-query attention with q/k norm, RoPE and a KV cache";
  let description = [{
    With nh = `num_heads`, nkv = `num_kv_heads`, d = `head_dim` and token t at
    absolute position `position + t`:

    ```
    q = RMSNorm_per_head(input * q_proj^T, q_norm)     // [T, nh, d]
    k = RMSNorm_per_head(input * k_proj^T, k_norm)     // [T, nkv, d]
    v = input * v_proj^T                               // [T, nkv, d]
    q, k = RoPE_neox(q, k, position + t, rope_theta)   // rotate-half, all d dims
    cache[position + t] = (k, v)
    o[t, h] = softmax_s<=position+t(q[t, h] . k_cache[s, h / (nh/nkv)] / sqrt(d))
              * v_cache[s, h / (nh/nkv)]
    output = concat_h(o) * out_proj^T
    ```

    The per-head norms use `epsilon`; v is neither normed nor rotated. The
    caches hold post-norm, post-RoPE keys and values, [C, nkv, d]; rows
    `[position, position + T)` are overwritten and rows `[0, position)` must
    already hold the earlier tokens. C may be dynamic; `position + T <= C` is
    the caller's obligation, checked at run time.

    ```mlir
    %o, %k1, %v1 = lfm2.attention %u, %wq, %wk, %wv, %wo, %qn, %kn, %k0, %v0, %pos
        {epsilon = 1.0e-05 : f32, head_dim = 64 : i64, num_heads = 4 : i64,
         num_kv_heads = 2 : i64, rope_theta = 1.0e+06 : f32}
        : (tensor<?x256xf32>, tensor<256x256xf32>, tensor<128x256xf32>,
           tensor<128x256xf32>, tensor<256x256xf32>, tensor<64xf32>,
           tensor<64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, index)
        -> (tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>)
    ```
  }];
  let arguments = (ins LFM2_Activation:$input, LFM2_Matrix:$q_proj,
                       LFM2_Matrix:$k_proj, LFM2_Matrix:$v_proj,
                       LFM2_Matrix:$out_proj, LFM2_Vector:$q_norm,
                       LFM2_Vector:$k_norm, LFM2_Stack:$k_cache,
                       LFM2_Stack:$v_cache, Index:$position,
                       I64Attr:$num_heads, I64Attr:$num_kv_heads,
                       I64Attr:$head_dim, F32Attr:$rope_theta,
                       F32Attr:$epsilon);
  let results = (outs LFM2_Activation:$output, LFM2_Stack:$new_k_cache,
                      LFM2_Stack:$new_v_cache);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Feed-forward blocks
//===----------------------------------------------------------------------===//

def LFM2_SwiGLUFFNOp : LFM2_Op<"swiglu_ffn",
    [Pure, AllTypesMatch<["input", "output"]>]> {
  let summary = "dense SwiGLU feed-forward block";
  let description = [{
    `output = (silu(input * gate^T) * (input * up^T)) * down^T` with
    `silu(z) = z * sigmoid(z)`; gate and up are [F, H], down is [H, F].

    ```mlir
    %f = lfm2.swiglu_ffn %n, %gate, %up, %down
        : (tensor<?x256xf32>, tensor<512x256xf32>, tensor<512x256xf32>,
           tensor<256x512xf32>) -> tensor<?x256xf32>
    ```
  }];
  let arguments = (ins LFM2_Activation:$input, LFM2_Matrix:$gate,
                       LFM2_Matrix:$up, LFM2_Matrix:$down);
  let results = (outs LFM2_Activation:$output);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def LFM2_MoERouteOp : LFM2_Op<"moe_route", [Pure]> {
  let summary = "sigmoid router: picks top_k experts per token and their weights";
  let description = [{
    Per token:

    ```
    s       = sigmoid(input[t] * router^T)               // [E]
    indices = top_k positions of (s + expert_bias)       // bias selects only
    w       = s[indices]                                 // unbiased scores
    weights = w / max(sum(w), 6.103515625e-5)
    ```

    The bias only changes which experts are selected, never their weight.
    The normalisation clamp follows llama.cpp (smallest normal f16).

    ```mlir
    %w, %idx = lfm2.moe_route %n, %router, %bias {top_k = 2 : i64}
        : (tensor<?x256xf32>, tensor<8x256xf32>, tensor<8xf32>)
        -> (tensor<?x2xf32>, tensor<?x2xi32>)
    ```
  }];
  let arguments = (ins LFM2_Activation:$input, LFM2_Matrix:$router,
                       LFM2_Vector:$expert_bias, I64Attr:$top_k);
  let results = (outs LFM2_Matrix:$weights, LFM2_ExpertIds:$indices);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def LFM2_MoEDispatchOp : LFM2_Op<"moe_dispatch",
    [Pure, AllTypesMatch<["input", "output"]>]> {
  let summary = "runs each token's selected SwiGLU experts and sums them by weight";
  let description = [{
    `output[t] = sum_k weights[t, k] * FFN_e(input[t])` with `e = indices[t, k]`
    and `FFN_e` the SwiGLU of `gate_exps[e]`, `up_exps[e]` ([Fe, H]) and
    `down_exps[e]` ([H, Fe]). The weight scales the expert output, after the
    down projection. Usually fed by `lfm2.moe_route`.

    ```mlir
    %m = lfm2.moe_dispatch %n, %w, %idx, %gate, %up, %down
        : (tensor<?x256xf32>, tensor<?x2xf32>, tensor<?x2xi32>,
           tensor<8x128x256xf32>, tensor<8x128x256xf32>, tensor<8x256x128xf32>)
        -> tensor<?x256xf32>
    ```
  }];
  let arguments = (ins LFM2_Activation:$input, LFM2_Matrix:$weights,
                       LFM2_ExpertIds:$indices, LFM2_Stack:$gate_exps,
                       LFM2_Stack:$up_exps, LFM2_Stack:$down_exps);
  let results = (outs LFM2_Activation:$output);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Kernel-level ops
//
// `lfm2-decompose` rewrites the block ops above into these, one per kernel
// call, so that fusion is a rewrite between ops a lit test can show. Codegen
// lowers each of them to one kernel.
//===----------------------------------------------------------------------===//

def LFM2_LinearOp : LFM2_Op<"linear", [Pure, AttrSizedOperandSegments]> {
  let summary = "projections of one input, with an optional fused norm and residual";
  let description = [{
    With `x' = rms_norm(input, norm_weight, epsilon)` when `norm_weight` is
    present (same math as `lfm2.rms_norm`) and `x' = input` otherwise:

    ```
    results[i] = x' * weights[i]^T (+ residual, when present)
    ```

    Several weights make one projection over x' whose outputs stay separate
    values (q/k/v): codegen stores those weights as one matrix. A residual
    is added to the (single) result, e.g. the skip connection around a
    block's output projection.

    ```mlir
    %q, %k, %v = lfm2.linear %h weights(%wq, %wk, %wv) norm(%g) {epsilon = 1.0e-05 : f32}
        : (tensor<?x256xf32>, tensor<256x256xf32>, tensor<128x256xf32>,
           tensor<128x256xf32>, tensor<256xf32>)
        -> (tensor<?x256xf32>, tensor<?x128xf32>, tensor<?x128xf32>)
    %y = lfm2.linear %o weights(%wo) residual(%h)
        : (tensor<?x256xf32>, tensor<256x256xf32>, tensor<?x256xf32>)
        -> tensor<?x256xf32>
    ```
  }];
  let arguments = (ins LFM2_Activation:$input,
                       Variadic<LFM2_Matrix>:$weights,
                       Optional<LFM2_Vector>:$norm_weight,
                       Optional<LFM2_Activation>:$residual,
                       OptionalAttr<F32Attr>:$epsilon);
  let results = (outs Variadic<LFM2_Activation>:$results);
  let assemblyFormat = [{
    $input `weights` `(` $weights `)` (`norm` `(` $norm_weight^ `)`)?
    (`residual` `(` $residual^ `)`)? attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def LFM2_LinearSwiGLUOp : LFM2_Op<"linear_swiglu", [Pure]> {
  let summary = "gate and up projections with SwiGLU, in one pass over the input";
  let description = [{
    `result = silu(x' * gate^T) * (x' * up^T)`, x' as in `lfm2.linear`
    (optionally RMS-normed). Gate and up are [F, H].

    ```mlir
    %a = lfm2.linear_swiglu %h, %gate, %up
        : (tensor<?x256xf32>, tensor<512x256xf32>, tensor<512x256xf32>)
        -> tensor<?x512xf32>
    ```
  }];
  let arguments = (ins LFM2_Activation:$input, LFM2_Matrix:$gate,
                       LFM2_Matrix:$up, Optional<LFM2_Vector>:$norm_weight,
                       OptionalAttr<F32Attr>:$epsilon);
  let results = (outs LFM2_Activation:$result);
  let assemblyFormat = [{
    $input `,` $gate `,` $up (`norm` `(` $norm_weight^ `)`)? attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def LFM2_SwiGLUOp : LFM2_Op<"swiglu",
    [Pure, AllTypesMatch<["gate", "up", "result"]>]> {
  let summary = "elementwise silu(gate) * up";
  let description = [{
    ```mlir
    %a = lfm2.swiglu %g, %u : tensor<?x512xf32>
    ```
  }];
  let arguments = (ins LFM2_Activation:$gate, LFM2_Activation:$up);
  let results = (outs LFM2_Activation:$result);
  let assemblyFormat = "$gate `,` $up attr-dict `:` type($result)";
}

def LFM2_ConvMixOp : LFM2_Op<"conv_mix",
    [Pure, AllTypesMatch<["conv_state", "new_conv_state"]>]> {
  let summary = "the short-conv block between its projections: gates and depthwise conv";
  let description = [{
    With `[B, C, x] = split3(input[t])` (H each; input is the in_proj
    output), `v = B * x`, `c[t][j] = sum_{m<L} conv_weight[j, m] *
    v[t - (L-1) + m][j]` and `result[t] = C * c[t]`; the states are as in
    `lfm2.short_conv`. Both gates and the convolution are one kernel.

    ```mlir
    %y, %s1 = lfm2.conv_mix %z, %s0, %kernel
        : (tensor<?x768xf32>, tensor<2x256xf32>, tensor<256x3xf32>)
        -> (tensor<?x256xf32>, tensor<2x256xf32>)
    ```
  }];
  let arguments = (ins LFM2_Activation:$input, LFM2_Matrix:$conv_state,
                       LFM2_Matrix:$conv_weight);
  let results = (outs LFM2_Activation:$result, LFM2_Matrix:$new_conv_state);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def LFM2_QKNormRopeOp : LFM2_Op<"qk_norm_rope",
    [Pure, AllTypesMatch<["input", "result"]>]> {
  let summary = "per-head RMSNorm then NeoX RoPE of queries or keys";
  let description = [{
    `input` is [T, num_heads * head_dim`]; each head is RMS-normed with
    `norm_weight` ([head_dim]) and `epsilon`, then rotated (rotate-half, all
    head_dim dims) for absolute position `position + t`, as in
    `lfm2.attention`.

    ```mlir
    %qr = lfm2.qk_norm_rope %q, %qn, %pos
        {epsilon = 1.0e-05 : f32, head_dim = 64 : i64, num_heads = 4 : i64,
         rope_theta = 1.0e+06 : f32}
        : (tensor<?x256xf32>, tensor<64xf32>, index) -> tensor<?x256xf32>
    ```
  }];
  let arguments = (ins LFM2_Activation:$input, LFM2_Vector:$norm_weight,
                       Index:$position, I64Attr:$num_heads, I64Attr:$head_dim,
                       F32Attr:$rope_theta, F32Attr:$epsilon);
  let results = (outs LFM2_Activation:$result);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def LFM2_AttendOp : LFM2_Op<"attend",
    [Pure, AllTypesMatch<["k_cache", "v_cache", "new_k_cache", "new_v_cache"]>]> {
  let summary = "stores this batch's keys and values, then causal GQA softmax attention";
  let description = [{
    `new_*_cache` are the caches with rows `[position, position + T)`
    replaced by `keys` / `values` ([T, num_kv_heads * head_dim], already
    normed and rotated); `result[t, h]` is the softmax attention of query
    head h over the rows `[0, position + t]` of KV head `h / (nh / nkv)`,
    scaled by 1/sqrt(head_dim), as in `lfm2.attention`.

    ```mlir
    %o, %k1, %v1 = lfm2.attend %q, %k, %v, %k0, %v0, %pos
        {head_dim = 64 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64}
        : (tensor<?x256xf32>, tensor<?x128xf32>, tensor<?x128xf32>,
           tensor<?x2x64xf32>, tensor<?x2x64xf32>, index)
        -> (tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>)
    ```
  }];
  let arguments = (ins LFM2_Activation:$queries, LFM2_Activation:$keys,
                       LFM2_Activation:$values, LFM2_Stack:$k_cache,
                       LFM2_Stack:$v_cache, Index:$position,
                       I64Attr:$num_heads, I64Attr:$num_kv_heads,
                       I64Attr:$head_dim);
  let results = (outs LFM2_Activation:$result, LFM2_Stack:$new_k_cache,
                      LFM2_Stack:$new_v_cache);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

#endif // LFM2_OPS_TD
