// RUN: lfm2c-opt --lfm2-kv-cache=format=q8_0 --verify-diagnostics %s

// Tests that an unknown format is an error naming it.
// expected-error @+1 {{lfm2-kv-cache: format 'q8_0' is not one of f16, f32}}
module {
  func.func @f() {
    return
  }
}
