// RUN: lfm2c-opt --lfm2-kv-cache=format=f16 --verify-diagnostics %s

// Tests that a cache computed inside the function (here the caches one
// attend returns, read by a second) is an error at the op reading it: only
// a function argument has a state buffer to store as f16.
func.func @computed(%q: tensor<?x256xf32>, %k: tensor<?x128xf32>, %v: tensor<?x128xf32>,
                    %kc: tensor<?x2x64xf32>, %vc: tensor<?x2x64xf32>, %pos: index) -> tensor<?x256xf32> {
  %o, %kc1, %vc1 = lfm2.attend %q, %k, %v, %kc, %vc, %pos {head_dim = 64 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64} : (tensor<?x256xf32>, tensor<?x128xf32>, tensor<?x128xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, index) -> (tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>)
  // expected-error @+1 {{KV cache operand must be an argument of the enclosing function}}
  %o2, %kc2, %vc2 = lfm2.attend %o, %k, %v, %kc1, %vc1, %pos {head_dim = 64 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64} : (tensor<?x256xf32>, tensor<?x128xf32>, tensor<?x128xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, index) -> (tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>)
  return %o2 : tensor<?x256xf32>
}
