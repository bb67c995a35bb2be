// RUN: lfm2c-opt %s | lfm2c-opt | FileCheck %s
// RUN: lfm2c-opt %s --mlir-print-op-generic | lfm2c-opt | FileCheck %s

// Round-trip of every lfm2 op, as a two-layer model with H = 256: layer 0 is a
// conv layer with a dense FFN, layer 1 an attention layer with an MoE FFN
// (4 query heads, 2 KV heads of 64, 8 experts of width 128, top-2).

// CHECK-LABEL: func.func @forward
// CHECK-SAME: (%[[TOKENS:.*]]: tensor<?xi32>, %[[POS:.*]]: index, %[[CONV0:.*]]: tensor<2x256xf32>, %[[K1:.*]]: tensor<?x2x64xf32>, %[[V1:.*]]: tensor<?x2x64xf32>)
func.func @forward(%tokens: tensor<?xi32>, %pos: index, %conv0: tensor<2x256xf32>,
                   %k1: tensor<?x2x64xf32>, %v1: tensor<?x2x64xf32>)
    -> (tensor<?x1024xf32>, tensor<2x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>) {
  // CHECK: %[[EMB:.*]] = lfm2.weight "token_embd.weight" format(q8_0) : tensor<1024x256xf32>
  %emb = lfm2.weight "token_embd.weight" format(q8_0) : tensor<1024x256xf32>
  // CHECK: %[[H0:.*]] = lfm2.embedding %[[TOKENS]], %[[EMB]] : (tensor<?xi32>, tensor<1024x256xf32>) -> tensor<?x256xf32>
  %h0 = lfm2.embedding %tokens, %emb : (tensor<?xi32>, tensor<1024x256xf32>) -> tensor<?x256xf32>

  // Layer 0: short conv + dense SwiGLU.
  // CHECK: lfm2.weight "blk.0.attn_norm.weight" format(f32) : tensor<256xf32>
  %n0w = lfm2.weight "blk.0.attn_norm.weight" format(f32) : tensor<256xf32>
  // CHECK: %[[U0:.*]] = lfm2.rms_norm %[[H0]], %{{.*}} {epsilon = 9.99999974E-6 : f32} : (tensor<?x256xf32>, tensor<256xf32>) -> tensor<?x256xf32>
  %u0 = lfm2.rms_norm %h0, %n0w {epsilon = 1.0e-05 : f32} : (tensor<?x256xf32>, tensor<256xf32>) -> tensor<?x256xf32>
  // CHECK: lfm2.weight "blk.0.shortconv.in_proj.weight" format(q4_0) : tensor<768x256xf32>
  %inp = lfm2.weight "blk.0.shortconv.in_proj.weight" format(q4_0) : tensor<768x256xf32>
  // CHECK: lfm2.weight "blk.0.shortconv.conv.weight" format(f16) : tensor<256x3xf32>
  %ker = lfm2.weight "blk.0.shortconv.conv.weight" format(f16) : tensor<256x3xf32>
  // CHECK: lfm2.weight "blk.0.shortconv.out_proj.weight" format(bf16) : tensor<256x256xf32>
  %outp = lfm2.weight "blk.0.shortconv.out_proj.weight" format(bf16) : tensor<256x256xf32>
  // CHECK: %[[MIX0:[^ ,]+]], %[[CONV0_NEXT:[^ ,]+]] = lfm2.short_conv %[[U0]], %[[CONV0]], %{{.*}}, %{{.*}}, %{{.*}} : (tensor<?x256xf32>, tensor<2x256xf32>, tensor<768x256xf32>, tensor<256x3xf32>, tensor<256x256xf32>) -> (tensor<?x256xf32>, tensor<2x256xf32>)
  %mix0, %conv0_next = lfm2.short_conv %u0, %conv0, %inp, %ker, %outp
      : (tensor<?x256xf32>, tensor<2x256xf32>, tensor<768x256xf32>, tensor<256x3xf32>, tensor<256x256xf32>)
      -> (tensor<?x256xf32>, tensor<2x256xf32>)
  // CHECK: %[[R0:.*]] = lfm2.add %[[H0]], %[[MIX0]] : tensor<?x256xf32>
  %r0 = lfm2.add %h0, %mix0 : tensor<?x256xf32>
  %f0w = lfm2.weight "blk.0.ffn_norm.weight" format(f32) : tensor<256xf32>
  %f0 = lfm2.rms_norm %r0, %f0w {epsilon = 1.0e-05 : f32} : (tensor<?x256xf32>, tensor<256xf32>) -> tensor<?x256xf32>
  // CHECK: lfm2.weight "blk.0.ffn_gate.weight" format(q6_k) : tensor<512x256xf32>
  %gate = lfm2.weight "blk.0.ffn_gate.weight" format(q6_k) : tensor<512x256xf32>
  %up = lfm2.weight "blk.0.ffn_up.weight" format(q6_k) : tensor<512x256xf32>
  %down = lfm2.weight "blk.0.ffn_down.weight" format(q6_k) : tensor<256x512xf32>
  // CHECK: %[[FFN0:.*]] = lfm2.swiglu_ffn %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : (tensor<?x256xf32>, tensor<512x256xf32>, tensor<512x256xf32>, tensor<256x512xf32>) -> tensor<?x256xf32>
  %ffn0 = lfm2.swiglu_ffn %f0, %gate, %up, %down
      : (tensor<?x256xf32>, tensor<512x256xf32>, tensor<512x256xf32>, tensor<256x512xf32>) -> tensor<?x256xf32>
  // CHECK: %[[H1:.*]] = lfm2.add %[[R0]], %[[FFN0]] : tensor<?x256xf32>
  %h1 = lfm2.add %r0, %ffn0 : tensor<?x256xf32>

  // Layer 1: attention + MoE.
  %n1w = lfm2.weight "blk.1.attn_norm.weight" format(f32) : tensor<256xf32>
  %u1 = lfm2.rms_norm %h1, %n1w {epsilon = 1.0e-05 : f32} : (tensor<?x256xf32>, tensor<256xf32>) -> tensor<?x256xf32>
  %wq = lfm2.weight "blk.1.attn_q.weight" format(q8_0) : tensor<256x256xf32>
  %wk = lfm2.weight "blk.1.attn_k.weight" format(q8_0) : tensor<128x256xf32>
  %wv = lfm2.weight "blk.1.attn_v.weight" format(q8_0) : tensor<128x256xf32>
  %wo = lfm2.weight "blk.1.attn_output.weight" format(q8_0) : tensor<256x256xf32>
  %qn = lfm2.weight "blk.1.attn_q_norm.weight" format(f32) : tensor<64xf32>
  %kn = lfm2.weight "blk.1.attn_k_norm.weight" format(f32) : tensor<64xf32>
  // CHECK: %[[ATT:[^ ,]+]], %[[K1_NEXT:[^ ,]+]], %[[V1_NEXT:[^ ,]+]] = lfm2.attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[K1]], %[[V1]], %[[POS]]
  // CHECK-SAME: {epsilon = 9.99999974E-6 : f32, head_dim = 64 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, rope_theta = 1.000000e+06 : f32}
  // CHECK-SAME: : (tensor<?x256xf32>, tensor<256x256xf32>, tensor<128x256xf32>, tensor<128x256xf32>, tensor<256x256xf32>, tensor<64xf32>, tensor<64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, index) -> (tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>)
  %att, %k1_next, %v1_next = lfm2.attention %u1, %wq, %wk, %wv, %wo, %qn, %kn, %k1, %v1, %pos
      {epsilon = 1.0e-05 : f32, head_dim = 64 : i64, num_heads = 4 : i64,
       num_kv_heads = 2 : i64, rope_theta = 1.0e+06 : f32}
      : (tensor<?x256xf32>, tensor<256x256xf32>, tensor<128x256xf32>, tensor<128x256xf32>,
         tensor<256x256xf32>, tensor<64xf32>, tensor<64xf32>, tensor<?x2x64xf32>,
         tensor<?x2x64xf32>, index)
      -> (tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>)
  %r1 = lfm2.add %h1, %att : tensor<?x256xf32>
  %f1w = lfm2.weight "blk.1.ffn_norm.weight" format(f32) : tensor<256xf32>
  %f1 = lfm2.rms_norm %r1, %f1w {epsilon = 1.0e-05 : f32} : (tensor<?x256xf32>, tensor<256xf32>) -> tensor<?x256xf32>
  %router = lfm2.weight "blk.1.ffn_gate_inp.weight" format(f32) : tensor<8x256xf32>
  %bias = lfm2.weight "blk.1.exp_probs_b.bias" format(f32) : tensor<8xf32>
  // CHECK: %[[ROUTE_W:[^ ,]+]], %[[ROUTE_I:[^ ,]+]] = lfm2.moe_route %{{.*}}, %{{.*}}, %{{.*}} {top_k = 2 : i64} : (tensor<?x256xf32>, tensor<8x256xf32>, tensor<8xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>)
  %w, %idx = lfm2.moe_route %f1, %router, %bias {top_k = 2 : i64}
      : (tensor<?x256xf32>, tensor<8x256xf32>, tensor<8xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>)
  %gexps = lfm2.weight "blk.1.ffn_gate_exps.weight" format(q4_0) : tensor<8x128x256xf32>
  %uexps = lfm2.weight "blk.1.ffn_up_exps.weight" format(q4_0) : tensor<8x128x256xf32>
  %dexps = lfm2.weight "blk.1.ffn_down_exps.weight" format(q4_0) : tensor<8x256x128xf32>
  // CHECK: %[[MOE:.*]] = lfm2.moe_dispatch %{{.*}}, %[[ROUTE_W]], %[[ROUTE_I]], %{{.*}}, %{{.*}}, %{{.*}} : (tensor<?x256xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<8x128x256xf32>, tensor<8x128x256xf32>, tensor<8x256x128xf32>) -> tensor<?x256xf32>
  %moe = lfm2.moe_dispatch %f1, %w, %idx, %gexps, %uexps, %dexps
      : (tensor<?x256xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<8x128x256xf32>,
         tensor<8x128x256xf32>, tensor<8x256x128xf32>) -> tensor<?x256xf32>
  %h2 = lfm2.add %r1, %moe : tensor<?x256xf32>

  // Final norm and tied LM head.
  %outw = lfm2.weight "token_embd_norm.weight" format(f32) : tensor<256xf32>
  %hn = lfm2.rms_norm %h2, %outw {epsilon = 1.0e-05 : f32} : (tensor<?x256xf32>, tensor<256xf32>) -> tensor<?x256xf32>
  // CHECK: %[[LOGITS:.*]] = lfm2.lm_head %{{.*}}, %[[EMB]] : (tensor<?x256xf32>, tensor<1024x256xf32>) -> tensor<?x1024xf32>
  %logits = lfm2.lm_head %hn, %emb : (tensor<?x256xf32>, tensor<1024x256xf32>) -> tensor<?x1024xf32>
  // CHECK: return %[[LOGITS]], %[[CONV0_NEXT]], %[[K1_NEXT]], %[[V1_NEXT]]
  return %logits, %conv0_next, %k1_next, %v1_next
      : tensor<?x1024xf32>, tensor<2x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>
}


// Tests that a statically sized KV cache (preallocated context) round-trips.
// CHECK-LABEL: func.func @static_cache
// CHECK: lfm2.attention {{.*}} -> (tensor<?x256xf32>, tensor<32x2x64xf32>, tensor<32x2x64xf32>)
func.func @static_cache(%x: tensor<?x256xf32>, %wq: tensor<256x256xf32>, %wkv: tensor<128x256xf32>,
                        %n: tensor<64xf32>, %c: tensor<32x2x64xf32>, %pos: index)
    -> (tensor<?x256xf32>, tensor<32x2x64xf32>, tensor<32x2x64xf32>) {
  %o, %k, %v = lfm2.attention %x, %wq, %wkv, %wkv, %wq, %n, %n, %c, %c, %pos
      {epsilon = 1.0e-05 : f32, head_dim = 64 : i64, num_heads = 4 : i64,
       num_kv_heads = 2 : i64, rope_theta = 1.0e+06 : f32}
      : (tensor<?x256xf32>, tensor<256x256xf32>, tensor<128x256xf32>, tensor<128x256xf32>,
         tensor<256x256xf32>, tensor<64xf32>, tensor<64xf32>, tensor<32x2x64xf32>,
         tensor<32x2x64xf32>, index)
      -> (tensor<?x256xf32>, tensor<32x2x64xf32>, tensor<32x2x64xf32>)
  return %o, %k, %v : tensor<?x256xf32>, tensor<32x2x64xf32>, tensor<32x2x64xf32>
}
