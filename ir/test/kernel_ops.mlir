// RUN: lfm2c-opt %s | lfm2c-opt | FileCheck %s
// RUN: lfm2c-opt %s --mlir-print-op-generic | lfm2c-opt | FileCheck %s

// Round-trip of the kernel-level ops that lfm2-decompose and the fusion
// passes produce (H = 256, 4 query heads and 2 KV heads of 64).

// CHECK-LABEL: func.func @attention_layer
func.func @attention_layer(%h: tensor<?x256xf32>, %pos: index,
                           %k0: tensor<?x2x64xf32>, %v0: tensor<?x2x64xf32>)
    -> (tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>) {
  %g = lfm2.weight "blk.1.attn_norm.weight" format(f32) : tensor<256xf32>
  %wq = lfm2.weight "blk.1.attn_q.weight" format(q8_0) : tensor<256x256xf32>
  %wk = lfm2.weight "blk.1.attn_k.weight" format(q8_0) : tensor<128x256xf32>
  %wv = lfm2.weight "blk.1.attn_v.weight" format(q8_0) : tensor<128x256xf32>
  %wo = lfm2.weight "blk.1.attn_output.weight" format(q8_0) : tensor<256x256xf32>
  %qn = lfm2.weight "blk.1.attn_q_norm.weight" format(f32) : tensor<64xf32>
  %kn = lfm2.weight "blk.1.attn_k_norm.weight" format(f32) : tensor<64xf32>
  // CHECK: %[[QKV:.*]]:3 = lfm2.linear %{{.*}} weights(%{{.*}}, %{{.*}}, %{{.*}}) norm(%{{.*}}) {epsilon = 9.99999974E-6 : f32} : (tensor<?x256xf32>, tensor<256x256xf32>, tensor<128x256xf32>, tensor<128x256xf32>, tensor<256xf32>) -> (tensor<?x256xf32>, tensor<?x128xf32>, tensor<?x128xf32>)
  %q, %k, %v = lfm2.linear %h weights(%wq, %wk, %wv) norm(%g) {epsilon = 1.0e-05 : f32}
      : (tensor<?x256xf32>, tensor<256x256xf32>, tensor<128x256xf32>, tensor<128x256xf32>, tensor<256xf32>)
      -> (tensor<?x256xf32>, tensor<?x128xf32>, tensor<?x128xf32>)
  // CHECK: %[[QR:.*]] = lfm2.qk_norm_rope %[[QKV]]#0, %{{.*}}, %{{.*}} {epsilon = 9.99999974E-6 : f32, head_dim = 64 : i64, num_heads = 4 : i64, rope_theta = 1.000000e+06 : f32} : (tensor<?x256xf32>, tensor<64xf32>, index) -> tensor<?x256xf32>
  %qr = lfm2.qk_norm_rope %q, %qn, %pos
      {epsilon = 1.0e-05 : f32, head_dim = 64 : i64, num_heads = 4 : i64, rope_theta = 1.0e+06 : f32}
      : (tensor<?x256xf32>, tensor<64xf32>, index) -> tensor<?x256xf32>
  %kr = lfm2.qk_norm_rope %k, %kn, %pos
      {epsilon = 1.0e-05 : f32, head_dim = 64 : i64, num_heads = 2 : i64, rope_theta = 1.0e+06 : f32}
      : (tensor<?x128xf32>, tensor<64xf32>, index) -> tensor<?x128xf32>
  // CHECK: %[[O:[^ ,]+]], %{{[^ ,]+}}, %{{[^ ,]+}} = lfm2.attend %[[QR]], %{{.*}}, %[[QKV]]#2, %{{.*}}, %{{.*}}, %{{.*}} {head_dim = 64 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64} : (tensor<?x256xf32>, tensor<?x128xf32>, tensor<?x128xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, index) -> (tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>)
  %o, %k1, %v1 = lfm2.attend %qr, %kr, %v, %k0, %v0, %pos
      {head_dim = 64 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64}
      : (tensor<?x256xf32>, tensor<?x128xf32>, tensor<?x128xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, index)
      -> (tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>)
  // CHECK: lfm2.linear %[[O]] weights(%{{.*}}) residual(%{{.*}}) : (tensor<?x256xf32>, tensor<256x256xf32>, tensor<?x256xf32>) -> tensor<?x256xf32>
  %y = lfm2.linear %o weights(%wo) residual(%h)
      : (tensor<?x256xf32>, tensor<256x256xf32>, tensor<?x256xf32>) -> tensor<?x256xf32>
  return %y, %k1, %v1 : tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>
}

// CHECK-LABEL: func.func @conv_layer
func.func @conv_layer(%h: tensor<?x256xf32>, %s0: tensor<2x256xf32>)
    -> (tensor<?x256xf32>, tensor<2x256xf32>, tensor<?x512xf32>, tensor<?x512xf32>) {
  %win = lfm2.weight "blk.0.shortconv.in_proj.weight" format(q4_0) : tensor<768x256xf32>
  %ker = lfm2.weight "blk.0.shortconv.conv.weight" format(f32) : tensor<256x3xf32>
  %gate = lfm2.weight "blk.0.ffn_gate.weight" format(q4_0) : tensor<512x256xf32>
  %up = lfm2.weight "blk.0.ffn_up.weight" format(q4_0) : tensor<512x256xf32>
  %g = lfm2.weight "blk.0.ffn_norm.weight" format(f32) : tensor<256xf32>
  // CHECK: %[[Z:.*]] = lfm2.linear %{{.*}} weights(%{{.*}}) : (tensor<?x256xf32>, tensor<768x256xf32>) -> tensor<?x768xf32>
  %z = lfm2.linear %h weights(%win) : (tensor<?x256xf32>, tensor<768x256xf32>) -> tensor<?x768xf32>
  // CHECK: lfm2.conv_mix %[[Z]], %{{.*}}, %{{.*}} : (tensor<?x768xf32>, tensor<2x256xf32>, tensor<256x3xf32>) -> (tensor<?x256xf32>, tensor<2x256xf32>)
  %y, %s1 = lfm2.conv_mix %z, %s0, %ker
      : (tensor<?x768xf32>, tensor<2x256xf32>, tensor<256x3xf32>) -> (tensor<?x256xf32>, tensor<2x256xf32>)
  // CHECK: lfm2.linear_swiglu %{{.*}}, %{{.*}}, %{{.*}} norm(%{{.*}}) {epsilon = 9.99999974E-6 : f32} : (tensor<?x256xf32>, tensor<512x256xf32>, tensor<512x256xf32>, tensor<256xf32>) -> tensor<?x512xf32>
  %a = lfm2.linear_swiglu %y, %gate, %up norm(%g) {epsilon = 1.0e-05 : f32}
      : (tensor<?x256xf32>, tensor<512x256xf32>, tensor<512x256xf32>, tensor<256xf32>) -> tensor<?x512xf32>
  %gp, %uq = lfm2.linear %y weights(%gate, %up)
      : (tensor<?x256xf32>, tensor<512x256xf32>, tensor<512x256xf32>) -> (tensor<?x512xf32>, tensor<?x512xf32>)
  // CHECK: lfm2.swiglu %{{.*}}, %{{.*}} : tensor<?x512xf32>
  %b = lfm2.swiglu %gp, %uq : tensor<?x512xf32>
  return %y, %s1, %a, %b : tensor<?x256xf32>, tensor<2x256xf32>, tensor<?x512xf32>, tensor<?x512xf32>
}
