#!/usr/bin/env bash
# Configures, builds and runs every test: unit tests (GoogleTest), IR tests
# (lit/FileCheck), end-to-end golden checks, and an ASan/UBSan build of the
# model loaders.
set -euo pipefail
cd "$(dirname "$0")"

# Halide's CMake package needs CMake >= 3.28: use the one from PyPI.
CMAKE_BIN="$(python3 -c 'import cmake, os; print(cmake.CMAKE_BIN_DIR)')"
CMAKE="$CMAKE_BIN/cmake"
CTEST="$CMAKE_BIN/ctest"
JOBS="${JOBS:-$(nproc)}"

"$CMAKE" -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
"$CMAKE" --build build -j "$JOBS"
(cd build && "$CTEST" --output-on-failure -j "$JOBS")

# Loaders under the sanitizers: malformed-file tests must not touch memory
# they do not own.
"$CMAKE" -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DLFM2C_SANITIZE=ON
"$CMAKE" --build build-asan -j "$JOBS" --target frontend_gguf_test \
  frontend_hf_test frontend_tokenizer_test runtime_tokenizer_test runtime_test
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  "$CTEST" --output-on-failure -j "$JOBS" -L sanitized)
