// RUN: lfm2c-opt --lfm2-quantize=format=f16 %s | FileCheck %s

// Tests that format=f16 stores projection matrices as f16 whatever their
// row length, keeps a file's block formats, and leaves the router, the
// expert bias and norms f32.
// CHECK-LABEL: func.func @moe_layer
func.func @moe_layer(%x: tensor<?x48xf32>) -> tensor<?x48xf32> {
  // CHECK: lfm2.weight "norm" format(f32)
  %norm = lfm2.weight "norm" format(f32) : tensor<48xf32>
  // CHECK: lfm2.weight "router" format(f32)
  %router = lfm2.weight "router" format(f32) : tensor<4x48xf32>
  // CHECK: lfm2.weight "bias" format(f32)
  %bias = lfm2.weight "bias" format(f32) : tensor<4xf32>
  // CHECK: lfm2.weight "gate" format(f16)
  %gate = lfm2.weight "gate" format(bf16) : tensor<4x32x48xf32>
  // CHECK: lfm2.weight "up" format(q8_0)
  %up = lfm2.weight "up" format(q8_0) : tensor<4x32x48xf32>
  // CHECK: lfm2.weight "down" format(f16)
  %down = lfm2.weight "down" format(f32) : tensor<4x48x32xf32>
  %n = lfm2.rms_norm %x, %norm {epsilon = 1.0e-05 : f32} : (tensor<?x48xf32>, tensor<48xf32>) -> tensor<?x48xf32>
  %w, %i = lfm2.moe_route %n, %router, %bias {top_k = 2 : i64} : (tensor<?x48xf32>, tensor<4x48xf32>, tensor<4xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>)
  %y = lfm2.moe_dispatch %n, %w, %i, %gate, %up, %down : (tensor<?x48xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<4x32x48xf32>, tensor<4x32x48xf32>, tensor<4x48x32xf32>) -> tensor<?x48xf32>
  return %y : tensor<?x48xf32>
}
