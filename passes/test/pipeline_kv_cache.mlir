// RUN: lfm2c-opt --pass-pipeline="builtin.module(lfm2-compile{kv-cache=f16})" %s | FileCheck %s
// RUN: lfm2c-opt --pass-pipeline="builtin.module(lfm2-compile)" %s | FileCheck %s --check-prefix=KEEP

// Tests that the compile pipeline marks the KV caches for f16 storage when
// asked, before the attention block is decomposed (the mark stays on the
// arguments the resulting attend reads), and leaves them f32 otherwise.
// CHECK-LABEL: func.func @attention
// CHECK-SAME: %arg7: tensor<?x2x64xf32> {lfm2.cache_format = "f16", lfm2.state = "blk.1.k_cache"}
// CHECK-SAME: %arg8: tensor<?x2x64xf32> {lfm2.cache_format = "f16", lfm2.state = "blk.1.v_cache"}
// CHECK: lfm2.attend {{.*}}, %arg7, %arg8, %arg9
// KEEP-LABEL: func.func @attention
// KEEP-NOT: cache_format
func.func @attention(%u: tensor<?x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<128x256xf32>,
                     %wv: tensor<128x256xf32>, %wo: tensor<256x256xf32>, %qn: tensor<64xf32>,
                     %kn: tensor<64xf32>,
                     %k0: tensor<?x2x64xf32> {lfm2.state = "blk.1.k_cache"},
                     %v0: tensor<?x2x64xf32> {lfm2.state = "blk.1.v_cache"}, %pos: index)
    -> (tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>) {
  %o, %k1, %v1 = lfm2.attention %u, %wq, %wk, %wv, %wo, %qn, %kn, %k0, %v0, %pos
      {epsilon = 1.0e-05 : f32, head_dim = 64 : i64, num_heads = 4 : i64,
       num_kv_heads = 2 : i64, rope_theta = 1.0e+06 : f32}
      : (tensor<?x256xf32>, tensor<256x256xf32>, tensor<128x256xf32>,
         tensor<128x256xf32>, tensor<256x256xf32>, tensor<64xf32>,
         tensor<64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, index)
      -> (tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>)
  return %o, %k1, %v1 : tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>
}

// CHECK-LABEL: func.func @attend
// CHECK-SAME: {lfm2.cache_format = "f16"}
// CHECK-SAME: {lfm2.cache_format = "f16"}
// CHECK: lfm2.attend
func.func @attend(%q: tensor<?x256xf32>, %k: tensor<?x128xf32>, %v: tensor<?x128xf32>,
                  %kc: tensor<?x2x64xf32>, %vc: tensor<?x2x64xf32>, %pos: index)
    -> (tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>) {
  %o, %kc1, %vc1 = lfm2.attend %q, %k, %v, %kc, %vc, %pos {head_dim = 64 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64} : (tensor<?x256xf32>, tensor<?x128xf32>, tensor<?x128xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, index) -> (tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>)
  return %o, %kc1, %vc1 : tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>
}
