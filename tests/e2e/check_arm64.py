#!/usr/bin/env python3
"""End-to-end check of the AArch64 targets on an x86 machine: compile each
fixture with `lfm2c compile --target=arm64-linux[-sve2]`, check that the
result is a static AArch64 executable, run every golden prompt under
qemu-aarch64-static, and compare with llama.cpp's logits (1e-4 absolute, F32)
and greedy tokens (exact), like check_goldens.py does for the host.

The qemu command for each target (its CPU and, for SVE2, the vector length the
binary was compiled for) is read from `lfm2c --list-targets`, so the test
follows the target description. Also checks that a missing cross compiler
gives a clear error and leaves no output.

Exits 77 (ctest SKIP_RETURN_CODE) only when the cross compiler or qemu is not
installed; install-deps.sh installs both.

Usage: check_arm64.py LFM2C FIXTURES_DIR WORK_DIR
"""
import os
import shutil
import subprocess
import sys

import check_goldens

TARGETS = ("arm64-linux", "arm64-linux-sve2")
MODELS = ("tiny-lfm2moe", "tiny-lfm2-dense")
QEMU = "qemu-aarch64-static"
EM_AARCH64 = 183
PT_INTERP = 3

results = {"passed": 0, "failed": 0}


def check(ok, what):
    results["passed" if ok else "failed"] += 1
    print(("PASS " if ok else "FAIL ") + what, flush=True)
    return ok


def runners(lfm2c):
    """Target name -> the command prefix `lfm2c --list-targets` prints after
    'runs here under:' for it."""
    out = subprocess.run([lfm2c, "--list-targets"], capture_output=True,
                         text=True, check=True).stdout
    found, current = {}, None
    for line in out.splitlines():
        if line and not line[0].isspace():
            current = line.split()[0]
        elif "runs here under:" in line and current:
            found[current] = line.split("runs here under:", 1)[1].split()
    return found


def elf_summary(path):
    """(is AArch64, is static) from the ELF header and program headers."""
    with open(path, "rb") as f:
        data = f.read(1 << 16)
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return False, False
    machine = int.from_bytes(data[18:20], "little")
    phoff = int.from_bytes(data[32:40], "little")
    phentsize = int.from_bytes(data[54:56], "little")
    phnum = int.from_bytes(data[56:58], "little")
    types = [int.from_bytes(data[phoff + i * phentsize:][:4], "little")
             for i in range(phnum)]
    return machine == EM_AARCH64, PT_INTERP not in types


def compile_model(lfm2c, model, out, target, env=None):
    proc = subprocess.run([lfm2c, "compile", model, "--target=" + target,
                           "-o", out, "--quiet"],
                          capture_output=True, text=True, env=env)
    return proc


def run_goldens(lfm2c, fixtures, work, name, target, runner):
    """The host's golden checks (check_goldens.py) under qemu, plus the
    executable's kind. Returns the executable's path, or None."""
    exe = check_goldens.run_goldens(lfm2c, fixtures, work, name,
                                    target=target, runner=runner)
    if exe:
        aarch64, static = elf_summary(exe)
        check(aarch64 and static,
              f"{target}/{name}: static AArch64 executable "
              f"({os.path.getsize(exe) / 1024:.0f} KiB)")
    return exe


def run_missing_driver(lfm2c, fixtures, work):
    model = os.path.join(fixtures, "tiny-lfm2-dense", "model-f32.gguf")
    out = os.path.join(work, "no-cc-out")
    env = dict(os.environ, LFM2C_CC_ARM64="/nonexistent/aarch64-g++")
    proc = compile_model(lfm2c, model, out, "arm64-linux", env)
    leftovers = [p for p in os.listdir(work) if p.startswith("no-cc-out")]
    check(proc.returncode != 0 and "/nonexistent/aarch64-g++" in proc.stderr
          and "g++-aarch64-linux-gnu" in proc.stderr and not leftovers,
          "missing cross compiler: clear error naming the driver, no output")


def main():
    lfm2c, fixtures, work = sys.argv[1:4]
    driver = os.environ.get("LFM2C_CC_ARM64") or "aarch64-linux-gnu-g++"
    missing = [p for p in (driver, QEMU) if not shutil.which(p)]
    if missing:
        print("SKIP: not installed: " + ", ".join(missing) +
              " (apt-get install g++-aarch64-linux-gnu qemu-user-static, "
              "or run ./install-deps.sh)")
        return 77
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    known = runners(lfm2c)
    for target in TARGETS:
        runner = known.get(target)
        if not check(bool(runner) and runner[0] == QEMU,
                     f"{target}: --list-targets names a qemu command "
                     f"({' '.join(runner or [])})"):
            continue
        exes = {name: run_goldens(lfm2c, fixtures, work, name, target, runner)
                for name in MODELS}
        # Quantized fixtures, held to the same checks as on the host.
        f32_exe = exes["tiny-lfm2moe"]
        for quant in ("q8_0", "q4_0"):
            check_goldens.run_quantized(lfm2c, fixtures, work, "tiny-lfm2moe",
                                        quant, target, runner, f32_exe)
        # f16 KV caches: NEON / SVE2 widen and round the halves themselves.
        check_goldens.run_kv_f16(lfm2c, fixtures, work, "tiny-lfm2-dense",
                                 target, runner)
    run_missing_driver(lfm2c, fixtures, work)
    passed = results["passed"] + check_goldens.results["passed"]
    failed = results["failed"] + check_goldens.results["failed"]
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
