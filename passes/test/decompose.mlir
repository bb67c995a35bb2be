// RUN: lfm2c-opt --lfm2-decompose --mlir-print-debuginfo %s | FileCheck %s

// Tests that each block op becomes its kernel-level ops, named after the
// block and the role of each piece.

// CHECK-LABEL: func.func @conv
// CHECK: %[[Z:.*]] = lfm2.linear %arg0 weights(%arg2) : (tensor<?x256xf32>, tensor<768x256xf32>) -> tensor<?x768xf32> loc(#[[IN:.*]])
// CHECK: %[[Y:.*]], %[[S:.*]] = lfm2.conv_mix %[[Z]], %arg1, %arg3 : (tensor<?x768xf32>, tensor<2x256xf32>, tensor<256x3xf32>) -> (tensor<?x256xf32>, tensor<2x256xf32>)
// CHECK: %[[O:.*]] = lfm2.linear %[[Y]] weights(%arg4) : (tensor<?x256xf32>, tensor<256x256xf32>) -> tensor<?x256xf32>
// CHECK: return %[[O]], %[[S]]
// CHECK-NOT: lfm2.short_conv
func.func @conv(%u: tensor<?x256xf32>, %s0: tensor<2x256xf32>, %in: tensor<768x256xf32>,
                %k: tensor<256x3xf32>, %out: tensor<256x256xf32>)
    -> (tensor<?x256xf32>, tensor<2x256xf32>) {
  %y, %s1 = lfm2.short_conv %u, %s0, %in, %k, %out
      : (tensor<?x256xf32>, tensor<2x256xf32>, tensor<768x256xf32>, tensor<256x3xf32>, tensor<256x256xf32>)
      -> (tensor<?x256xf32>, tensor<2x256xf32>) loc("blk.0.shortconv")
  return %y, %s1 : tensor<?x256xf32>, tensor<2x256xf32>
}

// CHECK-LABEL: func.func @attention
// CHECK: %[[Q:.*]] = lfm2.linear %arg0 weights(%arg1) : {{.*}} -> tensor<?x256xf32>
// CHECK: %[[K:.*]] = lfm2.linear %arg0 weights(%arg2) : {{.*}} -> tensor<?x128xf32>
// CHECK: %[[V:.*]] = lfm2.linear %arg0 weights(%arg3) : {{.*}} -> tensor<?x128xf32>
// CHECK: %[[QR:.*]] = lfm2.qk_norm_rope %[[Q]], %arg5, %arg9 {epsilon = 9.99999974E-6 : f32, head_dim = 64 : i64, num_heads = 4 : i64, rope_theta = 1.000000e+06 : f32}
// CHECK: %[[KR:.*]] = lfm2.qk_norm_rope %[[K]], %arg6, %arg9 {epsilon = 9.99999974E-6 : f32, head_dim = 64 : i64, num_heads = 2 : i64, rope_theta = 1.000000e+06 : f32}
// CHECK: %[[O:.*]], %[[KC:.*]], %[[VC:.*]] = lfm2.attend %[[QR]], %[[KR]], %[[V]], %arg7, %arg8, %arg9 {head_dim = 64 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64}
// CHECK: %[[Y:.*]] = lfm2.linear %[[O]] weights(%arg4)
// CHECK: return %[[Y]], %[[KC]], %[[VC]]
func.func @attention(%u: tensor<?x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<128x256xf32>,
                     %wv: tensor<128x256xf32>, %wo: tensor<256x256xf32>, %qn: tensor<64xf32>,
                     %kn: tensor<64xf32>, %k0: tensor<?x2x64xf32>, %v0: tensor<?x2x64xf32>, %pos: index)
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

// CHECK-LABEL: func.func @ffn
// CHECK: %[[G:.*]] = lfm2.linear %arg0 weights(%arg1) : (tensor<?x256xf32>, tensor<512x256xf32>) -> tensor<?x512xf32>
// CHECK: %[[U:.*]] = lfm2.linear %arg0 weights(%arg2)
// CHECK: %[[A:.*]] = lfm2.swiglu %[[G]], %[[U]] : tensor<?x512xf32>
// CHECK: %[[D:.*]] = lfm2.linear %[[A]] weights(%arg3) : (tensor<?x512xf32>, tensor<256x512xf32>) -> tensor<?x256xf32>
// CHECK: return %[[D]]
func.func @ffn(%x: tensor<?x256xf32>, %g: tensor<512x256xf32>, %u: tensor<512x256xf32>,
               %d: tensor<256x512xf32>) -> tensor<?x256xf32> {
  %y = lfm2.swiglu_ffn %x, %g, %u, %d
      : (tensor<?x256xf32>, tensor<512x256xf32>, tensor<512x256xf32>, tensor<256x512xf32>) -> tensor<?x256xf32>
  return %y : tensor<?x256xf32>
}

// CHECK: #[[IN]] = loc("blk.0.shortconv.in_proj"
