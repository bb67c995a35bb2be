// RUN: lfm2c-opt --lfm2-quantize=format=q4_0 --split-input-file --verify-diagnostics %s | FileCheck %s

// Tests that projection matrices take the requested format while the
// router, expert bias and norms stay f32, and a file's q8_0 stays q8_0.
// CHECK-LABEL: func.func @moe_layer
func.func @moe_layer(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  // CHECK: lfm2.weight "norm" format(f32)
  %norm = lfm2.weight "norm" format(f32) : tensor<64xf32>
  // CHECK: lfm2.weight "router" format(f32)
  %router = lfm2.weight "router" format(f32) : tensor<4x64xf32>
  // CHECK: lfm2.weight "bias" format(f32)
  %bias = lfm2.weight "bias" format(f32) : tensor<4xf32>
  // CHECK: lfm2.weight "gate" format(q4_0)
  %gate = lfm2.weight "gate" format(f32) : tensor<4x32x64xf32>
  // CHECK: lfm2.weight "up" format(q8_0)
  %up = lfm2.weight "up" format(q8_0) : tensor<4x32x64xf32>
  // CHECK: lfm2.weight "down" format(q4_0)
  %down = lfm2.weight "down" format(bf16) : tensor<4x64x32xf32>
  %n = lfm2.rms_norm %x, %norm {epsilon = 1.0e-05 : f32} : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  %w, %i = lfm2.moe_route %n, %router, %bias {top_k = 2 : i64} : (tensor<?x64xf32>, tensor<4x64xf32>, tensor<4xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>)
  %y = lfm2.moe_dispatch %n, %w, %i, %gate, %up, %down : (tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<4x32x64xf32>, tensor<4x32x64xf32>, tensor<4x64x32xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Tests that the conv kernel stays f32 while its projections are quantized,
// and that a matrix with rows of 48 values (not whole blocks) is kept.
// CHECK-LABEL: func.func @conv_layer
func.func @conv_layer(%u: tensor<?x48xf32>, %s: tensor<2x48xf32>) -> tensor<?x48xf32> {
  // CHECK: lfm2.weight "in_proj" format(f32)
  // expected-remark @+1 {{rows of 48 values are not whole 32-value blocks; kept as f32}}
  %in = lfm2.weight "in_proj" format(f32) : tensor<144x48xf32>
  // CHECK: lfm2.weight "conv" format(f32)
  %k = lfm2.weight "conv" format(f32) : tensor<48x3xf32>
  // expected-remark @+1 {{rows of 48 values are not whole 32-value blocks; kept as f32}}
  %out = lfm2.weight "out_proj" format(f32) : tensor<48x48xf32>
  %y, %ns = lfm2.short_conv %u, %s, %in, %k, %out : (tensor<?x48xf32>, tensor<2x48xf32>, tensor<144x48xf32>, tensor<48x3xf32>, tensor<48x48xf32>) -> (tensor<?x48xf32>, tensor<2x48xf32>)
  return %y : tensor<?x48xf32>
}

// -----

// Tests that a tied embedding (table and head) is quantized as one weight.
// CHECK-LABEL: func.func @tied_head
func.func @tied_head(%t: tensor<?xi32>) -> tensor<?x128xf32> {
  // CHECK: lfm2.weight "emb" format(q4_0)
  %e = lfm2.weight "emb" format(f32) : tensor<128x64xf32>
  %h = lfm2.embedding %t, %e : (tensor<?xi32>, tensor<128x64xf32>) -> tensor<?x64xf32>
  %l = lfm2.lm_head %h, %e : (tensor<?x64xf32>, tensor<128x64xf32>) -> tensor<?x128xf32>
  return %l : tensor<?x128xf32>
}

// -----

// Tests that a file's Q6_K table (llama.cpp's tied embedding in Q4_0 files)
// stays q6_k: it has its own kernels.
// CHECK-LABEL: func.func @q6_k_head
func.func @q6_k_head(%t: tensor<?xi32>) -> tensor<?x128xf32> {
  // CHECK: lfm2.weight "emb" format(q6_k)
  %e = lfm2.weight "emb" format(q6_k) : tensor<128x256xf32>
  %h = lfm2.embedding %t, %e : (tensor<?xi32>, tensor<128x256xf32>) -> tensor<?x256xf32>
  %l = lfm2.lm_head %h, %e : (tensor<?x256xf32>, tensor<128x256xf32>) -> tensor<?x128xf32>
  return %l : tensor<?x128xf32>
}
