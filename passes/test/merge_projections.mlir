// RUN: lfm2c-opt --lfm2-merge-projections %s | FileCheck %s

// Tests that q, k and v of one input become one three-weight linear, with
// the weights defined after the first projection moved above it.
// CHECK-LABEL: func.func @qkv
// CHECK-DAG: %[[WQ:.*]] = lfm2.weight "q"
// CHECK-DAG: %[[WK:.*]] = lfm2.weight "k"
// CHECK-DAG: %[[WV:.*]] = lfm2.weight "v"
// CHECK: %[[M:.*]]:3 = lfm2.linear %arg0 weights(%[[WQ]], %[[WK]], %[[WV]]) norm(%arg1) {epsilon = 9.99999974E-6 : f32} : (tensor<?x256xf32>, tensor<256x256xf32>, tensor<128x256xf32>, tensor<128x256xf32>, tensor<256xf32>) -> (tensor<?x256xf32>, tensor<?x128xf32>, tensor<?x128xf32>)
// CHECK-NOT: lfm2.linear
// CHECK: return %[[M]]#0, %[[M]]#1, %[[M]]#2
func.func @qkv(%x: tensor<?x256xf32>, %n: tensor<256xf32>) -> (tensor<?x256xf32>, tensor<?x128xf32>, tensor<?x128xf32>) {
  %wq = lfm2.weight "q" format(q8_0) : tensor<256x256xf32>
  %q = lfm2.linear %x weights(%wq) norm(%n) {epsilon = 1.0e-05 : f32} : (tensor<?x256xf32>, tensor<256x256xf32>, tensor<256xf32>) -> tensor<?x256xf32>
  %wk = lfm2.weight "k" format(q8_0) : tensor<128x256xf32>
  %k = lfm2.linear %x weights(%wk) norm(%n) {epsilon = 1.0e-05 : f32} : (tensor<?x256xf32>, tensor<128x256xf32>, tensor<256xf32>) -> tensor<?x128xf32>
  %wv = lfm2.weight "v" format(q8_0) : tensor<128x256xf32>
  %v = lfm2.linear %x weights(%wv) norm(%n) {epsilon = 1.0e-05 : f32} : (tensor<?x256xf32>, tensor<128x256xf32>, tensor<256xf32>) -> tensor<?x128xf32>
  return %q, %k, %v : tensor<?x256xf32>, tensor<?x128xf32>, tensor<?x128xf32>
}

// Tests that projections with different norms, residuals or weight formats
// stay apart.
// CHECK-LABEL: func.func @apart
// CHECK-COUNT-4: lfm2.linear %arg0 weights(%{{[^,]*}})
func.func @apart(%x: tensor<?x256xf32>, %n: tensor<256xf32>, %r: tensor<?x128xf32>)
    -> (tensor<?x128xf32>, tensor<?x128xf32>, tensor<?x128xf32>, tensor<?x128xf32>) {
  %a = lfm2.weight "a" format(q8_0) : tensor<128x256xf32>
  %b = lfm2.weight "b" format(q4_0) : tensor<128x256xf32>
  %y0 = lfm2.linear %x weights(%a) : (tensor<?x256xf32>, tensor<128x256xf32>) -> tensor<?x128xf32>
  %y1 = lfm2.linear %x weights(%b) : (tensor<?x256xf32>, tensor<128x256xf32>) -> tensor<?x128xf32>
  %y2 = lfm2.linear %x weights(%a) norm(%n) {epsilon = 1.0e-05 : f32} : (tensor<?x256xf32>, tensor<128x256xf32>, tensor<256xf32>) -> tensor<?x128xf32>
  %y3 = lfm2.linear %x weights(%a) residual(%r) : (tensor<?x256xf32>, tensor<128x256xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
  return %y0, %y1, %y2, %y3 : tensor<?x128xf32>, tensor<?x128xf32>, tensor<?x128xf32>, tensor<?x128xf32>
}
