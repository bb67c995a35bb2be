// RUN: lfm2c-opt --lfm2-fuse-rms-norm %s | FileCheck %s

// Tests that a norm read only by projections is folded into each of them.
// CHECK-LABEL: func.func @projections
// CHECK-NOT: lfm2.rms_norm
// CHECK: lfm2.linear %arg0 weights(%arg2) norm(%arg1) {epsilon = 9.99999974E-6 : f32} : (tensor<?x256xf32>, tensor<768x256xf32>, tensor<256xf32>) -> tensor<?x768xf32>
// CHECK: lfm2.linear_swiglu %arg0, %arg3, %arg3 norm(%arg1) {epsilon = 9.99999974E-6 : f32}
func.func @projections(%h: tensor<?x256xf32>, %g: tensor<256xf32>, %w: tensor<768x256xf32>,
                       %f: tensor<512x256xf32>) -> (tensor<?x768xf32>, tensor<?x512xf32>) {
  %n = lfm2.rms_norm %h, %g {epsilon = 1.0e-05 : f32} : (tensor<?x256xf32>, tensor<256xf32>) -> tensor<?x256xf32>
  %z = lfm2.linear %n weights(%w) : (tensor<?x256xf32>, tensor<768x256xf32>) -> tensor<?x768xf32>
  %a = lfm2.linear_swiglu %n, %f, %f : (tensor<?x256xf32>, tensor<512x256xf32>, tensor<512x256xf32>) -> tensor<?x512xf32>
  return %z, %a : tensor<?x768xf32>, tensor<?x512xf32>
}

// Tests that a norm the MoE router also reads stays a norm.
// CHECK-LABEL: func.func @router_reads_it
// CHECK: %[[N:.*]] = lfm2.rms_norm
// CHECK: lfm2.linear %[[N]] weights(%arg2) :
// CHECK: lfm2.moe_route %[[N]]
func.func @router_reads_it(%h: tensor<?x256xf32>, %g: tensor<256xf32>, %w: tensor<128x256xf32>,
                           %r: tensor<8x256xf32>, %b: tensor<8xf32>)
    -> (tensor<?x128xf32>, tensor<?x2xf32>, tensor<?x2xi32>) {
  %n = lfm2.rms_norm %h, %g {epsilon = 1.0e-05 : f32} : (tensor<?x256xf32>, tensor<256xf32>) -> tensor<?x256xf32>
  %z = lfm2.linear %n weights(%w) : (tensor<?x256xf32>, tensor<128x256xf32>) -> tensor<?x128xf32>
  %wt, %idx = lfm2.moe_route %n, %r, %b {top_k = 2 : i64} : (tensor<?x256xf32>, tensor<8x256xf32>, tensor<8xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>)
  return %z, %wt, %idx : tensor<?x128xf32>, tensor<?x2xf32>, tensor<?x2xi32>
}

// Tests that a norm used as a residual (not as the input) stays.
// CHECK-LABEL: func.func @residual_reads_it
// CHECK: lfm2.rms_norm
func.func @residual_reads_it(%h: tensor<?x256xf32>, %g: tensor<256xf32>, %w: tensor<256x256xf32>) -> tensor<?x256xf32> {
  %n = lfm2.rms_norm %h, %g {epsilon = 1.0e-05 : f32} : (tensor<?x256xf32>, tensor<256xf32>) -> tensor<?x256xf32>
  %z = lfm2.linear %h weights(%w) residual(%n) : (tensor<?x256xf32>, tensor<256x256xf32>, tensor<?x256xf32>) -> tensor<?x256xf32>
  return %z : tensor<?x256xf32>
}
