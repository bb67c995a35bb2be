// RUN: lfm2c-opt --pass-pipeline="builtin.module(lfm2-compile{quant=q8_0})" %s | FileCheck %s
// RUN: lfm2c-opt --pass-pipeline="builtin.module(lfm2-compile)" %s | FileCheck %s --check-prefix=KEEP

// Tests that the compile pipeline quantizes when asked and keeps the file's
// formats otherwise.
// CHECK-LABEL: func.func @head
// CHECK: format(q8_0)
// KEEP-LABEL: func.func @head
// KEEP: format(f32)
func.func @head(%h: tensor<?x64xf32>) -> tensor<?x128xf32> {
  %e = lfm2.weight "emb" format(f32) : tensor<128x64xf32>
  %l = lfm2.lm_head %h, %e : (tensor<?x64xf32>, tensor<128x64xf32>) -> tensor<?x128xf32>
  return %l : tensor<?x128xf32>
}
