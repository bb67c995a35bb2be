// RUN: lfm2c-opt %s --split-input-file --verify-diagnostics

// Tests that a weight must name its checkpoint tensor.
func.func @case0() {
  // expected-error @+1 {{'lfm2.weight' op tensor_name must not be empty}}
  %w = lfm2.weight "" format(f32) : tensor<4xf32>
  return
}

// -----

// Tests that a weight must have a static shape.
func.func @case1() {
  // expected-error @+1 {{'lfm2.weight' op weight 'token_embd.weight' must have a static shape, got 'tensor<?x256xf32>'}}
  %w = lfm2.weight "token_embd.weight" format(q8_0) : tensor<?x256xf32>
  return
}

// -----

// Tests that a weight format must be one of the known formats.
func.func @case2() {
  // expected-error @+1 {{expected string or keyword containing one of the following enum values for attribute 'format' [f32, f16, bf16, q8_0, q4_0, q6_k]}}
  %w = lfm2.weight "token_embd.weight" format(q5_1) : tensor<4xf32>
  return
}

// -----

// Tests that the embedding result width must be the table width.
func.func @case3(%t: tensor<?xi32>, %e: tensor<1024x256xf32>) {
  // expected-error @+1 {{'lfm2.embedding' op result has shape [?, 128], expected [?, 256] ([tokens, table width])}}
  %y = lfm2.embedding %t, %e : (tensor<?xi32>, tensor<1024x256xf32>) -> tensor<?x128xf32>
  return
}

// -----

// Tests that the embedding result has one row per token when both are static.
func.func @case4(%t: tensor<4xi32>, %e: tensor<1024x256xf32>) {
  // expected-error @+1 {{'lfm2.embedding' op result has shape [5, 256], expected [4, 256] ([tokens, table width])}}
  %y = lfm2.embedding %t, %e : (tensor<4xi32>, tensor<1024x256xf32>) -> tensor<5x256xf32>
  return
}

// -----

// Tests that token ids must be i32.
func.func @case5(%t: tensor<?xi64>, %e: tensor<1024x256xf32>) {
  // expected-error @+1 {{'lfm2.embedding' op operand #0 must be 1D tensor of 32-bit signless integer values}}
  %y = lfm2.embedding %t, %e : (tensor<?xi64>, tensor<1024x256xf32>) -> tensor<?x256xf32>
  return
}

// -----

// Tests that the norm epsilon must be positive.
func.func @case6(%x: tensor<?x256xf32>, %w: tensor<256xf32>) {
  // expected-error @+1 {{'lfm2.rms_norm' op epsilon must be a positive finite number, got 0}}
  %y = lfm2.rms_norm %x, %w {epsilon = 0.0 : f32} : (tensor<?x256xf32>, tensor<256xf32>) -> tensor<?x256xf32>
  return
}

// -----

// Tests that the norm scale has one entry per input channel.
func.func @case7(%x: tensor<?x256xf32>, %w: tensor<128xf32>) {
  // expected-error @+1 {{'lfm2.rms_norm' op weight has shape [128], expected [256] (one scale per input channel)}}
  %y = lfm2.rms_norm %x, %w {epsilon = 1.0e-05 : f32} : (tensor<?x256xf32>, tensor<128xf32>) -> tensor<?x256xf32>
  return
}

// -----

// Tests that the norm result has the input type.
func.func @case8(%x: tensor<?x256xf32>, %w: tensor<256xf32>) {
  // expected-error @+1 {{'lfm2.rms_norm' op failed to verify that all of {input, result} have same type}}
  %y = lfm2.rms_norm %x, %w {epsilon = 1.0e-05 : f32} : (tensor<?x256xf32>, tensor<256xf32>) -> tensor<4x256xf32>
  return
}

// -----

// Tests that blocks need a static hidden size.
func.func @case9(%x: tensor<?x?xf32>, %e: tensor<1024x256xf32>) {
  // expected-error @+1 {{'lfm2.lm_head' op input must have a static hidden size, got 'tensor<?x?xf32>'}}
  %y = lfm2.lm_head %x, %e : (tensor<?x?xf32>, tensor<1024x256xf32>) -> tensor<?x1024xf32>
  return
}

// -----

// Tests that the tied embedding must have the hidden width.
func.func @case10(%x: tensor<?x256xf32>, %e: tensor<1024x128xf32>) {
  // expected-error @+1 {{'lfm2.lm_head' op embedding has shape [1024, 128], expected [?, 256] ([vocab, hidden])}}
  %y = lfm2.lm_head %x, %e : (tensor<?x256xf32>, tensor<1024x128xf32>) -> tensor<?x1024xf32>
  return
}

// -----

// Tests that the logits have one column per vocabulary entry.
func.func @case11(%x: tensor<?x256xf32>, %e: tensor<1024x256xf32>) {
  // expected-error @+1 {{'lfm2.lm_head' op logits has shape [?, 1000], expected [?, 1024] ([tokens, vocab])}}
  %y = lfm2.lm_head %x, %e : (tensor<?x256xf32>, tensor<1024x256xf32>) -> tensor<?x1000xf32>
  return
}

// -----

// Tests that residual adds need matching types.
func.func @case12(%a: tensor<?x256xf32>, %b: tensor<?x128xf32>) {
  // expected-error @+1 {{'lfm2.add' op requires the same type for all operands and results}}
  %y = "lfm2.add"(%a, %b) : (tensor<?x256xf32>, tensor<?x128xf32>) -> tensor<?x256xf32>
  return
}

// -----

// Tests that in_proj must produce B, C and x.
func.func @case13(%x: tensor<?x256xf32>, %s: tensor<2x256xf32>, %inp: tensor<512x256xf32>, %k: tensor<256x3xf32>, %out: tensor<256x256xf32>) {
  // expected-error @+1 {{'lfm2.short_conv' op in_proj has shape [512, 256], expected [768, 256] ([3 * hidden, hidden] for B, C and x)}}
  %y, %s1 = lfm2.short_conv %x, %s, %inp, %k, %out
      : (tensor<?x256xf32>, tensor<2x256xf32>, tensor<512x256xf32>, tensor<256x3xf32>, tensor<256x256xf32>) -> (tensor<?x256xf32>, tensor<2x256xf32>)
  return
}

// -----

// Tests that the conv kernel has one row per channel.
func.func @case14(%x: tensor<?x256xf32>, %s: tensor<2x256xf32>, %inp: tensor<768x256xf32>, %k: tensor<128x3xf32>, %out: tensor<256x256xf32>) {
  // expected-error @+1 {{'lfm2.short_conv' op conv_weight has shape [128, 3], expected [256, ?] ([hidden, kernel length])}}
  %y, %s1 = lfm2.short_conv %x, %s, %inp, %k, %out
      : (tensor<?x256xf32>, tensor<2x256xf32>, tensor<768x256xf32>, tensor<128x3xf32>, tensor<256x256xf32>) -> (tensor<?x256xf32>, tensor<2x256xf32>)
  return
}

// -----

// Tests that out_proj is square.
func.func @case15(%x: tensor<?x256xf32>, %s: tensor<2x256xf32>, %inp: tensor<768x256xf32>, %k: tensor<256x3xf32>, %out: tensor<256x128xf32>) {
  // expected-error @+1 {{'lfm2.short_conv' op out_proj has shape [256, 128], expected [256, 256] ([hidden, hidden])}}
  %y, %s1 = lfm2.short_conv %x, %s, %inp, %k, %out
      : (tensor<?x256xf32>, tensor<2x256xf32>, tensor<768x256xf32>, tensor<256x3xf32>, tensor<256x128xf32>) -> (tensor<?x256xf32>, tensor<2x256xf32>)
  return
}

// -----

// Tests that the kernel length must be static.
func.func @case16(%x: tensor<?x256xf32>, %s: tensor<2x256xf32>, %inp: tensor<768x256xf32>, %k: tensor<256x?xf32>, %out: tensor<256x256xf32>) {
  // expected-error @+1 {{'lfm2.short_conv' op conv_weight must have a static kernel length of at least 1, got 'tensor<256x?xf32>'}}
  %y, %s1 = lfm2.short_conv %x, %s, %inp, %k, %out
      : (tensor<?x256xf32>, tensor<2x256xf32>, tensor<768x256xf32>, tensor<256x?xf32>, tensor<256x256xf32>) -> (tensor<?x256xf32>, tensor<2x256xf32>)
  return
}

// -----

// Tests that the conv state holds kernel length - 1 tokens.
func.func @case17(%x: tensor<?x256xf32>, %s: tensor<3x256xf32>, %inp: tensor<768x256xf32>, %k: tensor<256x3xf32>, %out: tensor<256x256xf32>) {
  // expected-error @+1 {{'lfm2.short_conv' op conv state has shape [3, 256], expected [2, 256] for kernel length 3}}
  %y, %s1 = lfm2.short_conv %x, %s, %inp, %k, %out
      : (tensor<?x256xf32>, tensor<3x256xf32>, tensor<768x256xf32>, tensor<256x3xf32>, tensor<256x256xf32>) -> (tensor<?x256xf32>, tensor<3x256xf32>)
  return
}

// -----

// Tests that the conv state has one column per channel.
func.func @case18(%x: tensor<?x256xf32>, %s: tensor<2x128xf32>, %inp: tensor<768x256xf32>, %k: tensor<256x3xf32>, %out: tensor<256x256xf32>) {
  // expected-error @+1 {{'lfm2.short_conv' op conv state has shape [2, 128], expected [2, 256] for kernel length 3}}
  %y, %s1 = lfm2.short_conv %x, %s, %inp, %k, %out
      : (tensor<?x256xf32>, tensor<2x128xf32>, tensor<768x256xf32>, tensor<256x3xf32>, tensor<256x256xf32>) -> (tensor<?x256xf32>, tensor<2x128xf32>)
  return
}

// -----

// Tests that the updated conv state has the type of the incoming one.
func.func @case19(%x: tensor<?x256xf32>, %s: tensor<2x256xf32>, %inp: tensor<768x256xf32>, %k: tensor<256x3xf32>, %out: tensor<256x256xf32>) {
  // expected-error @+1 {{'lfm2.short_conv' op failed to verify that all of {conv_state, new_conv_state} have same type}}
  %y, %s1 = lfm2.short_conv %x, %s, %inp, %k, %out
      : (tensor<?x256xf32>, tensor<2x256xf32>, tensor<768x256xf32>, tensor<256x3xf32>, tensor<256x256xf32>) -> (tensor<?x256xf32>, tensor<?x256xf32>)
  return
}

// -----

// Tests that the short conv output has the input type.
func.func @case20(%x: tensor<?x256xf32>, %s: tensor<2x256xf32>, %inp: tensor<768x256xf32>, %k: tensor<256x3xf32>, %out: tensor<256x256xf32>) {
  // expected-error @+1 {{'lfm2.short_conv' op failed to verify that all of {input, output} have same type}}
  %y, %s1 = lfm2.short_conv %x, %s, %inp, %k, %out
      : (tensor<?x256xf32>, tensor<2x256xf32>, tensor<768x256xf32>, tensor<256x3xf32>, tensor<256x256xf32>) -> (tensor<4x256xf32>, tensor<2x256xf32>)
  return
}

// -----

// Tests that attention needs at least one query head.
func.func @case21(%x: tensor<?x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<128x256xf32>, %wv: tensor<128x256xf32>, %wo: tensor<256x256xf32>, %qn: tensor<64xf32>, %kn: tensor<64xf32>, %kc: tensor<?x2x64xf32>, %vc: tensor<?x2x64xf32>, %pos: index) {
  // expected-error @+1 {{'lfm2.attention' op num_heads must be at least 1, got 0}}
  %o, %k, %v = lfm2.attention %x, %wq, %wk, %wv, %wo, %qn, %kn, %kc, %vc, %pos
      {epsilon = 1.0e-05 : f32, head_dim = 64 : i64, num_heads = 0 : i64,
       num_kv_heads = 2 : i64, rope_theta = 1.0e+06 : f32}
      : (tensor<?x256xf32>, tensor<256x256xf32>, tensor<128x256xf32>, tensor<128x256xf32>, tensor<256x256xf32>, tensor<64xf32>, tensor<64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, index)
      -> (tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>)
  return
}

// -----

// Tests that attention needs at least one KV head.
func.func @case22(%x: tensor<?x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<128x256xf32>, %wv: tensor<128x256xf32>, %wo: tensor<256x256xf32>, %qn: tensor<64xf32>, %kn: tensor<64xf32>, %kc: tensor<?x2x64xf32>, %vc: tensor<?x2x64xf32>, %pos: index) {
  // expected-error @+1 {{'lfm2.attention' op num_kv_heads must be at least 1, got 0}}
  %o, %k, %v = lfm2.attention %x, %wq, %wk, %wv, %wo, %qn, %kn, %kc, %vc, %pos
      {epsilon = 1.0e-05 : f32, head_dim = 64 : i64, num_heads = 4 : i64,
       num_kv_heads = 0 : i64, rope_theta = 1.0e+06 : f32}
      : (tensor<?x256xf32>, tensor<256x256xf32>, tensor<128x256xf32>, tensor<128x256xf32>, tensor<256x256xf32>, tensor<64xf32>, tensor<64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, index)
      -> (tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>)
  return
}

// -----

// Tests that heads must have a positive size.
func.func @case23(%x: tensor<?x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<128x256xf32>, %wv: tensor<128x256xf32>, %wo: tensor<256x256xf32>, %qn: tensor<64xf32>, %kn: tensor<64xf32>, %kc: tensor<?x2x64xf32>, %vc: tensor<?x2x64xf32>, %pos: index) {
  // expected-error @+1 {{'lfm2.attention' op head_dim must be at least 1, got 0}}
  %o, %k, %v = lfm2.attention %x, %wq, %wk, %wv, %wo, %qn, %kn, %kc, %vc, %pos
      {epsilon = 1.0e-05 : f32, head_dim = 0 : i64, num_heads = 4 : i64,
       num_kv_heads = 2 : i64, rope_theta = 1.0e+06 : f32}
      : (tensor<?x256xf32>, tensor<256x256xf32>, tensor<128x256xf32>, tensor<128x256xf32>, tensor<256x256xf32>, tensor<64xf32>, tensor<64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, index)
      -> (tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>)
  return
}

// -----

// Tests that the RoPE base must be positive.
func.func @case24(%x: tensor<?x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<128x256xf32>, %wv: tensor<128x256xf32>, %wo: tensor<256x256xf32>, %qn: tensor<64xf32>, %kn: tensor<64xf32>, %kc: tensor<?x2x64xf32>, %vc: tensor<?x2x64xf32>, %pos: index) {
  // expected-error @+1 {{'lfm2.attention' op rope_theta must be a positive finite number, got -1}}
  %o, %k, %v = lfm2.attention %x, %wq, %wk, %wv, %wo, %qn, %kn, %kc, %vc, %pos
      {epsilon = 1.0e-05 : f32, head_dim = 64 : i64, num_heads = 4 : i64,
       num_kv_heads = 2 : i64, rope_theta = -1.0 : f32}
      : (tensor<?x256xf32>, tensor<256x256xf32>, tensor<128x256xf32>, tensor<128x256xf32>, tensor<256x256xf32>, tensor<64xf32>, tensor<64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, index)
      -> (tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>)
  return
}

// -----

// Tests that the q/k norm epsilon must be positive.
func.func @case25(%x: tensor<?x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<128x256xf32>, %wv: tensor<128x256xf32>, %wo: tensor<256x256xf32>, %qn: tensor<64xf32>, %kn: tensor<64xf32>, %kc: tensor<?x2x64xf32>, %vc: tensor<?x2x64xf32>, %pos: index) {
  // expected-error @+1 {{'lfm2.attention' op epsilon must be a positive finite number, got 0}}
  %o, %k, %v = lfm2.attention %x, %wq, %wk, %wv, %wo, %qn, %kn, %kc, %vc, %pos
      {epsilon = 0.0 : f32, head_dim = 64 : i64, num_heads = 4 : i64,
       num_kv_heads = 2 : i64, rope_theta = 1.0e+06 : f32}
      : (tensor<?x256xf32>, tensor<256x256xf32>, tensor<128x256xf32>, tensor<128x256xf32>, tensor<256x256xf32>, tensor<64xf32>, tensor<64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, index)
      -> (tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>)
  return
}

// -----

// Tests that query heads must split evenly into KV groups.
func.func @case26(%x: tensor<?x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<128x256xf32>, %wv: tensor<128x256xf32>, %wo: tensor<256x256xf32>, %qn: tensor<64xf32>, %kn: tensor<64xf32>, %kc: tensor<?x2x64xf32>, %vc: tensor<?x2x64xf32>, %pos: index) {
  // expected-error @+1 {{'lfm2.attention' op num_heads (6) is not a multiple of num_kv_heads (4)}}
  %o, %k, %v = lfm2.attention %x, %wq, %wk, %wv, %wo, %qn, %kn, %kc, %vc, %pos
      {epsilon = 1.0e-05 : f32, head_dim = 64 : i64, num_heads = 6 : i64,
       num_kv_heads = 4 : i64, rope_theta = 1.0e+06 : f32}
      : (tensor<?x256xf32>, tensor<256x256xf32>, tensor<128x256xf32>, tensor<128x256xf32>, tensor<256x256xf32>, tensor<64xf32>, tensor<64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, index)
      -> (tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>)
  return
}

// -----

// Tests that rotate-half RoPE needs an even head size.
func.func @case27(%x: tensor<?x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<128x256xf32>, %wv: tensor<128x256xf32>, %wo: tensor<256x256xf32>, %qn: tensor<64xf32>, %kn: tensor<64xf32>, %kc: tensor<?x2x64xf32>, %vc: tensor<?x2x64xf32>, %pos: index) {
  // expected-error @+1 {{'lfm2.attention' op head_dim (63) must be even for rotate-half RoPE}}
  %o, %k, %v = lfm2.attention %x, %wq, %wk, %wv, %wo, %qn, %kn, %kc, %vc, %pos
      {epsilon = 1.0e-05 : f32, head_dim = 63 : i64, num_heads = 4 : i64,
       num_kv_heads = 2 : i64, rope_theta = 1.0e+06 : f32}
      : (tensor<?x256xf32>, tensor<256x256xf32>, tensor<128x256xf32>, tensor<128x256xf32>, tensor<256x256xf32>, tensor<64xf32>, tensor<64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, index)
      -> (tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>)
  return
}

// -----

// Tests that q_proj has num_heads * head_dim rows.
func.func @case28(%x: tensor<?x256xf32>, %wq: tensor<128x256xf32>, %wk: tensor<128x256xf32>, %wv: tensor<128x256xf32>, %wo: tensor<256x256xf32>, %qn: tensor<64xf32>, %kn: tensor<64xf32>, %kc: tensor<?x2x64xf32>, %vc: tensor<?x2x64xf32>, %pos: index) {
  // expected-error @+1 {{'lfm2.attention' op q_proj has shape [128, 256], expected [256, 256] ([num_heads * head_dim, hidden])}}
  %o, %k, %v = lfm2.attention %x, %wq, %wk, %wv, %wo, %qn, %kn, %kc, %vc, %pos
      {epsilon = 1.0e-05 : f32, head_dim = 64 : i64, num_heads = 4 : i64,
       num_kv_heads = 2 : i64, rope_theta = 1.0e+06 : f32}
      : (tensor<?x256xf32>, tensor<128x256xf32>, tensor<128x256xf32>, tensor<128x256xf32>, tensor<256x256xf32>, tensor<64xf32>, tensor<64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, index)
      -> (tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>)
  return
}

// -----

// Tests that k_proj has num_kv_heads * head_dim rows.
func.func @case29(%x: tensor<?x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<128x256xf32>, %wo: tensor<256x256xf32>, %qn: tensor<64xf32>, %kn: tensor<64xf32>, %kc: tensor<?x2x64xf32>, %vc: tensor<?x2x64xf32>, %pos: index) {
  // expected-error @+1 {{'lfm2.attention' op k_proj has shape [256, 256], expected [128, 256] ([num_kv_heads * head_dim, hidden])}}
  %o, %k, %v = lfm2.attention %x, %wq, %wk, %wv, %wo, %qn, %kn, %kc, %vc, %pos
      {epsilon = 1.0e-05 : f32, head_dim = 64 : i64, num_heads = 4 : i64,
       num_kv_heads = 2 : i64, rope_theta = 1.0e+06 : f32}
      : (tensor<?x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<128x256xf32>, tensor<256x256xf32>, tensor<64xf32>, tensor<64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, index)
      -> (tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>)
  return
}

// -----

// Tests that v_proj reads the hidden state.
func.func @case30(%x: tensor<?x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<128x256xf32>, %wv: tensor<128x128xf32>, %wo: tensor<256x256xf32>, %qn: tensor<64xf32>, %kn: tensor<64xf32>, %kc: tensor<?x2x64xf32>, %vc: tensor<?x2x64xf32>, %pos: index) {
  // expected-error @+1 {{'lfm2.attention' op v_proj has shape [128, 128], expected [128, 256] ([num_kv_heads * head_dim, hidden])}}
  %o, %k, %v = lfm2.attention %x, %wq, %wk, %wv, %wo, %qn, %kn, %kc, %vc, %pos
      {epsilon = 1.0e-05 : f32, head_dim = 64 : i64, num_heads = 4 : i64,
       num_kv_heads = 2 : i64, rope_theta = 1.0e+06 : f32}
      : (tensor<?x256xf32>, tensor<256x256xf32>, tensor<128x256xf32>, tensor<128x128xf32>, tensor<256x256xf32>, tensor<64xf32>, tensor<64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, index)
      -> (tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>)
  return
}

// -----

// Tests that out_proj maps the concatenated heads back to hidden.
func.func @case31(%x: tensor<?x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<128x256xf32>, %wv: tensor<128x256xf32>, %wo: tensor<256x128xf32>, %qn: tensor<64xf32>, %kn: tensor<64xf32>, %kc: tensor<?x2x64xf32>, %vc: tensor<?x2x64xf32>, %pos: index) {
  // expected-error @+1 {{'lfm2.attention' op out_proj has shape [256, 128], expected [256, 256] ([hidden, num_heads * head_dim])}}
  %o, %k, %v = lfm2.attention %x, %wq, %wk, %wv, %wo, %qn, %kn, %kc, %vc, %pos
      {epsilon = 1.0e-05 : f32, head_dim = 64 : i64, num_heads = 4 : i64,
       num_kv_heads = 2 : i64, rope_theta = 1.0e+06 : f32}
      : (tensor<?x256xf32>, tensor<256x256xf32>, tensor<128x256xf32>, tensor<128x256xf32>, tensor<256x128xf32>, tensor<64xf32>, tensor<64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, index)
      -> (tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>)
  return
}

// -----

// Tests that the q norm scales one head.
func.func @case32(%x: tensor<?x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<128x256xf32>, %wv: tensor<128x256xf32>, %wo: tensor<256x256xf32>, %qn: tensor<256xf32>, %kn: tensor<64xf32>, %kc: tensor<?x2x64xf32>, %vc: tensor<?x2x64xf32>, %pos: index) {
  // expected-error @+1 {{'lfm2.attention' op q_norm has shape [256], expected [64] ([head_dim])}}
  %o, %k, %v = lfm2.attention %x, %wq, %wk, %wv, %wo, %qn, %kn, %kc, %vc, %pos
      {epsilon = 1.0e-05 : f32, head_dim = 64 : i64, num_heads = 4 : i64,
       num_kv_heads = 2 : i64, rope_theta = 1.0e+06 : f32}
      : (tensor<?x256xf32>, tensor<256x256xf32>, tensor<128x256xf32>, tensor<128x256xf32>, tensor<256x256xf32>, tensor<256xf32>, tensor<64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, index)
      -> (tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>)
  return
}

// -----

// Tests that the k norm scales one head.
func.func @case33(%x: tensor<?x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<128x256xf32>, %wv: tensor<128x256xf32>, %wo: tensor<256x256xf32>, %qn: tensor<64xf32>, %kn: tensor<32xf32>, %kc: tensor<?x2x64xf32>, %vc: tensor<?x2x64xf32>, %pos: index) {
  // expected-error @+1 {{'lfm2.attention' op k_norm has shape [32], expected [64] ([head_dim])}}
  %o, %k, %v = lfm2.attention %x, %wq, %wk, %wv, %wo, %qn, %kn, %kc, %vc, %pos
      {epsilon = 1.0e-05 : f32, head_dim = 64 : i64, num_heads = 4 : i64,
       num_kv_heads = 2 : i64, rope_theta = 1.0e+06 : f32}
      : (tensor<?x256xf32>, tensor<256x256xf32>, tensor<128x256xf32>, tensor<128x256xf32>, tensor<256x256xf32>, tensor<64xf32>, tensor<32xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, index)
      -> (tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>)
  return
}

// -----

// Tests that the KV cache is laid out per KV head.
func.func @case34(%x: tensor<?x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<128x256xf32>, %wv: tensor<128x256xf32>, %wo: tensor<256x256xf32>, %qn: tensor<64xf32>, %kn: tensor<64xf32>, %kc: tensor<?x4x64xf32>, %vc: tensor<?x4x64xf32>, %pos: index) {
  // expected-error @+1 {{'lfm2.attention' op k_cache has shape [?, 4, 64], expected [?, 2, 64] ([context, num_kv_heads, head_dim])}}
  %o, %k, %v = lfm2.attention %x, %wq, %wk, %wv, %wo, %qn, %kn, %kc, %vc, %pos
      {epsilon = 1.0e-05 : f32, head_dim = 64 : i64, num_heads = 4 : i64,
       num_kv_heads = 2 : i64, rope_theta = 1.0e+06 : f32}
      : (tensor<?x256xf32>, tensor<256x256xf32>, tensor<128x256xf32>, tensor<128x256xf32>, tensor<256x256xf32>, tensor<64xf32>, tensor<64xf32>, tensor<?x4x64xf32>, tensor<?x4x64xf32>, index)
      -> (tensor<?x256xf32>, tensor<?x4x64xf32>, tensor<?x4x64xf32>)
  return
}

// -----

// Tests that the K and V caches have the same type.
func.func @case35(%x: tensor<?x256xf32>, %wq: tensor<256x256xf32>, %wk: tensor<128x256xf32>, %wv: tensor<128x256xf32>, %wo: tensor<256x256xf32>, %qn: tensor<64xf32>, %kn: tensor<64xf32>, %kc: tensor<?x2x64xf32>, %vc: tensor<16x2x64xf32>, %pos: index) {
  // expected-error @+1 {{'lfm2.attention' op failed to verify that all of {k_cache, v_cache, new_k_cache, new_v_cache} have same type}}
  %o, %k, %v = lfm2.attention %x, %wq, %wk, %wv, %wo, %qn, %kn, %kc, %vc, %pos
      {epsilon = 1.0e-05 : f32, head_dim = 64 : i64, num_heads = 4 : i64,
       num_kv_heads = 2 : i64, rope_theta = 1.0e+06 : f32}
      : (tensor<?x256xf32>, tensor<256x256xf32>, tensor<128x256xf32>, tensor<128x256xf32>, tensor<256x256xf32>, tensor<64xf32>, tensor<64xf32>, tensor<?x2x64xf32>, tensor<16x2x64xf32>, index)
      -> (tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>)
  return
}

// -----

// Tests that the FFN gate reads the hidden state.
func.func @case36(%x: tensor<?x256xf32>, %g: tensor<512x128xf32>, %u: tensor<512x256xf32>, %d: tensor<256x512xf32>) {
  // expected-error @+1 {{'lfm2.swiglu_ffn' op gate has shape [512, 128], expected [?, 256] ([ffn width, hidden])}}
  %y = lfm2.swiglu_ffn %x, %g, %u, %d
      : (tensor<?x256xf32>, tensor<512x128xf32>, tensor<512x256xf32>, tensor<256x512xf32>) -> tensor<?x256xf32>
  return
}

// -----

// Tests that up and gate have the same width.
func.func @case37(%x: tensor<?x256xf32>, %g: tensor<512x256xf32>, %u: tensor<256x256xf32>, %d: tensor<256x512xf32>) {
  // expected-error @+1 {{'lfm2.swiglu_ffn' op up has shape [256, 256], expected [512, 256] ([ffn width, hidden], same as gate)}}
  %y = lfm2.swiglu_ffn %x, %g, %u, %d
      : (tensor<?x256xf32>, tensor<512x256xf32>, tensor<256x256xf32>, tensor<256x512xf32>) -> tensor<?x256xf32>
  return
}

// -----

// Tests that down maps the FFN width back to hidden.
func.func @case38(%x: tensor<?x256xf32>, %g: tensor<512x256xf32>, %u: tensor<512x256xf32>, %d: tensor<512x256xf32>) {
  // expected-error @+1 {{'lfm2.swiglu_ffn' op down has shape [512, 256], expected [256, 512] ([hidden, ffn width])}}
  %y = lfm2.swiglu_ffn %x, %g, %u, %d
      : (tensor<?x256xf32>, tensor<512x256xf32>, tensor<512x256xf32>, tensor<512x256xf32>) -> tensor<?x256xf32>
  return
}

// -----

// Tests that the router reads the hidden state.
func.func @case39(%x: tensor<?x256xf32>, %r: tensor<8x128xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{'lfm2.moe_route' op router has shape [8, 128], expected [?, 256] ([num_experts, hidden])}}
  %w, %i = lfm2.moe_route %x, %r, %b {top_k = 2 : i64}
      : (tensor<?x256xf32>, tensor<8x128xf32>, tensor<8xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>)
  return
}

// -----

// Tests that the router selects at least one expert.
func.func @case40(%x: tensor<?x256xf32>, %r: tensor<8x256xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{'lfm2.moe_route' op top_k must be at least 1, got 0}}
  %w, %i = lfm2.moe_route %x, %r, %b {top_k = 0 : i64}
      : (tensor<?x256xf32>, tensor<8x256xf32>, tensor<8xf32>) -> (tensor<?x0xf32>, tensor<?x0xi32>)
  return
}

// -----

// Tests that the router cannot select more experts than exist.
func.func @case41(%x: tensor<?x256xf32>, %r: tensor<8x256xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{'lfm2.moe_route' op top_k (9) exceeds the number of experts (8)}}
  %w, %i = lfm2.moe_route %x, %r, %b {top_k = 9 : i64}
      : (tensor<?x256xf32>, tensor<8x256xf32>, tensor<8xf32>) -> (tensor<?x9xf32>, tensor<?x9xi32>)
  return
}

// -----

// Tests that the expert bias has one entry per expert.
func.func @case42(%x: tensor<?x256xf32>, %r: tensor<8x256xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{'lfm2.moe_route' op expert_bias has shape [4], expected [8] (one bias per expert)}}
  %w, %i = lfm2.moe_route %x, %r, %b {top_k = 2 : i64}
      : (tensor<?x256xf32>, tensor<8x256xf32>, tensor<4xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>)
  return
}

// -----

// Tests that the route weights have top_k columns.
func.func @case43(%x: tensor<?x256xf32>, %r: tensor<8x256xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{'lfm2.moe_route' op weights has shape [?, 4], expected [?, 2] ([tokens, top_k])}}
  %w, %i = lfm2.moe_route %x, %r, %b {top_k = 2 : i64}
      : (tensor<?x256xf32>, tensor<8x256xf32>, tensor<8xf32>) -> (tensor<?x4xf32>, tensor<?x2xi32>)
  return
}

// -----

// Tests that the route indices have one row per token.
func.func @case44(%x: tensor<3x256xf32>, %r: tensor<8x256xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{'lfm2.moe_route' op indices has shape [4, 2], expected [3, 2] ([tokens, top_k])}}
  %w, %i = lfm2.moe_route %x, %r, %b {top_k = 2 : i64}
      : (tensor<3x256xf32>, tensor<8x256xf32>, tensor<8xf32>) -> (tensor<3x2xf32>, tensor<4x2xi32>)
  return
}

// -----

// Tests that the expert gate stack reads the hidden state.
func.func @case45(%x: tensor<?x256xf32>, %w: tensor<?x2xf32>, %i: tensor<?x2xi32>, %g: tensor<8x128x128xf32>, %u: tensor<8x128x256xf32>, %d: tensor<8x256x128xf32>) {
  // expected-error @+1 {{'lfm2.moe_dispatch' op gate_exps has shape [8, 128, 128], expected [?, ?, 256] ([num_experts, expert width, hidden])}}
  %y = lfm2.moe_dispatch %x, %w, %i, %g, %u, %d
      : (tensor<?x256xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<8x128x128xf32>, tensor<8x128x256xf32>, tensor<8x256x128xf32>) -> tensor<?x256xf32>
  return
}

// -----

// Tests that the up stack matches the gate stack.
func.func @case46(%x: tensor<?x256xf32>, %w: tensor<?x2xf32>, %i: tensor<?x2xi32>, %g: tensor<8x128x256xf32>, %u: tensor<4x128x256xf32>, %d: tensor<8x256x128xf32>) {
  // expected-error @+1 {{'lfm2.moe_dispatch' op up_exps has shape [4, 128, 256], expected [8, 128, 256] ([num_experts, expert width, hidden], same as gate_exps)}}
  %y = lfm2.moe_dispatch %x, %w, %i, %g, %u, %d
      : (tensor<?x256xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<8x128x256xf32>, tensor<4x128x256xf32>, tensor<8x256x128xf32>) -> tensor<?x256xf32>
  return
}

// -----

// Tests that the down stack maps the expert width back to hidden.
func.func @case47(%x: tensor<?x256xf32>, %w: tensor<?x2xf32>, %i: tensor<?x2xi32>, %g: tensor<8x128x256xf32>, %u: tensor<8x128x256xf32>, %d: tensor<8x128x256xf32>) {
  // expected-error @+1 {{'lfm2.moe_dispatch' op down_exps has shape [8, 128, 256], expected [8, 256, 128] ([num_experts, hidden, expert width])}}
  %y = lfm2.moe_dispatch %x, %w, %i, %g, %u, %d
      : (tensor<?x256xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<8x128x256xf32>, tensor<8x128x256xf32>, tensor<8x128x256xf32>) -> tensor<?x256xf32>
  return
}

// -----

// Tests that the route weights have one row per token.
func.func @case48(%x: tensor<3x256xf32>, %w: tensor<4x2xf32>, %i: tensor<4x2xi32>, %g: tensor<8x128x256xf32>, %u: tensor<8x128x256xf32>, %d: tensor<8x256x128xf32>) {
  // expected-error @+1 {{'lfm2.moe_dispatch' op weights has shape [4, 2], expected [3, ?] ([tokens, top_k])}}
  %y = lfm2.moe_dispatch %x, %w, %i, %g, %u, %d
      : (tensor<3x256xf32>, tensor<4x2xf32>, tensor<4x2xi32>, tensor<8x128x256xf32>, tensor<8x128x256xf32>, tensor<8x256x128xf32>) -> tensor<3x256xf32>
  return
}

// -----

// Tests that route indices and weights have the same shape.
func.func @case49(%x: tensor<?x256xf32>, %w: tensor<?x2xf32>, %i: tensor<?x3xi32>, %g: tensor<8x128x256xf32>, %u: tensor<8x128x256xf32>, %d: tensor<8x256x128xf32>) {
  // expected-error @+1 {{'lfm2.moe_dispatch' op indices has shape [?, 3], expected [?, 2] (same as weights)}}
  %y = lfm2.moe_dispatch %x, %w, %i, %g, %u, %d
      : (tensor<?x256xf32>, tensor<?x2xf32>, tensor<?x3xi32>, tensor<8x128x256xf32>, tensor<8x128x256xf32>, tensor<8x256x128xf32>) -> tensor<?x256xf32>
  return
}

// -----

// Tests that a token cannot use more experts than the stacks hold.
func.func @case50(%x: tensor<?x256xf32>, %w: tensor<?x9xf32>, %i: tensor<?x9xi32>, %g: tensor<8x128x256xf32>, %u: tensor<8x128x256xf32>, %d: tensor<8x256x128xf32>) {
  // expected-error @+1 {{'lfm2.moe_dispatch' op top_k (9) exceeds the number of experts (8)}}
  %y = lfm2.moe_dispatch %x, %w, %i, %g, %u, %d
      : (tensor<?x256xf32>, tensor<?x9xf32>, tensor<?x9xi32>, tensor<8x128x256xf32>, tensor<8x128x256xf32>, tensor<8x256x128xf32>) -> tensor<?x256xf32>
  return
}

// -----

// Tests that the dispatch output has the input type.
func.func @case51(%x: tensor<?x256xf32>, %w: tensor<?x2xf32>, %i: tensor<?x2xi32>, %g: tensor<8x128x256xf32>, %u: tensor<8x128x256xf32>, %d: tensor<8x256x128xf32>) {
  // expected-error @+1 {{'lfm2.moe_dispatch' op failed to verify that all of {input, output} have same type}}
  %y = lfm2.moe_dispatch %x, %w, %i, %g, %u, %d
      : (tensor<?x256xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<8x128x256xf32>, tensor<8x128x256xf32>, tensor<8x256x128xf32>) -> tensor<?x128xf32>
  return
}

// -----

// Tests that a linear has one result per weight.
func.func @linear_results(%x: tensor<?x256xf32>, %w: tensor<128x256xf32>) {
  // expected-error @+1 {{'lfm2.linear' op has 2 weights but 1 results}}
  %y = lfm2.linear %x weights(%w, %w) : (tensor<?x256xf32>, tensor<128x256xf32>, tensor<128x256xf32>) -> tensor<?x128xf32>
  return
}

// -----

// Tests that a linear weight's rows match the input width.
func.func @linear_width(%x: tensor<?x256xf32>, %w: tensor<128x128xf32>) {
  // expected-error @+1 {{'lfm2.linear' op weight #0 has shape [128, 128], expected [?, 256] ([out, input width])}}
  %y = lfm2.linear %x weights(%w) : (tensor<?x256xf32>, tensor<128x128xf32>) -> tensor<?x128xf32>
  return
}

// -----

// Tests that each linear result is [tokens, weight rows].
func.func @linear_result_shape(%x: tensor<?x256xf32>, %w: tensor<128x256xf32>) {
  // expected-error @+1 {{'lfm2.linear' op result #0 has shape [?, 64], expected [?, 128] ([tokens, weight rows])}}
  %y = lfm2.linear %x weights(%w) : (tensor<?x256xf32>, tensor<128x256xf32>) -> tensor<?x64xf32>
  return
}

// -----

// Tests that a fused norm needs its epsilon.
func.func @linear_norm_eps(%x: tensor<?x256xf32>, %w: tensor<128x256xf32>, %g: tensor<256xf32>) {
  // expected-error @+1 {{'lfm2.linear' op norm_weight needs an epsilon}}
  %y = lfm2.linear %x weights(%w) norm(%g) : (tensor<?x256xf32>, tensor<128x256xf32>, tensor<256xf32>) -> tensor<?x128xf32>
  return
}

// -----

// Tests that an epsilon without a norm is rejected.
func.func @linear_eps_only(%x: tensor<?x256xf32>, %w: tensor<128x256xf32>) {
  // expected-error @+1 {{'lfm2.linear' op epsilon is set but there is no norm_weight}}
  %y = lfm2.linear %x weights(%w) {epsilon = 1.0e-05 : f32} : (tensor<?x256xf32>, tensor<128x256xf32>) -> tensor<?x128xf32>
  return
}

// -----

// Tests that the fused norm scale covers the input width.
func.func @linear_norm_width(%x: tensor<?x256xf32>, %w: tensor<128x256xf32>, %g: tensor<128xf32>) {
  // expected-error @+1 {{'lfm2.linear' op norm_weight has shape [128], expected [256] (one scale per input channel)}}
  %y = lfm2.linear %x weights(%w) norm(%g) {epsilon = 1.0e-05 : f32} : (tensor<?x256xf32>, tensor<128x256xf32>, tensor<128xf32>) -> tensor<?x128xf32>
  return
}

// -----

// Tests that a residual is only added to a single result.
func.func @linear_residual_multi(%x: tensor<?x256xf32>, %w: tensor<256x256xf32>) {
  // expected-error @+1 {{'lfm2.linear' op a residual needs exactly one result}}
  %a, %b = lfm2.linear %x weights(%w, %w) residual(%x) : (tensor<?x256xf32>, tensor<256x256xf32>, tensor<256x256xf32>, tensor<?x256xf32>) -> (tensor<?x256xf32>, tensor<?x256xf32>)
  return
}

// -----

// Tests that the residual has the result's type.
func.func @linear_residual_type(%x: tensor<?x256xf32>, %w: tensor<128x256xf32>) {
  // expected-error @+1 {{'lfm2.linear' op residual type 'tensor<?x256xf32>' differs from the result type 'tensor<?x128xf32>'}}
  %y = lfm2.linear %x weights(%w) residual(%x) : (tensor<?x256xf32>, tensor<128x256xf32>, tensor<?x256xf32>) -> tensor<?x128xf32>
  return
}

// -----

// Tests that up has the gate's shape in a fused SwiGLU projection.
func.func @linear_swiglu_up(%x: tensor<?x256xf32>, %g: tensor<512x256xf32>, %u: tensor<256x256xf32>) {
  // expected-error @+1 {{'lfm2.linear_swiglu' op up has shape [256, 256], expected [512, 256] (the gate's shape)}}
  %y = lfm2.linear_swiglu %x, %g, %u : (tensor<?x256xf32>, tensor<512x256xf32>, tensor<256x256xf32>) -> tensor<?x512xf32>
  return
}

// -----

// Tests that conv_mix takes the three H-wide slices B, C and x.
func.func @conv_mix_input(%z: tensor<?x512xf32>, %s: tensor<2x256xf32>, %k: tensor<256x3xf32>) {
  // expected-error @+1 {{'lfm2.conv_mix' op input has shape [?, 512], expected [?, 768] ([tokens, 3 * hidden] for B, C and x)}}
  %y, %s1 = lfm2.conv_mix %z, %s, %k : (tensor<?x512xf32>, tensor<2x256xf32>, tensor<256x3xf32>) -> (tensor<?x256xf32>, tensor<2x256xf32>)
  return
}

// -----

// Tests that the conv state holds kernel length - 1 rows.
func.func @conv_mix_state(%z: tensor<?x768xf32>, %s: tensor<3x256xf32>, %k: tensor<256x3xf32>) {
  // expected-error @+1 {{'lfm2.conv_mix' op conv_state has shape [3, 256], expected [2, 256] ([kernel length - 1, hidden])}}
  %y, %s1 = lfm2.conv_mix %z, %s, %k : (tensor<?x768xf32>, tensor<3x256xf32>, tensor<256x3xf32>) -> (tensor<?x256xf32>, tensor<3x256xf32>)
  return
}

// -----

// Tests that qk_norm_rope's heads tile its input.
func.func @qk_norm_rope_width(%q: tensor<?x200xf32>, %n: tensor<64xf32>, %pos: index) {
  // expected-error @+1 {{'lfm2.qk_norm_rope' op input has shape [?, 200], expected [?, 256] ([tokens, num_heads * head_dim])}}
  %r = lfm2.qk_norm_rope %q, %n, %pos {epsilon = 1.0e-05 : f32, head_dim = 64 : i64, num_heads = 4 : i64, rope_theta = 1.0e+06 : f32} : (tensor<?x200xf32>, tensor<64xf32>, index) -> tensor<?x200xf32>
  return
}

// -----

// Tests that rotate-half RoPE needs an even head_dim.
func.func @qk_norm_rope_odd(%q: tensor<?x252xf32>, %n: tensor<63xf32>, %pos: index) {
  // expected-error @+1 {{'lfm2.qk_norm_rope' op head_dim (63) must be even for rotate-half RoPE}}
  %r = lfm2.qk_norm_rope %q, %n, %pos {epsilon = 1.0e-05 : f32, head_dim = 63 : i64, num_heads = 4 : i64, rope_theta = 1.0e+06 : f32} : (tensor<?x252xf32>, tensor<63xf32>, index) -> tensor<?x252xf32>
  return
}

// -----

// Tests that attend's KV groups tile the query heads.
func.func @attend_groups(%q: tensor<?x256xf32>, %k: tensor<?x192xf32>, %k0: tensor<?x3x64xf32>, %pos: index) {
  // expected-error @+1 {{'lfm2.attend' op num_heads (4) is not a multiple of num_kv_heads (3)}}
  %o, %k1, %v1 = lfm2.attend %q, %k, %k, %k0, %k0, %pos {head_dim = 64 : i64, num_heads = 4 : i64, num_kv_heads = 3 : i64} : (tensor<?x256xf32>, tensor<?x192xf32>, tensor<?x192xf32>, tensor<?x3x64xf32>, tensor<?x3x64xf32>, index) -> (tensor<?x256xf32>, tensor<?x3x64xf32>, tensor<?x3x64xf32>)
  return
}

// -----

// Tests that attend's keys are [tokens, num_kv_heads * head_dim].
func.func @attend_keys(%q: tensor<?x256xf32>, %k: tensor<?x256xf32>, %v: tensor<?x128xf32>, %k0: tensor<?x2x64xf32>, %pos: index) {
  // expected-error @+1 {{'lfm2.attend' op keys has shape [?, 256], expected [?, 128] ([tokens, num_kv_heads * head_dim])}}
  %o, %k1, %v1 = lfm2.attend %q, %k, %v, %k0, %k0, %pos {head_dim = 64 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64} : (tensor<?x256xf32>, tensor<?x256xf32>, tensor<?x128xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, index) -> (tensor<?x256xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>)
  return
}

// -----

// Tests that attend's caches are [context, num_kv_heads, head_dim].
func.func @attend_cache(%q: tensor<?x256xf32>, %k: tensor<?x128xf32>, %k0: tensor<?x4x32xf32>, %pos: index) {
  // expected-error @+1 {{'lfm2.attend' op k_cache has shape [?, 4, 32], expected [?, 2, 64] ([context, num_kv_heads, head_dim])}}
  %o, %k1, %v1 = lfm2.attend %q, %k, %k, %k0, %k0, %pos {head_dim = 64 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64} : (tensor<?x256xf32>, tensor<?x128xf32>, tensor<?x128xf32>, tensor<?x4x32xf32>, tensor<?x4x32xf32>, index) -> (tensor<?x256xf32>, tensor<?x4x32xf32>, tensor<?x4x32xf32>)
  return
}
