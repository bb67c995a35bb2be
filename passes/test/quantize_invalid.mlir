// RUN: lfm2c-opt --lfm2-quantize=format=q5_1 --verify-diagnostics %s

// Tests that an unknown format is an error naming it.
// expected-error @+1 {{lfm2-quantize: format 'q5_1' is not one of q8_0, q4_0, f16, f32}}
module {
  func.func @f() {
    return
  }
}
