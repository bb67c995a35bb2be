// RUN: lfm2c-opt --lfm2-fuse-swiglu %s | FileCheck %s

// Tests that gate, up and SwiGLU of one input become one linear_swiglu.
// CHECK-LABEL: func.func @fused
// CHECK: %[[A:.*]] = lfm2.linear_swiglu %arg0, %[[G:.*]], %[[U:.*]] norm(%arg1) {epsilon = 9.99999974E-6 : f32} : (tensor<?x256xf32>, tensor<512x256xf32>, tensor<512x256xf32>, tensor<256xf32>) -> tensor<?x512xf32>
// CHECK-NOT: lfm2.swiglu
// CHECK: return %[[A]]
func.func @fused(%x: tensor<?x256xf32>, %n: tensor<256xf32>) -> tensor<?x512xf32> {
  %wg = lfm2.weight "blk.0.ffn_gate.weight" format(q4_0) : tensor<512x256xf32>
  %wu = lfm2.weight "blk.0.ffn_up.weight" format(q4_0) : tensor<512x256xf32>
  %g = lfm2.linear %x weights(%wg) norm(%n) {epsilon = 1.0e-05 : f32} : (tensor<?x256xf32>, tensor<512x256xf32>, tensor<256xf32>) -> tensor<?x512xf32>
  %u = lfm2.linear %x weights(%wu) norm(%n) {epsilon = 1.0e-05 : f32} : (tensor<?x256xf32>, tensor<512x256xf32>, tensor<256xf32>) -> tensor<?x512xf32>
  %a = lfm2.swiglu %g, %u : tensor<?x512xf32>
  return %a : tensor<?x512xf32>
}

// Tests that a gate read elsewhere too is left alone.
// CHECK-LABEL: func.func @shared_gate
// CHECK: lfm2.swiglu
// CHECK-NOT: lfm2.linear_swiglu
func.func @shared_gate(%x: tensor<?x256xf32>) -> (tensor<?x512xf32>, tensor<?x512xf32>) {
  %wg = lfm2.weight "g" format(f32) : tensor<512x256xf32>
  %wu = lfm2.weight "u" format(f32) : tensor<512x256xf32>
  %g = lfm2.linear %x weights(%wg) : (tensor<?x256xf32>, tensor<512x256xf32>) -> tensor<?x512xf32>
  %u = lfm2.linear %x weights(%wu) : (tensor<?x256xf32>, tensor<512x256xf32>) -> tensor<?x512xf32>
  %a = lfm2.swiglu %g, %u : tensor<?x512xf32>
  return %a, %g : tensor<?x512xf32>, tensor<?x512xf32>
}

// Tests that projections of different inputs, or of weights in different
// formats, are left alone.
// CHECK-LABEL: func.func @mismatched
// CHECK-COUNT-2: lfm2.swiglu
// CHECK-NOT: lfm2.linear_swiglu
func.func @mismatched(%x: tensor<?x256xf32>, %y: tensor<?x256xf32>) -> (tensor<?x512xf32>, tensor<?x512xf32>) {
  %wg = lfm2.weight "g" format(q8_0) : tensor<512x256xf32>
  %wu = lfm2.weight "u" format(q4_0) : tensor<512x256xf32>
  %g = lfm2.linear %x weights(%wg) : (tensor<?x256xf32>, tensor<512x256xf32>) -> tensor<?x512xf32>
  %u = lfm2.linear %x weights(%wu) : (tensor<?x256xf32>, tensor<512x256xf32>) -> tensor<?x512xf32>
  %a = lfm2.swiglu %g, %u : tensor<?x512xf32>
  %g2 = lfm2.linear %x weights(%wg) : (tensor<?x256xf32>, tensor<512x256xf32>) -> tensor<?x512xf32>
  %u2 = lfm2.linear %y weights(%wg) : (tensor<?x256xf32>, tensor<512x256xf32>) -> tensor<?x512xf32>
  %b = lfm2.swiglu %g2, %u2 : tensor<?x512xf32>
  return %a, %b : tensor<?x512xf32>, tensor<?x512xf32>
}
