// RUN: lfm2c-opt --pass-pipeline="builtin.module(lfm2-compile{kv-cache=f16})" %s | FileCheck %s
// RUN: lfm2c-opt --pass-pipeline="builtin.module(lfm2-compile)" %s | FileCheck %s --check-prefix=KEEP

// Tests that the compile pipeline marks the KV caches for f16 storage when
// asked and leaves them f32 otherwise.
// CHECK-LABEL: func.func @attend
// CHECK-SAME: {lfm2.cache_format = "f16"}
// CHECK-SAME: {lfm2.cache_format = "f16"}
// CHECK: lfm2.attend
// KEEP-LABEL: func.func @attend
// KEEP-NOT: cache_format
func.func @attend(%q: tensor<?x256xf32>, %k: tensor<?x128xf32>, %v: tensor<?x128xf32>,
                  %kc: tensor<?x2x64xf32>, %vc: tensor<?x2x64xf32>, %pos: index)
    -> (tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>) {
  %o, %kc1, %vc1 = lfm2.attend %q, %k, %v, %kc, %vc, %pos {head_dim = 64 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64} : (tensor<?x256xf32>, tensor<?x128xf32>, tensor<?x128xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, index) -> (tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>)
  return %o, %kc1, %vc1 : tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>
}
