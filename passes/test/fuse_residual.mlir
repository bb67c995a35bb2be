// RUN: lfm2c-opt --lfm2-fuse-residual %s | FileCheck %s

// Tests that h + proj(o) becomes the projection with a residual, whichever
// side of the add the projection is on.
// CHECK-LABEL: func.func @skip
// CHECK: %[[A:.*]] = lfm2.linear %arg1 weights(%arg2) residual(%arg0) : (tensor<?x256xf32>, tensor<256x256xf32>, tensor<?x256xf32>) -> tensor<?x256xf32>
// CHECK: %[[B:.*]] = lfm2.linear %arg1 weights(%arg2) residual(%[[A]])
// CHECK-NOT: lfm2.add
// CHECK: return %[[B]]
func.func @skip(%h: tensor<?x256xf32>, %o: tensor<?x256xf32>, %w: tensor<256x256xf32>) -> tensor<?x256xf32> {
  %p = lfm2.linear %o weights(%w) : (tensor<?x256xf32>, tensor<256x256xf32>) -> tensor<?x256xf32>
  %h1 = lfm2.add %h, %p : tensor<?x256xf32>
  %p2 = lfm2.linear %o weights(%w) : (tensor<?x256xf32>, tensor<256x256xf32>) -> tensor<?x256xf32>
  %h2 = lfm2.add %p2, %h1 : tensor<?x256xf32>
  return %h2 : tensor<?x256xf32>
}

// Tests that a projection read elsewhere, and an MoE output, keep their add.
// CHECK-LABEL: func.func @kept
// CHECK-COUNT-2: lfm2.add
func.func @kept(%h: tensor<?x256xf32>, %o: tensor<?x256xf32>, %w: tensor<256x256xf32>,
                %wt: tensor<?x2xf32>, %idx: tensor<?x2xi32>, %g: tensor<8x128x256xf32>,
                %d: tensor<8x256x128xf32>) -> (tensor<?x256xf32>, tensor<?x256xf32>, tensor<?x256xf32>) {
  %p = lfm2.linear %o weights(%w) : (tensor<?x256xf32>, tensor<256x256xf32>) -> tensor<?x256xf32>
  %h1 = lfm2.add %h, %p : tensor<?x256xf32>
  %m = lfm2.moe_dispatch %h, %wt, %idx, %g, %g, %d : (tensor<?x256xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<8x128x256xf32>, tensor<8x128x256xf32>, tensor<8x256x128xf32>) -> tensor<?x256xf32>
  %h2 = lfm2.add %h, %m : tensor<?x256xf32>
  return %h1, %p, %h2 : tensor<?x256xf32>, tensor<?x256xf32>, tensor<?x256xf32>
}
