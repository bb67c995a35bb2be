// RUN: lfm2c-opt --lfm2-kv-cache=format=f16 %s | FileCheck %s --check-prefix=F16
// RUN: lfm2c-opt --lfm2-kv-cache=format=f16 %s | lfm2c-opt --lfm2-kv-cache=format=f32 | FileCheck %s --check-prefix=F32

// Tests that the key and value caches of an attend (and of an attention,
// the block op the importer emits), and only they, are marked for f16
// storage, and that format=f32 removes the mark.

// F16-LABEL: func.func @attend
// F16-SAME: %arg0: tensor<?x256xf32>
// F16-SAME: %arg3: tensor<?x2x64xf32> {lfm2.cache_format = "f16", lfm2.state = "blk.0.k_cache"}
// F16-SAME: %arg4: tensor<?x2x64xf32> {lfm2.cache_format = "f16", lfm2.state = "blk.0.v_cache"}
// F16-SAME: %arg5: tensor<2x256xf32> {lfm2.state = "blk.1.conv_state"}
// F32-LABEL: func.func @attend
// F32-NOT: cache_format
func.func @attend(%q: tensor<?x256xf32>, %k: tensor<?x128xf32>, %v: tensor<?x128xf32>,
                  %kc: tensor<?x2x64xf32> {lfm2.state = "blk.0.k_cache"},
                  %vc: tensor<?x2x64xf32> {lfm2.state = "blk.0.v_cache"},
                  %conv: tensor<2x256xf32> {lfm2.state = "blk.1.conv_state"},
                  %pos: index)
    -> (tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, tensor<2x256xf32>) {
  %o, %kc1, %vc1 = lfm2.attend %q, %k, %v, %kc, %vc, %pos {head_dim = 64 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64} : (tensor<?x256xf32>, tensor<?x128xf32>, tensor<?x128xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, index) -> (tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>)
  return %o, %kc1, %vc1, %conv : tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, tensor<2x256xf32>
}

// F16-LABEL: func.func @attention
// F16-SAME: %arg7: tensor<?x2x64xf32> {lfm2.cache_format = "f16", lfm2.state = "blk.1.k_cache"}
// F16-SAME: %arg8: tensor<?x2x64xf32> {lfm2.cache_format = "f16", lfm2.state = "blk.1.v_cache"}
// F16-SAME: %arg9: index
// F32-LABEL: func.func @attention
// F32-NOT: cache_format
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
